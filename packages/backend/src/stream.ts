/**
 * One tunnel stream on the backend side (PROTOCOL.md 9): the context a handler sees, and the
 * per-stream request chain that keeps replies in request order.
 *
 * Design: requests are queued as they arrive and handled one at a time; a handler that
 * returns a promise holds the chain until it settles, a synchronous one does not cost a
 * microtask. The queue is bounded: at `maxPendingRequests` queued requests, or while
 * the HTTP/2 stream reports its send buffer full (`write()` returned false, until 'drain'),
 * the call is paused, so the stream stops reading and HTTP/2 flow control pushes back on the
 * gateway.
 *
 * Lifecycle: open -> closed, exactly once, by one of: the handler's end()/fail(), a handler
 * error (INTERNAL), the gateway's half-close once the chain is empty (OK), the call being
 * cancelled (gateway cancel, deadline, connection lost), or the server closing. onClose
 * runs at that moment, once.
 */
import * as grpc from '@grpc/grpc-js';
import { makeTunnelMessage, type TunnelMessage } from '@janus/protocol';
import type { TunnelMetadataFields } from './metadata.js';
import type { BackendTracing } from './tracing.js';

/** A reply described by a handler's return value: `data` plus fields that override the defaults. */
export interface ReplyInit extends Partial<TunnelMessage> {
  /** The reply body. */
  data: Uint8Array;
}

/**
 * What a handler knows about, and can do with, one tunnel stream. One context per stream;
 * the fields come from the stream metadata (PROTOCOL.md 9).
 */
export interface TunnelContext extends TunnelMetadataFields {
  /** The raw stream metadata. */
  readonly metadata: grpc.Metadata;
  /** True once the stream has ended (by either side); replies and pushes are then dropped. */
  readonly closed: boolean;
  /**
   * Replies to `req`: mod, seq, index and obj default to the request's, every other field
   * to its zero value; `extra` overrides any of them. Returns false (and sends nothing) when
   * the stream is closed. Sending never blocks: the HTTP/2 stream buffers, and the stream stops
   * reading requests until its buffer drains.
   */
  reply(req: TunnelMessage, data: Uint8Array, extra?: Partial<TunnelMessage>): boolean;
  /**
   * Pushes an unsolicited message: index is always 0, obj defaults to the stream's oid,
   * data to empty, every other field to its zero value. Returns false when the stream is closed.
   */
  push(msg: Partial<TunnelMessage> & { mod: number; seq: number }): boolean;
  /** Ends the stream with status OK (after the messages already sent). No-op once closed. */
  end(): void;
  /**
   * Ends the stream with a gRPC error status. No-op once closed.
   * @throws RangeError when `code` is not an error status (an integer 1..16): OK would
   * end the stream as a success, and any other number is no gRPC status at all.
   */
  fail(code: grpc.status, details: string): void;
}

/** The callbacks of a tunnel service. */
export interface TunnelHandlers {
  /**
   * A stream opened. Requests wait until it settles; throwing or rejecting fails the stream
   * with INTERNAL and the error's message.
   */
  onOpen?(ctx: TunnelContext): void | Promise<void>;
  /**
   * One request, in arrival order: the next one is handled after this one settles. Return a
   * Uint8Array (or a {@link ReplyInit}) to reply with it (see {@link TunnelContext.reply}),
   * or undefined to send nothing. Throwing or rejecting ends the stream with INTERNAL and the
   * error's message; nothing is logged.
   */
  onMessage(
    ctx: TunnelContext,
    req: TunnelMessage,
  ): void | Uint8Array | ReplyInit | Promise<void | Uint8Array | ReplyInit>;
  /**
   * The stream ended, for any reason (half-close from the gateway, cancellation, end()/fail(),
   * a handler error, server close). Called once, synchronously; it must not throw (an
   * exception is rethrown on the next tick, as an uncaught exception).
   */
  onClose?(ctx: TunnelContext): void;
}

/**
 * The gRPC call under a tunnel stream (the server's side of one bidirectional call; on
 * node:http2 in h2-call.ts). Events: 'data' (one request), 'end' (the gateway
 * half-closed), 'drain' (a full send buffer emptied), 'cancelled' (the call is gone without
 * our status, or after it).
 */
