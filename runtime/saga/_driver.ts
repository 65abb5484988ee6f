/**
 * The loop of one saga: drive it from its record, step by step (attempt, fold, persist), and when a
 * step fails for good, compensate the completed steps in reverse; finish with its final status.
 * Every command is sent only after the transition that leads to it was recorded, so a deposed
 * leader, whose writes are rejected, stops before it sends anything more.
 */

import { own } from "../_own.js";
import { attemptWaitMs, backoffMs, type RetryTiming, retryFits } from "../_retry.js";
import type { SagaErrorRecord, SagaRecord, SagaStatus } from "../_saga-store.js";
import type { RequestSpec, SagaDefinition, ServiceDefinition } from "../api.js";
import type { Bus } from "../bus.js";
import { CatgaError, DomainError, InvalidMessageError, PayloadTooLargeError } from "../errors.js";
import type { Logger } from "../log.js";
import { sendRequest } from "../messaging.js";
import type { Wiring, WiringService } from "../wiring.js";
import type { SagaPersistence } from "./_persistence.js";
import { jsonCopy, stepKey } from "./_records.js";
import type { RunnerTerm, SagaInstruments } from "./_term.js";
import type { SagaRunnerStats } from "./_types.js";

/** A saga this service runs: its mapping, and each step's timeout from the wiring. */
export interface MappedSaga {
  def: SagaDefinition;
  timeouts: number[];
}

/**
 * The sagas of `ws` that are mapped with the steps the wiring has. Only those run; a mismatch is a
 * build/handler skew worth shouting about.
 */
export function mappedSagas(
  wiring: Wiring,
  ws: WiringService,
  definition: ServiceDefinition,
  log: Logger,
): Map<string, MappedSaga> {
  const sagas = new Map<string, MappedSaga>();
  for (const name of ws.sagas) {
    const def = own(definition.sagas, name);
    const wired = own(wiring.sagas, name);
    if (def === undefined || wired === undefined) continue;
    if (def.steps.length !== wired.steps.length) {
      log.error("saga mapping does not match the wiring; not run", {
        saga: name,
        mapped: def.steps.length,
        wired: wired.steps.length,
      });
      continue;
    }
    sagas.set(name, { def, timeouts: wired.steps.map((s) => s.timeoutMs) });
  }
  return sagas;
}

/** What {@link SagaDriver} needs from its runner. */
export interface SagaDriverOptions {
  sagas: ReadonlyMap<string, MappedSaga>;
  bus: Bus;
  persistence: SagaPersistence;
  term: RunnerTerm;
  token: number;
  retry: RetryTiming;
  stats: SagaRunnerStats;
  log: Logger;
  metrics: SagaInstruments | undefined;
}

type Outcome =
  | { ok: true; value: unknown }
  | { ok: false; error: unknown /** the command may have taken effect */; effect: boolean };

/** Drives sagas of one runner. */
export class SagaDriver {
  readonly #o: SagaDriverOptions;

  constructor(options: SagaDriverOptions) {
    this.#o = options;
  }

