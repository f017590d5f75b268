/**
 * Every handshake and auth rejection of PROTOCOL.md 7.2 and 7.6 gets its documented
 * ServerLogout code and close (section 2), over TCP and WebSocket, while a witness client
 * on the same gateway keeps working.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AuthToken_Status,
  CSHandshakeSchema,
  decodeMessage,
  decodePacket,
  encodePacket,
  makePacket,
  SCServerLogout_Code as Code,
  SCServerLogoutSchema,
  sealToken,
} from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { RawClient, type HelloOverrides } from './support/raw-client.js';
import { startStack, type Stack } from './support/stack.js';

const now = () => BigInt(Math.floor(Date.now() / 1000));

/** Rewrites the CSHandshake inside a handshake body. */
function editHello(edit: (hs: ReturnType<typeof decodeMessage<typeof CSHandshakeSchema>>) => void): (b: Uint8Array) => Uint8Array {
  return (body) => {
    const p = decodePacket(body);
    const hs = decodeMessage(CSHandshakeSchema, p.data);
    edit(hs);
    return encodePacket(makePacket({ mod: 1, seq: 1, data: toBinary(CSHandshakeSchema, create(CSHandshakeSchema, hs)) }));
  };
}

function logoutCodeOf(body: Uint8Array | null): number {
  assert.ok(body, 'expected a ServerLogout, the connection closed first');
  const p = decodePacket(body);
  assert.deepEqual([p.mod, p.seq], [1, 4], 'expected a plaintext ServerLogout Packet');
  const lo = decodeMessage(SCServerLogoutSchema, p.data);
  assert.ok(lo.serverTime > 0n, 'every ServerLogout carries server_time');
  return lo.code;
}

