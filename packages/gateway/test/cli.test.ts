/**
 * The `janus` command line as a child process: token issue/inspect (PROTOCOL.md 6) checked
 * against an independent token opener, exit codes, one-line errors, and help.
 */
import { strict as assert } from 'node:assert';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { AuthTokenSchema, AuthToken_Status, sealToken, type AuthToken } from '@janus/protocol';
import { nodeCrypto } from '@janus/protocol/node';
import { runCli } from '../src/cli/program.js';
import { runJanus, type Run } from './support/janus-cli.js';

/** Runs `node bin/janus.js ...args` in the temp dir and collects its output. */
function janus(...args: string[]): Promise<Run> {
  return runJanus(dir, ...args);
}

/** Runs `janus ...args` in-process through runCli, capturing what it prints. */
async function inproc(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

/** A path in the temp dir, for in-process runs (whose cwd is not the temp dir). */
function at(name: string): string {
  return join(dir, name);
}

/** The last line of standard output. */
function lastLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines[lines.length - 1]!;
}

/** Asserts `r` failed with `code` and exactly one stderr line matching `re`, with no stack trace. */
function assertOneLineError(r: Run, code: number, re: RegExp, label: string): void {
  assert.equal(r.code, code, `${label}: exit code (stderr ${JSON.stringify(r.stderr)})`);
  assert.ok(r.stderr.endsWith('\n'), `${label}: stderr ends with a newline`);
  assert.equal(r.stderr.split('\n').length, 2, `${label}: exactly one stderr line: ${JSON.stringify(r.stderr)}`);
  assert.doesNotMatch(r.stderr, /^\s*at /m, `${label}: no stack trace`);
  assert.match(r.stderr, /^janus: /, label);
  assert.match(r.stderr, re, label);
}

/**
 * Opens a token as PROTOCOL.md section 6 says, independently of @janus/protocol's opener:
 * strict base64url, nonce(12) || ciphertext || tag(16), AES-256-GCM with aad "janus/v1 token".
 */
function openIndependently(token: string, key: Buffer): AuthToken {
  assert.match(token, /^[A-Za-z0-9_-]*={0,2}$/, 'strict base64url alphabet');
  const raw = Buffer.from(token, 'base64url');
  assert.ok(raw.length >= 28);
  const nonce = raw.subarray(0, 12);
  const tag = raw.subarray(raw.length - 16);
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(Buffer.from('janus/v1 token', 'utf8'));
  d.setAuthTag(tag);
  const plain = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
  return fromBinary(AuthTokenSchema, plain);
}

let dir: string;
const key = randomBytes(32);
const otherKey = randomBytes(32);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'janus-cli-'));
  await writeFile(join(dir, 'token.key'), `${key.toString('base64')}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'other.key'), `${otherKey.toString('base64')}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'bad.key'), 'not a key\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('janus token issue', () => {
  it('prints a token on its last stdout line that an independent opener accepts, with every field given', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const r = await janus(
      'token', 'issue', '--token-key', 'token.key', '--uid', '9223372036854775807', '--color', 'blue',
      '--server-id', '12', '--ttl', '3600', '--status', 'admin', '--location', '-7',
    );
    const t1 = Math.floor(Date.now() / 1000);
    assert.equal(r.code, 0, r.stderr);
    const token = lastLine(r.stdout);
    assert.equal(r.stdout, `${token}\n`, 'stdout is the token alone');
    const t = openIndependently(token, key);
    assert.equal(t.accountId, 9223372036854775807n);
    assert.equal(t.color, 'blue');
    assert.equal(t.serverId, 12n);
    assert.equal(t.status, AuthToken_Status.ADMIN);
    assert.equal(t.location, -7);
    assert.match(t.rand, /^[0-9a-f]{16}$/);
    assert.ok(t.timeout >= BigInt(t0 + 3600) && t.timeout <= BigInt(t1 + 3600), `timeout ${t.timeout}`);
    assert.match(r.stderr, /^account_id \(uid\): +9223372036854775807$/m);
    assert.match(r.stderr, /^status: +ADMIN \(3\)$/m);
  });

  it('applies the defaults: ttl 86400 s, color "", server_id 0, status GATE, location 0, fresh rand', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const [a, b] = await Promise.all([
      janus('token', 'issue', '--token-key', 'token.key', '--uid', '42'),
      inproc('token', 'issue', '--token-key', at('token.key'), '--uid', '42'),
    ]);
    const t1 = Math.floor(Date.now() / 1000);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const t = openIndependently(lastLine(a.stdout), key);
    assert.equal(t.accountId, 42n);
    assert.equal(t.color, '');
    assert.equal(t.serverId, 0n);
    assert.equal(t.status, AuthToken_Status.GATE);
    assert.equal(t.location, 0);
    assert.ok(t.timeout >= BigInt(t0 + 86400) && t.timeout <= BigInt(t1 + 86400), `timeout ${t.timeout}`);
    const u = openIndependently(lastLine(b.stdout), key);
    assert.equal(u.accountId, 42n);
    assert.notEqual(u.rand, t.rand);
    assert.notEqual(lastLine(a.stdout), lastLine(b.stdout));
  });
});

