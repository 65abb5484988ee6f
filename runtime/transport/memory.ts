/**
 * The in-memory transport: NATS core semantics inside one process, for the demo, unit tests and
 * `catga up --memory`. Every {@link memoryTransport} is one "connection" to a shared
 * {@link MemoryHub}, like instances connected to one NATS server:
 *
 * - a message goes to every plain subscription on its subject and to exactly one member of each
 *   queue group subscribed to it (picked at random, as the NATS server does);
 * - a request with no subscriber fails at once with `NoRespondersError`; one without a reply in time
 *   fails with `TimeoutError`; a payload over the limit fails with `PayloadTooLargeError`;
 * - delivery is asynchronous (a later macrotask), never inside the publisher's call stack, so code
 *   that works here does not depend on re-entrancy that NATS would never give it;
 * - subjects support the `*` and `>` wildcards;
 * - durable streams (`streams()`) live on the hub too (see `_memory-streams.ts`).
 */
import { randomUUID } from "node:crypto";
import { ECHO_BYTES, echoes } from "../_wire.js";
import { NoRespondersError, PayloadTooLargeError, TimeoutError } from "../errors.js";
import { MemoryStreamStore } from "./_memory-streams.js";
import {
  type DurableMessage,
  type DurableStreams,
  type DurableSubscription,
  type Headers,
  type IncomingMessage,
  messageSize,
  type ReplyReader,
  type RequestOptions,
  type SubscribeOptions,
  type Transport,
  type TransportSubscription,
} from "./types.js";

/** The default payload limit: NATS's default `max_payload`, 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

interface Entry {
  subject: string;
  tokens: string[];
  queue?: string;
  connection: symbol;
  deliver(msg: IncomingMessage): void;
  /** Set when unsubscribed or drained: nothing more is delivered. */
  closed: boolean;
  /** Deliveries scheduled but not yet handed to the handler, for drain. */
  pending: number;
  idle?: () => void;
}

/** The shared "server" of in-memory connections. */
export class MemoryHub {
  private readonly entries = new Set<Entry>();
  /** @internal The durable streams every connection to this hub shares. */
  readonly streamStore = new MemoryStreamStore();
  /** @param maxPayload Payload limit of every connection, like the server's `max_payload`. */
  constructor(readonly maxPayload = DEFAULT_MAX_PAYLOAD) {}

  /** @internal */
  add(entry: Entry): void {
    this.entries.add(entry);
  }

  /** @internal */
  remove(entry: Entry): void {
    this.entries.delete(entry);
  }

  /** Whether anyone would receive a message on `subject`. */
  hasInterest(subject: string): boolean {
    const tokens = subject.split(".");
    for (const e of this.entries) if (!e.closed && matches(e.tokens, tokens)) return true;
    return false;
  }

  /** @internal Routes one message: every plain subscriber, one member per queue group. */
  route(subject: string, msg: IncomingMessage): void {
    const tokens = subject.split(".");
    const groups = new Map<string, Entry[]>();
    for (const e of this.entries) {
      if (e.closed || !matches(e.tokens, tokens)) continue;
      if (e.queue === undefined) {
        schedule(e, msg);
      } else {
        const members = groups.get(e.queue) ?? [];
        members.push(e);
        groups.set(e.queue, members);
      }
    }
    for (const members of groups.values()) {
      schedule(members[Math.floor(Math.random() * members.length)] as Entry, msg);
    }
  }
}

function schedule(entry: Entry, msg: IncomingMessage): void {
  entry.pending++;
  // A copy per subscriber: a handler mutating its headers must not affect another's.
  const copy: IncomingMessage = { ...msg, headers: { ...msg.headers } };
  setImmediate(() => {
    entry.pending--;
    // Drained subscriptions still receive what was already on its way; unsubscribed ones do not.
    if (!entry.closed || entry.idle !== undefined) entry.deliver(copy);
    if (entry.pending === 0) entry.idle?.();
  });
}

function matches(pattern: string[], subject: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === ">") return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== "*" && p !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * Prefix of this connection's reply inboxes, as nats.js's `inboxPrefix`.
   * @default "_INBOX"
   */
  inboxPrefix?: string;
}

