/**
 * The `janus` command line: builds the commander program from one module per top-level
 * command and turns every failure into one line on standard error and an exit code.
 *
 * Exit codes: 0 success; 1 a token that is invalid or expired (`token inspect`), or a
 * `client` that could not log in or whose session the gateway ended with a ServerLogout
 * other than Waiting; 2 a usage error (bad or missing argument, unknown option or command)
 * or a file that cannot be read or written.
 */
import { Command, CommanderError } from 'commander';
import { ErrorCode, isJanusError } from '@janus/protocol';
import { CommandFailed, ExitCode } from './output.js';
import { register as registerKeygen } from './keygen.js';
import { register as registerToken } from './token.js';
import { register as registerGateway } from './gateway-command.js';
import { register as registerDemo } from './demo.js';
import { register as registerClient } from './client-command.js';

/** Where the program prints; defaults to the process's stdout and stderr. */
export interface CliOutput {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

/**
 * The top-level commands, one module each; each module exports `register(program)` and
 * adds its command with `program.command(...)` (which inherits the error and output
 * settings below). Add a command by adding one line here.
 */
const COMMANDS: readonly ((program: Command) => void)[] = [
  registerKeygen,
  registerToken,
  registerGateway,
  registerDemo,
  registerClient,
];

/**
 * Builds the `janus` program with every command registered. Commander errors are thrown
 * as CommanderError (never `process.exit`) and commander prints no error text itself;
 * {@link runCli} prints them.
 * @param output where help and command output go; default the process's streams.
 */
export function buildProgram(output?: CliOutput): Command {
  const program = new Command('janus')
    .description('Janus game connection gateway: run a gateway or the demo stack, make keys, issue and inspect tokens, talk to a gateway.')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      ...(output ? { writeOut: (s: string) => output.writeOut(s), writeErr: (s: string) => output.writeErr(s) } : {}),
      outputError: () => {},
    })
    .addHelpText(
      'after',
      '\nExit codes: 0 ok; 1 token inspect found the token invalid or expired, or client could not log in or its session ended with a ServerLogout other than Waiting;\n' +
        '2 usage error (bad or missing argument, unknown option) or a file that cannot be read or written.\n' +
        'Run "janus COMMAND --help" (or "janus token issue --help") for a command\'s options.',
    );
  for (const add of COMMANDS) add(program);
  return program;
}

/** One line: `janus: ` and the message with commander's `error: ` prefix and newlines removed. */
function oneLine(message: string): string {
  const text = message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim();
  return `janus: ${text}\n`;
}

/**
 * Runs `janus` with `args` (the arguments after the script, e.g. `process.argv.slice(2)`)
 * and resolves to the exit code; never rejects. Errors print as one line on standard error,
 * never a stack trace.
 */
export async function runCli(args: readonly string[], output?: CliOutput): Promise<number> {
  const writeErr = output ? (s: string) => output.writeErr(s) : (s: string) => void process.stderr.write(s);
  const program = buildProgram(output);
  // Whether the last help shown was the error help (a command was missing). Why not
  // err.exitCode: commander derives a help display's exit code from process.exitCode,
  // which an embedding process (a test runner) may have set.
  let helpWasError = false;
  program.addHelpText('afterAll', (context) => {
    helpWasError = context.error;
    return '';
  });
  try {
    await program.parseAsync([...args], { from: 'user' });
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // helpDisplayed: --help. help: `janus help CMD`, or a missing command (error help,
      // already printed on stderr). Every other commander error is a one-line usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return ExitCode.Ok;
      if (err.code === 'commander.help') return helpWasError ? ExitCode.Usage : ExitCode.Ok;
      writeErr(oneLine(err.message));
      return ExitCode.Usage;
    }
    if (err instanceof CommandFailed) {
      writeErr(oneLine(err.message));
      return err.exitCode;
    }
    if (isJanusError(err)) {
      writeErr(oneLine(err.message));
      const rejected =
        err.code === ErrorCode.TokenMalformed || err.code === ErrorCode.TokenInvalid || err.code === ErrorCode.TokenExpired;
      return rejected ? ExitCode.TokenRejected : ExitCode.Usage;
    }
    writeErr(oneLine(`unexpected error: ${err instanceof Error ? err.message : String(err)}`));
    return ExitCode.Usage;
  }
}
