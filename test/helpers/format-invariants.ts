import { expect } from "vitest";
import { format, parse } from "../../dsl/index.js";

/**
 * What must hold for every formatted file, shared by the unit and golden tiers of the formatter
 * tests: the output is a fixed point, it parses cleanly to the same AST, and it holds the same
 * comments.
 */

/**
 * An AST value without positions, for comparing ASTs across layouts.
 *
 * `span` keys are dropped; spans that mark a keyword's presence (`keyword`, `idempotent`,
 * `broadcast`, `irreversible`) become `true`. Doc comment text is compared without trailing
 * whitespace on its lines, which the formatter removes (the output has no trailing spaces).
 */
export function stripSpans(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSpans);
  if (value === null || typeof value !== "object") return value;
  if (isSpan(value)) return true;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === "span") continue;
    out[key] = stripSpans(child);
  }
  if (out.kind === "DocComment" && typeof out.text === "string") out.text = trimLines(out.text);
  return out;
}

/** The declarations of a source without positions; comments are compared by `commentTexts`. */
export function declarationsWithoutSpans(source: string): unknown {
  return stripSpans(parse(source, "strip.catga").value.declarations);
}

function isSpan(value: object): boolean {
  return "file" in value && "start" in value && "end" in value;
}

/**
 * Every comment of a source, sorted, as the formatter prints it: LF line endings and no trailing
 * whitespace on its lines. Comparing these lists checks that each comment appears exactly once.
 */
export function commentTexts(source: string): string[] {
  return parse(source, "comments.catga")
    .value.comments.map((c) => trimLines(c.text))
    .sort();
}

function trimLines(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => line.trimEnd())
    .join("\n");
}

/** Formats `source` and asserts every invariant of canonical output; returns the output. */
export function expectCanonical(source: string, file = "input.catga"): string {
  const first = format(source, file);
  expect(first.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const output = first.value;
  if (output === undefined) throw new Error(`format returned no text for ${file}`);

  // Idempotent: formatting canonical text changes nothing.
  expect(format(output, file).value).toBe(output);
  // Same meaning: the output parses cleanly to the same AST, with the same comments.
  expect(parse(output, file).diagnostics).toEqual([]);
  expect(declarationsWithoutSpans(output)).toEqual(declarationsWithoutSpans(source));
  expect(commentTexts(output)).toEqual(commentTexts(source));
  // Layout basics: LF only, no trailing whitespace, one final newline (or an empty file).
  expect(output).not.toMatch(/\r/);
  expect(output).not.toMatch(/[^\S\n]$/m);
  if (output !== "") expect(output).toMatch(/[^\n]\n$/);
  return output;
}
