import { check, checkSource } from "../../compiler/check/index.js";
import { DIAGNOSTIC_CODES, type Diagnostic, hasErrors, parse } from "../../dsl/index.js";

/** The file name every robustness input is parsed under. */
export const FILE = "fuzz.catga";

/**
 * What is wrong with a list of diagnostics for a text of `length` UTF-16 units: unknown codes,
 * severities that disagree with the code table, empty messages, spans outside the text or reversed.
 * Plain code rather than one `expect` per property, so 100,000 diagnostics take milliseconds.
 */
export function malformed(diagnostics: readonly Diagnostic[], length: number): string[] {
  const problems: string[] = [];
  if (!Array.isArray(diagnostics)) return ["diagnostics is not an array"];
  for (const [i, d] of (diagnostics as readonly Diagnostic[]).entries()) {
    const at = `#${i} ${d.code}`;
    const entry = DIAGNOSTIC_CODES[d.code] as { severity: string } | undefined;
    if (entry === undefined) problems.push(`${at}: unknown code`);
    else if (d.severity !== entry.severity) problems.push(`${at}: severity ${d.severity}`);
    if (typeof d.message !== "string" || d.message.length === 0) problems.push(`${at}: empty message`);
    for (const span of [d.span, ...(d.related ?? []).map((r) => r.span)]) {
      const { start, end } = span;
      if (
        span.file !== FILE ||
        start.line < 1 ||
        start.column < 1 ||
        end.line < start.line ||
        end.column < 1 ||
        start.offset < 0 ||
        start.offset > end.offset ||
        end.offset > length ||
        ![start.line, start.column, start.offset, end.line, end.column, end.offset].every(Number.isInteger)
      ) {
        problems.push(`${at}: bad span ${JSON.stringify(span)}`);
      }
    }
  }
  return problems;
}

/** Throws when `diagnostics` are malformed (see {@link malformed}); cheap enough for any count. */
export function expectWellFormed(diagnostics: readonly Diagnostic[], length: number): void {
  const problems = malformed(diagnostics, length);
  if (problems.length > 0) throw new Error(`malformed diagnostics:\n${problems.slice(0, 20).join("\n")}`);
}

/**
 * Parses and checks `text` the way the CLI does, asserting that neither throws, that both return
 * well-formed diagnostics, that every syntax error reaches the user through `checkSource`, and that
 * a run without errors yields a model.
 */
export function expectGraceful(text: string): { parsed: Diagnostic[]; checked: Diagnostic[] } {
  const parsed = parse(text, FILE);
  expectWellFormed(parsed.diagnostics, text.length);
  const checked = checkSource(text, FILE);
  expectWellFormed(checked.diagnostics, text.length);
  for (const d of parsed.diagnostics) {
    if (!checked.diagnostics.some((c) => c.code === d.code && c.span.start.offset === d.span.start.offset)) {
      throw new Error(`checkSource dropped the syntax error ${d.code} at offset ${d.span.start.offset}`);
    }
  }
  if (!hasErrors(checked.diagnostics) && checked.value === undefined) {
    throw new Error("checkSource reported no error but returned no model");
  }
  return { parsed: parsed.diagnostics, checked: checked.diagnostics };
}

/** Milliseconds taken by `f`, with its result. */
export function timed<T>(f: () => T): { ms: number; result: T } {
  const start = performance.now();
  const result = f();
  return { ms: performance.now() - start, result };
}

/** The codes of some diagnostics, in order. */
export const codes = (diagnostics: readonly Diagnostic[]): string[] => diagnostics.map((d) => d.code);

/**
 * Parses, then checks the parsed file, timing both: the work of `checkSource` without parsing a
 * large input twice. The checker also runs here on files `checkSource` would not check (C1008), so
 * it is exercised on the partial AST of hopeless input too.
 */
export function parseAndCheck(text: string): {
  parsed: Diagnostic[];
  checked: Diagnostic[];
  parseMs: number;
  checkMs: number;
} {
  const parsed = timed(() => parse(text, FILE));
  expectWellFormed(parsed.result.diagnostics, text.length);
  const checked = timed(() => check(parsed.result.value));
  expectWellFormed(checked.result.diagnostics, text.length);
  return {
    parsed: parsed.result.diagnostics,
    checked: checked.result.diagnostics,
    parseMs: parsed.ms,
    checkMs: checked.ms,
  };
}
