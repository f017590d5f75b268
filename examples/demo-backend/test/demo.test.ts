import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { TUNNEL_PATHS, utf8, type TunnelMessage } from '@janus/protocol';
import { TunnelTestClient, type TunnelTestStream } from '@janus/backend';
import { DemoModule, PlayerSeq, RoomSeq, startDemoBackend, type DemoBackend } from '../src/index.js';

const { Player, Room } = DemoModule;

async function setup(t: TestContext): Promise<{ backend: DemoBackend; client: TunnelTestClient }> {
  const backend = await startDemoBackend({ host: '127.0.0.1', port: 0 });
  const client = new TunnelTestClient(`127.0.0.1:${backend.port}`);
  t.after(() => {
    client.close();
    backend.destroy();
  });
  return { backend, client };
}

function player(client: TunnelTestClient, uid: bigint): TunnelTestStream {
  return client.open(TUNNEL_PATHS.player, { oid: uid, uid, sid: 1n, color: 'default', referer: 'janus.gate.interface' });
}

function room(client: TunnelTestClient, roomId: bigint, uid: bigint): TunnelTestStream {
  return client.open(TUNNEL_PATHS.room, { oid: roomId, uid, sid: 1n, color: 'default', referer: 'janus.gate.interface' });
}

function body(m: TunnelMessage): unknown {
  return JSON.parse(new TextDecoder().decode(m.data));
}

/** Asserts a push: mod, seq, index 0, obj and JSON body. */
function assertPush(m: TunnelMessage, mod: number, seq: number, obj: bigint, expected: unknown): void {
  assert.deepEqual([m.mod, m.seq, m.index, m.obj], [mod, seq, 0, obj]);
  assert.deepEqual(body(m), expected);
}

/** Asserts a reply to (mod, seq, index) with a JSON body. */
function assertReply(m: TunnelMessage, mod: number, seq: number, index: number, expected: unknown): void {
  assert.deepEqual([m.mod, m.seq, m.index], [mod, seq, index]);
  assert.deepEqual(body(m), expected);
}

test('Player Echo returns the exact bytes with the request mod, seq, index and obj', async (t) => {
  const { client } = await setup(t);
  const s = player(client, 1001n);
  const data = new Uint8Array(300);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
  s.send({ mod: Player, seq: PlayerSeq.Echo, index: 5, obj: 1001n, data });
  s.send({ mod: Player, seq: PlayerSeq.Echo, index: 6, obj: 42n });
  const [a, b] = await s.take(2);
  assert.deepEqual([a!.mod, a!.seq, a!.index, a!.obj], [Player, PlayerSeq.Echo, 5, 1001n]);
  assert.deepEqual(a!.data, data);
  assert.deepEqual([b!.index, b!.obj, b!.data.length], [6, 42n, 0]);
  s.end();
  assert.equal((await s.status).code, grpc.status.OK);
});

test('Player Counter counts per uid and survives a new stream for the same uid', async (t) => {
  const { client } = await setup(t);
  const first = player(client, 7n);
  first.send({ mod: Player, seq: PlayerSeq.Counter, index: 1, obj: 7n });
  first.send({ mod: Player, seq: PlayerSeq.Counter, index: 2, obj: 7n });
  const [c1, c2] = await first.take(2);
  assertReply(c1!, Player, PlayerSeq.Counter, 1, { count: 1 });
  assertReply(c2!, Player, PlayerSeq.Counter, 2, { count: 2 });
  first.end();
  await first.status;
  const again = player(client, 7n);
  again.send({ mod: Player, seq: PlayerSeq.Counter, index: 1, obj: 7n });
  assertReply(await again.next(), Player, PlayerSeq.Counter, 1, { count: 3 });
  const other = player(client, 8n);
  other.send({ mod: Player, seq: PlayerSeq.Counter, index: 1, obj: 8n });
  assertReply(await other.next(), Player, PlayerSeq.Counter, 1, { count: 1 });
  again.end();
  other.end();
  await Promise.all([again.status, other.status]);
});

test('Player PushLater replies at once, then pushes mod 3 seq 4 with index 0 and the request data', async (t) => {
  const { client } = await setup(t);
  const s = player(client, 55n);
  s.send({ mod: Player, seq: PlayerSeq.PushLater, index: 9, obj: 55n, data: utf8('later') });
  const reply = await s.next();
  assert.deepEqual([reply.mod, reply.seq, reply.index, reply.data.length], [Player, PlayerSeq.PushLater, 9, 0]);
  const push = await s.next();
  assert.deepEqual([push.mod, push.seq, push.index, push.obj], [Player, PlayerSeq.Pushed, 0, 55n]);
  assert.deepEqual(push.data, utf8('later'));
  s.end();
  await s.status;
});

