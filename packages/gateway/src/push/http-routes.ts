/**
 * The push API as HTTP JSON on the management server (PROTOCOL.md 11):
 * `POST /v1/push/push`, `/v1/push/multicast`, `/v1/push/broadcast`, `/v1/push/kick`, each
 * body the PushService request message in protobuf's JSON mapping (int64 as decimal strings
 * or numbers, `data` as base64, field names as in the .proto or lowerCamelCase), each answer
 * the response message the same way (int64 as decimal strings, every field present). The
 * management server mounts them only when an admin token is configured and checks the
 * bearer token first (management/server.ts). On a gateway with a cluster push bus the
 * routes reach users on any gateway (cluster.ts); otherwise this gateway's sessions.
 */
import { fromJsonString, toJson, type JsonValue } from '@bufbuild/protobuf';
import { ErrorCode, JanusError } from '@janus/protocol';
import { PUSH_METHODS, type PushOps } from './api.js';

/** Largest request body of a push route (bytes): a 4 MiB gRPC message's data as base64, and its fields. */
export const MAX_PUSH_HTTP_BODY_BYTES = 6 * 1024 * 1024;

/** Route path -> PushService method name. */
export const PUSH_HTTP_ROUTES: ReadonlyMap<string, string> = new Map([...PUSH_METHODS.keys()].map((name) => [`/v1/push/${name.toLowerCase()}`, name]));

/** An HTTP answer: status and JSON body. */
export interface PushHttpAnswer {
  status: number;
  body: JsonValue | { error: { code: string; message: string } };
}

/**
 * Runs the push method `name` on a JSON request body.
 * @returns 200 with the response message as JSON; 400 `JANUS_ERR_ARG_INVALID` when the
 *   body is not the request message's JSON or api.ts refuses the request; 503
 *   `JANUS_ERR_ROUTE_TABLE_UNAVAILABLE` when `ops` (cluster.ts) could not reach Redis (a
 *   multicast: only when it delivered to no uid; otherwise 200 with the uids it reached).
 */
export async function runPushJson(ops: PushOps, name: string, text: string): Promise<PushHttpAnswer> {
  const m = PUSH_METHODS.get(name);
  if (!m) return { status: 404, body: { error: { code: 'not_found', message: `no push method ${name}` } } };
  try {
    let req;
    try {
      req = fromJsonString(m.input, text.trim() === '' ? '{}' : text);
    } catch (err) {
      throw new JanusError(ErrorCode.ArgInvalid, `body is not a ${m.input.typeName} in JSON: ${(err as Error).message}`);
    }
    return { status: 200, body: toJson(m.output, await m.call(ops, req), { alwaysEmitImplicit: true }) };
  } catch (err) {
    if (err instanceof JanusError && err.code === ErrorCode.ArgInvalid) return { status: 400, body: { error: { code: err.code, message: err.message } } };
    if (err instanceof JanusError && err.code === ErrorCode.RouteTableUnavailable) return { status: 503, body: { error: { code: err.code, message: err.message } } };
    throw err;
  }
}
