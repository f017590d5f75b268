/** TCP transport: length-prefixed frames (PROTOCOL.md 2) over a net.Socket. */
import type { Socket } from 'node:net';
import { checkBodyLength, describeForeignBytes, FRAME_HEADER_BYTES, FrameDecoder, JanusError } from '@janus/protocol';
import type { Clock } from './clock.js';
import type { CloseAction, Transport, TransportListener } from './transport.js';

/**
 * Write coalescing for a gateway's TCP transports: the frames a transport is given within
 * one event-loop turn (a burst of replies, a room broadcast) leave in one socket write,
 * so one syscall, when the turn's I/O callbacks are done (setImmediate). One per gateway.
 */
export class WriteCoalescer {
  private pending: TcpTransport[] = [];
  private spare: TcpTransport[] = [];
  private scheduled = false;
  /** Socket writes issued / frames they carried (counters). */
  writes = 0;
  frames = 0;

  /** @internal Queues `t` for the end of this turn. */
  add(t: TcpTransport): void {
    this.pending.push(t);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  private readonly flushAll = (): void => {
    this.scheduled = false;
    const list = this.pending;
    this.pending = this.spare;
    for (let i = 0; i < list.length; i++) list[i]!.flush();
    list.length = 0;
    this.spare = list;
  };
}

/**
 * `err` with what `first` (the connection's first read) looks like appended, when it is a
 * known foreign protocol (see describeForeignBytes); else `err` itself.
 */
export function explainForeign(err: Error, first: Uint8Array): Error {
  const hint = describeForeignBytes(first);
  if (!hint || !(err instanceof JanusError)) return err;
  return new JanusError(err.code, `${err.message}: the client sent ${hint}, not a Janus frame (a client pointed at the wrong port?)`, { ...err.details, foreign: hint });
}

/** A net.Socket carrying Janus frames. */
export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly remoteAddress: string;
  private closing = false;
  private closed = false;
  /** Bodies given to send() this turn, not yet framed and written. */
  private readonly out: Uint8Array[] = [];
  private outBytes = 0;
  private queued = false;

  /**
   * @param remoteAddress the client's address when a trusted proxy's PROXY header named it
   *   (proxy-protocol.ts; the socket is then paused with the bytes after the header put
   *   back); default the socket's peer address.
   */
  constructor(
    private readonly socket: Socket,
    private readonly maxFrameBytes: number,
    private readonly coalescer: WriteCoalescer,
    private readonly clock: Clock,
    remoteAddress?: string,
  ) {
    this.remoteAddress = remoteAddress ?? socket.remoteAddress ?? '';
    socket.setNoDelay(true);
  }

  get bufferedBytes(): number {
    return this.socket.writableLength + this.outBytes;
  }

  get bytesRead(): number {
    return this.socket.bytesRead;
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten;
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
        // In the very first read, say what the bytes look like (HTTP, gRPC, TLS: a client at the wrong port).
        l.onProtocolError(this.socket.bytesRead === chunk.length ? explainForeign(err as Error, chunk) : (err as Error));
      }
    });
    // A socket that had a PROXY header read off it was paused there: a 'data' listener alone does not restart it.
    if (this.socket.isPaused()) this.socket.resume();
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.closing = true;
      this.out.length = 0;
      this.outBytes = 0;
      decoder.stop();
      l.onClose();
    });
  }

  /**
   * Queues one frame; the turn's frames are written together.
   * @throws JanusError JANUS_ERR_FRAME_EMPTY / _FRAME_TOO_LARGE for a body outside 1..maxFrameBytes.
   */
  send(body: Uint8Array): void {
    if (this.closing) return;
    checkBodyLength(body.length, this.maxFrameBytes);
    this.out.push(body);
    this.outBytes += FRAME_HEADER_BYTES + body.length;
    if (!this.queued) {
      this.queued = true;
      this.coalescer.add(this);
    }
  }

  /** @internal Frames and writes what send() queued, in one write. */
  flush(): void {
    this.queued = false;
    const n = this.out.length;
    if (n === 0 || this.closed) return;
    const buf = Buffer.allocUnsafe(this.outBytes);
    let off = 0;
    for (let i = 0; i < n; i++) {
      const body = this.out[i]!;
      buf.writeUInt32BE(body.length, off);
      buf.set(body, off + FRAME_HEADER_BYTES);
      off += FRAME_HEADER_BYTES + body.length;
    }
    this.out.length = 0;
    this.outBytes = 0;
    this.coalescer.writes++;
    this.coalescer.frames += n;
    this.socket.write(buf);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.closing) this.socket.resume();
  }

  close(action: CloseAction, flushMs: number): void {
    if (this.closing) return;
    if (action.kind === 'destroy') {
      this.closing = true;
      this.out.length = 0;
      this.outBytes = 0;
      this.socket.destroy();
      return;
    }
    this.flush();
    this.closing = true;
    this.socket.end();
    // Past the flush deadline the client is not reading: reset (RST) rather than destroy. A
    // destroy closes the descriptor but leaves the kernel holding the unsent bytes in
    // FIN_WAIT1 against a zero window for as long as the client keeps its side open.
    const t = this.clock.setTimeout(() => this.socket.resetAndDestroy(), flushMs);
    this.socket.once('close', () => this.clock.clearTimeout(t));
  }
}
