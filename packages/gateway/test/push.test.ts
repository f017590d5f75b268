/**
 * Push delivery on one gateway (PROTOCOL.md 11) without sockets: PushService over a session
 * registry of fake sessions, and the push channel consumer on the in-process bus.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import pino from 'pino';
import { encodePushMessage, ErrorCode, gateRouteKey, isJanusError, SCServerLogout_Code as Code, utf8, type Packet } from '@janus/protocol';
import { MemoryPushBus } from '../src/push/bus.js';
import { PushChannel } from '../src/push/channel.js';
import { checkKickCode, pushPackets, PushService, type PushTarget } from '../src/push/service.js';
import { MemoryRouteTable } from '../src/route-table.js';
import { SessionRegistry } from '../src/sessions.js';

class FakeSession implements PushTarget {
  open = true;
  readonly got: Packet[] = [];
  readonly logouts: number[] = [];
  constructor(
    readonly uid: bigint,
    readonly sid = 1n,
    readonly color = '',
  ) {}
  push(packets: readonly Packet[]): boolean {
    if (!this.open) return false;
    this.got.push(...packets);
    return true;
  }
  logout(code: number): void {
    this.logouts.push(code);
    this.open = false;
  }
  kick(code: number): void {
    this.logout(code);
  }
}

const body = (text: string, seq = 9) => ({ mod: 3, seq, obj: 5n, data: utf8(text), dataVersion: 2n, ver: 1 });

function setup(): { reg: SessionRegistry<FakeSession>; svc: PushService<FakeSession>; add(s: FakeSession): FakeSession } {
  const reg = new SessionRegistry<FakeSession>();
  return { reg, svc: new PushService(reg), add: (s) => (reg.login(s, Code.ConflictingLogin), s) };
}

describe('PushService', () => {
  it('pushes to an open session only, with the body fields and index 0', () => {
    const { svc, add } = setup();
    const s = add(new FakeSession(1n));
    const logging = add(new FakeSession(2n));
    logging.open = false; // still logging in: no SCAuth yet
    const packets = pushPackets([body('hi')]);
    assert.equal(svc.push(1n, packets), true);
    assert.equal(svc.push(2n, packets), false, 'not before SCAuth');
    assert.equal(svc.push(3n, packets), false, 'not here');
    assert.deepEqual(
      s.got.map((p) => [p.mod, p.seq, p.obj, p.index, p.dataVersion, p.ver, new TextDecoder().decode(p.data)]),
      [[3, 9, 5n, 0, 2n, 1, 'hi']],
    );
  });

  it('multicasts to each uid once and reports who got it', () => {
    const { svc, add } = setup();
    const a = add(new FakeSession(1n));
    add(new FakeSession(2n)).open = false;
    assert.deepEqual(svc.multicast([1n, 2n, 3n, 1n], pushPackets([body('m')])), [1n]);
    assert.equal(a.got.length, 1);
  });

  it('broadcasts by color and sid (empty color / sid 0: all)', () => {
    const { svc, add } = setup();
    const s1 = add(new FakeSession(1n, 1n, 'blue'));
    const s2 = add(new FakeSession(2n, 2n, 'blue'));
    const s3 = add(new FakeSession(3n, 1n, 'green'));
    const p = pushPackets([body('b')]);
    assert.equal(svc.broadcast('', 0n, p), 3);
    assert.equal(svc.broadcast('blue', 0n, p), 2);
    assert.equal(svc.broadcast('', 1n, p), 2);
    assert.equal(svc.broadcast('blue', 2n, p), 1);
    assert.equal(svc.broadcast('red', 0n, p), 0);
    assert.deepEqual([s1.got.length, s2.got.length, s3.got.length], [3, 3, 2]);
  });

  it('kicks with the given ServerLogout code, in any state', () => {
    const { svc, add } = setup();
    const s = add(new FakeSession(1n));
    s.open = false;
    assert.equal(svc.kick(1n, Code.AdminKickOut), true);
    assert.deepEqual(s.logouts, [Code.AdminKickOut]);
    assert.equal(svc.kick(9n, Code.AdminKickOut), false);
  });

  it('refuses a mod 1 body and an unknown kick code (JANUS_ERR_ARG_INVALID)', () => {
    assert.throws(() => pushPackets([{ ...body('x'), mod: 1 }]), (e) => isJanusError(e, ErrorCode.ArgInvalid));
    assert.throws(() => checkKickCode(42), (e) => isJanusError(e, ErrorCode.ArgInvalid));
    assert.throws(() => checkKickCode(1.5), (e) => isJanusError(e, ErrorCode.ArgInvalid));
    assert.equal(checkKickCode(Code.Banned), Code.Banned);
  });
});

describe('PushChannel on the in-process bus', () => {
  it('applies pushes, broadcasts and kicks from its two channels; checks conflicting-login kicks against the gateway table', async () => {
    const { reg, svc, add } = setup();
    const bus = new MemoryPushBus();
    const routes = new MemoryRouteTable();
    const gateAddress = '127.0.0.1:19101';
    const ch = new PushChannel({ bus, service: svc, session: (u) => reg.get(u), routes, gateAddress, broadcastChannel: 'gate.broadcast.message', log: pino({ level: 'silent' }) });
    await ch.start();
    const s1 = add(new FakeSession(1n));
    const s2 = add(new FakeSession(2n, 2n));
    const settle = async (n: number): Promise<void> => {
      while (ch.stats.received < n) await Promise.resolve();
    };
    await bus.publish(gateAddress, encodePushMessage({ uids: [1n], bodies: [body('own')] }));
    await bus.publish('gate.broadcast.message', encodePushMessage({ broadcast: true, sid: 2n, bodies: [body('sid 2')] }));
    await bus.publish('other-gateway:1', encodePushMessage({ uids: [1n], bodies: [body('not ours')] }));
    await settle(2);
    assert.deepEqual([s1.got.length, s2.got.length], [1, 1]);
    // The table names this gateway for uid 1: a ConflictingLogin kick is stale.
    await routes.set(gateRouteKey('', 1n), gateAddress, 60);
    await routes.set(gateRouteKey('', 2n), 'other-gateway:1', 60);
    await bus.publish(gateAddress, encodePushMessage({ uids: [1n, 2n], kick: true, kickCode: Code.ConflictingLogin }));
    await settle(3);
    // uid 1's table check resolves before uid 2's (one table, in order): once 2 is kicked, 1 was decided.
    while (ch.stats.kicked < 1) await Promise.resolve();
    assert.deepEqual(s1.logouts, [], 'stale kick dropped');
    assert.deepEqual(s2.logouts, [Code.ConflictingLogin]);
    await ch.stop();
    await bus.publish(gateAddress, encodePushMessage({ uids: [1n], bodies: [body('after stop')] }));
    assert.equal(s1.got.length, 1, 'nothing after stop()');
  });
});
