/**
 * TCP framing, PROTOCOL.md section 2: FrameDecoder (fast and split paths, limits checked on
 * the length prefix before any body byte is buffered) and encodeFrame.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  concatBytes,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  ErrorCode,
  FrameDecoder,
  isJanusError,
  type ErrorCodeValue,
} from '../src/index.js';

/** A decoder that records copies of its frames (bodies may be views into pushed chunks). */
function recorder(maxFrameBytes: number): { dec: FrameDecoder; frames: Uint8Array[] } {
  const frames: Uint8Array[] = [];
  const dec = new FrameDecoder(maxFrameBytes, (body) => frames.push(Uint8Array.from(body)));
  return { dec, frames };
}

function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
}

function body(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const is = (code: ErrorCodeValue) => (err: unknown) => isJanusError(err, code);

describe('FrameDecoder fast paths', () => {
  it('hands out every whole frame of one chunk as a view into it, in order', () => {
    const views: Uint8Array[] = [];
    const dec = new FrameDecoder(100, (b) => views.push(b));
    const chunk = concatBytes(encodeFrame(body(1, 1), 100), encodeFrame(body(100, 2), 100), encodeFrame(body(7, 3), 100));
    dec.push(chunk);
    assert.equal(views.length, 3);
    assert.deepEqual(views.map((v) => v.length), [1, 100, 7]);
    assert.deepEqual([...views[1]!], [...body(100, 2)]);
    for (const v of views) assert.equal(v.buffer, chunk.buffer, 'a body inside one chunk is a view, not a copy');
    assert.equal(views[0]!.byteOffset, 4);
    assert.equal(views[1]!.byteOffset, 4 + 1 + 4);
    assert.equal(dec.bufferedBytes, 0);
  });

  it('accepts a body of exactly maxFrameBytes', () => {
    const { dec, frames } = recorder(16);
    dec.push(encodeFrame(body(16), 16));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.length, 16);
  });

  it('ignores an empty chunk', () => {
    const { dec, frames } = recorder(16);
    dec.push(new Uint8Array(0));
    assert.equal(frames.length, 0);
    assert.equal(dec.bufferedBytes, 0);
  });
});

describe('FrameDecoder split paths', () => {
  it('joins a prefix split byte by byte and a body split over three reads', () => {
    const { dec, frames } = recorder(1000);
    const b = body(300, 9);
    const f = encodeFrame(b, 1000);
    // reads: 1, 1, 1, 1 (prefix done, nothing of the body), 100, 150, 50
    const cuts = [1, 2, 3, 4, 104, 254, 304];
    let at = 0;
    cuts.forEach((cut, i) => {
      dec.push(f.subarray(at, cut));
      at = cut;
      if (i < cuts.length - 1) {
        assert.equal(frames.length, 0);
        const buffered = i < 3 ? i + 1 : i === 3 ? 0 : cut - 4;
        assert.equal(dec.bufferedBytes, buffered, `after read ${i}`);
      }
    });
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0], b);
    assert.equal(dec.bufferedBytes, 0);
  });

  it('returns to the fast path after a split frame within the same chunk', () => {
    const views: Uint8Array[] = [];
    const dec = new FrameDecoder(100, (b) => views.push(b));
    const f1 = encodeFrame(body(50, 1), 100);
    const f2 = encodeFrame(body(20, 2), 100);
    dec.push(f1.subarray(0, 30));
    assert.equal(dec.bufferedBytes, 26);
    const tail = concatBytes(f1.subarray(30), f2);
    dec.push(tail);
    assert.equal(views.length, 2);
    assert.notEqual(views[0]!.buffer, tail.buffer, 'a split body is joined into its own buffer');
    assert.deepEqual([...views[0]!], [...body(50, 1)]);
    assert.equal(views[1]!.buffer, tail.buffer, 'the next whole frame is a view again');
    assert.deepEqual([...views[1]!], [...body(20, 2)]);
    assert.equal(dec.bufferedBytes, 0);
  });

  it('keeps a partial frame at the end of a chunk that held whole frames', () => {
    const { dec, frames } = recorder(100);
    const f1 = encodeFrame(body(10, 1), 100);
    const f2 = encodeFrame(body(10, 2), 100);
    dec.push(concatBytes(f1, f2.subarray(0, 2)));
    assert.equal(frames.length, 1);
    assert.equal(dec.bufferedBytes, 2);
    dec.push(f2.subarray(2));
    assert.equal(frames.length, 2);
    assert.deepEqual(frames[1], body(10, 2));
  });
});

describe('FrameDecoder.stop', () => {
  it('delivers nothing after stop() called from onFrame, and drops what it held', () => {
    const seen: number[] = [];
    const dec: FrameDecoder = new FrameDecoder(100, (b) => {
      seen.push(b.length);
      dec.stop();
    });
    dec.push(concatBytes(encodeFrame(body(3), 100), encodeFrame(body(4), 100), encodeFrame(body(5), 100)));
    assert.deepEqual(seen, [3], 'frames behind the one that stopped the decoder are not delivered');
    dec.push(encodeFrame(body(6), 100));
    assert.deepEqual(seen, [3]);
  });

  it('releases a partial frame: bufferedBytes is 0 afterwards', () => {
    const { dec, frames } = recorder(100);
    const f = encodeFrame(body(50), 100);
    dec.push(f.subarray(0, 20));
    assert.equal(dec.bufferedBytes, 16);
    dec.stop();
    assert.equal(dec.bufferedBytes, 0);
    dec.push(f.subarray(20));
    assert.equal(frames.length, 0);
    assert.equal(dec.bufferedBytes, 0);
  });
});

