/**
 * WebSocket transport (PROTOCOL.md 2): each binary message is one body. The client offers
 * the subprotocol `janus.v1` and turns permessage-deflate off: compression is the Packet's
 * own (PROTOCOL.md 8).
 */
import { EventEmitter } from 'eventemitter3';
import { WebSocket, type ClientOptions as WsClientOptions, type RawData } from 'ws';
import { ErrorCode, JanusError, WS_SUBPROTOCOL } from '@janus/protocol';
import type { ClientTlsOptions } from './options.js';
import { wsUrl } from './url.js';
import { CLOSE_GRACE_MS, type Transport, type TransportClose, type TransportEvents } from './transport.js';

export { WS_SUBPROTOCOL };

/** WebSocket close codes the client sends (RFC 6455 7.4.1). */
const WS_NORMAL = 1000;
const WS_UNSUPPORTED_DATA = 1003;
const WS_PROTOCOL_ERROR = 1002;

/** Where and how to connect. */
export interface WsConnectOptions {
  host: string;
  port: number;
  /** Request path, e.g. `/ws`. */
  path: string;
  /** Largest message accepted (bytes); larger ones close the connection with 1009. */
  maxFrameBytes: number;
  /** `wss://` with these TLS options; null or absent: `ws://`. */
  tls?: Readonly<ClientTlsOptions> | null;
  /** Aborting terminates the connection; the promise rejects with JANUS_ERR_CONNECTION_CLOSED. */
  signal?: AbortSignal;
}


function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

/**
 * Whether an upgrade failure says the server is not a WebSocket endpoint at all: an HTTP
 * answer other than 101, bytes that are not HTTP (a gRPC or Janus TCP port, which hangs up or
 * answers HTTP/2), rather than nothing listening.
 */
function notAWebSocketServer(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return err.message.startsWith('Unexpected server response') || code.startsWith('HPE_') || code === 'ECONNRESET';
}

function wrongPortHint(o: WsConnectOptions): string {
  return ` (${wsUrl(o.host, o.port, o.path)} is not a Janus WebSocket endpoint: is this the gateway's listen.ws.port, default 17002, and path listen.ws.path, default /ws?)`;
}

/** {@link ClientTlsOptions} as node:tls takes them (`ca` as strings or Buffers). */
function nodeTls(t: Readonly<ClientTlsOptions>): WsClientOptions {
  const asNode = (x: string | Uint8Array): string | Buffer => (typeof x === 'string' ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  const out: WsClientOptions & { servername?: string } = {};
  if (t.ca !== undefined) out.ca = Array.isArray(t.ca) ? t.ca.map(asNode) : asNode(t.ca as string | Uint8Array);
  if (t.rejectUnauthorized !== undefined) out.rejectUnauthorized = t.rejectUnauthorized;
  if (t.servername !== undefined) out.servername = t.servername;
  return out;
}

/** A WebSocket carrying one body per binary message. See {@link Transport} for events. */
export class WsTransport extends EventEmitter<TransportEvents> implements Transport {
  private error: JanusError | undefined;
  private done = false;
  /** No more bodies are delivered (closing, or the peer broke the protocol). */
  private stopped = false;
  private closing: Promise<void> | null = null;

  /**
   * Opens a WebSocket offering `janus.v1`.
   * @throws JanusError JANUS_ERR_CONNECTION_CLOSED when the upgrade fails or is aborted.
   */
  static connect(o: WsConnectOptions): Promise<WsTransport> {
    return new Promise((resolve, reject) => {
      const tls: WsClientOptions = o.tls ? nodeTls(o.tls) : {};
      const ws = new WebSocket(wsUrl(o.host, o.port, o.path, o.tls !== null && o.tls !== undefined), WS_SUBPROTOCOL, {
        perMessageDeflate: false,
        maxPayload: o.maxFrameBytes,
        ...tls,
      });
      const fail = (message: string, cause?: unknown): void => {
        o.signal?.removeEventListener('abort', onAbort);
        ws.removeAllListeners();
        ws.on('error', () => {}); // a late error after giving up is not an unhandled event
        ws.terminate();
        reject(new JanusError(ErrorCode.ConnectionClosed, message, {}, { cause }));
      };
      const onAbort = (): void => fail('WebSocket connect aborted');
      if (o.signal?.aborted) return onAbort();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      ws.once('error', (err) => fail(`WebSocket connect failed: ${err.message}${notAWebSocketServer(err) ? wrongPortHint(o) : ''}`, err));
      ws.once('close', (code) => fail(`WebSocket closed before open (code ${code})`));
      ws.once('open', () => {
        o.signal?.removeEventListener('abort', onAbort);
        ws.removeAllListeners();
        resolve(new WsTransport(ws));
      });
    });
  }

  private constructor(private readonly ws: WebSocket) {
    super();
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('error', (err) => {
      this.error ??= new JanusError(
        (err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? ErrorCode.FrameTooLarge : ErrorCode.ConnectionClosed,
        `WebSocket error: ${err.message}`,
        {},
        { cause: err },
      );
    });
    ws.on('close', (code) => this.onClose(code));
  }

  get closed(): boolean {
    return this.done;
  }

  send(body: Uint8Array): void {
    if (this.done || this.closing || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(body, { binary: true });
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.stopped = true;
    this.closing = new Promise((resolve) => {
      if (this.done) return resolve();
      this.once('close', () => resolve());
      this.ws.close(WS_NORMAL);
      // Why: ws waits 30 s for the peer's close frame by default; a gateway flushes in 1 s.
      setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
    });
    return this.closing;
  }

  destroy(error?: JanusError): void {
    if (this.done) return;
    this.error ??= error;
    this.stopped = true;
    this.ws.terminate();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.stopped) return;
    if (!isBinary) return this.fail(WS_UNSUPPORTED_DATA, new JanusError(ErrorCode.UnexpectedMessage, 'gateway sent a text WebSocket message'));
    const body = toBytes(data);
    if (body.length === 0) return this.fail(WS_PROTOCOL_ERROR, new JanusError(ErrorCode.FrameEmpty, 'gateway sent an empty WebSocket message'));
    this.emit('body', body);
  }

  /** Closes with a code after a protocol violation by the peer, cutting after the grace time. */
  private fail(code: number, error: JanusError): void {
    this.error ??= error;
    this.stopped = true;
    this.ws.close(code);
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  private onClose(code: number): void {
    if (this.done) return;
    this.done = true;
    const info: TransportClose = { wsCode: code };
    if (this.error) info.error = this.error;
    this.emit('close', info);
  }
}
