/**
 * `janus token issue` and `janus token inspect` (PROTOCOL.md 6). Issue prints the token as
 * its last standard-output line (the fields go to standard error); inspect prints the
 * fields and fails with exit code 1 when the token is invalid or expired.
 */
import { Option, type Command } from 'commander';
import { ErrorCode, JanusError } from '@janus/protocol';
import { INT64_MAX, collect, parseBigIntArg, parseIntArg } from './args.js';
import { readTokenKeyFile } from './keyfiles.js';
import { writeErr, writeOut } from './output.js';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  TOKEN_STATUS_NAMES,
  formatTokenFields,
  inspectToken,
  isoDate,
  issueToken,
  unixNow,
} from './token-tool.js';

interface IssueOpts {
  tokenKey: string[];
  uid: string;
  color?: string;
  serverId?: string;
  ttl?: string;
  status?: keyof typeof TOKEN_STATUS_NAMES;
  location?: string;
}

interface InspectOpts {
  tokenKey: string[];
}

function tokenKeyOption(description: string): Option {
  return new Option('--token-key <file>', description).argParser(collect).makeOptionMandatory();
}

async function runIssue(opts: IssueOpts, cmd: Command): Promise<void> {
  if (opts.tokenKey.length !== 1) {
    throw new JanusError(ErrorCode.ArgInvalid, `--token-key given ${opts.tokenKey.length} times; token issue seals with exactly one key`);
  }
  const uid = parseBigIntArg(opts.uid, { flag: '--uid', min: 1n, max: INT64_MAX, what: 'a positive integer (at most 2^63-1)' });
  const serverId =
    opts.serverId === undefined
      ? 0n
      : parseBigIntArg(opts.serverId, { flag: '--server-id', min: 0n, max: INT64_MAX, what: 'a non-negative integer (at most 2^63-1)' });
  const ttlSeconds =
    opts.ttl === undefined
      ? DEFAULT_TOKEN_TTL_SECONDS
      : parseIntArg(opts.ttl, {
          flag: '--ttl',
          min: -Number.MAX_SAFE_INTEGER,
          max: Number.MAX_SAFE_INTEGER,
          what: 'an integer number of seconds',
        });
  const location =
    opts.location === undefined
      ? 0
      : parseIntArg(opts.location, { flag: '--location', min: -(2 ** 31), max: 2 ** 31 - 1, what: 'a 32-bit integer' });
  const tokenKey = await readTokenKeyFile(opts.tokenKey[0]!);
  const now = unixNow();
  const { token, fields } = await issueToken({
    tokenKey,
    uid,
    color: opts.color ?? '',
    serverId,
    ttlSeconds,
    status: TOKEN_STATUS_NAMES[opts.status ?? 'gate'],
    location,
    now,
  });
  writeErr(cmd, formatTokenFields(fields, now).map((l) => `${l}\n`).join(''));
  writeOut(cmd, `${token}\n`);
}

async function runInspect(token: string, opts: InspectOpts, cmd: Command): Promise<void> {
  const keys: Uint8Array[] = [];
  for (const file of opts.tokenKey) keys.push(await readTokenKeyFile(file));
  const now = unixNow();
  const report = await inspectToken(keys, token, now);
  const lines = formatTokenFields(report.fields, now, [['token key', opts.tokenKey[report.keyIndex]!]]);
  writeOut(cmd, lines.map((l) => `${l}\n`).join(''));
  if (report.expired) {
    const t = report.fields.timeout;
    throw new JanusError(ErrorCode.TokenExpired, `token expired at ${t} (${isoDate(t)}), ${-report.secondsLeft} s ago`, {
      timeout: t.toString(),
    });
  }
}

/** Adds `janus token issue` and `janus token inspect` to `program`. */
export function register(program: Command): void {
  const token = program
    .command('token')
    .summary('issue or inspect auth tokens')
    .description('Issue or inspect auth tokens: AES-256-GCM under a token key (PROTOCOL.md section 6).');

  token
    .command('issue')
    .summary('seal a token for one user')
    .description(
      'Seal a token for one user and print it as the last line of standard output; the fields ' +
        'go to standard error, so TOKEN=$(janus token issue ...) captures the token alone. ' +
        'rand is 8 random bytes in hex; timeout is now + --ttl, in unix seconds.',
    )
    .addOption(tokenKeyOption('token key file that seals the token: standard base64 of 32 bytes (required, once)'))
    .requiredOption('--uid <n>', 'account_id, the session uid: a decimal integer from 1 to 2^63-1 (required)')
    .option('--color <c>', 'the session color, any string (default: "", the empty color)')
    .option('--server-id <s>', 'server_id, the session sid: a decimal integer from 0 to 2^63-1 (default: 0)')
    .option('--ttl <seconds>', 'lifetime in seconds from now; negative gives an expired token (default: 86400, 24 h)')
    .addOption(
      new Option('--status <status>', 'token status, passed to backends (default: gate = 1)').choices(Object.keys(TOKEN_STATUS_NAMES)),
    )
    .option('--location <l>', 'location, passed to backends: a 32-bit integer (default: 0)')
    .action(runIssue);

  token
    .command('inspect')
    .summary('print the fields of a token, or why it is rejected')
    .description(
      'Open a token and print its fields: uid, sid, color, status, location, rand, timeout ' +
        '(unix seconds and ISO date), seconds left, and which --token-key opened it. Exit code 1, ' +
        'with the reason on standard error, when the token does not decode, does not authenticate ' +
        'under any given key, has account_id <= 0, or has expired (the fields are still printed).',
    )
    .argument('<token>', 'the token (base64url), as printed by janus token issue; one that starts with "-" is taken as the token too (or put -- before it)')
    // A base64url token may start with '-': take an unknown option-like word as the token.
    .allowUnknownOption()
    .addOption(
      tokenKeyOption('token key file to open with: standard base64 of 32 bytes (required; repeat to try several keys in order)'),
    )
    .action(runInspect);
}
