/**
 * Durable streams on NATS JetStream (`@nats-io/jetstream` 3.x), over the NATS transport's own
 * connection. Written for nats-server 2.9 and later: one filter subject per consumer, no consumer
 * metadata, consumers created through `$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>`.
 *
 * Client calls and the subjects they use, as observed on nats-server 2.9.10 (for the emitted NATS
 * permissions; every reply comes to the connection's own inbox prefix):
 * - `jetstreamManager(nc)`, once, on the first management call: `$JS.API.INFO`;
 * - ensureStream: `jsm.streams.info` → `$JS.API.STREAM.INFO.<stream>`, then `jsm.streams.add` →
 *   `$JS.API.STREAM.CREATE.<stream>` or `jsm.streams.update` → `$JS.API.STREAM.INFO.<stream>` and
 *   `$JS.API.STREAM.UPDATE.<stream>`;
 * - ensureConsumer: `jsm.consumers.info` → `$JS.API.CONSUMER.INFO.<stream>.<consumer>`, then
 *   `jsm.consumers.add` or `.update` → `$JS.API.CONSUMER.CREATE.<stream>.<consumer>.<filter>`;
 * - publish: `js.publish(subject, data, { msgID, headers, timeout })` → a request on the event's own
 *   subject, answered by the stream;
 * - consume: `js.consumers.get(stream, consumer)` → `$JS.API.CONSUMER.INFO.<stream>.<consumer>`,
 *   `consume({ max_messages })` → `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`; ack, nak, term
 *   and working publish to the message's reply subject `$JS.ACK.<stream>.<consumer>.>`;
 * - follow: `jsm.streams.info` and `js.consumers.get(stream, { filter_subjects, opt_start_seq })` →
 *   `$JS.API.STREAM.INFO.<stream>`, `$JS.API.CONSUMER.CREATE.<stream>.<random>_<n>.<filter>`,
 *   `$JS.API.CONSUMER.MSG.NEXT.<stream>.<random>_<n>` (an ephemeral, memory-stored, R1 consumer the
 *   server removes 5 minutes after it is last used; stop() does not delete it);
 * - streamState: `$JS.API.STREAM.INFO.<stream>`; consumerState: `$JS.API.CONSUMER.INFO.<stream>.<consumer>`;
 * - read: `jsm.streams.getMessage(stream, { seq, next_by_subj })` → `$JS.API.STREAM.MSG.GET.<stream>`,
 *   one request per message; remove: `jsm.streams.deleteMessage(stream, seq, false)` →
 *   `$JS.API.STREAM.MSG.DELETE.<stream>`.
 */
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type ConsumerConfig as JsConsumerConfig,
  type JsMsg,
  type StreamConfig as JsStreamConfig,
  jetstream,
  jetstreamManager,
  type MsgRequest,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import {
  type MsgHdrs,
  type NatsConnection,
  errors as natsErrors,
  headers as natsHeaders,
} from "@nats-io/transport-node";
import { StreamConfigConflictError, StreamPublishError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import type {
  ConsumerState,
  DurableMessage,
  DurableStreams,
  DurableSubscription,
  Headers,
  StoredMessage,
  StreamState,
} from "./types.js";

/** How long a stream publish waits for its acknowledgement when the caller gives no timeout. */
export const DEFAULT_STREAM_PUBLISH_TIMEOUT_MS = 5000;

const nanos = (millis: number): number => millis * 1_000_000;
const ms = (n: number): number => Math.round(n / 1_000_000);

/** JetStream's error code for "stream name already in use with a different configuration". */
const STREAM_NAME_IN_USE = 10058;

/** Durable streams over `nc`. */
export function jetStreamStreams(nc: NatsConnection, log: Logger = silentLogger): DurableStreams {
  const js: JetStreamClient = jetstream(nc);
  let jsmPromise: Promise<JetStreamManager> | undefined;
  const jsm = (): Promise<JetStreamManager> => {
    jsmPromise ??= jetstreamManager(nc).catch((error: unknown) => {
      jsmPromise = undefined; // try again on the next call: JetStream may come up later
      throw error;
    });
    return jsmPromise;
  };

  return {
    async ensureStream(config) {
      const m = await jsm();
      const wanted: Partial<JsStreamConfig> = {
        subjects: [...config.subjects],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        max_age: nanos(config.maxAgeMs),
        num_replicas: config.replicas,
        duplicate_window: nanos(config.dedupWindowMs),
      };
      // Several instances start at once: whoever creates loses nothing to the others, who find the
      // stream on their next look and reconcile it like one that existed before.
      for (let attempt = 0; ; attempt++) {
        const current = await m.streams.info(config.name).catch(notFound);
        if (current === undefined) {
          try {
            await m.streams.add({ name: config.name, ...wanted });
            return;
          } catch (error) {
            if (attempt < 3 && isApiError(error, STREAM_NAME_IN_USE)) continue;
            throw error;
          }
        }
        const c = current.config;
        const target = `stream '${config.name}'`;
        if (c.storage !== StorageType.File) {
          throw new StreamConfigConflictError(target, "storage", c.storage, StorageType.File);
        }
        if (c.retention !== RetentionPolicy.Limits) {
          throw new StreamConfigConflictError(target, "retention", c.retention, RetentionPolicy.Limits);
        }
        const dropped = (c.subjects ?? []).filter((s) => !config.subjects.includes(s));
        if (dropped.length > 0) {
          throw new StreamConfigConflictError(target, "subjects", c.subjects, config.subjects);
        }
        const same =
          (c.subjects ?? []).length === config.subjects.length &&
          c.discard === DiscardPolicy.Old &&
          c.max_age === wanted.max_age &&
          c.num_replicas === wanted.num_replicas &&
          c.duplicate_window === wanted.duplicate_window;
        if (same) return;
        await m.streams.update(config.name, wanted);
        log.info("stream updated", { stream: config.name });
        return;
      }
    },

    async ensureConsumer(config) {
      const m = await jsm();
      const wanted: Partial<JsConsumerConfig> = {
        durable_name: config.name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: config.filterSubject,
        ack_wait: nanos(config.ackWaitMs),
        max_deliver: config.maxDeliver,
      };
      for (let attempt = 0; ; attempt++) {
        const current = await m.consumers.info(config.stream, config.name).catch(notFound);
        if (current === undefined) {
          try {
            await m.consumers.add(config.stream, wanted);
            return;
          } catch (error) {
            // A racing instance created it first (2.9 answers "consumer already exists" or, when
            // the configs differ, "consumer name already in use"): look again and reconcile.
            if (attempt < 3 && error instanceof JetStreamApiError) continue;
            throw error;
          }
        }
        const c = current.config;
        const target = `consumer '${config.name}' of stream '${config.stream}'`;
        if (typeof c.deliver_subject === "string" && c.deliver_subject !== "") {
          throw new StreamConfigConflictError(
            target,
            "deliver_subject",
            c.deliver_subject,
            "(pull consumer)",
          );
        }
        if ((c.filter_subject ?? "") !== config.filterSubject) {
          throw new StreamConfigConflictError(
            target,
            "filter_subject",
            c.filter_subject ?? "",
            config.filterSubject,
          );
        }
        if (c.deliver_policy !== DeliverPolicy.All) {
          throw new StreamConfigConflictError(target, "deliver_policy", c.deliver_policy, DeliverPolicy.All);
        }
        if (c.ack_policy !== AckPolicy.Explicit) {
          throw new StreamConfigConflictError(target, "ack_policy", c.ack_policy, AckPolicy.Explicit);
        }
        if (c.ack_wait === wanted.ack_wait && c.max_deliver === wanted.max_deliver) return;
        await m.consumers.update(config.stream, config.name, {
          ack_wait: wanted.ack_wait as number,
          max_deliver: wanted.max_deliver as number,
        });
        log.info("consumer updated", { stream: config.stream, consumer: config.name });
        return;
      }
    },

    async publish(subject, data, options) {
      const timeoutMs = options.timeoutMs ?? DEFAULT_STREAM_PUBLISH_TIMEOUT_MS;
      const deadline = Date.now() + timeoutMs;
      let h: MsgHdrs | undefined;
      if (options.headers !== undefined) {
        h = natsHeaders();
        for (const k in options.headers) h.set(k, options.headers[k] as string);
      }
      // Retrying is safe: the message id makes the stream store it once (within the dedup window).
      // No responders or a timeout is what a stream without a leader (an election after a node
      // died) looks like, and also what a subject without a stream looks like: both are retried
      // until the deadline, and the error says which it may be.
      let lastError: unknown;
      for (let attempt = 0; ; attempt++) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        try {
          const ack = await js.publish(subject, data, {
            msgID: options.messageId,
            ...(h === undefined ? {} : { headers: h }),
            timeout: Math.max(1, Math.min(remaining, 2000)),
          });
          return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
        } catch (error) {
          lastError = error;
          if (!isTransientPublishError(error)) {
            throw new StreamPublishError(subject, describe(error), { cause: error });
          }
        }
        await sleep(Math.min(50 * 2 ** Math.min(attempt, 5), Math.max(0, deadline - Date.now())));
      }
      throw new StreamPublishError(
        subject,
        `no acknowledgement within ${timeoutMs} ms (no stream takes this subject, or its stream has no leader right now): ${describe(lastError)}`,
        { cause: lastError },
      );
    },

    consume(stream, consumer, handler, options) {
      return pull(log.child({ stream, consumer }), {
        open: async () => {
          const c = await js.consumers.get(stream, consumer);
          const info = await c.info(true);
          return {
            messages: await c.consume({ max_messages: options.maxInFlight }),
            ackWaitMs: ms(info.config.ack_wait ?? 0),
          };
        },
        handler,
        maxInFlight: options.maxInFlight,
        ackable: true,
      });
    },

    follow(stream, filterSubject, handler) {
      // Start after the stream's last message as of now, by sequence: with DeliverPolicy "new" the
      // client's ordered consumer would, on a reset before its first message, start over from
      // sequence 1 and replay the whole stream.
      let start: number | undefined;
      let deliveredSinceCheck = false;
      return pull(log.child({ stream, follow: filterSubject }), {
        // The stream has a message past the last one handed over, and nothing came for a whole
        // period: the ordered consumer is stuck (see FOLLOW_WATCHDOG_MS); open a new one from there.
        stalled: async () => {
          if (deliveredSinceCheck || start === undefined) {
            deliveredSinceCheck = false;
            return false;
          }
          const info = await (await jsm()).streams.info(stream);
          return info.state.last_seq >= start;
        },
        open: async () => {
          if (start === undefined) {
            const info = await (await jsm()).streams.info(stream);
            start = info.state.last_seq + 1;
          }
          const ordered = await js.consumers.get(stream, {
            filter_subjects: filterSubject,
            opt_start_seq: start,
          });
          return { messages: await ordered.consume({ max_messages: 256 }), ackWaitMs: 0 };
        },
        // The ordered consumer resumes by itself after a reconnect; only when it is given up (its
        // stream deleted, say) is it opened again, from just after the last message handed over.
        onMessage: (m) => {
          start = m.seq + 1;
          deliveredSinceCheck = true;
        },
        handler,
        maxInFlight: Number.POSITIVE_INFINITY,
        ackable: false,
      });
    },

    async streamState(stream) {
      const info = await (await jsm()).streams.info(stream).catch(notFound);
      if (info === undefined) return undefined;
      return {
        name: stream,
        messages: info.state.messages,
        bytes: info.state.bytes,
        firstSeq: info.state.first_seq,
        lastSeq: info.state.last_seq,
      } satisfies StreamState;
    },

    async consumerState(stream, consumer) {
      const info = await (await jsm()).consumers.info(stream, consumer).catch(notFound);
      if (info === undefined) return undefined;
      return {
        stream,
        name: consumer,
        pending: info.num_pending,
        ackPending: info.num_ack_pending,
        redelivered: info.num_redelivered,
        waiting: info.num_waiting,
      } satisfies ConsumerState;
    },

    async read(stream, options) {
      const m = await jsm();
      const out: StoredMessage[] = [];
      let seq = Math.max(1, options.fromSeq);
      while (out.length < options.limit) {
        // next_by_subj skips deleted sequences (and other subjects): one request per message.
        // (The client types this request for direct gets only; STREAM.MSG.GET takes it since 2.9.)
        const query = { seq, next_by_subj: options.subject ?? ">" } as unknown as MsgRequest;
        const sm = await m.streams.getMessage(stream, query);
        if (sm === null) break;
        out.push({
          subject: sm.subject,
          seq: sm.seq,
          data: sm.data,
          headers: toRecord(sm.header),
          time: sm.time.getTime(),
        });
        seq = sm.seq + 1;
      }
      return out;
    },

    async remove(stream, seq) {
      await (await jsm()).streams.deleteMessage(stream, seq, false);
    },
  };
}