for (const kind of ['tcp', 'ws'] as const) {
  describe(`handshake and auth rejections over ${kind}`, () => {
    let stack: Stack;
    let witness: RawClient;
    let port: number;

    before(async () => {
      stack = await startStack({ config: { timeouts: { handshakeMs: 400, shutdownMs: 2000, tunnelConnectMs: 1000 } } });
      port = kind === 'tcp' ? stack.gw.tcpPort : stack.gw.wsPort;
      witness = await RawClient.connect(kind, port);
      await witness.handshake(stack.keys.clientKey, stack.keys.pins);
      witness.sendAuth(await stack.token(900));
      const auth = await witness.nextPacket();
      assert.deepEqual([auth?.mod, auth?.seq], [1, 5]);
    });

    after(async () => {
      witness.close();
      await stack.stop();
    });

    // The witness echoes after each case: other clients keep working.
    async function witnessEchoes(): Promise<void> {
      const req = witness.send({ mod: 3, seq: 1, data: new TextEncoder().encode('still here') });
      const reply = await witness.nextPacket();
      assert.equal(reply?.index, req.index);
      assert.equal(new TextDecoder().decode(reply!.data), 'still here');
    }

    const wsPolicy = kind === 'ws' ? { wsCode: 1008 } : { fin: true };

    const helloCases: [string, HelloOverrides, number][] = [
      ['a bad signature', { mutate: editHello((hs) => (hs.sign[0]! ^= 1)) }, Code.Unauthorized],
      ['an unknown cert_version', { certVersion: 7 }, Code.Unauthorized],
      ['a server_cert_version the gateway does not hold', { serverCertVersion: 9 }, Code.BadVersion],
      ['an unknown version', { mutate: editHello((hs) => (hs.version = 2)) }, Code.BadVersion],
      ['a token inside CSHandshake', { mutate: editHello((hs) => (hs.token = 'x')) }, Code.Unauthorized],
      ['a skewed timestamp', { timestamp: now() - 301n }, Code.ClockSkew],
      ['a pub of 31 bytes', { mutate: editHello((hs) => (hs.pub = hs.pub.subarray(1))) }, Code.Unauthorized],
    ];
    for (const [what, o, code] of helloCases) {
      it(`answers ${what} with ServerLogout ${Code[code]} and closes`, async () => {
        const c = await RawClient.connect(kind, port);
        const answer = await c.sendHello(stack.keys.clientKey, o);
        assert.equal(Code[logoutCodeOf(answer)], Code[code]);
        assert.deepEqual(await c.ending, wsPolicy);
        await witnessEchoes();
      });
    }

    it('closes at once, nothing sent, when the first frame is not a handshake', async () => {
      const c = await RawClient.connect(kind, port);
      c.sendBody(encodePacket(makePacket({ mod: 3, seq: 1, data: Uint8Array.of(1) })));
      assert.equal(await c.nextBody(), null);
      const e = await c.ending;
      if (kind === 'ws') assert.equal(e.wsCode, 1002);
      await witnessEchoes();
    });

    it('closes, nothing sent, when nothing arrives within handshakeTimeout', async () => {
      const c = await RawClient.connect(kind, port);
      assert.equal(await c.nextBody(3000), null);
      assert.deepEqual(await c.ending, wsPolicy);
    });

    it('closes, nothing sent, when no CSAuth arrives within handshakeTimeout', async () => {
      const c = await RawClient.connect(kind, port);
      await c.handshake(stack.keys.clientKey, stack.keys.pins);
      assert.equal(await c.nextBody(3000), null);
      assert.deepEqual(await c.ending, wsPolicy);
    });

    it('closes at once, nothing sent, when the first record is not CSAuth', async () => {
      const c = await RawClient.connect(kind, port);
      await c.handshake(stack.keys.clientKey, stack.keys.pins);
      c.sendHeartbeat(now());
      assert.equal(await c.nextBody(), null);
      const e = await c.ending;
      if (kind === 'ws') assert.equal(e.wsCode, 1002);
      await witnessEchoes();
    });

    const seal = (fields: Parameters<typeof sealToken>[2], key?: Uint8Array) => sealToken(nodeCrypto, key ?? stack.keys.tokenKey, fields);
    const authCases: [string, () => Promise<string>, HelloOverrides, number][] = [
      ['an expired token', () => seal({ accountId: 5n, timeout: now() - 1n, status: AuthToken_Status.GATE }), {}, Code.TokenExpired],
      ['a forged token', () => seal({ accountId: 5n, timeout: now() + 60n }, new Uint8Array(32).fill(7)), {}, Code.Unauthorized],
      ['account_id 0', () => seal({ accountId: 0n, timeout: now() + 60n }), {}, Code.Unauthorized],
      ['a server_id that differs from the token\'s', () => seal({ accountId: 5n, serverId: 3n, timeout: now() + 60n }), { serverId: 4n }, Code.Unauthorized],
      ['a token that is not base64url', async () => 'not a token!', {}, Code.Unauthorized],
    ];
    for (const [what, token, o, code] of authCases) {
      it(`answers ${what} with a ServerLogout ${Code[code]} record and closes`, async () => {
        const c = await RawClient.connect(kind, port);
        await c.handshake(stack.keys.clientKey, stack.keys.pins, o);
        c.sendAuth(await token());
        assert.equal(Code[(await c.expectLogout())!], Code[code]);
        assert.deepEqual(await c.ending, wsPolicy);
        await witnessEchoes();
      });
    }

    it('accepts a matching server_id and server_id 0', async () => {
      for (const serverId of [3n, 0n]) {
        const c = await RawClient.connect(kind, port);
        await c.handshake(stack.keys.clientKey, stack.keys.pins, { serverId });
        const auth = c.sendAuth(await seal({ accountId: 77n + serverId, serverId: 3n, timeout: now() + 60n }));
        const reply = await c.nextPacket();
        assert.deepEqual([reply?.mod, reply?.seq, reply?.index], [1, 5, auth.index]);
        c.close();
      }
    });
  });
}
