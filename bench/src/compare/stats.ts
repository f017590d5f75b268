/**
 * Small statistics of bench:compare: medians over rounds and the per-round ratios between
 * systems. Rounds run the systems back to back, so a ratio taken within one round compares
 * runs that shared the machine's state; the median of those ratios is what the report prints.
 */

/**
 * The median of `xs` (the mean of the two middle values for an even count).
 * @returns NaN for an empty list.
 */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Per-round ratios `a[i] / b[i]` for the rounds both lists have (index = round). A round
 * where either side is missing (undefined) or `b[i]` is 0 gives no ratio.
 */
export function roundRatios(a: readonly (number | undefined)[], b: readonly (number | undefined)[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined || !(y !== 0) || !Number.isFinite(x) || !Number.isFinite(y)) continue;
    out.push(x / y);
  }
  return out;
}

/**
 * The median of the per-round ratios a/b ({@link roundRatios}); NaN when no round has both.
 */
export function medianRatio(a: readonly (number | undefined)[], b: readonly (number | undefined)[]): number {
  return median(roundRatios(a, b));
}

/** The smallest and largest of `xs`; [NaN, NaN] when empty. */
export function range(xs: readonly number[]): [number, number] {
  if (xs.length === 0) return [NaN, NaN];
  return [Math.min(...xs), Math.max(...xs)];
}
