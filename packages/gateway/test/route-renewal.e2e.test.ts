/**
 * While a session lasts, its gateway table entry and its sticky player entry are renewed
 * every TTL/2 (PROTOCOL.md 10), on a manual clock: both outlive several TTLs, and the
 * gateway entry goes at disconnect.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { gateRouteKey, routeKey, utf8 } from '@janus/protocol';
import { MemoryRouteTable } from '../src/route-table.js';
import { ManualClock } from '../src/manual-clock.js';
import { loggedIn } from './support/session.js';
import { startStack } from './support/stack.js';

describe('route table renewal', () => {
  it('keeps a connected session\'s gateway and player entries past their TTL, and drops the gateway entry at disconnect', async (t) => {
    const clock = new ManualClock();
    const table = new MemoryRouteTable(() => clock.monotonic());
    const s = await startStack({ clock, routeTable: table, config: { routeTable: { ttlS: 10 } } });
    t.after(() => s.stop());
    const c = await loggedIn(s, 'tcp', 42);
    const gateKey = gateRouteKey('', 42n);
    const playerKey = routeKey('roma.player.service', '', 42n);
    const gate = await table.get(gateKey);
    const player = await table.get(playerKey);
    assert.ok(gate && player);
    for (let i = 0; i < 6; i++) {
      clock.advance(5_000); // the renewal timer (TTL/2) fires
      // A round trip through the gateway lets the renewal's table calls finish.
      const req = c.send({ mod: 3, seq: 1, data: utf8(`tick ${i}`) });
      assert.equal((await c.nextPacket())?.index, req.index);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(await table.get(gateKey), gate, '30 s later, with a 10 s TTL');
    assert.equal(await table.get(playerKey), player);
    c.close();
    await c.ending;
    for (let i = 0; i < 100 && (await table.get(gateKey)) !== null; i++) await new Promise((r) => setImmediate(r));
    assert.equal(await table.get(gateKey), null, 'released at disconnect');
    assert.equal(await table.get(playerKey), player, 'the sticky player entry stays for its TTL');
    clock.advance(10_000);
    assert.equal(await table.get(playerKey), null);
  });
});
