import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { type Diagnostic, hasErrors, sortDiagnostics } from "../../dsl/index.js";
import {
  DIFF_RULES,
  type DiffFinding,
  diffSources,
  failsDiff,
  isBreaking,
  isDiffCode,
} from "../diff/index.js";
import { renderHuman, renderLabelled, summary, toJson } from "./render.js";

/** Where the diff writes; the same shape as the CLI's `Io`. */
interface DiffIo {
  stdout(text: string): void;
  stderr(text: string): void;
  color: boolean;
}

/** A usage or environment problem of `catgac diff`: one line on stderr, exit 2. */
class DiffUsageError extends Error {
  override name = "DiffUsageError";
}

export const DIFF_HELP = `catgac diff — what a change does to a running cluster

Usage: catgac diff [--format human|json] [--allow CODE,...] OLD NEW

Compares two versions of a topology and classifies every change by what it does while old and new
replicas serve side by side during a rolling update:
  wire-breaking        a message one version writes is rejected or misread by the other
  behaviour-breaking   messages decode, but routing, delivery or in-flight sagas change
  safe                 neither
Each finding names its rule (D1001–D1099, docs/diff.md), where it is, and the safe way to make
the change. OLD and NEW are .catga files or git:REF:PATH (read with 'git show REF:PATH'; PATH from
the repository root, or ./PATH from the current folder).

Options:
  --format human|json      output format (default: human). json prints one object
                           { old, new, compared, breaking, findings: [...], diagnostics: [...] }
  --allow CODE,...         accept these rules on purpose: reported, but they do not fail the diff
  -h, --help               show this help

Exit codes: 0 no breaking change (safe or allowed ones only), 1 a breaking change, or errors in a
file (its diagnostics are printed), 2 usage or I/O error (including a failed git show).
`;

