/**
 * The persistence of a runner's sagas: fenced writes carrying the term's token (retried while the
 * store is unreachable; a stale token stops the runner), the records, the indexes (open, failed,
 * counts, done buckets) and the retention sweep. Retention is swept by bucket, so expiring old
 * records costs what expires, not what is kept.
 */

import { backoffMs, type RetryTiming } from "../_retry.js";
import {
  encodeRecord,
  type OpenEntry,
  readRecords,
  type SagaRecord,
  type SagaStatus,
  sagaKeys,
} from "../_saga-store.js";
import type { SagaDefinition, SagaInfo } from "../api.js";
import type { CoordinationBackend } from "../coordination/backend.js";
import { CoordinationUnavailableError, StaleTokenError } from "../coordination/errors.js";
import { FencedStore } from "../coordination/fenced-store.js";
import { NotLeaderError } from "../errors.js";
import type { Logger } from "../log.js";
import { jsonCopy } from "./_records.js";
import { type RunnerTerm, type SagaInstruments, SagaStopped } from "./_term.js";
import type { SagaRunnerStats } from "./_types.js";

/** What {@link SagaPersistence} needs from its runner. */
export interface SagaPersistenceOptions {
  service: string;
  backend: CoordinationBackend;
  hashTag: string;
  /** The term's fencing token: every write carries it. */
  token: number;
  term: RunnerTerm;
  retry: RetryTiming;
  /** How long records of completed and compensated sagas are kept, in milliseconds. */
  retentionMs: number;
  stats: SagaRunnerStats;
  log: Logger;
  metrics: SagaInstruments | undefined;
}

/** What the open index holds at the start of a term: every unfinished saga. */
export interface OpenSagas {
  open: Record<string, string>;
  records: Map<string, SagaRecord | undefined>;
}

