/**
 * Durable deliveries: the {@link SubscriptionSource}s of the durable events a service consumes.
 * Group delivery pulls from the service's durable consumer (shared by its instances; in leader mode
 * only the leader subscribes, so only it pulls); broadcast follows the stream with an ordered
 * consumer of this instance. Each delivery goes through the same {@link EventDelivery} as a core
 * event, and is then settled: acknowledged after its handler succeeded and every durable event it
 * emitted was stored, given back with backoff after a failure, dead-lettered after the last one.
 */
import { DEAD, deadLetter, overDelivered, type RedeliveryPolicy, settle } from "../_durable.js";
import type { ServiceDefinition } from "../api.js";
import { NotLeaderError } from "../errors.js";
import type { Logger } from "../log.js";
import type { DurableMessage, Transport } from "../transport/types.js";
import type { WiringService } from "../wiring.js";
import type { EventDelivery } from "./_events.js";
import type { SubscriptionSource } from "./_subscriptions.js";

/** What {@link durableSources} needs from its host. */
export interface DurableSourcesOptions {
  service: string;
  ws: WiringService;
  definition: ServiceDefinition;
  transport: Transport;
  events: EventDelivery;
  log: Logger;
  redelivery?: RedeliveryPolicy;
  /** Whether this instance may still finish work (false once its leadership term has ended). */
  serving(): boolean;
}

/**
 * Deliveries pulled and not yet settled, per consumer and instance: enough to keep a handler busy
 * while the next batch is on its way, few enough that a crashed instance strands little until its
 * ack wait runs out.
 */
export const DURABLE_MAX_IN_FLIGHT = 64;

/** A source per durable event the service consumes and has a handler for. */
export function durableSources(o: DurableSourcesOptions): SubscriptionSource[] {
  const sources: SubscriptionSource[] = [];
  for (const s of o.ws.subscriptions) {
    const d = s.durable;
    const handler = o.definition.events[s.event];
    if (d === undefined || handler === undefined) continue;
    const consumer = d.consumer ?? o.service;
    const settleContext = {
      streams: o.transport.streams(),
      service: o.service,
      consumer,
      maxDeliver: d.maxDeliver,
      deadLetterSubject: d.deadLetterSubject,
      log: o.log,
      ...(o.redelivery ? { redelivery: o.redelivery } : {}),
    };
    const deliver = (msg: DurableMessage): void => {
      const target = msg.headers[DEAD.replayFor];
      if (target !== undefined && target !== consumer) {
        msg.ack(); // a replay meant for another consumer of the event
        return;
      }
      if (d.consumer !== undefined && overDelivered(msg, d.maxDeliver)) {
        void deadLetter(msg, `delivered ${msg.deliveryCount} times without an outcome`, settleContext);
        return;
      }
      o.events.handle(handler, msg, (ok, error) => {
        if (d.consumer === undefined) return; // a follower's deliveries need no settling
        if (ok) msg.ack();
        else if (!o.serving() || error instanceof NotLeaderError) {
          msg.nak(); // the term is over: the next leader takes it at once
        } else {
          void settle(msg, { ok: false, error }, settleContext);
        }
      });
    };
    const streams = o.transport.streams();
    sources.push({
      subscribe: () => {
        const sub =
          d.consumer !== undefined
            ? streams.consume(d.stream, d.consumer, deliver, { maxInFlight: DURABLE_MAX_IN_FLIGHT })
            : streams.follow(d.stream, s.subject, deliver);
        return { drain: () => sub.stop(), ...(sub.ready ? { ready: sub.ready } : {}) };
      },
    });
  }
  return sources;
}
