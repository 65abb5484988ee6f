/**
 * The client side of messaging: a {@link MessageBus} over any {@link Transport}. It puts ids, the
 * trace context and the deadline in each message's envelope (docs/runtime.md, "The wire"), turns
 * error replies back into typed errors, and retries idempotent requests — and only those — with
 * jittered backoff within the deadline.
 */

import { attemptWaitMs, backoffMs, type RetryTiming, retryFits, retryTiming } from "./_retry.js";
import {
  asksEcho,
  childTraceparent,
  decode,
  decodeBody,
  encode,
  envelope,
  envelope4,
  errorFromReply,
  H,
  newMessageId,
  type WireVersion,
  wireOf,
  writeWire,
} from "./_wire.js";
import type {
  CallOptions,
  EventInfo,
  EventSpec,
  MessageBus,
  PublishOptions,
  RequestSpec,
  SubscribeOptions,
  Subscription,
} from "./api.js";
import { CatgaError, NoRespondersError, TimeoutError } from "./errors.js";
import { type Logger, silentLogger } from "./log.js";
import { type CheckingBus, parseMessage, REQUEST_CHECKED } from "./messaging.js";
import { type MemoryHub, memoryTransport } from "./transport/memory.js";
import { type NatsConnectOptions, natsTransport } from "./transport/nats.js";
import type { Headers, IncomingMessage, RequestOptions, Transport } from "./transport/types.js";

/** Retry policy for idempotent requests. */
export interface RetryPolicy {
  /**
   * Each attempt of an idempotent request waits at most this share of the whole deadline before
   * the next attempt, so a request that went to an instance that died can still succeed on another.
   * Non-idempotent requests make one attempt that waits the whole deadline.
   * @default 1/3
   */
  attemptShare?: number;
  /**
   * Shortest wait of one attempt, in milliseconds.
   * @default 100
   */
  minAttemptMs?: number;
  /**
   * First backoff before a retry; doubles per retry up to {@link maxBackoffMs}, with full jitter.
   * @default 20
   */
  baseBackoffMs?: number;
  /** @default 500 */
  maxBackoffMs?: number;
}

/** The defaults of {@link RetryPolicy}. */
const BUS_RETRY: RetryTiming = {
  attemptShare: 1 / 3,
  minAttemptMs: 100,
  baseBackoffMs: 20,
  maxBackoffMs: 500,
};

/** Options of {@link createBus}. */
export interface BusOptions {
  log?: Logger;
  retry?: RetryPolicy;
  /**
   * Start a new W3C trace (a sampled `traceparent`) for every message sent without one to continue.
   * Off by default: a message carries trace context only when there is a trace to continue (the
   * caller passed `traceparent`, or a handler is handling a message that carried one), which saves
   * every other message 70 bytes (docs/runtime.md, "The wire").
   * @default false
   */
  tracing?: boolean;
  /**
   * The wire version this bus writes: 5 (a binary envelope before the JSON, no headers: 24 bytes on
   * a request, and a request asks for a reply that echoes its id, so its reply subject can serve the
   * next request); 4 (the same envelope, replies without an echo) while replicas of a build that
   * cannot read version 5 still run; 3 (the same fields as a text line, 38 bytes) while replicas
   * that cannot read version 4 still run; 2 (one `Catga` header) while replicas of a build before
   * version 3 still run. This build reads 1 to 5 (docs/runtime.md, "Versions during a rollout").
   * @default 5
   */
  wireVersion?: WireVersion;
}

/**
 * Call options the runtime itself uses inside handlers: the trace context of the message being
 * handled flows into the requests and events it causes.
 */
export interface InternalCallOptions extends CallOptions {
  /** An absolute deadline (epoch ms) that the call must not outlive. */
  deadline?: number;
}

/** Statistics of a bus, for metrics and tests. */
export interface BusStats {
  requests: number;
  retries: number;
}

/** A message bus with its transport and statistics. */
export interface Bus extends MessageBus, CheckingBus {
  readonly transport: Transport;
  readonly stats: BusStats;
  request(spec: RequestSpec, payload: unknown, options: InternalCallOptions): Promise<unknown>;
  publish(spec: EventSpec, event: unknown, options?: PublishOptions): Promise<void>;
}