test('Room: join, say to everyone, leave, and a closed stream leaves the room', async (t) => {
  const { client } = await setup(t);
  const R = 7n;
  const [s1, s2, s3] = [room(client, R, 1n), room(client, R, 2n), room(client, R, 3n)];

  s1.send({ mod: Room, seq: RoomSeq.Join, index: 1, obj: R, data: utf8('{"name":"alice"}') });
  assertReply(await s1.next(), Room, RoomSeq.Join, 1, { room: 7, members: [1] });

  s2.send({ mod: Room, seq: RoomSeq.Join, index: 1, obj: R, data: utf8('{}') });
  assertReply(await s2.next(), Room, RoomSeq.Join, 1, { room: 7, members: [1, 2] });
  assertPush(await s1.next(), Room, RoomSeq.Event, R, { event: 'join', uid: 2, name: 'player 2' });

  s3.send({ mod: Room, seq: RoomSeq.Join, index: 1, obj: R, data: utf8('{"name":"carol"}') });
  assertReply(await s3.next(), Room, RoomSeq.Join, 1, { room: 7, members: [1, 2, 3] });
  for (const s of [s1, s2]) assertPush(await s.next(), Room, RoomSeq.Event, R, { event: 'join', uid: 3, name: 'carol' });

  s2.send({ mod: Room, seq: RoomSeq.Say, index: 2, obj: R, data: utf8('{"text":"hi"}') });
  assertReply(await s2.next(), Room, RoomSeq.Say, 2, {});
  const said = { uid: 2, name: 'player 2', text: 'hi' };
  for (const s of [s1, s2, s3]) assertPush(await s.next(), Room, RoomSeq.Message, R, said);

  s3.send({ mod: Room, seq: RoomSeq.Leave, index: 2, obj: R });
  assertReply(await s3.next(), Room, RoomSeq.Leave, 2, { room: 7 });
  for (const s of [s1, s2]) assertPush(await s.next(), Room, RoomSeq.Event, R, { event: 'leave', uid: 3 });

  // Client 1's connection closes: the gateway half-closes its room stream.
  s1.end();
  assert.equal((await s1.status).code, grpc.status.OK);
  assertPush(await s2.next(), Room, RoomSeq.Event, R, { event: 'leave', uid: 1 });

  // Client 3 (left, stream still open) joins again: only 2 is still there.
  s3.send({ mod: Room, seq: RoomSeq.Join, index: 3, obj: R, data: utf8('{"name":"carol"}') });
  assertReply(await s3.next(), Room, RoomSeq.Join, 3, { room: 7, members: [2, 3] });
  assertPush(await s2.next(), Room, RoomSeq.Event, R, { event: 'join', uid: 3, name: 'carol' });

  // Client 2's stream is cancelled (connection lost): 3 is told.
  s2.cancel();
  assertPush(await s3.next(), Room, RoomSeq.Event, R, { event: 'leave', uid: 2 });
  s3.send({ mod: Room, seq: RoomSeq.Say, index: 4, obj: R, data: utf8('{"text":"alone"}') });
  assertReply(await s3.next(), Room, RoomSeq.Say, 4, {});
  assertPush(await s3.next(), Room, RoomSeq.Message, R, { uid: 3, name: 'carol', text: 'alone' });
  s3.end();
  await s3.status;
  assert.equal(s2.pending, 0);
});

test('rooms are separate: a say in room 8 does not reach room 9', async (t) => {
  const { client } = await setup(t);
  const a = room(client, 8n, 1n);
  const b = room(client, 9n, 2n);
  a.send({ mod: Room, seq: RoomSeq.Join, index: 1, obj: 8n });
  b.send({ mod: Room, seq: RoomSeq.Join, index: 1, obj: 9n });
  assertReply(await a.next(), Room, RoomSeq.Join, 1, { room: 8, members: [1] });
  assertReply(await b.next(), Room, RoomSeq.Join, 1, { room: 9, members: [2] });
  a.send({ mod: Room, seq: RoomSeq.Say, index: 2, obj: 8n, data: utf8('{"text":"x"}') });
  await a.take(2);
  b.send({ mod: Room, seq: RoomSeq.Say, index: 2, obj: 9n, data: utf8('{"text":"y"}') });
  const [, pushed] = await b.take(2);
  assertPush(pushed!, Room, RoomSeq.Message, 9n, { uid: 2, name: 'player 2', text: 'y' });
  assert.equal(b.pending, 0);
  a.end();
  b.end();
  await Promise.all([a.status, b.status]);
});

