/**
 * One connection's wire state (PROTOCOL.md 7, 8): handshake, record layer, index sequence
 * and compression, on top of a {@link Transport}. It knows no request or event semantics:
 * it hands decoded Packets, in arrival order, to one receiver (the client).
 *
 * Design: two serial pipelines. Inbound, each body (and finally the transport's close) is
 * a job on one promise chain, so an asynchronous step (a WebCrypto open, an inflate) never
 * reorders Packets, the record layer is installed by the SCHandshake job before the next
 * body is opened, and a ServerLogout is always seen before the close that follows it.
 * Outbound, each send is a job on another chain: the index is taken inside the job, after
 * compression and the size check, so indices leave in call order and a refused send does
 * not use one up (the gateway closes on a gap, PROTOCOL.md 8).
 *
 * States: hello (CSHandshake sent, waiting for SCHandshake) -> auth (CSAuth sent, waiting
 * for SCAuth) -> open -> closed.
 */
import {
  MAX_INDEX,
  acceptServerHello,
  isServerLogout,
  serverLogoutError,
  createClientHello,
  CSAuthSchema,
  decodeMessage,
  decodePacket,
  encodeMessage,
  encodePacket,
  ErrorCode,
  isJanusError,
  JanusError,
  makePacket,
  MOD_SYSTEM,
  packetSize,
  RECORD_TAG_BYTES,
  RecordOpener,
  RecordSealer,
  SCAuthSchema,
  SystemSeq,
  type ClientHello,
  type Packet,
} from '@janus/protocol';
import type { ResolvedOptions } from './options.js';
import type { Transport, TransportClose } from './transport.js';

/** The session the gateway opened (from SCAuth and SCHandshake). */
export interface Session {
  /** The token's account_id. */
  uid: bigint;
  /** The token's server_id. */
  sid: bigint;
  /** The token's color (may be empty). */
  color: string;
  /** The gateway's clock at login (unix seconds). */
  serverTime: bigint;
  /** The index of CSAuth; the k-th later client Packet carries start_index + k. */
  startIndex: number;
}

/** How a link ended: the transport's account of it, or the protocol error that cut it. */
export type LinkClose = TransportClose;

/** The consumer of a link's Packets. Calls arrive in order; `close` comes last, once. */
export interface LinkReceiver {
  packet(p: Packet): void;
  close(info: LinkClose): void;
}

/** The fields of an outgoing Packet; the link sets `index` and `compress`. */
export interface OutgoingPacket {
  mod: number;
  seq: number;
  data?: Uint8Array;
  obj?: bigint;
  ver?: number;
  dataVersion?: bigint;
}

/** Pause the transport when this many bodies wait in the inbound pipeline... */
const INBOUND_HIGH_WATER = 64;
const EMPTY_DATA = new Uint8Array(0);
/** ...and resume it when the pipeline has drained to this many. */
const INBOUND_LOW_WATER = 8;

type State = 'hello' | 'auth' | 'open' | 'closed';

function asJanusError(err: unknown): JanusError {
  return isJanusError(err) ? err : new JanusError(ErrorCode.PacketMalformed, `unexpected failure: ${String(err)}`, {}, { cause: err });
}

/** One transport after connect: runs the handshake and auth, then carries Packets. */
export class Link {
  private state: State = 'hello';
  private helloSent: Promise<ClientHello> | null = null;
  private sealer: RecordSealer<boolean> | null = null;
  private opener: RecordOpener<boolean> | null = null;
  private authIndex = 0;
  private nextIndex = 0;
  private inTail: Promise<void> = Promise.resolve();
  private inDepth = 0;
  private paused = false;
  /** A protocol error stopped the inbound pipeline: later bodies are dropped. */
  private failed = false;
  private outTail: Promise<unknown> = Promise.resolve();
  /** Sends queued on outTail and not yet settled. */
  private outQueued = 0;
  private receiver: LinkReceiver | null = null;
  private held: Packet[] = [];
  private closeInfo: LinkClose | null = null;
  private closing = false;
  private settleOpen: { resolve(s: Session): void; reject(e: JanusError): void } | null = null;
  /** performance.now() of the latest send queued (ms); drives the heartbeat timer. */
  lastSendAt = performance.now();

