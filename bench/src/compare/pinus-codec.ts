/**
 * The wire format of pinus's hybrid connector (the pomelo protocol), written here from its
 * documented format for the bench:compare client; pinus's own code is not used.
 *
 * Package: type u8, body length u24 BE, body.
 *   type 1 handshake (client: JSON {sys, user}; server: JSON {code, sys: {heartbeat, dict?}}),
 *   2 handshake ack (no body), 3 heartbeat (no body), 4 data (a Message), 5 kick (JSON).
 * Message (the body of a data package):
 *   flag u8 = (type << 1) | routeCompressed, type 0 request, 1 notify, 2 response, 3 push;
 *   id as base-128 varint, low 7 bits first (request and response only);
 *   route (request, notify, push): a u16 BE dictionary code when compressed, else a u8
 *   length and that many UTF-8 bytes;
 *   then the body (JSON here: the connector runs without protobuf).
 */

/** Package types. */
export const PackageType = { Handshake: 1, HandshakeAck: 2, Heartbeat: 3, Data: 4, Kick: 5 } as const;
/** Message types. */
export const MessageType = { Request: 0, Notify: 1, Response: 2, Push: 3 } as const;

const PKG_HEAD = 4;
/** Largest package body the 3-byte length can carry (bytes). */
export const MAX_PACKAGE_BODY = 0xffffff;
const MAX_ROUTE_CODE = 0xffff;

/** One package: type, then the u24 BE length of `body`, then `body`. */
export function encodePackage(type: number, body?: Uint8Array): Buffer {
  const len = body?.length ?? 0;
  if (len > MAX_PACKAGE_BODY) throw new RangeError(`package body of ${len} bytes exceeds ${MAX_PACKAGE_BODY}`);
  const out = Buffer.allocUnsafe(PKG_HEAD + len);
  out[0] = type;
  out[1] = (len >> 16) & 0xff;
  out[2] = (len >> 8) & 0xff;
  out[3] = len & 0xff;
  if (body) out.set(body, PKG_HEAD);
  return out;
}

/** A decoded package; `body` is a view of the input when it lay in one chunk. */
export interface PinusPackage {
  type: number;
  body: Buffer;
}

/**
 * Splits a byte stream into packages (same contract as the proxy's FrameReader: bodies
 * inside one chunk are views of it, split ones are joined).
 */
export class PackageReader {
  private pending: Buffer | null = null;

  /** Feeds one chunk; calls `onPackage` with each complete package, in order. */
  push(chunk: Buffer, onPackage: (p: PinusPackage) => void): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let off = 0;
    while (buf.length - off >= PKG_HEAD) {
      const len = (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
      if (buf.length - off - PKG_HEAD < len) break;
      onPackage({ type: buf[off]!, body: buf.subarray(off + PKG_HEAD, off + PKG_HEAD + len) });
      off += PKG_HEAD + len;
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }
}

/** A message. `route` is a dictionary code (number) when compressed, else the route string. */
export interface PinusMessage {
  type: number;
  /** Request id (request and response); 0 otherwise. */
  id: number;
  /** Route (request, notify, push): string, or its u16 code when compressed; '' for a response. */
  route: string | number;
  body: Buffer;
}

function hasId(type: number): boolean {
  return type === MessageType.Request || type === MessageType.Response;
}

function hasRoute(type: number): boolean {
  return type === MessageType.Request || type === MessageType.Notify || type === MessageType.Push;
}

function varintBytes(id: number): number {
  let n = 1;
  while (id >= 0x80) {
    id = Math.floor(id / 128);
    n++;
  }
  return n;
}

/**
 * Encodes a message.
 * @param id request id, an integer in 0..2^35-1 (used for request and response).
 * @throws RangeError for a route code above 0xffff or a route string above 255 UTF-8 bytes.
 */
export function encodeMessage(m: { type: number; id?: number; route?: string | number; body?: Uint8Array }): Buffer {
  const id = m.id ?? 0;
  const body = m.body ?? new Uint8Array(0);
  let routeBytes: Buffer | null = null;
  let compressed = false;
  let len = 1;
  if (hasId(m.type)) len += varintBytes(id);
  if (hasRoute(m.type)) {
    if (typeof m.route === 'number') {
      if (!(m.route >= 0 && m.route <= MAX_ROUTE_CODE)) throw new RangeError(`route code ${m.route} is not in 0..${MAX_ROUTE_CODE}`);
      compressed = true;
      len += 2;
    } else {
      routeBytes = Buffer.from(m.route ?? '', 'utf8');
      if (routeBytes.length > 255) throw new RangeError(`route of ${routeBytes.length} bytes exceeds 255`);
      len += 1 + routeBytes.length;
    }
  }
  len += body.length;
  const out = Buffer.allocUnsafe(len);
  let off = 0;
  out[off++] = (m.type << 1) | (compressed ? 1 : 0);
  if (hasId(m.type)) {
    let v = id;
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v > 0) b |= 0x80;
      out[off++] = b;
    } while (v > 0);
  }
  if (hasRoute(m.type)) {
    if (compressed) {
      out[off++] = ((m.route as number) >> 8) & 0xff;
      out[off++] = (m.route as number) & 0xff;
    } else {
      out[off++] = routeBytes!.length;
      routeBytes!.copy(out, off);
      off += routeBytes!.length;
    }
  }
  out.set(body, off);
  return out;
}

/** Thrown by {@link decodeMessage} for a truncated or malformed message. */
export class PinusDecodeError extends Error {}

/**
 * Decodes a message; `body` is a view of `buf`.
 * @throws PinusDecodeError when `buf` is truncated.
 */
export function decodeMessage(buf: Buffer): PinusMessage {
  if (buf.length < 1) throw new PinusDecodeError('empty message');
  const flag = buf[0]!;
  const type = (flag >> 1) & 0x7;
  const compressed = (flag & 1) === 1;
  let off = 1;
  let id = 0;
  if (hasId(type)) {
    let mul = 1;
    for (;;) {
      if (off >= buf.length) throw new PinusDecodeError('truncated id');
      const b = buf[off++]!;
      id += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) break;
    }
  }
  let route: string | number = '';
  if (hasRoute(type)) {
    if (compressed) {
      if (off + 2 > buf.length) throw new PinusDecodeError('truncated route code');
      route = (buf[off]! << 8) | buf[off + 1]!;
      off += 2;
    } else {
      if (off + 1 > buf.length) throw new PinusDecodeError('truncated route length');
      const rl = buf[off++]!;
      if (off + rl > buf.length) throw new PinusDecodeError('truncated route');
      route = buf.toString('utf8', off, off + rl);
      off += rl;
    }
  }
  return { type, id, route, body: buf.subarray(off) };
}