/** `catgac diff`: returns the exit code. */
export async function diffCommand(argv: readonly string[], io: DiffIo): Promise<number> {
  try {
    const { values, positionals } = args(argv);
    if (values.help) {
      io.stdout(DIFF_HELP);
      return 0;
    }
    if (values.format !== "human" && values.format !== "json") {
      throw new DiffUsageError(`unknown format '${String(values.format)}'; use human or json`);
    }
    if (positionals.length !== 2) {
      throw new DiffUsageError("diff takes two versions: OLD NEW; see 'catgac diff --help'");
    }
    const [oldSpec, newSpec] = positionals as [string, string];
    const allowed = allowList(values.allow);
    const [oldBytes, newBytes] = await Promise.all([readVersion(oldSpec), readVersion(newSpec)]);
    return runDiff(
      { source: oldBytes, file: oldSpec },
      { source: newBytes, file: newSpec },
      allowed,
      values.format,
      io,
    );
  } catch (error) {
    if (error instanceof DiffUsageError) {
      io.stderr(`catgac: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/**
 * `catgac build --against OLD`: the diff of OLD against the file being built, printed like
 * `catgac diff`. Returns 0 when the build may go on, 1 on a breaking change, 2 when OLD cannot be read.
 */
export async function againstCheck(
  oldSpec: string,
  next: { source: Uint8Array; file: string },
  allow: string | undefined,
  io: DiffIo,
): Promise<number> {
  try {
    const allowed = allowList(allow);
    return runDiff({ source: await readVersion(oldSpec), file: oldSpec }, next, allowed, "human", io, true);
  } catch (error) {
    if (error instanceof DiffUsageError) {
      io.stderr(`catgac: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

function runDiff(
  old: { source: Uint8Array; file: string },
  next: { source: Uint8Array; file: string },
  allowed: ReadonlySet<string>,
  format: "human" | "json",
  io: DiffIo,
  quietWhenSafe = false,
): number {
  const result = diffSources(old, next);
  const errors = sortDiagnostics(result.diagnostics.filter((d) => d.severity === "error"));
  const breaking = result.findings.some((f) => failsDiff(f, allowed));
  if (format === "json") {
    io.stdout(
      `${JSON.stringify(
        {
          old: old.file,
          new: next.file,
          compared: result.compared,
          breaking,
          findings: result.findings.map((f) => findingJson(f, allowed)),
          diagnostics: errors.map(toJson),
        },
        null,
        2,
      )}\n`,
    );
    return !result.compared || breaking ? 1 : 0;
  }
  const sources = new Map([
    [old.file, text(old.source)],
    [next.file, text(next.source)],
  ]);
  if (!result.compared) {
    printDiagnostics(errors, sources, io);
    io.stdout(`cannot compare: fix the errors above first\n`);
    return 1;
  }
  if (quietWhenSafe && !breaking) {
    io.stdout(`against ${old.file}: ${tally(result.findings, allowed)}\n`);
    return 0;
  }
  for (const f of result.findings) {
    const allow = isBreaking(f.class) && allowed.has(f.code);
    const label = f.class === "safe" ? "safe" : `${f.class}-breaking${allow ? " (allowed)" : ""}`;
    const tone = f.class === "safe" ? "note" : allow ? "warning" : "error";
    io.stdout(`${renderLabelled(label, tone, f, sources.get(f.span.file), io.color)}\n\n`);
  }
  io.stdout(`${old.file} → ${next.file}: ${tally(result.findings, allowed)}\n`);
  return breaking ? 1 : 0;
}

/** "6 changes: 1 wire-breaking, 2 behaviour-breaking, 3 safe (1 allowed)" or "no changes". */
function tally(findings: readonly DiffFinding[], allowed: ReadonlySet<string>): string {
  if (findings.length === 0) return "no changes";
  const count = (c: string) => findings.filter((f) => f.class === c).length;
  const allowedCount = findings.filter((f) => isBreaking(f.class) && allowed.has(f.code)).length;
  const parts = [
    `${count("wire")} wire-breaking`,
    `${count("behaviour")} behaviour-breaking`,
    `${count("safe")} safe`,
  ];
  const total = `${findings.length} change${findings.length === 1 ? "" : "s"}`;
  return `${total}: ${parts.join(", ")}${allowedCount ? ` (${allowedCount} allowed)` : ""}`;
}

/** The JSON of one finding: flat and 1-based like `catgac check --format json`. */
function findingJson(f: DiffFinding, allowed: ReadonlySet<string>) {
  return {
    code: f.code,
    rule: DIFF_RULES[f.code].name,
    class: f.class,
    breaking: isBreaking(f.class),
    allowed: isBreaking(f.class) && allowed.has(f.code),
    message: f.message,
    file: f.span.file,
    line: f.span.start.line,
    column: f.span.start.column,
    endLine: f.span.end.line,
    endColumn: f.span.end.column,
    hint: f.hint,
    ...(f.related
      ? {
          related: f.related.map((r) => ({
            message: r.message,
            file: r.span.file,
            line: r.span.start.line,
            column: r.span.start.column,
          })),
        }
      : {}),
  };
}

function printDiagnostics(
  diagnostics: readonly Diagnostic[],
  sources: Map<string, string>,
  io: DiffIo,
): void {
  for (const d of diagnostics) io.stdout(`${renderHuman(d, sources.get(d.span.file), io.color)}\n\n`);
  if (hasErrors(diagnostics)) io.stdout(`${summary(diagnostics, 2)}\n`);
}

function args(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        format: { type: "string", default: "human" },
        allow: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new DiffUsageError(error instanceof Error ? error.message : String(error));
  }
}

function allowList(text: string | undefined): ReadonlySet<string> {
  if (text === undefined) return new Set();
  const codes = text
    .split(",")
    .map((c) => c.trim().toUpperCase())
    .filter((c) => c !== "");
  const unknown = codes.filter((c) => !isDiffCode(c));
  if (unknown.length > 0) {
    throw new DiffUsageError(
      `--allow: unknown rule ${unknown.join(", ")}; the rules are D1001–D1099 (docs/diff.md)`,
    );
  }
  return new Set(codes);
}

/** Reads a `.catga` file, or `git:REF:PATH` through `git show REF:PATH` in the current folder. */
async function readVersion(spec: string): Promise<Uint8Array> {
  if (spec.startsWith("git:")) {
    const rest = spec.slice(4);
    const colon = rest.indexOf(":");
    if (colon <= 0 || colon === rest.length - 1) {
      throw new DiffUsageError(`'${spec}': expected git:REF:PATH, such as git:HEAD:topology.catga`);
    }
    return gitShow(rest.slice(0, colon), rest.slice(colon + 1), spec);
  }
  try {
    return await readFile(spec);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : String(error);
    throw new DiffUsageError(`cannot read '${spec}': ${why}`);
  }
}

function gitShow(ref: string, path: string, spec: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // execFile, not a shell: REF and PATH are passed as one argument, never interpreted.
    execFile(
      "git",
      ["show", `${ref}:${path}`],
      { encoding: "buffer", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const reason = stderr.toString("utf8").trim().split("\n")[0] || error.message;
          reject(new DiffUsageError(`cannot read '${spec}' with git show: ${reason}`));
        } else resolve(new Uint8Array(stdout));
      },
    );
  });
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function text(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return Buffer.from(bytes).toString("latin1");
  }
}
