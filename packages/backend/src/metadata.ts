/**
 * Stream metadata of a tunnel (PROTOCOL.md 9): what the gateway tells a backend about the
 * connection behind a stream. Numbers travel as decimal strings.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { TUNNEL_METADATA_KEYS, tunnelMetadataHeaders, type TunnelMetadataFields } from '@janus/protocol';

export { TUNNEL_METADATA_KEYS, tunnelMetadataHeaders, type TunnelMetadataFields };

/** Outcome of {@link readTunnelMetadata}: the fields, or why they are unusable. */
export type TunnelMetadataResult =
  | { readonly ok: true; readonly fields: TunnelMetadataFields }
  | { readonly ok: false; readonly details: string };

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const DECIMAL = /^-?[0-9]{1,20}$/;

/** Stream metadata: grpc-js Metadata, or the request headers of an HTTP/2 stream. */
type MetadataSource = grpc.Metadata | IncomingHttpHeaders;

/** The first value of `key` as a string; undefined when absent; null when binary. */
function first(md: MetadataSource, key: string): string | undefined | null {
  if (md instanceof grpc.Metadata) {
    const values = md.get(key);
    if (values.length === 0) return undefined;
    const v = values[0];
    return typeof v === 'string' ? v : null;
  }
  const v = md[key];
  return Array.isArray(v) ? v[0] : v;
}

function int64(md: MetadataSource, key: string, required: boolean): bigint | string {
  const raw = first(md, key);
  if (raw === undefined) return required ? `missing ${key}` : 0n;
  if (raw === null || !DECIMAL.test(raw)) return `malformed ${key}: not a decimal int64`;
  const v = BigInt(raw);
  if (v < INT64_MIN || v > INT64_MAX) return `malformed ${key}: out of int64 range`;
  return v;
}

/**
 * Reads the tunnel metadata of a stream, from grpc-js Metadata or HTTP/2 request headers
 * (header names are lower case either way). x-md-global-oid and x-md-global-uid are required;
 * the others default to 0 / ''. A value that is present but not a decimal number in range
 * (int64; int32 for status) is malformed. Failures are returned, not thrown: the server
 * turns them into status INVALID_ARGUMENT.
 */
export function readTunnelMetadata(md: MetadataSource): TunnelMetadataResult {
  const K = TUNNEL_METADATA_KEYS;
  const oid = int64(md, K.oid, true);
  if (typeof oid === 'string') return { ok: false, details: oid };
  const uid = int64(md, K.uid, true);
  if (typeof uid === 'string') return { ok: false, details: uid };
  const sid = int64(md, K.sid, false);
  if (typeof sid === 'string') return { ok: false, details: sid };
  const status = int64(md, K.status, false);
  if (typeof status === 'string') return { ok: false, details: status };
  if (status < -(1n << 31n) || status >= 1n << 31n) {
    return { ok: false, details: `malformed ${K.status}: out of int32 range` };
  }
  return {
    ok: true,
    fields: {
      oid,
      uid,
      sid,
      status: Number(status),
      color: first(md, K.color) ?? '',
      clientIp: first(md, K.clientIp) ?? '',
      referer: first(md, K.referer) ?? '',
      gateReferer: first(md, K.gateReferer) ?? '',
    },
  };
}

/** {@link tunnelMetadataHeaders} as grpc-js Metadata (the backend SDK's test client). */
export function tunnelMetadata(fields: TunnelMetadataFields): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(tunnelMetadataHeaders(fields))) md.set(k, v);
  return md;
}
