/**
 * Auth tokens, PROTOCOL.md section 6, with both crypto back ends, and against an independent
 * implementation of section 6 written here from node:crypto primitives only.
 */
import { strict as assert } from 'node:assert';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  AuthToken_Status,
  AuthTokenSchema,
  base64UrlDecodeStrict,
  base64UrlEncode,
  ErrorCode,
  isJanusError,
  openToken,
  parseTokenKey,
  sealToken,
  TOKEN_AAD,
  toHex,
  webCrypto,
  type AuthToken,
  type CryptoBackend,
  type ErrorCodeValue,
  type TokenFields,
} from '../src/index.js';
import { nodeCrypto } from '../src/node.js';

const is = (code: ErrorCodeValue) => (err: unknown) => isJanusError(err, code);
const NOW = 1_767_225_600;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const FIELDS: TokenFields = {
  rand: 'r4nd',
  color: 'blue',
  accountId: 10_001n,
  serverId: 7n,
  timeout: BigInt(NOW + 3600),
  location: 3,
  status: AuthToken_Status.GATE,
};

// ---------------------------------------------------------------------------------------
// An independent reader and writer of section 6: node:crypto and Buffer, nothing of src/.

const TOKEN_RE = /^[A-Za-z0-9_-]*$/;

function independentOpen(key: Buffer, token: string): AuthToken {
  assert.match(token, TOKEN_RE, 'a sealed token is unpadded base64url');
  const raw = Buffer.from(token, 'base64url');
  assert.equal(raw.toString('base64url'), token, 'the token is canonical base64url');
  const nonce = raw.subarray(0, 12);
  const tag = raw.subarray(raw.length - 16);
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(Buffer.from('janus/v1 token', 'ascii'));
  d.setAuthTag(tag);
  const plain = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
  return fromBinary(AuthTokenSchema, plain);
}

function independentSeal(key: Buffer, fields: TokenFields): string {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(Buffer.from('janus/v1 token', 'ascii'));
  const plain = toBinary(AuthTokenSchema, create(AuthTokenSchema, fields));
  return Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]).toString('base64url');
}

// ---------------------------------------------------------------------------------------

