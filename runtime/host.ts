/**
 * The service host: runs one instance of one service from its wiring and its definition. It
 * subscribes exactly as the wiring says (commands and queries in their queue group; events in the
 * service's queue group or, for `broadcast`, on a plain subscription), answers requests with the
 * result or a typed error, counts everything for `/metrics`, publishes heartbeats, and drains on
 * shutdown: readiness off, no new messages, in-flight work finishes and replies, then the
 * connection closes.
 *
 * A malformed message never stops an instance: it is answered with `InvalidMessageError` (or, for
 * an event, logged), counted, and the next message is served.
 */
import { hostname } from "node:os";
import { decode, encode, H, newId } from "./_wire.js";
import type {
  CallOptions,
  Emitter,
  EventHandlerDefinition,
  HostContext,
  RequestHandlerDefinition,
  Sender,
  ServiceDefinition,
} from "./api.js";
import { type Bus, createBus } from "./bus.js";
import type { CoordinationBackend } from "./coordination/backend.js";
import { runSchedule, type ScheduleHandle } from "./coordination/schedule.js";
import { CatgaError, InvalidMessageError, PayloadTooLargeError, toWireError } from "./errors.js";
import { type HealthServer, startHealthServer } from "./health-server.js";
import { type Logger, silentLogger } from "./log.js";
import { publishEvent, sendRequest } from "./messaging.js";
import {
  type Counter,
  type CounterSeries,
  type Gauge,
  type GaugeSeries,
  type Histogram,
  type HistogramSeries,
  Registry,
} from "./metrics.js";
import { type SagaRunner, startSagaRunner } from "./saga.js";
import { isPromiseLike } from "./service-definition.js";
import type { IncomingMessage, Transport, TransportSubscription } from "./transport/types.js";
import type { Wiring, WiringService } from "./wiring.js";

/** The role an instance reports: a p2p peer, or the leader or a standby of a leader-mode service. */
export type Role = "peer" | "leader" | "standby";

/**
 * Leadership of a leader-mode service, as the host needs it: the coordination layer (a Redis lease
 * or its in-memory twin) calls `onElected` when this instance becomes leader and `onDemoted` when it
 * stops being one.
 */
export interface LeaderGate {
  start(events: {
    onElected(term: { fencingToken: bigint; signal: AbortSignal }): void;
    onDemoted(reason: string): void;
  }): void;
  /** Stops campaigning; with `release`, gives the lease up so a standby takes over at once. */
  stop(options: { release: boolean }): Promise<void>;
}

/** Options of {@link startHost}. */
export interface HostOptions {
  wiring: Wiring;
  service: string;
  definition: ServiceDefinition;
  transport: Transport;
  /** @default host name and process id */
  instanceId?: string;
  log?: Logger;
  /** Port of /healthz, /readyz and /metrics; `undefined` starts no HTTP server (embedded use). */
  healthPort?: number;
  /**
   * Heartbeat period in milliseconds.
   * @default 2000
   */
  heartbeatMs?: number;
  /** Required in leader mode: who decides when this instance leads. */
  leader?: LeaderGate;
  /**
   * Required for scheduled jobs (leader mode): where ticks are claimed, so each tick runs at most
   * once across the cluster, even across a change of leader.
   */
  coordination?: CoordinationBackend;
}

/** Per-instance counters, as heartbeats and status report them. */
export interface HostCounters {
  handled: number;
  errors: number;
  invalid: number;
  inFlight: number;
}

/** The heartbeat an instance publishes on its service's heartbeat subject. */
export interface Heartbeat {
  topology: string;
  service: string;
  instance: string;
  role: Role;
  mode: "p2p" | "leader";
  pid: number;
  /** Leader only: the current term's fencing token, as a decimal string (it is a 64-bit counter). */
  fencingToken?: string;
  counters: HostCounters;
  ready: boolean;
  /** Epoch ms when sent. */
  at: number;
}

/** A running instance. */
export interface Host {
  readonly instanceId: string;
  readonly role: Role;
  readonly counters: HostCounters;
  readonly metrics: Registry;
  /** The bus this instance sends and emits through. */
  readonly bus: Bus;
  /** Leader of a service that runs sagas: the current term's saga runner. */
  readonly sagas: SagaRunner | undefined;
  ready(): boolean;
  /** The health server's port, when one was started. */
  readonly healthPort: number | undefined;
  /**
   * Graceful shutdown: readiness off, subscriptions drained, in-flight work awaited (at most
   * `graceMs`), leadership released, connection drained.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
  /**
   * Simulates a crash, as a SIGKILL would end a process (in-process topologies and tests): the
   * instance stops answering at once, its subscriptions vanish with its connection (nothing is
   * drained), work in flight is abandoned (its signal aborts and its replies go nowhere), and it
   * stops campaigning WITHOUT releasing its lease, so a standby takes over only once the lease has
   * run out, with a higher fencing token.
   */
  crash(): Promise<void>;
}

