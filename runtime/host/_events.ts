/**
 * Event delivery: an event is decoded and handed to its handler; failures are logged and counted,
 * never answered. No async frame: a synchronous handler (most event handlers) then costs no promise
 * and no microtask per event, and a subscriber does little else per event than decode and count, so
 * those would be a large share of its work (the measurement is in docs/benchmarks.md).
 */
import { decode } from "../_wire.js";
import type { EventHandlerDefinition } from "../api.js";
import { InvalidMessageError } from "../errors.js";
import type { Logger } from "../log.js";
import { isPromiseLike } from "../service-definition.js";
import type { IncomingMessage } from "../transport/types.js";
import { type ContextSource, schemasOf } from "./_context.js";
import type { Lifecycle } from "./_lifecycle.js";
import type { MessageMetrics, MessageMetricsTable } from "./_metrics.js";

/** What {@link EventDelivery} needs from its host. */
export interface EventDeliveryOptions {
  log: Logger;
  lifecycle: Lifecycle;
  metrics: MessageMetricsTable;
  contexts: ContextSource;
  /** The service's timeout: an event handler's deadline. */
  timeoutMs: number;
}

/** Hands the events of one host to their handlers. */
export class EventDelivery {
  readonly #o: EventDeliveryOptions;

  constructor(options: EventDeliveryOptions) {
    this.#o = options;
  }

  /** Handles one delivered event; returns at once for a synchronous handler. */
  handle(handler: EventHandlerDefinition, msg: IncomingMessage): void {
    const name = handler.spec.name;
    const started = performance.now();
    const mm = this.#o.metrics.of(name, "event");
    this.#o.lifecycle.begin();
    mm.inFlight.inc();
    let pending: unknown;
    try {
      const payload = decode(msg.data, name, "event");
      pending = handler.handle(payload, this.#o.contexts.context(msg, Date.now() + this.#o.timeoutMs));
    } catch (error) {
      this.#done(handler, msg, mm, started, false, error);
      return;
    }
    if (isPromiseLike(pending)) {
      pending.then(
        () => this.#done(handler, msg, mm, started, true, undefined),
        (error: unknown) => this.#done(handler, msg, mm, started, false, error),
      );
    } else {
      this.#done(handler, msg, mm, started, true, undefined);
    }
  }

  #done(
    handler: EventHandlerDefinition,
    msg: IncomingMessage,
    mm: MessageMetrics,
    started: number,
    ok: boolean,
    error: unknown,
  ): void {
    const { log, lifecycle } = this.#o;
    let outcome = "ok";
    if (ok) {
      lifecycle.counters.handled++;
    } else {
      const name = handler.spec.name;
      lifecycle.counters.errors++;
      if (error instanceof InvalidMessageError) {
        outcome = "invalid";
        lifecycle.counters.invalid++;
        mm.invalid.inc();
        log.warn("invalid event", { message: name, error, ...schemasOf(handler.spec.schemaId, msg) });
      } else {
        outcome = "error";
        log.error("event handler failed", { message: name, error });
      }
    }
    mm.inFlight.dec();
    mm.handled(outcome).inc();
    mm.duration.observe((performance.now() - started) / 1000);
    lifecycle.end();
  }
}
