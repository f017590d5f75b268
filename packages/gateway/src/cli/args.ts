/**
 * Parsers for command-line argument text. Each raises a JanusError that names the flag and
 * quotes what was given, so the CLI prints one line such as
 * `--uid must be a positive integer, got "abc"`.
 */
import { ErrorCode, JanusError } from '@janus/protocol';

/** The largest int64, 2^63 - 1: the upper bound of AuthToken's int64 fields (PROTOCOL.md 6). */
export const INT64_MAX = (1n << 63n) - 1n;

/** How a numeric flag is checked: its name for messages, its bounds, and how to describe them. */
export interface IntegerRule<T> {
  /** The flag as the user types it, e.g. `--uid`. */
  flag: string;
  /** Smallest accepted value, inclusive. */
  min: T;
  /** Largest accepted value, inclusive. */
  max: T;
  /** What the flag must be, e.g. `a positive integer`; completes "`flag` must be ...". */
  what: string;
}

const DECIMAL = /^-?[0-9]+$/;

function invalid(rule: IntegerRule<unknown>, text: string): JanusError {
  return new JanusError(ErrorCode.ArgInvalid, `${rule.flag} must be ${rule.what}, got ${JSON.stringify(text)}`, {
    flag: rule.flag,
  });
}

/**
 * Parses a decimal integer of any size (no sign other than a leading `-`, no spaces, no
 * exponent) and checks it against `rule`; int64 ids stay exact because nothing passes
 * through a JavaScript number.
 * @throws JanusError JANUS_ERR_ARG_INVALID when `text` is not decimal or is out of range.
 */
export function parseBigIntArg(text: string, rule: IntegerRule<bigint>): bigint {
  if (!DECIMAL.test(text)) throw invalid(rule, text);
  const v = BigInt(text);
  if (v < rule.min || v > rule.max) throw invalid(rule, text);
  return v;
}

/**
 * Parses a decimal integer that must lie in [`rule.min`, `rule.max`] (both safe integers).
 * @throws JanusError JANUS_ERR_ARG_INVALID when `text` is not decimal or is out of range.
 */
export function parseIntArg(text: string, rule: IntegerRule<number>): number {
  return Number(parseBigIntArg(text, { ...rule, min: BigInt(rule.min), max: BigInt(rule.max) }));
}

/**
 * A commander `argParser` for an option that may be repeated: collects every value in order.
 */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
