/**
 * Request handling: a command or query is decoded, handled and answered with its result or a typed
 * error. No async frame: a synchronous handler is answered within the delivery's call, and costs
 * no promise and no microtask.
 */
import { decodeBody, encodeReply, H, readWire, type WireMeta } from "../_wire.js";
import type { HostContext, RequestHandlerDefinition } from "../api.js";
import {
  CatgaError,
  InvalidMessageError,
  PayloadTooLargeError,
  toWireError,
  WireVersionError,
} from "../errors.js";
import type { Logger } from "../log.js";
import { isPromiseLike } from "../service-definition.js";
import type { IncomingMessage, Transport } from "../transport/types.js";
import { type ContextSource, emittedBy, schemasOf } from "./_context.js";
import type { Lifecycle } from "./_lifecycle.js";
import type { MessageMetrics, MessageMetricsTable } from "./_metrics.js";

/** What {@link RequestHandling} needs from its host. */
export interface RequestHandlingOptions {
  transport: Transport;
  log: Logger;
  lifecycle: Lifecycle;
  metrics: MessageMetricsTable;
  contexts: ContextSource;
  /** The service's timeout, for a request that carries no deadline. */
  timeoutMs: number;
}

/** Handles the requests of one host and replies to them. */
export class RequestHandling {
  readonly #o: RequestHandlingOptions;

  constructor(options: RequestHandlingOptions) {
    this.#o = options;
  }

  /** Handles one delivered request; returns once it is answered, or once its handler is pending. */
  handle(handler: RequestHandlerDefinition, msg: IncomingMessage): void {
    const name = handler.spec.name;
    const started = performance.now();
    const mm = this.#o.metrics.of(name, handler.spec.kind);
    this.#o.lifecycle.begin();
    mm.inFlight.inc();
    let wire: WireMeta;
    try {
      // A malformed envelope or header, or one of a newer wire version, is answered with a typed error.
      wire = readWire(msg, name, "request");
    } catch (error) {
      this.#failed(handler, msg, mm, started, error);
      return;
    }
    // A message without a deadline (a plain client's) gets the service's timeout. One clock read
    // for both: a read is about 50 ns on this kind of VM, 1 % of what a request costs the responder.
    const now = Date.now();
    const deadline = wire.deadline > 0 ? wire.deadline : now + this.#o.timeoutMs;
    if (now >= deadline) {
      // The caller has given up already: doing the work now would only be wasted (or harmful).
      this.#done(mm, started, "expired");
      return;
    }
    let pending: unknown;
    let ctx: HostContext;
    try {
      const payload = decodeBody(msg.data, wire, name, "request");
      ctx = this.#o.contexts.context(msg, deadline, wire);
      pending = handler.handle(payload, ctx);
    } catch (error) {
      this.#failed(handler, msg, mm, started, error);
      return;
    }
    if (isPromiseLike(pending)) {
      pending.then(
        (result) => this.#returned(handler, msg, mm, started, ctx, result),
        (error: unknown) => this.#failed(handler, msg, mm, started, error),
      );
    } else {
      this.#returned(handler, msg, mm, started, ctx, pending);
    }
  }

  /** The handler returned: answer once every durable event it emitted is stored (a reply promises it). */
  #returned(
    handler: RequestHandlerDefinition,
    msg: IncomingMessage,
    mm: MessageMetrics,
    started: number,
    ctx: HostContext,
    result: unknown,
  ): void {
    const stored = emittedBy(ctx);
    if (stored === undefined) {
      this.#answered(handler, msg, mm, started, result);
      return;
    }
    stored.then(
      () => this.#answered(handler, msg, mm, started, result),
      (error: unknown) => this.#failed(handler, msg, mm, started, error),
    );
  }

  #answered(
    handler: RequestHandlerDefinition,
    msg: IncomingMessage,
    mm: MessageMetrics,
    started: number,
    result: unknown,
  ): void {
    let body: Uint8Array;
    try {
      // With the request's id echoed in front when it asks for that (wire version 5).
      body = encodeReply(msg.data, result);
    } catch (error) {
      this.#failed(handler, msg, mm, started, error);
      return;
    }
    this.#reply(msg, handler.spec.subject, body, true);
    this.#o.lifecycle.counters.handled++;
    this.#done(mm, started, "ok");
  }

  #failed(
    handler: RequestHandlerDefinition,
    msg: IncomingMessage,
    mm: MessageMetrics,
    started: number,
    error: unknown,
  ): void {
    const { log, lifecycle } = this.#o;
    const name = handler.spec.name;
    const invalid = error instanceof InvalidMessageError;
    if (invalid) {
      lifecycle.counters.invalid++;
      mm.invalid.inc();
      log.warn("invalid message", { message: name, error, ...schemasOf(handler.spec.schemaId, msg) });
    } else if (error instanceof WireVersionError) {
      log.warn("message of another wire version", { message: name, error });
    } else if (!(error instanceof CatgaError)) {
      log.error("handler failed", { message: name, error });
    }
    lifecycle.counters.errors++;
    const wire = toWireError(error);
    this.#reply(msg, handler.spec.subject, encodeReply(msg.data, wire), false, wire.code);
    this.#done(mm, started, invalid ? "invalid" : "error");
  }

  #done(mm: MessageMetrics, started: number, outcome: string): void {
    mm.inFlight.dec();
    (outcome === "ok" ? mm.ok : mm.handled(outcome)).inc();
    mm.duration.observe((performance.now() - started) / 1000);
    this.#o.lifecycle.end();
  }

  #reply(msg: IncomingMessage, subjectName: string, body: Uint8Array, ok: boolean, code?: string): void {
    const { transport, log, lifecycle } = this.#o;
    // A crashed instance's replies go nowhere, as a dead process's would.
    if (msg.reply === undefined || lifecycle.crashed) return;
    // A result goes without headers (see H.status); an error says so and names its code.
    const headers = ok ? undefined : { [H.status]: "error", ...(code ? { [H.errorCode]: code } : {}) };
    try {
      transport.publish(msg.reply, body, headers);
    } catch (error) {
      if (error instanceof PayloadTooLargeError) {
        // The caller would otherwise wait for its deadline: tell it why there is no answer, for an
        // error (a huge message or details) as for a result. This reply is small: it fits.
        const tooLarge = new PayloadTooLargeError(subjectName, error.size, error.limit);
        log.warn(
          ok
            ? "result too large, answered with PayloadTooLargeError"
            : "error too large, answered with PayloadTooLargeError",
          {
            message: subjectName,
            size: error.size,
            limit: error.limit,
          },
        );
        try {
          transport.publish(msg.reply, encodeReply(msg.data, toWireError(tooLarge)), {
            [H.status]: "error",
            [H.errorCode]: tooLarge.code,
          });
        } catch (again) {
          log.error("cannot send reply", { message: subjectName, error: again });
        }
      } else {
        log.error("cannot send reply", { message: subjectName, error });
      }
    }
  }
}
