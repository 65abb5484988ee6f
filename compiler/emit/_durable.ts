/**
 * Who takes each durable event, and through which JetStream consumer. The wiring emitter writes
 * these consumers into wiring.json (the runtime creates and pulls exactly them) and the NATS emitter
 * grants exactly their subjects; both derive them here, so a consumer the runtime uses can never
 * lack its permission, nor a permission outlive its consumer.
 *
 * Pure: a model in, a list out.
 */
import type { SagaModel, ServiceModel, SubscriptionModel, TopologyModel } from "../model.js";
import { deadLetterSubject, eventConsumer, eventStream, messageSubject, sagaConsumer } from "./_names.js";

/**
 * The durable consumer through which a service takes a durable event it subscribes to (`on E`):
 * the service's shared consumer for group delivery, and also for `broadcast` in leader mode (only
 * the leader consumes there, C3020, so it pulls like group delivery and events wait out a
 * failover). Undefined for `broadcast` in p2p mode: each instance follows the stream with its own
 * ordered consumer, whose names are random.
 */
export function subscriptionConsumer(
  service: Pick<ServiceModel, "name" | "mode">,
  subscription: Pick<SubscriptionModel, "delivery">,
): string | undefined {
  return subscription.delivery === "group" || service.mode === "leader"
    ? eventConsumer(service.name)
    : undefined;
}

/**
 * The durable consumer through which a saga's runner takes the saga's durable trigger event: its
 * own (`coordinator-PlaceOrder`), apart from any `on` consumer of the same service.
 */
export function sagaTriggerConsumer(saga: Pick<SagaModel, "name" | "runBy">): string {
  return sagaConsumer(saga.runBy, saga.name);
}

/** One way a service takes a durable event. */
export interface DurableConsumption {
  /** The consuming service. */
  service: string;
  /** The durable event. */
  event: string;
  /** The event's subject: the consumer's filter subject. */
  subject: string;
  /** The event's stream. */
  stream: string;
  /** The durable consumer; absent for broadcast in p2p mode (ordered consumers). */
  consumer?: string;
  /** Where the service's dead letters of this event go. */
  deadLetterSubject: string;
  /** Why: an `on` subscription, or the trigger of this saga. */
  saga?: string;
}

/**
 * Every way a service takes a durable event: its `on` subscriptions of durable events, then the
 * durable triggers of the sagas it runs, in declaration order. A service subscribing to an event
 * that also triggers one of its sagas appears twice, with two consumers.
 */
export function durableConsumptions(model: TopologyModel): DurableConsumption[] {
  const t = model.name;
  const durable = new Map(
    model.messages.filter((m) => m.kind === "event" && m.durable !== undefined).map((m) => [m.name, m]),
  );
  const out: DurableConsumption[] = [];
  const take = (service: string, event: string, consumer: string | undefined, saga?: string) => {
    const message = durable.get(event);
    if (message === undefined) return;
    out.push({
      service,
      event,
      subject: messageSubject(t, message),
      stream: eventStream(t, event),
      ...(consumer !== undefined ? { consumer } : {}),
      deadLetterSubject: deadLetterSubject(t, service, event),
      ...(saga !== undefined ? { saga } : {}),
    });
  };
  for (const s of model.services)
    for (const sub of s.subscriptions) take(s.name, sub.event, subscriptionConsumer(s, sub));
  for (const g of model.sagas)
    if (g.trigger.kind === "event") take(g.runBy, g.trigger.name, sagaTriggerConsumer(g), g.name);
  return out;
}
