import { strict as assert } from 'node:assert';
import { decodeMessage, SCServerLogoutSchema } from '@janus/protocol';
import { RawClient } from './raw-client.js';
import type { Stack } from './stack.js';

/**
 * Connects, handshakes and logs in `uid` (token color `o.color`, default '', and server id
 * `o.serverId`, default the stack's); returns the raw client after SCAuth.
 */
export async function loggedIn(stack: Stack, kind: 'tcp' | 'ws', uid: number, o: { localAddress?: string; color?: string; serverId?: bigint } = {}): Promise<RawClient> {
  const c = await RawClient.connect(kind, kind === 'tcp' ? stack.gw.tcpPort : stack.gw.wsPort, undefined, o.localAddress ? { localAddress: o.localAddress } : {});
  await c.handshake(stack.keys.clientKey, stack.keys.pins);
  const auth = c.sendAuth(
    await stack.token(uid, {
      ...(o.color !== undefined ? { color: o.color } : {}),
      ...(o.serverId !== undefined ? { serverId: o.serverId } : {}),
    }),
  );
  const reply = await c.nextPacket();
  assert.deepEqual([reply?.mod, reply?.seq, reply?.index], [1, 5, auth.index], 'expected SCAuth');
  return c;
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);

/** The next Packet, asserted to be a push (index 0) of mod 3 seq `seq` carrying `text`. */
export async function expectPush(c: RawClient, seq: number, text: string): Promise<void> {
  const p = await c.nextPacket();
  assert.deepEqual([p?.mod, p?.seq, p?.index, str(p?.data)], [3, seq, 0, text]);
}

/**
 * Connects, handshakes and sends CSAuth for `uid`; resolves with the client after SCAuth, or
 * with the ServerLogout code that answered instead (the client is then closed).
 */
export async function tryLogin(stack: Stack, kind: 'tcp' | 'ws', uid: number): Promise<{ client?: RawClient; logout?: number }> {
  const c = await RawClient.connect(kind, kind === 'tcp' ? stack.gw.tcpPort : stack.gw.wsPort);
  await c.handshake(stack.keys.clientKey, stack.keys.pins);
  const auth = c.sendAuth(await stack.token(uid));
  const reply = await c.nextPacket(15_000);
  if (reply?.mod === 1 && reply.seq === 5 && reply.index === auth.index) return { client: c };
  c.close();
  assert.ok(reply && reply.mod === 1 && reply.seq === 4, `expected SCAuth or ServerLogout, got ${reply ? `mod ${reply.mod} seq ${reply.seq}` : 'the end'}`);
  return { logout: decodeMessage(SCServerLogoutSchema, reply.data).code };
}