export interface TunnelCall {
  /** The request headers as grpc-js Metadata. */
  readonly metadata: grpc.Metadata;
  on(event: 'data', listener: (req: TunnelMessage) => void): this;
  on(event: 'end' | 'cancelled', listener: () => void): this;
  once(event: 'drain', listener: () => void): this;
  off(event: 'drain', listener: () => void): this;
  /** Sends one message; false when the send buffer is full (wait for 'drain'). */
  write(m: TunnelMessage): boolean;
  /** Ends the call with status OK after the messages written. */
  end(): void;
  /** Ends the call with a gRPC error status after the messages written. */
  fail(code: number, details: string): void;
  /** Stops reading requests (HTTP/2 flow control then holds the gateway back). */
  pause(): void;
  resume(): void;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A full TunnelMessage from defaults and the defined fields of `extra`. */
function compose(base: TunnelMessage, extra: Partial<TunnelMessage> | undefined): TunnelMessage {
  if (extra === undefined) return base;
  return {
    data: extra.data ?? base.data,
    dataVersion: extra.dataVersion ?? base.dataVersion,
    obj: extra.obj ?? base.obj,
    mod: extra.mod ?? base.mod,
    seq: extra.seq ?? base.seq,
    index: extra.index ?? base.index,
    connId: extra.connId ?? base.connId,
    fragId: extra.fragId ?? base.fragId,
    fragCount: extra.fragCount ?? base.fragCount,
    fragIndex: extra.fragIndex ?? base.fragIndex,
    ver: extra.ver ?? base.ver,
  };
}

/**
 * The server side of one tunnel stream; implements {@link TunnelContext}. Internal to the
 * package: {@link TunnelServer} creates one per accepted call.
 */
export class TunnelStream implements TunnelContext {
  readonly oid: bigint;
  readonly uid: bigint;
  readonly sid: bigint;
  readonly status: number;
  readonly color: string;
  readonly clientIp: string;
  readonly referer: string;
  readonly gateReferer: string;

  private readonly call: TunnelCall;
  private readonly handlers: TunnelHandlers;
  private readonly maxPending: number;
  private readonly onFinish: (stream: TunnelStream) => void;
  /** Requests received and not yet handed to onMessage. */
  private readonly queue: TunnelMessage[] = [];
  private isClosed = false;
  /** onOpen or an async onMessage has not settled yet. */
  private busy = false;
  /** The gateway half-closed: end with OK once the queue is empty. */
  private halfClosed = false;
  /** The HTTP/2 stream's send buffer is full; waiting for 'drain'. */
  private writeBlocked = false;
  private paused = false;

  constructor(
    call: TunnelCall,
    fields: TunnelMetadataFields,
    handlers: TunnelHandlers,
    maxPending: number,
    onFinish: (stream: TunnelStream) => void,
    private readonly tracing: BackendTracing | null = null,
  ) {
    this.call = call;
    this.handlers = handlers;
    this.maxPending = maxPending;
    this.onFinish = onFinish;
    this.oid = fields.oid;
    this.uid = fields.uid;
    this.sid = fields.sid;
    this.status = fields.status;
    this.color = fields.color;
    this.clientIp = fields.clientIp;
    this.referer = fields.referer;
    this.gateReferer = fields.gateReferer;
  }

