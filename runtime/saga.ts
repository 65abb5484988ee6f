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
 */
import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import {
  encodeRecord,
  type OpenEntry,
  readRecords,
  type SagaErrorRecord,
  type SagaRecord,
  type SagaStatus,
  sagaKeys,
} from "./_saga-store.js";
import { correlationOf, decode, encode, H, newId } from "./_wire.js";
import type { RequestSpec, SagaDefinition, SagaInfo, ServiceDefinition } from "./api.js";
import type { Bus } from "./bus.js";
import type { CoordinationBackend } from "./coordination/backend.js";
import { CoordinationUnavailableError, StaleTokenError } from "./coordination/errors.js";
import { FencedStore } from "./coordination/fenced-store.js";
import {
  CatgaError,
  DomainError,
  InvalidMessageError,
  NotLeaderError,
  PayloadTooLargeError,
  toWireError,
} from "./errors.js";
import { type Logger, silentLogger } from "./log.js";
import { sendRequest } from "./messaging.js";
import type { Counter, Gauge, Registry } from "./metrics.js";
import type { IncomingMessage, TransportSubscription } from "./transport/types.js";
import type { Wiring } from "./wiring.js";

export { type SagaErrorRecord, type SagaRecord, type SagaStatus, sagaKeys };

/** Retry timing of saga steps and compensations. */
export interface SagaRetryPolicy {
  /**
   * Each attempt of a step waits at most this share of the step's timeout for a reply, so an
   * attempt that went to an instance that died is retried on another within the step's timeout.
   * @default 1/3
   */
  attemptShare?: number;
  /**
   * Shortest wait of one attempt, in milliseconds.
   * @default 100
   */
  minAttemptMs?: number;
  /**
   * First backoff before a retry; doubles per retry up to {@link maxBackoffMs}, with full jitter.
   * @default 50
   */
  baseBackoffMs?: number;
  /** @default 1000 */
  maxBackoffMs?: number;
}

/** Options of {@link startSagaRunner}. */
export interface SagaRunnerOptions {
  wiring: Wiring;
  /** The leader-mode service that runs the sagas (`runs` in the topology). */
  service: string;
  /** The service's definition: its `sagas` hold the mappings. */
  definition: ServiceDefinition;
  /** Sends the step commands; its transport carries the trigger subscriptions and replies. */
  bus: Bus;
  /** Where saga state lives (RedisCoordination or MemoryCoordination). */
  backend: CoordinationBackend;
  /** The service's hash tag (`leader.redisHashTag` in the wiring). */
  hashTag: string;
  /** The current term's fencing token: every write carries it. */
  token: number;
  /** Aborts when the term ends (demotion, shutdown): the runner stops advancing at once. */
  signal: AbortSignal;
  log?: Logger;
  /** Where `catga_sagas_*` metrics are counted (the host's registry). */
  metrics?: Registry;
  /**
   * Resumes only after this settles: the previous term's runner in the same process, so two local
   * loops never drive one saga.
   * @default nothing to wait for
   */
  after?: Promise<unknown>;
  /**
   * Subscribe to the saga triggers (events, and the commands that start sagas) on the bus's
   * transport. Without it, sagas start only through {@link SagaRunner.start}.
   * @default true
   */
  subscribe?: boolean;
  /** @default see {@link SagaRetryPolicy} */
  retry?: SagaRetryPolicy;
  /**
   * How long records of completed and compensated sagas are kept (they answer a redelivered
   * trigger with "already started"), in milliseconds. Failed sagas are kept until an operator
   * removes them.
   * @default 86_400_000 (24 h)
   */
  retentionMs?: number;
}

/** What {@link SagaRunner.start} resolves with. */
export interface SagaStarted {
  sagaId: string;
  /** The saga's first state. */
  state: unknown;
  /** Command triggers: the reply built by the definition's `reply` (JSON); else undefined. */
  reply: unknown;
  /** The trigger had started this saga before (a redelivery or a retry with the same message id). */
  duplicate: boolean;
}

