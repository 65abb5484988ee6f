/**
 * `catgac lsp`: the language server of `.catga` files, on vscode-languageserver. It reads and
 * checks documents with the compiler's own parser, checker and formatter, so what the editor shows
 * is what `catgac check` and `catgac fmt` say. Named exports only; files starting with `_` are
 * private to this folder.
 */
import { createConnection, StreamMessageReader, StreamMessageWriter } from "vscode-languageserver/node.js";
import { serve } from "./server.js";

export { type Analysis, analyze } from "./_analysis.js";
export { completeAt, type Proposal } from "./_completion.js";
export { serve, toLspDiagnostic } from "./server.js";

/** Usage of `catgac lsp`, printed by `catgac lsp --help`. */
export const LSP_HELP = `catgac lsp — the language server of .catga files

Usage: catgac lsp [--stdio]

Speaks the Language Server Protocol on standard input and output (the only transport, so
--stdio is accepted and changes nothing): diagnostics as you type, hover, go to definition,
references, rename, completion, outline, folding, semantic tokens, formatting and quick fixes.
Editors start it themselves; see docs/editors.md.

Options:
  --stdio                  talk over stdin/stdout (the default)
  -h, --help               show this help
`;

/**
 * Runs the server on this process's stdin and stdout until the client says exit. Returns the exit
 * code for arguments it does not take (2), after printing why, without starting.
 */
export function runLanguageServer(
  argv: readonly string[],
  io: { stdout(t: string): void; stderr(t: string): void },
): number | undefined {
  for (const arg of argv) {
    if (arg === "-h" || arg === "--help") {
      io.stdout(LSP_HELP);
      return 0;
    }
    if (arg !== "--stdio") {
      io.stderr(
        `catgac: lsp: unknown option '${arg}'; the server talks over stdio only (see 'catgac lsp --help')\n`,
      );
      return 2;
    }
  }
  serve(createConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout)));
  return undefined;
}
