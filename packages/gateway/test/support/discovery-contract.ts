/**
 * The Discovery port's contract (PROTOCOL.md 10), one suite run against every adapter
 * (STYLE.md practice 9): static lists and etcd. An adapter plugs in through a fixture
 * that can start a discovery on given lists and change them afterwards (static: update(),
 * etcd: puts and deletes in etcd).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { Discovery, Instance } from '../../src/discovery.js';

/** An instance as written to the source: the Kratos shape, metadata optional. */
export interface SourceInstance {
  id: string;
  endpoints: string[];
  metadata?: { color?: string; weight?: number };
}

export type SourceLists = Record<string, SourceInstance[]>;

/** How the suite drives one adapter. */
export interface DiscoveryFixture {
  /** A discovery of `names`, its source holding `lists`. */
  open(names: string[], lists: SourceLists): Promise<Discovery>;
  /** Makes the source hold `lists` instead (the discovery sees it sooner or later). */
  change(d: Discovery, lists: SourceLists): Promise<void>;
}

const TIMEOUT_MS = 20_000;

/** Resolves once `pred(d.instances(name))` holds, checked now and at each change notification. */
export function until(d: Discovery, name: string, pred: (l: readonly Instance[]) => boolean): Promise<readonly Instance[]> {
  return new Promise((resolve) => {
    if (pred(d.instances(name))) return resolve(d.instances(name));
    const off = d.subscribe((n) => {
      if (n === name && pred(d.instances(name))) {
        off();
        resolve(d.instances(name));
      }
    });
  });
}

const ids = (l: readonly Instance[]): string => l.map((i) => i.id).join(',');

/** Registers the contract tests for one adapter. */
export function discoveryContract(adapter: string, fixture: () => DiscoveryFixture): void {
  describe(`Discovery contract: ${adapter}`, { timeout: TIMEOUT_MS }, () => {
    const players = 'roma.player.service';
    const rooms = 'roma.room.service';
    const p1: SourceInstance = { id: 'p1', endpoints: ['grpc://127.0.0.11:9001'], metadata: { color: 'blue', weight: 30 } };
    const p2: SourceInstance = { id: 'p2', endpoints: ['http://127.0.0.12:8000', 'grpc://127.0.0.12:9002'] };
    const r1: SourceInstance = { id: 'r1', endpoints: ['grpc://127.0.0.13:9003'], metadata: { color: 'green' } };

    it('lists each name\'s instances: id, the first grpc endpoint\'s host:port, color, weight (default 100)', async () => {
      const d = await fixture().open([players, rooms], { [players]: [p1, p2], [rooms]: [r1] });
      try {
        await d.ready();
        assert.deepEqual(
          [...d.instances(players)].sort((a, b) => a.id.localeCompare(b.id)),
          [
            { id: 'p1', address: '127.0.0.11:9001', color: 'blue', weight: 30 },
            { id: 'p2', address: '127.0.0.12:9002', color: '', weight: 100 },
          ],
        );
        assert.deepEqual(d.instances(rooms), [{ id: 'r1', address: '127.0.0.13:9003', color: 'green', weight: 100 }]);
      } finally {
        await d.close();
      }
    });

    it('answers [] for a name with no instances and for a name it does not know', async () => {
      const d = await fixture().open([players, rooms], { [players]: [p1] });
      try {
        await d.ready();
        assert.deepEqual(d.instances(rooms), []);
        assert.deepEqual(d.instances('no.such.service'), []);
      } finally {
        await d.close();
      }
    });

    it('follows additions, removals and changes, telling subscribers which name changed', async () => {
      const f = fixture();
      const d = await f.open([players, rooms], { [players]: [p1], [rooms]: [r1] });
      try {
        await d.ready();
        const before = d.instances(players);
        const heard: string[] = [];
        d.subscribe((n) => heard.push(n));
        const p1heavier = { ...p1, metadata: { color: 'blue', weight: 60 } };
        await f.change(d, { [players]: [p1heavier, p2], [rooms]: [r1] });
        await until(d, players, (l) => ids(l) === 'p1,p2' && l[0]!.weight === 60);
        assert.ok(heard.includes(players), 'subscribers heard of the players change');
        assert.deepEqual(before, [{ id: 'p1', address: '127.0.0.11:9001', color: 'blue', weight: 30 }], 'an array handed out is never mutated');
        await f.change(d, { [players]: [p2], [rooms]: [] });
        await until(d, players, (l) => ids(l) === 'p2');
        await until(d, rooms, (l) => l.length === 0);
        assert.ok(heard.includes(rooms));
      } finally {
        await d.close();
      }
    });

    it('close() is idempotent and stops notifications', async () => {
      const f = fixture();
      const d = await f.open([players], { [players]: [p1] });
      await d.ready();
      let heard = 0;
      d.subscribe(() => heard++);
      await d.close();
      await d.close();
      await f.change(d, { [players]: [p1, p2] });
      // A second discovery on the same source sees the change: by then the closed one would have too.
      const d2 = await f.open([players], { [players]: [p1, p2] });
      try {
        await until(d2, players, (l) => ids(l) === 'p1,p2');
        assert.equal(heard, 0);
        assert.equal(ids(d.instances(players)), 'p1', 'a closed discovery keeps its last list');
      } finally {
        await d2.close();
      }
    });
  });
}
