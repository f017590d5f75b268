/**
 * A raw Janus client for gateway tests: speaks PROTOCOL.md from the protocol package's
 * primitives, and can also send anything a hostile client would (bad frames, bad records,
 * wrong indices). Not an SDK: tests of the happy path use @janus/client.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import {
  acceptServerHello,
  createClientHello,
  CSAuthSchema,
  CSHeartbeatSchema,
  decodeMessage,
  decodePacket,
  encodeFrame,
  encodeMessage,
  encodePacket,
  FrameDecoder,
  makePacket,
  RecordOpener,
  RecordSealer,
  SCServerLogoutSchema,
  type ClientHello,
  type Packet,
  type SigningKey,
  type VerifyKey,
} from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';

/** How the gateway ended the connection, as seen by the client. */
export interface Ending {
  /** TCP: the socket ended with FIN (true) or was reset/destroyed (false). */
  fin?: boolean;
  /** WebSocket close code. */
  wsCode?: number;
}

export interface HelloOverrides {
  timestamp?: bigint;
  serverId?: bigint;
  certVersion?: number;
  serverCertVersion?: number;
  clientKey?: SigningKey | null;
  /** Mutate the CSHandshake packet body before sending. */
  mutate?: (body: Uint8Array) => Uint8Array;
}

export class RawClient {
  readonly bodies: Uint8Array[] = [];
  private waiters: ((b: Uint8Array | null) => void)[] = [];
  private ended = false;
  readonly ending: Promise<Ending>;
  sealer: RecordSealer<true> | null = null;
  opener: RecordOpener<true> | null = null;
  index = 0;
  startIndex = 0;
  hello: ClientHello | null = null;

  private constructor(
    readonly kind: 'tcp' | 'ws',
    private readonly socket: Socket | null,
    private readonly ws: WebSocket | null,
  ) {
    const push = (b: Uint8Array): void => {
      const w = this.waiters.shift();
      if (w) w(b);
      else this.bodies.push(b);
    };
    if (socket) {
      const dec = new FrameDecoder(16 * 1024 * 1024, (b) => push(Uint8Array.from(b)));
      socket.on('data', (c) => dec.push(c));
      let fin = false;
      socket.on('end', () => (fin = true));
      socket.on('error', () => {});
      this.ending = new Promise((resolve) =>
        socket.once('close', () => {
          this.finish();
          resolve({ fin });
        }),
      );
    } else {
      ws!.on('message', (d: Buffer) => push(Uint8Array.from(d)));
      ws!.on('error', () => {});
      ws!.once('upgrade', (res: { socket: Socket }) => (this.wsSocket = res.socket));
      this.ending = new Promise((resolve) =>
        ws!.once('close', (code: number) => {
          this.finish();
          resolve({ wsCode: code });
        }),
      );
    }
  }

  private finish(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w(null);
  }

  /**
   * Connects to the gateway on 127.0.0.1. `localAddress` binds the client's end (another
   * loopback address, e.g. 127.0.0.2, is another client address to the gateway).
   * WebSocket only: `headers` go on the upgrade request; `ca` (PEM) makes it `wss://`,
   * trusting that certificate.
   */
  static async connect(
    kind: 'tcp' | 'ws',
    port: number,
    protocols: string[] = ['janus.v1'],
    o: { localAddress?: string; headers?: Record<string, string>; ca?: string } = {},
  ): Promise<RawClient> {
    const local = o.localAddress ? { localAddress: o.localAddress } : {};
    if (kind === 'tcp') {
      const s = netConnect({ port, host: '127.0.0.1', ...local });
      await once(s, 'connect');
      return new RawClient('tcp', s, null);
    }
    const tls = o.ca === undefined ? {} : { ca: o.ca };
    const headers = o.headers ? { headers: o.headers } : {};
    const ws = new WebSocket(`${o.ca === undefined ? 'ws' : 'wss'}://127.0.0.1:${port}/ws`, protocols, { perMessageDeflate: false, ...local, ...tls, ...headers });
    const c = new RawClient('ws', null, ws);
    await once(ws, 'open');
    return c;
  }

  /** The WebSocket's TCP socket (from its upgrade response). */
  private wsSocket: Socket | null = null;