/** A bus over `transport`. Closing the bus drains the transport. */
export function createBus(transport: Transport, options: BusOptions = {}): Bus {
  const log = options.log ?? silentLogger;
  const retry = retryTiming(options.retry, BUS_RETRY);
  const stats: BusStats = { requests: 0, retries: 0 };
  const tracing = options.tracing === true;

  const v2 = options.wireVersion === 2;
  const v3 = options.wireVersion === 3;
  // Version 5 is version 4's envelope on events, and on requests the ask for an echoed reply.
  const echo = options.wireVersion === undefined || options.wireVersion === 5;

  /**
   * The bytes and headers of a request or event. Version 4: the binary envelope (id, schema,
   * deadline, the correlation id when the message does not start its chain, the trace context when
   * there is a trace to continue or tracing is on) before the JSON, and no headers: a message
   * with a header block costs nats-server and both clients several times what one without costs,
   * and fewer bytes cost less again (docs/benchmarks.md). Version 3: the same fields as a text
   * line. Version 2: the JSON, with the `Catga` header and `traceparent`.
   *
   * @throws TypeError when the value cannot be JSON.
   */
  function message(
    value: unknown,
    messageId: string,
    schemaId: string,
    deadline: number | undefined,
    opts: { correlationId?: string; traceparent?: string },
    /** A request whose id the bus drew: version 5 asks for an echoed reply. */
    echoed = false,
  ): { data: Uint8Array; headers: Headers | undefined } {
    const traceparent =
      opts.traceparent !== undefined || tracing ? childTraceparent(opts.traceparent) : undefined;
    if (!v2) {
      return {
        data: v3
          ? envelope(value, messageId, deadline, schemaId, opts.correlationId, traceparent)
          : envelope4(value, messageId, deadline, schemaId, opts.correlationId, traceparent, echoed && echo),
        headers: undefined,
      };
    }
    const headers: Headers = {};
    writeWire(headers, messageId, deadline, schemaId, opts.correlationId);
    if (traceparent !== undefined) headers[H.traceparent] = traceparent;
    return { data: encode(value), headers };
  }

  /**
   * A request's bytes. Only an id the bus drew asks for an echoed reply (version 5): a caller's own
   * id may repeat, so its request stays version 4 with a reply subject of its own.
   */
  function requestMessage(
    spec: RequestSpec,
    payload: unknown,
    messageId: string,
    deadline: number,
    opts: InternalCallOptions,
  ): { data: Uint8Array; headers: Headers | undefined } {
    return message(payload, messageId, spec.schemaId, deadline, opts, opts.messageId === undefined);
  }

  /**
   * The transport's options for one attempt of a request {@link requestMessage} wrote, waiting
   * `timeoutMs`; a timeout names the call's `namedTimeoutMs`.
   */
  function requestOptions(
    data: Uint8Array,
    headers: Headers | undefined,
    timeoutMs: number,
    namedTimeoutMs: number,
  ): RequestOptions {
    return headers
      ? { headers, timeoutMs, namedTimeoutMs }
      : { timeoutMs, namedTimeoutMs, echo: asksEcho(data) };
  }

  /**
   * A request; with `check`, the reply's result is also checked against `spec.result` in the same
   * step that decodes it (sendRequest's path: see REQUEST_CHECKED).
   */
  function request(
    spec: RequestSpec,
    payload: unknown,
    opts: InternalCallOptions,
    check = false,
  ): Promise<unknown> {
    stats.requests++;
    const timeoutMs = opts.timeoutMs ?? spec.timeoutMs;
    const now = Date.now();
    const deadline = Math.min(now + timeoutMs, opts.deadline ?? Number.POSITIVE_INFINITY);
    const messageId = opts.messageId ?? newMessageId();
    if (spec.idempotent) {
      return withRetries(spec, payload, messageId, timeoutMs, deadline, opts, check);
    }
    // One attempt that waits the whole deadline, not awaited: this is every non-idempotent
    // request. The transport reads the reply into the result where it arrives, so a waiting
    // request holds no promise of ours and no closure: an async frame, or a `.then` on the
    // transport's promise, kept two more objects per request alive until its reply.
    let sent: Promise<unknown>;
    try {
      const { data, headers } = requestMessage(spec, payload, messageId, deadline, opts);
      opts.signal?.throwIfAborted();
      // The clock read once per request: the envelope is written within the same tick.
      const remaining = deadline - now;
      if (remaining <= 0) throw new TimeoutError(spec.subject, timeoutMs);
      // A transport may throw at once (closed, payload too large): that is a rejection too.
      sent = transport.requestReading(
        spec.subject,
        data,
        requestOptions(data, headers, remaining, timeoutMs),
        check ? checkedResultOf : resultOf,
        spec,
      );
    } catch (error) {
      return Promise.reject(error);
    }
    return abortable(sent, opts.signal);
  }

  async function withRetries(
    spec: RequestSpec,
    payload: unknown,
    messageId: string,
    timeoutMs: number,
    deadline: number,
    opts: InternalCallOptions,
    check: boolean,
  ): Promise<unknown> {
    // Every attempt sends the same bytes: the same message id, so the responder can tell a retry.
    const { data, headers } = requestMessage(spec, payload, messageId, deadline, opts);
    const signal = opts.signal;
    signal?.throwIfAborted();
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new TimeoutError(spec.subject, timeoutMs);
      const wait = Math.min(remaining, attemptWaitMs(retry, timeoutMs));
      try {
        return await abortable(
          transport.requestReading(
            spec.subject,
            data,
            requestOptions(data, headers, wait, timeoutMs),
            check ? checkedResultOf : resultOf,
            spec,
          ),
          signal,
        );
      } catch (error) {
        const retriable = error instanceof NoRespondersError || error instanceof TimeoutError;
        if (!retriable || signal?.aborted) throw error;
        const backoff = backoffMs(retry, attempt);
        if (!retryFits(backoff, deadline)) throw error;
        stats.retries++;
        log.debug("retrying idempotent request", { message: spec.name, attempt: attempt + 1, error });
        await sleep(backoff, signal);
      }
    }
  }

  return {
    transport,
    stats,
    request: (spec, payload, opts) => request(spec, payload, opts, false),
    [REQUEST_CHECKED]: (spec, payload, opts) => request(spec, payload, opts, true),
    publish(spec, event, opts = {}) {
      const messageId = opts.messageId ?? newMessageId();
      let data: Uint8Array;
      let headers: Headers | undefined;
      try {
        ({ data, headers } = message(event, messageId, spec.schemaId, undefined, opts));
      } catch (error) {
        return Promise.reject(error);
      }
      if (spec.durable !== undefined) {
        // A durable event is published when its stream has stored it: the promise is the stream's
        // acknowledgement, and the message id is the stream's dedup key (Nats-Msg-Id).
        let stored: Promise<unknown>;
        try {
          stored = transport.streams().publish(spec.subject, data, {
            messageId,
            ...(headers ? { headers } : {}),
          });
        } catch (error) {
          return Promise.reject(error);
        }
        return stored.then(noop);
      }
      // Publishing is synchronous on every transport: one shared settled promise instead of a new
      // one per event (a handler emitting a burst of events allocates nothing for them).
      try {
        transport.publish(spec.subject, data, headers);
      } catch (error) {
        return Promise.reject(error);
      }
      return PUBLISHED;
    },
    subscribe(spec, handler, opts: SubscribeOptions = {}): Subscription {
      // A count of running handlers and who waits for none, not a Set of their promises: a Set
      // that takes and drops one entry per event replaces its table every few hundred events, and
      // once that table is old, its replaced tables keep finished handlers alive through every
      // young-generation collection (see transport/_pending.ts).
      let running = 0;
      let settled: (() => void)[] = [];
      const done = () => {
        if (--running > 0) return;
        const waiting = settled;
        settled = [];
        for (const resolve of waiting) resolve();
      };
      const sub = transport.subscribe(
        spec.subject,
        opts.queue !== undefined ? { queue: opts.queue } : {},
        (msg) => {
          const wire = wireOf(msg);
          const info: EventInfo = {
            subject: msg.subject,
            messageId: wire.messageId,
            correlationId: wire.correlationId || wire.messageId,
          };
          running++;
          (async () => handler(decodeBody(msg.data, wire, spec.name, "event"), info))()
            .catch((error: unknown) => log.error("event handler failed", { event: spec.name, error }))
            .finally(done);
        },
      );
      return {
        subject: spec.subject,
        async unsubscribe() {
          await sub.drain();
          if (running > 0) await new Promise<void>((resolve) => settled.push(resolve));
        },
      };
    },
    close: () => transport.drain(),
  };
}

