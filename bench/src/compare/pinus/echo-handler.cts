/**
 * The echo server's handler (route `echo.echoHandler.*`), loaded by pinus from the
 * application base through a one-line shim (pinus-system.ts writes it):
 *   echo  returns the request body unchanged;
 *   join  {room} adds the session (uid bound by connector.entryHandler.bind) to channel
 *         `room<N>`, replies {room};
 *   say   {room, text} replies {} and pushes `onChat` {uid, text} to every member of the
 *         channel (pinus channel push: one RPC per connector carrying the uid list).
 */

interface Channel {
  add(uid: string, sid: string): boolean;
  pushMessage(route: string, msg: unknown, opts: unknown, cb: (err: Error | null) => void): void;
}

interface Application {
  get(name: 'channelService'): { getChannel(name: string, create: boolean): Channel };
}

interface BackendSession {
  uid: string;
  frontendId: string;
}

/** The channel of room `room`, created on first use. */
function channelOf(app: Application, room: unknown): Channel {
  return app.get('channelService').getChannel(`room${Number(room)}`, true);
}

// Every method of this class is a route (pinus lists them in the route dictionary).
class EchoHandler {
  constructor(private readonly app: Application) {}

  /** Returns the request body unchanged. */
  async echo(msg: unknown): Promise<unknown> {
    return msg;
  }

  /** Adds the session to the room's channel. */
  async join(msg: { room: number }, session: BackendSession): Promise<unknown> {
    channelOf(this.app, msg.room).add(session.uid, session.frontendId);
    return { room: msg.room };
  }

  /** Pushes `text` to every member of the room, the sender included. */
  async say(msg: { room: number; text: string }, session: BackendSession): Promise<unknown> {
    channelOf(this.app, msg.room).pushMessage('onChat', { uid: session.uid, text: msg.text }, {}, (err) => {
      if (err) console.error(`push failed: ${err.message}`);
    });
    return {};
  }
}

/** pinus's handler factory convention: a default export taking the application. */
export default function (app: Application): EchoHandler {
  return new EchoHandler(app);
}
