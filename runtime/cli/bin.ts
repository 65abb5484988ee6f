import { didYouMean } from "../_suggest.js";
import { deadLetters } from "./dead-letters.js";
import { RUN_HELP, run } from "./run.js";
import { sagas } from "./sagas.js";

const VERSION = "0.1.0";

/** The commands the runtime's `catga` runs (the tooling's `catga` adds the local cluster's). */
export const RUNTIME_COMMANDS: readonly string[] = ["run", "sagas", "dead-letters"];

const HELP = `catga — the Catga runtime

Usage: catga <command> [options]

Commands:
  run        run one instance of a service (what compose and Kubernetes start)
  sagas      sagas in flight (with their step), failed ones (with the error), counts per status
  dead-letters  durable events a service gave up on; 'dead-letters replay' puts them back

Options:
  -h, --help       show help (also: catga <command> --help)
  -v, --version    print the version

The local cluster (up, status, kill, scale, down) is developer tooling: it comes with the 'catga'
package, whose 'catga' runs these commands too.

Exit codes: 0 success, 1 failure, 2 usage or configuration error, 130 stopped by a second signal,
3 an internal error (a bug: please report it).
`;

/**
 * Process entry of `catga` as the runtime installs it: what containers start, and the operator
 * commands that need nothing but the runtime. An unexpected exception becomes one line and exit
 * code 3, never a stack trace (set CATGA_DEBUG=1 to see it).
 */
export function runCatga(argv: readonly string[]): void {
  const [command, ...rest] = argv;
  const io = {
    stdout: (t: string) => process.stdout.write(t),
    stderr: (t: string) => process.stderr.write(t),
  };
  switch (command) {
    case "-v":
    case "--version":
      io.stdout(`${VERSION}\n`);
      return;
    case "-h":
    case "--help":
      io.stdout(HELP);
      return;
    case "dead-letters":
      exitWhenDone(deadLetters(rest, io), io);
      return;
    case "sagas":
      exitWhenDone(sagas(rest, io), io);
      return;
    case "run":
      exitWhenDone(run(rest, io), io);
      return;
    default:
      io.stderr(
        command === undefined
          ? HELP
          : `catga: unknown command '${command}'${didYouMean(command, RUNTIME_COMMANDS)}; run 'catga --help'\n`,
      );
      process.exitCode = 2;
  }
}

export { RUN_HELP };

/**
 * Exits with the command's code once it is done. Explicitly: after a drain, timers of libraries
 * (reconnect, keep-alive) must not keep the process alive past its grace period. An unexpected
 * exception becomes one line and exit code 3 (3 is reserved for bugs), with the stack only when
 * CATGA_DEBUG is set.
 */
export function exitWhenDone(pending: Promise<number>, io: { stderr(t: string): void }): void {
  pending.then(
    (code) => process.exit(code),
    (error: unknown) => {
      io.stderr(`catga: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
      if (process.env.CATGA_DEBUG && error instanceof Error) io.stderr(`${error.stack}\n`);
      process.exit(3);
    },
  );
}
