/**
 * The sagas a runner is driving, by id: each entry is claimed before its first await (so a
 * concurrent duplicate trigger finds it), resolves `started` once its first state is persisted, and
 * is removed when its loop exits.
 */
import type { SagaRecord } from "../_saga-store.js";
import type { Logger } from "../log.js";
import { type SagaInstruments, SagaStopped } from "./_term.js";

/** One saga being driven. */
export interface Loop {
  /** Resolves once the saga's first state is persisted (or was found in the store). */
  started: Promise<SagaRecord>;
  /** Resolves when its loop has exited. */
  done?: Promise<void>;
}

/** The loops of one runner, and what waits for them to be gone. */
export class SagaLoops {
  readonly #loops = new Map<string, Loop>();
  readonly #idleWaiters: (() => void)[] = [];
  readonly #log: Logger;
  readonly #metrics: SagaInstruments | undefined;

  constructor(log: Logger, metrics: SagaInstruments | undefined) {
    this.#log = log;
    this.#metrics = metrics;
  }

  get size(): number {
    return this.#loops.size;
  }

  get(id: string): Loop | undefined {
    return this.#loops.get(id);
  }

  /** Claims `id` for a saga being started. */
  claim(id: string, started: Promise<SagaRecord>): void {
    this.#loops.set(id, { started });
  }

  /** Gives a claim up (the saga existed already, or could not be started). */
  release(id: string): void {
    this.#loops.delete(id);
    if (this.#loops.size === 0) this.#wakeIdle();
  }

  /** Runs `drive` for saga `id` in the background once `started` resolves, tracked until it exits. */
  launch(
    id: string,
    saga: string,
    started: Promise<SagaRecord>,
    drive: (r: SagaRecord) => Promise<void>,
  ): void {
    this.#metrics?.inFlight.inc({ saga });
    const entry = this.#loops.get(id) ?? { started };
    this.#loops.set(id, entry);
    entry.done = started
      .then((r) => drive(r))
      .catch((error: unknown) => {
        if (error instanceof SagaStopped) return;
        this.#log.error("saga loop failed; the next term resumes it", { sagaId: id, error });
      })
      .finally(() => {
        this.#metrics?.inFlight.dec({ saga });
        this.#loops.delete(id);
        if (this.#loops.size === 0) this.#wakeIdle();
      });
  }

  /** Resolves when no saga is being driven. */
  idle(): Promise<void> {
    return this.#loops.size === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Waits until every loop has exited, including loops launched meanwhile. */
  async exited(): Promise<void> {
    while (this.#loops.size > 0)
      await Promise.all([...this.#loops.values()].map((l) => l.done ?? l.started.catch(() => {})));
  }

  #wakeIdle(): void {
    for (const w of this.#idleWaiters.splice(0)) w();
  }
}
