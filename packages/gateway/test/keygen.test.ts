/**
 * `janus keygen` (PROTOCOL.md 5): the keygen() function in-process, and the real CLI as a
 * child process with the keys checked by openssl.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ErrorCode, isJanusError, parseTokenKey } from '@janus/protocol';
import { keyFileNames, keygen } from '../src/cli/keygen.js';
import { runJanus } from './support/janus-cli.js';

const OPENSSL = '/usr/bin/openssl';
const execFileP = promisify(execFile);

const janus = runJanus;

/** Every file in `dir` with its mode and a hash of its contents. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const p = join(dir, name);
    const mode = ((await stat(p)).mode & 0o777).toString(8);
    out[name] = `${mode} ${createHash('sha256').update(await readFile(p)).digest('hex')}`;
  }
  return out;
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

const V1 = ['server-v1.key.pem', 'server-v1.pub.pem', 'client-v1.key.pem', 'client-v1.pub.pem', 'token.key'];

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'janus-keygen-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('keyFileNames', () => {
  it('names the five files of a version', () => {
    assert.deepEqual(keyFileNames(7), {
      serverKey: 'server-v7.key.pem',
      serverPub: 'server-v7.pub.pem',
      clientKey: 'client-v7.key.pem',
      clientPub: 'client-v7.pub.pem',
      tokenKey: 'token.key',
    });
  });

  it('rejects versions outside [1, 2^31 - 1]', () => {
    for (const v of [0, -1, 1.5, 2 ** 31, Number.NaN]) {
      assert.throws(() => keyFileNames(v), (e) => isJanusError(e, ErrorCode.ArgInvalid), String(v));
    }
    assert.equal(keyFileNames(2 ** 31 - 1).serverKey, 'server-v2147483647.key.pem');
  });
});

describe('keygen()', () => {
  it('creates a missing nested directory and writes the five files with private modes 0600', async () => {
    const dir = join(root, 'fn', 'nested');
    const { written } = await keygen({ outDir: dir });
    assert.deepEqual(written, V1.map((n) => join(dir, n)));
    assert.deepEqual((await readdir(dir)).sort(), [...V1].sort());
    for (const n of ['server-v1.key.pem', 'client-v1.key.pem', 'token.key']) assert.equal(await mode(join(dir, n)), 0o600, n);
    assert.match(await readFile(join(dir, 'token.key'), 'utf8'), /^[A-Za-z0-9+/]{43}=\n$/);
    assert.equal(parseTokenKey(await readFile(join(dir, 'token.key'), 'utf8')).length, 32);
    assert.match(await readFile(join(dir, 'server-v1.key.pem'), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(await readFile(join(dir, 'client-v1.pub.pem'), 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
    assert.notEqual(
      await readFile(join(dir, 'server-v1.key.pem'), 'utf8'),
      await readFile(join(dir, 'client-v1.key.pem'), 'utf8'),
    );
  });

  it('refuses to overwrite without force and writes nothing; force replaces with mode 0600 and keeps token.key', async () => {
    const dir = join(root, 'fn-force');
    await keygen({ outDir: dir, version: 3 });
    // Only one file of version 3 left: the refusal must still come before any write.
    await rm(join(dir, 'server-v3.key.pem'));
    await chmod(join(dir, 'client-v3.key.pem'), 0o644);
    const before = await snapshot(dir);
    await assert.rejects(keygen({ outDir: dir, version: 3 }), (e) => {
      assert.ok(isJanusError(e, ErrorCode.ArgInvalid));
      assert.match(e.message, /refusing to overwrite .*client-v3\.key\.pem/);
      return true;
    });
    assert.deepEqual(await snapshot(dir), before);

    const { written } = await keygen({ outDir: dir, version: 3, force: true });
    assert.equal(written.length, 4);
    const afterForce = await snapshot(dir);
    assert.equal(afterForce['token.key'], before['token.key']);
    assert.notEqual(afterForce['client-v3.pub.pem'], before['client-v3.pub.pem']);
    assert.equal(await mode(join(dir, 'client-v3.key.pem')), 0o600);
    assert.equal(await mode(join(dir, 'server-v3.key.pem')), 0o600);
  });

  it('rejects an outDir that is a file, and a bad version, before writing', async () => {
    const file = join(root, 'plain-file');
    await writeFile(file, 'x');
    await assert.rejects(keygen({ outDir: file }), (e) => isJanusError(e, ErrorCode.ArgInvalid) && /not a directory/.test(e.message));
    const dir = join(root, 'fn-badversion');
    await assert.rejects(keygen({ outDir: dir, version: 0 }), (e) => isJanusError(e, ErrorCode.ArgInvalid));
    await assert.rejects(stat(dir), /ENOENT/);
  });
});

describe('janus keygen (child process)', () => {
  it('writes keys that openssl loads, adds a second version beside the first, refuses to overwrite unless --force', async () => {
    const cwd = await mkdtemp(join(root, 'cli-'));
    const r1 = await janus(cwd, 'keygen', '--out', 'keys');
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r1.stderr, '');
    assert.deepEqual(
      r1.stdout.trim().split('\n'),
      V1.map((n) => `wrote ${join('keys', n)}`),
    );
    const dir = join(cwd, 'keys');
    assert.equal(await mode(dir), 0o700);
    for (const n of ['server-v1.key.pem', 'client-v1.key.pem', 'token.key']) assert.equal(await mode(join(dir, n)), 0o600, n);
    for (const n of ['server-v1.pub.pem', 'client-v1.pub.pem']) assert.equal((await mode(join(dir, n))) & 0o600, 0o600, n);

    for (const who of ['server', 'client']) {
      const key = join(dir, `${who}-v1.key.pem`);
      const pub = join(dir, `${who}-v1.pub.pem`);
      await execFileP(OPENSSL, ['pkey', '-in', key, '-noout']);
      await execFileP(OPENSSL, ['pkey', '-pubin', '-in', pub, '-noout']);
      const text = await execFileP(OPENSSL, ['pkey', '-in', key, '-noout', '-text']);
      assert.match(text.stdout, /ED25519 Private-Key/);
      const derived = await execFileP(OPENSSL, ['pkey', '-in', key, '-pubout']);
      assert.equal(derived.stdout, await readFile(pub, 'utf8'), `${who} public key matches its private key`);
    }

    const tokenKey = await readFile(join(dir, 'token.key'), 'utf8');
    const r2 = await janus(cwd, 'keygen', '--out', 'keys', '--version', '2');
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout.trim().split('\n').length, 4);
    assert.doesNotMatch(r2.stdout, /token\.key/);
    assert.equal(await readFile(join(dir, 'token.key'), 'utf8'), tokenKey);
    for (const n of ['server-v2.key.pem', 'client-v2.key.pem']) assert.equal(await mode(join(dir, n)), 0o600, n);
    await execFileP(OPENSSL, ['pkey', '-in', join(dir, 'server-v2.key.pem'), '-noout']);

    const before = await snapshot(dir);
    assert.equal(Object.keys(before).length, 9);
    for (const version of ['1', '2']) {
      const r = await janus(cwd, 'keygen', '--out', 'keys', '--version', version);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^janus: refusing to overwrite .*server-v${version}\\.key\\.pem.*--force.*\\n$`));
      assert.equal(r.stderr.split('\n').length, 2, 'one line');
    }
    assert.deepEqual(await snapshot(dir), before, 'a refusal changes nothing');

    const r3 = await janus(cwd, 'keygen', '--out', 'keys', '--force');
    assert.equal(r3.code, 0, r3.stderr);
    const afterForce = await snapshot(dir);
    assert.equal(afterForce['token.key'], before['token.key']);
    assert.equal(afterForce['server-v2.key.pem'], before['server-v2.key.pem']);
    assert.notEqual(afterForce['server-v1.key.pem'], before['server-v1.key.pem']);
    const derived = await execFileP(OPENSSL, ['pkey', '-in', join(dir, 'server-v1.key.pem'), '-pubout']);
    assert.equal(derived.stdout, await readFile(join(dir, 'server-v1.pub.pem'), 'utf8'));
  });

  it('exits 2 with one line for a bad --version or an --out that is a file', async () => {
    const cwd = await mkdtemp(join(root, 'cli-bad-'));
    await writeFile(join(cwd, 'file'), 'x');
    const cases: [string[], RegExp][] = [
      [['keygen', '--out', 'k', '--version', '0'], /^janus: --version must be an integer from 1 to 2147483647, got "0"\n$/],
      [['keygen', '--out', 'k', '--version', 'two'], /^janus: --version must be .*got "two"\n$/],
      [['keygen', '--out', 'file'], /^janus: file exists and is not a directory\n$/],
      [['keygen'], /^janus: required option '--out <dir>' not specified\n$/],
    ];
    const runs = await Promise.all(cases.map(([args]) => janus(cwd, ...args)));
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, cases[i]![0].join(' '));
      assert.match(r.stderr, cases[i]![1]);
    });
    assert.deepEqual((await readdir(cwd)).sort(), ['file']);
  });
});
