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
 *
 * `startHost` only composes the parts, each with one job:
 * - `_context.ts`: the context a handler gets per message;
 * - `_requests.ts`, `_events.ts`: handling a request and replying, delivering an event;
 * - `_subscriptions.ts`: the sources of deliveries, subscribed and drained together;
 * - `_leadership.ts`: role and term, and the term's schedules and saga runner;
 * - `_health.ts`: readiness, heartbeats, the health server;
 * - `_lifecycle.ts`: in-flight tracking, drain and crash flags.
 */
import { hostname } from "node:os";
import { type DurablePlan, durablePlan, reconcile } from "../_durable.js";
import { createBus } from "../bus.js";
import { CatgaError, StreamConfigConflictError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { Registry } from "../metrics.js";
import type { Transport } from "../transport/types.js";
import { checkedService, DefinitionMismatchError } from "./_definition.js";
import { durableSources } from "./_durable-sources.js";
import { EventDelivery } from "./_events.js";
import { Health } from "./_health.js";
import { Leadership } from "./_leadership.js";
import { Lifecycle } from "./_lifecycle.js";
import { hostInstruments, MessageMetricsTable } from "./_metrics.js";
import { RequestHandling } from "./_requests.js";
import { coreSources, Subscriptions } from "./_subscriptions.js";
import type { Host, HostCounters, HostOptions, LeaderGate } from "./_types.js";

export { DefinitionMismatchError } from "./_definition.js";
export type { Heartbeat, Host, HostCounters, HostOptions, LeaderGate, Role } from "./_types.js";

/**
 * Starts an instance: validates the definition against the wiring, starts the health server,
 * subscribes (at once for p2p; on election for leader mode) and starts heartbeats.
 *
 * @throws DefinitionMismatchError when the handler module does not fit the wiring.
 */
export async function startHost(options: HostOptions): Promise<Host> {
  const { wiring, service, definition, transport } = options;
  const ws = checkedService(wiring, service, definition);
  const instanceId = options.instanceId ?? `${hostname()}-${process.pid}`;
  const log = (options.log ?? silentLogger).child({
    topology: wiring.topology,
    service,
    instance: instanceId,
  });
  const bus = createBus(transport, {
    log,
    ...(options.wireVersion !== undefined ? { wireVersion: options.wireVersion } : {}),
  });
  const metrics = new Registry();
  const instruments = hostInstruments(metrics);
  const counters: HostCounters = { handled: 0, errors: 0, invalid: 0, inFlight: 0 };
  const lifecycle = new Lifecycle(counters);
  const shutdown = new AbortController();
  const scope = { service, instanceId, log, definition, bus };
  const coordination = options.coordination;
  const leadership = new Leadership({
    wiring,
    service,
    ws,
    definition,
    bus,
    log,
    metrics,
    instruments,
    scope,
    coordination,
    shutdown: shutdown.signal,
    redelivery: options.durableRedelivery,
  });
  const delivery = { log, lifecycle, metrics: new MessageMetricsTable(instruments), contexts: leadership };
  const requests = new RequestHandling({ ...delivery, transport, timeoutMs: ws.timeoutMs });
  const events = new EventDelivery({ ...delivery, timeoutMs: ws.timeoutMs });
  const durable = durableSources({
    ...{ service, ws, definition, transport, events, log },
    ...(options.durableRedelivery ? { redelivery: options.durableRedelivery } : {}),
    serving: () => !lifecycle.crashed && (ws.mode === "p2p" || leadership.role === "leader"),
  });
  const subscriptions = new Subscriptions(
    [...coreSources(ws, definition, transport, requests, events), ...durable],
    lifecycle,
  );
  // Streams and consumers exist before anything is published or pulled; a change the server cannot
  // apply in place stops the start here, with the field named (StreamConfigConflictError).
  const plan = durablePlan(wiring, service);
  if (plan.streams.length > 0) await reconcileWithRetry(transport, plan, log);
  const health = new Health({
    wiring,
    service,
    ws,
    instanceId,
    transport,
    log,
    lifecycle,
    leadership,
    subscriptions,
    metrics,
    instruments,
  });
  const healthPort = options.healthPort === undefined ? undefined : await health.serve(options.healthPort);

  if (ws.mode === "p2p") {
    subscriptions.subscribe();
    // An instance is started once its durable consumptions are open: a broadcast follower then
    // hears every event published after startHost resolves.
    // Bounded: a JetStream that stays away must not hold the start forever (pulling goes on).
    const opened = await Promise.race([
      subscriptions.ready().then(() => true),
      new Promise<false>((resolve) => setTimeout(resolve, 30_000, false).unref()),
    ]);
    if (!opened) log.warn("durable consumptions not open after 30 s; starting anyway");
  } else campaign(options.leader, service, { leadership, subscriptions, health });
  await transport.flush();
  health.startBeating(options.heartbeatMs ?? 2000);
  log.info("instance started", { role: leadership.role, mode: ws.mode });

  const parts: Parts = { log, lifecycle, leadership, subscriptions, health, shutdown, options };
  return {
    instanceId,
    get role() {
      return leadership.role;
    },
    counters,
    metrics,
    bus,
    get sagas() {
      return leadership.sagaRunner;
    },
    ready: () => health.ready(),
    healthPort,
    stop: ({ graceMs = 10_000 } = {}) => stop(parts, graceMs),
    crash: () => crash(parts),
  };
}

/**
 * Reconciles the durable plan, retrying while JetStream is not yet available (a cluster still
 * electing its meta leader answers "no responders" or times out) for up to 30 s. A configuration
 * conflict is not retried: it needs a person.
 */
async function reconcileWithRetry(transport: Transport, plan: DurablePlan, log: Logger): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (let attempt = 0; ; attempt++) {
    try {
      await reconcile(transport.streams(), plan);
      return;
    } catch (error) {
      if (error instanceof StreamConfigConflictError || Date.now() > deadline) throw error;
      if (attempt === 0) log.warn("durable streams not ready; retrying", { error });
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}

/** The parts the end of an instance goes through. */
interface Parts {
  log: Logger;
  lifecycle: Lifecycle;
  leadership: Leadership;
  subscriptions: Subscriptions;
  health: Health;
  shutdown: AbortController;
  options: HostOptions;
}

/** Leader mode: subscribes for each term it is elected for, and unsubscribes when it ends. */
function campaign(
  gate: LeaderGate | undefined,
  service: string,
  { leadership, subscriptions, health }: Pick<Parts, "leadership" | "subscriptions" | "health">,
): void {
  if (gate === undefined) {
    throw new DefinitionMismatchError(service, [
      "a leader-mode service needs leader election (Redis or in-memory)",
    ]);
  }
  gate.start({
    onElected: (t) => {
      leadership.elected(t);
      subscriptions.subscribe();
      leadership.startTermWork(t);
      health.beat();
    },
    onDemoted: (reason) => {
      leadership.demoted(reason);
      void subscriptions.unsubscribe();
      health.beat();
    },
  });
}

/** Graceful shutdown; see {@link Host.stop}. */
async function stop(parts: Parts, graceMs: number): Promise<void> {
  const { log, lifecycle, leadership, subscriptions, health, shutdown, options } = parts;
  if (lifecycle.draining) return;
  lifecycle.draining = true;
  log.info("draining", { inFlight: lifecycle.counters.inFlight });
  health.stopBeating();
  await subscriptions.unsubscribe();
  await lifecycle.settle(graceMs);
  shutdown.abort(new CatgaError("the instance is shutting down", { code: "SHUTDOWN" }));
  // Sagas stop advancing before the lease goes: the next leader resumes them from the store.
  await leadership.sagaRunner?.done;
  if (options.leader) await options.leader.stop({ release: true });
  await leadership.schedulesDone();
  leadership.reset();
  health.beat();
  // Acknowledgements of durable deliveries go out together at the end of an event-loop turn (see
  // runtime/transport/jetstream.ts): let the last turn's leave before the connection drains, or
  // the events just handled would be delivered again after their ack wait.
  await new Promise<void>((resolve) => setImmediate(resolve));
  await options.transport.drain();
  await health.close();
  log.info("stopped");
}

/** A simulated SIGKILL; see {@link Host.crash}. */
async function crash(parts: Parts): Promise<void> {
  const { log, lifecycle, subscriptions, health, shutdown, options } = parts;
  if (lifecycle.crashed) return;
  lifecycle.crashed = true;
  lifecycle.draining = true;
  health.stopBeating();
  subscriptions.drop();
  // Closing (not draining) the connection drops every subscription and pending delivery at once.
  await options.transport.close();
  shutdown.abort(new CatgaError("the instance crashed", { code: "CRASHED" }));
  // No release: the lease stays in the store until it expires, as after a SIGKILL.
  if (options.leader) await options.leader.stop({ release: false });
  await health.close();
  log.warn("crashed (simulated)");
}
