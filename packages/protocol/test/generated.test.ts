/**
 * The committed generated code (packages/protocol/src/gen) is exactly what the pinned
 * generator makes of packages/protocol/proto: regenerating gives no diff
 * (docs/decisions/0001-protobuf-generator.md). Runs buf offline into a temporary directory.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

// Compiled to packages/protocol/dist/test/generated.test.js.
const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, '..', '..');
const repoRoot = join(pkgDir, '..', '..');
const bin = (name: string) => join(repoRoot, 'node_modules', '.bin', name);

/** Every file under `dir`, as paths relative to it, sorted. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

describe('generated code (packages/protocol/src/gen)', () => {
  it('regenerating with buf and protoc-gen-es gives no diff', async (t) => {
    assert.ok(existsSync(bin('buf')), `no ${bin('buf')}: run npm ci`);
    assert.ok(existsSync(bin('protoc-gen-es')), `no ${bin('protoc-gen-es')}: run npm ci`);
    const tmp = mkdtempSync(join(tmpdir(), 'janus-gen-'));
    t.after(() => rmSync(tmp, { recursive: true, force: true }));
    const out = join(tmp, 'out');
    const template = join(tmp, 'buf.gen.yaml');
    // The same plugin options as packages/protocol/buf.gen.yaml, written to a temporary dir.
    writeFileSync(
      template,
      [
        'version: v2',
        'clean: true',
        'plugins:',
        `  - local: ${JSON.stringify(bin('protoc-gen-es'))}`,
        `    out: ${JSON.stringify(out)}`,
        '    opt:',
        '      - target=ts',
        '      - import_extension=js',
        '',
      ].join('\n'),
    );
    await run(bin('buf'), ['generate', '--template', template], { cwd: pkgDir, timeout: 60_000 });

    const committedDir = join(pkgDir, 'src', 'gen');
    const committed = listFiles(committedDir);
    const generated = listFiles(out);
    assert.ok(generated.length > 0, 'buf generated nothing');
    assert.deepEqual(committed, generated, 'a generated file is missing from src/gen, or src/gen holds an extra one: run npm run generate');
    for (const f of generated) {
      assert.equal(readFileSync(join(committedDir, f), 'utf8'), readFileSync(join(out, f), 'utf8'), `src/gen/${f} differs from its regeneration: run npm run generate`);
    }
  });

  it('the committed template uses the same plugin options as the check above', () => {
    const text = readFileSync(join(pkgDir, 'buf.gen.yaml'), 'utf8');
    assert.match(text, /local: protoc-gen-es/);
    assert.match(text, /out: src\/gen/);
    assert.match(text, /- target=ts/);
    assert.match(text, /- import_extension=js/);
  });
});
