import { RUN_HELP, run } from "./run.js";

const VERSION = "0.1.0";

const HELP = `catga — the Catga runtime

Usage: catga <command> [options]

Commands:
  run        run one instance of a service (what compose and Kubernetes start)

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