describe('janus token inspect', () => {
  it('round-trips an issued token and prints every field', async () => {
    const issued = await janus(
      'token', 'issue', '--token-key', 'token.key', '--uid', '1001', '--color', 'red', '--server-id', '3',
      '--status', 'svc', '--location', '9',
    );
    assert.equal(issued.code, 0, issued.stderr);
    const token = lastLine(issued.stdout);
    const rand = openIndependently(token, key).rand;
    const r = await janus('token', 'inspect', '--token-key', 'token.key', '--', token);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^account_id \(uid\): +1001$/m);
    assert.match(r.stdout, /^server_id \(sid\): +3$/m);
    assert.match(r.stdout, /^color: +"red"$/m);
    assert.match(r.stdout, /^status: +SVC \(4\)$/m);
    assert.match(r.stdout, /^location: +9$/m);
    assert.match(r.stdout, new RegExp(`^rand: +"${rand}"$`, 'm'));
    const timeout = openIndependently(token, key).timeout;
    assert.match(r.stdout, new RegExp(`^timeout: +${timeout} \\(${new Date(Number(timeout) * 1000).toISOString()}\\)$`, 'm'));
    const left = Number(/^seconds left: +(\d+)$/m.exec(r.stdout)?.[1]);
    assert.ok(left > 86390 && left <= 86400, `seconds left ${left}`);
    assert.match(r.stdout, /^token key: +token\.key$/m);
  });

  it('takes a token that starts with "-" as the token, with or without --', async () => {
    let token = '';
    while (!/^-[^h-]/.test(token)) token = await sealToken(nodeCrypto, key, { accountId: 11n, timeout: BigInt(Math.floor(Date.now() / 1000) + 60) });
    for (const args of [[token], ['--', token]]) {
      const r = await inproc('token', 'inspect', '--token-key', at('token.key'), ...args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^account_id \(uid\): +11$/m);
    }
  });

  it('tries every --token-key in order (rotation) and names the one that opened it', async () => {
    const token = await sealToken(nodeCrypto, key, { accountId: 7n, timeout: BigInt(Math.floor(Date.now() / 1000) + 60) });
    const r = await inproc('token', 'inspect', '--token-key', at('other.key'), '--token-key', at('token.key'), '--', token);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^account_id \(uid\): +7$/m);
    assert.match(r.stdout, new RegExp(`^token key: +${at('token.key')}$`, 'm'));
  });

  it('exits 1 for an expired token (issued with --ttl -10), still printing its fields', async () => {
    const issued = await inproc('token', 'issue', '--token-key', at('token.key'), '--uid', '8', '--ttl', '-10');
    assert.equal(issued.code, 0, issued.stderr);
    const r = await janus('token', 'inspect', '--token-key', 'token.key', '--', lastLine(issued.stdout));
    assertOneLineError(r, 1, /^janus: token expired at \d+ \(.*Z\), (10|11|12) s ago\n$/, 'expired');
    assert.match(r.stdout, /^account_id \(uid\): +8$/m);
    assert.match(r.stdout, /^seconds left: +-(10|11|12) \(expired/m);
  });

  it('exits 1 for a wrong key', async () => {
    const token = await sealToken(nodeCrypto, key, { accountId: 5n, timeout: BigInt(Math.floor(Date.now() / 1000) + 600) });
    const r = await janus('token', 'inspect', '--token-key', 'other.key', '--', token);
    assertOneLineError(r, 1, /^janus: token does not authenticate under the token key \(wrong key, or the token was altered\)\n$/, 'wrong key');
    assert.equal(r.stdout, '');
  });

  it('exits 1 for wrong keys, account_id <= 0, and a token that does not decode (in-process)', async () => {
    const future = BigInt(Math.floor(Date.now() / 1000) + 600);
    const good = await sealToken(nodeCrypto, key, { accountId: 5n, timeout: future });
    const zero = await sealToken(nodeCrypto, key, { accountId: 0n, timeout: future });
    const negative = await sealToken(nodeCrypto, key, { accountId: -3n, timeout: future });
    const badChar = `${good.slice(0, 5)}+${good.slice(6)}`;
    const raw = Buffer.from(good, 'base64url');
    raw[raw.length - 1]! ^= 1;
    const altered = raw.toString('base64url');
    const cases: [string[], RegExp, string][] = [
      [['--token-key', at('other.key'), '--token-key', at('other.key'), good], /does not authenticate under any of the 2 token keys/, 'wrong keys'],
      [['--token-key', at('token.key'), altered], /does not authenticate under the token key/, 'altered tag'],
      [['--token-key', at('token.key'), zero], /^janus: token authenticates but its account_id is <= 0\n$/, 'account_id 0'],
      [['--token-key', at('token.key'), negative], /account_id is <= 0/, 'account_id -3'],
      [['--token-key', at('token.key'), badChar], /^janus: token does not decode: not base64url: bad character\n$/, 'bad character'],
      [['--token-key', at('token.key'), ` ${good}`], /^janus: token does not decode/, 'whitespace'],
      [['--token-key', at('token.key'), 'AAAA'], /^janus: token does not decode: 3 bytes, at least 28 needed\n$/, 'too short'],
    ];
    for (const [args, re, label] of cases) {
      const r = await inproc('token', 'inspect', ...args.slice(0, -1), '--', args[args.length - 1]!);
      assertOneLineError(r, 1, re, label);
      assert.equal(r.stdout, '', label);
    }
  });
});

