/**
 * Bad input closes only its own connection (PROTOCOL.md 2, 7.5, 8): a tampered record, a
 * replayed record, a wrong index, an oversized frame, a zero-length frame, garbage bytes, a
 * WebSocket text frame, an empty WebSocket message and an inflate bomb.
 */
import { strict as assert } from 'node:assert';
import { deflateSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { encodePacket, makePacket } from '@janus/protocol';
import { loggedIn, str, text } from './support/session.js';
import { RawClient } from './support/raw-client.js';
import { startStack, type Stack } from './support/stack.js';

describe('malformed input closes only its own connection', () => {
  let stack: Stack;
  let witnessTcp: RawClient;
  let witnessWs: RawClient;

  before(async () => {
    stack = await startStack({ config: { limits: { maxFrameBytes: 4096, maxInflateBytes: 65536 } } });
    witnessTcp = await loggedIn(stack, 'tcp', 1);
    witnessWs = await loggedIn(stack, 'ws', 2);
  });

  after(async () => {
    witnessTcp.close();
    witnessWs.close();
    await stack.stop();
  });

  async function witnessesEcho(): Promise<void> {
    for (const w of [witnessTcp, witnessWs]) {
      const req = w.send({ mod: 3, seq: 1, data: text('ok') });
      const reply = await w.nextPacket();
      assert.equal(reply?.index, req.index);
      assert.equal(str(reply?.data), 'ok');
    }
  }

  const cases: [string, 'tcp' | 'ws' | 'both', (c: RawClient) => void | Promise<void>, number?][] = [
    [
      'a tampered record',
      'both',
      (c) => {
        const body = c.sealer!.seal(encodePacket(makePacket({ mod: 3, seq: 1, index: c.index++, data: text('x') })));
        body[body.length - 1]! ^= 1;
        c.sendBody(body);
      },
    ],
    [
      'a replayed record',
      'both',
      async (c) => {
        const body = c.sealer!.seal(encodePacket(makePacket({ mod: 3, seq: 1, index: c.index++, data: text('x') })));
        c.sendBody(body);
        assert.equal(str((await c.nextPacket())?.data), 'x', 'the first copy is answered');
        c.sendBody(body);
      },
    ],
    ['a wrong index', 'both', (c) => void c.send({ mod: 3, seq: 1, index: c.index + 5 })],
    ['a record that is not a Packet', 'both', (c) => c.sendBody(c.sealer!.seal(Uint8Array.of(0xff, 0xff)))],
    ['a System message other than heartbeat', 'both', (c) => void c.send({ mod: 1, seq: 3 })],
    ['an inflate bomb', 'both', (c) => void c.send({ mod: 3, seq: 1, compress: true, data: deflateSync(Buffer.alloc(2 * 1024 * 1024), { level: 9 }) })],
    ['compressed data that is not zlib', 'both', (c) => void c.send({ mod: 3, seq: 1, compress: true, data: text('not zlib') })],
    ['an oversized frame', 'tcp', (c) => c.sendRaw(Uint8Array.of(0, 0, 0x10, 0x01))],
    ['a zero-length frame', 'tcp', (c) => c.sendRaw(Uint8Array.of(0, 0, 0, 0))],
    ['a length of 2^32-1', 'tcp', (c) => c.sendRaw(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3))],
    ['garbage bytes', 'tcp', (c) => c.sendRaw(Uint8Array.of(0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8))],
    ['garbage bytes', 'ws', (c) => c.sendRaw(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)), 1002],
    ['a text message', 'ws', (c) => c.sendRaw('hello'), 1003],
    ['an empty message', 'ws', (c) => c.sendRaw(new Uint8Array(0)), 1002],
    ['an oversized message', 'ws', (c) => c.sendRaw(new Uint8Array(4097)), 1009],
  ];

  for (const [what, kinds, act, wsCode] of cases) {
    for (const kind of kinds === 'both' ? (['tcp', 'ws'] as const) : [kinds]) {
      it(`${what} over ${kind} closes that connection, nothing sent`, async () => {
        const c = await loggedIn(stack, kind, 100);
        await act(c);
        assert.equal(await c.nextBody(), null, 'nothing is sent before the close');
        const e = await c.ending;
        if (kind === 'ws') assert.equal(e.wsCode, wsCode ?? 1002);
        await witnessesEcho();
      });
    }
  }

  it('garbage bytes before the handshake close that connection', async () => {
    const c = await RawClient.connect('tcp', stack.gw.tcpPort);
    c.sendRaw(Uint8Array.of(0, 0, 0, 3, 0xff, 0xff, 0xff));
    assert.equal(await c.nextBody(), null);
    await c.ending;
    await witnessesEcho();
  });
});
