/**
 * `janus client --uid N`: a terminal client for the demo. Issues a dev token from the key
 * directory's token.key, connects with the client SDK, and turns typed lines into demo
 * messages (docs/demo.md); pushes print as they arrive. Reads stdin, so it also runs from
 * a script: `printf 'echo hi\nquit\n' | npx janus client --uid 1001`. The client SDK is
 * loaded on use: it is not a runtime dependency of the gateway (optional.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { CloseReason, Packet } from '@janus/client';
import { AuthToken_Status, ErrorCode, isJanusError, JanusError, SCServerLogout_Code, sealToken } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { parseBigIntArg, INT64_MAX } from './args.js';
import { DEMO_KEY_DIR } from './demo.js';
import { keyFileNames, keyVersions, TOKEN_KEY_FILE } from '../key-dir.js';
import { readTokenKeyFile } from './keyfiles.js';
import { importOptional } from './optional.js';
import { CommandFailed, ExitCode } from './output.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

const HELP = `commands:
  echo TEXT          Player Echo (mod 3 seq 1): the gateway -> backend -> you
  count              Player Counter (mod 3 seq 2): a per-player counter
  later TEXT         Player PushLater (mod 3 seq 3): the backend pushes TEXT back in 10 ms
  join ROOM [NAME]   Room Join (mod 4 seq 1, obj = ROOM)
  say ROOM TEXT      Room Say (mod 4 seq 3): pushed to every member
  leave ROOM         Room Leave (mod 4 seq 2)
  hb                 a heartbeat now
  help               this list
  quit               close and exit`;

interface ClientCommandOptions {
  uid: string;
  ws?: boolean;
  host: string;
  port?: string;
  keys: string;
  color: string;
  serverId: string;
}

function describe(p: Packet): string {
  const body = dec.decode(p.data);
  return `mod ${p.mod} seq ${p.seq} obj ${p.obj}${body ? `: ${body}` : ''}`;
}

function closeText(r: CloseReason): string {
  return r.kind === 'logout' ? `ServerLogout ${r.name}` : `connection closed${r.error ? `: ${r.error.message}` : ''}`;
}

/**
 * Loads what a dev client needs from a `janus keygen` directory: the newest client key and
 * every server public key.
 * @throws JanusError JANUS_ERR_ARG_INVALID when the directory cannot be read or lacks them.
 */
export function loadClientKeys(dir: string): { clientKeyPem: string; clientCertVersion: number; serverKeys: Record<number, string> } {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new JanusError(ErrorCode.ArgInvalid, `cannot read key directory ${dir} (run "npm start" once, or "janus keygen --out ${dir}")`);
  }
  const serverKeys: Record<number, string> = {};
  for (const v of keyVersions(names, 'serverPub')) serverKeys[v] = readFileSync(join(dir, keyFileNames(v).serverPub), 'utf8');
  const clientVersion = keyVersions(names, 'clientKey').pop() ?? 0;
  if (clientVersion === 0 || Object.keys(serverKeys).length === 0) {
    throw new JanusError(ErrorCode.ArgInvalid, `no client-vN.key.pem or server-vN.pub.pem in ${dir}`);
  }
  return { clientKeyPem: readFileSync(join(dir, keyFileNames(clientVersion).clientKey), 'utf8'), clientCertVersion: clientVersion, serverKeys };
}

