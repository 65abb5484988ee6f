/**
 * Starting a saga for a trigger: exactly once per trigger message id, persisted before anyone is
 * told it started, then driven in the background.
 */
import type { SagaRecord } from "../_saga-store.js";
import { newId } from "../_wire.js";
import { NotLeaderError } from "../errors.js";
import type { MappedSaga, SagaDriver } from "./_driver.js";
import type { SagaLoops } from "./_loops.js";
import type { SagaPersistence } from "./_persistence.js";
import { sagaId } from "./_records.js";
import { type RunnerTerm, SagaStopped } from "./_term.js";
import type { SagaRunnerStats, SagaStarted } from "./_types.js";

/** What {@link SagaStarter} needs from its runner. */
export interface SagaStarterOptions {
  service: string;
  sagas: ReadonlyMap<string, MappedSaga>;
  term: RunnerTerm;
  loops: SagaLoops;
  persistence: SagaPersistence;
  driver: SagaDriver;
  stats: SagaRunnerStats;
  /** Resolves once the runner has resumed the unfinished sagas: nothing starts before. */
  ready: () => Promise<void>;
}

/** Starts sagas for triggers; see {@link SagaRunner.start} for the contract. */
export class SagaStarter {
  readonly #o: SagaStarterOptions;

  constructor(options: SagaStarterOptions) {
    this.#o = options;
  }

  /**
   * Starts saga `saga` for a trigger. Resolves only once the saga's record is persisted (or, for a
   * duplicate, once the first start's record is).
   */
  async start(
    saga: string,
    payload: unknown,
    trigger: { messageId?: string; correlationId?: string } = {},
  ): Promise<SagaStarted> {
    const { service, sagas, term, loops, persistence, driver, stats } = this.#o;
    const entry = sagas.get(saga);
    if (entry === undefined) throw new TypeError(`service '${service}' does not run saga '${saga}'`);
    await this.#o.ready();
    if (term.signal.aborted) throw new NotLeaderError(service);
    const messageId = trigger.messageId || newId();
    const correlationId = trigger.correlationId || newId();
    const id = sagaId(saga, messageId);
    const running = loops.get(id);
    if (running !== undefined) {
      stats.duplicates++;
      const r = await running.started;
      return { sagaId: id, state: r.state, reply: r.reply, duplicate: true };
    }
    let resolveStarted!: (r: SagaRecord) => void;
    let rejectStarted!: (e: unknown) => void;
    const started = new Promise<SagaRecord>((res, rej) => {
      resolveStarted = res;
      rejectStarted = rej;
    });
    started.catch(() => {}); // observed below; this only silences the unhandled copy
    loops.claim(id, started); // before any await: a concurrent duplicate finds it
    try {
      const found = await persistence.find(id);
      if (found !== undefined) {
        loops.release(id);
        resolveStarted(found);
        stats.duplicates++;
        return { sagaId: id, state: found.state, reply: found.reply, duplicate: true };
      }
      const r = await persistence.create(
        id,
        saga,
        entry.def,
        { saga, payload, messageId, correlationId },
        { indexed: false },
      );
      stats.started++;
      resolveStarted(r);
      loops.launch(id, saga, started, (rec) => driver.drive(rec));
      return { sagaId: id, state: r.state, reply: r.reply, duplicate: false };
    } catch (error) {
      loops.release(id);
      rejectStarted(error);
      if (error instanceof SagaStopped) throw new NotLeaderError(service, { cause: error });
      throw error;
    }
  }
}