/** The definition does not match the wiring: a handler is missing or unexpected. */
export class DefinitionMismatchError extends CatgaError {
  override name = "DefinitionMismatchError";
  constructor(
    readonly service: string,
    readonly problems: readonly string[],
  ) {
    super(`the handlers of service '${service}' do not match its wiring:\n  ${problems.join("\n  ")}`, {
      code: "DEFINITION_MISMATCH",
    });
  }
}

/**
 * Starts an instance: validates the definition against the wiring, starts the health server,
 * subscribes (at once for p2p; on election for leader mode) and starts heartbeats.
 *
 * @throws DefinitionMismatchError when the handler module does not fit the wiring.
 */
export async function startHost(options: HostOptions): Promise<Host> {
  const { wiring, service, definition, transport } = options;
  const ws = wiring.services[service];
  if (ws === undefined) {
    throw new DefinitionMismatchError(service, [
      `the wiring has no service '${service}'; it has ${Object.keys(wiring.services).join(", ")}`,
    ]);
  }
  checkDefinition(wiring, service, ws, definition);
  const instanceId = options.instanceId ?? `${hostname()}-${process.pid}`;
  const log = (options.log ?? silentLogger).child({
    topology: wiring.topology,
    service,
    instance: instanceId,
  });
  const bus = createBus(transport, { log });
  const metrics = new Registry();
  const m = instruments(metrics);
  const counters: HostCounters = { handled: 0, errors: 0, invalid: 0, inFlight: 0 };
  /** What a draining stop() waits on: called when the last in-flight message is done. */
  let idleWaiters: (() => void)[] = [];
  const shutdown = new AbortController();
  let role: Role = ws.mode === "p2p" ? "peer" : "standby";
  let subscriptions: TransportSubscription[] = [];
  let subscribed = false;
  let draining = false;
  let crashed = false;
  let term: { fencingToken: bigint; signal: AbortSignal } | undefined;
  /** The schedules of the current (or last) term: the next term awaits them, so runs never overlap. */
  let schedules: ScheduleHandle[] = [];
  /** The saga runner of the current (or last) term: the next term's resumes after it has stopped. */
  let sagaRunner: SagaRunner | undefined;

  // The metric series of each message, bound once: addressing them by labels per message (sorting
  // and quoting the labels into a key, four times) cost more than the rest of the bookkeeping.
  const perMessage = new Map<string, MessageMetrics>();
  const messageMetrics = (message: string, kind: string): MessageMetrics => {
    let mm = perMessage.get(message);
    if (mm === undefined) {
      const outcomes = new Map<string, CounterSeries>();
      mm = {
        inFlight: m.inFlight.series({ message }),
        invalid: m.invalid.series({ message }),
        duration: m.duration.series({ message }),
        handled: (outcome) => {
          let c = outcomes.get(outcome);
          if (c === undefined) {
            c = m.handled.series({ message, kind, outcome });
            outcomes.set(outcome, c);
          }
          return c;
        },
      };
      perMessage.set(message, mm);
    }
    return mm;
  };
  // What a handler's signal follows besides its deadline: shutdown, and in leader mode the term.
  const shutdownOnly = [shutdown.signal];
  const handlerSignals = () => (term ? [shutdown.signal, term.signal] : shutdownOnly);

  // In-flight work is counted rather than kept as a set of promises: stop() waits for the count to
  // reach zero, which saves a set entry and a `finally` promise per message.
  const begin = () => {
    counters.inFlight++;
  };
  const end = () => {
    if (--counters.inFlight === 0 && idleWaiters.length > 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  };
  const idle = () =>
    counters.inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));

  // Built per message, so everything costly (an AbortSignal with its timer, the emit/send tables,
  // a child logger, even the ids from the headers) is created only when the handler first touches
  // it: most handlers never do, and a timer per request is what caps a 2-core machine's request
  // rate. A class rather than an object literal with getters: one small object per message instead
  // of an object plus a closure per getter.
  class MessageContext {
    readonly service = service;
    readonly instance = instanceId;
    readonly deadline: number;
    readonly #msg: IncomingMessage | undefined;
    readonly #signals: readonly AbortSignal[];
    #messageId: string | undefined;
    #correlationId: string | undefined;
    #signal: AbortSignal | undefined;
    #log: Logger | undefined;
    #emit: Record<string, Emitter<unknown>> | undefined;
    #send: Record<string, Sender<unknown, unknown>> | undefined;

    constructor(msg: IncomingMessage | undefined, deadline: number, signals: readonly AbortSignal[]) {
      this.#msg = msg;
      this.deadline = deadline;
      this.#signals = signals;
    }

    get messageId(): string {
      this.#messageId ??= this.#msg?.headers[H.messageId] || newId();
      return this.#messageId;
    }

    get correlationId(): string {
      this.#correlationId ??= this.#msg?.headers[H.correlationId] || this.messageId;
      return this.#correlationId;
    }

    get signal(): AbortSignal {
      this.#signal ??= AbortSignal.any([
        ...this.#signals,
        AbortSignal.timeout(Math.max(1, this.deadline - Date.now())),
      ]);
      return this.#signal;
    }

    get log(): Logger {
      this.#log ??= log.child({ correlationId: this.correlationId });
      return this.#log;
    }

    get emit(): Record<string, Emitter<unknown>> {
      if (this.#emit === undefined) {
        const emit: Record<string, Emitter<unknown>> = {};
        const correlationId = this.correlationId;
        const traceparent = this.#msg?.headers[H.traceparent];
        for (const [member, spec] of Object.entries(definition.emits)) {
          emit[member] = (event) =>
            publishEvent(bus, spec, event, {
              correlationId,
              ...(traceparent ? { traceparent } : {}),
            } as CallOptions);
        }
        this.#emit = emit;
      }
      return this.#emit;
    }

    get send(): Record<string, Sender<unknown, unknown>> {
      if (this.#send === undefined) {
        const send: Record<string, Sender<unknown, unknown>> = {};
        const correlationId = this.correlationId;
        const traceparent = this.#msg?.headers[H.traceparent];
        const deadline = this.deadline;
        for (const [member, spec] of Object.entries(definition.sends)) {
          send[member] = (input, opts) =>
            sendRequest(bus, spec, input, {
              correlationId,
              signal: this.signal,
              ...opts,
              // Work caused by this message must not outlive the deadline it was given.
              ...({ deadline, ...(traceparent ? { traceparent } : {}) } as object),
            });
        }
        this.#send = send;
      }
      return this.#send;
    }
  }

  function context(msg: IncomingMessage | undefined, deadline: number, signals: AbortSignal[]): HostContext {
    const base = new MessageContext(msg, deadline, signals);
    if (ws?.mode !== "leader" || term === undefined) return base;
    const current = term;
    return Object.defineProperties(base, {
      fencingToken: { value: current.fencingToken, enumerable: true },
      isLeader: {
        get: () => role === "leader" && term === current && !current.signal.aborted,
        enumerable: true,
      },
    }) as HostContext;
  }

  function reply(
    msg: IncomingMessage,
    subjectName: string,
    body: Uint8Array,
    ok: boolean,
    code?: string,
  ): void {
    // A crashed instance's replies go nowhere, as a dead process's would.
    if (msg.reply === undefined || crashed) return;
    // A result goes without headers (see H.status); an error says so and names its code.
    const headers = ok ? undefined : { [H.status]: "error", ...(code ? { [H.errorCode]: code } : {}) };
    try {
      transport.publish(msg.reply, body, headers);
    } catch (error) {
      if (error instanceof PayloadTooLargeError && ok) {
        // The caller would otherwise wait for its deadline: tell it why there is no result.
        const tooLarge = new PayloadTooLargeError(subjectName, error.size, error.limit);
        transport.publish(msg.reply, encode(toWireError(tooLarge)), {
          [H.status]: "error",
          [H.errorCode]: tooLarge.code,
        });
      } else {
        log.error("cannot send reply", { message: subjectName, error });
      }
    }
  }

  /** For the log of an invalid message: a sender built from another schema is the usual cause. */
  function schemas(schema: string, msg: IncomingMessage): { schema: string; senderSchema?: string } {
    const sender = msg.headers[H.schema];
    return sender !== undefined && sender !== schema ? { schema, senderSchema: sender } : { schema };
  }

  function onRequest(handler: RequestHandlerDefinition, msg: IncomingMessage): void {
    const name = handler.spec.name;
    const started = performance.now();
    const deadlineHeader = Number(msg.headers[H.deadline]);
    const deadline =
      Number.isFinite(deadlineHeader) && deadlineHeader > 0 ? deadlineHeader : Date.now() + ws!.timeoutMs;
    const mm = messageMetrics(name, handler.spec.kind);
    begin();
    mm.inFlight.inc();
    if (Date.now() >= deadline) {
      // The caller has given up already: doing the work now would only be wasted (or harmful).
      requestDone(mm, started, "expired");
      return;
    }
    // No async frame, as for events: a synchronous handler is answered within this call.
    let pending: unknown;
    try {
      const payload = decode(msg.data, name, "request");
      pending = handler.handle(payload, context(msg, deadline, handlerSignals()));
    } catch (error) {
      requestFailed(handler, msg, mm, started, error);
      return;
    }
    if (isPromiseLike(pending)) {
      pending.then(
        (result) => requestAnswered(handler, msg, mm, started, result),
        (error: unknown) => requestFailed(handler, msg, mm, started, error),
      );
    } else {
      requestAnswered(handler, msg, mm, started, pending);
    }
  }

  function requestAnswered(
    handler: RequestHandlerDefinition,
    msg: IncomingMessage,
    mm: MessageMetrics,
    started: number,
    result: unknown,
  ): void {
    let body: Uint8Array;
    try {
      body = encode(result);
    } catch (error) {
      requestFailed(handler, msg, mm, started, error);
      return;
    }
    reply(msg, handler.spec.subject, body, true);
    counters.handled++;
    requestDone(mm, started, "ok");
  }

  function requestFailed(
    handler: RequestHandlerDefinition,
    msg: IncomingMessage,
    mm: MessageMetrics,
    started: number,
    error: unknown,
  ): void {
    const name = handler.spec.name;
    const invalid = error instanceof InvalidMessageError;
    if (invalid) {
      counters.invalid++;
      mm.invalid.inc();
      log.warn("invalid message", { message: name, error, ...schemas(handler.spec.schemaId, msg) });
    } else if (!(error instanceof CatgaError)) {
      log.error("handler failed", { message: name, error });
    }
    counters.errors++;
    const wire = toWireError(error);
    reply(msg, handler.spec.subject, encode(wire), false, wire.code);
    requestDone(mm, started, invalid ? "invalid" : "error");
  }

  function requestDone(mm: MessageMetrics, started: number, outcome: string): void {
    mm.inFlight.dec();
    mm.handled(outcome).inc();
    mm.duration.observe((performance.now() - started) / 1000);
    end();
  }

  function onEvent(handler: EventHandlerDefinition, msg: IncomingMessage): void {
    const name = handler.spec.name;
    const started = performance.now();
    const mm = messageMetrics(name, "event");
    begin();
    mm.inFlight.inc();
    // No async frame: a synchronous handler (most event handlers) then costs no promise and no
    // microtask per event, about a tenth of a lone subscriber's CPU per event when measured.
    let pending: unknown;
    try {
      const payload = decode(msg.data, name, "event");
      pending = handler.handle(payload, context(msg, Date.now() + ws!.timeoutMs, handlerSignals()));
    } catch (error) {
      eventDone(handler, msg, mm, started, false, error);
      return;
    }
    if (isPromiseLike(pending)) {
      pending.then(
        () => eventDone(handler, msg, mm, started, true, undefined),
        (error: unknown) => eventDone(handler, msg, mm, started, false, error),
      );
    } else {
      eventDone(handler, msg, mm, started, true, undefined);
    }
  }

  function eventDone(
    handler: EventHandlerDefinition,
    msg: IncomingMessage,
    mm: MessageMetrics,
    started: number,
    ok: boolean,
    error: unknown,
  ): void {
    let outcome = "ok";
    if (ok) {
      counters.handled++;
    } else {
      const name = handler.spec.name;
      counters.errors++;
      if (error instanceof InvalidMessageError) {
        outcome = "invalid";
        counters.invalid++;
        mm.invalid.inc();
        log.warn("invalid event", { message: name, error, ...schemas(handler.spec.schemaId, msg) });
      } else {
        outcome = "error";
        log.error("event handler failed", { message: name, error });
      }
    }
    mm.inFlight.dec();
    mm.handled(outcome).inc();
    mm.duration.observe((performance.now() - started) / 1000);
    end();
  }

  function subscribe(): void {
    if (subscribed || draining) return;
    const subs: TransportSubscription[] = [];
    for (const h of ws!.handles) {
      const handler = definition.handlers[h.message];
      if (handler === undefined) continue; // saga-started commands: the saga runner subscribes to them
      subs.push(transport.subscribe(h.subject, { queue: h.queue }, (msg) => onRequest(handler, msg)));
    }
    for (const s of ws!.subscriptions) {
      const handler = definition.events[s.event];
      if (handler === undefined) continue;
      subs.push(
        transport.subscribe(s.subject, s.delivery === "group" && s.queue ? { queue: s.queue } : {}, (msg) =>
          onEvent(handler, msg),
        ),
      );
    }
    subscriptions = subs;
    subscribed = true;
  }

  async function unsubscribe(): Promise<void> {
    const subs = subscriptions;
    subscriptions = [];
    subscribed = false;
    await Promise.all(subs.map((s) => s.drain()));
  }

  function startSchedules(t: { fencingToken: bigint; signal: AbortSignal }): void {
    if (ws!.schedules.length === 0) return;
    const backend = options.coordination;
    const tag = ws!.leader?.redisHashTag;
    if (backend === undefined || tag === undefined) {
      log.error("scheduled jobs need coordination (Redis or in-memory); none were started");
      return;
    }
    const previous = schedules;
    schedules = [];
    const token = Number(t.fencingToken);
    for (const s of ws!.schedules) {
      const job = definition.jobs[s.job];
      if (job === undefined) continue;
      const start = () =>
        runSchedule({
          backend,
          hashTag: tag,
          job: s.job,
          intervalMs: s.intervalMs,
          token: () => (term === t && role === "leader" ? token : undefined),
          signal: t.signal,
          logger: log,
          run: async (r) => {
            const started = performance.now();
            try {
              await job.run(tickContext(r, t));
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
      if (handle) schedules.push(handle);
      else
        void Promise.all(previous.map((p) => p.done)).then(() => {
          if (term === t && !t.signal.aborted) schedules.push(start());
        });
    }
  }

  function startSagas(t: { fencingToken: bigint; signal: AbortSignal }): void {
    if (ws!.sagas.length === 0) return;
    const backend = options.coordination;
    const tag = ws!.leader?.redisHashTag;
    if (backend === undefined || tag === undefined) {
      log.error("sagas need coordination (Redis or in-memory); none were started");
      return;
    }
    const previous = sagaRunner?.done;
    // The runner subscribes to the saga triggers itself, for this term only, and stops advancing
    // the moment the term's signal (or shutdown) aborts.
    sagaRunner = startSagaRunner({
      wiring,
      service,
      definition,
      bus,
      backend,
      hashTag: tag,
      token: Number(t.fencingToken),
      signal: AbortSignal.any([t.signal, shutdown.signal]),
      log,
      metrics,
      ...(previous ? { after: previous } : {}),
    });
  }

  function tickContext(
    r: { job: string; tick: number },
    t: { fencingToken: bigint; signal: AbortSignal },
  ): HostContext {
    const ctx = context(undefined, Date.now() + ws!.timeoutMs, [shutdown.signal, t.signal]);
    // A tick's id is stable across instances: a job can deduplicate its effects on it.
    return Object.defineProperty(ctx, "messageId", { value: `${r.job}:${r.tick}`, enumerable: true });
  }

  const ready = () => transport.isConnected() && !draining && (role === "standby" || subscribed);

  const heartbeat = (): Heartbeat => ({
    topology: wiring.topology,
    service,
    instance: instanceId,
    role,
    mode: ws.mode,
    pid: process.pid,
    ...(role === "leader" && term ? { fencingToken: term.fencingToken.toString() } : {}),
    counters: { ...counters },
    ready: ready(),
    at: Date.now(),
  });
  const beat = () => {
    // A crashed instance is silent: its last heartbeat is the one before the crash, as with a process.
    if (crashed) return;
    try {
      transport.publish(ws.heartbeatSubject, encode(heartbeat()));
    } catch (error) {
      log.warn("heartbeat failed", { error });
    }
  };

  let health: HealthServer | undefined;
  if (options.healthPort !== undefined) {
    health = await startHealthServer(
      {
        alive: () => true,
        ready,
        details: () => ({
          role,
          service,
          instance: instanceId,
          connected: transport.isConnected(),
          draining,
        }),
        metrics: () => {
          m.ready.set({}, ready() ? 1 : 0);
          m.leader.set({}, role === "leader" ? 1 : 0);
          return metrics.render();
        },
      },
      options.healthPort,
    );
  }

  if (ws.mode === "p2p") {
    subscribe();
  } else {
    if (options.leader === undefined) {
      throw new DefinitionMismatchError(service, [
        "a leader-mode service needs leader election (Redis or in-memory)",
      ]);
    }
    options.leader.start({
      onElected: (t) => {
        term = t;
        role = "leader";
        log.info("elected leader", { fencingToken: t.fencingToken.toString() });
        subscribe();
        startSchedules(t);
        startSagas(t);
        beat();
      },
      onDemoted: (reason) => {
        role = "standby";
        term = undefined;
        log.warn("no longer leader", { reason });
        void unsubscribe();
        beat();
      },
    });
  }
  await transport.flush();
  const timer = setInterval(beat, options.heartbeatMs ?? 2000);
  timer.unref();
  beat();
  log.info("instance started", { role, mode: ws.mode });

  return {
    instanceId,
    get role() {
      return role;
    },
    counters,
    metrics,
    bus,
    get sagas() {
      return sagaRunner;
    },
    ready,
    healthPort: health?.port,
    async stop({ graceMs = 10_000 } = {}) {
      if (draining) return;
      draining = true;
      log.info("draining", { inFlight: counters.inFlight });
      clearInterval(timer);
      await unsubscribe();
      const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([idle(), grace]);
      shutdown.abort(new CatgaError("the instance is shutting down", { code: "SHUTDOWN" }));
      // Sagas stop advancing before the lease goes: the next leader resumes them from the store.
      await sagaRunner?.done;
      if (options.leader) await options.leader.stop({ release: true });
      await Promise.all(schedules.map((h) => h.done));
      role = ws.mode === "p2p" ? "peer" : "standby";
      beat();
      await transport.drain();
      await health?.close();
      log.info("stopped");
    },
    async crash() {
      if (crashed) return;
      crashed = true;
      draining = true;
      clearInterval(timer);
      subscriptions = [];
      subscribed = false;
      // Closing (not draining) the connection drops every subscription and pending delivery at once.
      await transport.close();
      shutdown.abort(new CatgaError("the instance crashed", { code: "CRASHED" }));
      // No release: the lease stays in the store until it expires, as after a SIGKILL.
      if (options.leader) await options.leader.stop({ release: false });
      await health?.close();
      log.warn("crashed (simulated)");
    },
  };
}

/** The metric series the handling of one message touches. */
interface MessageMetrics {
  inFlight: GaugeSeries;
  invalid: CounterSeries;
  duration: HistogramSeries;
  handled(outcome: string): CounterSeries;
}

function instruments(r: Registry): {
  handled: Counter;
  invalid: Counter;
  duration: Histogram;
  inFlight: Gauge;
  ready: Gauge;
  leader: Gauge;
  jobs: Counter;
} {
  return {
    handled: r.counter("catga_messages_total", "Messages handled, by message, kind and outcome."),
    invalid: r.counter("catga_invalid_messages_total", "Messages that failed their schema, by message."),
    duration: r.histogram("catga_message_duration_seconds", "Time to handle a message, by message."),
    inFlight: r.gauge("catga_messages_in_flight", "Messages being handled now, by message."),
    ready: r.gauge("catga_ready", "1 when the instance is ready to serve."),
    jobs: r.counter("catga_job_runs_total", "Scheduled job runs, by job and outcome."),
    leader: r.gauge("catga_leader", "1 when this instance leads its service."),
  };
}

/** Every handler the wiring routes to must exist, and the definition must be for this service. */
function checkDefinition(wiring: Wiring, service: string, ws: WiringService, def: ServiceDefinition): void {
  const problems: string[] = [];
  if (def.topology !== wiring.topology || def.service !== service) {
    problems.push(
      `the module defines service '${def.topology}.${def.service}', not '${wiring.topology}.${service}'`,
    );
  }
  for (const h of ws.handles) {
    if (h.saga !== undefined) continue;
    if (def.handlers[h.message] === undefined) problems.push(`no handler for ${h.message}`);
  }
  for (const s of ws.subscriptions) {
    const isSagaTrigger = ws.sagas.some((g) => wiring.sagas[g]?.trigger.name === s.event);
    if (def.events[s.event] === undefined && !isSagaTrigger) problems.push(`no event handler for ${s.event}`);
  }
  for (const j of ws.schedules) if (def.jobs[j.job] === undefined) problems.push(`no job '${j.job}'`);
  for (const g of ws.sagas) if (def.sagas[g] === undefined) problems.push(`no mapping for saga ${g}`);
  if (problems.length > 0) throw new DefinitionMismatchError(service, problems);
}
