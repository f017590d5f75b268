/**
 * TunnelStream against a fake call (the TunnelCall contract that h2-call.ts implements): flow control (pause/resume) and the close
 * lifecycle, which a real connection makes hard to observe.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { TunnelMessage } from '@janus/protocol';
import { TunnelStream, type TunnelCall, type TunnelHandlers } from '../src/stream.js';
import type { TunnelMetadataFields } from '../src/metadata.js';

class FakeCall extends EventEmitter {
  readonly metadata = new grpc.Metadata();
  readonly written: TunnelMessage[] = [];
  readonly log: string[] = [];
  writeResult = true;
  pause(): this {
    this.log.push('pause');
    return this;
  }
  resume(): this {
    this.log.push('resume');
    return this;
  }
  write(m: TunnelMessage): boolean {
    this.written.push(m);
    return this.writeResult;
  }
  end(): void {
    this.log.push('end');
  }
  readonly failures: Array<{ code: number; details: string }> = [];
  fail(code: number, details: string): void {
    this.failures.push({ code, details });
  }
}

const FIELDS: TunnelMetadataFields = {
  oid: 1n,
  uid: 1n,
  sid: 0n,
  status: 0,
  color: '',
  clientIp: '',
  referer: '',
  gateReferer: '',
};

function req(index: number): TunnelMessage {
  return {
    data: new Uint8Array([index]),
    dataVersion: 0n,
    obj: 1n,
    mod: 3,
    seq: 1,
    index,
    connId: 0,
    fragId: 0,
    fragCount: 0,
    fragIndex: 0,
    ver: 0,
  };
}

function make(handlers: TunnelHandlers, maxPending: number): { call: FakeCall; stream: TunnelStream; finished: TunnelStream[] } {
  const call = new FakeCall();
  const finished: TunnelStream[] = [];
  const stream = new TunnelStream(call as unknown as TunnelCall, FIELDS, handlers, maxPending, (s) => finished.push(s));
  stream.start();
  return { call, stream, finished };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('the call is paused at maxPending queued requests and resumed at half', async () => {
  const gates: Array<() => void> = [];
  const { call } = make(
    {
      onMessage: (_ctx, r) =>
        new Promise<Uint8Array>((resolve) => {
          gates.push(() => resolve(r.data));
        }),
    },
    4,
  );
  for (let i = 1; i <= 4; i++) call.emit('data', req(i));
  // Request 1 is in its handler; 2..4 wait: 3 queued, under the limit.
  assert.deepEqual(call.log, []);
  call.emit('data', req(5));
  assert.deepEqual(call.log, ['pause']);
  gates.shift()!();
  await tick();
  // Request 2 taken: 3 queued, still above half of 4.
  assert.deepEqual(call.log, ['pause']);
  gates.shift()!();
  await tick();
  assert.deepEqual(call.log, ['pause', 'resume']);
  while (gates.length > 0) {
    gates.shift()!();
    await tick();
  }
  assert.deepEqual(
    call.written.map((m) => m.index),
    [1, 2, 3, 4, 5],
  );
});

test('a full send buffer pauses the call until drain', () => {
  const { call } = make({ onMessage: (_ctx, r) => r.data }, 64);
  call.writeResult = false;
  call.emit('data', req(1));
  assert.deepEqual(call.log, ['pause']);
  call.emit('data', req(2)); // already buffered by the stream before the pause took effect
  assert.deepEqual(call.log, ['pause']);
  call.writeResult = true;
  call.emit('drain');
  assert.deepEqual(call.log, ['pause', 'resume']);
  assert.deepEqual(
    call.written.map((m) => m.index),
    [1, 2],
  );
});

test('requests wait for an async onOpen; half-close ends after the queue; onClose once', async () => {
  let release!: () => void;
  const opened = new Promise<void>((r) => (release = r));
  let closes = 0;
  const handled: number[] = [];
  const { call, stream, finished } = make(
    {
      onOpen: () => opened,
      onMessage: (_ctx, r) => {
        handled.push(r.index);
        return r.data;
      },
      onClose: () => closes++,
    },
    64,
  );
  call.emit('data', req(1));
  call.emit('end');
  await tick();
  assert.deepEqual(handled, []);
  release();
  await tick();
  assert.deepEqual(handled, [1]);
  assert.deepEqual(call.log, ['end']);
  assert.equal(stream.closed, true);
  call.emit('cancelled'); // the call emits it after every status, ours included
  assert.equal(closes, 1);
  assert.deepEqual(finished, [stream]);
});

test('an onClose that throws does not break the stream bookkeeping; the error surfaces later', async () => {
  const { stream, finished } = make(
    {
      onMessage: () => undefined,
      onClose: () => {
        throw new TypeError('cleanup bug');
      },
    },
    64,
  );
  const surfaced = new Promise<unknown>((resolve) => {
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.once('uncaughtException', (err) => {
      for (const l of listeners) process.on('uncaughtException', l);
      resolve(err);
    });
  });
  stream.end();
  assert.equal(stream.closed, true);
  assert.deepEqual(finished, [stream]);
  const err = await surfaced;
  assert.ok(err instanceof TypeError && err.message === 'cleanup bug');
});

test('fail() hands the call one status; later fail() and end() are no-ops', () => {
  const { call, stream } = make({ onMessage: () => undefined }, 64);
  stream.fail(grpc.status.NOT_FOUND, 'not here');
  stream.fail(grpc.status.INTERNAL, 'second');
  stream.end();
  assert.deepEqual(call.failures, [{ code: grpc.status.NOT_FOUND, details: 'not here' }]);
  assert.deepEqual(call.log, []);
});

test('fail() refuses a status that is not an error (OK, outside 1..16, fractional) and leaves the stream open', () => {
  const { call, stream } = make({ onMessage: () => undefined }, 64);
  for (const code of [grpc.status.OK, 17, -1, 2.5]) assert.throws(() => stream.fail(code, 'x'), RangeError);
  assert.equal(stream.closed, false);
  stream.fail(grpc.status.UNAVAILABLE, 'later');
  assert.deepEqual(call.failures, [{ code: grpc.status.UNAVAILABLE, details: 'later' }]);
});
