/** Reading the open-file limit for the start-up check (fd-limit.ts). */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/config.js';
import { checkDescriptorBudget, OWN_DESCRIPTOR_RESERVE, parseOpenFileLimit } from '../src/fd-limit.js';

const LIMITS = (soft: string): string =>
  ['Limit                     Soft Limit           Hard Limit           Units', 'Max processes             63619                63619                processes',
    `Max open files            ${soft}                1048576              files`, 'Max locked memory         8388608              8388608              bytes'].join('\n');

describe('open-file limit', () => {
  it('reads the soft limit from /proc/self/limits text; unlimited or absent is unknown', () => {
    assert.equal(parseOpenFileLimit(LIMITS('1024')), 1024);
    assert.equal(parseOpenFileLimit(LIMITS('unlimited')), null);
    assert.equal(parseOpenFileLimit('Max processes 1 1 processes'), null);
  });

  it('counts maxConnections, the reserve and channelsPerInstance per static backend address', () => {
    const instances = (port: number) => [{ id: `b${port}`, endpoints: [`grpc://127.0.0.1:${port}`] }];
    const cfg = parseConfig({ limits: { maxConnections: 1000 }, tunnel: { channelsPerInstance: 4 }, discovery: { static: { a: instances(1), b: instances(1), c: instances(2) } } });
    const own = OWN_DESCRIPTOR_RESERVE + 4 * 2;
    assert.deepEqual(checkDescriptorBudget(cfg, 1000 + own), { connections: 1000, own, limit: 1000 + own, exceeded: false });
    assert.equal(checkDescriptorBudget(cfg, 1000 + own - 1).exceeded, true);
    assert.equal(checkDescriptorBudget(cfg, null).exceeded, false, 'unknown limit: nothing to compare');
  });
});