test('an unknown Player seq or mod gets a JSON error reply (the player stream stays); an unknown Room seq fails the room stream', async (t) => {
  const { client } = await setup(t);
  const p = player(client, 1n);
  p.send({ mod: Player, seq: 99, index: 1 });
  const r1 = await p.next();
  assert.deepEqual([r1.mod, r1.seq, r1.index, JSON.parse(new TextDecoder().decode(r1.data))], [Player, 99, 1, { error: 'unknown seq 99' }]);
  p.send({ mod: Room, seq: 1, index: 2 });
  const r2 = await p.next();
  assert.deepEqual(JSON.parse(new TextDecoder().decode(r2.data)), { error: 'unknown mod 4' });
  p.send({ mod: Player, seq: 1, index: 3, data: utf8('still open') });
  assert.equal(new TextDecoder().decode((await p.next()).data), 'still open');
  p.end();
  assert.equal((await p.status).code, grpc.status.OK);
  const r = room(client, 7n, 1n);
  r.send({ mod: Room, seq: 12, index: 1, data: utf8('{}') });
  const rs = await r.status;
  assert.deepEqual([rs.code, rs.details], [grpc.status.UNIMPLEMENTED, 'unknown seq 12']);
});

test('bad room requests fail the room stream: not JSON, not an object, bad fields, say before join', async (t) => {
  const { client } = await setup(t);
  const cases: Array<[number, string, grpc.status]> = [
    [RoomSeq.Join, '{"name":', grpc.status.INVALID_ARGUMENT],
    [RoomSeq.Join, '[1,2]', grpc.status.INVALID_ARGUMENT],
    [RoomSeq.Join, '{"name":5}', grpc.status.INVALID_ARGUMENT],
    [RoomSeq.Join, `{"name":"${'n'.repeat(33)}"}`, grpc.status.INVALID_ARGUMENT],
    [RoomSeq.Say, '{}', grpc.status.INVALID_ARGUMENT],
    [RoomSeq.Say, '{"text":"hi"}', grpc.status.FAILED_PRECONDITION],
  ];
  for (const [seq, text, code] of cases) {
    const s = room(client, 7n, 1n);
    s.send({ mod: Room, seq, index: 1, data: utf8(text) });
    assert.equal((await s.status).code, code, text);
  }
  const badUtf8 = room(client, 7n, 1n);
  badUtf8.send({ mod: Room, seq: RoomSeq.Join, index: 1, data: new Uint8Array([0x7b, 0xff, 0x7d]) });
  assert.equal((await badUtf8.status).code, grpc.status.INVALID_ARGUMENT);
});

test('close() ends the streams with OK and stops the pending pushes', async (t) => {
  const { client, backend } = await setup(t);
  const s = player(client, 3n);
  s.send({ mod: Player, seq: PlayerSeq.PushLater, index: 1, data: utf8('never') });
  await s.next();
  await backend.close();
  assert.equal((await s.status).code, grpc.status.OK);
  assert.equal(s.pending, 0);
});

test('main.ts runs standalone from arguments and stops on SIGTERM', async (t) => {
  const main = fileURLToPath(new URL('../src/main.js', import.meta.url));
  const child = spawn(process.execPath, [main, '--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${out}`)));
  });
  const client = new TunnelTestClient(`127.0.0.1:${port}`);
  t.after(() => client.close());
  const s = player(client, 1n);
  s.send({ mod: Player, seq: PlayerSeq.Echo, index: 1, data: utf8('ping') });
  assert.deepEqual((await s.next()).data, utf8('ping'));
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  assert.equal((await s.status).code, grpc.status.OK);
  assert.deepEqual(await exited, [0, null]);
});

test('main.ts rejects a bad port with exit code 2', async () => {
  const main = fileURLToPath(new URL('../src/main.js', import.meta.url));
  const child = spawn(process.execPath, [main, '--port', '70000'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (err += c));
  const [code] = await once(child, 'exit');
  assert.equal(code, 2);
  assert.match(err, /--port must be an integer in 0\.\.65535/);
});