interface PullOptions {
  /** The consumption, and the consumer's ack wait in ms (a handed-over message holds its slot that long). */
  open(): Promise<{ messages: ConsumerMessages; ackWaitMs: number }>;
  onMessage?(m: JsMsg): void;
  handler(msg: DurableMessage): void;
  maxInFlight: number;
  ackable: boolean;
  /**
   * Checked every {@link FOLLOW_WATCHDOG_MS} while open: true when the stream holds messages this
   * consumption has not delivered and it delivered nothing since the last check. The consumption
   * is then reopened (follow only; see there).
   */
  stalled?(): Promise<boolean>;
}

/**
 * How often a follower checks that it is not stuck behind its stream. Measured on nats-server
 * 2.9.10 with the client's ordered consumer: after the server holding its ephemeral consumer died,
 * the consumer neither resumed nor reported missed heartbeats within 60 s in 2 of 4 runs.
 */
const FOLLOW_WATCHDOG_MS = 2000;

/**
 * Runs a consumption until stopped: opens it, hands messages over while fewer than `maxInFlight`
 * are unsettled, and opens it again with backoff when it ends or fails (the consumer was deleted
 * and recreated, JetStream was unavailable). The client itself re-pulls after missed heartbeats
 * and reconnects; those are logged.
 */
