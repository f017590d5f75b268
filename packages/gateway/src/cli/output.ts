/**
 * Where commands print. Actions write through their command's commander output
 * configuration (inherited from the program), so `buildProgram({ writeOut, writeErr })`
 * captures everything a command prints, in-process.
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
