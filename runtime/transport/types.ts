/**
 * The transport contract: the few primitives of NATS core that Catga uses (request/reply through
 * queue groups, publish, plain and queue subscriptions, drain), with the same semantics on NATS and
 * in memory. Everything above it (clients, service hosts, election announcements) is written
 * against this interface, so one conformance suite proves both transports behave alike.
 */

/** Message headers. Names are case-sensitive, as in NATS. */
export type Headers = Record<string, string>;

/** A message delivered to a subscription. */
export interface IncomingMessage {
  subject: string;
  data: Uint8Array;
  headers: Headers;
  /** Where to send the reply, when the sender is waiting for one. */
  reply?: string;
}

/** A subscription. */
export interface TransportSubscription {
  /** Stops deliveries at once; messages not yet handed to the handler are dropped. */
  unsubscribe(): void;
  /**
   * Stops new deliveries but hands over what the server already sent (so it is not lost), then
   * resolves. Used on graceful shutdown before the in-flight work is awaited.
   */
  drain(): Promise<void>;
}

/** Options of {@link Transport.request}. */
export interface RequestOptions {
  headers?: Headers;
  /** How long to wait for the reply. */
  timeoutMs: number;
  /**
   * The request is of wire version 5 (`asksEcho` in _wire.ts): its responder puts `0x05` and the
   * request's 12 id bytes in front of the reply. The transport takes only a reply that starts with
   * this request's echo, and hands on the body after it, so a reply subject may serve one request
   * after another (docs/runtime.md, "Reply matching").
   */
  echo?: boolean;
  /**
   * The timeout a TimeoutError of this request names, when the caller waits less than it was
   * given: the bus's one attempt waits what is left of the call's deadline, and still times out
   * at the call's `timeoutMs`. Default: `timeoutMs`.
   */
  namedTimeoutMs?: number;
}

/**
 * Reads a reply into a request's result ({@link Transport.requestReading}); `arg` is what it needs
 * besides the reply, so one function made once serves every request. A throw rejects the request.
 */
export type ReplyReader<T, A> = (reply: IncomingMessage, arg: A) => T;

/** Options of {@link Transport.subscribe}. */
export interface SubscribeOptions {
  /**
   * A queue group: each message goes to one subscriber of the group (per group), instead of to
   * every subscriber.
   */
  queue?: string;
}

/** A connection to a message bus. */
export interface Transport {
  /** Which implementation this is, for logs and heartbeats. */
  readonly kind: "nats" | "memory";
  /** The largest payload (data plus headers) the bus accepts, in bytes. */
  maxPayload(): number;
  /** Whether the connection is up right now (false while reconnecting). */
  isConnected(): boolean;
  /**
   * Replies dropped because no request waits for them: late (their request timed out) or forged.
   * Every request has a reply subject of its own, so such a reply never reaches another request.
   */
  unmatchedReplies?(): number;
  /**
   * Sends a request and waits for one reply.
   *
   * @throws NoRespondersError at once when nobody subscribes to the subject.
   * @throws TimeoutError when no reply arrives within `timeoutMs`.
   * @throws PayloadTooLargeError when the request exceeds {@link maxPayload}.
   */
  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<IncomingMessage>;
  /**
   * {@link request}, resolved with `read(reply, arg)` instead of the reply, or rejected with what
   * `read` throws. The transport reads the reply where it receives it, so a caller that wants
   * only the result keeps no promise derived from the reply's and no closure per request: at a
   * thousand requests in flight, those are what the caller's young-generation collections copy
   * while the requests wait (docs/benchmarks.md, "The caller reads its reply where it arrives").
   */
  requestReading<T, A>(
    subject: string,
    data: Uint8Array,
    options: RequestOptions,
    read: ReplyReader<T, A>,
    arg: A,
  ): Promise<T>;
  /**
   * Publishes a message (also used to reply: publish to the request's `reply` subject).
   *
   * @throws PayloadTooLargeError when the message exceeds {@link maxPayload}.
   */
  publish(subject: string, data: Uint8Array, headers?: Headers): void;
  /** Subscribes; `handler` is called for each message, never concurrently with itself for one message. */
  subscribe(
    subject: string,
    options: SubscribeOptions,
    handler: (msg: IncomingMessage) => void,
  ): TransportSubscription;
  /** Resolves when everything published so far has reached the server. */
  flush(): Promise<void>;
  /**
   * Graceful close: stops delivering new messages to subscriptions, lets the caller finish and reply
   * to what it has, flushes, then closes.
   */
  drain(): Promise<void>;
  /** Closes at once. */
  close(): Promise<void>;
  /**
   * The durable streams on this connection (JetStream on NATS). Created on first call; the same
   * object afterwards.
   */
  streams(): DurableStreams;
}

/** Size of a message on the wire as the limit counts it: data plus encoded headers. */
export function messageSize(data: Uint8Array, headers: Headers | undefined): number {
  if (headers === undefined) return data.length;
  // NATS/1.0\r\n + "name: value\r\n" per header + \r\n: close enough to the server's count to keep
  // a message just under the limit from being refused by the server instead of by us.
  let size = data.length + 12;
  for (const [k, v] of Object.entries(headers)) size += Buffer.byteLength(k) + Buffer.byteLength(v) + 4;
  return size;
}

