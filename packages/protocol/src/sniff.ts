/**
 * What the first bytes of a stream look like when they are not Janus frames (PROTOCOL.md 2):
 * a client or gateway pointed at the wrong port sees HTTP, HTTP/2 (gRPC) or TLS bytes, whose
 * first four bytes read as a huge or odd length prefix. Used by the gateway's TCP transport
 * (a client at the gateway) and the client SDK's (a client at an HTTP or gRPC port) to say
 * so in their error instead of "frame body length 1213486160 is over maxFrameBytes".
 *
 * Why these patterns can never match a valid Janus stream: every ASCII start (HTTP, SSH) and
 * TLS's 0x16 0x03 make a length prefix over 16 MiB, the largest maxFrameBytes; an HTTP/2
 * frame header has byte 4 (its flags) where a Janus frame has its Packet's first field tag,
 * which is never 0.
 */

const ascii = (b: Uint8Array, s: string): boolean => {
  if (b.length < s.length) return false;
  for (let i = 0; i < s.length; i++) if (b[i] !== s.charCodeAt(i)) return false;
  return true;
};

const HTTP_METHODS = ['GET ', 'POST ', 'PUT ', 'HEAD ', 'DELETE ', 'OPTIONS ', 'PATCH ', 'CONNECT '];

/**
 * Describes `first` (the first bytes read from a peer, at least 9 for the HTTP/2 check) when
 * it is a known foreign protocol, e.g. `an HTTP/1.x response`, or null when it is not one of
 * them (it may still be a valid Janus frame).
 */
export function describeForeignBytes(first: Uint8Array): string | null {
  if (ascii(first, 'PRI * HTTP/2.0')) return 'the HTTP/2 (gRPC) connection preface';
  if (ascii(first, 'HTTP/')) return 'an HTTP/1.x response';
  for (const m of HTTP_METHODS) if (ascii(first, m)) return 'an HTTP/1.x request';
  if (ascii(first, 'SSH-')) return 'an SSH banner';
  if (first.length >= 3 && first[0] === 0x16 && first[1] === 0x03 && first[2]! <= 0x04) return 'a TLS handshake';
  // HTTP/2 SETTINGS frame on stream 0 (a gRPC or HTTP/2 server speaks first with it):
  // 24-bit length (a multiple of 6), type 0x04, flags 0 (or ACK 1), stream id 0.
  if (first.length >= 9 && first[3] === 0x04 && (first[4] === 0 || first[4] === 1) && first[5] === 0 && first[6] === 0 && first[7] === 0 && first[8] === 0) {
    const len = (first[0]! << 16) | (first[1]! << 8) | first[2]!;
    if (len % 6 === 0) return 'an HTTP/2 SETTINGS frame (a gRPC or HTTP/2 server)';
  }
  return null;
}