/** A new connection to `hub`. */
export function memoryTransport(hub: MemoryHub, options: MemoryTransportOptions = {}): Transport {
  const id = Symbol("memory-connection");
  const inboxPrefix = options.inboxPrefix ?? "_INBOX";
  const mine = new Set<Entry>();
  let closed = false;
  let streams: DurableStreams | undefined;
  /** The durable consumptions and follows opened through this connection. */
  const durable = new Set<DurableSubscription>();
  const stopDurable = () => Promise.all([...durable].map((d) => d.stop()));

  const ensureOpen = () => {
    if (closed) throw new Error("the in-memory connection is closed");
  };
  const checkSize = (subject: string, data: Uint8Array, headers: Headers | undefined) => {
    const size = messageSize(data, headers);
    if (size > hub.maxPayload) throw new PayloadTooLargeError(subject, size, hub.maxPayload);
  };

  const subscribe = (
    subject: string,
    opts: SubscribeOptions,
    handler: (msg: IncomingMessage) => void,
  ): TransportSubscription => {
    ensureOpen();
    const entry: Entry = {
      subject,
      tokens: subject.split("."),
      ...(opts.queue !== undefined ? { queue: opts.queue } : {}),
      connection: id,
      deliver: handler,
      closed: false,
      pending: 0,
    };
    hub.add(entry);
    mine.add(entry);
    const remove = () => {
      entry.closed = true;
      hub.remove(entry);
      mine.delete(entry);
    };
    return {
      unsubscribe: remove,
      drain: () =>
        new Promise<void>((resolve) => {
          entry.idle = resolve;
          remove();
          if (entry.pending === 0) resolve();
        }),
    };
  };

  /** Sends a request; its promise settles with the reply, or with what `read` makes of it. */
  const send = (
    subject: string,
    data: Uint8Array,
    opts: RequestOptions,
    read: ReplyReader<unknown, unknown> | undefined,
    arg: unknown,
  ): Promise<unknown> => {
    ensureOpen();
    checkSize(subject, data, opts.headers);
    if (!hub.hasInterest(subject)) return Promise.reject(new NoRespondersError(subject));
    return new Promise<unknown>((resolve, reject) => {
      const inbox = `${inboxPrefix}.${randomUUID().replace(/-/g, "")}`;
      let timer: NodeJS.Timeout | undefined;
      const sub = subscribe(inbox, {}, (reply) => {
        // As on NATS (RequestOptions.echo): a reply without this request's echo is not its
        // reply, and the echo is not part of the body.
        const echoed = opts.echo === true;
        if (echoed && !echoes(reply.data, data)) return;
        sub.unsubscribe();
        clearTimeout(timer);
        const msg = echoed ? { ...reply, data: reply.data.subarray(ECHO_BYTES) } : reply;
        if (read === undefined) resolve(msg);
        else {
          try {
            resolve(read(msg, arg));
          } catch (error) {
            reject(error);
          }
        }
      });
      timer = setTimeout(() => {
        sub.unsubscribe();
        reject(new TimeoutError(subject, opts.namedTimeoutMs ?? opts.timeoutMs));
      }, opts.timeoutMs);
      hub.route(subject, { subject, data, headers: { ...(opts.headers ?? {}) }, reply: inbox });
    });
  };

  return {
    kind: "memory",
    streams() {
      streams ??= connectionStreams(hub.streamStore.api(), () => closed, durable);
      return streams;
    },
    maxPayload: () => hub.maxPayload,
    isConnected: () => !closed,
    publish(subject, data, headers) {
      ensureOpen();
      checkSize(subject, data, headers);
      hub.route(subject, { subject, data, headers: { ...(headers ?? {}) } });
    },
    request(subject, data, opts: RequestOptions) {
      return send(subject, data, opts, undefined, undefined) as Promise<IncomingMessage>;
    },
    // Typed by Transport.requestReading; `send` itself is not generic.
    requestReading(subject, data, opts, read, arg) {
      return send(subject, data, opts, read as ReplyReader<unknown, unknown>, arg) as Promise<never>;
    },
    subscribe,
    flush: async () => {},
    async drain() {
      await Promise.all(
        [...mine].map(
          (e) =>
            new Promise<void>((resolve) => {
              e.idle = resolve;
              e.closed = true;
              hub.remove(e);
              mine.delete(e);
              if (e.pending === 0) resolve();
            }),
        ),
      );
      await stopDurable();
      closed = true;
    },
    async close() {
      for (const e of mine) {
        e.closed = true;
        hub.remove(e);
      }
      mine.clear();
      closed = true;
      // As a closed NATS connection takes its pull subscriptions along: nothing more is pulled for
      // this connection, and what it held unacknowledged comes back after the ack wait.
      await stopDurable();
    },
  };
}

/**
 * The hub's streams as seen through one connection: its consumptions and follows end with it, and
 * once it is closed its acknowledgements go nowhere and its publishes fail, as on NATS. Without
 * this, a crashed in-memory instance would go on pulling (and giving back) deliveries.
 */
function connectionStreams(
  shared: DurableStreams,
  isClosed: () => boolean,
  open: Set<DurableSubscription>,
): DurableStreams {
  const ensureOpen = () => {
    if (isClosed()) throw new Error("the in-memory connection is closed");
  };
  // A delivery settled after the connection closed is lost: the server redelivers it after the ack wait.
  const guard = (msg: DurableMessage): DurableMessage => ({
    ...msg,
    ack: () => (isClosed() ? undefined : msg.ack()),
    nak: (delayMs?: number) => (isClosed() ? undefined : msg.nak(delayMs)),
    term: () => (isClosed() ? undefined : msg.term()),
    working: () => (isClosed() ? undefined : msg.working()),
  });
  const track = (sub: DurableSubscription): DurableSubscription => {
    open.add(sub);
    return {
      ...sub,
      stop: async () => {
        open.delete(sub);
        await sub.stop();
      },
    };
  };
  return {
    ...shared,
    publish: async (subject, data, options) => {
      ensureOpen();
      return shared.publish(subject, data, options);
    },
    consume: (stream, consumer, handler, options) => {
      ensureOpen();
      return track(shared.consume(stream, consumer, (m) => handler(guard(m)), options));
    },
    follow: (stream, filterSubject, handler) => {
      ensureOpen();
      return track(shared.follow(stream, filterSubject, (m) => handler(guard(m))));
    },
  };
}
