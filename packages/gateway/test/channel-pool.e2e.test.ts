/**
 * The tunnel client's channel choice (tunnel.ts ChannelPool): streams go round robin over an
 * instance's HTTP/2 connections, passing over one still in its reconnect backoff while
 * another one of the instance is up, so that after a backend restart a stream does not fail
 * because it drew the channel that has not retried yet (the flake of backend-faults.e2e that
 * this reproduces deterministically). Real sockets, the demo backend, a manual clock.
 */
import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { ErrorCode, isJanusError, TUNNEL_PATHS } from '@janus/protocol';
import { startDemoBackend } from '@janus/demo-backend';
import { ChannelPool, type Tunnel, type TunnelListener } from '../src/tunnel.js';
import { ManualClock } from '../src/manual-clock.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof a === 'object' && a ? a.port : 0;
}

const ROOM = { name: 'room', path: TUNNEL_PATHS.room, discoveryName: 'roma.room.service', isPlayer: false };
const MD = { oid: 7n, uid: 1n, sid: 1n, status: 0, color: '', clientIp: '127.0.0.1', gateReferer: '127.0.0.1:19100#1' };
const LISTENER: TunnelListener = { onMessage() {}, onEnd() {}, onDrain() {}, onTooLarge() {} };

describe('ChannelPool: a channel in its reconnect backoff', () => {
  it('is passed over while another channel of the instance is up; with all in backoff the open fails at once', async (t) => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const clock = new ManualClock();
    const pool = new ChannelPool(2, 5000, 1000, 1 << 20, { keepaliveMs: 330_000, keepaliveTimeoutMs: 20_000 }, clock);
    t.after(() => pool.close());
    const refused = (e: unknown): boolean => isJanusError(e, ErrorCode.NoInstance);
    // Nothing listens: channel A fails at t = 0 (backoff to 200 ms), channel B at t = 100 (to 300 ms).
    await assert.rejects(pool.open(address, ROOM, MD, LISTENER), refused);
    clock.advance(100);
    await assert.rejects(pool.open(address, ROOM, MD, LISTENER), refused);
    // Both in backoff: the next open fails at once, without connecting.
    await assert.rejects(pool.open(address, ROOM, MD, LISTENER), (e: unknown) => refused(e) && /unreachable/.test((e as Error).message));

    const backend = await startDemoBackend({ host: '127.0.0.1', port });
    t.after(() => backend.close());
    clock.advance(150); // t = 250: A may retry, B is in its backoff until 300
    const opened: Tunnel[] = [];
    t.after(() => opened.forEach((x) => x.cancel()));
    for (let i = 0; i < 4; i++) opened.push(await pool.open(address, ROOM, { ...MD, oid: BigInt(10 + i) }, LISTENER));
    assert.equal(pool.openToAddress(address), 4, 'every open went over the channel that is up');
  });
});