// ---------------------------------------------------------------------------------------------
// Durable streams (JetStream on NATS, its twin in memory): what `durable event`s travel on.
// ---------------------------------------------------------------------------------------------

/** A stream as the topology declares it. Everything else about the stream is fixed by the runtime. */
export interface StreamConfig {
  name: string;
  /** Subjects the stream stores (an event's subject; `<topology>.dead.>` for dead letters). */
  subjects: string[];
  /** Messages older than this are removed. */
  maxAgeMs: number;
  replicas: number;
  /** A second publish with the same message id within this window is acknowledged but not stored. */
  dedupWindowMs: number;
}

/** A durable consumer shared by the instances of one service (each message goes to one of them). */
export interface ConsumerConfig {
  stream: string;
  /** Durable name: the consuming service's name. */
  name: string;
  /** The one subject it takes from the stream. */
  filterSubject: string;
  /** A delivery not acknowledged within this long is delivered again. */
  ackWaitMs: number;
  /**
   * Deliveries of one message before the server stops delivering it; -1 (or 0): no limit, as on
   * JetStream. The runtime's own consumers use -1 and dead-letter by themselves.
   */
  maxDeliver: number;
}

/** A message delivered from a stream. Exactly one of ack, nak and term should be called. */
export interface DurableMessage extends IncomingMessage {
  readonly stream: string;
  /** The message's sequence number in its stream. */
  readonly seq: number;
  /** 1 on the first delivery, 2 on the first redelivery, … */
  readonly deliveryCount: number;
  /** Done: never delivered again to this consumer. */
  ack(): void;
  /** Not done: deliver again after `delayMs` (at once without it). */
  nak(delayMs?: number): void;
  /** Done for good without success: never delivered again (dead-lettered by the caller first). */
  term(): void;
  /** Still working: restarts the ack wait. */
  working(): void;
}

/** A running consumption of a stream. */
export interface DurableSubscription {
  /**
   * Stops pulling and resolves once the pull has ended. Nothing is lost: a message the client
   * holds but has not handed over is nak'ed (delivered again at once); one the server sent as the
   * pull ended is never acknowledged, so it is delivered again after the ack wait. Messages handed
   * to the handler keep their ack/nak.
   */
  stop(): Promise<void>;
  /**
   * Resolves once the consumption is open on the server (for `follow`: once its starting point is
   * fixed, so every message stored from then on is delivered). Absent: open at once.
   */
  readonly ready?: Promise<void>;
}

/** What a stream holds now (for `catga status`). */
export interface StreamState {
  name: string;
  messages: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
}

/** Where a durable consumer is (for `catga status`). */
export interface ConsumerState {
  stream: string;
  name: string;
  /** Messages in the stream not yet delivered to it. */
  pending: number;
  /** Delivered, not yet acknowledged. */
  ackPending: number;
  /** Messages delivered more than once. */
  redelivered: number;
  /** Pull requests waiting for messages (instances pulling now). */
  waiting: number;
}

/** A message read back from a stream by sequence (dead-letter listings and replays). */
export interface StoredMessage {
  subject: string;
  seq: number;
  data: Uint8Array;
  headers: Headers;
  /** Epoch ms when the stream stored it. */
  time: number;
}

/**
 * Durable streams over a transport's connection. A stream or consumer that exists with settings the
 * server cannot change in place is never recreated: `ensureStream`/`ensureConsumer` throw
 * `StreamConfigConflictError` naming the field instead, because recreating would lose messages.
 */
export interface DurableStreams {
  /** Creates the stream, or updates it in place; idempotent, safe from many instances at once. */
  ensureStream(config: StreamConfig): Promise<void>;
  /** Creates the durable consumer, or updates it in place; idempotent. */
  ensureConsumer(config: ConsumerConfig): Promise<void>;
  /**
   * Publishes to a stream's subject and resolves once the stream has stored it (`duplicate` when
   * the message id was seen within the dedup window: stored once).
   *
   * @throws StreamPublishError when no stream takes the subject or the stream does not acknowledge
   *   in time.
   */
  publish(
    subject: string,
    data: Uint8Array,
    options: { messageId: string; headers?: Headers; timeoutMs?: number },
  ): Promise<{ stream: string; seq: number; duplicate: boolean }>;
  /**
   * Pulls from a durable consumer, at most `maxInFlight` messages handed over and not yet settled
   * at a time. Keeps pulling across reconnects until stopped.
   */
  consume(
    stream: string,
    consumer: string,
    handler: (msg: DurableMessage) => void,
    options: { maxInFlight: number },
  ): DurableSubscription;
  /**
   * Follows a stream from the first message stored after the call (an ordered, ephemeral consumer),
   * across reconnects without gaps; for broadcast delivery. Acks are no-ops.
   */
  follow(stream: string, filterSubject: string, handler: (msg: DurableMessage) => void): DurableSubscription;
  streamState(stream: string): Promise<StreamState | undefined>;
  consumerState(stream: string, consumer: string): Promise<ConsumerState | undefined>;
  /** Up to `limit` messages of the stream from sequence `fromSeq`, optionally of one subject. */
  read(
    stream: string,
    options: { fromSeq: number; limit: number; subject?: string },
  ): Promise<StoredMessage[]>;
  /** Removes one message (a replayed dead letter). */
  remove(stream: string, seq: number): Promise<void>;
}