function pull(log: Logger, options: PullOptions): DurableSubscription {
  let stopped = false;
  let current: ConsumerMessages | undefined;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const settled = () => {
    inFlight--;
    const w = wake;
    wake = undefined;
    w?.();
  };
  let wakeSleep: (() => void) | undefined;

  let opened!: () => void;
  const ready = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const run = async () => {
    let failures = 0;
    while (!stopped) {
      try {
        const { messages, ackWaitMs } = await options.open();
        current = messages;
        opened();
        if (stopped) {
          await messages.close();
          break;
        }
        failures = 0;
        void watch(messages, log, options.ackable);
        const watchdog =
          options.stalled === undefined ? undefined : startWatchdog(messages, options.stalled, log);
        try {
          for await (const m of messages) {
            while (inFlight >= options.maxInFlight && !stopped) await new Promise<void>((r) => (wake = r));
            if (stopped) {
              // Pulled but never handed over: returned at once instead of after the ack wait.
              if (options.ackable) m.nak();
              continue;
            }
            options.onMessage?.(m);
            inFlight++;
            options.handler(new JetStreamMessage(m, options.ackable ? settled : undefined, ackWaitMs));
          }
        } finally {
          if (watchdog !== undefined) clearInterval(watchdog);
        }
        if (!stopped) log.warn("stream consumption ended; restarting");
      } catch (error) {
        if (stopped) break;
        failures++;
        const wait = Math.min(100 * 2 ** Math.min(failures, 6), 5000);
        log.warn("stream consumption failed; retrying", { error: describe(error), waitMs: wait });
        await new Promise<void>((r) => {
          wakeSleep = r;
          setTimeout(r, wait).unref();
        });
      }
    }
  };
  const done = run().finally(() => opened());
  return {
    ready,
    async stop() {
      if (stopped) return done;
      stopped = true;
      wake?.();
      wakeSleep?.();
      flushAcks();
      await current?.close().catch(() => undefined);
      await done;
    },
  };
}

