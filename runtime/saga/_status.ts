/**
 * The read-only status view of sagas (`catga sagas`, `catga status`): what is unfinished, what
 * failed, and counts per status, straight from the store.
 */
import { readRecords, type SagaErrorRecord, type SagaStatus, sagaKeys } from "../_saga-store.js";
import type { CoordinationBackend } from "../coordination/backend.js";
import type { Wiring } from "../wiring.js";
import { parseOpen } from "./_records.js";

/** One saga as the status view lists it. */
export interface SagaStatusEntry {
  /** The saga's declared name. */
  name: string;
  id: string;
  status: SagaStatus;
  step: number;
  /** The command of the current step (its compensation while compensating); absent at the ends. */
  stepCommand?: string;
  /** Epoch ms of the last transition. */
  updatedAt: number;
  /** The decisive error: the failed compensation, else the failed step. */
  error?: SagaErrorRecord;
}

/** Saga counts of one saga name. */
export interface SagaCounts {
  running: number;
  compensating: number;
  completed: number;
  compensated: number;
  failed: number;
}

/** What {@link sagaStatus} returns (and `catga sagas --json` prints). */
export interface SagaStatusReport {
  /** Unfinished and failed sagas, by saga name then age. */
  sagas: SagaStatusEntry[];
  /** Per saga name: unfinished ones by status, and how many ended in each final status. */
  counts: Record<string, SagaCounts>;
}

/**
 * Reads the sagas of every leader-mode service of a topology from the store: the unfinished ones
 * with their current step, the failed ones with their error, and counts per status. Read only: it
 * never writes, so any instance or operator tool may call it.
 */
export async function sagaStatus(backend: CoordinationBackend, wiring: Wiring): Promise<SagaStatusReport> {
  const report: SagaStatusReport = { sagas: [], counts: {} };
  const zero = (): SagaCounts => ({ running: 0, compensating: 0, completed: 0, compensated: 0, failed: 0 });
  for (const name of Object.keys(wiring.sagas)) report.counts[name] = zero();
  const countsOf = (saga: string): SagaCounts => {
    report.counts[saga] ??= zero();
    return report.counts[saga];
  };
  const services = new Map<string, string>(); // hash tag → service
  for (const [name, s] of Object.entries(wiring.services)) {
    if (s.sagas.length > 0 && s.leader !== undefined) services.set(s.leader.redisHashTag, name);
  }
  for (const tag of services.keys()) {
    const [open, failed, counts] = await Promise.all([
      backend.hgetall(tag, sagaKeys.open),
      backend.hgetall(tag, sagaKeys.failed),
      backend.hgetall(tag, sagaKeys.counts),
    ]);
    for (const [k, v] of Object.entries(counts)) {
      const at = k.lastIndexOf(":");
      const saga = k.slice(0, at);
      const status = k.slice(at + 1);
      const c = countsOf(saga);
      if (status === "completed" || status === "compensated") c[status] = Number(v);
    }
    const ids = [...Object.keys(open), ...Object.keys(failed).filter((id) => !(id in open))];
    const records = await readRecords(backend, tag, ids);
    for (const id of ids) {
      const r = records.get(id);
      const entry = parseOpen(open[id]);
      const saga = r?.saga ?? entry?.saga ?? failed[id] ?? "?";
      const status: SagaStatus = r?.status ?? (id in failed ? "failed" : "running");
      const step = r?.step ?? 0;
      const wiredSteps = wiring.sagas[saga]?.steps ?? [];
      const wiredStep = wiredSteps[step];
      const stepCommand =
        status === "running"
          ? wiredStep?.command
          : status === "compensating" || status === "failed"
            ? wiredStep?.compensate
            : undefined;
      const error = r?.compensationError ?? r?.error;
      report.sagas.push({
        name: saga,
        id,
        status,
        step,
        ...(stepCommand !== undefined ? { stepCommand } : {}),
        updatedAt: r?.updatedAt ?? 0,
        ...(error !== undefined ? { error } : {}),
      });
      const c = countsOf(saga);
      // A completed or compensated saga still in the open index is being finished by the leader:
      // listed, but counted once, by the counts hash.
      if (status === "running" || status === "compensating" || status === "failed") c[status]++;
    }
  }
  report.sagas.sort((a, b) => (a.name === b.name ? a.updatedAt - b.updatedAt : a.name < b.name ? -1 : 1));
  return report;
}
