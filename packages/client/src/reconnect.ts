/**
 * The reconnect policy (docs/protocol.md, ServerLogout codes, *Advice* column): which ends
 * are final, and how long to wait before each attempt. Pure functions, no timers, so the
 * client owns the only clock.
 */
import { SCServerLogout_Code } from '@janus/protocol';
import type { ReconnectOptions } from './options.js';

/**
 * ServerLogout codes after which the client never reconnects on its own: retrying with
 * the same inputs cannot succeed (Unauthorized, TokenExpired, BadVersion) or would fight
 * the decision of another party (ConflictingLogin: two clients kicking each other forever;
 * AdminKickOut; Banned).
 */
export const FINAL_LOGOUT_CODES: ReadonlySet<SCServerLogout_Code> = new Set([
  SCServerLogout_Code.Unauthorized,
  SCServerLogout_Code.ConflictingLogin,
  SCServerLogout_Code.AdminKickOut,
  SCServerLogout_Code.Banned,
  SCServerLogout_Code.TokenExpired,
  SCServerLogout_Code.BadVersion,
]);

/** True when a ServerLogout with `code` ends the client for good (see {@link FINAL_LOGOUT_CODES}). */
export function isFinalLogout(code: SCServerLogout_Code): boolean {
  return FINAL_LOGOUT_CODES.has(code);
}

/**
 * The delay before reconnect attempt `attempt` (1-based), in ms: exponential
 * (`minDelayMs * 2^(attempt-1)`, capped at `maxDelayMs`) with ±50 % jitter so that many
 * clients dropped at once do not come back at once, then clamped to [minDelayMs, maxDelayMs].
 * After RateLimited the gateway asked for less traffic: every attempt waits `maxDelayMs`.
 * @param random a source in [0, 1), default Math.random.
 */
export function reconnectDelay(
  policy: Readonly<ReconnectOptions>,
  attempt: number,
  lastLogout?: SCServerLogout_Code,
  random: () => number = Math.random,
): number {
  if (lastLogout === SCServerLogout_Code.RateLimited) return policy.maxDelayMs;
  const exp = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.min(attempt - 1, 30));
  const jittered = Math.round(exp * (0.5 + random()));
  return Math.min(policy.maxDelayMs, Math.max(policy.minDelayMs, jittered));
}