/** The store of one runner's sagas, written with its term's token. */
export class SagaPersistence {
  readonly #o: SagaPersistenceOptions;
  readonly #store: FencedStore;
  readonly #bucketMs: number;
  /** Ended sagas per `<saga>:<status>`, as the counts hash holds them. */
  readonly #counts = new Map<string, number>();
  /** Done buckets known to exist in the store. */
  readonly #knownBuckets = new Set<number>();
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: SagaPersistenceOptions) {
    this.#o = options;
    this.#store = new FencedStore(options.backend, options.hashTag);
    this.#bucketMs = Math.max(1000, Math.floor(options.retentionMs / 24));
  }

  /** A fenced hash update, retried while the store is unreachable; a stale token stops the runner. */
  async write(key: string, set: Record<string, string>, remove: readonly string[] = []): Promise<void> {
    const { term, token, stats, metrics, log, service } = this.#o;
    for (let attempt = 0; ; attempt++) {
      term.checkStopped();
      try {
        await this.#store.hupdate(key, set, remove, token);
        return;
      } catch (error) {
        if (error instanceof StaleTokenError) {
          stats.staleWrites++;
          metrics?.stale.inc({});
          if (!term.stopper.signal.aborted) {
            log.warn("a newer term exists: this instance stops advancing sagas", { key, error });
            term.stopper.abort(new NotLeaderError(service, { cause: error }));
          }
          throw new SagaStopped("stale", { cause: error });
        }
        if (!(error instanceof CoordinationUnavailableError)) throw error;
        if (attempt === 0) log.warn("cannot write saga state; retrying", { key, error: error.message });
        await term.pause(backoffMs(this.#o.retry, attempt));
      }
    }
  }

  /** Writes a saga's record. */
  persist(r: SagaRecord): Promise<void> {
    return this.write(sagaKeys.record(r.id), encodeRecord(r));
  }

  /** The record of saga `id`, if the store has one (one read, not retried). */
  async find(id: string): Promise<SagaRecord | undefined> {
    return (await readRecords(this.#o.backend, this.#o.hashTag, [id])).get(id);
  }

  /**
   * Creates saga `id` from its trigger: maps its first state and reply, indexes it as open (unless
   * `indexed`: resumed from an open entry) and writes its record; resolves once both are written.
   */
  async create(
    id: string,
    saga: string,
    def: SagaDefinition,
    entry: OpenEntry,
    options: { indexed: boolean },
  ): Promise<SagaRecord> {
    const info: SagaInfo = { sagaId: id, correlationId: entry.correlationId };
    const state = jsonCopy(def.start(entry.payload, info));
    const reply = def.reply ? jsonCopy(def.reply(state, info)) : undefined;
    const now = Date.now();
    const r: SagaRecord = {
      id,
      saga,
      status: "running",
      step: 0,
      state,
      trigger: entry.messageId,
      correlationId: entry.correlationId,
      createdAt: now,
      updatedAt: now,
      term: this.#o.token,
      ...(reply !== undefined ? { reply } : {}),
    };
    // The open index first, with the trigger itself: a crash before the record is written leaves
    // an entry the next leader can start from, never a record nobody will resume.
    if (!options.indexed) await this.write(sagaKeys.open, { [id]: JSON.stringify(entry) });
    await this.persist(r);
    return r;
  }

  /**
   * Indexes a saga that ended (its final record is written): out of the open index, counted, and
   * into the failed index or the done bucket its retention is swept by.
   */
  async indexEnd(r: SagaRecord, status: SagaStatus): Promise<void> {
    const countKey = `${r.saga}:${status}`;
    const count = (this.#counts.get(countKey) ?? 0) + 1;
    this.#counts.set(countKey, count);
    const writes: Promise<void>[] = [
      this.write(sagaKeys.open, {}, [r.id]),
      this.write(sagaKeys.counts, { [countKey]: String(count) }),
    ];
    if (status === "failed") {
      writes.push(this.write(sagaKeys.failed, { [r.id]: r.saga }));
    } else {
      const bucket = Math.floor(r.updatedAt / this.#bucketMs);
      if (!this.#knownBuckets.has(bucket)) {
        this.#knownBuckets.add(bucket);
        writes.push(this.write(sagaKeys.doneBuckets, { [bucket]: "1" }));
      }
      writes.push(this.write(sagaKeys.done(bucket), { [r.id]: status }));
    }
    await Promise.all(writes);
  }

  /** Reads the open index, the counts and the done buckets at the start of a term, retrying while unreachable. */
  async readOpen(): Promise<OpenSagas> {
    const { backend, hashTag } = this.#o;
    const [open, storedCounts, buckets] = await this.#retryRead(() =>
      Promise.all([
        backend.hgetall(hashTag, sagaKeys.open),
        backend.hgetall(hashTag, sagaKeys.counts),
        backend.hgetall(hashTag, sagaKeys.doneBuckets),
      ]),
    );
    for (const [k, v] of Object.entries(storedCounts)) this.#counts.set(k, Number(v));
    for (const b of Object.keys(buckets)) this.#knownBuckets.add(Number(b));
    const records = await this.#retryRead(() => readRecords(backend, hashTag, Object.keys(open)));
    return { open, records };
  }

  async #retryRead<T>(read: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      this.#o.term.checkStopped();
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof CoordinationUnavailableError)) throw error;
        await this.#o.term.pause(backoffMs(this.#o.retry, attempt));
      }
    }
  }

  /** Sweeps once now, then every bucket's length (at most a minute) until {@link stopSweeping}. */
  async startSweeping(): Promise<void> {
    await this.#sweepLogged();
    this.#sweepTimer = setInterval(() => void this.#sweepLogged(), Math.min(this.#bucketMs, 60_000));
    this.#sweepTimer.unref();
  }

  stopSweeping(): void {
    clearInterval(this.#sweepTimer);
  }

  #sweepLogged(): Promise<void> {
    return this.#sweep().catch((error: unknown) => {
      if (!(error instanceof SagaStopped)) this.#o.log.warn("saga retention sweep failed", { error });
    });
  }

  /** Deletes the records of sagas that ended longer than the retention ago, one bucket at a time. */
  async #sweep(): Promise<void> {
    const { backend, hashTag, token, term, retentionMs } = this.#o;
    const now = Date.now();
    for (const b of [...this.#knownBuckets].sort((x, y) => x - y)) {
      if ((b + 1) * this.#bucketMs + retentionMs > now) break;
      const ids = Object.keys(await backend.hgetall(hashTag, sagaKeys.done(b)));
      for (const id of ids) {
        term.checkStopped();
        await this.#store.delete(sagaKeys.record(id), token).catch(this.#onSweepError);
      }
      await this.#store.delete(sagaKeys.done(b), token);
      await this.write(sagaKeys.doneBuckets, {}, [String(b)]);
      this.#knownBuckets.delete(b);
    }
  }

  readonly #onSweepError = (error: unknown): void => {
    if (error instanceof StaleTokenError) throw error;
    this.#o.log.warn("cannot delete an expired saga record; the next sweep retries", { error });
  };
}
