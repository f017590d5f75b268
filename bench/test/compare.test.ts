import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { parseCompareArgs } from '../src/compare/args.js';
import { parsePushText, pushText, roomOf } from '../src/compare/drive.js';
import { BODY_HEAD_BYTES, encodeBodyFrame, encodeFrame, encodeLinkFrame, FrameReader, FrameTooLargeError, ProxyKind } from '../src/compare/framing.js';
import { decodeMessage, encodeMessage, encodePackage, MessageType, PackageReader, PackageType, type PinusPackage } from '../src/compare/pinus-codec.js';
import { startPinus } from '../src/compare/pinus-system.js';
import { startProxy } from '../src/compare/proxy-system.js';
import { OpenLoopSchedule } from '../src/compare/schedule.js';
import { median, medianRatio, roundRatios } from '../src/compare/stats.js';
import { patternPayload } from '../src/compare/system.js';

describe('bench:compare stats', () => {
  it('median of odd, even and empty lists', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });
  it('per-round ratios skip rounds missing on either side, and their median', () => {
    assert.deepEqual(roundRatios([10, 20, undefined, 30], [5, 0, 7, 10]), [2, 3]);
    assert.equal(medianRatio([10, 12, 30], [20, 12, 10]), 1);
    assert.ok(Number.isNaN(medianRatio([1], [undefined])));
  });
});

describe('proxy framing', () => {
  it('splits frames across chunk boundaries, byte by byte', () => {
    const bodies = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(300, 7)];
    const stream = Buffer.concat(bodies.map((b) => encodeFrame(b)));
    for (const step of [1, 3, stream.length]) {
      const r = new FrameReader();
      const got: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) r.push(stream.subarray(i, i + step), (b) => got.push(Buffer.from(b)));
      assert.deepEqual(got, bodies);
      assert.equal(r.buffered, 0);
    }
  });
  it('encodes bodies and link frames with big-endian lengths and ids', () => {
    const f = encodeBodyFrame(ProxyKind.Echo, 0x01020304, Buffer.from([9, 8]));
    assert.deepEqual([...f], [0, 0, 0, 7, 1, 1, 2, 3, 4, 9, 8]);
    const l = encodeLinkFrame(5, Buffer.from([1]));
    assert.deepEqual([...l], [0, 0, 0, 5, 0, 0, 0, 5, 1]);
    assert.equal(BODY_HEAD_BYTES, 5);
  });
  it('refuses a length above the limit', () => {
    const r = new FrameReader(10);
    assert.throws(() => r.push(encodeFrame(Buffer.alloc(11)), () => {}), FrameTooLargeError);
  });
});

describe('pinus codec', () => {
  it('round-trips requests, responses and pushes, compressed route or not', () => {
    for (const id of [1, 127, 128, 300, 2 ** 31 - 1]) {
      const req = decodeMessage(encodeMessage({ type: MessageType.Request, id, route: 'echo.echoHandler.echo', body: Buffer.from('{}') }));
      assert.deepEqual({ ...req, body: req.body.toString() }, { type: MessageType.Request, id, route: 'echo.echoHandler.echo', body: '{}' });
    }
    const c = decodeMessage(encodeMessage({ type: MessageType.Request, id: 5, route: 0x0102, body: Buffer.from('x') }));
    assert.equal(c.route, 0x0102);
    const res = decodeMessage(encodeMessage({ type: MessageType.Response, id: 200, body: Buffer.from('{"a":1}') }));
    assert.deepEqual([res.type, res.id, res.route, res.body.toString()], [MessageType.Response, 200, '', '{"a":1}']);
    const push = decodeMessage(encodeMessage({ type: MessageType.Push, route: 'onChat', body: Buffer.from('{}') }));
    assert.deepEqual([push.type, push.id, push.route], [MessageType.Push, 0, 'onChat']);
  });
  it('lays out the documented bytes: flag, varint id, route length', () => {
    // request (type 0, flag 0), id 300 = 0xac 0x02, route "a.b" (length 3), body "{}"
    assert.deepEqual([...encodeMessage({ type: MessageType.Request, id: 300, route: 'a.b', body: Buffer.from('{}') })], [0, 0xac, 0x02, 3, 0x61, 0x2e, 0x62, 0x7b, 0x7d]);
    // push with a compressed route: flag (3 << 1) | 1, route code u16 BE
    assert.deepEqual([...encodeMessage({ type: MessageType.Push, route: 0x0203 })], [7, 2, 3]);
    assert.deepEqual([...encodePackage(PackageType.Data, Buffer.from([1, 2]))], [4, 0, 0, 2, 1, 2]);
  });
  it('reads packages split anywhere', () => {
    const stream = Buffer.concat([encodePackage(PackageType.Heartbeat), encodePackage(PackageType.Data, Buffer.alloc(70000, 1))]);
    const r = new PackageReader();
    const got: PinusPackage[] = [];
    for (let i = 0; i < stream.length; i += 1000) r.push(stream.subarray(i, i + 1000), (p) => got.push({ type: p.type, body: Buffer.from(p.body) }));
    assert.deepEqual(got.map((p) => [p.type, p.body.length]), [[PackageType.Heartbeat, 0], [PackageType.Data, 70000]]);
  });
});

