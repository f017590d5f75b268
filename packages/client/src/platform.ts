/**
 * The platform port of the client SDK: the few things that differ between Node and a
 * browser, behind one small interface so that one client (client.ts, link.ts, login.ts)
 * runs on both. Two adapters: platform-node.ts (TCP and the `ws` package, node:crypto,
 * node:zlib, NODE_DEBUG) and platform-browser.ts (the page's WebSocket, WebCrypto or the
 * noble fallback, CompressionStream). Each entry (index.ts, browser.ts) picks its own.
 */
import type { CryptoBackend } from '@janus/protocol';
import type { Transport } from './transport.js';
import type { ClientTlsOptions } from './options.js';

/** Where and how to open one transport (PROTOCOL.md 2). */
export interface TransportTarget {
  transport: 'tcp' | 'ws';
  host: string;
  port: number;
  /** WebSocket request path, e.g. `/ws`. */
  path: string;
  /** WebSocket over TLS (`wss://`) with these options (Node); null: `ws://`. */
  tls: Readonly<ClientTlsOptions> | null;
  /** Largest body accepted and sent (bytes). */
  maxFrameBytes: number;
  /** Aborting cuts the attempt; the promise rejects with JANUS_ERR_CONNECTION_CLOSED. */
  signal: AbortSignal;
}

/** The seams. Implementations hold no per-client state. */
export interface Platform {
  /** `'node'` or `'browser'` (diagnostics). */
  readonly name: string;
  /** The transports this platform can open; another value is refused at option validation. */
  readonly transports: readonly ('tcp' | 'ws')[];
  /**
   * Opens a transport.
   * @throws JanusError JANUS_ERR_CONNECTION_CLOSED when the connection fails or is aborted.
   */
  connect(target: TransportTarget): Promise<Transport>;
  /** The crypto back end used when the options name none. */
  defaultCrypto(): Promise<CryptoBackend>;
  /**
   * Inflates zlib data (RFC 1950), refusing output over `maxBytes` while inflating.
   * @throws JanusError JANUS_ERR_INFLATE over the limit (details `maxInflateBytes`) or for bad zlib data.
   */
  inflate(data: Uint8Array, maxBytes: number): Promise<Uint8Array>;
  /** Deflates into zlib (RFC 1950). @throws JanusError JANUS_ERR_INFLATE when deflating fails. */
  deflate(data: Uint8Array): Promise<Uint8Array>;
  /** Debug log line (printf-style `%s` / `%d`); never given a token or a key. */
  trace(format: string, ...args: unknown[]): void;
  /** Runs `fn` in a later macrotask (after the current promise continuations). */
  defer(fn: () => void): void;
}
