/**
 * The context a handler receives with each message. Built per message, so everything costly (an
 * AbortSignal with its timer, the emit/send tables, a child logger, even the ids from the headers)
 * is created only when the handler first touches it: most handlers never do, and a timer per
 * request is what caps a 2-core machine's request rate.
 */
import { derivedEventId } from "../_durable.js";
import { newMessageId, schemaHash, type WireMeta, wireOf } from "../_wire.js";
import type { CallOptions, Emitter, HostContext, Sender, ServiceDefinition } from "../api.js";
import type { Bus } from "../bus.js";
import type { Logger } from "../log.js";
import { publishEvent, sendRequest } from "../messaging.js";
import type { IncomingMessage } from "../transport/types.js";

/** What every context of one instance shares: built once per host, referenced by each context. */
export interface ContextScope {
  readonly service: string;
  readonly instanceId: string;
  readonly log: Logger;
  readonly definition: ServiceDefinition;
  readonly bus: Bus;
}

/** Where a handler's context comes from (the leadership term decides what it carries). */
export interface ContextSource {
  /**
   * `wire`: the message's metadata when the caller has read it already (it is not read again).
   * `since`: when given, `deadline` is a budget in ms from that moment (a `performance.now()` the
   * caller read already) rather than epoch ms; see {@link MessageContext}'s constructor.
   */
  context(msg: IncomingMessage | undefined, deadline: number, wire?: WireMeta, since?: number): HostContext;
}

/**
 * A handler's context. A class rather than an object literal with getters: one small object per
 * message instead of an object plus a closure per getter.
 */
export class MessageContext {
  readonly service: string;
  readonly instance: string;
  /** Epoch ms, or while {@link #since} is set a budget in ms from that moment. */
  #deadline: number;
  #since: number | undefined;
  readonly #scope: ContextScope;
  readonly #msg: IncomingMessage | undefined;
  /** The message's envelope or headers, read once: by the request or event path, else on first use. */
  #wire: WireMeta | undefined;
  readonly #signals: readonly AbortSignal[];
  #messageId: string | undefined;
  #correlationId: string | undefined;
  #signal: AbortSignal | undefined;
  #log: Logger | undefined;
  #emit: Record<string, Emitter<unknown>> | undefined;
  #send: Record<string, Sender<unknown, unknown>> | undefined;
  /** The stream acknowledgements of the durable events emitted so far (none: undefined). */
  #stored: Promise<void>[] | undefined;
  /** Durable events emitted so far, per event: the ordinal in each derived message id. */
  #ordinals: Map<string, number> | undefined;

  /**
   * @param msg The message being handled; `undefined` for a scheduled job's tick.
   * @param deadline Epoch ms the work (and everything it sends) must not outlive; with `since`, a
   *   budget in ms from that moment.
   * @param signals What the handler's signal follows besides its deadline (shutdown, the term).
   * @param wire The message's metadata, when the caller has read it already.
   * @param since A `performance.now()` read when the message arrived. An event's deadline is its
   *   service's timeout from then, and the wall clock is read only when the handler asks for the
   *   deadline (most event handlers never do): a clock read is about 50 ns here, some 3 % of what a
   *   subscriber spends per event.
   */
  constructor(
    scope: ContextScope,
    msg: IncomingMessage | undefined,
    deadline: number,
    signals: readonly AbortSignal[],
    wire?: WireMeta,
    since?: number,
  ) {
    this.service = scope.service;
    this.instance = scope.instanceId;
    this.#deadline = deadline;
    this.#since = since;
    this.#scope = scope;
    this.#msg = msg;
    this.#signals = signals;
    this.#wire = wire;
  }

  /** The message's metadata; a tick has none (every field empty). */
  #meta(): WireMeta | undefined {
    if (this.#msg === undefined) return undefined;
    this.#wire ??= wireOf(this.#msg);
    return this.#wire;
  }

  get deadline(): number {
    if (this.#since !== undefined) {
      // The wall clock when the message arrived: now, less the time since on the monotonic clock.
      // Whole ms, as a deadline travels; rounded down, so never later than a clock read at arrival.
      this.#deadline += Math.floor(Date.now() - (performance.now() - this.#since));
      this.#since = undefined;
    }
    return this.#deadline;
  }

