/**
 * Command line of the soak (`npm run soak -- [options]`): parsed and checked once, every
 * bad value named in a JANUS_ERR_ARG_INVALID message.
 */
import { ErrorCode, JanusError } from '@janus/protocol';
import { intOption, parseFlags } from './args.js';
import { SOAK_DEFAULTS, type SoakOptions } from './soak-run.js';

/** Usage text. */
export const SOAK_USAGE = `usage: npm run soak -- [options]
  --minutes M        churn length in minutes (default 30)
  --sessions N       concurrent workers, one uid each (default ${SOAK_DEFAULTS.sessions})
  --rate R           requests/s over all sessions (default: half the closed-loop capacity measured first)
  --calibrate S      closed-loop calibration length in seconds, without --rate (default ${SOAK_DEFAULTS.calibrateS})
  --sample S         memory sample period in seconds (default ${SOAK_DEFAULTS.sampleEveryS})
  --restart-every S  backend restart period in seconds, 0 = never (default ${SOAK_DEFAULTS.restartEveryS})
  --life MIN-MAX     session lifetime range in seconds (default ${SOAK_DEFAULTS.lifetimeMinS}-${SOAK_DEFAULTS.lifetimeMaxS})
  --warmup S         RSS samples before this are left out of the trend (default ${SOAK_DEFAULTS.warmupS})
  --out PREFIX       write PREFIX.csv, PREFIX.svg and PREFIX.txt (default soak)
  --verbose          also print the children's log lines
  -h, --help         this text`;

/** Parsed command line. */
export interface SoakArgs {
  options: SoakOptions;
  out: string;
  verbose: boolean;
}

/**
 * Parses `argv` (without node and the script).
 * @returns null when help was asked for.
 * @throws JanusError JANUS_ERR_ARG_INVALID naming the bad option.
 */
export function parseSoakArgs(argv: string[]): SoakArgs | null {
  const values = parseFlags(argv, {
    minutes: { type: 'string' },
    sessions: { type: 'string' },
    rate: { type: 'string' },
    calibrate: { type: 'string' },
    sample: { type: 'string' },
    'restart-every': { type: 'string' },
    life: { type: 'string' },
    warmup: { type: 'string' },
    out: { type: 'string' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return null;
  let lifeMin = SOAK_DEFAULTS.lifetimeMinS;
  let lifeMax = SOAK_DEFAULTS.lifetimeMaxS;
  if (values.life !== undefined) {
    const m = /^(\d+)-(\d+)$/.exec(values.life);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < Number(m[1])) throw new JanusError(ErrorCode.ArgInvalid, `--life must be MIN-MAX seconds with 1 <= MIN <= MAX, got ${JSON.stringify(values.life)}`);
    lifeMin = Number(m[1]);
    lifeMax = Number(m[2]);
  }
  const options: SoakOptions = {
    ...SOAK_DEFAULTS,
    durationS: intOption('minutes', values.minutes, 30, 1, 24 * 60) * 60,
    sessions: intOption('sessions', values.sessions, SOAK_DEFAULTS.sessions, 1, 20000),
    rate: values.rate === undefined ? null : intOption('rate', values.rate, 0, 1, 1_000_000),
    calibrateS: intOption('calibrate', values.calibrate, SOAK_DEFAULTS.calibrateS, 1, 600),
    sampleEveryS: intOption('sample', values.sample, SOAK_DEFAULTS.sampleEveryS, 1, 3600),
    restartEveryS: intOption('restart-every', values['restart-every'], SOAK_DEFAULTS.restartEveryS, 0, 86400),
    lifetimeMinS: lifeMin,
    lifetimeMaxS: lifeMax,
    warmupS: intOption('warmup', values.warmup, SOAK_DEFAULTS.warmupS, 0, 86400),
  };
  return { options, out: values.out ?? 'soak', verbose: values.verbose ?? false };
}