describe('janus usage errors', () => {
  it('exit 2 with exactly one stderr line and no stack trace (child process)', async () => {
    const cases: [string[], RegExp, string][] = [
      [['token', 'issue', '--token-key', 'token.key'], /^janus: required option '--uid <n>' not specified\n$/, 'missing --uid'],
      [['token', 'issue', '--token-key', 'token.key', '--uid', 'abc'], /^janus: --uid must be a positive integer \(at most 2\^63-1\), got "abc"\n$/, '--uid abc'],
      [['token', 'issue', '--token-key', 'no/such.key', '--uid', '1'], /^janus: cannot read token key file no\/such\.key: ENOENT\n$/, 'unreadable'],
      [['token', 'issue', '--token-key', 'token.key', '--uid', '1', '--nope'], /^janus: unknown option '--nope'\n$/, 'unknown option'],
      [['frobnicate'], /^janus: unknown command 'frobnicate'\n$/, 'unknown command'],
    ];
    const runs = await Promise.all(cases.map(([args]) => janus(...args)));
    runs.forEach((r, i) => {
      assertOneLineError(r, 2, cases[i]![1], cases[i]![2]);
      assert.equal(r.stdout, '', cases[i]![2]);
    });
  });

  it('exit 2 with exactly one stderr line for every other bad argument (in-process)', async () => {
    const key = at('token.key');
    const cases: [string[], RegExp, string][] = [
      [['token', 'issue', '--token-key', key, '--uid', '0'], /--uid must be a positive integer.*got "0"\n$/, '--uid 0'],
      [['token', 'issue', '--token-key', key, '--uid', '-1'], /--uid must be a positive integer.*got "-1"\n$/, '--uid -1'],
      [['token', 'issue', '--token-key', key, '--uid', '9223372036854775808'], /--uid must be .*got "9223372036854775808"/, '--uid 2^63'],
      [['token', 'issue', '--token-key', key, '--uid', '1e3'], /--uid must be/, '--uid 1e3'],
      [['token', 'issue', '--token-key', key, '--uid', '1', '--ttl', '1.5'], /--ttl must be an integer number of seconds, got "1.5"/, '--ttl 1.5'],
      [['token', 'issue', '--token-key', key, '--uid', '1', '--ttl'], /option '--ttl <seconds>' argument missing/, '--ttl missing'],
      [['token', 'issue', '--token-key', key, '--uid', '1', '--location', '2147483648'], /--location must be a 32-bit integer/, '--location'],
      [['token', 'issue', '--token-key', key, '--uid', '1', '--server-id', '-1'], /--server-id must be a non-negative integer/, '--server-id'],
      [['token', 'issue', '--token-key', key, '--uid', '1', '--status', 'root'], /--status <status>' argument 'root' is invalid. Allowed choices are gate, dev, admin, svc/, '--status'],
      [['token', 'issue', '--token-key', at('bad.key'), '--uid', '1'], /^janus: token key file .*bad\.key does not hold standard base64 of 32 bytes\n$/, 'bad key'],
      [['token', 'issue', '--token-key', dir, '--uid', '1'], /^janus: cannot read token key file .*: EISDIR\n$/, 'directory as key'],
      [['token', 'issue', '--token-key', key, '--token-key', at('other.key'), '--uid', '1'], /given 2 times/, 'two keys'],
      [['token', 'issue', '--uid', '1'], /required option '--token-key <file>' not specified/, 'missing --token-key'],
      [['token', 'issue', '--token-key', key, '--uid', '1', '--colour', 'x'], /unknown option '--colour' \(Did you mean --color\?\)\n$/, 'suggestion'],
      [['token', 'issue', '--token-key', key, '--uid', '1', 'extra'], /too many arguments/, 'extra argument'],
      [['token', 'inspect', '--token-key', key], /^janus: missing required argument 'token'\n$/, 'missing token'],
      [['token', 'inspect', '--token-key', at('missing.key'), 'AAAA'], /cannot read token key file .*missing\.key: ENOENT/, 'inspect unreadable'],
      [['token', 'frob'], /unknown command 'frob'/, 'unknown subcommand'],
    ];
    for (const [args, re, label] of cases) {
      const r = await inproc(...args);
      assertOneLineError(r, 2, re, label);
      assert.equal(r.stdout, '', label);
    }
  });

  it('exit 2 and the help on stderr when no command is given', async () => {
    const [top, token] = await Promise.all([janus(), inproc('token')]);
    assert.equal(top.code, 2);
    assert.match(top.stderr, /^Usage: janus \[options\] \[command\]/);
    assert.equal(token.code, 2);
    assert.match(token.stderr, /^Usage: janus token /);
  });
});

describe('janus --help', () => {
  it('describes every command and option, with defaults and units', async () => {
    const [top, issue, keygen, token, inspect, helpCmd] = await Promise.all([
      janus('--help'),
      janus('token', 'issue', '--help'),
      inproc('keygen', '--help'),
      inproc('token', '--help'),
      inproc('token', 'inspect', '-h'),
      inproc('help', 'keygen'),
    ]);
    for (const r of [top, issue, keygen, token, inspect, helpCmd]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^Usage: janus/);
    }
    assert.equal(helpCmd.stdout, keygen.stdout);
    assert.match(top.stdout, /keygen .*key pairs/);
    assert.match(top.stdout, /token .*tokens/);
    assert.match(top.stdout, /Exit codes: 0 ok; 1 .*\n2 usage error/);
    assert.match(token.stdout, /issue .*\n.*inspect /);
    assert.match(keygen.stdout, /--out <dir> +key directory/);
    assert.match(keygen.stdout, /--version <n> +key version N.*\(default: 1\)/);
    assert.match(keygen.stdout, /--force +replace existing/);
    assert.match(keygen.stdout, /server-vN\.key\.pem.*mode 0600/);
    assert.match(keygen.stdout, /token\.key +32 random bytes/);
    for (const flag of ['--token-key <file>', '--uid <n>', '--color <c>', '--server-id <s>', '--ttl <seconds>', '--status <status>', '--location <l>']) {
      assert.match(issue.stdout, new RegExp(`${flag.replace(/[-<>]/g, '\\$&')} +\\S`), flag);
    }
    assert.match(issue.stdout, /lifetime in seconds[^]*default: 86400/);
    assert.match(issue.stdout, /default: gate = 1/);
    assert.match(issue.stdout, /default: "", the empty/);
    assert.match(inspect.stdout, /Usage: janus token inspect \[options\] <token>/);
    assert.match(inspect.stdout, /repeat to try several keys/);
    assert.match(inspect.stdout, /Exit code 1/);
  });

  it('keeps its exit codes when the embedding process has set process.exitCode (in-process)', async () => {
    const saved = process.exitCode;
    process.exitCode = 1;
    try {
      const [help, missing] = [await inproc('help', 'keygen'), await inproc('token')];
      assert.equal(help.code, 0);
      assert.match(help.stdout, /^Usage: janus keygen/);
      assert.equal(missing.code, 2);
    } finally {
      process.exitCode = saved;
    }
  });
});