const PUBLISHED: Promise<void> = Promise.resolve();
const noop = (): void => {};

/** The result of a reply, or the typed error it carries. */
function resultOf(reply: IncomingMessage, spec: RequestSpec): unknown {
  if (reply.headers[H.status] === "error") throw errorFromReply(reply.data, reply.headers, spec.name);
  return decode(reply.data, spec.name, "result");
}

/** {@link resultOf}, checked against the message's result schema. */
function checkedResultOf(reply: IncomingMessage, spec: RequestSpec): unknown {
  return parseMessage(spec.result, resultOf(reply, spec), spec.name, "result");
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new CatgaError("aborted", { code: "ABORTED" }));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/**
 * A bus on NATS: what an application passes to a generated client (`connectShop(await
 * connectNats({ servers, user: "client", password, inboxPrefix: "_INBOX.shop.client" }))`).
 */
export async function connectNats(options: NatsConnectOptions, busOptions: BusOptions = {}): Promise<Bus> {
  return createBus(await natsTransport(options), busOptions);
}

/** A bus on an in-memory hub: every bus on the same hub talks to every other, with NATS semantics. */
export function memoryBus(hub: MemoryHub, busOptions: BusOptions = {}): Bus {
  return createBus(memoryTransport(hub), busOptions);
}
