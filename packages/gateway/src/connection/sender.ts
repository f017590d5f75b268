/**
 * The send path of a connection (PROTOCOL.md 7.5, 8): deflate when due (in the zlib pool,
 * order kept), Packet encode, record seal, then the transport (which frames and coalesces
 * a turn's frames into one write). Counts what is queued for the slow-consumer limit.
 */
import {
  encodePacket,
  MAX_RECORD_NUMBER,
  MOD_SYSTEM,
  RECORD_TAG_BYTES,
  serverUnexpectedErrPacket,
  type Packet,
  type RecordSealer,
} from '@janus/protocol';
import type { Logger } from 'pino';
import type { Transport } from '../transport.js';
import type { ZlibPool } from './zlib-pool.js';

/** The limits the sender applies (limits.* of the config). */
export interface SenderLimits {
  /** Deflate outgoing data at least this long (bytes). */
  compressThreshold: number;
  /** zlib level, 1..9. */
  compressLevel: number;
  /** Largest frame body (bytes). */
  maxFrameBytes: number;
  /**
   * Largest inflated size of compressed data (bytes), the limit PROTOCOL.md 8 sets for the
   * receiving side: data the gateway would deflate is not sent when it is longer, since the
   * client would close on inflating it (the client SDK's maxInflateBytes, default 1 MiB).
   */
  maxInflateBytes: number;
  /** Queued bytes (unsent frames plus Packets waiting behind a deflate) beyond which a client is a slow consumer; at least maxFrameBytes. */
  sendQueueBytes: number;
}

/** What the sender reports to its connection. */
export interface SenderEvents {
  /** The client does not read fast enough, or the record counter reached its last number: end with Waiting. */
  onCannotSend(reason: 'slow consumer' | 'record limit'): void;
  /** A server-initiated Packet (index 0, not System) was written to the transport (metrics). */
  onPushWritten?(): void;
  /** A Packet over maxFrameBytes, or with data to deflate over maxInflateBytes, was not sent (metrics). */
  onOversize?(): void;
}

/** One connection's outgoing Packets. */
export class Sender {
  /** Set once the handshake derived keys (encrypted sessions). */
  sealer: RecordSealer<true> | null = null;
  /** Packets sealed and handed to the transport. */
  sent = 0;
  private readonly behindDeflate: Packet[] = [];
  private deflating = false;
  private waitingBytes = 0;
  private closed = false;

  constructor(
    private readonly transport: Transport,
    private readonly limits: SenderLimits,
    private readonly zlib: ZlibPool,
    private readonly events: SenderEvents,
    private readonly log: Logger,
  ) {}

  /** Bytes queued for this client: not yet written to the kernel, or waiting behind a deflate. */
  get queuedBytes(): number {
    return this.transport.bufferedBytes + this.waitingBytes;
  }

  /** Sends a handshake body as it is (plaintext, before keys exist). */
  sendPlain(body: Uint8Array): void {
    if (!this.closed) this.transport.send(body);
  }

  /**
   * Sends a Packet. Data of at least compressThreshold bytes outside mod 1 is deflated
   * first; later Packets wait behind it, so the client sees them in call order. A reply too
   * large for maxFrameBytes, or whose data to deflate is over maxInflateBytes (the client
   * would close on inflating it, PROTOCOL.md 8), is answered with ServerUnexpectedErr
   * "reply too large"; such a push is dropped (both logged, see {@link refuseTooLarge}).
   */
  send(p: Packet): void {
    if (this.closed || this.overQueue()) return;
    const deflate = this.dueForDeflate(p);
    if (deflate && p.data.length > this.limits.maxInflateBytes) {
      this.refuseTooLarge(p, p.data.length, 'maxInflateBytes');
      return;
    }
    if (this.deflating) {
      this.behindDeflate.push(p);
      this.waitingBytes += p.data.length;
      return;
    }
    if (deflate) this.startDeflate(p);
    else this.write(p);
  }