  /** Takes over `transport`: its bodies and close now go through this link. */
  constructor(
    private readonly transport: Transport,
    private readonly o: ResolvedOptions,
  ) {
    transport.on('body', (body: Uint8Array) => {
      // Fast path: nothing queued and a synchronous opener: the Packet is handled in this turn.
      if (this.inDepth === 0 && !this.failed && this.state === 'open' && this.o.crypto.synchronous && this.receiver && this.onBodySync(body)) return;
      this.enqueue(() => this.onBody(body));
    });
    transport.on('close', (info: TransportClose) => this.enqueue(() => this.onTransportClose(info)));
  }

  /** True once the link has closed (the receiver's `close` may still be pending). */
  get closed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Sends CSHandshake, verifies SCHandshake, sends CSAuth and waits for SCAuth
   * (PROTOCOL.md 7). Call once.
   * @param clockOffset seconds added to `now()` for CSHandshake.timestamp (learned from a ClockSkew logout).
   * @throws JanusError JANUS_ERR_LOGOUT (details `logoutCode`, `serverTime`) when the gateway
   *   answered with a ServerLogout; JANUS_ERR_HANDSHAKE_INVALID / _ZERO_SHARED when
   *   SCHandshake fails its checks; JANUS_ERR_RECORD_OPEN, JANUS_ERR_PACKET_MALFORMED;
   *   JANUS_ERR_CONNECTION_CLOSED when the transport closes first. The link is closed then.
   */
  open(clockOffset: number): Promise<Session> {
    const opened = new Promise<Session>((resolve, reject) => {
      this.settleOpen = { resolve, reject };
    });
    const o = this.o;
    this.helloSent = createClientHello({
      crypto: o.crypto,
      clientKey: o.clientKey,
      certVersion: o.clientCertVersion,
      serverId: o.serverId,
      serverCertVersion: o.serverCertVersion,
      timestamp: BigInt(Math.floor(o.now() + clockOffset)),
    }).then((hello) => {
      this.transport.send(hello.body);
      this.lastSendAt = performance.now();
      return hello;
    });
    this.helloSent.catch((err) => this.fail(asJanusError(err)));
    return opened;
  }

  /**
   * Starts delivering Packets to `r`: first those that arrived since SCAuth (and pushes
   * that came before it), then the close if it already happened.
   */
  setReceiver(r: LinkReceiver): void {
    this.receiver = r;
    const held = this.held;
    this.held = [];
    for (const p of held) r.packet(p);
    if (this.closeInfo && this.state === 'closed') r.close(this.closeInfo);
  }

