import { down, kill, scale, status } from "./cluster.js";
import { deadLetters } from "./dead-letters.js";
import { RUN_HELP, run } from "./run.js";
import { sagas } from "./sagas.js";
import { up } from "./up.js";

const VERSION = "0.1.0";

const HELP = `catga — the Catga runtime

Usage: catga <command> [options]

Commands:
  run        run one instance of a service (what compose and Kubernetes start)
  up         run a topology locally: NATS, Redis and every replica as processes (--memory: in one process)
  status     services, instances, roles, leader and fencing token, NATS routes, Redis roles
  kill       end one instance of the local cluster (SIGKILL; --graceful: SIGTERM)
  scale      change a service's instance count: catga scale SERVICE=N
  down       drain and stop the local cluster, leaving no process behind
  sagas      sagas in flight (with their step), failed ones (with the error), counts per status
  dead-letters  durable events a service gave up on; 'dead-letters replay' puts them back

Options:
  -h, --help       show help (also: catga <command> --help)
  -v, --version    print the version

Exit codes: 0 success, 1 failure, 2 usage or configuration error, 130 stopped by a second signal.
`;

/**
 * Process entry of `catga`, the runtime's command line. An unexpected exception becomes one line
 * and exit code 3, never a stack trace (set CATGA_DEBUG=1 to see it).
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
    case "up":
    case "status":
    case "kill":
    case "scale":
    case "down": {
      const commands = { up, status, kill, scale, down };
      commands[command](rest, { ...io, tty: process.stdout.isTTY === true }).then(
        (code) => process.exit(code),
        (error: unknown) => {
          io.stderr(`catga: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
          if (process.env.CATGA_DEBUG && error instanceof Error) io.stderr(`${error.stack}\n`);
          process.exit(3);
        },
      );
      return;
    }
    case "dead-letters":
      deadLetters(rest, io).then(
        (code) => process.exit(code),
        (error: unknown) => {
          io.stderr(`catga: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
          process.exit(3);
        },
      );
      return;
    case "sagas":
      sagas(rest, io).then(
        (code) => process.exit(code),
        (error: unknown) => {
          io.stderr(`catga: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
          process.exit(3);
        },
      );
      return;
    case "run":
      run(rest, io).then(
        // Exit explicitly: after a drain, timers of libraries (reconnect, keep-alive) must not keep
        // the process alive past its grace period.
        (code) => process.exit(code),
        (error: unknown) => {
          io.stderr(`catga: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
          if (process.env.CATGA_DEBUG && error instanceof Error) io.stderr(`${error.stack}\n`);
          process.exit(3);
        },
      );
      return;
    default:
      io.stderr(command === undefined ? HELP : `catga: unknown command '${command}'; run 'catga --help'\n`);
      process.exitCode = 2;
  }
}

export { RUN_HELP };
