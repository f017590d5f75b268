/**
 * Serial processing of a connection's bodies, in arrival order (PROTOCOL.md 7.6: requests
 * pipelined behind CSAuth are answered in order after SCAuth).
 *
 * A body is processed at once unless the inbox is blocked: a step is still running (the
 * handshake, the login, a tunnel opening, an inflate), or a tunnel asked to pause (its
 * write() returned false). Bodies that arrive while blocked queue here, so processing stops
 * the moment a tunnel asks, even in the middle of a read chunk; the socket is paused at
 * once when a tunnel asks and when the queue reaches `limitBytes`, and resumed when the
 * inbox is unblocked and empty.
 */

/** The socket side of the inbox: flow control. */
export interface InboxFlow {
  pause(): void;
  resume(): void;
}

/** What processes one body: sync (void) or async (a promise: the inbox waits for it). */
export type BodyHandler = (body: Uint8Array) => void | Promise<void>;

/** A bounded, serial inbox. */
export class Inbox {
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private busy = false;
  private held = false;
  private closed = false;
  /** Bodies handed to the handler so far. */
  processed = 0;

  /**
   * @param limitBytes queued bytes at which the socket is paused.
   * @param handle processes one body; a throw or rejection goes to `onError`.
   * @param flow pauses and resumes the socket.
   * @param onError called with what `handle` threw (the connection fails).
   */
  constructor(
    private readonly limitBytes: number,
    private readonly handle: BodyHandler,
    private readonly flow: InboxFlow,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Bytes of bodies queued and not yet processed. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Whether a tunnel has asked to pause (see {@link hold}). */
  get isHeld(): boolean {
    return this.held;
  }

  /** Delivers one body: processed now, or queued while blocked. */
  push(body: Uint8Array): void {
    if (this.closed) return;
    if (this.busy || this.held || this.queue.length !== 0) {
      this.queue.push(body);
      this.queued += body.length;
      if (this.queued >= this.limitBytes) this.flow.pause();
      return;
    }
    this.run(body);
  }

  /** Stops processing (a tunnel asked to pause) and pauses the socket, until {@link release}. */
  hold(): void {
    if (this.held || this.closed) return;
    this.held = true;
    this.flow.pause();
  }

  /** Undoes {@link hold}: processes what queued meanwhile, then resumes the socket. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.drain();
  }

  /** Drops everything queued and processes nothing more (the connection is closing). */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.queued = 0;
  }

  private run(body: Uint8Array): void {
    this.processed++;
    let r: void | Promise<void>;
    try {
      r = this.handle(body);
    } catch (err) {
      this.onError(err);
      return;
    }
    if (r) {
      this.busy = true;
      r.then(
        () => {
          this.busy = false;
          this.drain();
        },
        (err: unknown) => {
          this.busy = false;
          this.onError(err);
        },
      );
    }
  }

  private drain(): void {
    while (!this.busy && !this.held && !this.closed && this.queue.length !== 0) {
      const body = this.queue.shift()!;
      this.queued -= body.length;
      this.run(body);
    }
    if (!this.busy && !this.held && !this.closed) this.flow.resume();
  }
}
