/**
 * The etcd3 client as the registry uses it: no retry policy of its own (a call fails at once
 * and the caller's jittered backoff decides when to try again), a deadline on every unary
 * call, and gRPC keepalive PINGs so a vanished etcd host is noticed on a quiet watch stream
 * too. With several endpoints etcd3's per-host circuit breaker stays (after 3 failures in a
 * row a member is skipped for 5 s, so calls go to the live ones); with one there is nothing
 * to fail over to, and the breaker would only delay the recovery.
 */
import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';
import type { EtcdOptions } from '@janus/protocol';

/** gRPC keepalive on the etcd connection (ms); etcd's default enforcement minimum is 5 s. */
const KEEPALIVE_MS = 10_000;
const KEEPALIVE_TIMEOUT_MS = 5_000;

/** A new etcd3 client for `o` (it connects lazily, on the first call). */
export function createEtcdClient(o: EtcdOptions): Etcd3 {
  return new Etcd3({
    hosts: o.endpoints.map((e) => e.replace(/\/$/, '')),
    dialTimeout: o.dialTimeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + o.requestTimeoutMs }),
    faultHandling: o.endpoints.length > 1 ? { global: noop } : { host: () => noop, global: noop },
    grpcOptions: {
      'grpc.keepalive_time_ms': KEEPALIVE_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      'grpc.keepalive_permit_without_calls': 1,
    },
  });
}
