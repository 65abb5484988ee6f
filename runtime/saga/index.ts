/**
 * Sagas: the leader of a coordinator service runs declared steps (commands) in order and, when one
 * fails for good, the compensations of the completed steps in reverse. Every transition is written
 * to the coordination store (Redis, or its in-memory twin) through fenced writes carrying the term's
 * token, so
 *
 * - a new leader resumes every unfinished saga from its last recorded step, and re-sends that step
 *   with the SAME idempotency key (`<sagaId>:<step>:do` / `:undo`, the request's message id), so a
 *   handler that deduplicates on `ctx.messageId` never applies a step's effect twice;
 * - a deposed leader (paused past its lease, partitioned) cannot advance a saga: its writes throw
 *   `StaleTokenError`, and it stops before sending the next command, because every command is sent
 *   only after the transition that leads to it was recorded.
 *
 * See docs/sagas.md for the state layout, statuses and failure cases.
 *
 * `startSagaRunner` only composes the parts, each with one job:
 * - `_driver.ts`: the loop of one saga (drive, attempt, compensate, finish);
 * - `_persistence.ts`: fenced writes with retry, records, indexes, the retention sweep;
 * - `_resume.ts`: picking up the unfinished sagas at the start of a term;
 * - `_start.ts`, `_triggers.ts`: the trigger path (start(), and the subscriptions that call it);
 * - `_loops.ts`: the sagas being driven; `_term.ts`: the runner's signal and waits.
 */

import { retryTiming } from "../_retry.js";
import { sagaKeys } from "../_saga-store.js";
import { CatgaError } from "../errors.js";
import { silentLogger } from "../log.js";
import { mappedSagas, SagaDriver } from "./_driver.js";
import { SagaLoops } from "./_loops.js";
import { SagaPersistence } from "./_persistence.js";
import { resume } from "./_resume.js";
import { SagaStarter } from "./_start.js";
import { RunnerTerm, sagaInstruments } from "./_term.js";
import { SagaTriggers } from "./_triggers.js";
import type { SagaRetryPolicy, SagaRunner, SagaRunnerOptions, SagaRunnerStats } from "./_types.js";

export type { SagaErrorRecord, SagaRecord, SagaStatus } from "../_saga-store.js";
export { sagaId, stepKey } from "./_records.js";
export {
  type SagaCounts,
  type SagaStatusEntry,
  type SagaStatusReport,
  sagaStatus,
} from "./_status.js";
export type {
  SagaRetryPolicy,
  SagaRunner,
  SagaRunnerOptions,
  SagaRunnerStats,
  SagaStarted,
} from "./_types.js";

import { own } from "../_own.js";

export { sagaKeys };

/** The defaults of {@link SagaRetryPolicy}. */
const SAGA_RETRY: Required<SagaRetryPolicy> = {
  attemptShare: 1 / 3,
  minAttemptMs: 100,
  baseBackoffMs: 50,
  maxBackoffMs: 1000,
};

/**
 * Starts the saga runner of a term: resumes every unfinished saga of the service from the store,
 * subscribes to the triggers, and runs until `signal` aborts.
 */
export function startSagaRunner(options: SagaRunnerOptions): SagaRunner {
  const { wiring, service, definition, bus, backend, hashTag, token } = options;
  const ws = own(wiring.services, service);
  if (ws === undefined) throw new TypeError(`the wiring has no service '${service}'`);
  const log = (options.log ?? silentLogger).child({ component: "saga", fencingToken: token });
  const retry = retryTiming(options.retry, SAGA_RETRY);
  const metrics = options.metrics ? sagaInstruments(options.metrics) : undefined;
  const stats: SagaRunnerStats = {
    started: 0,
    resumed: 0,
    duplicates: 0,
    completed: 0,
    compensated: 0,
    failed: 0,
    retries: 0,
    staleWrites: 0,
  };
  const term = new RunnerTerm(options.signal);
  const sagas = mappedSagas(wiring, ws, definition, log);
  const retentionMs = options.retentionMs ?? 86_400_000;
  const persistence = new SagaPersistence({
    service,
    backend,
    hashTag,
    token,
    term,
    retry,
    retentionMs,
    stats,
    log,
    metrics,
  });
  const loops = new SagaLoops(log, metrics);
  const driver = new SagaDriver({ sagas, bus, persistence, term, token, retry, stats, log, metrics });
  const starter = new SagaStarter({
    service,
    sagas,
    term,
    loops,
    persistence,
    driver,
    stats,
    ready: () => ready,
  });
  const triggers = new SagaTriggers({
    ...{ service, wiring, ws, sagas, bus, starter, log },
    running: () => loops.size,
    signal: term.signal,
    ...(options.redelivery ? { redelivery: options.redelivery } : {}),
  });

  const ready: Promise<void> = (async () => {
    await options.after?.catch(() => {});
    term.checkStopped();
    await resume({ sagas, persistence, loops, driver, stats, log });
    term.checkStopped();
    if (options.subscribe !== false) triggers.subscribe();
    await persistence.startSweeping();
    log.info("saga runner started", { sagas: [...sagas.keys()], resumed: stats.resumed });
  })();
  ready.catch(() => {}); // a runner stopped before it was ready: `done` reports the end

  const done: Promise<void> = (async () => {
    await term.ended();
    persistence.stopSweeping();
    await ready.catch(() => {});
    await triggers.drain();
    // Loops may still be launched by triggers delivered during the drain: wait until none is left.
    await loops.exited();
    log.info("saga runner stopped", { ...stats });
  })();

  return {
    stats,
    ready,
    done,
    start: (saga, payload, trigger) => starter.start(saga, payload, trigger),
    inFlight: () => loops.size,
    idle: () => loops.idle(),
    async stop() {
      if (!term.stopper.signal.aborted)
        term.stopper.abort(new CatgaError("saga runner stopped", { code: "SHUTDOWN" }));
      await done;
    },
  };
}
