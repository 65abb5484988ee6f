import type { Span } from "./ast.js";

/**
 * Every diagnostic code Catga can report, in one closed table. A code is never reused for another
 * meaning; each is documented with an example in docs/diagnostics.md (a test checks that).
 *
 * The table lives in dsl/ because it is the bottom layer: the parser reports the C1xxx codes and the
 * checker in compiler/ the others, and both must share one shape.
 *
 * C1xxx: reading and syntax. C2xxx: names and settings. C3xxx: topology rules.
 */
export const DIAGNOSTIC_CODES = {
  C1001: { name: "unexpected-character", severity: "error" },
  C1002: { name: "unterminated-string", severity: "error" },
  C1003: { name: "unterminated-comment", severity: "error" },
  C1004: { name: "syntax-error", severity: "error" },
  C1005: { name: "invalid-encoding", severity: "error" },
  C1006: { name: "file-too-large", severity: "error" },
  C1007: { name: "invalid-literal", severity: "error" },
  C1008: { name: "too-many-errors", severity: "error" },
  C2001: { name: "unknown-name", severity: "error" },
  C2002: { name: "duplicate-name", severity: "error" },
  C2003: { name: "wrong-kind", severity: "error" },
  C2004: { name: "duplicate-member", severity: "error" },
  C2005: { name: "missing-topology", severity: "error" },
  C2006: { name: "multiple-topologies", severity: "error" },
  C2007: { name: "unknown-setting", severity: "error" },
  C2008: { name: "invalid-setting-value", severity: "error" },
  C3001: { name: "no-handler", severity: "error" },
  C3002: { name: "multiple-handlers", severity: "error" },
  C3003: { name: "schedule-not-leader", severity: "error" },
  C3004: { name: "invalid-replicas", severity: "error" },
  C3005: { name: "leader-without-standby", severity: "warning" },
  C3006: { name: "lease-not-leader", severity: "error" },
  C3007: { name: "lease-out-of-bounds", severity: "error" },
  C3008: { name: "invalid-duration", severity: "error" },
  C3009: { name: "step-without-compensation", severity: "error" },
  C3010: { name: "saga-not-run", severity: "error" },
  C3011: { name: "saga-run-twice", severity: "error" },
  C3012: { name: "saga-not-leader", severity: "error" },
  C3013: { name: "saga-trigger", severity: "error" },
  C3014: { name: "saga-without-steps", severity: "error" },
  C3015: { name: "result-mismatch", severity: "error" },
  C3016: { name: "idempotent-event", severity: "error" },
  C3017: { name: "event-not-consumed", severity: "warning" },
  C3018: { name: "unused-type", severity: "warning" },
  C3019: { name: "event-not-emitted", severity: "warning" },
  C3020: { name: "ignored-in-leader-mode", severity: "warning" },
  C3021: { name: "idle-service", severity: "warning" },
  C3022: { name: "infinite-type", severity: "error" },
  C3023: { name: "reserved-name", severity: "error" },
  C3024: { name: "deployment-name-clash", severity: "error" },
  C3025: { name: "durable-not-event", severity: "error" },
  C3026: { name: "stream-settings-not-durable", severity: "error" },
  C3027: { name: "retention-out-of-bounds", severity: "error" },
  C3028: { name: "dedup-out-of-bounds", severity: "error" },
  C3029: { name: "invalid-deliveries", severity: "error" },
  C3030: { name: "stream-replicas-out-of-bounds", severity: "error" },
  C3031: { name: "stream-settings-unused", severity: "warning" },
  C3032: { name: "unknown-uses", severity: "error" },
  C3033: { name: "duplicate-uses", severity: "warning" },
  C3040: { name: "tls-with-url", severity: "error" },
} as const satisfies Record<string, { name: string; severity: Severity }>;

export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;

export type Severity = "error" | "warning";

/** Another place that explains a diagnostic, such as the first declaration of a duplicate name. */
export interface RelatedInformation {
  message: string;
  span: Span;
}

/** The one shape of every finding about user input, from the lexer to the checker. */
export interface Diagnostic {
  code: DiagnosticCode;
  severity: Severity;
  message: string;
  span: Span;
  /** What to do about it, e.g. "did you mean 'OrderCreated'?". */
  hint?: string;
  related?: RelatedInformation[];
}

/** Builds a diagnostic whose severity comes from the code table, so a code never changes severity. */
export function diagnostic(
  code: DiagnosticCode,
  span: Span,
  message: string,
  extra: { hint?: string; related?: RelatedInformation[] } = {},
): Diagnostic {
  const d: Diagnostic = { code, severity: DIAGNOSTIC_CODES[code].severity, message, span };
  if (extra.hint !== undefined) d.hint = extra.hint;
  if (extra.related !== undefined && extra.related.length > 0) d.related = extra.related;
  return d;
}

/** Result of every phase: a value (possibly partial) and what was found on the way. */
export interface Result<T> {
  value: T;
  diagnostics: Diagnostic[];
}

/** Orders diagnostics by file, then position, then code: stable output for humans and goldens. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      (a.span.file < b.span.file ? -1 : a.span.file > b.span.file ? 1 : 0) ||
      a.span.start.offset - b.span.start.offset ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}
