/**
 * docs/errors.md lists every ErrorCode, once, in its table, and no code that does not exist
 * (STYLE.md practice 5).
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCode, JanusError, isJanusError } from '../src/index.js';

// Compiled to packages/protocol/dist/test/errors.test.js; the repository root is four up.
const here = dirname(fileURLToPath(import.meta.url));
const doc = readFileSync(join(here, '..', '..', '..', '..', 'docs', 'errors.md'), 'utf8');
const CODE_RE = /JANUS_ERR_[A-Z0-9_]+/g;

/** The code of each table row that starts with a backquoted code. */
function tableRows(): { code: string; key: string; row: string }[] {
  const rows: { code: string; key: string; row: string }[] = [];
  for (const line of doc.split('\n')) {
    const m = /^\|\s*`(JANUS_ERR_[A-Z0-9_]+)`\s*\|\s*`([A-Za-z0-9]+)`\s*\|/.exec(line);
    if (m) rows.push({ code: m[1]!, key: m[2]!, row: line });
  }
  return rows;
}

describe('docs/errors.md', () => {
  const values = Object.values(ErrorCode) as string[];

  it('has one table row for every ErrorCode value, naming its ErrorCode key', () => {
    const rows = tableRows();
    for (const [key, code] of Object.entries(ErrorCode)) {
      const mine = rows.filter((r) => r.code === code);
      assert.equal(mine.length, 1, `${code} must have exactly one row in docs/errors.md`);
      assert.equal(mine[0]!.key, key, `${code} is ErrorCode.${key}`);
      const cells = mine[0]!.row.split('|').map((c) => c.trim());
      // | code | key | meaning | section | wire |
      assert.ok(cells[3] && cells[4] && cells[5], `${code}: meaning, section and wire cells are filled`);
    }
  });

  it('names no code that does not exist', () => {
    const named = new Set(doc.match(CODE_RE) ?? []);
    assert.ok(named.size > 0);
    for (const code of named) assert.ok(values.includes(code), `docs/errors.md names ${code}, which is not in ErrorCode`);
    assert.equal(tableRows().length, values.length);
  });

  it('codes are unique, and JanusError carries them', () => {
    assert.equal(new Set(values).size, values.length);
    const e = new JanusError(ErrorCode.Logout, 'bye', { logoutCode: 2 });
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'JanusError');
    assert.equal(e.details.logoutCode, 2);
    assert.ok(isJanusError(e, ErrorCode.Logout));
    assert.ok(!isJanusError(e, ErrorCode.ConnectionClosed));
    assert.ok(!isJanusError(new Error('x')));
  });
});
