/**
 * The trigger path: the subscriptions that start sagas — the events that trigger them, and the
 * commands that start them (answered with the saga's reply once it is persisted). Each delivery
 * goes through {@link SagaStarter.start}, whose promise settles only after the saga's record is
 * persisted: a durable trigger source acknowledges on that.
 */
import { correlationOf, decode, encode, H } from "../_wire.js";
import type { Bus } from "../bus.js";
import { NotLeaderError, toWireError } from "../errors.js";
import type { Logger } from "../log.js";
import type { IncomingMessage, TransportSubscription } from "../transport/types.js";
import type { WiringService } from "../wiring.js";
import type { MappedSaga } from "./_driver.js";
import type { SagaStarter } from "./_start.js";

/** What {@link SagaTriggers} needs from its runner. */
export interface SagaTriggersOptions {
  service: string;
  ws: WiringService;
  sagas: ReadonlyMap<string, MappedSaga>;
  bus: Bus;
  starter: SagaStarter;
  log: Logger;
}

/** The trigger subscriptions of one runner. */
export class SagaTriggers {
  readonly #o: SagaTriggersOptions;
  #subscriptions: TransportSubscription[] = [];

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

  #onEvent(names: readonly string[], msg: IncomingMessage): void {
    const { starter, log } = this.#o;
    for (const name of names) {
      void (async () => starter.start(name, decode(msg.data, name, "event"), triggerOf(msg)))().catch(
        (error: unknown) => {
          if (error instanceof NotLeaderError) return;
          log.warn("saga trigger not started", { saga: name, error });
        },
      );
    }
  }

  #onCommand(name: string, msg: IncomingMessage): void {
    const deadline = Number(msg.headers[H.deadline]);
    if (Number.isFinite(deadline) && deadline > 0 && Date.now() >= deadline) return; // caller gave up
    void (async () => {
      try {
        const payload = decode(msg.data, name, "request");
        const s = await this.#o.starter.start(name, payload, triggerOf(msg));
        this.#answer(name, msg, encode(s.reply ?? null), undefined);
      } catch (error) {
        const wire = toWireError(error);
        this.#answer(name, msg, encode(wire), wire.code);
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
function triggerOf(msg: IncomingMessage): { messageId?: string; correlationId?: string } {
  return {
    ...(msg.headers[H.messageId] ? { messageId: msg.headers[H.messageId] } : {}),
    ...(correlationOf(msg.headers) ? { correlationId: correlationOf(msg.headers) } : {}),
  };
}
