/**
 * Timers that work on both platforms: Node's timers are objects that can be unref'd (a
 * pending heartbeat or request timeout must not keep a Node process alive); a browser's are
 * numbers.
 */

/** What setTimeout returns on either platform. */
export type Timer = ReturnType<typeof setTimeout>;

/** setTimeout that does not keep a Node process alive (a plain setTimeout in browsers). */
export function unrefTimeout(fn: () => void, ms: number): Timer {
  const t = setTimeout(fn, ms);
  (t as { unref?: () => void }).unref?.();
  return t;
}
