/**
 * Command line of bench:compare (`npm run bench:compare -- [options]`), every bad value
 * named in a JANUS_ERR_ARG_INVALID message.
 */
import { ErrorCode, JanusError } from '@janus/protocol';
import { SCENARIOS, type CompareOptions, type Scenario } from './run-compare.js';
import { DEFAULT_SYSTEMS, SYSTEM_NAMES, type SystemName } from './system.js';
import { intOption, parseFlags } from '../args.js';

/** Usage text. */
export const COMPARE_USAGE = `usage: npm run bench:compare -- [options]
  --systems LIST      janus,pinus,proxy,janus-plaintext (default janus,pinus,proxy; janus-plaintext = the
                      same gateway and client with encrypted: false, to show what the records cost)
  --scenario LIST     echo,open,push (default all three)
                        echo: closed loop, one request in flight per session
                        open: open loop at --rate over --open-connections sessions
                        push: room broadcast (rooms of --room-size, --senders per room)
  --connections LIST  C values of echo and push (default 100,1000)
  --rounds N          rounds (default 3); each round runs every scenario, C and system once
  --warmup S          load before the window, not counted, seconds (default 5)
  --duration S        measured window, seconds (default 15)
  --rate R            open loop: requests per second offered in all (default 5000)
  --open-connections N  open loop: sessions (default 1000)
  --room-size N       push: sessions per room (default 100)
  --senders N         push: senders per room (default 10)
  --size BYTES        echo payload (default 64)
  --setup N           sessions connecting at once during setup (default 50)
  --pinus-dict on|off pinus route compression (default on)
  --verbose           progress and the children's output on stderr
  -h, --help          this text`;

/** Parsed command line. */
export interface CompareArgs {
  options: Omit<CompareOptions, 'log'>;
  verbose: boolean;
}

function list<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], defaults: readonly T[] = allowed): T[] {
  if (raw === undefined) return [...defaults];
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new JanusError(ErrorCode.ArgInvalid, `--${name} must name at least one of ${allowed.join(', ')}`);
  for (const i of items) if (!(allowed as readonly string[]).includes(i)) throw new JanusError(ErrorCode.ArgInvalid, `--${name}: unknown ${JSON.stringify(i)}, expected ${allowed.join(', ')}`);
  return [...new Set(items)] as T[];
}

/**
 * Parses `argv` (without node and the script).
 * @returns null when help was asked for.
 * @throws JanusError JANUS_ERR_ARG_INVALID naming the bad option.
 */
export function parseCompareArgs(argv: string[]): CompareArgs | null {
  const values = parseFlags(argv, {
    systems: { type: 'string' },
    scenario: { type: 'string' },
    connections: { type: 'string' },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
    duration: { type: 'string' },
    rate: { type: 'string' },
    'open-connections': { type: 'string' },
    'room-size': { type: 'string' },
    senders: { type: 'string' },
    size: { type: 'string' },
    setup: { type: 'string' },
    'pinus-dict': { type: 'string' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return null;
  const connections = (values.connections ?? '100,1000').split(',').map((s) => intOption('connections', s.trim(), 0, 1, 60000));
  const dict = values['pinus-dict'] ?? 'on';
  if (dict !== 'on' && dict !== 'off') throw new JanusError(ErrorCode.ArgInvalid, `--pinus-dict must be on or off, got ${JSON.stringify(dict)}`);
  const roomSize = intOption('room-size', values['room-size'], 100, 1, 60000);
  const options: Omit<CompareOptions, 'log'> = {
    systems: list<SystemName>('systems', values.systems, SYSTEM_NAMES, DEFAULT_SYSTEMS),
    scenarios: list<Scenario>('scenario', values.scenario, SCENARIOS),
    connections,
    openConnections: intOption('open-connections', values['open-connections'], 1000, 1, 60000),
    rateHz: intOption('rate', values.rate, 5000, 1, 1000000),
    rounds: intOption('rounds', values.rounds, 3, 1, 100),
    warmupS: intOption('warmup', values.warmup, 5, 0, 3600),
    durationS: intOption('duration', values.duration, 15, 1, 86400),
    // pinus's JSON body and the Janus record both fit far more; 65000 keeps Janus under its frame limit.
    sizeBytes: intOption('size', values.size, 64, 1, 65000),
    setupConcurrency: intOption('setup', values.setup, 50, 1, 10000),
    push: { roomSize, sendersPerRoom: Math.min(roomSize, intOption('senders', values.senders, 10, 1, 60000)), textChars: 64, pushTimeoutMs: 10000 },
    pinus: { useDict: dict === 'on', heartbeatS: 10 },
  };
  return { options, verbose: values.verbose ?? false };
}
