/** Saga ids, step keys and the JSON a saga's records are made of. */
import { createHash } from "node:crypto";
import type { OpenEntry } from "../_saga-store.js";

/**
 * The saga id of a trigger: derived from the trigger's message id, so a redelivered event (or a
 * retried command, which keeps its message id) maps to the saga it started instead of a second one.
 */
export function sagaId(saga: string, triggerMessageId: string): string {
  const safe = /^[A-Za-z0-9_-]{1,80}$/.test(triggerMessageId)
    ? triggerMessageId
    : createHash("sha256").update(triggerMessageId).digest("base64url").slice(0, 32);
  return `${saga}-${safe}`;
}

/** The idempotency key (request message id) of a step or of its compensation. */
export function stepKey(id: string, step: number, phase: "do" | "undo"): string {
  return `${id}:${step}:${phase}`;
}

/** An entry of the open index, or `undefined` when it is missing or unreadable. */
export function parseOpen(text: string | undefined): OpenEntry | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as OpenEntry;
  } catch {
    return undefined;
  }
}

/** State is persisted as JSON: keep in memory exactly what a resumed saga would read back. */
export function jsonCopy(value: unknown): unknown {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}
