/**
 * The connector's own handler (route `connector.entryHandler.bind`): binds the session to
 * the uid in the request, so the echo server can add it to channels (push scenario).
 */

interface FrontendSession {
  abind(uid: string): Promise<void>;
}

class EntryHandler {
  /** Binds the session to `uid`; replies {uid}. */
  async bind(msg: { uid: number }, session: FrontendSession): Promise<unknown> {
    await session.abind(String(msg.uid));
    return { uid: msg.uid };
  }
}

/** pinus's handler factory convention: a default export taking the application. */
export default function (): EntryHandler {
  return new EntryHandler();
}
