/**
 * The session registry: uid -> the connection logged in on this gateway (PROTOCOL.md 8,
 * conflicting login), and every live connection for shutdown and push.
 */

/** What the registry needs of a connection. */
export interface SessionHolder {
  readonly uid: bigint;
  /** Ends the connection with ServerLogout `code` (here: ConflictingLogin). */
  logout(code: number): void;
}

/** uid -> connection, one per uid on this gateway. */
export class SessionRegistry<C extends SessionHolder = SessionHolder> {
  private readonly byUid = new Map<bigint, C>();

  /** Number of logged-in sessions. */
  get size(): number {
    return this.byUid.size;
  }

  /**
   * Records `conn` as the session of its uid; an older connection of the same uid is
   * ended with ServerLogout ConflictingLogin (code 3).
   */
  login(conn: C, conflictingLoginCode: number): void {
    const old = this.byUid.get(conn.uid);
    this.byUid.set(conn.uid, conn);
    if (old && old !== conn) old.logout(conflictingLoginCode);
  }

  /** Forgets `conn` if it is still its uid's session. */
  remove(conn: C): void {
    if (this.byUid.get(conn.uid) === conn) this.byUid.delete(conn.uid);
  }

  /** The session of `uid`, if logged in here. */
  get(uid: bigint): C | undefined {
    return this.byUid.get(uid);
  }

  /** Every session. */
  values(): IterableIterator<C> {
    return this.byUid.values();
  }
}
