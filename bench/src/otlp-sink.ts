/**
 * A stand-in OpenTelemetry collector for the load bench's `--tracing` runs: an HTTP server
 * on 127.0.0.1 that takes OTLP/HTTP trace exports (POST /v1/traces) and answers 200 with an
 * empty body (an empty ExportTraceServiceResponse), counting requests and bytes. It runs in
 * the load generator's process, so its cost shows there, not in the gateway's figures.
 */
import { createServer, type Server } from 'node:http';

/** What the sink received. */
export interface OtlpSinkCounts {
  /** Export requests (batches of spans). */
  requests: number;
  /** Request body bytes. */
  bytes: number;
}

/** A running sink. */
export interface OtlpSink {
  /** The traces URL to configure as `tracing.otlp.endpoint`. */
  readonly endpoint: string;
  readonly counts: OtlpSinkCounts;
  close(): Promise<void>;
}

/** Starts the sink on a free loopback port. */
export async function startOtlpSink(): Promise<OtlpSink> {
  const counts: OtlpSinkCounts = { requests: 0, bytes: 0 };
  const server: Server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (counts.bytes += c.length));
    req.on('end', () => {
      counts.requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}/v1/traces`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
