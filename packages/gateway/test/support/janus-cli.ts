/** Runs the real `janus` binary as a child process, for CLI tests. */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** packages/gateway/bin/janus.js (this file is dist/test/support/janus-cli.js). */
export const JANUS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bin/janus.js');

/** What a finished `janus` run printed, and its exit code. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/janus.js ...args` in `cwd` (no stdin) and collects its output. */
export function runJanus(cwd: string, ...args: string[]): Promise<Run> {
  return runJanusWith({ cwd }, args);
}

/**
 * {@link runJanus} with spawn options: `cwd` (default this process's) and `env` (default
 * this process's environment).
 */
export function runJanusWith(o: { cwd?: string; env?: NodeJS.ProcessEnv }, args: string[]): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [JANUS, ...args], { ...o, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}
