/**
 * Opening a session: connect the configured transport, then run the link's handshake and
 * auth, all within connectTimeoutMs (PROTOCOL.md 7). Used for the first connection and
 * for every reconnect attempt.
 */
import { ErrorCode, JanusError } from '@janus/protocol';
import { Link, type Session } from './link.js';
import type { ResolvedOptions } from './options.js';

/** A link whose session is open. */
export interface OpenedLink {
  link: Link;
  session: Session;
}

/** Inputs of one attempt besides the options. */
export interface LoginOptions {
  /** Seconds added to the clock for CSHandshake.timestamp. */
  clockOffset: number;
  /** Aborting cuts the attempt; it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Connects, handshakes and authenticates.
 * @throws JanusError JANUS_ERR_HANDSHAKE_TIMEOUT (details `connectTimeoutMs`) past
 *   connectTimeoutMs; JANUS_ERR_LOGOUT (details `logoutCode`, `serverTime`) when the gateway
 *   answered with a ServerLogout; JANUS_ERR_CONNECTION_CLOSED when the connection fails;
 *   the handshake errors of {@link Link.open}; the signal's reason when aborted.
 */
export async function login(o: ResolvedOptions, lo: LoginOptions): Promise<OpenedLink> {
  const deadline = new AbortController();
  // Not unref'd: a connecting client keeps a Node process alive, as its socket would.
  const timer = setTimeout(
    () =>
      deadline.abort(
        new JanusError(ErrorCode.HandshakeTimeout, `connect, handshake and auth took over ${o.connectTimeoutMs} ms`, {
          connectTimeoutMs: o.connectTimeoutMs,
        }),
      ),
    o.connectTimeoutMs,
  );
  // One signal for both ends of the attempt: the deadline and the caller's abort.
  const signal = deadline.signal;
  const forward = (): void => deadline.abort(lo.signal!.reason);
  if (lo.signal?.aborted) forward();
  else lo.signal?.addEventListener('abort', forward, { once: true });
  let link: Link | undefined;
  const cut = (): void => link?.destroy(signal.reason as JanusError);
  try {
    const transport = await o.platform.connect({
      transport: o.transport,
      host: o.host,
      port: o.port,
      path: o.path,
      tls: o.tls,
      maxFrameBytes: o.maxFrameBytes,
      signal,
    });
    link = new Link(transport, o);
    if (signal.aborted) cut();
    else signal.addEventListener('abort', cut, { once: true });
    const session = await link.open(lo.clockOffset);
    return { link, session };
  } catch (err) {
    if (signal.aborted) {
      link?.destroy();
      throw signal.reason;
    }
    throw err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', cut);
    lo.signal?.removeEventListener('abort', forward);
  }
}
