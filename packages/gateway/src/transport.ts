/**
 * The Connection's view of a client socket (TCP or WebSocket): bodies in, bodies out, and
 * the close actions of PROTOCOL.md section 2.
 */

/** How a connection ends (PROTOCOL.md 2's table). */
export type CloseAction =
  /** After a ServerLogout: flush (at most logoutFlushMs, then the socket is reset), TCP FIN / WebSocket close with `wsCode`. */
  | { kind: 'end'; wsCode: number }
  /** Malformed input or over-limit: TCP destroy at once / WebSocket close with `wsCode`. */
  | { kind: 'destroy'; wsCode: number };

/** WebSocket close codes used by the gateway. */
export const WsCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  TryAgainLater: 1013,
} as const;

/** Events a transport delivers to its connection. */
export interface TransportListener {
  /** One body (a frame's body or a binary message). */
  onBody(body: Uint8Array): void;
  /** The transport read something invalid (framing); it has closed itself with `action`. */
  onProtocolError(err: Error): void;
  /** The socket has closed (once). */
  onClose(): void;
}

/** A client socket carrying bodies. */
export interface Transport {
  readonly kind: 'tcp' | 'ws';
  /** The peer's address (x-md-global-client-ip). */
  readonly remoteAddress: string;
  /** Bytes accepted by send() and not yet written to the kernel. */
  readonly bufferedBytes: number;
  /** Bytes read from / written to the socket so far (wire bytes: TLS and WebSocket framing included). */
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Starts delivering events to `listener`. */
  attach(listener: TransportListener): void;
  /** Sends one body (TCP adds the length prefix). */
  send(body: Uint8Array): void;
  /** Stops/resumes reading (backpressure). */
  pause(): void;
  resume(): void;
  /** Closes as PROTOCOL.md 2 says; `flushMs` bounds the wait for queued bytes on 'end'. Idempotent. */
  close(action: CloseAction, flushMs: number): void;
}