  /** The client's own port (of the TCP socket, or the WebSocket's). */
  get localPort(): number {
    return (this.socket ?? this.wsSocket)?.localPort ?? 0;
  }

  get wsProtocol(): string {
    return this.ws?.protocol ?? '';
  }

  /** Sends raw bytes on TCP (no framing), or one WebSocket message (binary unless text). */
  sendRaw(bytes: Uint8Array | string): void {
    if (this.socket) this.socket.write(bytes);
    else this.ws!.send(bytes, { binary: typeof bytes !== 'string' });
  }

  /** Sends one body (framed on TCP). */
  sendBody(body: Uint8Array): void {
    if (this.socket) this.socket.write(encodeFrame(body, 16 * 1024 * 1024));
    else this.ws!.send(body, { binary: true });
  }

  /** The next body, or null when the connection ended first. */
  nextBody(timeoutMs = 5000): Promise<Uint8Array | null> {
    const b = this.bodies.shift();
    if (b) return Promise.resolve(b);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no body within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  /** The next Packet (opened when keys exist), or null at the end. */
  async nextPacket(timeoutMs = 5000): Promise<Packet | null> {
    const b = await this.nextBody(timeoutMs);
    if (!b) return null;
    return decodePacket(this.opener ? this.opener.open(b) : b);
  }

  /** Sends CSHandshake; returns the gateway's answer body. */
  async sendHello(clientKey: SigningKey | null, o: HelloOverrides = {}): Promise<Uint8Array | null> {
    this.hello = await createClientHello({
      crypto: nodeCrypto,
      clientKey: o.clientKey === undefined ? clientKey : o.clientKey,
      certVersion: o.certVersion ?? 1,
      serverId: o.serverId ?? 0n,
      serverCertVersion: o.serverCertVersion ?? 0,
      timestamp: o.timestamp ?? BigInt(Math.floor(Date.now() / 1000)),
    });
    const body = o.mutate ? o.mutate(this.hello.body) : this.hello.body;
    this.hello.body = body;
    this.sendBody(body);
    return this.nextBody();
  }

  /** Full handshake (PROTOCOL.md 7.1-7.4). Throws when the gateway refuses. */
  async handshake(clientKey: SigningKey | null, pins: Map<number, VerifyKey>, o: HelloOverrides = {}): Promise<void> {
    const answer = await this.sendHello(clientKey, o);
    if (!answer) throw new Error('closed during handshake');
    const r = await acceptServerHello(nodeCrypto, this.hello!, answer, pins);
    this.startIndex = r.startIndex;
    this.index = r.startIndex;
    if (r.keys) {
      this.sealer = new RecordSealer(nodeCrypto.aeadKey(r.keys.c2sKey), r.keys.c2sIv);
      this.opener = new RecordOpener(nodeCrypto.aeadKey(r.keys.s2cKey), r.keys.s2cIv);
    }
  }

  /** Seals (when keys exist) and sends a Packet; index defaults to the next one. */
  send(fields: Partial<Packet>): Packet {
    const p = makePacket({ index: this.index++, ...fields });
    const body = encodePacket(p);
    this.sendBody(this.sealer ? this.sealer.seal(body) : body);
    return p;
  }

  sendAuth(token: string): Packet {
    return this.send({ mod: 1, seq: 5, data: encodeMessage(CSAuthSchema, { token }) });
  }

  sendHeartbeat(clientTime: bigint): Packet {
    return this.send({ mod: 1, seq: 2, data: encodeMessage(CSHeartbeatSchema, { clientTime }) });
  }

  /** Reads Packets until a ServerLogout; returns its code (or null when the stream ended without one). */
  async expectLogout(timeoutMs = 5000): Promise<number | null> {
    for (;;) {
      const p = await this.nextPacket(timeoutMs);
      if (!p) return null;
      if (p.mod === 1 && p.seq === 4) return decodeMessage(SCServerLogoutSchema, p.data).code;
    }
  }

  /** Stops / resumes reading from the socket (a slow consumer). */
  pauseReading(): void {
    if (this.socket) this.socket.pause();
    else this.ws!.pause();
  }

  resumeReading(): void {
    if (this.socket) this.socket.resume();
    else this.ws!.resume();
  }

  close(): void {
    this.socket?.destroy();
    this.ws?.terminate();
  }
}
