import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ErrorCode, isJanusError, SCServerLogout_Code } from '@janus/protocol';
import { parseSoakArgs } from '../src/soak-args.js';
import { emptyTotals, ledgerViolations, SessionBook } from '../src/soak-ledger.js';
import { formatSoakCsv, formatSoakSummary, formatSoakSvg } from '../src/soak-report.js';
import { runSoak, slope, SOAK_DEFAULTS, summarizeMemory, type SoakSample } from '../src/soak-run.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('soak ledger', () => {
  it('counts one answer per index, and a second one or one for an unsent index against the run', () => {
    const t = emptyTotals();
    const b = new SessionBook(t);
    b.sent(10, 3, 1, bytes('a'));
    b.sent(11, 3, 2);
    b.sent(12, 4, 3);
    assert.equal(b.reply(10, 3, 1, bytes('a')), 'answered');
    assert.equal(b.reply(10, 3, 1, bytes('a')), 'duplicate');
    assert.equal(b.unexpectedErr(11), 'answered');
    assert.equal(b.unexpectedErr(11), 'duplicate');
    assert.equal(b.reply(99, 3, 1, bytes('a')), 'stray');
    b.end({ kind: 'closed', byGateway: false });
    assert.deepEqual([t.sent, t.replied, t.unexpectedErr, t.duplicated, t.stray, t.lost], [3, 1, 1, 2, 1, 1]);
    assert.deepEqual(ledgerViolations(t), ['lost = 1', 'duplicated = 2', 'stray = 1']);
  });

  it('flags an Echo reply with other data, or with another mod/seq, as mismatched', () => {
    const t = emptyTotals();
    const b = new SessionBook(t);
    b.sent(1, 3, 1, bytes('abc'));
    b.sent(2, 3, 2);
    b.reply(1, 3, 1, bytes('abd'));
    b.reply(2, 3, 1, bytes(''));
    assert.equal(t.mismatched, 2);
  });

  it('settles what is in flight by how the session ended: logout, client reset, or lost', () => {
    const t = emptyTotals();
    const byLogout = new SessionBook(t);
    byLogout.sent(1, 3, 1);
    byLogout.ownPushDue('x');
    byLogout.end({ kind: 'logout', code: SCServerLogout_Code.Waiting });
    byLogout.end({ kind: 'closed', byGateway: true }); // only the first ending counts
    const reset = new SessionBook(t);
    reset.sent(1, 3, 1);
    reset.end({ kind: 'abandoned' });
    assert.deepEqual([t.answeredByLogout, t.ownPushesByLogout, t.abandoned, t.lost, t.unexplainedCloses], [1, 1, 1, 0, 0]);
    assert.deepEqual(t.logouts, { [String(SCServerLogout_Code.Waiting)]: 1 });
    assert.deepEqual(ledgerViolations(t), []);
    const cut = new SessionBook(t);
    cut.end({ kind: 'closed', byGateway: true });
    assert.deepEqual(ledgerViolations(t), ['unexplainedCloses = 1']);
  });

  it('lets a failed object stream (ServerUnexpectedErr, index 0) answer the requests of its mod in flight', () => {
    const t = emptyTotals();
    const b = new SessionBook(t);
    b.sent(1, 4, 3);
    b.sent(2, 4, 1);
    b.sent(3, 3, 1);
    b.ownPushDue('s1-1');
    b.objectStreamFailed(4);
    assert.equal(b.reply(1, 4, 3, bytes('{}')), 'duplicate', 'a reply after the stream error is one answer too many');
    b.end({ kind: 'closed', byGateway: false });
    assert.deepEqual([t.answeredByStreamError, t.ownPushesByStreamError, t.lost, t.duplicated], [2, 1, 1, 1]);
  });

  it('expects the own chat push once per answered Say', () => {
    const t = emptyTotals();
    const b = new SessionBook(t);
    b.ownPushDue('s1-1');
    assert.equal(b.ownPush('s1-1'), 'answered');
    assert.equal(b.ownPush('s1-1'), 'duplicate');
    assert.equal(b.ownPush('s1-2'), 'stray');
    b.ownPushDue('s1-3');
    b.end({ kind: 'closed', byGateway: false });
    assert.deepEqual([t.ownPushesDelivered, t.ownPushesDuplicated, t.ownPushesLost], [1, 2, 1]);
  });
});

