/**
 * Push delivery on one gateway (PROTOCOL.md 11) without sockets: PushService over a session
 * registry of fake sessions, the push channel consumer on the in-process bus, and the HTTP
 * routes' cluster-wide push API (ClusterPush) over two such gateways.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import pino from 'pino';
import { decodePushMessage, encodePushMessage, ErrorCode, gateRouteKey, isJanusError, JanusError, SCServerLogout_Code as Code, utf8, type Packet } from '@janus/protocol';
import { MemoryPushBus, type PushBus } from '../src/push/bus.js';
import { PushChannel } from '../src/push/channel.js';
import { ClusterPush, LOOKUP_BATCH_KEYS, LOOKUPS_IN_FLIGHT } from '../src/push/cluster.js';
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

describe('ClusterPush (the HTTP routes\' push API on a gateway in a cluster, decision 0023)', () => {
  /** Gateways A and B on one in-process bus and gateway table; ClusterPush on A. */
  async function cluster(colors: readonly string[] = ['', 'blue']) {
    const bus = new MemoryPushBus();
    const routes = new MemoryRouteTable();
    const gateway = async (gateAddress: string) => {
      const g = setup();
      const ch = new PushChannel({ bus, service: g.svc, session: (u) => g.reg.get(u), routes, gateAddress, broadcastChannel: 'gate.broadcast.message', log: pino({ level: 'silent' }) });
      await ch.start();
      // A session here and its gateway-table entry, as a login writes it.
      const login = async (s: FakeSession) => (await routes.set(gateRouteKey(s.color, s.uid), gateAddress, 60), g.add(s));
      /** Resolves once B's channel consumer has handled `n` messages in all. */
      const handled = async (n: number): Promise<void> => {
        while (ch.stats.received < n) await Promise.resolve();
      };
      return { ...g, ch, gateAddress, login, handled };
    };
    const a = await gateway('127.0.0.1:19101');
    const b = await gateway('127.0.0.1:19102');
    const push = new ClusterPush({ local: a.svc, routes, bus, gateAddress: a.gateAddress, broadcastChannel: 'gate.broadcast.message', colors: () => colors });
    return { bus, routes, a, b, push };
  }
  const texts = (s: FakeSession) => s.got.map((p) => new TextDecoder().decode(p.data));

  it('serves a uid held here locally and finds one held elsewhere under any color\'s gateway-table key', async () => {
    const { a, b, push } = await cluster();
    const here = await a.login(new FakeSession(1n));
    const there = await b.login(new FakeSession(2n));
    const blueThere = await b.login(new FakeSession(3n, 1n, 'blue'));
    assert.equal(await push.push(1n, pushPackets([body('local')])), true);
    assert.deepEqual(texts(here), ['local'], 'delivered at once, without the bus');
    assert.equal(a.ch.stats.received + b.ch.stats.received, 0);
    assert.equal(await push.push(2n, pushPackets([body('to B')])), true);
    assert.equal(await push.push(3n, pushPackets([body('to blue on B')])), true);
    await b.handled(2);
    assert.deepEqual([texts(there), texts(blueThere)], [['to B'], ['to blue on B']]);
    const [p] = there.got;
    assert.deepEqual([p?.mod, p?.seq, p?.obj, p?.dataVersion, p?.ver, p?.index], [3, 9, 5n, 2n, 1, 0], 'every body field crosses the channel');
    assert.equal(await push.push(9n, pushPackets([body('nobody')])), false, 'no entry');

    assert.deepEqual((await push.multicast([1n, 2n, 3n, 9n, 2n], pushPackets([body('multi')]))).sort(), [1n, 2n, 3n]);
    await b.handled(3);
    assert.deepEqual([texts(here).at(-1), texts(there).at(-1), texts(blueThere).at(-1)], ['multi', 'multi', 'multi']);
    assert.equal(b.ch.stats.received, 3, 'one message for both uids on B');

    assert.equal(await push.broadcast('blue', 0n, pushPackets([body('blue')])), 2, 'both gateways subscribed');
    await b.handled(4);
    await a.handled(1);
    assert.deepEqual([texts(here).at(-1), texts(there).at(-1), texts(blueThere).at(-1)], ['multi', 'multi', 'blue'], 'A delivers its own broadcast through the channel too');

    assert.equal(await push.kick(2n, Code.Banned), true);
    await b.handled(5);
    assert.deepEqual(there.logouts, [Code.Banned]);
    assert.equal(await push.kick(1n, Code.AdminKickOut), true);
    assert.deepEqual(here.logouts, [Code.AdminKickOut]);
    assert.equal(await push.kick(9n, Code.AdminKickOut), false);
  });

  it('answers false for an entry naming this gateway without an open session here, a color it does not look under, or a gateway not listening', async () => {
    const { routes, a, b, push } = await cluster(['']);
    const logging = await a.login(new FakeSession(1n));
    logging.open = false; // still logging in: the table already names A
    assert.equal(await push.push(1n, pushPackets([body('early')])), false);
    await b.login(new FakeSession(2n, 1n, 'green'));
    assert.equal(await push.push(2n, pushPackets([body('green')])), false, 'green is no player instance color');
    await routes.set(gateRouteKey('', 3n), '127.0.0.1:19109', 60);
    assert.equal(await push.push(3n, pushPackets([body('gone')])), false, 'its channel has no subscriber');
    assert.deepEqual(await push.multicast([1n, 2n, 3n], pushPackets([body('none')])), []);
    assert.equal(b.ch.stats.received, 0);
  });

  it('Redis down: a uid held here is still served; one held elsewhere rejects with JANUS_ERR_ROUTE_TABLE_UNAVAILABLE', async () => {
    const { a, bus } = await cluster();
    const down = new MemoryRouteTable();
    down.get = () => Promise.reject(new JanusError(ErrorCode.RouteTableUnavailable, 'Redis GET failed: down'));
    down.getMany = () => Promise.reject(new JanusError(ErrorCode.RouteTableUnavailable, 'Redis MGET failed: down'));
    const push = new ClusterPush({ local: a.svc, routes: down, bus, gateAddress: a.gateAddress, broadcastChannel: 'gate.broadcast.message', colors: () => [''] });
    const here = a.add(new FakeSession(1n));
    assert.equal(await push.push(1n, pushPackets([body('still')])), true);
    assert.deepEqual(texts(here), ['still']);
    await assert.rejects(push.push(2n, pushPackets([body('x')])), (e) => isJanusError(e) && e.code === ErrorCode.RouteTableUnavailable);
    await assert.rejects(push.kick(2n, Code.AdminKickOut), (e) => isJanusError(e) && e.code === ErrorCode.RouteTableUnavailable);
    // A multicast that delivered something answers it (a 503 would make the caller deliver twice).
    assert.deepEqual(await push.multicast([2n, 1n, 3n], pushPackets([body('partly')])), [1n]);
    assert.deepEqual(texts(here), ['still', 'partly']);
    await assert.rejects(push.multicast([2n, 3n], pushPackets([body('none')])), (e) => isJanusError(e, ErrorCode.RouteTableUnavailable), 'nothing delivered and a lookup failed');
  });

  it('a PUBLISH that fails for one gateway leaves only its uids out; nothing delivered and a failure: JANUS_ERR_ROUTE_TABLE_UNAVAILABLE', async () => {
    const { routes, a, b, bus } = await cluster(['']);
    const c = '127.0.0.1:19103';
    const failing: PushBus = {
      publish: (ch, m) => (ch === c ? Promise.reject(new JanusError(ErrorCode.RouteTableUnavailable, 'Redis PUBLISH failed: timeout')) : bus.publish(ch, m)),
      subscribe: (chs, fn) => bus.subscribe(chs, fn),
      close: () => bus.close(),
    };
    const push = new ClusterPush({ local: a.svc, routes, bus: failing, gateAddress: a.gateAddress, broadcastChannel: 'gate.broadcast.message', colors: () => [''] });
    const here = await a.login(new FakeSession(1n));
    const there = await b.login(new FakeSession(2n));
    await routes.set(gateRouteKey('', 3n), c, 60);
    assert.deepEqual((await push.multicast([3n, 2n, 1n], pushPackets([body('m')]))).sort(), [1n, 2n]);
    await b.handled(1);
    assert.deepEqual([texts(here), texts(there)], [['m'], ['m']]);
    await assert.rejects(push.multicast([3n], pushPackets([body('x')])), (e) => isJanusError(e, ErrorCode.RouteTableUnavailable));
    assert.deepEqual(await push.multicast([9n], pushPackets([body('x')])), [], 'nothing found and nothing failed: an empty answer');
  });

  it('a lookup batch that fails ends the lookups; the uids of the batches read before it are still pushed', async () => {
    const { routes, a, b, bus } = await cluster(['']);
    const uids = Array.from({ length: 2 * LOOKUP_BATCH_KEYS }, (_, i) => BigInt(i + 1));
    for (const u of uids) await routes.set(gateRouteKey('', u), b.gateAddress, 60);
    let reads = 0;
    const flaky = new MemoryRouteTable();
    flaky.getMany = (keys) => (++reads === 1 ? routes.getMany(keys) : Promise.reject(new JanusError(ErrorCode.RouteTableUnavailable, 'Redis MGET failed: timeout')));
    const push = new ClusterPush({ local: a.svc, routes: flaky, bus, gateAddress: a.gateAddress, broadcastChannel: 'gate.broadcast.message', colors: () => [''] });
    assert.deepEqual(await push.multicast(uids, pushPackets([body('half')])), uids.slice(0, LOOKUP_BATCH_KEYS));
    assert.equal(reads, 2);
  });

  it('a multicast to 100,000 uids reads the gateway table in bounded batches and sends one message per gateway', async () => {
    const colors = ['', 'blue'];
    const { routes, a, b, bus } = await cluster(colors);
    const n = 100_000;
    const uids = Array.from({ length: n }, (_, i) => BigInt(i + 1));
    // Even uids on B under '', odd ones under 'blue'; every 10th has no entry.
    for (const u of uids) if (u % 10n !== 0n) await routes.set(gateRouteKey(u % 2n === 0n ? '' : 'blue', u), b.gateAddress, 60);
    const counted = new (class extends MemoryRouteTable {
      gets = 0;
      reads: number[] = [];
      inFlight = 0;
      maxInFlight = 0;
      override async get(key: string): Promise<string | null> {
        this.gets++;
        return routes.get(key);
      }
      override async getMany(keys: readonly string[]): Promise<(string | null)[]> {
        this.reads.push(keys.length);
        this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
        await Promise.resolve();
        const found = await routes.getMany(keys);
        this.inFlight--;
        return found;
      }
    })();
    let published: bigint[] = [];
    const seen: PushBus = {
      publish: (ch, m) => {
        if (ch === b.gateAddress) published = [...published, ...decodePushMessage(m).uids];
        return bus.publish(ch, m);
      },
      subscribe: (chs, fn) => bus.subscribe(chs, fn),
      close: () => bus.close(),
    };
    const push = new ClusterPush({ local: a.svc, routes: counted, bus: seen, gateAddress: a.gateAddress, broadcastChannel: 'gate.broadcast.message', colors: () => colors });
    const held = uids.filter((u) => u % 10n !== 0n);
    assert.deepEqual(await push.multicast([...uids, 7n, 7n], pushPackets([body('many')])), held);
    assert.equal(counted.gets, 0, 'no GET per uid');
    const perRead = Math.floor(LOOKUP_BATCH_KEYS / colors.length);
    assert.equal(counted.reads.length, Math.ceil(n / perRead), 'one read per batch');
    assert.ok(counted.reads.every((k) => k <= LOOKUP_BATCH_KEYS), `at most ${LOOKUP_BATCH_KEYS} keys a read`);
    assert.equal(counted.reads.reduce((x, y) => x + y, 0), n * colors.length, 'each uid read once under each color');
    assert.equal(counted.maxInFlight, LOOKUPS_IN_FLIGHT, `at most ${LOOKUPS_IN_FLIGHT} reads in flight`);
    await b.handled(1);
    assert.equal(b.ch.stats.received, 1, 'one message to B for all its uids');
    assert.deepEqual(published, held);
  });
});
