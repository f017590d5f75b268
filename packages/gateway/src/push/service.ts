/**
 * Push delivery on one gateway (PROTOCOL.md 11): to a uid's session here, to several uids,
 * to every session of a color and/or sid, and kicks. The fronts (the cluster push channel
 * today; the gRPC PushService and the HTTP push routes) decode their requests and call this.
 * A push never reaches a session before its SCAuth: a session still logging in counts as
 * not pushed. Kicks reach a session in any state.
 */
import { checkKickCode, ErrorCode, JanusError, makePacket, MOD_SYSTEM, SCServerLogout_Code, type Packet, type PushBody } from '@janus/protocol';
import type { SessionHolder, SessionRegistry } from '../sessions.js';

/** What push delivery needs of a session. */
export interface PushTarget extends SessionHolder {
  readonly sid: bigint;
  readonly color: string;
  /** Sends each Packet (a copy per session) if the session is open; false before SCAuth or once closing. */
  push(packets: readonly Packet[]): boolean;
  /** Ends the session with ServerLogout `code` (flushed, then closed). */
  kick(code: SCServerLogout_Code): void;
}

/** The fields of a PushBody (PROTOCOL.md 11): data, data_version, obj, mod, seq, ver. */
export type PushBodyInit = Pick<PushBody, 'data' | 'dataVersion' | 'obj' | 'mod' | 'seq' | 'ver'>;

/**
 * The Packets a push sends (index 0: a push answers no request).
 * @throws JanusError JANUS_ERR_ARG_INVALID for a body of mod 1 (System is the gateway's own:
 *   a backend cannot send ServerLogout or SCAuth through a push).
 */
export function pushPackets(bodies: readonly PushBodyInit[]): Packet[] {
  return bodies.map((b) => {
    if (b.mod === MOD_SYSTEM) throw new JanusError(ErrorCode.ArgInvalid, 'a push body cannot be of mod 1 (System)', { mod: b.mod, seq: b.seq });
    return makePacket({ data: b.data, dataVersion: b.dataVersion, obj: b.obj, mod: b.mod, seq: b.seq, ver: b.ver, index: 0 });
  });
}

export { checkKickCode };

/** Push and kick over this gateway's sessions. Every method is synchronous: delivery is a queue write. */
export class PushService<C extends PushTarget = PushTarget> {
  constructor(private readonly sessions: SessionRegistry<C>) {}

  /** Pushes to `uid`'s session here; true when it is open and got the Packets. */
  push(uid: bigint, packets: readonly Packet[]): boolean {
    return this.sessions.get(uid)?.push(packets) ?? false;
  }

  /** Pushes to each uid's session here; returns the uids that got it (each uid once). */
  multicast(uids: readonly bigint[], packets: readonly Packet[]): bigint[] {
    const pushed: bigint[] = [];
    for (const uid of new Set(uids)) if (this.push(uid, packets)) pushed.push(uid);
    return pushed;
  }

  /**
   * Pushes to every open session whose color is `color` (empty: any) and whose sid is `sid`
   * (0: any); returns how many got it.
   */
  broadcast(color: string, sid: bigint, packets: readonly Packet[]): number {
    let count = 0;
    for (const s of [...this.sessions.values()]) {
      if (color !== '' && s.color !== color) continue;
      if (sid !== 0n && s.sid !== sid) continue;
      if (s.push(packets)) count++;
    }
    return count;
  }

  /** Ends `uid`'s session here with ServerLogout `code`; true when there was one. */
  kick(uid: bigint, code: SCServerLogout_Code): boolean {
    const s = this.sessions.get(uid);
    if (!s) return false;
    s.kick(code);
    return true;
  }
}
