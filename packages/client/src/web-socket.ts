/**
 * The browser's WebSocket as a transport (PROTOCOL.md 2): the page's own `WebSocket`
 * offering the subprotocol `janus.v1`, one body per binary message. Browsers never offer
 * permessage-deflate to a server that does not select it, and Packets compress themselves
 * (PROTOCOL.md 8).
 *
 * What a browser's WebSocket cannot do, and what this does instead:
 * - it cannot refuse a message by size before buffering it, so a message over
 *   maxFrameBytes is refused once it has arrived (closed with JANUS_ERR_FRAME_TOO_LARGE);
 * - it cannot stop reading, so pause() and resume() do nothing: inbound backpressure is
 *   the gateway's job (its send queue limit, PROTOCOL.md 8);
 * - `close()` may only send 1000 or 3000-4999, so a protocol violation by the gateway is
 *   answered with 1000 and the reason text, and the error says what was wrong;
 * - it cannot cut a connection, so after the close grace time the socket is abandoned and
 *   `'close'` is emitted without the peer's close frame.
 */
import { EventEmitter } from 'eventemitter3';
import { ErrorCode, JanusError, WS_SUBPROTOCOL } from '@janus/protocol';
import { unrefTimeout } from './timers.js';
import type { TransportTarget } from './platform.js';
import { CLOSE_GRACE_MS, type Transport, type TransportClose, type TransportEvents } from './transport.js';
import { wsUrl } from './url.js';

const WS_NORMAL = 1000;

/** Where and how to connect (the platform's target, WebSocket only). */
export type BrowserWsConnectOptions = Omit<TransportTarget, 'transport'>;

/** A page's WebSocket carrying one body per binary message. See {@link Transport} for events. */
export class BrowserWsTransport extends EventEmitter<TransportEvents> implements Transport {
  private error: JanusError | undefined;
  private done = false;
  /** No more bodies are delivered (closing, or the peer broke the protocol). */
  private stopped = false;
  private closing: Promise<void> | null = null;

  /**
   * Opens a WebSocket offering `janus.v1`.
   * @throws JanusError JANUS_ERR_CONNECTION_CLOSED when the connection fails (a browser
   *   gives no reason: wrong address, refused, TLS not trusted) or is aborted.
   */
  static connect(o: BrowserWsConnectOptions): Promise<BrowserWsTransport> {
    const url = wsUrl(o.host, o.port, o.path, o.tls !== null);
    return new Promise((resolve, reject) => {
      if (typeof WebSocket !== 'function') {
        reject(new JanusError(ErrorCode.ConnectionClosed, 'this environment has no WebSocket'));
        return;
      }
      let ws: WebSocket;
      try {
        ws = new WebSocket(url, WS_SUBPROTOCOL);
      } catch (err) {
        // A malformed URL, or a page on https opening ws:// (mixed content).
        reject(new JanusError(ErrorCode.ConnectionClosed, `cannot open ${url}: ${(err as Error).message}`, {}, { cause: err }));
        return;
      }
      ws.binaryType = 'arraybuffer';
      const cleanup = (): void => {
        o.signal.removeEventListener('abort', onAbort);
        ws.onopen = ws.onerror = ws.onclose = null;
      };
      const fail = (message: string): void => {
        cleanup();
        ws.close();
        reject(new JanusError(ErrorCode.ConnectionClosed, message, { url }));
      };
      const onAbort = (): void => fail('WebSocket connect aborted');
      if (o.signal.aborted) return onAbort();
      o.signal.addEventListener('abort', onAbort, { once: true });
      ws.onerror = () => fail(`WebSocket connect to ${url} failed`);
      ws.onclose = (ev) => fail(`WebSocket to ${url} closed before open (code ${ev.code})`);
      ws.onopen = () => {
        cleanup();
        resolve(new BrowserWsTransport(ws, o.maxFrameBytes));
      };
    });
  }

  private constructor(
    private readonly ws: WebSocket,
    private readonly maxFrameBytes: number,
  ) {
    super();
    ws.onmessage = (ev: MessageEvent) => this.onMessage(ev.data);
    ws.onerror = () => {
      this.error ??= new JanusError(ErrorCode.ConnectionClosed, 'WebSocket error');
    };
    ws.onclose = (ev: CloseEvent) => this.onClose(ev.code);
  }

  get closed(): boolean {
    return this.done;
  }

  send(body: Uint8Array): void {
    if (this.done || this.closing || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(body);
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.stopped = true;
    this.closing = new Promise((resolve) => {
      if (this.done) return resolve();
      this.once('close', () => resolve());
      this.ws.close(WS_NORMAL);
      // Why: a gateway that never answers our close frame must not keep close() pending.
      unrefTimeout(() => this.onClose(WS_NORMAL), CLOSE_GRACE_MS);
    });
    return this.closing;
  }

  destroy(error?: JanusError): void {
    if (this.done) return;
    this.error ??= error;
    this.stopped = true;
    this.ws.close(WS_NORMAL, error ? error.code : undefined);
    // A browser cannot cut a socket: stop listening to it and report the close now.
    this.onClose(WS_NORMAL);
  }

  pause(): void {}

  resume(): void {}

  private onMessage(data: unknown): void {
    if (this.stopped) return;
    if (!(data instanceof ArrayBuffer)) return this.fail(new JanusError(ErrorCode.UnexpectedMessage, 'gateway sent a text WebSocket message'));
    if (data.byteLength === 0) return this.fail(new JanusError(ErrorCode.FrameEmpty, 'gateway sent an empty WebSocket message'));
    if (data.byteLength > this.maxFrameBytes) {
      return this.fail(
        new JanusError(ErrorCode.FrameTooLarge, `gateway sent a message of ${data.byteLength} bytes, over maxFrameBytes ${this.maxFrameBytes}`, {
          length: data.byteLength,
          maxFrameBytes: this.maxFrameBytes,
        }),
      );
    }
    this.emit('body', new Uint8Array(data));
  }

  /** After a protocol violation by the peer: no more bodies, close, report `error`. */
  private fail(error: JanusError): void {
    this.destroy(error);
  }

  private onClose(code: number): void {
    if (this.done) return;
    this.done = true;
    this.ws.onmessage = this.ws.onerror = this.ws.onclose = null;
    const info: TransportClose = { wsCode: code };
    if (this.error) info.error = this.error;
    this.emit('close', info);
  }
}
