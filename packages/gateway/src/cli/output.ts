/**
 * Where commands print, and how they fail (exit codes). Actions write through their
 * command's commander output configuration (inherited from the program), so
 * `buildProgram({ writeOut, writeErr })` captures everything a command prints, in-process.
 */
import type { Command } from 'commander';

/** Writes `text` (newlines included by the caller) to the command's standard output. */
export function writeOut(cmd: Command, text: string): void {
  const write = cmd.configureOutput().writeOut ?? ((s: string) => process.stdout.write(s));
  write(text);
}

/** Writes `text` (newlines included by the caller) to the command's standard error. */
export function writeErr(cmd: Command, text: string): void {
  const write = cmd.configureOutput().writeErr ?? ((s: string) => process.stderr.write(s));
  write(text);
}

/** The exit codes of `janus`. */
export const ExitCode = {
  Ok: 0,
  /** `token inspect`: the token does not decode or authenticate, has account_id <= 0, or expired. */
  TokenRejected: 1,
  /** `client`: the login failed (refused with a ServerLogout, or the gateway unreachable), or the gateway ended the session with a ServerLogout other than Waiting. */
  ClientFailed: 1,
  /** Bad usage, or a file that cannot be read or written. */
  Usage: 2,
} as const;

/**
 * A command that ran but failed in a way its exit code reports (not a usage or file error):
 * runCli prints `message` as the one `janus: ` line on standard error and exits `exitCode`
 * ({@link ExitCode}; docs/cli.md "Exit codes").
 */
export class CommandFailed extends Error {
  constructor(
    message: string,
    /** The process exit code, 1 .. 125. */
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CommandFailed';
  }
}
