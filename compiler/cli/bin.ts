import { main } from "./catgac.js";

/**
 * Process entry of `catgac`: wires the CLI to the real streams and turns an unexpected exception
 * (a bug, never a finding about the input) into one line and exit code 3 instead of a stack trace.
 */
export function runCatgac(argv: readonly string[]): void {
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  main(argv, {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    color: color || Boolean(process.env.FORCE_COLOR),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `catgac: internal error: ${error instanceof Error ? error.message : String(error)}\n` +
          "This is a bug in catgac, not in your topology; please report it with the input file.\n",
      );
      if (process.env.CATGA_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
      process.exitCode = 3;
    },
  );
}