/** Closes `messages` (so the loop opens a new consumption) once `stalled` says it is stuck. */
function startWatchdog(
  messages: ConsumerMessages,
  stalled: () => Promise<boolean>,
  log: Logger,
): NodeJS.Timeout {
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    stalled()
      .then(async (stuck) => {
        if (!stuck) return;
        log.warn("stream follow stalled behind its stream; reopening it");
        await messages.close();
      })
      .catch(() => undefined) // JetStream unreachable now: the next check asks again
      .finally(() => {
        checking = false;
      });
  }, FOLLOW_WATCHDOG_MS);
  timer.unref();
  return timer;
}

async function watch(messages: ConsumerMessages, log: Logger, reopen: boolean): Promise<void> {
  try {
    for await (const s of messages.status()) {
      if (
        s.type === "heartbeats_missed" ||
        s.type === "consumer_deleted" ||
        s.type === "consumer_not_found" ||
        s.type === "stream_not_found"
      ) {
        log.warn(`stream consumption: ${s.type}`, { status: s });
        // The client would keep pulling a deleted durable until its heartbeats are missed (about
        // a minute): end this consumption instead, so the loop looks the consumer up again (with
        // backoff) and pulls from it as soon as an instance has recreated it. An ordered consumer
        // recreates itself.
        if (reopen && (s.type === "consumer_deleted" || s.type === "consumer_not_found")) {
          await messages.close().catch(() => undefined);
        }
      } else if (s.type === "ordered_consumer_recreated") {
        log.info("stream follow resumed", { consumer: s.name });
      }
    }
  } catch {
    // The status iterator ends with the consumption.
  }
}

