/**
 * Entry point of the `janus` command (bin/janus.js imports it): runs the program on the
 * process's arguments and sets the exit code (0 ok, 1 rejected token or failed client
 * session, 2 usage or file error; see program.ts): runCli's answer is the only place it is
 * set. Sets `process.exitCode` rather than calling `process.exit` so
 * pending output is flushed.
 */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2));
