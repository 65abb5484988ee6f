/**
 * The rules of `catgac diff`, one closed table like the checker's DIAGNOSTIC_CODES. A code is never
 * reused for another meaning; each is documented with an example and the safe way to make the change
 * in docs/diff.md (test/golden/diff.golden.test.ts checks both, and that every code has a golden).
 *
 * The D-codes are separate from the checker's C-codes: a C-code is a fault in one file, a D-code is
 * a change between two files that are each correct.
 *
 * D1001–D1019: wire-breaking. D1020–D1049: behaviour-breaking during a rollout. D1050–D1099: safe.
 */
export const DIFF_RULES = {
  D1001: { name: "field-removed", class: "wire" },
  D1002: { name: "field-renamed", class: "wire" },
  D1003: { name: "type-changed", class: "wire" },
  D1004: { name: "optional-to-required", class: "wire" },
  D1005: { name: "required-field-added", class: "wire" },
  D1006: { name: "result-changed", class: "wire" },
  D1007: { name: "message-removed", class: "wire" },
  D1008: { name: "enum-member-removed", class: "wire" },
  D1009: { name: "message-kind-changed", class: "wire" },
  D1010: { name: "topology-renamed", class: "wire" },
  D1020: { name: "queue-renamed", class: "behaviour" },
  D1021: { name: "mode-changed", class: "behaviour" },
  D1022: { name: "delivery-changed", class: "behaviour" },
  D1023: { name: "durability-changed", class: "behaviour" },
  D1024: { name: "saga-steps-changed", class: "behaviour" },
  D1025: { name: "lease-shortened", class: "behaviour" },
  D1026: { name: "handler-moved", class: "behaviour" },
  D1027: { name: "idempotency-removed", class: "behaviour" },
  D1028: { name: "saga-runner-changed", class: "behaviour" },
  D1029: { name: "saga-removed", class: "behaviour" },
  D1050: { name: "optional-field-added", class: "safe" },
  D1051: { name: "type-widened", class: "safe" },
  D1052: { name: "enum-member-added", class: "safe" },
  D1053: { name: "declaration-added", class: "safe" },
  D1054: { name: "declaration-removed", class: "safe" },
  D1055: { name: "replicas-changed", class: "safe" },
  D1056: { name: "doc-changed", class: "safe" },
  D1057: { name: "saga-step-appended", class: "safe" },
  D1058: { name: "setting-changed", class: "safe" },
} as const satisfies Record<string, { name: string; class: ChangeClass }>;

/** One code of {@link DIFF_RULES}. */
export type DiffCode = keyof typeof DIFF_RULES;

/**
 * What a change does to a running cluster while old and new replicas serve side by side.
 * `wire`: a message one version writes is rejected (or misread) by the other. `behaviour`: messages
 * still decode, but routing, delivery or in-flight work changes under the replicas' feet. `safe`:
 * neither.
 */
export type ChangeClass = "wire" | "behaviour" | "safe";

/** Whether a class fails `catgac diff` (exit 1) unless its code is allowed. */
export function isBreaking(cls: ChangeClass): boolean {
  return cls !== "safe";
}