for (const crypto of [nodeCrypto, webCrypto] as CryptoBackend[]) {
  describe(`tokens with the ${crypto.name} back end`, () => {
    const key = crypto.randomBytes(32);
    const key2 = crypto.randomBytes(32);

    it('seal then open round-trips every field', async () => {
      const token = await sealToken(crypto, key, FIELDS);
      assert.match(token, TOKEN_RE);
      assert.deepEqual(await openToken(crypto, [key], token, NOW), FIELDS);
      // 12 nonce + 16 tag + the AuthToken bytes, base64url without padding
      const plainLength = toBinary(AuthTokenSchema, create(AuthTokenSchema, FIELDS)).length;
      assert.equal(token.length, Math.ceil(((12 + plainLength + 16) * 4) / 3));
    });

    it('two seals of the same fields differ (random nonce)', async () => {
      assert.notEqual(await sealToken(crypto, key, FIELDS), await sealToken(crypto, key, FIELDS));
    });

    it('opens under the second of several keys, and not without it', async () => {
      const token = await sealToken(crypto, key2, FIELDS);
      assert.deepEqual(await openToken(crypto, [key, key2], token, NOW), FIELDS);
      await assert.rejects(openToken(crypto, [key], token, NOW), is(ErrorCode.TokenMalformed));
      await assert.rejects(openToken(crypto, [], token, NOW), is(ErrorCode.TokenMalformed));
    });

    it('timeout <= now: JANUS_ERR_TOKEN_EXPIRED; timeout = now + 1 opens', async () => {
      for (const timeout of [BigInt(NOW), BigInt(NOW - 1), 0n, -5n]) {
        const token = await sealToken(crypto, key, { ...FIELDS, timeout });
        await assert.rejects(openToken(crypto, [key], token, NOW), is(ErrorCode.TokenExpired), `timeout ${timeout}`);
      }
      const token = await sealToken(crypto, key, { ...FIELDS, timeout: BigInt(NOW + 1) });
      assert.equal((await openToken(crypto, [key], token, NOW)).timeout, BigInt(NOW + 1));
      // now in fractional seconds: the whole second counts
      await assert.rejects(openToken(crypto, [key], token, NOW + 1.5), is(ErrorCode.TokenExpired));
    });

    it('account_id 0 or negative: JANUS_ERR_TOKEN_INVALID', async () => {
      for (const accountId of [0n, -1n, -(2n ** 63n)]) {
        const token = await sealToken(crypto, key, { ...FIELDS, accountId });
        await assert.rejects(openToken(crypto, [key], token, NOW), is(ErrorCode.TokenInvalid), `account_id ${accountId}`);
      }
    });

    it('a wrong key: JANUS_ERR_TOKEN_MALFORMED', async () => {
      const token = await sealToken(crypto, key, FIELDS);
      await assert.rejects(openToken(crypto, [key2], token, NOW), is(ErrorCode.TokenMalformed));
    });

    it('every truncation: JANUS_ERR_TOKEN_MALFORMED', async () => {
      const token = await sealToken(crypto, key, FIELDS);
      for (let n = 0; n < token.length; n++) {
        await assert.rejects(openToken(crypto, [key], token.slice(0, n), NOW), is(ErrorCode.TokenMalformed), `first ${n} chars`);
      }
    });

    it('any changed character: JANUS_ERR_TOKEN_MALFORMED unless only unused bits changed', async () => {
      const token = await sealToken(crypto, key, FIELDS);
      const original = toHex(Buffer.from(token, 'base64url'));
      // node:crypto is fast enough to try every other letter; WebCrypto tries a few per position.
      const tries = crypto.synchronous ? ALPHABET.length : 3;
      let sameBytes = 0;
      for (let i = 0; i < token.length; i++) {
        const at = ALPHABET.indexOf(token[i]!);
        for (let k = 1; k <= tries; k++) {
          const c = ALPHABET[(at + k * 7) % ALPHABET.length]!;
          if (c === token[i]) continue;
          const changed = token.slice(0, i) + c + token.slice(i + 1);
          if (toHex(Buffer.from(changed, 'base64url')) === original) {
            // Only the unused low bits of the last character differ (PROTOCOL.md 6: ignored).
            assert.equal(i, token.length - 1);
            assert.deepEqual(await openToken(crypto, [key], changed, NOW), FIELDS);
            sameBytes++;
            continue;
          }
          await assert.rejects(openToken(crypto, [key], changed, NOW), is(ErrorCode.TokenMalformed), `char ${i} -> ${c}`);
        }
      }
      if (crypto.synchronous) {
        // Every other letter was tried at the last position: 2^unused - 1 of them keep the bytes.
        const unusedBits = [0, 4, 2][Buffer.from(token, 'base64url').length % 3]!;
        assert.equal(sameBytes, 2 ** unusedBits - 1);
      }
    });

    it('characters outside base64url, whitespace and bad padding: JANUS_ERR_TOKEN_MALFORMED', async () => {
      const token = await sealToken(crypto, key, FIELDS);
      const mid = token.length >> 1;
      const bad = [
        token.slice(0, mid) + '+' + token.slice(mid + 1),
        token.slice(0, mid) + '/' + token.slice(mid + 1),
        token.slice(0, mid) + '=' + token.slice(mid + 1),
        token.slice(0, mid) + 'é' + token.slice(mid + 1),
        ` ${token}`,
        `${token}\n`,
        `${token}====`,
        `${token}${'='.repeat(((4 - (token.length % 4)) % 4) + 1)}`,
        '',
        'not a token',
      ];
      for (const b of bad) await assert.rejects(openToken(crypto, [key], b, NOW), is(ErrorCode.TokenMalformed), JSON.stringify(b));
    });

    it('the padding that completes the last group of four is accepted', async () => {
      const token = await sealToken(crypto, key, FIELDS);
      const padded = token + '='.repeat((4 - (token.length % 4)) % 4);
      assert.deepEqual(await openToken(crypto, [key], padded, NOW), FIELDS);
    });

    it('an authenticated plaintext that is not an AuthToken: JANUS_ERR_TOKEN_MALFORMED', async () => {
      const nonce = crypto.randomBytes(12);
      const sealed = await (await crypto.aeadKey(key)).seal(nonce, TOKEN_AAD, Uint8Array.from([0xff, 0xff, 0xff]));
      const token = base64UrlEncode(Uint8Array.from([...nonce, ...sealed]));
      await assert.rejects(openToken(crypto, [key], token, NOW), is(ErrorCode.TokenMalformed));
    });

    it('a token sealed with another AAD does not open', async () => {
      const nonce = crypto.randomBytes(12);
      const plain = toBinary(AuthTokenSchema, create(AuthTokenSchema, FIELDS));
      const sealed = await (await crypto.aeadKey(key)).seal(nonce, new Uint8Array(0), plain);
      const token = base64UrlEncode(Uint8Array.from([...nonce, ...sealed]));
      await assert.rejects(openToken(crypto, [key], token, NOW), is(ErrorCode.TokenMalformed));
    });

    it('opens with an independent implementation of section 6, and opens its tokens', async () => {
      for (const fields of [FIELDS, { ...FIELDS, color: '', rand: '', location: -2, status: AuthToken_Status.SVC, accountId: 2n ** 63n - 1n }]) {
        const token = await sealToken(crypto, key, fields);
        const t = independentOpen(Buffer.from(key), token);
        assert.deepEqual(
          { rand: t.rand, color: t.color, accountId: t.accountId, serverId: t.serverId, timeout: t.timeout, location: t.location, status: t.status },
          fields,
        );
        assert.deepEqual(await openToken(crypto, [key], independentSeal(Buffer.from(key), fields), NOW), fields);
      }
    });
  });
}

