/** WebSocket transport: one binary message per body (PROTOCOL.md 2), via the `ws` package. */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { ErrorCode, JanusError } from '@janus/protocol';
import type { Clock } from './clock.js';
import type { CloseAction, Transport, TransportListener } from './transport.js';
import { WsCode } from './transport.js';

/** A WebSocket carrying Janus bodies. */
export class WsTransport implements Transport {
  readonly kind = 'ws' as const;
  private closing = false;
  private closed = false;

  /**
   * @param ws the accepted WebSocket.
   * @param socket the TCP socket under `ws` (the upgrade request's, or under TLS the one beneath it): reset past a deadline; its byte counts are the wire's (WebSocket framing and TLS included).
   * @param remoteAddress the peer's address.
   * @param clock the flush deadline's timer.
   */
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    readonly remoteAddress: string,
    private readonly clock: Clock,
  ) {}

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get bytesRead(): number {
    return this.socket.bytesRead;
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten;
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
    // The close frame is sent behind queued messages; the peer's close or the timer ends the
    // socket. Past the deadline the socket is reset (RST), not destroyed: a destroy (ws
    // terminate()) would leave the kernel holding the unsent bytes in FIN_WAIT1 against a
    // client that does not read.
    this.ws.close(action.wsCode);
    const t = this.clock.setTimeout(() => this.reset(), action.kind === 'destroy' ? Math.min(flushMs, 100) : flushMs);
    this.ws.once('close', () => this.clock.clearTimeout(t));
  }

  private reset(): void {
    if (!this.socket.destroyed) {
      try {
        this.socket.resetAndDestroy();
        return;
      } catch {
        // Not a TCP handle (should not happen: the gateway passes the TCP socket under TLS too).
      }
    }
    this.ws.terminate();
  }
}