describe('open-loop schedule', () => {
  it('hands out every send due by now, each with its scheduled time, however late the caller is', () => {
    const s = new OpenLoopSchedule(1000, 100); // one send per ms from t = 100
    const sent: [number, number][] = [];
    assert.equal(s.due(99.9, (i, t) => sent.push([i, t])), 0);
    assert.equal(s.due(100, (i, t) => sent.push([i, t])), 1);
    // The caller was 5 ms late: the 5 sends due meanwhile go out now, stamped with their own times.
    assert.equal(s.due(105.5, (i, t) => sent.push([i, t])), 5);
    assert.deepEqual(sent, [[0, 100], [1, 101], [2, 102], [3, 103], [4, 104], [5, 105]]);
    assert.equal(s.nextAt(), 106);
    assert.equal(s.count, 6);
    assert.throws(() => new OpenLoopSchedule(0, 0), RangeError);
  });
});

describe('push scenario helpers', () => {
  it('tags push texts with sender, number and time, padded to length', () => {
    const t = pushText(12, 3, 1234.5678, 64);
    assert.equal(t.length, 64);
    assert.deepEqual(parsePushText(t), { sender: 12, n: 3, sentAtMs: 1234.568 });
    assert.equal(parsePushText('hello'), null);
    assert.deepEqual([roomOf(0, 100), roomOf(99, 100), roomOf(100, 100)], [1, 1, 2]);
  });
});

describe('parseCompareArgs', () => {
  it('defaults to the full run and names a bad option', () => {
    const a = parseCompareArgs([])!;
    assert.deepEqual(a.options.systems, ['janus', 'pinus', 'proxy']);
    assert.deepEqual(a.options.scenarios, ['echo', 'open', 'push']);
    assert.deepEqual(a.options.connections, [100, 1000]);
    assert.deepEqual([a.options.rounds, a.options.warmupS, a.options.durationS, a.options.rateHz, a.options.sizeBytes], [3, 5, 15, 5000, 64]);
    const b = parseCompareArgs(['--systems', 'pinus,janus', '--connections', '50', '--scenario', 'open'])!;
    assert.deepEqual([b.options.systems, b.options.connections, b.options.scenarios], [['pinus', 'janus'], [50], ['open']]);
    assert.throws(() => parseCompareArgs(['--systems', 'nginx']), (e) => isJanusError(e, ErrorCode.ArgInvalid) && e.message.includes('--systems'));
    assert.throws(() => parseCompareArgs(['--connections', '10,x']), (e) => isJanusError(e, ErrorCode.ArgInvalid) && e.message.includes('--connections'));
  });
});

describe('bench:compare systems (smoke: start, one echo, one room push, stop)', () => {
  for (const [name, start] of [
    ['proxy', startProxy],
    ['pinus', startPinus],
  ] as const) {
    it(`${name}`, async () => {
      const sys = await start({ payload: patternPayload(64), log: () => {} });
      try {
        const a = await sys.connect(0);
        const b = await sys.connect(1);
        assert.equal(await a.echo(), true);
        await a.join(7);
        await b.join(7);
        const pushed = new Promise<string>((resolve) => b.onPush(resolve));
        await a.say(7, 'hi room');
        assert.equal(await pushed, 'hi room');
        await Promise.all([a.close(), b.close()]);
        assert.ok(a.closed && b.closed);
        const usage = await Promise.all(sys.processes.map((p) => p.usage()));
        assert.ok(usage.every((u) => u.cpu.user > 0));
      } finally {
        await sys.stop();
      }
    });
  }
});

