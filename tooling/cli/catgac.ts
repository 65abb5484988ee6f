/**
 * Process entry of `catgac` as the package installs it: the compiler's commands, plus `catgac lsp`,
 * the language server, which is tooling on top of the compiler (compiler/ never imports tooling/).
 */
import { runCatgac } from "../../compiler/cli/bin.js";

export function runCatgacTooling(argv: readonly string[]): void {
  const [command, ...rest] = argv;
  if (command !== "lsp") {
    runCatgac(argv);
    return;
  }
  // Loaded only for `lsp`: the other commands do not pay for the protocol library.
  import("../lsp/index.js").then(
    ({ runLanguageServer }) => {
      const code = runLanguageServer(rest, {
        stdout: (t) => process.stdout.write(t),
        stderr: (t) => process.stderr.write(t),
      });
      if (code !== undefined) process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `catgac: lsp: cannot start: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exitCode = 3;
    },
  );
}
