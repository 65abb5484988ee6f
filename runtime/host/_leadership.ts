/**
 * The leadership term of an instance: its role, the current term, what a handler's signal follows,
 * and the work a term owns (the leader's scheduled jobs and saga runner). A p2p instance is a
 * `peer` for life and never has a term.
 */
import type { RedeliveryPolicy } from "../_durable.js";
import type { WireMeta } from "../_wire.js";
import type { HostContext, ServiceDefinition } from "../api.js";
import type { Bus } from "../bus.js";
import type { CoordinationBackend } from "../coordination/backend.js";
import { runSchedule, type ScheduleHandle } from "../coordination/schedule.js";
import type { Logger } from "../log.js";
import type { Registry } from "../metrics.js";
import { type SagaRunner, startSagaRunner } from "../saga.js";
import type { IncomingMessage } from "../transport/types.js";
import type { Wiring, WiringService } from "../wiring.js";
import { type ContextScope, MessageContext } from "./_context.js";
import type { HostInstruments } from "./_metrics.js";
import type { Role, Term } from "./_types.js";

/** What {@link Leadership} needs from its host. */
export interface LeadershipOptions {
  wiring: Wiring;
  service: string;
  ws: WiringService;
  definition: ServiceDefinition;
  bus: Bus;
  log: Logger;
  metrics: Registry;
  instruments: HostInstruments;
  scope: ContextScope;
  coordination: CoordinationBackend | undefined;
  /** Backoff of durable saga triggers given back (see HostOptions.durableRedelivery). */
  redelivery?: RedeliveryPolicy | undefined;
  /** Aborts when the instance stops or crashes. */
  shutdown: AbortSignal;
}

/** The role and term of one instance, and the contexts its handlers get. */
export class Leadership {
  role: Role;
  term: Term | undefined;
  /** The saga runner of the current (or last) term: the next term's resumes after it has stopped. */
  sagaRunner: SagaRunner | undefined;
  readonly #o: LeadershipOptions;
  readonly #shutdownOnly: readonly AbortSignal[];
  /** What a handler's signal follows besides its deadline: shutdown, and in leader mode the term. */
  #signals: readonly AbortSignal[];
  /** The schedules of the current (or last) term: the next term awaits them, so runs never overlap. */
  #schedules: ScheduleHandle[] = [];

  constructor(options: LeadershipOptions) {
    this.#o = options;
    this.role = options.ws.mode === "p2p" ? "peer" : "standby";
    this.#shutdownOnly = [options.shutdown];
    this.#signals = this.#shutdownOnly;
  }

  /** The context of a message (or, without one, of a tick) handled now. */
  context(msg: IncomingMessage | undefined, deadline: number, wire?: WireMeta, since?: number): HostContext {
    return this.#context(msg, deadline, this.#signals, wire, since);
  }

  #context(
    msg: IncomingMessage | undefined,
    deadline: number,
    signals: readonly AbortSignal[],
    wire?: WireMeta,
    since?: number,
  ): HostContext {
    const base = new MessageContext(this.#o.scope, msg, deadline, signals, wire, since);
    if (this.#o.ws.mode !== "leader" || this.term === undefined) return base;
    const current = this.term;
    return Object.defineProperties(base, {
      fencingToken: { value: current.fencingToken, enumerable: true },
      isLeader: {
        get: () => this.role === "leader" && this.term === current && !current.signal.aborted,
        enumerable: true,
      },
    }) as HostContext;
  }

  /** This instance leads from now on, for term `t`. */
  elected(t: Term): void {
    this.term = t;
    this.role = "leader";
    this.#signals = [this.#o.shutdown, t.signal];
    this.#o.log.info("elected leader", { fencingToken: t.fencingToken.toString() });
  }

  /** The term is over: back to standby. */
  demoted(reason: string): void {
    this.role = "standby";
    this.term = undefined;
    this.#signals = this.#shutdownOnly;
    this.#o.log.warn("no longer leader", { reason });
  }

  /** After a stop: the role an idle instance reports. */
  reset(): void {
    this.role = this.#o.ws.mode === "p2p" ? "peer" : "standby";
  }

  /** Starts the work term `t` owns: its scheduled jobs and its saga runner. */
  startTermWork(t: Term): void {
    this.#startSchedules(t);
    this.#startSagas(t);
  }

  /** Resolves when the last term's scheduled runs have ended. */
  async schedulesDone(): Promise<void> {
    await Promise.all(this.#schedules.map((h) => h.done));
  }

  #startSchedules(t: Term): void {
    const { ws, definition, coordination: backend, log, instruments: m } = this.#o;
    if (ws.schedules.length === 0) return;
    const tag = ws.leader?.redisHashTag;
    if (backend === undefined || tag === undefined) {
      log.error("scheduled jobs need coordination (Redis or in-memory); none were started");
      return;
    }
    const previous = this.#schedules;
    this.#schedules = [];
    const token = Number(t.fencingToken);
    for (const s of ws.schedules) {
      const job = definition.jobs[s.job];
      if (job === undefined) continue;
      const start = () =>
        runSchedule({
          backend,
          hashTag: tag,
          job: s.job,
          intervalMs: s.intervalMs,
          token: () => (this.term === t && this.role === "leader" ? token : undefined),
          signal: t.signal,
          logger: log,
          run: async (r) => {
            const started = performance.now();
            try {
              await job.run(this.#tickContext(r, t));
              m.jobs.inc({ job: s.job, outcome: "ok" });
            } catch (error) {
              m.jobs.inc({ job: s.job, outcome: "error" });
              throw error;
            } finally {
              m.duration.observe({ message: `job:${s.job}` }, (performance.now() - started) / 1000);
            }
          },
        });
      // A new term in the same process waits for the last term's run of the job to finish.
      const handle = previous.length === 0 ? start() : undefined;
      if (handle) this.#schedules.push(handle);
      else
        void Promise.all(previous.map((p) => p.done)).then(() => {
          if (this.term === t && !t.signal.aborted) this.#schedules.push(start());
        });
    }
  }

  #tickContext(r: { job: string; tick: number }, t: Term): HostContext {
    const ctx = this.#context(undefined, Date.now() + this.#o.ws.timeoutMs, [this.#o.shutdown, t.signal]);
    // A tick's id is stable across instances: a job can deduplicate its effects on it.
    return Object.defineProperty(ctx, "messageId", { value: `${r.job}:${r.tick}`, enumerable: true });
  }

  #startSagas(t: Term): void {
    const { wiring, service, ws, definition, bus, coordination: backend, log, metrics } = this.#o;
    if (ws.sagas.length === 0) return;
    const tag = ws.leader?.redisHashTag;
    if (backend === undefined || tag === undefined) {
      log.error("sagas need coordination (Redis or in-memory); none were started");
      return;
    }
    const previous = this.sagaRunner?.done;
    // The runner subscribes to the saga triggers itself, for this term only, and stops advancing
    // the moment the term's signal (or shutdown) aborts.
    this.sagaRunner = startSagaRunner({
      wiring,
      service,
      definition,
      bus,
      backend,
      hashTag: tag,
      token: Number(t.fencingToken),
      signal: AbortSignal.any([t.signal, this.#o.shutdown]),
      log,
      metrics,
      ...(previous ? { after: previous } : {}),
      ...(this.#o.redelivery ? { redelivery: this.#o.redelivery } : {}),
    });
  }
}