async function run(o: ClientCommandOptions, out: (s: string) => void): Promise<void> {
  const { JanusClient } = await importOptional('@janus/client', 'janus client', 'npm install @janus/client beside the gateway, or run it from a Janus checkout', () => import('@janus/client'));
  const uid = parseBigIntArg(o.uid, { flag: '--uid', min: 1n, max: INT64_MAX, what: 'a positive integer' });
  const serverId = parseBigIntArg(o.serverId, { flag: '--server-id', min: 0n, max: INT64_MAX, what: 'a non-negative integer' });
  const keys = loadClientKeys(o.keys);
  const tokenKey = await readTokenKeyFile(join(o.keys, TOKEN_KEY_FILE));
  const token = await sealToken(nodeCrypto, tokenKey, {
    accountId: uid,
    serverId,
    color: o.color,
    timeout: BigInt(Math.floor(Date.now() / 1000) + 86400),
    status: AuthToken_Status.DEV,
  });
  const transport = o.ws ? 'ws' : 'tcp';
  const port = o.port ? Number(o.port) : o.ws ? 17002 : 17001;
  // A short request timeout: a demo error on a room stream arrives as a push (index 0),
  // not as the request's reply, so the request itself waits for this.
  let client;
  try {
    client = await JanusClient.connect({ transport, host: o.host, port, token, requestTimeoutMs: 3000, ...keys });
  } catch (err) {
    // Bad options or keys are usage and file errors (exit 2); anything the gateway or the
    // network did is a failed login (exit 1), a ServerLogout of any code included.
    if (isJanusError(err) && (err.code === ErrorCode.ConfigInvalid || err.code === ErrorCode.KeyInvalid)) throw err;
    throw new CommandFailed(`cannot log in to ${o.host}:${port} over ${transport}: ${(err as Error).message}`, ExitCode.ClientFailed);
  }
  out(`connected over ${transport} to ${o.host}:${port}: uid ${client.session.uid}, sid ${client.session.sid}; type "help"\n`);
  client.on('push', (p: Packet) => out(`push  ${describe(p)}\n`));
  client.on('serverError', (e: { mod: number; seq: number; msg: string }) => out(`error mod ${e.mod} seq ${e.seq}: ${e.msg}\n`));
  const closed = new Promise<CloseReason>((resolve) => client.once('close', resolve));

  const rl = createInterface({ input: process.stdin, terminal: false });
  const lines = (async () => {
    for await (const raw of rl) {
      const line = raw.trim();
      if (!line) continue;
      const [cmd, ...rest] = line.split(/\s+/);
      const arg = line.slice(cmd!.length).trim();
      if (['join', 'say', 'leave'].includes(cmd!) && !/^-?\d+$/.test(rest[0] ?? '')) {
        out(`usage: ${cmd} ROOM${cmd === 'say' ? ' TEXT' : cmd === 'join' ? ' [NAME]' : ''} (ROOM is a number)\n`);
        continue;
      }
      try {
        let reply: Packet | undefined;
        switch (cmd) {
          case 'echo':
            reply = await client.request(3, 1, enc.encode(arg));
            break;
          case 'count':
            reply = await client.request(3, 2);
            break;
          case 'later':
            reply = await client.request(3, 3, enc.encode(arg));
            break;
          case 'join':
            reply = await client.request(4, 1, enc.encode(JSON.stringify(rest[1] ? { name: rest.slice(1).join(' ') } : {})), { obj: BigInt(rest[0] ?? '0') });
            break;
          case 'say':
            reply = await client.request(4, 3, enc.encode(JSON.stringify({ text: rest.slice(1).join(' ') })), { obj: BigInt(rest[0] ?? '0') });
            break;
          case 'leave':
            reply = await client.request(4, 2, undefined, { obj: BigInt(rest[0] ?? '0') });
            break;
          case 'hb': {
            const hb = await client.heartbeat();
            out(`heartbeat ${hb.code === 1 ? 'Succeeded' : `code ${hb.code}`}, server_time ${hb.serverTime}\n`);
            break;
          }
          case 'help':
            out(HELP + '\n');
            break;
          case 'quit':
          case 'exit':
            rl.close();
            return;
          default:
            out(`unknown command "${cmd}"; type "help"\n`);
        }
        if (reply) out(`reply ${describe(reply)}\n`);
      } catch (err) {
        out(`error ${(err as Error).message}\n`);
        if (client.closed) return;
      }
    }
  })();
  const reason = await Promise.race([closed, lines.then(() => null)]);
  if (reason) {
    out(`${closeText(reason)}\n`);
    rl.close();
    if (reason.kind === 'logout' && reason.code !== SCServerLogout_Code.Waiting) {
      throw new CommandFailed(`the gateway ended the session with ServerLogout ${reason.name}`, ExitCode.ClientFailed);
    }
    return;
  }
  await client.close();
  out('bye\n');
}

/** Registers `janus client`. */
export function register(program: Command): void {
  program
    .command('client')
    .description('Connect to a gateway as a player and exchange demo messages from the terminal (keys and a dev token from --keys).')
    .requiredOption('--uid <n>', 'the player uid (a dev token for it is issued from <keys>/token.key)')
    .option('--ws', 'use WebSocket (default TCP)')
    .option('--host <host>', 'gateway host', '127.0.0.1')
    .option('--port <port>', 'gateway port (default 17001 for TCP, 17002 for WebSocket)')
    .option('--keys <dir>', 'a janus keygen directory', DEMO_KEY_DIR)
    .option('--color <color>', 'the token color', '')
    .option('--server-id <id>', 'the token server id', '1')
    .action(async (o: ClientCommandOptions) => run(o, (s) => void process.stdout.write(s)));
}
