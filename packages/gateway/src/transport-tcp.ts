/** TCP transport: length-prefixed frames (PROTOCOL.md 2) over a net.Socket. */
import type { Socket } from 'node:net';
import { encodeFrame, FrameDecoder } from '@janus/protocol';
import type { CloseAction, Transport, TransportListener } from './transport.js';

/** A net.Socket carrying Janus frames. */
export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly remoteAddress: string;
  private closing = false;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly maxFrameBytes: number,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    socket.setNoDelay(true);
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  attach(l: TransportListener): void {
    const decoder = new FrameDecoder(this.maxFrameBytes, (body) => {
      if (!this.closing) l.onBody(body);
    });
    this.socket.on('data', (chunk: Buffer) => {
      if (this.closing) return;
      try {
        decoder.push(chunk);
      } catch (err) {
        decoder.stop();
        // Zero or oversized length: destroy at once, nothing read further (PROTOCOL.md 2).
        this.close({ kind: 'destroy', wsCode: 1002 }, 0);
        l.onProtocolError(err as Error);
      }
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.closing = true;
      decoder.stop();
      l.onClose();
    });
  }

  send(body: Uint8Array): void {
    if (this.closing) return;
    this.socket.write(encodeFrame(body, this.maxFrameBytes));
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.closing) this.socket.resume();
  }

  close(action: CloseAction, flushMs: number): void {
    if (this.closing) return;
    this.closing = true;
    if (action.kind === 'destroy') {
      this.socket.destroy();
      return;
    }
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), flushMs);
    t.unref();
    this.socket.once('close', () => clearTimeout(t));
  }
}