/** A JetStream message as the runtime's {@link DurableMessage}. */
class JetStreamMessage implements DurableMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly stream: string;
  readonly seq: number;
  readonly deliveryCount: number;
  readonly #m: JsMsg;
  readonly #settled: (() => void) | undefined;
  readonly #ackWaitMs: number;
  #done = false;
  #headers: Headers | undefined;
  /** Frees the in-flight slot when the ack wait passes unsettled: the server delivers it again. */
  #expiry: NodeJS.Timeout | undefined;

  constructor(m: JsMsg, settled: (() => void) | undefined, ackWaitMs: number) {
    this.#m = m;
    this.#settled = settled;
    this.#ackWaitMs = ackWaitMs;
    this.#arm();
    this.subject = m.subject;
    this.data = m.data;
    this.stream = m.info.stream;
    this.seq = m.seq;
    this.deliveryCount = m.info.deliveryCount;
  }
  get headers(): Headers {
    this.#headers ??= toRecord(this.#m.headers);
    return this.#headers;
  }
  #arm(): void {
    if (this.#settled === undefined || this.#ackWaitMs <= 0) return;
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => this.#settle(() => {}), this.#ackWaitMs);
    this.#expiry.unref();
  }
  #settle(act: () => void): void {
    if (this.#settled === undefined || this.#done) return; // follow: acks are no-ops
    this.#done = true;
    clearTimeout(this.#expiry);
    act();
    this.#settled();
  }
  ack(): void {
    this.#settle(() => queueAck(this.#m));
  }
  nak(delayMs?: number): void {
    this.#settle(() => this.#m.nak(delayMs));
  }
  term(): void {
    this.#settle(() => this.#m.term());
  }
  working(): void {
    if (this.#settled === undefined || this.#done) return;
    this.#m.working();
    this.#arm();
  }
}

/**
 * Acknowledgements waiting for the end of the current turn of the event loop. The NATS client
 * writes what was published since its last write in a microtask, and a consumption hands over one
 * message per microtask: acked at once, every ack was a write system call of its own, the largest
 * cost of consuming (and a read for nats-server each; the figures are in docs/benchmarks.md).
 * Acked together after the turn, the acks of every message that arrived in one read go out in one
 * write. An ack is still sent only after its handler succeeded; it leaves at most one turn later.
 */
let pendingAcks: JsMsg[] = [];

function queueAck(m: JsMsg): void {
  if (pendingAcks.length === 0) setImmediate(flushAcks);
  pendingAcks.push(m);
}

/** Sends the queued acknowledgements (also before a consumption closes, so none is left behind). */
function flushAcks(): void {
  const acks = pendingAcks;
  if (acks.length === 0) return;
  pendingAcks = [];
  for (const m of acks) {
    try {
      m.ack();
    } catch {
      // Its connection closed meanwhile (a crash, a stop): unacknowledged, it is delivered again
      // after the ack wait, as any ack lost with a connection. The other acks still go.
    }
  }
}

function toRecord(h: MsgHdrs | undefined): Headers {
  const out: Headers = {};
  if (h) for (const [k, v] of h) if (!(k in out)) out[k] = v[0] ?? "";
  return out;
}

function notFound(error: unknown): undefined {
  if (
    isApiError(error, JetStreamApiCodes.StreamNotFound) ||
    isApiError(error, JetStreamApiCodes.ConsumerNotFound)
  ) {
    return undefined;
  }
  throw error;
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

function isTransientPublishError(error: unknown): boolean {
  if (error instanceof natsErrors.TimeoutError) return true;
  if (error instanceof natsErrors.RequestError && error.isNoResponders()) return true;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof natsErrors.RequestError && cause.isNoResponders()) return true;
  if (cause instanceof natsErrors.NoRespondersError) return true;
  if (error instanceof natsErrors.NoRespondersError) return true;
  // "JetStream system temporarily unavailable" and the like during an election.
  if (error instanceof JetStreamApiError && error.status === 503) return true;
  return false;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
