/**
 * How sagas are laid out in the coordination store (Redis or its in-memory twin), shared by the
 * runner (`saga.ts`, which writes) and the status view (which only reads). Private to runtime/.
 *
 * Every key lives under the running service's hash tag (`<tag>:data:<key>`, see
 * `coordinationKeys.data`), so each fenced script touches one Redis Cluster slot, and no reader
 * needs KEYS or SCAN: the indexes name every saga there is to find.
 */
import type { CoordinationBackend } from "./coordination/backend.js";

/** Where a saga instance stands. The last three are final. */
export type SagaStatus = "running" | "compensating" | "completed" | "compensated" | "failed";

/** An error kept in a saga record: what failed, where. */
export interface SagaErrorRecord {
  /** The error's code (`OUT_OF_STOCK`, `TIMEOUT`, …). */
  code: string;
  message: string;
  /** The step whose command (or compensation) failed. */
  step: number;
  /** The command that failed. */
  command: string;
}

/** One saga instance, as persisted after each transition. */
export interface SagaRecord {
  id: string;
  saga: string;
  status: SagaStatus;
  /**
   * `running`: the step being run (every earlier step succeeded and is folded into `state`; this
   * one may have been sent — a resume re-sends it with the same idempotency key). `compensating`:
   * the step being compensated, counting down. Final: where it ended.
   */
  step: number;
  state: unknown;
  /** The trigger's message id (the saga id is derived from it, which deduplicates triggers). */
  trigger: string;
  correlationId: string;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
  /** The step failure that made the saga compensate. */
  error?: SagaErrorRecord;
  /** The compensation failure that left the saga `failed`. */
  compensationError?: SagaErrorRecord;
  /** Command triggers: the reply the starter received (JSON). */
  reply?: unknown;
  /** The fencing token of the term that wrote this version. */
  term: number;
}

/** An entry of the open index: enough to start the saga again if its record was never written. */
export interface OpenEntry {
  saga: string;
  payload: unknown;
  messageId: string;
  correlationId: string;
}

/** Data keys (below `<tag>:data:`) of the saga layout. */
export const sagaKeys = {
  /** Hash: one saga instance's record (fields of {@link SagaRecord}). */
  record: (id: string): string => `saga:${id}`,
  /** Hash: saga id → {@link OpenEntry} JSON, for every unfinished saga. */
  open: "sagas:open",
  /** Hash: saga id → saga name, for every `failed` saga (kept for an operator). */
  failed: "sagas:failed",
  /** Hash: `<saga>:<status>` → how many sagas ended so (completed, compensated, failed). */
  counts: "sagas:counts",
  /** Hash: retention bucket → "1", for every bucket below. */
  doneBuckets: "sagas:done",
  /** Hash: saga id → status, for sagas that completed or compensated in one retention bucket. */
  done: (bucket: number): string => `sagas:done:${bucket}`,
} as const;

/** The fields of a record, as written to its hash. */
export function encodeRecord(r: SagaRecord): Record<string, string> {
  return {
    saga: r.saga,
    status: r.status,
    step: String(r.step),
    state: JSON.stringify(r.state ?? null),
    trigger: r.trigger,
    correlationId: r.correlationId,
    createdAt: String(r.createdAt),
    updatedAt: String(r.updatedAt),
    term: String(r.term),
    ...(r.error ? { error: JSON.stringify(r.error) } : {}),
    ...(r.compensationError ? { compensationError: JSON.stringify(r.compensationError) } : {}),
    ...(r.reply !== undefined ? { reply: JSON.stringify(r.reply) } : {}),
  };
}

/** A record from its hash; undefined when the hash is empty or not a saga record. */
export function decodeRecord(id: string, h: Record<string, string>): SagaRecord | undefined {
  if (h.saga === undefined || h.status === undefined || h.step === undefined) return undefined;
  const json = (text: string | undefined): unknown => (text === undefined ? undefined : JSON.parse(text));
  return {
    id,
    saga: h.saga,
    status: h.status as SagaStatus,
    step: Number(h.step),
    state: json(h.state) ?? null,
    trigger: h.trigger ?? "",
    correlationId: h.correlationId ?? "",
    createdAt: Number(h.createdAt ?? 0),
    updatedAt: Number(h.updatedAt ?? 0),
    term: Number(h.term ?? 0),
    ...(h.error !== undefined ? { error: json(h.error) as SagaErrorRecord } : {}),
    ...(h.compensationError !== undefined
      ? { compensationError: json(h.compensationError) as SagaErrorRecord }
      : {}),
    ...(h.reply !== undefined ? { reply: json(h.reply) } : {}),
  };
}

/** Reads many records with bounded concurrency (a status view of thousands of sagas stays gentle). */
export async function readRecords(
  backend: CoordinationBackend,
  hashTag: string,
  ids: readonly string[],
): Promise<Map<string, SagaRecord | undefined>> {
  const out = new Map<string, SagaRecord | undefined>();
  const BATCH = 100;
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = ids.slice(i, i + BATCH);
    const hashes = await Promise.all(batch.map((id) => backend.hgetall(hashTag, sagaKeys.record(id))));
    for (const [j, id] of batch.entries()) out.set(id, decodeRecord(id, hashes[j] ?? {}));
  }
  return out;
}
