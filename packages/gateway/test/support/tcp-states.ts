/**
 * The kernel's view of loopback TCP sockets (Linux /proc/net/tcp): which state the gateway's
 * end of a connection is in, and how many bytes wait in its send queue. Linux only, like
 * the test machines (docs/reliability.md).
 */
import { readFileSync } from 'node:fs';

/** Kernel TCP states by their /proc/net/tcp number. */
const STATES: Record<number, string> = {
  1: 'ESTABLISHED', 2: 'SYN_SENT', 3: 'SYN_RECV', 4: 'FIN_WAIT1', 5: 'FIN_WAIT2', 6: 'TIME_WAIT',
  7: 'CLOSE', 8: 'CLOSE_WAIT', 9: 'LAST_ACK', 10: 'LISTEN', 11: 'CLOSING',
};

/** One socket of /proc/net/tcp whose local port is `localPort` and remote port `remotePort`. */
export interface TcpSocketState {
  state: string;
  /** Bytes in the send queue (unsent or unacknowledged). */
  sendQueue: number;
}

/** The sockets from `localPort` to `remotePort` on any address (normally zero or one). */
export function tcpSockets(localPort: number, remotePort: number): TcpSocketState[] {
  const out: TcpSocketState[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const lp = parseInt(f[1]!.split(':')[1]!, 16);
    const rp = parseInt(f[2]!.split(':')[1]!, 16);
    if (lp !== localPort || rp !== remotePort) continue;
    out.push({ state: STATES[parseInt(f[3]!, 16)] ?? f[3]!, sendQueue: parseInt(f[4]!.split(':')[0]!, 16) });
  }
  return out;
}