  /**
   * Sends the ServerLogout that ends the session: Packets not yet sealed are discarded,
   * this one is sealed (the last record number is kept for it) and queued behind what is
   * already written (PROTOCOL.md 8 "Slow consumer"). Nothing is sent after it.
   */
  sendFinal(p: Packet): void {
    if (this.closed) return;
    this.close();
    let body = encodePacket(p);
    if (this.sealer) body = this.sealer.seal(body);
    this.transport.send(body);
  }

  /** Sends nothing more; drops what waits behind a deflate. */
  close(): void {
    this.closed = true;
    this.behindDeflate.length = 0;
    this.waitingBytes = 0;
  }

  private dueForDeflate(p: Packet): boolean {
    return p.mod !== MOD_SYSTEM && !p.compress && p.data.length >= this.limits.compressThreshold;
  }

  private startDeflate(p: Packet): void {
    this.deflating = true;
    this.waitingBytes += p.data.length;
    this.zlib.deflate(p.data, this.limits.compressLevel).then(
      (deflated) => {
        this.waitingBytes -= p.data.length;
        this.deflating = false;
        if (this.closed) return;
        p.data = deflated;
        p.compress = true;
        this.write(p);
        this.sendBehindDeflate();
      },
      (err: unknown) => {
        // zlib does not fail on valid input; send the data uncompressed rather than lose it,
        // and the Packets behind it after it.
        this.log.error({ err }, 'deflate failed');
        this.waitingBytes -= p.data.length;
        this.deflating = false;
        if (this.closed) return;
        this.write(p);
        this.sendBehindDeflate();
      },
    );
  }

  /** Sends the Packets that waited behind a deflate, in order, until the next deflate starts. */
  private sendBehindDeflate(): void {
    while (!this.deflating && !this.closed && this.behindDeflate.length !== 0) {
      const q = this.behindDeflate.shift()!;
      this.waitingBytes -= q.data.length;
      if (this.dueForDeflate(q)) this.startDeflate(q);
      else this.write(q);
    }
  }

  /**
   * A Packet too large to send (PROTOCOL.md 2): a reply (index != 0) is answered with
   * ServerUnexpectedErr "reply too large" carrying its index, mod and seq; a push is
   * dropped. Logged either way (`bytes`: its size as it came, or its data's for
   * maxInflateBytes; `limit`: the limit it passed).
   */
  refuseTooLarge(p: Packet, bytes: number, limit: 'maxFrameBytes' | 'maxInflateBytes' = 'maxFrameBytes'): void {
    if (this.closed) return;
    this.log.warn({ mod: p.mod, seq: p.seq, index: p.index, bytes, limit }, 'outgoing Packet over the size limit');
    this.events.onOversize?.();
    if (p.index !== 0) this.send(serverUnexpectedErrPacket(p.index, p.mod, p.seq, 'reply too large'));
  }

  private write(p: Packet): void {
    if (this.overQueue()) return;
    let body = encodePacket(p);
    if (body.length + (this.sealer ? RECORD_TAG_BYTES : 0) > this.limits.maxFrameBytes) {
      this.refuseTooLarge(p, body.length);
      return;
    }
    if (this.sealer) {
      // Keep the last record number for the ServerLogout that ends the session.
      if (this.sealer.count >= MAX_RECORD_NUMBER) {
        this.events.onCannotSend('record limit');
        return;
      }
      body = this.sealer.seal(body);
    }
    this.transport.send(body);
    this.sent++;
    if (p.index === 0 && p.mod !== MOD_SYSTEM) this.events.onPushWritten?.();
  }

  /**
   * The slow-consumer check, made before a Packet is queued: it counts the bytes queued
   * beyond the one about to be written, so one large reply to a client that reads is never
   * cut off by itself, whatever its size. A connection holds at most sendQueueBytes plus
   * one frame (config validation keeps sendQueueBytes >= maxFrameBytes).
   */
  private overQueue(): boolean {
    if (this.queuedBytes <= this.limits.sendQueueBytes) return false;
    // Logged once, by the connection's close line (reason slow_consumer).
    this.events.onCannotSend('slow consumer');
    return true;
  }
}
