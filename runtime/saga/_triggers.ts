/**
 * The trigger path: the subscriptions that start sagas — the events that trigger them, and the
 * commands that start them (answered with the saga's reply once it is persisted). Each delivery
 * goes through {@link SagaStarter.start}, whose promise settles only after the saga's record is
 * persisted: a durable trigger source acknowledges on that.
 */
import {
  DEAD,
  deadLetter,
  overDelivered,
  type RedeliveryPolicy,
  type SettleContext,
  settle,
} from "../_durable.js";
import { decodeBody, encodeReply, H, readWire, type WireMeta, wireOf } from "../_wire.js";
import type { Bus } from "../bus.js";
import { NotLeaderError, toWireError } from "../errors.js";
import type { Logger } from "../log.js";
import type {
  DurableMessage,
  DurableSubscription,
  IncomingMessage,
  TransportSubscription,
} from "../transport/types.js";
import type { Wiring, WiringService } from "../wiring.js";
import type { MappedSaga } from "./_driver.js";
import type { SagaStarter } from "./_start.js";
import { SagaStopped } from "./_term.js";

/**
 * Sagas a runner drives at once before it stops taking durable triggers: the trigger waits (holding
 * its consumer's slot, so the stream keeps the rest) until one ends. Without a bound, a backlog
 * after a failover starts thousands of sagas whose state writes and step requests crowd out the
 * lease renewals that keep this instance the leader.
 */
export const MAX_RUNNING_SAGAS = 256;

/** Durable triggers pulled and not yet settled, per saga and leader. */
const TRIGGERS_IN_FLIGHT = 64;

/** What {@link SagaTriggers} needs from its runner. */
export interface SagaTriggersOptions {
  service: string;
  wiring: Wiring;
  ws: WiringService;
  sagas: ReadonlyMap<string, MappedSaga>;
  bus: Bus;
  starter: SagaStarter;
  log: Logger;
  /** Sagas being driven now, for the bound on durable triggers. */
  running(): number;
  /** Aborts when the runner's term ends. */
  signal: AbortSignal;
  redelivery?: RedeliveryPolicy;
}

/** The trigger subscriptions of one runner. */
export class SagaTriggers {
  readonly #o: SagaTriggersOptions;
  #subscriptions: (TransportSubscription | { drain(): Promise<void> })[] = [];

  constructor(options: SagaTriggersOptions) {
    this.#o = options;
  }

  /** Subscribes to every trigger of the sagas this runner runs. */
  subscribe(): void {
    const { service, ws, sagas, bus } = this.#o;
    const transport = bus.transport;
    // One subscription per trigger subject: two sagas started by one event must both see it, and
    // two subscriptions in one queue group would split the events between them.
    const byEvent = new Map<string, string[]>();
    for (const [name, { def }] of sagas) {
      if (def.trigger.kind !== "event") continue;
      const durable = this.#o.wiring.sagas[name]?.trigger.durable;
      if (durable?.consumer !== undefined) {
        // Each saga has its own durable consumer: the leader alone pulls, for this term only.
        this.#subscriptions.push(this.#consume(name, { ...durable, consumer: durable.consumer }));
        continue;
      }
      byEvent.set(def.trigger.subject, [...(byEvent.get(def.trigger.subject) ?? []), name]);
    }
    for (const [subject, names] of byEvent) {
      this.#subscriptions.push(
        transport.subscribe(subject, { queue: service }, (msg) => this.#onEvent(names, msg)),
      );
    }
    for (const h of ws.handles) {
      if (h.saga === undefined || !sagas.has(h.saga)) continue;
      const name = h.saga;
      this.#subscriptions.push(
        transport.subscribe(h.subject, { queue: h.queue }, (msg) => this.#onCommand(name, msg)),
      );
    }
  }

  /** Stops the trigger subscriptions, handing over what was already delivered. */
  async drain(): Promise<void> {
    const subs = this.#subscriptions;
    this.#subscriptions = [];
    await Promise.all(subs.map((s) => s.drain().catch(() => {})));
  }

