/**
 * The PROXY protocol (HAProxy's, versions 1 and 2) on the client TCP listener: a trusted
 * TLS-terminating proxy or L4 load balancer sends one header before the client's bytes,
 * naming the client's address. `listen.tcp.proxyProtocol: true` expects that header from
 * every connection whose peer is in `listen.trustedProxies`, and from no other: an
 * untrusted peer's first bytes are Janus frames as always (a PROXY header from it is no
 * valid frame and closes it), so nobody can claim another's address. The receiver never
 * guesses whether a header is present (the specification's rule). docs/gateway.md.
 *
 * Format (haproxy.org/download/2.9/doc/proxy-protocol.txt):
 * - v1: one ASCII line of at most 107 bytes, `PROXY TCP4|TCP6 src dst sport dport\r\n`
 *   or `PROXY UNKNOWN ...\r\n`.
 * - v2: the 12-byte signature `\r\n\r\n\0\r\nQUIT\n`, version/command (0x20 LOCAL,
 *   0x21 PROXY), family/transport, a u16be length, then the addresses (IPv4: src, dst,
 *   ports, 12 bytes; IPv6: 36 bytes) and TLVs (skipped).
 * LOCAL (a health check by the proxy itself), UNKNOWN and the UNSPEC and UNIX families
 * carry no client address: the connection keeps the peer's.
 */
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { ErrorCode, JanusError } from '@janus/protocol';
import type { Clock } from './clock.js';

/** The v2 signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** Longest v1 line, CRLF included (the specification's bound). */
export const PROXY_V1_MAX_BYTES = 107;
/**
 * Longest v2 header accepted (bytes, the 16-byte fixed part included). The format allows
 * 16 + 65535; addresses take at most 216 and proxies add a few small TLVs, so a header
 * past this is refused rather than buffered.
 */
export const PROXY_V2_MAX_BYTES = 4096;

/** What a PROXY header says. */
export interface ProxyHeader {
  /** The client's address (as a socket's remoteAddress would show it), or null when the header carries none: keep the peer's. */
  source: string | null;
  /** The header's length (bytes); what follows is the client's stream. */
  length: number;
}

function invalid(why: string): JanusError {
  return new JanusError(ErrorCode.ProxyHeaderInvalid, `PROXY header: ${why}`);
}

/** True while the first `n` bytes of `buf` match `prefix` (as far as both go). */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(buf: Buffer): ProxyHeader | null {
  if (!startsLike(buf, V1_PREFIX)) throw invalid('not a PROXY v1 line');
  const end = buf.subarray(0, PROXY_V1_MAX_BYTES).indexOf('\r\n', 0, 'latin1');
  if (end < 0) {
    if (buf.length >= PROXY_V1_MAX_BYTES) throw invalid(`v1 line longer than ${PROXY_V1_MAX_BYTES} bytes`);
    return null;
  }
  const length = end + 2;
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  if (parts[1] === 'UNKNOWN') return { source: null, length };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) throw invalid('v1 line is not "PROXY TCP4|TCP6 src dst sport dport"');
  const family = parts[1] === 'TCP4' ? 4 : 6;
  if (isIP(parts[2]!) !== family || isIP(parts[3]!) !== family) throw invalid(`v1 addresses are not ${parts[1]} addresses`);
  for (const p of [parts[4]!, parts[5]!]) if (!/^(0|[1-9]\d{0,4})$/.test(p) || Number(p) > 65535) throw invalid(`v1 port "${p}"`);
  return { source: parts[2]!, length };
}

/** An IPv6 address from 16 bytes, in the compressed form sockets report (WHATWG URL host serializer). */
function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

function parseV2(buf: Buffer): ProxyHeader | null {
  if (!startsLike(buf, V2_SIGNATURE)) throw invalid('not a PROXY v2 signature');
  if (buf.length < 16) return null;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw invalid(`v2 version ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) throw invalid(`v2 command ${cmd}`);
  const length = 16 + buf.readUInt16BE(14);
  if (length > PROXY_V2_MAX_BYTES) throw invalid(`v2 header of ${length} bytes, over ${PROXY_V2_MAX_BYTES}`);
  if (buf.length < length) return null;
  if (cmd === 0) return { source: null, length }; // LOCAL: the proxy's own connection
  const family = buf[13]! >> 4;
  if (family === 1) {
    if (length < 16 + 12) throw invalid('v2 IPv4 addresses truncated');
    return { source: `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`, length };
  }
  if (family === 2) {
    if (length < 16 + 36) throw invalid('v2 IPv6 addresses truncated');
    return { source: ipv6(buf.subarray(16, 32)), length };
  }
  if (family === 0 || family === 3) return { source: null, length }; // UNSPEC, UNIX: no IP to carry
  throw invalid(`v2 address family ${family}`);
}

/**
 * Parses the PROXY header (v1 or v2) at the start of `buf`, the bytes read so far.
 * @returns the header, or null when more bytes are needed (never more than
 *   {@link PROXY_V2_MAX_BYTES} in all).
 * @throws JanusError JANUS_ERR_PROXY_HEADER when `buf` does not start with a valid header.
 */
export function parseProxyHeader(buf: Buffer): ProxyHeader | null {
  if (buf.length === 0) return null;
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  throw invalid('the connection does not start with a PROXY v1 or v2 header');
}

/**
 * Reads the PROXY header off a fresh socket. On success the socket is paused with the
 * bytes after the header put back (`unshift`), ready for a transport to attach and resume.
 * @param deadlineMs the header must be complete within this (ms, by `clock`; the gateway
 *   passes timeouts.handshakeMs).
 * @throws JanusError (rejects) JANUS_ERR_PROXY_HEADER (invalid), JANUS_ERR_HANDSHAKE_TIMEOUT
 *   (not complete in time), JANUS_ERR_CONNECTION_CLOSED (the socket closed first). The
 *   caller destroys the socket.
 */
export function readProxyHeader(socket: Socket, deadlineMs: number, clock: Clock): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (err: Error | null, header?: ProxyHeader): void => {
      clock.clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(header!);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let header: ProxyHeader | null;
      try {
        header = parseProxyHeader(buf);
      } catch (err) {
        finish(err as Error);
        return;
      }
      if (!header) return;
      socket.pause();
      if (buf.length > header.length) socket.unshift(buf.subarray(header.length));
      finish(null, header);
    };
    const onClose = (): void => finish(new JanusError(ErrorCode.ConnectionClosed, 'connection closed before its PROXY header'));
    const timer = clock.setTimeout(
      () => finish(new JanusError(ErrorCode.HandshakeTimeout, `no complete PROXY header within ${deadlineMs} ms`, { timeoutMs: deadlineMs })),
      deadlineMs,
    );
    socket.on('error', () => {}); // 'close' follows; the transport adds its own handler later
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}
