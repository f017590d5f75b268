/**
 * TCP transport (PROTOCOL.md 2): each body travels as `u32be length || body`; incoming
 * frames are cut by the protocol package's FrameDecoder, whose limit check on the length
 * prefix means a hostile length costs nothing.
 */
import { EventEmitter } from 'eventemitter3';
import { connect as netConnect, type Socket } from 'node:net';
import { describeForeignBytes, encodeFrame, ErrorCode, FrameDecoder, isJanusError, JanusError } from '@janus/protocol';
import { CLOSE_GRACE_MS, type Transport, type TransportClose, type TransportEvents } from './transport.js';

/** Where and how to connect. */
export interface TcpConnectOptions {
  host: string;
  port: number;
  /** Largest body accepted and sent (bytes). */
  maxFrameBytes: number;
  /** Aborting destroys the socket; the promise rejects with JANUS_ERR_CONNECTION_CLOSED. */
  signal?: AbortSignal;
}

function socketError(err: Error): JanusError {
  const code = (err as NodeJS.ErrnoException).code;
  return new JanusError(ErrorCode.ConnectionClosed, `socket error: ${err.message}`, code ? { errno: code } : {}, { cause: err });
}

/** A connected TCP socket carrying length-prefixed frames. See {@link Transport} for events. */
export class TcpTransport extends EventEmitter<TransportEvents> implements Transport {
  private readonly decoder: FrameDecoder;
  private error: JanusError | undefined;
  private firstRead = true;
  private done = false;
  private closing: Promise<void> | null = null;

  /**
   * Opens a TCP connection (no delay on, so small records leave at once).
   * @throws JanusError JANUS_ERR_CONNECTION_CLOSED when the connection fails or is aborted.
   */
  static connect(o: TcpConnectOptions): Promise<TcpTransport> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: o.host, port: o.port });
      const onAbort = (): void => {
        socket.destroy();
        reject(new JanusError(ErrorCode.ConnectionClosed, 'TCP connect aborted'));
      };
      const onError = (err: Error): void => {
        o.signal?.removeEventListener('abort', onAbort);
        reject(socketError(err));
      };
      if (o.signal?.aborted) return onAbort();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once('connect', () => {
        o.signal?.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(new TcpTransport(socket, o.maxFrameBytes, `${o.host}:${o.port}`));
      });
    });
  }

  private constructor(
    private readonly socket: Socket,
    private readonly maxFrameBytes: number,
    private readonly address: string,
  ) {
    super();
    this.decoder = new FrameDecoder(maxFrameBytes, (body) => this.emit('body', body));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.error ??= socketError(err);
    });
    socket.on('close', () => this.onClose());
  }

  get closed(): boolean {
    return this.done;
  }

  send(body: Uint8Array): void {
    if (this.done || this.closing || this.socket.writableEnded) return;
    this.socket.write(encodeFrame(body, this.maxFrameBytes));
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise((resolve) => {
      if (this.done) return resolve();
      this.once('close', () => resolve());
      this.socket.end();
      // Why: a peer that never answers our FIN must not keep the close pending forever.
      setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    });
    return this.closing;
  }

  destroy(error?: JanusError): void {
    if (this.done) return;
    this.error ??= error;
    this.decoder.stop();
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.firstRead) {
      this.firstRead = false;
      // A server that is not a Janus gateway (an HTTP, WebSocket or gRPC port) says so in its
      // first bytes: name it rather than report a frame length or protobuf error.
      const foreign = describeForeignBytes(chunk);
      if (foreign) {
        this.destroy(
          new JanusError(
            ErrorCode.UnexpectedMessage,
            `the server at ${this.address} sent ${foreign}, not a Janus frame: is this the gateway's TCP client port (listen.tcp.port, default 17001)?`,
            { foreign },
          ),
        );
        return;
      }
    }
    try {
      this.decoder.push(chunk);
    } catch (err) {
      // A bad length prefix (0 or over the limit): nothing after it is read (PROTOCOL.md 2).
      this.destroy(isJanusError(err) ? err : new JanusError(ErrorCode.PacketMalformed, String(err)));
    }
  }

  private onClose(): void {
    if (this.done) return;
    this.done = true;
    this.decoder.stop();
    const info: TransportClose = this.error ? { error: this.error } : {};
    this.emit('close', info);
  }
}