  get metadata(): grpc.Metadata {
    return this.call.metadata;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Attaches the call's listeners and runs onOpen. */
  start(): void {
    this.call.on('data', this.onData);
    this.call.on('end', this.onEnd);
    // 'cancelled' comes on a gateway cancel or a lost connection, and also after a status we
    // sent ourselves: closing is idempotent.
    this.call.on('cancelled', this.onCancelled);
    const onOpen = this.handlers.onOpen;
    if (onOpen === undefined) return;
    this.busy = true;
    let result: unknown;
    try {
      result = onOpen.call(this.handlers, this);
    } catch (err) {
      this.failWith(err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        () => {
          this.busy = false;
          this.pump();
        },
        (err: unknown) => this.failWith(err),
      );
    } else {
      this.busy = false;
      this.pump();
    }
  }

  reply(req: TunnelMessage, data: Uint8Array, extra?: Partial<TunnelMessage>): boolean {
    return this.write(
      compose(makeTunnelMessage({ data, obj: req.obj, mod: req.mod, seq: req.seq, index: req.index }), extra),
    );
  }

  push(msg: Partial<TunnelMessage> & { mod: number; seq: number }): boolean {
    const m = compose(makeTunnelMessage({ obj: this.oid, mod: msg.mod, seq: msg.seq }), msg);
    m.index = 0;
    return this.write(m);
  }

  end(): void {
    if (this.isClosed) return;
    this.finish();
    this.call.end();
  }

  fail(code: grpc.status, details: string): void {
    if (!Number.isInteger(code) || code < 1 || code > 16) throw new RangeError(`fail() takes a gRPC error status 1..16, got ${code}`);
    if (this.isClosed) return;
    this.finish();
    this.call.fail(code, details);
  }

  /** Marks the stream closed without sending a status (the server is being destroyed). */
  abort(): void {
    if (!this.isClosed) this.finish();
  }

  private readonly onData = (req: TunnelMessage): void => {
    if (this.isClosed) return;
    this.queue.push(req);
    this.updateFlow();
    this.pump();
  };

  private readonly onEnd = (): void => {
    this.halfClosed = true;
    this.pump();
  };

  private readonly onCancelled = (): void => {
    this.abort();
  };

  private readonly onDrain = (): void => {
    this.writeBlocked = false;
    this.updateFlow();
  };

  /** Handles queued requests until one goes async, the queue empties, or the stream closes. */
  private pump(): void {
    while (!this.busy && !this.isClosed) {
      const req = this.queue.shift();
      if (req === undefined) {
        if (this.halfClosed) this.end();
        return;
      }
      this.updateFlow();
      // Tracing (a tracerProvider given): the request's span, ended once the handler settled.
      const span = this.tracing === null ? null : this.tracing.begin(this.oid, req);
      let result: unknown;
      try {
        result = span === null ? this.handlers.onMessage(this, req) : span.run(() => this.handlers.onMessage(this, req));
      } catch (err) {
        span?.end(err);
        this.failWith(err);
        return;
      }
      if (isThenable(result)) {
        this.busy = true;
        result.then(
          (value) => {
            this.busy = false;
            this.settle(req, value);
            span?.end();
            this.pump();
          },
          (err: unknown) => {
            span?.end(err);
            this.failWith(err);
          },
        );
        return;
      }
      this.settle(req, result);
      span?.end();
    }
  }

  /** Sends what a handler returned, if anything. */
  private settle(req: TunnelMessage, value: unknown): void {
    if (value === undefined || value === null || this.isClosed) return;
    if (value instanceof Uint8Array) {
      this.reply(req, value);
    } else if ((value as Partial<ReplyInit>).data instanceof Uint8Array) {
      const init = value as ReplyInit;
      this.reply(req, init.data, init);
    } else {
      this.fail(grpc.status.INTERNAL, 'onMessage returned neither a Uint8Array nor a { data: Uint8Array } reply');
    }
  }

  private failWith(err: unknown): void {
    this.fail(grpc.status.INTERNAL, errorMessage(err));
  }

  private write(m: TunnelMessage): boolean {
    if (this.isClosed) return false;
    if (!this.call.write(m) && !this.writeBlocked) {
      this.writeBlocked = true;
      this.call.once('drain', this.onDrain);
      this.updateFlow();
    }
    return true;
  }

  /**
   * Pauses the call while the request queue is full or the send buffer is; resumes once the
   * queue is down to half and the send buffer has drained (hysteresis: no pause/resume per
   * message at the limit).
   */
  private updateFlow(): void {
    if (this.isClosed) return;
    if (this.paused) {
      if (!this.writeBlocked && this.queue.length <= this.maxPending >> 1) {
        this.paused = false;
        this.call.resume();
      }
    } else if (this.writeBlocked || this.queue.length >= this.maxPending) {
      this.paused = true;
      this.call.pause();
    }
  }

  /** Closes the context: drops queued requests, tells the server, runs onClose once. */
  private finish(): void {
    this.isClosed = true;
    this.queue.length = 0;
    this.busy = false;
    if (this.writeBlocked) this.call.off('drain', this.onDrain);
    this.onFinish(this);
    const onClose = this.handlers.onClose;
    if (onClose === undefined) return;
    try {
      onClose.call(this.handlers, this);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}
