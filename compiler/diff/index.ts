/**
 * `catgac diff`: what a change to a topology does to a running cluster while old and new replicas
 * serve side by side. Pure functions over two checked models; the CLI reads the files. Named exports
 * only; files starting with `_` are private to this folder.
 */
import { type Diagnostic, hasErrors, parse } from "../../dsl/index.js";
import { checkSource } from "../check/index.js";
import { type DiffFinding, diffModels } from "./diff.js";
import { type ChangeClass, DIFF_RULES, type DiffCode, isBreaking } from "./rules.js";

export type { DiffSide } from "./diff.js";
export { type ChangeClass, DIFF_RULES, type DiffCode, type DiffFinding, diffModels, isBreaking };

/** One version to compare: its text (or raw bytes) and the name shown in the report. */
export interface DiffInput {
  source: string | Uint8Array;
  file: string;
}

/** What {@link diffSources} found. */
export interface DiffResult {
  /** The checker's diagnostics of both files (warnings included), sorted per file. */
  diagnostics: Diagnostic[];
  /** The classified changes; empty when either file has errors (there is nothing sound to compare). */
  findings: DiffFinding[];
  /** Whether both files checked without errors, so `findings` is the whole diff. */
  compared: boolean;
}

/**
 * Checks both versions and, when both are free of errors, classifies every change from `old` to
 * `next`. A broken file is reported with the checker's diagnostics, never thrown.
 */
export function diffSources(old: DiffInput, next: DiffInput): DiffResult {
  const a = checkSource(old.source, old.file);
  const b = checkSource(next.source, next.file);
  const diagnostics = [...a.diagnostics, ...b.diagnostics];
  if (a.value === undefined || b.value === undefined || hasErrors(diagnostics)) {
    return { diagnostics, findings: [], compared: false };
  }
  // Parsing again is cheap next to checking, and gives the spans the model leaves out.
  const findings = diffModels(
    { model: a.value, file: parse(old.source, old.file).value },
    { model: b.value, file: parse(next.source, next.file).value },
  );
  return { diagnostics, findings, compared: true };
}

/** Whether a finding fails the diff: a breaking class whose code was not allowed. */
export function failsDiff(finding: DiffFinding, allowed: ReadonlySet<string>): boolean {
  return isBreaking(finding.class) && !allowed.has(finding.code);
}

/** Parses `--allow D1020,D1021`: every name must be a diff code. */
export function isDiffCode(text: string): text is DiffCode {
  return Object.hasOwn(DIFF_RULES, text);
}