describe('FrameDecoder on hostile length prefixes', () => {
  const MAX = 1024;
  const cases: [string, number, ErrorCodeValue][] = [
    ['0', 0, ErrorCode.FrameEmpty],
    ['max + 1', MAX + 1, ErrorCode.FrameTooLarge],
    ['2^32 - 1', 0xffffffff, ErrorCode.FrameTooLarge],
  ];
  for (const [name, length, code] of cases) {
    it(`length ${name}: throws ${code} from the push that completes the prefix, body bytes following`, () => {
      const { dec, frames } = recorder(MAX);
      const chunk = concatBytes(u32be(length), body(MAX + 100));
      assert.throws(() => dec.push(chunk), is(code));
      assert.equal(frames.length, 0);
      assert.equal(dec.bufferedBytes, 0, 'no body byte is buffered');
    });

    it(`length ${name}: throws ${code} on the fourth byte when the prefix arrives byte by byte`, () => {
      const { dec, frames } = recorder(MAX);
      const prefix = u32be(length);
      for (let i = 0; i < 3; i++) {
        dec.push(prefix.subarray(i, i + 1));
        assert.equal(dec.bufferedBytes, i + 1, 'only prefix bytes are held');
      }
      assert.throws(() => dec.push(concatBytes(prefix.subarray(3), body(10))), is(code));
      assert.equal(frames.length, 0);
      assert.equal(dec.bufferedBytes, 0);
    });

    it(`length ${name}: frames before it in the same chunk are delivered, the bad one never`, () => {
      const { dec, frames } = recorder(MAX);
      const good = encodeFrame(body(5), MAX);
      assert.throws(() => dec.push(concatBytes(good, u32be(length), body(64))), is(code));
      assert.equal(frames.length, 1);
      assert.deepEqual(frames[0], body(5));
      assert.equal(dec.bufferedBytes, 0);
    });
  }

  it('reports the offending length and the limit in details', () => {
    const { dec } = recorder(MAX);
    assert.throws(
      () => dec.push(u32be(0xffffffff)),
      (err: unknown) => isJanusError(err, ErrorCode.FrameTooLarge) && err.details.length === 0xffffffff && err.details.maxFrameBytes === MAX,
    );
  });
});

describe('FrameDecoder property: any split of a stream yields the same frames', () => {
  it('random frames (1..2000 bytes) cut into random reads decode to the same frames in order', () => {
    const scenario = fc
      .integer({ min: 1, max: 2000 })
      .chain((maxFrameBytes) =>
        fc.record({
          maxFrameBytes: fc.constant(maxFrameBytes),
          bodies: fc.array(fc.uint8Array({ minLength: 1, maxLength: maxFrameBytes }), { minLength: 1, maxLength: 20 }),
          cuts: fc.array(fc.nat(), { maxLength: 40 }),
        }),
      );
    fc.assert(
      fc.property(scenario, ({ maxFrameBytes, bodies, cuts }) => {
        const stream = concatBytes(...bodies.map((b) => encodeFrame(b, maxFrameBytes)));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const { dec, frames } = recorder(maxFrameBytes);
        let at = 0;
        for (const p of [...points, stream.length]) {
          dec.push(stream.subarray(at, p));
          at = p;
          assert.ok(dec.bufferedBytes <= 4 + maxFrameBytes);
        }
        assert.equal(frames.length, bodies.length);
        frames.forEach((f, i) => assert.deepEqual(f, bodies[i]));
        assert.equal(dec.bufferedBytes, 0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('encodeFrame', () => {
  it('prefixes the body with its u32be length', () => {
    assert.deepEqual([...encodeFrame(Uint8Array.from([7, 8, 9]))], [0, 0, 0, 3, 7, 8, 9]);
    const big = encodeFrame(body(DEFAULT_MAX_FRAME_BYTES));
    assert.deepEqual([...big.subarray(0, 4)], [0, 1, 0, 0]);
    assert.equal(big.length, 4 + DEFAULT_MAX_FRAME_BYTES);
  });

  it('rejects an empty body', () => {
    assert.throws(() => encodeFrame(new Uint8Array(0)), is(ErrorCode.FrameEmpty));
  });

  it('rejects a body over maxFrameBytes (default 65536, or the one given)', () => {
    assert.throws(() => encodeFrame(body(DEFAULT_MAX_FRAME_BYTES + 1)), is(ErrorCode.FrameTooLarge));
    assert.throws(() => encodeFrame(body(11), 10), is(ErrorCode.FrameTooLarge));
    assert.equal(encodeFrame(body(10), 10).length, 14);
  });
});
