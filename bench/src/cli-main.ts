/**
 * The frame of the bench commands that run children until done or interrupted (load.ts,
 * soak.ts, compare/main.ts): the command line, Ctrl-C, and the exit code.
 */

/** One bench command, as {@link benchMain} runs it. */
export interface BenchCommand<A> {
  /** Prefix of the command's stderr lines (`bench`, `soak`, `bench:compare`). */
  name: string;
  usage: string;
  /** Parses argv (without node and the script): null when help was asked for; throws on a bad command line. */
  parse: (argv: string[]) => A | null;
  /** What the first SIGINT / SIGTERM prints after `name: `, e.g. `interrupted, stopping`. */
  interruptedLine: string;
  /**
   * The run: resolves the exit code. `signal` aborts on the first SIGINT / SIGTERM;
   * `interrupted()` tells whether one came.
   */
  run: (args: A, signal: AbortSignal, interrupted: () => boolean) => Promise<number>;
}

/**
 * Runs `c` and exits the process with its code: 2 after a bad command line (the message and
 * the usage on stderr), 0 after -h (the usage on stdout), else `run`'s code; a throw from
 * `run` prints one line and exits 130 after an interrupt, else 1. A second SIGINT / SIGTERM
 * exits 130 at once (children exit on their own: their IPC channel closes).
 */
export function benchMain<A>(c: BenchCommand<A>): void {
  const main = async (): Promise<number> => {
    let args: A | null;
    try {
      args = c.parse(process.argv.slice(2));
    } catch (err) {
      console.error(`${c.name}: ${(err as Error).message}\n${c.usage}`);
      return 2;
    }
    if (args === null) {
      console.log(c.usage);
      return 0;
    }
    const abort = new AbortController();
    let interrupted = false;
    const onSignal = (): void => {
      if (interrupted) process.exit(130);
      interrupted = true;
      console.error(`${c.name}: ${c.interruptedLine}`);
      abort.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      return await c.run(args, abort.signal, () => interrupted);
    } catch (err) {
      console.error(`${c.name}: ${(err as Error).message}`);
      return interrupted ? 130 : 1;
    }
  };
  // Exit explicitly: a session still connecting when the run ended must not keep the process up.
  void main().then((code) => process.exit(code));
}