/** Counters of one runner (one term). */
export interface SagaRunnerStats {
  /** Sagas started by a trigger in this term. */
  started: number;
  /** Unfinished sagas picked up from the store at the start of the term. */
  resumed: number;
  /** Triggers that had started their saga already. */
  duplicates: number;
  completed: number;
  compensated: number;
  failed: number;
  /** Step and compensation attempts retried after a transient failure. */
  retries: number;
  /** Writes rejected because a newer term exists (each one stops this runner). */
  staleWrites: number;
}

/** A saga runner for one leadership term. */
export interface SagaRunner {
  readonly stats: SagaRunnerStats;
  /** Resolves once unfinished sagas are resumed and the triggers subscribed. */
  readonly ready: Promise<void>;
  /** Resolves when the runner has stopped (term over, or {@link stop}) and every saga loop has exited. */
  readonly done: Promise<void>;
  /**
   * Starts saga `saga` for a trigger: persists its first state and drives it in the background.
   * A trigger with a message id seen before returns the existing saga (`duplicate: true`).
   *
   * @throws InvalidMessageError when the trigger payload fails its schema.
   * @throws NotLeaderError when the term is over.
   */
  start(
    saga: string,
    payload: unknown,
    trigger?: { messageId?: string; correlationId?: string },
  ): Promise<SagaStarted>;
  /** Sagas this runner is driving now. */
  inFlight(): number;
  /** Resolves when no saga is being driven (tests and benchmarks). */
  idle(): Promise<void>;
  /** Stops advancing, drains the trigger subscriptions and waits for every saga loop to exit. */
  stop(): Promise<void>;
}

/** Raised inside a saga loop when the runner stopped; never escapes the runner. */
class SagaStopped extends Error {
  override name = "SagaStopped";
}

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

/**
 * Starts the saga runner of a term: resumes every unfinished saga of the service from the store,
 * subscribes to the triggers, and runs until `signal` aborts.
 */
