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
}

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
   * Sends a request and waits for one reply.
   *
   * @throws NoRespondersError at once when nobody subscribes to the subject.
   * @throws TimeoutError when no reply arrives within `timeoutMs`.
   * @throws PayloadTooLargeError when the request exceeds {@link maxPayload}.
   */
  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<IncomingMessage>;
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