  get messageId(): string {
    // A message without an id (a plain client's) gets one here, once, as if it had carried it.
    this.#messageId ??= (this.#meta()?.messageId ?? "") || newMessageId();
    return this.#messageId;
  }

  get correlationId(): string {
    this.#correlationId ??= (this.#meta()?.correlationId ?? "") || this.messageId;
    return this.#correlationId;
  }

  get signal(): AbortSignal {
    this.#signal ??= AbortSignal.any([
      ...this.#signals,
      AbortSignal.timeout(Math.max(1, this.deadline - Date.now())),
    ]);
    return this.#signal;
  }

  /**
   * 1 on a message's first delivery; a durable event delivered again after a failure or a crash
   * counts on (2, 3, …).
   */
  get deliveryCount(): number {
    return (this.#msg as { deliveryCount?: number } | undefined)?.deliveryCount ?? 1;
  }

  /**
   * Settles once every durable event emitted from this context is stored by its stream, rejecting
   * with the first failure; `undefined` when none was emitted (the common case costs no promise).
   * A request is answered, and a durable delivery acknowledged, only after this: a reply means the
   * events it caused are stored.
   */
  emitted(): Promise<void> | undefined {
    const stored = this.#stored;
    if (stored === undefined) return undefined;
    this.#stored = undefined;
    return Promise.all(stored).then(() => this.emitted());
  }

  get log(): Logger {
    this.#log ??= this.#scope.log.child({ correlationId: this.correlationId });
    return this.#log;
  }

  get emit(): Record<string, Emitter<unknown>> {
    if (this.#emit === undefined) {
      const emit: Record<string, Emitter<unknown>> = {};
      const bus = this.#scope.bus;
      const correlationId = this.correlationId;
      const traceparent = this.#meta()?.traceparent ?? "";
      for (const [member, spec] of Object.entries(this.#scope.definition.emits)) {
        if (spec.durable === undefined) {
          emit[member] = (event) =>
            publishEvent(bus, spec, event, {
              correlationId,
              ...(traceparent ? { traceparent } : {}),
            } as CallOptions);
          continue;
        }
        emit[member] = (event) => {
          // Derived from the handled message's id: a retry of that message emits the same ids, and
          // the stream's dedup window keeps each event once.
          this.#ordinals ??= new Map();
          const n = this.#ordinals.get(spec.name) ?? 0;
          this.#ordinals.set(spec.name, n + 1);
          const stored = publishEvent(bus, spec, event, {
            correlationId,
            messageId: derivedEventId(this.messageId, spec.name, n),
            ...(traceparent ? { traceparent } : {}),
          } as CallOptions);
          // Observed by emitted(); this copy only keeps a handler that never awaits it (and then
          // fails) from leaving an unhandled rejection behind.
          stored.catch(ignore);
          this.#stored ??= [];
          this.#stored.push(stored);
          return stored;
        };
      }
      this.#emit = emit;
    }
    return this.#emit;
  }

  get send(): Record<string, Sender<unknown, unknown>> {
    if (this.#send === undefined) {
      const send: Record<string, Sender<unknown, unknown>> = {};
      const bus = this.#scope.bus;
      const correlationId = this.correlationId;
      const traceparent = this.#meta()?.traceparent ?? "";
      const deadline = this.deadline;
      for (const [member, spec] of Object.entries(this.#scope.definition.sends)) {
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

const ignore = (): void => {};

/** What the request and event paths ask of a context once its handler has returned. */
export function emittedBy(ctx: HostContext): Promise<void> | undefined {
  return ctx instanceof MessageContext ? ctx.emitted() : undefined;
}

/** For the log of an invalid message: a sender built from another schema is the usual cause. */
export function schemasOf(schema: string, msg: IncomingMessage): { schema: string; senderSchema?: string } {
  // The sender's schema is its short hash (docs/runtime.md, "The wire"): compared by hash.
  const sender = wireOf(msg).schema;
  return sender !== "" && sender !== schemaHash(schema) ? { schema, senderSchema: sender } : { schema };
}
