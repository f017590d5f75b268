/**
 * Per-request W3C trace context on a tunnel message (docs/decisions/0019-tracing-context.md).
 *
 * PROTOCOL.md 9 lists the TunnelRequest fields 1..11; section 3 has every decoder ignore
 * fields it does not know. A gateway with tracing on appends two string fields to a
 * TunnelRequest, above every field the contract uses:
 *
 *   traceparent = 100 (string)   W3C Trace Context `traceparent` of the gateway's request span
 *   tracestate  = 101 (string)   W3C `tracestate`; omitted when empty
 *
 * Written after fields 1..11 (ascending order, PROTOCOL.md 3), only when tracing is on. A
 * backend that does not read them skips them as unknown fields; the backend SDK reads them
 * to continue the trace. They carry span ids only: never a token, key or payload.
 */
import { WireReader, WireWriter, varint32Size } from './wire.js';

/** Field numbers of the trace context on a TunnelRequest (outside PROTOCOL.md 9's 1..11). */
export const TUNNEL_TRACE_FIELDS = {
  traceparent: 100,
  tracestate: 101,
} as const;

/** W3C trace context headers as carried on one tunnel message. */
export interface TunnelTraceContext {
  /** `version-traceid-spanid-flags`, e.g. `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`. */
  traceparent: string;
  /** Vendor entries, `k1=v1,k2=v2`; '' when none. */
  tracestate: string;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Wire-type-2 tags of the two fields, as varints. */
const TRACEPARENT_TAG = (TUNNEL_TRACE_FIELDS.traceparent << 3) | 2;
const TRACESTATE_TAG = (TUNNEL_TRACE_FIELDS.tracestate << 3) | 2;

function stringFieldSize(tag: number, b: Uint8Array): number {
  return b.length === 0 ? 0 : varint32Size(tag) + varint32Size(b.length) + b.length;
}

function stringField(w: WireWriter, tag: number, b: Uint8Array): void {
  if (b.length === 0) return;
  w.varint32(tag);
  w.varint32(b.length);
  w.raw(b);
}

/**
 * The encoded trace context fields, to append to an encoded TunnelRequest (see
 * `encodeTunnelMessage`'s `tail`): traceparent, then tracestate when not empty. An empty
 * traceparent gives no bytes.
 */
export function encodeTunnelTraceContext(tc: TunnelTraceContext): Uint8Array {
  if (tc.traceparent === '') return new Uint8Array(0);
  const parent = utf8.encode(tc.traceparent);
  const state = utf8.encode(tc.tracestate);
  const w = new WireWriter(stringFieldSize(TRACEPARENT_TAG, parent) + stringFieldSize(TRACESTATE_TAG, state));
  stringField(w, TRACEPARENT_TAG, parent);
  stringField(w, TRACESTATE_TAG, state);
  return w.buf;
}

/**
 * Reads the trace context fields of an encoded TunnelRequest (the last occurrence of each
 * wins, as for any protobuf field). Returns null when there is no traceparent, or when a
 * trace field has the wrong wire type or is not UTF-8: a broken trace context is dropped,
 * never a reason to fail the request. Checking the W3C format itself is the propagator's job.
 * @throws JanusError JANUS_ERR_PACKET_MALFORMED when `bytes` is not a valid protobuf message
 *   (the tunnel codec has already refused such a message).
 */
export function readTunnelTraceContext(bytes: Uint8Array): TunnelTraceContext | null {
  const r = new WireReader(bytes);
  let parent: Uint8Array | null = null;
  let state: Uint8Array | null = null;
  let broken = false;
  while (r.pos < bytes.length) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wt = tag & 7;
    if (no === TUNNEL_TRACE_FIELDS.traceparent || no === TUNNEL_TRACE_FIELDS.tracestate) {
      if (wt !== 2) {
        broken = true;
        r.skip(wt, no);
        continue;
      }
      if (no === TUNNEL_TRACE_FIELDS.traceparent) parent = r.bytes();
      else state = r.bytes();
      continue;
    }
    r.skip(wt, no);
  }
  if (broken || parent === null || parent.length === 0) return null;
  try {
    return { traceparent: utf8Strict.decode(parent), tracestate: state === null ? '' : utf8Strict.decode(state) };
  } catch {
    return null;
  }
}
