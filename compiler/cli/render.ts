import type { Diagnostic } from "../../dsl/index.js";

/** The JSON shape of `--format json`: flat, 1-based, one object per diagnostic. */
export interface JsonDiagnostic {
  code: string;
  severity: "error" | "warning";
  message: string;
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  hint?: string;
}

export function toJson(d: Diagnostic): JsonDiagnostic {
  const out: JsonDiagnostic = {
    code: d.code,
    severity: d.severity,
    message: d.message,
    file: d.span.file,
    line: d.span.start.line,
    column: d.span.start.column,
    endLine: d.span.end.line,
    endColumn: d.span.end.column,
  };
  if (d.hint !== undefined) out.hint = d.hint;
  return out;
}

interface Style {
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

const plain: Style = { red: (s) => s, yellow: (s) => s, cyan: (s) => s, bold: (s) => s, dim: (s) => s };
const ansi: Style = {
  red: (s) => `\x1b[31m${s}\x1b[39m`,
  yellow: (s) => `\x1b[33m${s}\x1b[39m`,
  cyan: (s) => `\x1b[36m${s}\x1b[39m`,
  bold: (s) => `\x1b[1m${s}\x1b[22m`,
  dim: (s) => `\x1b[2m${s}\x1b[22m`,
};

/**
 * Renders one diagnostic the way compilers people like do (rustc, Elm): location first so
 * terminals and editors can jump to it, then the source line with the span underlined, then the hint.
 *
 *     shop.catga:12:6: error C2001: unknown message 'OrderCreatd'
 *       12 |   on OrderCreatd broadcast
 *          |      ^^^^^^^^^^^
 *       hint: did you mean 'OrderCreated'?
 */
export function renderHuman(d: Diagnostic, source: string | undefined, color: boolean): string {
  return renderLabelled(d.severity, d.severity, d, source, color);
}

/**
 * {@link renderHuman} for anything of a diagnostic's shape with its own label, such as a
 * `catgac diff` finding (`wire-breaking D1001: …`). `tone` picks the colour: red, yellow or plain.
 */
export function renderLabelled(
  label: string,
  tone: "error" | "warning" | "note",
  d: Pick<Diagnostic, "message" | "span" | "hint" | "related"> & { code: string },
  source: string | undefined,
  color: boolean,
): string {
  const s = color ? ansi : plain;
  const { file, start, end } = d.span;
  const mark = tone === "error" ? s.red : tone === "warning" ? s.yellow : s.cyan;
  const lines = [
    `${s.bold(`${file}:${start.line}:${start.column}`)}: ${mark(s.bold(label))} ${s.dim(d.code)}: ${d.message}`,
  ];
  const text = source === undefined ? undefined : lineAt(source, start.line);
  if (text !== undefined) {
    const gutter = String(start.line);
    const pad = " ".repeat(gutter.length);
    const shown = visible(text);
    const from = Math.min(start.column - 1, shown.length);
    const to = end.line === start.line ? Math.min(end.column - 1, shown.length) : shown.length;
    const width = Math.max(1, to - from);
    // Keep tabs in the indentation of the underline so it lines up under the code.
    const indent = shown.slice(0, from).replace(/[^\t]/g, " ");
    lines.push(`  ${s.cyan(`${gutter} |`)} ${shown}`);
    lines.push(`  ${s.cyan(`${pad} |`)} ${indent}${mark("^".repeat(width))}`);
  }
  if (d.hint !== undefined) lines.push(`  ${s.cyan("hint")}: ${d.hint}`);
  for (const r of d.related ?? []) {
    lines.push(
      `  ${s.cyan("note")}: ${r.span.file}:${r.span.start.line}:${r.span.start.column}: ${r.message}`,
    );
  }
  return lines.join("\n");
}

/** "2 errors, 1 warning" — the last line of a human report. */
export function summary(diagnostics: readonly Diagnostic[], files: number): string {
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.length - errors;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return `${plural(errors, "error")}, ${plural(warnings, "warning")} in ${plural(files, "file")}`;
}

/** The 1-based line `line` of `source`, without its line break. */
function lineAt(source: string, line: number): string | undefined {
  let at = 0;
  for (let n = 1; n < line; n++) {
    const next = nextBreak(source, at);
    if (next < 0) return undefined;
    at = next;
  }
  const stop = source.slice(at).search(/\r\n|\r|\n/);
  return stop < 0 ? source.slice(at) : source.slice(at, at + stop);
}

function nextBreak(source: string, from: number): number {
  for (let i = from; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 10) return i + 1;
    if (c === 13) return source.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
  }
  return -1;
}

/** Replaces control characters so a binary line cannot corrupt the terminal; keeps the length. */
function visible(text: string): string {
  const cut = text.length > 300 ? text.slice(0, 300) : text;
  let out = "";
  for (const c of cut) out += c === "\t" || c.charCodeAt(0) >= 0x20 ? c : "\u00b7";
  return out;
}
