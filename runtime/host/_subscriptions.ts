/**
 * Subscriptions: where an instance's deliveries come from. Each source of deliveries is a
 * {@link SubscriptionSource} with one job — start delivering, and hand back what stops it — so the
 * host subscribes and drains every source the same way, whatever it is: today a core NATS
 * subscription per handled request and consumed event (see {@link coreSources}); a durable
 * JetStream consumer plugs in as another kind of source.
 */

import { own } from "../_own.js";
import type { ServiceDefinition } from "../api.js";
import type { IncomingMessage, Transport } from "../transport/types.js";
import type { WiringService } from "../wiring.js";
import type { EventDelivery } from "./_events.js";
import type { Lifecycle } from "./_lifecycle.js";
import type { RequestHandling } from "./_requests.js";

/** A started source: what stops its deliveries. A `TransportSubscription` is one. */
export interface SourceHandle {
  /**
   * Stops new deliveries, hands over what was already received (so it is not lost), then
   * resolves. In-flight work is awaited by the host, not here.
   */
  drain(): Promise<void>;
  /** Resolves once deliveries flow (a durable consumption is open on the server). Absent: at once. */
  readonly ready?: Promise<void>;
}

/** One source of deliveries to this instance's handlers. */
export interface SubscriptionSource {
  /** Starts delivering; called once per subscribe (at start for p2p, on each election for a leader). */
  subscribe(): SourceHandle;
}

/**
 * The core NATS subscriptions the wiring asks for: each handled command and query in its queue
 * group, each consumed event in the service's queue group or, for `broadcast`, on a plain
 * subscription. Saga-started commands and saga trigger events are left to the saga runner.
 */
export function coreSources(
  ws: WiringService,
  definition: ServiceDefinition,
  transport: Transport,
  requests: RequestHandling,
  events: EventDelivery,
): SubscriptionSource[] {
  const sources: SubscriptionSource[] = [];
  for (const h of ws.handles) {
    const handler = own(definition.handlers, h.message);
    if (handler === undefined) continue; // saga-started commands: the saga runner subscribes to them
    const deliver = (msg: IncomingMessage) => requests.handle(handler, msg);
    sources.push({ subscribe: () => transport.subscribe(h.subject, { queue: h.queue }, deliver) });
  }
  for (const s of ws.subscriptions) {
    const handler = definition.events[s.event];
    // Durable events come through their stream (see _durable-sources.ts), never a core subscription.
    if (handler === undefined || s.durable !== undefined) continue;
    const options = s.delivery === "group" && s.queue ? { queue: s.queue } : {};
    const deliver = (msg: IncomingMessage) => events.handle(handler, msg);
    sources.push({ subscribe: () => transport.subscribe(s.subject, options, deliver) });
  }
  return sources;
}

/** The sources of one instance, subscribed and drained together. */
export class Subscriptions {
  /** Whether the sources are subscribed now (readiness of a p2p instance or a leader). */
  subscribed = false;
  readonly #sources: readonly SubscriptionSource[];
  readonly #lifecycle: Lifecycle;
  #active: SourceHandle[] = [];

  constructor(sources: readonly SubscriptionSource[], lifecycle: Lifecycle) {
    this.#sources = sources;
    this.#lifecycle = lifecycle;
  }

  /** Starts every source, unless they are started already or the instance is draining. */
  subscribe(): void {
    if (this.subscribed || this.#lifecycle.draining) return;
    this.#active = this.#sources.map((s) => s.subscribe());
    this.subscribed = true;
  }

  /** Resolves once every started source delivers (durable consumptions are open on the server). */
  async ready(): Promise<void> {
    await Promise.all(this.#active.map((s) => s.ready));
  }

  /** Stops every source, handing over what was received; in-flight work goes on. */
  async unsubscribe(): Promise<void> {
    const active = this.#active;
    this.#active = [];
    this.subscribed = false;
    await Promise.all(active.map((s) => s.drain()));
  }

  /** Forgets the sources without stopping them: after a crash, the closed connection took them. */
  drop(): void {
    this.#active = [];
    this.subscribed = false;
  }
}
