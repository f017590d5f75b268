/**
 * A minimal tunnel client that plays the gateway's part, to test a tunnel service without
 * a gateway: open a stream with chosen metadata, send requests, await replies and pushes in
 * order, and read the final status. Not for production traffic: it buffers everything the
 * server sends until read.
 */
import * as grpc from '@grpc/grpc-js';
import { ErrorCode, JanusError, makeTunnelMessage, type TunnelMessage } from '@janus/protocol';
import { deserializeTunnelMessage, serializeTunnelMessage } from './definition.js';
import { tunnelMetadata, type TunnelMetadataFields } from './metadata.js';

/** Metadata of a test stream: oid and uid are required, the rest default to 0 / ''. */
export type TestStreamFields = Partial<TunnelMetadataFields> & { oid: bigint; uid: bigint };

/** Default timeout of {@link TunnelTestStream.next}, in milliseconds. */
export const DEFAULT_TEST_TIMEOUT_MS = 5000;


/** One tunnel stream opened by a {@link TunnelTestClient}. */
export class TunnelTestStream {
  /** The final status (OK included); resolves once the server ended the stream. */
  readonly status: Promise<grpc.StatusObject>;
  private readonly call: grpc.ClientDuplexStream<TunnelMessage, TunnelMessage>;
  private readonly inbox: TunnelMessage[] = [];
  private readonly waiters: Array<(m: TunnelMessage | grpc.StatusObject) => void> = [];
  private finalStatus: grpc.StatusObject | null = null;

  /** @internal Use {@link TunnelTestClient.open}. */
  constructor(call: grpc.ClientDuplexStream<TunnelMessage, TunnelMessage>) {
    this.call = call;
    call.on('data', (m: TunnelMessage) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(m);
      else this.inbox.push(m);
    });
    // A non-OK status is also emitted as 'error'; the status promise reports it.
    call.on('error', () => {});
    this.status = new Promise((resolve) => {
      call.on('status', (s: grpc.StatusObject) => {
        this.finalStatus = s;
        for (const waiter of this.waiters.splice(0)) waiter(s);
        resolve(s);
      });
    });
  }

  /**
   * Sends a request; fields left out are zero (data empty). Returns grpc-js's write() result
   * (false: its buffer is full).
   */
  send(msg: Partial<TunnelMessage>): boolean {
    return this.call.write(makeTunnelMessage(msg));
  }

  /**
   * The next message from the server (reply or push), in arrival order.
   * @throws JanusError JANUS_ERR_CONNECTION_CLOSED when the stream ended first (details:
   *   code, details of the status); JANUS_ERR_REQUEST_TIMEOUT after `timeoutMs`.
   */
  next(timeoutMs = DEFAULT_TEST_TIMEOUT_MS): Promise<TunnelMessage> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.finalStatus) return Promise.reject(ended(this.finalStatus));
    return new Promise((resolve, reject) => {
      const waiter = (m: TunnelMessage | grpc.StatusObject): void => {
        clearTimeout(timer);
        if ('code' in m) reject(ended(m));
        else resolve(m);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new JanusError(ErrorCode.RequestTimeout, `no message within ${timeoutMs} ms`, { timeoutMs }));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** The next `n` messages, in order. Errors as {@link next}. */
  async take(n: number, timeoutMs = DEFAULT_TEST_TIMEOUT_MS): Promise<TunnelMessage[]> {
    const out: TunnelMessage[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(timeoutMs));
    return out;
  }

  /** Messages received and not yet read. */
  get pending(): number {
    return this.inbox.length;
  }

  /** Half-closes the stream, as the gateway does when the client connection closes. */
  end(): void {
    this.call.end();
  }

  /** Cancels the stream (RST_STREAM). */
  cancel(): void {
    this.call.cancel();
  }
}

function ended(s: grpc.StatusObject): JanusError {
  return new JanusError(ErrorCode.ConnectionClosed, `stream ended with status ${s.code} ${s.details}`, {
    code: s.code,
    details: s.details,
  });
}

/**
 * A gRPC client for tunnel tests: one channel to `target` (`host:port`), any number of
 * streams over it.
 */
export class TunnelTestClient {
  private readonly client: grpc.Client;

  /** @param channelOptions grpc-js channel options; default none. */
  constructor(target: string, channelOptions: grpc.ChannelOptions = {}) {
    this.client = new grpc.Client(target, grpc.credentials.createInsecure(), channelOptions);
  }

  /**
   * Opens a tunnel stream at `path` with the given metadata fields (numbers sent as
   * decimal strings, PROTOCOL.md 9) or raw metadata.
   */
  open(path: string, fields: TestStreamFields | grpc.Metadata): TunnelTestStream {
    const md =
      fields instanceof grpc.Metadata
        ? fields
        : tunnelMetadata({
            oid: fields.oid,
            uid: fields.uid,
            sid: fields.sid ?? 0n,
            status: fields.status ?? 0,
            color: fields.color ?? '',
            clientIp: fields.clientIp ?? '',
            referer: fields.referer ?? '',
            gateReferer: fields.gateReferer ?? '',
          });
    return new TunnelTestStream(
      this.client.makeBidiStreamRequest(path, serializeTunnelMessage, deserializeTunnelMessage, md),
    );
  }

  /** Closes the channel; cancel or end open streams first. */
  close(): void {
    this.client.close();
  }
}
