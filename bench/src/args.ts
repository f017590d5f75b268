/**
 * Command line of the load bench (`npm run bench -- [options]`): parsed and checked once,
 * every bad value named in a JANUS_ERR_ARG_INVALID message.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ErrorCode, JanusError } from '@janus/protocol';
import type { LoadOptions } from './run.js';

/** Usage text. */
export const USAGE = `usage: npm run bench -- [options]
  --connections N   client sessions, each a closed loop of Echo requests (default 100)
  --duration S      measured window in seconds (default 20)
  --warmup S        load before the window, not counted, in seconds (default 3)
  --transport T     tcp | ws (default tcp)
  --size BYTES      Echo request data size (default 64)
  --setup N         sessions connecting at once during setup (default 50)
  --cpu-prof DIR    run the gateway child with --cpu-prof, profile written to DIR
  --tracing         tracing on in the gateway (every request), exported to a stand-in collector here
  --verbose         print progress and the children's log lines to stderr
  -h, --help        this text`;

/** Parsed command line: the run's options plus output switches. */
export interface LoadArgs {
  options: LoadOptions;
  verbose: boolean;
}

/**
 * An integer option: `def` when absent, else a decimal integer in min..max.
 * @throws JanusError JANUS_ERR_ARG_INVALID naming the option.
 */
export function intOption(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const v = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(v >= min && v <= max)) throw new JanusError(ErrorCode.ArgInvalid, `--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  return v;
}

/**
 * `argv` parsed strictly against `options` (no positionals, no unknown option): the values.
 * Shared by the bench commands (load, soak, compare).
 * @throws JanusError JANUS_ERR_ARG_INVALID with node:util's message for a bad command line.
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>>['values'] {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new JanusError(ErrorCode.ArgInvalid, (err as Error).message);
  }
}

/**
 * Parses `argv` (without node and the script).
 * @returns null when help was asked for.
 * @throws JanusError JANUS_ERR_ARG_INVALID naming the bad option.
 */
export function parseLoadArgs(argv: string[]): LoadArgs | null {
  const values = parseFlags(argv, {
    connections: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    transport: { type: 'string' },
    size: { type: 'string' },
    setup: { type: 'string' },
    'cpu-prof': { type: 'string' },
    tracing: { type: 'boolean' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return null;
  const transport = values.transport ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'ws') throw new JanusError(ErrorCode.ArgInvalid, `--transport must be tcp or ws, got ${JSON.stringify(transport)}`);
  const options: LoadOptions = {
    connections: intOption('connections', values.connections, 100, 1, 60000),
    durationS: intOption('duration', values.duration, 20, 1, 86400),
    warmupS: intOption('warmup', values.warmup, 3, 0, 3600),
    transport,
    // 65536 (maxFrameBytes) minus room for the Packet fields and the record tag.
    sizeBytes: intOption('size', values.size, 64, 0, 65000),
    setupConcurrency: intOption('setup', values.setup, 50, 1, 10000),
  };
  if (values['cpu-prof'] !== undefined) options.gatewayCpuProfDir = values['cpu-prof'];
  if (values.tracing) options.tracing = true;
  return { options, verbose: values.verbose ?? false };
}
