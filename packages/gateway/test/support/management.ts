/**
 * Test support for the management server: HTTP calls, Prometheus scrapes parsed into
 * samples, and a pino logger that keeps its lines in memory.
 */
import { request } from 'node:http';
import pino, { type Logger } from 'pino';
import type { Stack } from './stack.js';

/** One HTTP answer. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): unknown;
}

/** Calls the stack's management server (127.0.0.1:its port). */
export function mgmt(stack: Pick<Stack, 'gw'>, path: string, o: { method?: string; body?: string; token?: string } = {}): Promise<HttpAnswer> {
  const m = stack.gw.management;
  if (!m) throw new Error('management server disabled');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: m.port,
        path,
        method: o.method ?? 'GET',
        headers: { ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as unknown }));
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

/** One sample of a scrape: `name{labels} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed scrape. */
export class Scrape {
  constructor(
    readonly text: string,
    readonly samples: Sample[],
  ) {}

  /** Sum of the samples named `name` whose labels include `labels` (0 when none). */
  get(name: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const s of this.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
    return sum;
  }

  /** Whether a sample named `name` exists. */
  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }
}

/** Parses the Prometheus text format (the subset prom-client writes). */
export function parseScrape(text: string): Scrape {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return new Scrape(text, samples);
}

/** GET /metrics, parsed. */
export async function scrape(stack: Stack): Promise<Scrape> {
  const r = await mgmt(stack, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return parseScrape(r.body);
}

/** A log line as pino wrote it (parsed JSON). */
export type LogLine = Record<string, unknown>;

/** An in-memory pino logger. */
export interface MemoryLog {
  logger: Logger;
  lines: LogLine[];
  /** Everything written, as text (to check that no secret appears anywhere). */
  text(): string;
  /** The first line (already written or yet to come) matching `pred`; rejects after `timeoutMs`. */
  line(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

/** A pino logger at `level` whose lines (parsed JSON) collect in memory. */
export function memoryLogger(level = 'info'): MemoryLog {
  const raw: string[] = [];
  const lines: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  const logger = pino(
    { level },
    {
      write(s: string) {
        raw.push(s);
        const l = JSON.parse(s) as LogLine;
        lines.push(l);
        for (const w of [...waiters]) {
          if (w.pred(l)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(l);
          }
        }
      },
    },
  );
  return {
    logger,
    lines,
    text: () => raw.join(''),
    line(pred, timeoutMs = 5000) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; got:\n${raw.join('')}`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
}