describe('soak memory summary', () => {
  it('fits the RSS trend after the warm-up', () => {
    assert.equal(slope([0, 1, 2, 3], [5, 7, 9, 11]), 2);
    const samples: SoakSample[] = [0, 60, 120, 180, 240].map((tS, i) => ({
      tS,
      gatewayRssMB: i === 0 ? 50 : 100 + i,
      gatewayHeapMB: 20,
      backendRssMB: null,
      sessionsOpen: 1,
      sent: 0,
      logins: 0,
    }));
    const m = summarizeMemory(samples, 60);
    assert.equal(m.samplesUsed, 4);
    assert.ok(Math.abs(m.rssSlopeMBPerMin - 1) < 1e-9, `slope ${m.rssSlopeMBPerMin}`);
    assert.equal(m.rssMaxMB, 104);
    assert.equal(formatSoakCsv(samples).split('\n')[1], '0.0,50.00,20.00,,1,0,0');
  });
});

describe('parseSoakArgs', () => {
  it('reads minutes, rate and the lifetime range, and names a bad option', () => {
    const a = parseSoakArgs(['--minutes', '30', '--rate', '2000', '--life', '3-9'])!;
    assert.equal(a.options.durationS, 1800);
    assert.equal(a.options.rate, 2000);
    assert.deepEqual([a.options.lifetimeMinS, a.options.lifetimeMaxS], [3, 9]);
    assert.equal(parseSoakArgs([])!.options.rate, null);
    assert.throws(() => parseSoakArgs(['--life', '9-3']), (e) => isJanusError(e, ErrorCode.ArgInvalid) && e.message.includes('--life'));
  });
});

// The CI variant of `npm run soak` (docs/reliability.md "Soak"): one minute rather than the
// issue's three, to keep `npm test` within its time budget; two backend restarts (one
// graceful, one SIGKILL) instead of one per ten minutes; a fixed, modest rate instead of
// half the calibrated capacity, so the test does not load the shared machine.
describe('soak, one minute', () => {
  it('answers every request exactly once through churn and two backend restarts, with bounded gateway RSS', { timeout: 240_000 }, async () => {
    const r = await runSoak({
      ...SOAK_DEFAULTS,
      durationS: 60,
      sessions: 40,
      rate: 500,
      restartEveryS: 20,
      lifetimeMinS: 2,
      lifetimeMaxS: 10,
      warmupS: 20,
    });
    const summary = formatSoakSummary(r).join('\n');
    assert.deepEqual(r.violations, [], summary);
    const t = r.totals;
    assert.equal(t.lost + t.duplicated + t.stray + t.mismatched, 0, summary);
    assert.deepEqual(Object.keys(t.logouts), [String(SCServerLogout_Code.Waiting)], `only ServerLogout Waiting (the restarts): ${summary}`);
    assert.deepEqual(r.restarts.map((x) => x.kind), ['graceful', 'kill']);
    for (const x of r.restarts) assert.ok(x.recoveredMs !== null, `no login after the ${x.kind} restart: ${summary}`);
    assert.ok(t.replied > 0.9 * t.sent, summary);
    assert.ok(t.ownPushesDelivered > 0 && r.logins.ok > 100 && r.clientCloses.abrupt > 0, summary);
    assert.ok(r.samples.length >= 6, `${r.samples.length} samples`);
    // Bounded RSS: the gateway of this stack sits near 100 MB; a leak of the churn's
    // sessions, tunnels or buffers would pass these bounds well within the minute.
    assert.ok(r.memory.rssMaxMB < 250, summary);
    assert.ok(r.memory.rssLastMB - r.memory.rssFirstMB < 48, summary);
    assert.match(formatSoakSvg(r, 'test'), /^<svg [^]*<\/svg>\n$/);
  });
});
