/** WebSocket transport: one binary message per body (PROTOCOL.md 2), via the `ws` package. */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { ErrorCode, JanusError } from '@janus/protocol';
import type { CloseAction, Transport, TransportListener } from './transport.js';
import { WsCode } from './transport.js';

/** A WebSocket carrying Janus bodies. */
export class WsTransport implements Transport {
  readonly kind = 'ws' as const;
  private closing = false;
  private closed = false;

  /**
   * @param ws the accepted WebSocket.
   * @param remoteAddress the peer's address.
   * @param socket the underlying socket (byte counts, WebSocket framing included); none: 0.
   */
  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
    private readonly socket: Socket | null = null,
  ) {}

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get bytesRead(): number {
    return this.socket?.bytesRead ?? 0;
  }

  get bytesWritten(): number {
    return this.socket?.bytesWritten ?? 0;
  }

  attach(l: TransportListener): void {
    this.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (this.closing) return;
      if (!isBinary) {
        this.close({ kind: 'destroy', wsCode: WsCode.UnsupportedData }, 0);
        l.onProtocolError(new JanusError(ErrorCode.PacketMalformed, 'WebSocket text message'));
        return;
      }
      const body = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (body.length === 0) {
        this.close({ kind: 'destroy', wsCode: WsCode.ProtocolError }, 0);
        l.onProtocolError(new JanusError(ErrorCode.FrameEmpty, 'empty WebSocket message'));
        return;
      }
      l.onBody(body);
    });
    // ws reports an over-maxPayload message here and closes with 1009 itself.
    this.ws.on('error', (err) => {
      if (this.closing) return;
      this.closing = true;
      l.onProtocolError(err);
    });
    this.ws.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.closing = true;
      l.onClose();
    });
  }

  send(body: Uint8Array): void {
    if (!this.closing) this.ws.send(body, { binary: true });
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    if (!this.closing) this.ws.resume();
  }

  close(action: CloseAction, flushMs: number): void {
    if (this.closing) return;
    this.closing = true;
    // The close frame is sent behind queued messages; the peer's close or the timer ends the socket.
    this.ws.close(action.wsCode);
    const t = setTimeout(() => this.ws.terminate(), action.kind === 'destroy' ? Math.min(flushMs, 100) : flushMs);
    t.unref();
    this.ws.once('close', () => clearTimeout(t));
  }
}
