/**
 * The demo's message ids (docs/demo.md). Module ids follow the default module table of
 * PROTOCOL.md 4: 3 Player, 4 Room.
 */

/** Module ids served by the demo backend. */
export const DemoModule = {
  /** Player module, on the player stream (oid = uid). */
  Player: 3,
  /** Room module, on a room stream (oid = room id). */
  Room: 4,
} as const;

/** Player module (mod 3) message ids. */
export const PlayerSeq = {
  /** Request: any bytes. Reply: the same bytes. */
  Echo: 1,
  /** Request: ignored. Reply: `{"count":N}`, the player's counter after +1. */
  Counter: 2,
  /** Request: any bytes. Reply: empty; then, after {@link PUSH_LATER_DELAY_MS}, a push {@link PlayerSeq.Pushed}. */
  PushLater: 3,
  /** Push: the bytes of the PushLater request. */
  Pushed: 4,
} as const;

/** Room module (mod 4) message ids. */
export const RoomSeq = {
  /** Request `{"name"?:string}`. Reply `{"room":id,"members":[uid...]}`. */
  Join: 1,
  /** Request `{}` (or empty). Reply `{"room":id}`. */
  Leave: 2,
  /** Request `{"text":string}`. Reply `{}`. */
  Say: 3,
  /** Push `{"event":"join","uid":N,"name":s}` or `{"event":"leave","uid":N}`. */
  Event: 10,
  /** Push `{"uid":N,"name":s,"text":s}`. */
  Message: 11,
} as const;

/** Delay of the PushLater push, in milliseconds. */
export const PUSH_LATER_DELAY_MS = 10;

/** Longest accepted player name in Room Join, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 32;

/** Longest accepted text in Room Say, in UTF-16 code units. */
export const MAX_TEXT_LENGTH = 500;
