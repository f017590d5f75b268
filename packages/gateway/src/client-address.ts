/**
 * The client's address behind a TLS-terminating proxy or load balancer: which peers are
 * trusted proxies (`listen.trustedProxies`), and the address an X-Forwarded-For header of
 * a trusted peer carries. Only a trusted peer's word is taken: an untrusted peer's header
 * is ignored and the socket's own address is the client's. The address found here is the
 * one the per-address limits count (maxConnectionsPerAddress, handshakesPerSecondPerAddress)
 * and the one backends get as x-md-global-client-ip (PROTOCOL.md 9). docs/gateway.md.
 */
import { BlockList, isIP } from 'node:net';
import { ErrorCode, JanusError } from '@janus/protocol';

/** Matches addresses against a list of IPs and CIDR ranges; IPv4-mapped IPv6 addresses match their IPv4 entries. */
export class TrustedProxies {
  private readonly list = new BlockList();
  /** Entries given (0: nobody is trusted). */
  readonly size: number;

  /**
   * @param entries `"10.0.0.5"`, `"10.0.0.0/8"`, `"::1"`, `"fd00::/8"`.
   * @throws JanusError JANUS_ERR_CONFIG_INVALID naming `listen.trustedProxies.N` for an entry that is neither.
   */
  constructor(entries: readonly string[]) {
    entries.forEach((entry, i) => {
      const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(entry.trim());
      const family = m ? isIP(m[1]!) : 0;
      const bits = m?.[2] === undefined ? undefined : Number(m[2]);
      if (!m || family === 0 || (bits !== undefined && bits > (family === 4 ? 32 : 128))) {
        throw new JanusError(ErrorCode.ConfigInvalid, `config listen.trustedProxies.${i}: "${entry}" is not an IP address or CIDR range`, {
          key: `listen.trustedProxies.${i}`,
        });
      }
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.list.addAddress(m[1]!, type);
      else this.list.addSubnet(m[1]!, bits, type);
    });
    this.size = entries.length;
  }

  /** True when `address` (a socket's remoteAddress, or a forwarded one) is a trusted proxy. */
  has(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** An X-Forwarded-For element without a port: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`. Null if it is no IP. */
function forwardedIp(element: string): string | null {
  const e = element.trim();
  if (isIP(e)) return e;
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(e);
  if (v6 && isIP(v6[1]!) === 6) return v6[1]!;
  const v4 = /^([\d.]+):\d+$/.exec(e);
  if (v4 && isIP(v4[1]!) === 4) return v4[1]!;
  return null;
}

/**
 * The client address of a WebSocket upgrade: the peer's own address, unless the peer is a
 * trusted proxy and sent X-Forwarded-For. Then the header's elements are walked from the
 * right (each proxy appends the address it received from): every trusted hop is passed
 * over, and the first element that is not a trusted proxy is the client. The walk stops
 * at an element that is not an IP address and keeps the last hop it believed.
 * @param peer the socket's remoteAddress.
 * @param header the X-Forwarded-For value(s) (Node joins repeated headers with ", ").
 */
export function forwardedClientAddress(peer: string, header: string | string[] | undefined, trusted: TrustedProxies): string {
  if (header === undefined || !trusted.has(peer)) return peer;
  const elements = (Array.isArray(header) ? header.join(',') : header).split(',');
  let address = peer;
  for (let i = elements.length - 1; i >= 0 && trusted.has(address); i--) {
    const ip = forwardedIp(elements[i]!);
    if (ip === null) break;
    address = ip;
  }
  return address;
}