describe('base64url (PROTOCOL.md 6)', () => {
  it('encodes like Buffer and decodes strictly, for every length 0..40', () => {
    for (let n = 0; n <= 40; n++) {
      const b = randomBytes(n);
      const s = base64UrlEncode(b);
      assert.equal(s, b.toString('base64url'));
      assert.equal(toHex(base64UrlDecodeStrict(s)), b.toString('hex'));
    }
  });

  it('rejects a length of 1 mod 4', () => {
    assert.throws(() => base64UrlDecodeStrict('AAAAA'), is(ErrorCode.TokenMalformed));
  });
});

describe('parseTokenKey (PROTOCOL.md 5)', () => {
  it('accepts standard base64 of 32 bytes, with surrounding whitespace of a key file', () => {
    const key = randomBytes(32);
    const b64 = key.toString('base64');
    assert.equal(toHex(parseTokenKey(b64)), key.toString('hex'));
    assert.equal(toHex(parseTokenKey(`${b64}\n`)), key.toString('hex'));
    assert.equal(toHex(parseTokenKey(`  ${b64}\r\n`)), key.toString('hex'));
  });

  it('rejects other lengths, base64url, missing padding and junk', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xf8 + (i % 8)));
    const b64 = key.toString('base64');
    assert.ok(/[+/]/.test(b64), 'the sample key has + or / in its base64');
    const bad = [
      randomBytes(31).toString('base64'),
      randomBytes(33).toString('base64'),
      randomBytes(64).toString('base64'),
      key.toString('base64url'),
      b64.slice(0, -1),
      `${b64}=`,
      `${b64.slice(0, 20)} ${b64.slice(20)}`,
      '',
      'x'.repeat(44),
    ];
    for (const b of bad) assert.throws(() => parseTokenKey(b), is(ErrorCode.KeyInvalid), JSON.stringify(b));
  });
});
