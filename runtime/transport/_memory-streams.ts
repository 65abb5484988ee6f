/**
 * Durable streams in memory: JetStream's semantics as the runtime uses them, kept on a
 * {@link MemoryHub} so every in-memory connection to the hub sees the same streams, like instances
 * connected to one JetStream. Stored messages with sequence and time, deduplication by message id
 * within the window, max age, durable consumers with ack-pending messages, ack wait, nak with delay,
 * max deliver, delivery spread over the consuming subscriptions, ordered follows from "now".
 * Delivery is asynchronous (a later macrotask), as on the core in-memory transport.
 */
import { StreamConfigConflictError, StreamPublishError } from "../errors.js";
import type {
  ConsumerConfig,
  DurableMessage,
  DurableStreams,
  DurableSubscription,
  Headers,
  StoredMessage,
  StreamConfig,
} from "./types.js";

interface Stored {
  subject: string;
  seq: number;
  data: Uint8Array;
  headers: Headers;
  time: number;
  size: number;
}

interface Pending {
  timer: NodeJS.Timeout | undefined;
  sub: Sub | undefined;
}

interface Sub {
  handler(msg: DurableMessage): void;
  maxInFlight: number;
  inFlight: number;
  stopped: boolean;
}

interface ConsumerRecord {
  config: ConsumerConfig;
  /** The next stream sequence not yet delivered to this consumer. */
  nextSeq: number;
  /** Deliveries so far of each message not yet done with. */
  deliveries: Map<number, number>;
  /** Delivered, not yet acknowledged. */
  pending: Map<number, Pending>;
  /** Due for redelivery, in sequence order. */
  redeliver: number[];
  subs: Sub[];
  /** Round-robin position over `subs`. */
  turn: number;
}

interface Follower {
  filter: string[];
  nextSeq: number;
  handler(msg: DurableMessage): void;
  stopped: boolean;
}

interface StreamRecord {
  config: StreamConfig;
  messages: Map<number, Stored>;
  lastSeq: number;
  /** Message id → when it was first stored, within the dedup window. */
  ids: Map<string, { seq: number; time: number }>;
  consumers: Map<string, ConsumerRecord>;
  followers: Set<Follower>;
}

/** The streams of one hub. @internal */
export class MemoryStreamStore {
  readonly #streams = new Map<string, StreamRecord>();
  /** Subscriptions waiting for a consumer that does not exist yet, by `stream/consumer`. */
  readonly #waiting = new Map<string, Sub[]>();

  /** The {@link DurableStreams} API over this store. */
  api(): DurableStreams {
    return {
      ensureStream: async (config) => this.#ensureStream(config),
      ensureConsumer: async (config) => this.#ensureConsumer(config),
      publish: async (subject, data, options) => this.#publish(subject, data, options),
      consume: (stream, consumer, handler, options) =>
        this.#consume(stream, consumer, handler, options.maxInFlight),
      follow: (stream, filterSubject, handler) => this.#follow(stream, filterSubject, handler),
      streamState: async (name) => {
        const s = this.#streams.get(name);
        if (s === undefined) return undefined;
        this.#expire(s);
        let bytes = 0;
        let first = s.lastSeq + 1;
        for (const m of s.messages.values()) {
          bytes += m.size;
          if (m.seq < first) first = m.seq;
        }
        return { name, messages: s.messages.size, bytes, firstSeq: first, lastSeq: s.lastSeq };
      },
      consumerState: async (stream, name) => {
        const s = this.#streams.get(stream);
        const c = s?.consumers.get(name);
        if (s === undefined || c === undefined) return undefined;
        this.#expire(s);
        const filter = c.config.filterSubject.split(".");
        let pending = 0;
        for (const m of s.messages.values()) if (m.seq >= c.nextSeq && matches(filter, m.subject)) pending++;
        let redelivered = 0;
        for (const seq of c.pending.keys()) if ((c.deliveries.get(seq) ?? 0) > 1) redelivered++;
        return {
          stream,
          name,
          pending,
          ackPending: c.pending.size,
          redelivered,
          waiting: c.subs.filter((x) => x.inFlight < x.maxInFlight).length,
        };
      },
      read: async (stream, options) => {
        const s = this.#stream(stream);
        this.#expire(s);
        const filter = options.subject?.split(".");
        const out: StoredMessage[] = [];
        for (let seq = Math.max(1, options.fromSeq); seq <= s.lastSeq && out.length < options.limit; seq++) {
          const m = s.messages.get(seq);
          if (m === undefined || (filter !== undefined && !matches(filter, m.subject))) continue;
          out.push({ subject: m.subject, seq, data: m.data, headers: { ...m.headers }, time: m.time });
        }
        return out;
      },
      remove: async (stream, seq) => {
        const s = this.#stream(stream);
        if (!s.messages.delete(seq)) throw new Error(`stream '${stream}' has no message ${seq}`);
      },
    };
  }