  /**
   * Pulls a saga's durable trigger. A trigger is acknowledged only once the saga's record is
   * persisted (or found: a redelivery starts nothing twice, the saga id derives from the trigger's
   * message id); a trigger that could not start its saga is given back and delivered again — at
   * once when this term is over, so the next leader takes it; with backoff when the store failed;
   * to the dead letters when its payload is malformed or it failed every delivery.
   */
  #consume(
    name: string,
    d: { stream: string; consumer: string; maxDeliver: number; deadLetterSubject: string },
  ): { drain(): Promise<void> } {
    const { service, bus, log } = this.#o;
    const streams = bus.transport.streams();
    const settleContext: SettleContext = {
      streams,
      service,
      consumer: d.consumer,
      maxDeliver: d.maxDeliver,
      deadLetterSubject: d.deadLetterSubject,
      log,
      ...(this.#o.redelivery ? { redelivery: this.#o.redelivery } : {}),
    };
    const sub: DurableSubscription = streams.consume(
      d.stream,
      d.consumer,
      (msg) => void this.#onDurable(name, msg, settleContext),
      { maxInFlight: TRIGGERS_IN_FLIGHT },
    );
    return { drain: () => sub.stop() };
  }

  async #onDurable(name: string, msg: DurableMessage, c: SettleContext): Promise<void> {
    const target = msg.headers[DEAD.replayFor];
    if (target !== undefined && target !== c.consumer) {
      msg.ack();
      return;
    }
    if (overDelivered(msg, c.maxDeliver)) {
      await deadLetter(msg, `delivered ${msg.deliveryCount} times without an outcome`, c);
      return;
    }
    // Back-pressure: wait while the runner is at its bound, keeping the ack wait alive.
    let waited = 0;
    while (this.#o.running() >= MAX_RUNNING_SAGAS && !this.#o.signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      waited += 50;
      if (waited % 2000 === 0) msg.working();
    }
    try {
      if (this.#o.signal.aborted) throw new NotLeaderError(this.#o.service);
      const wire = wireOf(msg);
      await this.#o.starter.start(name, decodeBody(msg.data, wire, name, "event"), triggerOf(wire));
      msg.ack();
    } catch (error) {
      if (error instanceof NotLeaderError || error instanceof SagaStopped || this.#o.signal.aborted) {
        msg.nak();
        return;
      }
      this.#o.log.warn("saga trigger not started; it will be delivered again", {
        saga: name,
        deliveries: msg.deliveryCount,
        error,
      });
      await settle(msg, { ok: false, error }, c);
    }
  }

  #onEvent(names: readonly string[], msg: IncomingMessage): void {
    const { starter, log } = this.#o;
    const wire = wireOf(msg);
    const trigger = triggerOf(wire);
    for (const name of names) {
      void (async () => starter.start(name, decodeBody(msg.data, wire, name, "event"), trigger))().catch(
        (error: unknown) => {
          if (error instanceof NotLeaderError) return;
          log.warn("saga trigger not started", { saga: name, error });
        },
      );
    }
  }

  #onCommand(name: string, msg: IncomingMessage): void {
    let wire: WireMeta;
    try {
      wire = readWire(msg, name, "request");
    } catch (error) {
      const wire = toWireError(error);
      this.#answer(name, msg, encodeReply(msg.data, wire), wire.code);
      return;
    }
    if (wire.deadline > 0 && Date.now() >= wire.deadline) return; // caller gave up
    void (async () => {
      try {
        const payload = decodeBody(msg.data, wire, name, "request");
        const s = await this.#o.starter.start(name, payload, triggerOf(wire));
        // With the request's id echoed in front when it asks for that (wire version 5).
        this.#answer(name, msg, encodeReply(msg.data, s.reply ?? null), undefined);
      } catch (error) {
        const wire = toWireError(error);
        this.#answer(name, msg, encodeReply(msg.data, wire), wire.code);
      }
    })();
  }

  #answer(name: string, msg: IncomingMessage, body: Uint8Array, errorCode: string | undefined): void {
    if (msg.reply === undefined) return;
    try {
      this.#o.bus.transport.publish(
        msg.reply,
        body,
        errorCode === undefined ? undefined : { [H.status]: "error", [H.errorCode]: errorCode },
      );
    } catch (error) {
      this.#o.log.error("cannot answer a saga-starting command", { saga: name, error });
    }
  }
}

/** The ids a trigger carries, for the saga it starts. */
function triggerOf(wire: WireMeta): { messageId?: string; correlationId?: string } {
  const correlationId = wire.correlationId || wire.messageId;
  return {
    ...(wire.messageId ? { messageId: wire.messageId } : {}),
    ...(correlationId ? { correlationId } : {}),
  };
}