export function startSagaRunner(options: SagaRunnerOptions): SagaRunner {
  const { wiring, service, definition, bus, backend, hashTag, token } = options;
  const ws = wiring.services[service];
  if (ws === undefined) throw new TypeError(`the wiring has no service '${service}'`);
  const log = (options.log ?? silentLogger).child({ component: "saga", fencingToken: token });
  const store = new FencedStore(backend, hashTag);
  const retry = {
    attemptShare: options.retry?.attemptShare ?? 1 / 3,
    minAttemptMs: options.retry?.minAttemptMs ?? 100,
    baseBackoffMs: options.retry?.baseBackoffMs ?? 50,
    maxBackoffMs: options.retry?.maxBackoffMs ?? 1000,
  };
  const retentionMs = options.retentionMs ?? 86_400_000;
  // Retention is swept by bucket, so expiring old records costs what expires, not what is kept.
  const bucketMs = Math.max(1000, Math.floor(retentionMs / 24));
  const m = options.metrics ? sagaInstruments(options.metrics) : undefined;
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
  const stopper = new AbortController();
  const signal = AbortSignal.any([options.signal, stopper.signal]);
  // Every saga in flight listens on it (its request, its backoff): hundreds at once is normal.
  setMaxListeners(0, signal);
  /** Sagas driven by this runner, by id; `started` resolves once the first state is persisted. */
  const loops = new Map<string, { started: Promise<SagaRecord>; done?: Promise<void> }>();
  const idleWaiters: (() => void)[] = [];
  const counts = new Map<string, number>();
  const knownBuckets = new Set<number>();
  let subscriptions: TransportSubscription[] = [];
  let sweepTimer: NodeJS.Timeout | undefined;

  // Only mapped sagas with matching steps run; a mismatch is a build/handler skew worth shouting about.
  const sagas = new Map<string, { def: SagaDefinition; timeouts: number[] }>();
  for (const name of ws.sagas) {
    const def = definition.sagas[name];
    const wired = wiring.sagas[name];
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

  const checkStopped = () => {
    if (signal.aborted) throw new SagaStopped("stopped");
  };

  /** A fenced hash update, retried while the store is unreachable; a stale token stops the runner. */
  async function write(key: string, set: Record<string, string>, remove: readonly string[] = []) {
    for (let attempt = 0; ; attempt++) {
      checkStopped();
      try {
        await store.hupdate(key, set, remove, token);
        return;
      } catch (error) {
        if (error instanceof StaleTokenError) {
          stats.staleWrites++;
          m?.stale.inc({});
          if (!stopper.signal.aborted) {
            log.warn("a newer term exists: this instance stops advancing sagas", { key, error });
            stopper.abort(new NotLeaderError(service, { cause: error }));
          }
          throw new SagaStopped("stale", { cause: error });
        }
        if (!(error instanceof CoordinationUnavailableError)) throw error;
        if (attempt === 0) log.warn("cannot write saga state; retrying", { key, error: error.message });
        await pause(backoff(attempt));
      }
    }
  }

  async function pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
    checkStopped();
  }

  const backoff = (attempt: number) =>
    Math.random() * Math.min(retry.maxBackoffMs, retry.baseBackoffMs * 2 ** attempt);

  const persist = (r: SagaRecord) => write(sagaKeys.record(r.id), encodeRecord(r));

  type Outcome =
    | { ok: true; value: unknown }
    | { ok: false; error: unknown /** the command may have taken effect */; effect: boolean };

  /** Sends one step command (or compensation), retrying transient failures within `timeoutMs`. */
  async function attempt(
    spec: RequestSpec,
    build: () => unknown,
    messageId: string,
    correlationId: string,
    timeoutMs: number,
  ): Promise<Outcome> {
    let input: unknown;
    try {
      input = build();
    } catch (error) {
      return { ok: false, error, effect: false }; // the mapping failed: nothing was sent
    }
    const deadline = Date.now() + timeoutMs;
    const perAttempt = Math.max(retry.minAttemptMs, Math.round(timeoutMs * retry.attemptShare));
    let last: unknown;
    for (let n = 0; ; n++) {
      checkStopped();
      const remaining = deadline - Date.now();
      if (remaining <= 0) return { ok: false, error: last, effect: true };
      try {
        const value = await sendRequest(bus, spec, input, {
          messageId,
          correlationId,
          timeoutMs: Math.min(remaining, perAttempt),
          signal,
        });
        return { ok: true, value };
      } catch (error) {
        checkStopped();
        if (error instanceof DomainError || error instanceof PayloadTooLargeError) {
          return { ok: false, error, effect: false };
        }
        if (error instanceof InvalidMessageError) {
          // A request refused by its schema never ran; a reply that failed its schema did.
          return { ok: false, error, effect: error.part === "result" };
        }
        // Timeouts, no responders, INTERNAL, a leader-mode handler between leaders: may pass.
        last = error;
        const wait = backoff(n);
        if (Date.now() + wait >= deadline) return { ok: false, error, effect: true };
        stats.retries++;
        log.debug("retrying saga step", { command: spec.name, messageId, attempt: n + 1, error });
        await pause(wait);
      }
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

  /** Drives one saga from its record until it ends or the runner stops. */
  async function drive(r: SagaRecord): Promise<void> {
    const entry = sagas.get(r.saga);
    if (entry === undefined) {
      log.error("saga not mapped by this service; left for an instance that maps it", { sagaId: r.id });
      return;
    }
    const { def, timeouts } = entry;
    for (;;) {
      checkStopped();
      if (r.status === "running") {
        const step = def.steps[r.step];
        if (step === undefined) return finish(r, "completed");
        const outcome = await attempt(
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
          await persist({ ...r, step: r.step + 1, state: next, updatedAt: Date.now(), term: token });
          r.step++;
          r.state = next;
        } else {
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
          await persist({
            ...r,
            status: "compensating",
            step: from,
            error,
            updatedAt: Date.now(),
            term: token,
          });
          Object.assign(r, { status: "compensating", step: from, error });
        }
        continue;
      }
      if (r.status === "compensating") {
        if (r.step < 0) return finish(r, "compensated");
        const step = def.steps[r.step];
        if (step?.compensation === undefined || step.compensate === undefined) {
          r.step--; // irreversible: nothing to undo, and nothing to record (the next state says it)
          continue;
        }
        const compensate = step.compensate;
        const outcome = await attempt(
          step.compensation,
          () => compensate(r.state),
          stepKey(r.id, r.step, "undo"),
          r.correlationId,
          timeouts[r.step] ?? step.compensation.timeoutMs,
        );
        if (outcome.ok) {
          await persist({ ...r, step: r.step - 1, updatedAt: Date.now(), term: token });
          r.step--;
        } else {
          const compensationError = errorRecord(outcome.error, r.step, step.compensation.name);
          log.error("saga compensation failed; the saga is left failed for an operator", {
            sagaId: r.id,
            step: r.step,
            command: step.compensation.name,
            error: outcome.error,
          });
          r.compensationError = compensationError;
          return finish(r, "failed");
        }
        continue;
      }
      // A final status found on resume: the record was written, the indexes maybe not.
      return finish(r, r.status, { recorded: true });
    }
  }

  async function finish(r: SagaRecord, status: SagaStatus, o: { recorded?: boolean } = {}): Promise<void> {
    if (!o.recorded) {
      const now = Date.now();
      await persist({ ...r, status, updatedAt: now, term: token });
      r.status = status;
      r.updatedAt = now;
    }
    const countKey = `${r.saga}:${status}`;
    const count = (counts.get(countKey) ?? 0) + 1;
    counts.set(countKey, count);
    const writes: Promise<void>[] = [
      write(sagaKeys.open, {}, [r.id]),
      write(sagaKeys.counts, { [countKey]: String(count) }),
    ];
    if (status === "failed") {
      writes.push(write(sagaKeys.failed, { [r.id]: r.saga }));
    } else {
      const bucket = Math.floor(r.updatedAt / bucketMs);
      if (!knownBuckets.has(bucket)) {
        knownBuckets.add(bucket);
        writes.push(write(sagaKeys.doneBuckets, { [bucket]: "1" }));
      }
      writes.push(write(sagaKeys.done(bucket), { [r.id]: status }));
    }
    await Promise.all(writes);
    if (status === "completed") stats.completed++;
    else if (status === "compensated") stats.compensated++;
    else if (status === "failed") stats.failed++;
    m?.total.inc({ saga: r.saga, outcome: status });
  }

  /** Runs `drive` for a saga in the background, tracked in `loops`. */
  function launch(id: string, saga: string, started: Promise<SagaRecord>): void {
    m?.inFlight.inc({ saga });
    const entry = loops.get(id) ?? { started };
    loops.set(id, entry);
    entry.done = started
      .then((r) => drive(r))
      .catch((error: unknown) => {
        if (error instanceof SagaStopped) return;
        log.error("saga loop failed; the next term resumes it", { sagaId: id, error });
      })
      .finally(() => {
        m?.inFlight.dec({ saga });
        loops.delete(id);
        if (loops.size === 0) for (const w of idleWaiters.splice(0)) w();
      });
  }

  async function create(
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
      term: token,
      ...(reply !== undefined ? { reply } : {}),
    };
    // The open index first, with the trigger itself: a crash before the record is written leaves
    // an entry the next leader can start from, never a record nobody will resume.
    if (!options.indexed) await write(sagaKeys.open, { [id]: JSON.stringify(entry) });
    await persist(r);
    return r;
  }

  async function start(
    saga: string,
    payload: unknown,
    trigger: { messageId?: string; correlationId?: string } = {},
  ): Promise<SagaStarted> {
    const entry = sagas.get(saga);
    if (entry === undefined) throw new TypeError(`service '${service}' does not run saga '${saga}'`);
    await ready;
    if (signal.aborted) throw new NotLeaderError(service);
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
    loops.set(id, { started }); // before any await: a concurrent duplicate finds it
    try {
      const existing = await readRecords(backend, hashTag, [id]);
      const found = existing.get(id);
      if (found !== undefined) {
        loops.delete(id);
        if (loops.size === 0) for (const w of idleWaiters.splice(0)) w();
        resolveStarted(found);
        stats.duplicates++;
        return { sagaId: id, state: found.state, reply: found.reply, duplicate: true };
      }
      const r = await create(
        id,
        saga,
        entry.def,
        { saga, payload, messageId, correlationId },
        { indexed: false },
      );
      stats.started++;
      resolveStarted(r);
      launch(id, saga, started);
      return { sagaId: id, state: r.state, reply: r.reply, duplicate: false };
    } catch (error) {
      loops.delete(id);
      if (loops.size === 0) for (const w of idleWaiters.splice(0)) w();
      rejectStarted(error);
      if (error instanceof SagaStopped) throw new NotLeaderError(service, { cause: error });
      throw error;
    }
  }

  /** Picks up every unfinished saga of the store: the open index names them all. */
  async function resume(): Promise<void> {
    const [open, storedCounts, buckets] = await retryRead(() =>
      Promise.all([
        backend.hgetall(hashTag, sagaKeys.open),
        backend.hgetall(hashTag, sagaKeys.counts),
        backend.hgetall(hashTag, sagaKeys.doneBuckets),
      ]),
    );
    for (const [k, v] of Object.entries(storedCounts)) counts.set(k, Number(v));
    for (const b of Object.keys(buckets)) knownBuckets.add(Number(b));
    const ids = Object.keys(open);
    const records = await retryRead(() => readRecords(backend, hashTag, ids));
    for (const id of ids) {
      const entry = parseOpen(open[id]);
      const r = records.get(id);
      const saga = r?.saga ?? entry?.saga;
      const mapped = saga === undefined ? undefined : sagas.get(saga);
      if (saga === undefined || mapped === undefined || (r === undefined && entry === undefined)) {
        log.error("unfinished saga of an unknown kind; left in the store", { sagaId: id, saga });
        continue;
      }
      stats.resumed++;
      const started =
        r !== undefined ? Promise.resolve(r) : create(id, saga, mapped.def, entry!, { indexed: true });
      launch(id, saga, started);
    }
    if (ids.length > 0) log.info("resumed unfinished sagas", { count: stats.resumed });
  }

  async function retryRead<T>(read: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      checkStopped();
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof CoordinationUnavailableError)) throw error;
        await pause(backoff(attempt));
      }
    }
  }

  /** Deletes the records of sagas that ended longer than the retention ago, one bucket at a time. */
  async function sweep(): Promise<void> {
    const now = Date.now();
    for (const b of [...knownBuckets].sort((x, y) => x - y)) {
      if ((b + 1) * bucketMs + retentionMs > now) break;
      const ids = Object.keys(await backend.hgetall(hashTag, sagaKeys.done(b)));
      for (const id of ids) {
        checkStopped();
        await store.delete(sagaKeys.record(id), token).catch(onSweepError);
      }
      await store.delete(sagaKeys.done(b), token);
      await write(sagaKeys.doneBuckets, {}, [String(b)]);
      knownBuckets.delete(b);
    }
  }
  function onSweepError(error: unknown): void {
    if (error instanceof StaleTokenError) throw error;
    log.warn("cannot delete an expired saga record; the next sweep retries", { error });
  }

  function subscribeTriggers(): void {
    if (options.subscribe === false) return;
    const transport = bus.transport;
    // One subscription per trigger subject: two sagas started by one event must both see it, and
    // two subscriptions in one queue group would split the events between them.
    const byEvent = new Map<string, string[]>();
    for (const [name, { def }] of sagas) {
      if (def.trigger.kind !== "event") continue;
      byEvent.set(def.trigger.subject, [...(byEvent.get(def.trigger.subject) ?? []), name]);
    }
    for (const [subject, names] of byEvent) {
      subscriptions.push(
        transport.subscribe(subject, { queue: service }, (msg) => {
          for (const name of names) {
            void (async () => start(name, decode(msg.data, name, "event"), triggerOf(msg)))().catch(
              (error: unknown) => {
                if (error instanceof NotLeaderError) return;
                log.warn("saga trigger not started", { saga: name, error });
              },
            );
          }
        }),
      );
    }
    for (const h of ws!.handles) {
      if (h.saga === undefined || !sagas.has(h.saga)) continue;
      const name = h.saga;
      subscriptions.push(transport.subscribe(h.subject, { queue: h.queue }, (msg) => onCommand(name, msg)));
    }
  }

  function onCommand(name: string, msg: IncomingMessage): void {
    const deadline = Number(msg.headers[H.deadline]);
    if (Number.isFinite(deadline) && deadline > 0 && Date.now() >= deadline) return; // caller gave up
    void (async () => {
      try {
        const payload = decode(msg.data, name, "request");
        const s = await start(name, payload, triggerOf(msg));
        answer(name, msg, encode(s.reply ?? null), undefined);
      } catch (error) {
        const wire = toWireError(error);
        answer(name, msg, encode(wire), wire.code);
      }
    })();
  }

  function answer(name: string, msg: IncomingMessage, body: Uint8Array, errorCode: string | undefined): void {
    if (msg.reply === undefined) return;
    try {
      bus.transport.publish(
        msg.reply,
        body,
        errorCode === undefined ? undefined : { [H.status]: "error", [H.errorCode]: errorCode },
      );
    } catch (error) {
      log.error("cannot answer a saga-starting command", { saga: name, error });
    }
  }

  const ready: Promise<void> = (async () => {
    await options.after?.catch(() => {});
    checkStopped();
    await resume();
    checkStopped();
    subscribeTriggers();
    await sweep().catch((error: unknown) => {
      if (!(error instanceof SagaStopped)) log.warn("saga retention sweep failed", { error });
    });
    sweepTimer = setInterval(
      () => {
        void sweep().catch((error: unknown) => {
          if (!(error instanceof SagaStopped)) log.warn("saga retention sweep failed", { error });
        });
      },
      Math.min(bucketMs, 60_000),
    );
    sweepTimer.unref();
    log.info("saga runner started", { sagas: [...sagas.keys()], resumed: stats.resumed });
  })();
  ready.catch(() => {}); // a runner stopped before it was ready: `done` reports the end

  const done: Promise<void> = (async () => {
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });
    clearInterval(sweepTimer);
    await ready.catch(() => {});
    const subs = subscriptions;
    subscriptions = [];
    await Promise.all(subs.map((s) => s.drain().catch(() => {})));
    // Loops may still be launched by triggers delivered during the drain: wait until none is left.
    while (loops.size > 0)
      await Promise.all([...loops.values()].map((l) => l.done ?? l.started.catch(() => {})));
    log.info("saga runner stopped", { ...stats });
  })();

  return {
    stats,
    ready,
    done,
    start,
    inFlight: () => loops.size,
    idle: () =>
      loops.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve)),
    async stop() {
      if (!stopper.signal.aborted) stopper.abort(new CatgaError("saga runner stopped", { code: "SHUTDOWN" }));
      await done;
    },
  };
}

function parseOpen(text: string | undefined): OpenEntry | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as OpenEntry;
  } catch {
    return undefined;
  }
}

/** State is persisted as JSON: keep in memory exactly what a resumed saga would read back. */
function jsonCopy(value: unknown): unknown {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}

function triggerOf(msg: IncomingMessage): { messageId?: string; correlationId?: string } {
  return {
    ...(msg.headers[H.messageId] ? { messageId: msg.headers[H.messageId] } : {}),
    ...(correlationOf(msg.headers) ? { correlationId: correlationOf(msg.headers) } : {}),
  };
}

function sagaInstruments(r: Registry): { total: Counter; inFlight: Gauge; stale: Counter } {
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
