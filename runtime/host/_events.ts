/**
 * Event delivery: an event is decoded and handed to its handler; failures are logged and counted,
 * never answered. No async frame: a synchronous handler (most event handlers) then costs no promise
 * and no microtask per event, and a subscriber does little else per event than decode and count, so
 * those would be a large share of its work (the measurement is in docs/benchmarks.md).
 */
import { decodeBody, readWire } from "../_wire.js";
import type { EventHandlerDefinition, HostContext } from "../api.js";
import { InvalidMessageError, WireVersionError } from "../errors.js";
import type { Logger } from "../log.js";
import { isPromiseLike } from "../service-definition.js";
import type { IncomingMessage } from "../transport/types.js";
import { type ContextSource, emittedBy, schemasOf } from "./_context.js";
import type { Lifecycle } from "./_lifecycle.js";
import type { MessageMetrics, MessageMetricsTable } from "./_metrics.js";

/** Learns how the handling of one event ended (`error` is set when `ok` is false). */
export type AfterEvent = (ok: boolean, error: unknown) => void;

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

  /**
   * Handles one delivered event; returns at once for a synchronous handler. `after` (durable
   * deliveries) learns the outcome once the handler and the durable events it emitted have
   * settled: that is when a durable delivery is acknowledged or given back.
   */
  handle(handler: EventHandlerDefinition, msg: IncomingMessage, after?: AfterEvent): void {
    const name = handler.spec.name;
    const started = performance.now();
    const mm = this.#o.metrics.of(name, "event");
    this.#o.lifecycle.begin();
    mm.inFlight.inc();
    let pending: unknown;
    let ctx: HostContext;
    try {
      // The envelope is checked before the payload: an event of a newer wire version, or with a
      // malformed envelope or header, is refused (logged and counted), not handled on a guess.
      const wire = readWire(msg, name, "event");
      const payload = decodeBody(msg.data, wire, name, "event");
      // The deadline is the timeout from `started`; the wall clock is read if the handler asks.
      ctx = this.#o.contexts.context(msg, this.#o.timeoutMs, wire, started);
      pending = handler.handle(payload, ctx);
    } catch (error) {
      this.#done(handler, msg, mm, started, false, error, after);
      return;
    }
    if (isPromiseLike(pending)) {
      pending.then(
        () => this.#returned(handler, msg, mm, started, ctx, after),
        (error: unknown) => this.#done(handler, msg, mm, started, false, error, after),
      );
    } else {
      this.#returned(handler, msg, mm, started, ctx, after);
    }
  }

  #returned(
    handler: EventHandlerDefinition,
    msg: IncomingMessage,
    mm: MessageMetrics,
    started: number,
    ctx: HostContext,
    after: AfterEvent | undefined,
  ): void {
    const stored = emittedBy(ctx);
    if (stored === undefined) {
      this.#done(handler, msg, mm, started, true, undefined, after);
      return;
    }
    stored.then(
      () => this.#done(handler, msg, mm, started, true, undefined, after),
      (error: unknown) => this.#done(handler, msg, mm, started, false, error, after),
    );
  }

  #done(
    handler: EventHandlerDefinition,
    msg: IncomingMessage,
    mm: MessageMetrics,
    started: number,
    ok: boolean,
    error: unknown,
    after?: AfterEvent,
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
      } else if (error instanceof WireVersionError) {
        outcome = "error";
        log.warn("event of another wire version", { message: name, error });
      } else {
        outcome = "error";
        log.error("event handler failed", { message: name, error });
      }
    }
    mm.inFlight.dec();
    (outcome === "ok" ? mm.ok : mm.handled(outcome)).inc();
    mm.duration.observe((performance.now() - started) / 1000);
    if (after !== undefined) after(ok, error);
    lifecycle.end();
  }
}