  #stream(name: string): StreamRecord {
    const s = this.#streams.get(name);
    if (s === undefined) throw new Error(`stream '${name}' not found`);
    return s;
  }

  #ensureStream(config: StreamConfig): void {
    const s = this.#streams.get(config.name);
    if (s === undefined) {
      this.#streams.set(config.name, {
        config: { ...config, subjects: [...config.subjects] },
        messages: new Map(),
        lastSeq: 0,
        ids: new Map(),
        consumers: new Map(),
        followers: new Set(),
      });
      return;
    }
    // The same rule as on JetStream: a subject that holds stored messages is never dropped.
    if (s.config.subjects.some((x) => !config.subjects.includes(x))) {
      throw new StreamConfigConflictError(
        `stream '${config.name}'`,
        "subjects",
        s.config.subjects,
        config.subjects,
      );
    }
    s.config = { ...config, subjects: [...config.subjects] };
  }

  #ensureConsumer(config: ConsumerConfig): void {
    const s = this.#stream(config.stream);
    const c = s.consumers.get(config.name);
    if (c === undefined) {
      const record: ConsumerRecord = {
        config: { ...config },
        nextSeq: 1,
        deliveries: new Map(),
        pending: new Map(),
        redeliver: [],
        subs: [],
        turn: 0,
      };
      s.consumers.set(config.name, record);
      const key = `${config.stream}/${config.name}`;
      record.subs.push(...(this.#waiting.get(key) ?? []));
      this.#waiting.delete(key);
      this.#pump(s, record);
      return;
    }
    if (c.config.filterSubject !== config.filterSubject) {
      throw new StreamConfigConflictError(
        `consumer '${config.name}' of stream '${config.stream}'`,
        "filter_subject",
        c.config.filterSubject,
        config.filterSubject,
      );
    }
    c.config = { ...config };
  }

  #publish(
    subject: string,
    data: Uint8Array,
    options: { messageId: string; headers?: Headers },
  ): { stream: string; seq: number; duplicate: boolean } {
    const tokens = subject.split(".");
    const s = [...this.#streams.values()].find((x) =>
      x.config.subjects.some((p) => matches(p.split("."), tokens)),
    );
    if (s === undefined) throw new StreamPublishError(subject, "no stream takes this subject");
    const now = Date.now();
    this.#expire(s);
    const seen = s.ids.get(options.messageId);
    if (seen !== undefined) return { stream: s.config.name, seq: seen.seq, duplicate: true };
    const seq = ++s.lastSeq;
    const headers: Headers = { ...(options.headers ?? {}), "Nats-Msg-Id": options.messageId };
    let size = subject.length + data.length + 22;
    for (const k in headers) size += k.length + (headers[k] as string).length + 4;
    s.messages.set(seq, { subject, seq, data: data.slice(), headers, time: now, size });
    s.ids.set(options.messageId, { seq, time: now });
    for (const c of s.consumers.values()) this.#pump(s, c);
    for (const f of s.followers) this.#feed(s, f);
    return { stream: s.config.name, seq, duplicate: false };
  }

  /** Drops messages older than max age and message ids older than the dedup window. */
  #expire(s: StreamRecord): void {
    const now = Date.now();
    if (s.config.maxAgeMs > 0) {
      for (const m of s.messages.values()) {
        if (now - m.time <= s.config.maxAgeMs) break; // in sequence order: the rest are newer
        s.messages.delete(m.seq);
      }
    }
    for (const [id, x] of s.ids) {
      if (now - x.time <= s.config.dedupWindowMs) break;
      s.ids.delete(id);
    }
  }

  #consume(
    stream: string,
    consumer: string,
    handler: (m: DurableMessage) => void,
    maxInFlight: number,
  ): DurableSubscription {
    const sub: Sub = { handler, maxInFlight, inFlight: 0, stopped: false };
    const s = this.#streams.get(stream);
    const c = s?.consumers.get(consumer);
    const key = `${stream}/${consumer}`;
    if (s !== undefined && c !== undefined) {
      c.subs.push(sub);
      this.#pump(s, c);
    } else {
      this.#waiting.set(key, [...(this.#waiting.get(key) ?? []), sub]);
    }
    return {
      stop: async () => {
        sub.stopped = true;
        const list = this.#waiting.get(key);
        if (list !== undefined)
          this.#waiting.set(
            key,
            list.filter((x) => x !== sub),
          );
        const rec = this.#streams.get(stream)?.consumers.get(consumer);
        if (rec !== undefined) rec.subs = rec.subs.filter((x) => x !== sub);
        // Let deliveries already scheduled for this subscription go back to the consumer.
        await new Promise((r) => setImmediate(r));
      },
    };
  }

  /** Hands out what the consumer has for its subscriptions with room. */
  #pump(s: StreamRecord, c: ConsumerRecord): void {
    const filter = c.config.filterSubject.split(".");
    for (;;) {
      const open = c.subs.filter((x) => !x.stopped && x.inFlight < x.maxInFlight);
      if (open.length === 0) return;
      let seq: number | undefined;
      while (c.redeliver.length > 0 && seq === undefined) {
        const next = c.redeliver.shift() as number;
        if (s.messages.has(next)) seq = next;
        else c.deliveries.delete(next);
      }
      while (seq === undefined && c.nextSeq <= s.lastSeq) {
        const m = s.messages.get(c.nextSeq);
        if (m !== undefined && matches(filter, m.subject)) seq = c.nextSeq;
        c.nextSeq++;
      }
      if (seq === undefined) return;
      const sub = open[c.turn++ % open.length] as Sub;
      this.#deliver(s, c, sub, seq);
    }
  }

  #deliver(s: StreamRecord, c: ConsumerRecord, sub: Sub, seq: number): void {
    const count = (c.deliveries.get(seq) ?? 0) + 1;
    c.deliveries.set(seq, count);
    const entry: Pending = { timer: undefined, sub };
    c.pending.set(seq, entry);
    sub.inFlight++;
    let done = false;
    const release = () => {
      if (entry.sub !== undefined) {
        entry.sub.inFlight--;
        entry.sub = undefined;
      }
    };
    // Done with this delivery: `again` is when to deliver it again (undefined: never).
    const settle = (again: number | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(entry.timer);
      if (c.pending.get(seq) === entry) c.pending.delete(seq);
      release();
      const count = c.deliveries.get(seq) ?? 0;
      // maxDeliver -1 (or 0) is JetStream's "no limit": the runtime's consumers use it.
      const limited = c.config.maxDeliver > 0;
      if (again === undefined || (limited && count >= c.config.maxDeliver)) {
        c.deliveries.delete(seq);
      } else {
        const requeue = () => {
          insertSorted(c.redeliver, seq);
          this.#pump(s, c);
        };
        if (again > 0) setTimeout(requeue, again).unref();
        else requeue();
      }
      this.#pump(s, c);
    };
    const arm = () => {
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => settle(0), c.config.ackWaitMs);
      entry.timer.unref();
    };
    arm();
    const m = s.messages.get(seq) as Stored;
    const msg: DurableMessage = {
      subject: m.subject,
      data: m.data,
      headers: { ...m.headers },
      stream: s.config.name,
      seq,
      deliveryCount: count,
      ack: () => settle(undefined),
      nak: (delayMs?: number) => settle(delayMs ?? 0),
      term: () => settle(undefined),
      working: () => {
        if (!done) arm();
      },
    };
    setImmediate(() => {
      if (sub.stopped) {
        // Never handed over: back to the consumer at once, as the NATS transport naks it.
        settle(0);
        return;
      }
      sub.handler(msg);
    });
  }

  #follow(stream: string, filterSubject: string, handler: (m: DurableMessage) => void): DurableSubscription {
    const s = this.#stream(stream);
    const f: Follower = { filter: filterSubject.split("."), nextSeq: s.lastSeq + 1, handler, stopped: false };
    s.followers.add(f);
    return {
      stop: async () => {
        f.stopped = true;
        s.followers.delete(f);
      },
    };
  }

  #feed(s: StreamRecord, f: Follower): void {
    while (f.nextSeq <= s.lastSeq) {
      const m = s.messages.get(f.nextSeq++);
      if (m === undefined || !matches(f.filter, m.subject)) continue;
      const msg: DurableMessage = {
        subject: m.subject,
        data: m.data,
        headers: { ...m.headers },
        stream: s.config.name,
        seq: m.seq,
        deliveryCount: 1,
        ack: () => {},
        nak: () => {},
        term: () => {},
        working: () => {},
      };
      setImmediate(() => {
        if (!f.stopped) f.handler(msg);
      });
    }
  }
}

function insertSorted(list: number[], n: number): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] as number) > n) i--;
  list.splice(i, 0, n);
}

function matches(pattern: string[], subject: string | string[]): boolean {
  const tokens = typeof subject === "string" ? subject.split(".") : subject;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === ">") return tokens.length > i;
    if (i >= tokens.length) return false;
    if (p !== "*" && p !== tokens[i]) return false;
  }
  return pattern.length === tokens.length;
}
