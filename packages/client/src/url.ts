/** The gateway's WebSocket URL (PROTOCOL.md 1, 2), shared by the Node and browser transports. */

/**
 * `ws://host:port/path` (`wss://` with `tls`), with brackets around an IPv6 literal.
 * @param path the request path, starting with `/`.
 */
export function wsUrl(host: string, port: number, path: string, tls = false): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${tls ? 'wss' : 'ws'}://${h}:${port}${path}`;
}
