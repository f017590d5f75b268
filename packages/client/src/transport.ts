/**
 * The transport port of the client SDK: something that carries whole bodies to and from
 * the gateway (PROTOCOL.md 2). Three adapters: TCP with length-prefixed frames (tcp.ts) and
 * WebSocket binary messages over the `ws` package (ws.ts) in Node, and over the page's
 * WebSocket in browsers (web-socket.ts). Nothing here knows about Packets or records.
 */
import type { EventEmitter } from 'eventemitter3';
import type { JanusError } from '@janus/protocol';

/** How a transport ended. */
export interface TransportClose {
  /** Why, when it was not an orderly close by either side (socket error, bad frame, ...). */
  error?: JanusError;
  /** The WebSocket close code received or sent (WebSocket transport only). */
  wsCode?: number;
}

/** The events of a {@link Transport}. */
export interface TransportEvents {
  body: [body: Uint8Array];
  close: [info: TransportClose];
}

/**
 * One connection carrying bodies. Events:
 * - `'body'` `(body: Uint8Array)`: one complete body, in arrival order;
 * - `'close'` `(info: TransportClose)`: exactly once, after which nothing else is emitted.
 */
export interface Transport extends EventEmitter<TransportEvents> {
  /** Sends one body. Ignored once the transport is closing or closed. */
  send(body: Uint8Array): void;
  /** Graceful close (TCP end / WebSocket close 1000); resolves after `'close'`. Idempotent. */
  close(): Promise<void>;
  /** Cuts the connection at once; `'close'` carries `error` when given. Idempotent. */
  destroy(error?: JanusError): void;
  /** Stops reading from the socket (inbound backpressure; a browser's WebSocket cannot, see web-socket.ts). */
  pause(): void;
  /** Resumes reading. */
  resume(): void;
  /** True once `'close'` was emitted. */
  readonly closed: boolean;
}

/** Milliseconds a graceful close waits for the peer before cutting the connection. */
export const CLOSE_GRACE_MS = 1000;
