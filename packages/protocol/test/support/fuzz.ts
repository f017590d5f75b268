/**
 * Fuzz-target helpers (docs/reliability.md "Fuzzing"). Every fuzz target is a fast-check
 * property whose run count comes from {@link fuzzRuns}: CI-sized inside `npm test`, and
 * `FUZZ_RUNS=N` (as `npm run fuzz` sets it) for the long run.
 */
import { strict as assert } from 'node:assert';
import { isJanusError, type ErrorCodeValue } from '../../src/index.js';

/**
 * Runs of one fuzz target: `FUZZ_RUNS` (a positive integer) when set, else `ciRuns`.
 * @param ciRuns the CI-sized default, chosen so the target takes a few seconds at most.
 */
export function fuzzRuns(ciRuns: number): number {
  const env = process.env.FUZZ_RUNS;
  if (env === undefined || env === '') return ciRuns;
  const n = Number(env);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${JSON.stringify(env)}`);
  return n;
}

/** Asserts that `err` is a JanusError whose code is one of `codes` (a typed rejection). */
export function assertTyped(err: unknown, codes: readonly ErrorCodeValue[], what: string): void {
  assert.ok(isJanusError(err) && codes.includes(err.code), `${what}: expected a JanusError ${codes.join(' | ')}, got ${err instanceof Error ? `${err.name} ${(err as { code?: unknown }).code ?? ''}: ${err.message}` : String(err)}`);
}

/** Calls `fn`: returns its value, or undefined after a typed rejection (one of `codes`); anything else fails. */
export function typedOrValue<T>(fn: () => T, codes: readonly ErrorCodeValue[], what: string): T | undefined {
  try {
    return fn();
  } catch (err) {
    assertTyped(err, codes, what);
    return undefined;
  }
}

/** The async {@link typedOrValue}. */
export async function typedOrValueAsync<T>(fn: () => Promise<T>, codes: readonly ErrorCodeValue[], what: string): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    assertTyped(err, codes, what);
    return undefined;
  }
}