  /** Drives one saga from its record until it ends or the runner stops. */
  async drive(r: SagaRecord): Promise<void> {
    const entry = this.#o.sagas.get(r.saga);
    if (entry === undefined) {
      this.#o.log.error("saga not mapped by this service; left for an instance that maps it", {
        sagaId: r.id,
      });
      return;
    }
    for (;;) {
      this.#o.term.checkStopped();
      if (r.status === "running") {
        if (entry.def.steps[r.step] === undefined) return this.#finish(r, "completed");
        await this.#advance(r, entry);
      } else if (r.status === "compensating") {
        if (r.step < 0) return this.#finish(r, "compensated");
        if (!(await this.#undo(r, entry))) return this.#finish(r, "failed");
      } else {
        // A final status found on resume: the record was written, the indexes maybe not.
        return this.#finish(r, r.status, { recorded: true });
      }
    }
  }

  /** Runs step `r.step` and records the next state, or, if it failed for good, the start of compensation. */
  async #advance(r: SagaRecord, { def, timeouts }: MappedSaga): Promise<void> {
    const { token, persistence, log } = this.#o;
    const step = def.steps[r.step]!;
    const outcome = await this.#attempt(
      step.command,
      () => step.input(r.state),
      stepKey(r.id, r.step, "do"),
      r.correlationId,
      timeouts[r.step] ?? step.command.timeoutMs,
    );
    let failure: { error: unknown; effect: boolean } | undefined;
    let next: unknown;
    if (outcome.ok) {
      try {
        next = jsonCopy(step.fold(r.state, outcome.value));
      } catch (error) {
        failure = { error, effect: true }; // the step ran; its result could not be folded
      }
    } else {
      failure = outcome;
    }
    if (failure === undefined) {
      await persistence.persist({ ...r, step: r.step + 1, state: next, updatedAt: Date.now(), term: token });
      r.step++;
      r.state = next;
      return;
    }
    log.warn("saga step failed; compensating", {
      sagaId: r.id,
      step: r.step,
      command: step.command.name,
      error: failure.error,
    });
    // A step that may have taken effect (no reply in time) is compensated too; one that was
    // refused (a domain error) has nothing to undo.
    const from = failure.effect ? r.step : r.step - 1;
    const error = errorRecord(failure.error, r.step, step.command.name);
    await persistence.persist({
      ...r,
      status: "compensating",
      step: from,
      error,
      updatedAt: Date.now(),
      term: token,
    });
    Object.assign(r, { status: "compensating", step: from, error });
  }

  /**
   * Compensates step `r.step` and records the step before it; false (with the error recorded on
   * `r`) when the compensation failed for good.
   */
  async #undo(r: SagaRecord, { def, timeouts }: MappedSaga): Promise<boolean> {
    const { token, persistence, log } = this.#o;
    const step = def.steps[r.step];
    if (step?.compensation === undefined || step.compensate === undefined) {
      r.step--; // irreversible: nothing to undo, and nothing to record (the next state says it)
      return true;
    }
    const compensate = step.compensate;
    const outcome = await this.#attempt(
      step.compensation,
      () => compensate(r.state),
      stepKey(r.id, r.step, "undo"),
      r.correlationId,
      timeouts[r.step] ?? step.compensation.timeoutMs,
    );
    if (outcome.ok) {
      await persistence.persist({ ...r, step: r.step - 1, updatedAt: Date.now(), term: token });
      r.step--;
      return true;
    }
    log.error("saga compensation failed; the saga is left failed for an operator", {
      sagaId: r.id,
      step: r.step,
      command: step.compensation.name,
      error: outcome.error,
    });
    r.compensationError = errorRecord(outcome.error, r.step, step.compensation.name);
    return false;
  }

  /** Sends one step command (or compensation), retrying transient failures within `timeoutMs`. */
  async #attempt(
    spec: RequestSpec,
    build: () => unknown,
    messageId: string,
    correlationId: string,
    timeoutMs: number,
  ): Promise<Outcome> {
    const { bus, term, retry, stats, log } = this.#o;
    let input: unknown;
    try {
      input = build();
    } catch (error) {
      return { ok: false, error, effect: false }; // the mapping failed: nothing was sent
    }
    const deadline = Date.now() + timeoutMs;
    const perAttempt = attemptWaitMs(retry, timeoutMs);
    let last: unknown;
    for (let n = 0; ; n++) {
      term.checkStopped();
      const remaining = deadline - Date.now();
      if (remaining <= 0) return { ok: false, error: last, effect: true };
      try {
        const value = await sendRequest(bus, spec, input, {
          messageId,
          correlationId,
          timeoutMs: Math.min(remaining, perAttempt),
          signal: term.signal,
        });
        return { ok: true, value };
      } catch (error) {
        term.checkStopped();
        if (error instanceof DomainError || error instanceof PayloadTooLargeError) {
          return { ok: false, error, effect: false };
        }
        if (error instanceof InvalidMessageError) {
          // A request refused by its schema never ran; a reply that failed its schema did.
          return { ok: false, error, effect: error.part === "result" };
        }
        // Timeouts, no responders, INTERNAL, a leader-mode handler between leaders: may pass.
        last = error;
        const wait = backoffMs(retry, n);
        if (!retryFits(wait, deadline)) return { ok: false, error, effect: true };
        stats.retries++;
        log.debug("retrying saga step", { command: spec.name, messageId, attempt: n + 1, error });
        await term.pause(wait);
      }
    }
  }

  /** Records a saga's final status (unless `recorded` already) and indexes its end. */
  async #finish(r: SagaRecord, status: SagaStatus, o: { recorded?: boolean } = {}): Promise<void> {
    const { persistence, token, stats, metrics } = this.#o;
    if (!o.recorded) {
      const now = Date.now();
      await persistence.persist({ ...r, status, updatedAt: now, term: token });
      r.status = status;
      r.updatedAt = now;
    }
    await persistence.indexEnd(r, status);
    if (status === "completed") stats.completed++;
    else if (status === "compensated") stats.compensated++;
    else if (status === "failed") stats.failed++;
    metrics?.total.inc({ saga: r.saga, outcome: status });
  }
}

function errorRecord(error: unknown, step: number, command: string): SagaErrorRecord {
  const code = error instanceof CatgaError ? error.code : "INTERNAL";
  const message =
    error === undefined
      ? `no reply within the step's timeout`
      : error instanceof Error
        ? error.message
        : String(error);
  return { code, message, step, command };
}