  /**
   * Queues one Packet; the index is start_index + (packets sent before it). Sends leave
   * in call order.
   * @param onIndex called with the index once taken, before the bytes are written.
   * @returns the index used.
   * @throws JanusError JANUS_ERR_FRAME_TOO_LARGE (details `length`, `maxFrameBytes`) when the
   *   body would pass maxFrameBytes (no index is used); JANUS_ERR_INDEX_MISMATCH past
   *   index 2^31 - 1; JANUS_ERR_CONNECTION_CLOSED once closing; JANUS_ERR_UNEXPECTED_MESSAGE
   *   before the handshake completed.
   */
  send(out: OutgoingPacket, onIndex?: (index: number) => void): Promise<number> {
    this.lastSendAt = performance.now();
    // Fast path: nothing queued, a synchronous sealer and nothing to deflate: sent in this call.
    if (this.outQueued === 0 && this.o.crypto.synchronous && !this.dueForDeflate(out)) {
      try {
        return Promise.resolve(this.sendSync(out, out.data ?? EMPTY_DATA, false, onIndex));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    this.outQueued++;
    const job = this.outTail.then(() => this.sendNow(out, onIndex));
    this.outTail = job.then(
      () => void this.outQueued--,
      () => void this.outQueued--,
    );
    return job;
  }

  /** Graceful close (TCP end / WebSocket 1000); resolves when the transport has closed. */
  close(): Promise<void> {
    this.closing = true;
    return this.transport.close();
  }

  /** Cuts the connection at once; the close carries `error`. */
  destroy(error?: JanusError): void {
    this.closing = true;
    this.transport.destroy(error);
  }

  // ---------------------------------------------------------------------------------
  // Outbound

  private isClosing(): boolean {
    return this.closing || this.state === 'closed';
  }

  private closedError(): JanusError {
    return new JanusError(ErrorCode.ConnectionClosed, 'connection is closed');
  }

  /** @throws JanusError JANUS_ERR_CONNECTION_CLOSED once closing, JANUS_ERR_UNEXPECTED_MESSAGE before the handshake completed. */
  private assertCanSend(): void {
    if (this.isClosing()) throw this.closedError();
    if (this.state === 'hello') throw new JanusError(ErrorCode.UnexpectedMessage, 'cannot send before the handshake completed');
  }

  private dueForDeflate(out: OutgoingPacket): boolean {
    const threshold = this.o.compressThreshold;
    // Never mod 1: a System Packet with compress true is malformed (PROTOCOL.md 3).
    return threshold > 0 && out.mod !== MOD_SYSTEM && (out.data?.length ?? 0) >= threshold;
  }

  private async sendNow(out: OutgoingPacket, onIndex?: (index: number) => void): Promise<number> {
    this.assertCanSend();
    let data = out.data ?? EMPTY_DATA;
    let compress = false;
    if (this.dueForDeflate(out)) {
      const deflated = await this.o.platform.deflate(data);
      if (deflated.length < data.length) {
        data = deflated;
        compress = true;
      }
    }
    if (!this.sealer || this.o.crypto.synchronous) return this.sendSync(out, data, compress, onIndex);
    this.assertCanSend();
    const { index, bytes } = this.takeIndex(out, data, compress, onIndex);
    // The sealer's counter advances at the call, so calls stay in index order even when
    // an asynchronous back end settles later.
    const body = await this.sealer.seal(bytes);
    this.transport.send(body);
    this.lastSendAt = performance.now();
    return index;
  }

  /** Sends with a synchronous sealer (or none): index, encode, seal, write, all in this call. */
  private sendSync(out: OutgoingPacket, data: Uint8Array, compress: boolean, onIndex?: (index: number) => void): number {
    this.assertCanSend();
    const { index, bytes } = this.takeIndex(out, data, compress, onIndex);
    const body = this.sealer ? (this.sealer.seal(bytes) as Uint8Array) : bytes;
    this.transport.send(body);
    this.lastSendAt = performance.now();
    return index;
  }

  /** Checks the index and size, takes the index, encodes. */
  private takeIndex(out: OutgoingPacket, data: Uint8Array, compress: boolean, onIndex?: (index: number) => void): { index: number; bytes: Uint8Array } {
    const index = this.nextIndex;
    if (index > MAX_INDEX) throw new JanusError(ErrorCode.IndexMismatch, 'index would pass 2^31 - 1: reconnect for a new session');
    const p = makePacket({ data, compress, index, mod: out.mod, seq: out.seq, obj: out.obj, ver: out.ver, dataVersion: out.dataVersion });
    const length = packetSize(p) + (this.sealer ? RECORD_TAG_BYTES : 0);
    if (length > this.o.maxFrameBytes) {
      throw new JanusError(ErrorCode.FrameTooLarge, `body of ${length} bytes is over maxFrameBytes ${this.o.maxFrameBytes}`, {
        length,
        maxFrameBytes: this.o.maxFrameBytes,
      });
    }
    this.nextIndex++;
    onIndex?.(index);
    return { index, bytes: encodePacket(p) };
  }

  // ---------------------------------------------------------------------------------
  // Inbound

  private enqueue(job: () => Promise<void> | void): void {
    this.inDepth++;
    if (!this.paused && this.inDepth >= INBOUND_HIGH_WATER) {
      this.paused = true;
      this.transport.pause();
    }
    this.inTail = this.inTail
      .then(job)
      .catch((err) => this.fail(asJanusError(err)))
      .finally(() => {
        this.inDepth--;
        if (this.paused && this.inDepth <= INBOUND_LOW_WATER) {
          this.paused = false;
          this.transport.resume();
        }
      });
  }

  /** Stops on a protocol error: the transport is cut, the close carries the error. */
  private fail(error: JanusError): void {
    if (this.failed) return;
    this.failed = true;
    this.settleOpen?.reject(error);
    this.settleOpen = null;
    this.destroy(error);
  }

  /**
   * The inbound fast path (open session, synchronous opener, nothing queued): handles the
   * Packet now; false when it needs the queue (compressed data to inflate).
   */
  private onBodySync(body: Uint8Array): boolean {
    let p: Packet;
    try {
      const bytes = this.opener ? (this.opener.open(body) as Uint8Array) : body;
      p = decodePacket(bytes);
    } catch (err) {
      this.fail(asJanusError(err));
      return true;
    }
    if (p.compress) {
      // Inflate in the queue, in order; this record is already opened.
      this.enqueue(async () => {
        p.data = await this.o.platform.inflate(p.data, this.o.maxInflateBytes);
        p.compress = false;
        this.receiver!.packet(p);
      });
      return true;
    }
    try {
      this.receiver!.packet(p);
    } catch (err) {
      this.fail(asJanusError(err));
    }
    return true;
  }

  private async onBody(body: Uint8Array): Promise<void> {
    if (this.failed || this.state === 'closed') return;
    if (this.state === 'hello') return this.onServerHello(body);
    const p = await this.decodeBody(body);
    if (this.state === 'auth') return this.onAuthPacket(p);
    if (this.receiver) this.receiver.packet(p);
    else this.held.push(p);
  }

  private async onServerHello(body: Uint8Array): Promise<void> {
    // Why decode first: a gateway that is full answers ServerLogout Waiting on accept, before
    // our CSHandshake is even built (PROTOCOL.md 7.2); this also keeps its server_time.
    const first = decodePacket(body);
    if (isServerLogout(first)) throw serverLogoutError(first, 'instead of SCHandshake');
    const hello = await this.helloSent!;
    const o = this.o;
    const hs = await acceptServerHello(o.crypto, hello, body, o.serverKeys);
    if (hs.keys) {
      this.sealer = new RecordSealer(await o.crypto.aeadKey(hs.keys.c2sKey), hs.keys.c2sIv);
      this.opener = new RecordOpener(await o.crypto.aeadKey(hs.keys.s2cKey), hs.keys.s2cIv);
    }
    this.state = 'auth';
    this.authIndex = hs.startIndex;
    this.nextIndex = hs.startIndex;
    // The first record: CSAuth with index = start_index (PROTOCOL.md 7.6).
    this.send({ mod: MOD_SYSTEM, seq: SystemSeq.AUTH, data: encodeMessage(CSAuthSchema, { token: o.token }) }).catch((err) =>
      this.fail(asJanusError(err)),
    );
  }

  private onAuthPacket(p: Packet): void {
    if (isServerLogout(p)) throw serverLogoutError(p, 'instead of SCAuth');
    if (p.mod === MOD_SYSTEM && p.seq === SystemSeq.AUTH) {
      if (p.index !== this.authIndex) {
        throw new JanusError(ErrorCode.UnexpectedMessage, `SCAuth carries index ${p.index}, CSAuth had ${this.authIndex}`);
      }
      const a = decodeMessage(SCAuthSchema, p.data);
      this.state = 'open';
      this.settleOpen?.resolve({ uid: a.uid, sid: a.sid, color: a.color, serverTime: a.serverTime, startIndex: this.authIndex });
      this.settleOpen = null;
      return;
    }
    // Not expected before SCAuth, but a push racing the login is harmless: keep it.
    this.held.push(p);
  }

  /** Record -> Packet -> inflated data. */
  private async decodeBody(body: Uint8Array): Promise<Packet> {
    const bytes = this.opener ? await this.opener.open(body) : body;
    const p = decodePacket(bytes);
    if (p.compress) {
      p.data = await this.o.platform.inflate(p.data, this.o.maxInflateBytes);
      p.compress = false;
    }
    return p;
  }

  private onTransportClose(info: TransportClose): void {
    this.state = 'closed';
    this.closeInfo = info;
    if (this.settleOpen) {
      const wsCode = info.wsCode === undefined ? {} : { wsCode: info.wsCode };
      this.settleOpen.reject(
        info.error ??
          new JanusError(ErrorCode.ConnectionClosed, 'gateway closed the connection during the handshake', wsCode),
      );
      this.settleOpen = null;
    }
    this.receiver?.close(info);
  }
}
