/**
 * The term of a saga runner: the signal that ends it (the leadership term's, or stop()), and the
 * waits that end with it. Every part of the runner checks it before it advances a saga.
 */
import { setMaxListeners } from "node:events";
import type { Counter, Gauge, Registry } from "../metrics.js";

/** Raised inside a saga loop when the runner stopped; never escapes the runner. */
export class SagaStopped extends Error {
  override name = "SagaStopped";
}

/** The signal of one runner and what stops it. */
export class RunnerTerm {
  /** Aborts when the leadership term ends or the runner is stopped. */
  readonly signal: AbortSignal;
  /** Stops the runner alone: stop(), or a write that found a newer term. */
  readonly stopper = new AbortController();

  constructor(termSignal: AbortSignal) {
    this.signal = AbortSignal.any([termSignal, this.stopper.signal]);
    // Every saga in flight listens on it (its request, its backoff): hundreds at once is normal.
    setMaxListeners(0, this.signal);
  }

  /** @throws SagaStopped once the term is over. */
  checkStopped(): void {
    if (this.signal.aborted) throw new SagaStopped("stopped");
  }

  /** Waits `ms`, or less if the term ends. @throws SagaStopped once the term is over. */
  async pause(ms: number): Promise<void> {
    const signal = this.signal;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
    this.checkStopped();
  }

  /** Resolves when the term is over. */
  ended(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.signal.aborted) resolve();
      else this.signal.addEventListener("abort", () => resolve(), { once: true });
    });
  }
}

/** The `catga_sagas_*` instruments of a runner. */
export interface SagaInstruments {
  total: Counter;
  inFlight: Gauge;
  stale: Counter;
}

/** Registers (or finds) the saga instruments in `r`. */
export function sagaInstruments(r: Registry): SagaInstruments {
  return {
    total: r.counter(
      "catga_sagas_total",
      "Sagas that ended, by saga and outcome (completed, compensated, failed).",
    ),
    inFlight: r.gauge("catga_sagas_in_flight", "Sagas this instance is driving now, by saga."),
    stale: r.counter(
      "catga_saga_stale_writes_total",
      "Saga state writes rejected by fencing: a newer leader exists, this instance stopped advancing.",
    ),
  };
}
