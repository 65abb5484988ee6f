/**
 * The NATS transport, on the v3 client (`@nats-io/transport-node`). It connects to every URL of the
 * cluster, reconnects forever with jittered waits (an instance outliving a NATS restart is the
 * point of a cluster), and maps the client's request errors onto the runtime's typed errors.
 */
import { readFile } from "node:fs/promises";
import {
  type ConnectionOptions,
  connect,
  createInbox,
  credsAuthenticator,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  errors as natsErrors,
  headers as natsHeaders,
} from "@nats-io/transport-node";
import { asTlsError } from "../_tls.js";
import { ECHO_BYTES, echoes, randomToken } from "../_wire.js";
import { NoRespondersError, PayloadTooLargeError, TimeoutError } from "../errors.js";
import type { Logger } from "../log.js";
import { PendingRequests } from "./_pending.js";
import { jetStreamStreams } from "./jetstream.js";
import {
  type DurableStreams,
  type Headers,
  type IncomingMessage,
  messageSize,
  type ReplyReader,
  type RequestOptions,
  type SubscribeOptions,
  type Transport,
  type TransportSubscription,
} from "./types.js";

/** How to reach and log in to NATS. */
export interface NatsConnectOptions {
  /** Every server of the cluster: `nats://host:4222`. The client spreads connections over them. */
  servers: readonly string[];
  /** Connection name shown by the server's monitoring (`shop/order/<instance>`). */
  name?: string;
  user?: string;
  password?: string;
  token?: string;
  /** Path of a `.creds` file (JWT and NKey seed), read at connect. */
  credsFile?: string;
  /** TLS: CA file, and a client certificate and key for mutual TLS. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Prefix of reply inboxes: a service's NATS user may subscribe to its own prefix only. */
  inboxPrefix?: string;
  /**
   * How long to keep trying the first connection, in milliseconds, before giving up.
   * @default 0: try each server once
   */
  connectTimeoutMs?: number;
  /** Logs disconnects and reconnects. */
  log?: Logger;
}

/**
 * The most bytes the client collects from one turn of the event loop before it writes them to the
 * socket: nats.js's `pendingLimit` option (read by the client, not documented; its default is
 * 32 KiB). nats-server reads at most 64 KiB from a client at a time and halves its read buffer
 * after short reads, so a turn of 32-60 KiB written by the default as a 32 KiB write and a short
 * one cost the server clearly more per message than one write (docs/runtime.md, "Writes"). 60 KiB,
 * not 64: a write is the limit plus the frame that crossed it, and stays within one server read for
 * frames up to 4 KiB. Test: nats-writes.integration.
 */
export const WRITE_BATCH_BYTES = 60 * 1024;

/** Connects to NATS. */
export async function natsTransport(options: NatsConnectOptions): Promise<Transport> {
  // `pendingLimit` is read by nats.js but missing from its ConnectionOptions type.
  const connectOptions: ConnectionOptions & { pendingLimit: number } = {
    servers: [...options.servers],
    // Reconnect forever: the cluster may be restarted under a running instance.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    reconnectJitterTLS: 500,
    pendingLimit: WRITE_BATCH_BYTES,
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.password !== undefined ? { pass: options.password } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.inboxPrefix !== undefined ? { inboxPrefix: options.inboxPrefix } : {}),
  };
  if (options.credsFile !== undefined) {
    connectOptions.authenticator = credsAuthenticator(await readFile(options.credsFile));
  }
  if (options.tls !== undefined) {
    connectOptions.tls = {
      ...(options.tls.caFile !== undefined ? { caFile: options.tls.caFile } : {}),
      ...(options.tls.certFile !== undefined ? { certFile: options.tls.certFile } : {}),
      ...(options.tls.keyFile !== undefined ? { keyFile: options.tls.keyFile } : {}),
    };
  }
  const nc = await connectWithin(connectOptions, options.connectTimeoutMs ?? 0);
  watchStatus(nc, options.log);
  return wrap(nc, options.inboxPrefix ?? "_INBOX", options.log);
}

/**
 * The first connection: each server tried once, again and again until `ms` have passed. Not
 * nats.js's `waitOnFirstConnect`: with reconnects unlimited (as running instances need) it never
 * gives up, so `catga dead-letters` or `catga run` against an unreachable NATS hung instead of
 * failing after `connectTimeoutMs`.
 */
async function connectWithin(options: ConnectionOptions, ms: number): Promise<NatsConnection> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    try {
      return await connect(ms > 0 ? { ...options, timeout: Math.max(250, Math.min(left, 5000)) } : options);
    } catch (error) {
      // A certificate the client cannot verify stays unverifiable: say so now, not at the deadline.
      const tls = asTlsError(error, (options.servers as string[]).join(","), {
        caVariable: "CATGA_NATS_TLS_CA",
        certVariable: "CATGA_NATS_TLS_CERT",
        keyVariable: "CATGA_NATS_TLS_KEY",
      });
      if (tls !== undefined) throw tls;
      if (Date.now() + 250 >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function watchStatus(nc: NatsConnection, log: Logger | undefined): Promise<void> {
  if (log === undefined) return;
  for await (const s of nc.status()) {
    if (s.type === "disconnect") log.warn("nats disconnected", { server: s.server });
    else if (s.type === "reconnect") log.info("nats reconnected", { server: s.server });
    else if (s.type === "error") log.error("nats error", { error: s.error });
  }
}

function toNatsHeaders(headers: Headers | undefined): MsgHdrs | undefined {
  if (headers === undefined) return undefined;
  if (FAST_HEADERS) return WireHeaders.of(headers);
  let h: MsgHdrs | undefined;
  for (const k in headers) {
    h ??= natsHeaders();
    h.append(k, headers[k] as string);
  }
  return h;
}

const HEADER_NAME = /^[!-9;-~]+$/;
/** Header names that passed {@link HEADER_NAME}, bounded so arbitrary names cannot grow it. */
const checkedNames = new Set<string>();

function checkHeader(k: string, v: string): void {
  // The runtime sends the same few names over and over: each is checked once.
  if (!checkedNames.has(k)) {
    if (!HEADER_NAME.test(k)) {
      throw natsErrors.InvalidArgumentError.format("header", `'${k}' is not a valid header name`);
    }
    if (checkedNames.size < 1024) checkedNames.add(k);
  }
  // Two indexOf calls, not /[\r\n]/: no regular expression run per value, and this runs for every
  // header of every message published.
  if (v.indexOf("\n") !== -1 || v.indexOf("\r") !== -1) {
    throw natsErrors.InvalidArgumentError.format("header", "values cannot contain \\r or \\n");
  }
}

/**
 * Message headers as the client's own `headers()` object holds and encodes them (the same checks,
 * the same bytes: `NATS/1.0`, then `Name: value` per line), made for the publish path: the
 * client's object validates a name by rebuilding it character by character, searches its keys
 * twice per header and encodes with TextEncoder, which together cost more than everything else a
 * publish does. This one wraps the runtime's header record as it is (the record is not changed
 * after it is handed over; the mutating methods work on a copy) and only `encode()` is on the
 * publish path. Values are single (a runtime header never repeats); names match exactly.
 */
class WireHeaders implements MsgHdrs {
  #values: Headers;
  #own = false;
  readonly hasError = false;
  readonly status = "";
  readonly code = 0;
  readonly description = "";

  private constructor(values: Headers) {
    this.#values = values;
  }

  /** Checks every header as the client's `append()` would, or throws its error. */
  static of(values: Headers): WireHeaders | undefined {
    let any = false;
    for (const k in values) {
      checkHeader(k, values[k] as string);
      any = true;
    }
    return any ? new WireHeaders(values) : undefined;
  }

  get(k: string): string {
    return this.#values[k]?.trim() ?? "";
  }
  set(k: string, v: string): void {
    this.append(k, v);
  }
  append(k: string, v: string): void {
    checkHeader(k, v);
    this.#writable()[k] = v;
  }
  has(k: string): boolean {
    return Object.hasOwn(this.#values, k);
  }
  keys(): string[] {
    return Object.keys(this.#values);
  }
  values(k: string): string[] {
    return this.has(k) ? [this.get(k)] : [];
  }
  delete(k: string): void {
    delete this.#writable()[k];
  }
  last(k: string): string {
    return this.get(k);
  }
  *[Symbol.iterator](): Iterator<[string, string[]]> {
    for (const k in this.#values) yield [k, [this.get(k)]];
  }
  /** What the client calls to write the headers: the bytes its own headers object would write. */
  encode(): Uint8Array {
    let text = "NATS/1.0";
    for (const k in this.#values) text += `\r\n${k}: ${(this.#values[k] as string).trim()}`;
    return Buffer.from(`${text}\r\n\r\n`);
  }

  #writable(): Headers {
    if (!this.#own) {
      this.#values = { ...this.#values };
      this.#own = true;
    }
    return this.#values;
  }
}

/**
 * Whether the client writes headers through their `encode()` (as @nats-io/nats-core 3.x does):
 * only then can {@link WireHeaders} stand in for its own headers object; otherwise the client's is
 * used.
 */
const FAST_HEADERS = typeof (natsHeaders() as unknown as { encode?: unknown }).encode === "function";

function fromMsg(msg: Msg, bodyAt = 0): IncomingMessage {
  return new NatsMessage(msg, bodyAt);
}

/**
 * A delivered message whose headers and subject are decoded on first read: an event
 * handler that never looks at its message's ids (most do not) costs no header parsing at all.
 */
class NatsMessage implements IncomingMessage {
  readonly data: Uint8Array;
  declare readonly reply?: string;
  readonly #msg: Msg;
  #headers: Headers | undefined;

  /** @param bodyAt Where the body starts: past a reply's echo of its request's id, else 0. */
  constructor(msg: Msg, bodyAt = 0) {
    this.#msg = msg;
    this.data = bodyAt === 0 ? msg.data : msg.data.subarray(bodyAt);
    // The client decodes the reply subject on every read of `reply`, even when the message has
    // none (an event): its raw bytes, where nats-core 3.x keeps them, say whether there is one.
    const raw = (msg as unknown as RawMsg)._msg;
    if (raw !== undefined && typeof raw === "object" && "reply" in raw && raw.reply === undefined) return;
    const reply = msg.reply;
    if (reply) (this as { reply?: string }).reply = reply;
  }

  // The client decodes a subject from bytes when it is first read, and an event handler rarely
  // reads it: decoding it eagerly would cost every message for the few that look at it.
  get subject(): string {
    return this.#msg.subject;
  }

  get headers(): Headers {
    this.#headers ??= readHeaders(this.#msg);
    return this.#headers;
  }
}

/** What nats-core 3.x keeps of a delivered message: its bytes and where the headers end. */
interface RawMsg {
  _msg?: { hdr?: unknown; reply?: unknown; subject?: unknown };
  _rdata?: unknown;
}

/**
 * The headers of a delivered message as a plain record (first value of each name). The client's
 * own decoding builds a headers object that canonicalises and validates every name again (a fifth
 * of a serving instance's time at load), so the header block is read here, straight from the
 * message's bytes, when the client exposes them as nats-core 3.x does; a status line (the
 * server's 503 and the like) or any other client goes through the client's parser.
 */
function readHeaders(msg: Msg): Headers {
  const raw = msg as unknown as RawMsg;
  const end = raw._msg?.hdr;
  const bytes = raw._rdata;
  if (typeof end === "number" && bytes instanceof Uint8Array) {
    // No header block (every result reply, every version 3 message): one shared empty record.
    if (end < 0) return NO_HEADERS;
    const text = Buffer.isBuffer(bytes)
      ? bytes.toString("utf8", 0, end)
      : utf8.decode(bytes.subarray(0, end));
    const parsed = parseHeaderBlock(text);
    if (parsed !== undefined) return parsed;
  }
  const headers: Headers = {};
  const h = msg.headers;
  if (h) for (const [k, v] of h) if (!(k in headers)) headers[k] = v[0] ?? "";
  return headers;
}

const utf8 = new TextDecoder();
const NO_HEADERS: Headers = Object.freeze({});
const HEADER_LINE = "NATS/1.0\r\n";

/**
 * Header names read back as the same interned strings every time: storing a property under a
 * name sliced out of the text makes V8 look the string up in its string table, per header per
 * message, which made this parse cost a tenth of a serving instance's time.
 */
const KNOWN_NAMES: readonly string[] = [
  "Catga",
  "traceparent",
  "Catga-Status",
  "Catga-Error-Code",
  // Wire version 1's, read during a rolling upgrade.
  "Catga-Message-Id",
  "Catga-Correlation-Id",
  "Catga-Deadline",
  "Catga-Schema",
];

/** `NATS/1.0\r\nName: value\r\n…\r\n\r\n` without a status; undefined for anything else. */
function parseHeaderBlock(text: string): Headers | undefined {
  if (!text.startsWith(HEADER_LINE)) return undefined;
  const headers: Headers = {};
  let at = HEADER_LINE.length;
  while (at < text.length) {
    let eol = text.indexOf("\r\n", at);
    if (eol < 0) eol = text.length;
    const colon = text.indexOf(":", at);
    if (colon > at && colon < eol) {
      let k: string | undefined;
      for (const name of KNOWN_NAMES) {
        if (name.length === colon - at && text.startsWith(name, at)) {
          k = name;
          break;
        }
      }
      k ??= text.slice(at, colon);
      // The first value of a repeated name wins, as with the client's own `headers.get()`.
      if (!Object.hasOwn(headers, k)) headers[k] = text.slice(colon + 1, eol).trim();
    }
    at = eol + 2;
  }
  return headers;
}

/**
 * The token of a reply's subject (`<inbox>.<token>`, from `at` on), read from the subject's bytes
 * where nats-core 3.x keeps them: the client's `subject` decodes the whole subject with a
 * TextDecoder per reply, where the token is a few ASCII characters (base 36 and base64url).
 */
function replyToken(msg: Msg, at: number): string {
  const bytes = (msg as unknown as RawMsg)._msg?.subject;
  if (bytes instanceof Uint8Array && nativeLatin1Slice !== undefined && bytes.length >= at) {
    return nativeLatin1Slice.call(bytes, at, bytes.length);
  }
  return msg.subject.slice(at);
}

/**
 * Whether `msg` may answer `request`: any reply when the request asked for no echo (its subject is
 * its own), else only one that starts with its echo, or the server's no-responders status.
 */
function isReplyTo(request: Pending, msg: Msg): boolean {
  return request.echo === undefined || echoes(msg.data, request.echo) || noResponders(msg);
}

/**
 * The server's answer to a request nobody subscribes to: an empty 503 status message. It carries no
 * echo, and is taken by a request of version 5 too: it comes before any reply could.
 */
function noResponders(msg: Msg): boolean {
  return msg.data.length === 0 && msg.headers?.code === 503;
}

/** Buffer's native latin1 slice (what `toString("latin1")` calls), usable on any Uint8Array. */
const nativeLatin1Slice = (
  Buffer.prototype as unknown as { latin1Slice?: (start: number, end: number) => string }
).latin1Slice;

/** A request waiting for its reply on the shared inbox. */
interface Pending {
  token: string;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  subject: string;
  /** The timeout its TimeoutError names (RequestOptions.namedTimeoutMs). */
  timeoutMs: number;
  expires: number;
  /** The request's bytes when its reply echoes its id (RequestOptions.echo), else undefined. */
  echo: Uint8Array | undefined;
  /** What reads the reply into the result (Transport.requestReading), or undefined for the reply. */
  read: ReplyReader<unknown, unknown> | undefined;
  arg: unknown;
}

/** Settles a request with its reply, read as it asked. */
function settle(p: Pending, reply: IncomingMessage): void {
  if (p.read === undefined) {
    p.resolve(reply);
    return;
  }
  let result: unknown;
  try {
    result = p.read(reply, p.arg);
  } catch (error) {
    p.reject(error);
    return;
  }
  p.resolve(result);
}

/** How often expired requests are failed: the precision of deadlines, traded for one timer in total. */
const SWEEP_MS = 10;

function wrap(nc: NatsConnection, inboxPrefix: string, log: Logger | undefined): Transport {
  const limit = () => nc.info?.max_payload ?? 1024 * 1024;
  const checkSize = (subject: string, data: Uint8Array, headers: Headers | undefined) => {
    const max = limit();
    // Most messages are far below the limit: count the headers' exact bytes only when an upper
    // bound (3 UTF-8 bytes per UTF-16 unit) does not already show that the message fits.
    let chars = 12;
    if (headers !== undefined) for (const k in headers) chars += k.length + (headers[k] as string).length + 4;
    if (data.length + 3 * chars <= max) return;
    const size = messageSize(data, headers);
    if (size > max) throw new PayloadTooLargeError(subject, size, max);
  };

  // Requests share one wildcard subscription on a per-connection inbox and are matched by token,
  // and deadlines are enforced by one sweeping timer: the client's stock request() creates a timer
  // per request, which caps a 2-core machine far below what NATS itself sustains.
  const inbox = createInbox(inboxPrefix);
  // Not a Map: see _pending.ts (a Map churned per request kept dead requests alive after a full GC).
  const pending = new PendingRequests<Pending>();
  // Reply subjects are `<inbox>.<token>`. A request of wire version 5 (RequestOptions.echo) has its
  // slot as its token, so the next request in that slot has the same reply subject and
  // nats-server's subject-match cache hits; its reply starts with the echo of its 12 id bytes, and
  // a reply without this request's echo is not taken: a late reply (its request timed out) or a
  // forged one (no echo, or the real reply after a forged one was taken) cannot reach a newer
  // request. Any other request (a caller's own id, which may repeat; versions 2 to 4 during a
  // rollout) has a token no request had before: its slot, a counter and random bits, unique per
  // connection and not guessable by a process that has not seen the request. A subject per request
  // costs nats-server a cache miss per request, about 1.3 µs on a 2-core machine
  // (docs/runtime.md, "Reply matching", has the measurements).
  let nextToken = 0;
  let unmatched = 0;
  let sweeper: NodeJS.Timeout | undefined;
  let muxStarted = false;
  let streams: DurableStreams | undefined;
  const startMux = () => {
    muxStarted = true;
    nc.subscribe(`${inbox}.*`, {
      callback: (error, msg) => {
        if (error !== null) return;
        const token = replyToken(msg, inbox.length + 1);
        const p = pending.take(token, isReplyTo, msg);
        if (p === undefined) {
          // Late (its request timed out) or forged: nobody waits for it. Counted, logged once.
          if (unmatched++ === 0)
            log?.warn("reply dropped: no request waits for it", { subject: msg.subject });
          return;
        }
        // The server answers a request nobody subscribes to with an empty 503 status message.
        if (noResponders(msg)) p.reject(new NoRespondersError(p.subject));
        else settle(p, fromMsg(msg, p.echo === undefined ? 0 : ECHO_BYTES));
      },
    });
  };
  // No request expires before this (a lower bound: answered requests only raise the true one), so
  // a sweep before it has nothing to do and skips the walk over every pending request (at a
  // thousand in flight, a hundred walks a second cost the caller more than its deadlines).
  let nextExpiry = Number.POSITIVE_INFINITY;
  const sweep = () => {
    const now = Date.now();
    if (now >= nextExpiry) {
      nextExpiry = Number.POSITIVE_INFINITY;
      for (const p of pending.values()) {
        if (p.expires <= now) {
          pending.delete(p.token);
          p.reject(new TimeoutError(p.subject, p.timeoutMs));
        } else if (p.expires < nextExpiry) {
          nextExpiry = p.expires;
        }
      }
    }
    if (pending.size === 0 && sweeper !== undefined) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };

  /** Sends a request; its promise settles with the reply, or with what `read` makes of it. */
  const send = (
    subject: string,
    data: Uint8Array,
    options: RequestOptions,
    read: ReplyReader<unknown, unknown> | undefined,
    arg: unknown,
  ): Promise<unknown> => {
    let token: string | undefined;
    const named = options.namedTimeoutMs ?? options.timeoutMs;
    try {
      checkSize(subject, data, options.headers);
      if (!muxStarted) startMux();
      const h = toNatsHeaders(options.headers);
      const expires = Date.now() + options.timeoutMs;
      if (expires < nextExpiry) nextExpiry = expires;
      const echo = options.echo === true ? data : undefined;
      const unique = echo === undefined ? (nextToken++).toString(36) + randomToken() : "";
      const promise = new Promise<unknown>((resolve, reject) => {
        token = pending.add((prefix) => ({
          token: echo === undefined ? prefix + unique : prefix.slice(0, -1),
          resolve,
          reject,
          subject,
          timeoutMs: named,
          expires,
          echo,
          read,
          arg,
        })).token;
      });
      if (sweeper === undefined) {
        sweeper = setInterval(sweep, SWEEP_MS);
        sweeper.unref();
      }
      const reply = `${inbox}.${token}`;
      nc.publish(subject, data, h ? { reply, headers: h } : { reply });
      return promise;
    } catch (error) {
      // Nothing was sent (the client refused it): the request is not waiting for a reply.
      if (token !== undefined) pending.delete(token);
      return Promise.reject(mapRequestError(error, subject, named));
    }
  };

  return {
    kind: "nats",
    streams() {
      // Created on first use: a service without durable events never loads JetStream's API.
      streams ??= jetStreamStreams(nc, log);
      return streams;
    },
    maxPayload: limit,
    unmatchedReplies: () => unmatched,
    isConnected: () => !nc.isClosed() && !nc.isDraining() && nc.getServer() !== "",
    request(subject: string, data: Uint8Array, options: RequestOptions): Promise<IncomingMessage> {
      return send(subject, data, options, undefined, undefined) as Promise<IncomingMessage>;
    },
    // Typed by Transport.requestReading; `send` itself is not generic.
    requestReading(subject, data, options, read, arg) {
      return send(subject, data, options, read as ReplyReader<unknown, unknown>, arg) as Promise<never>;
    },
    publish(subject, data, headers) {
      checkSize(subject, data, headers);
      const h = toNatsHeaders(headers);
      nc.publish(subject, data, h ? { headers: h } : undefined);
    },
    subscribe(
      subject: string,
      options: SubscribeOptions,
      handler: (msg: IncomingMessage) => void,
    ): TransportSubscription {
      const sub = nc.subscribe(subject, {
        ...(options.queue !== undefined ? { queue: options.queue } : {}),
        callback: (error, msg) => {
          if (error === null) handler(fromMsg(msg));
        },
      });
      return {
        unsubscribe: () => sub.unsubscribe(),
        drain: async () => {
          if (!sub.isClosed() && !nc.isClosed()) await sub.drain();
        },
      };
    },
    flush: () => nc.flush(),
    async drain() {
      if (!nc.isClosed() && !nc.isDraining()) await nc.drain();
    },
    async close() {
      if (!nc.isClosed()) await nc.close();
      for (const p of pending.values()) p.reject(new TimeoutError(p.subject, p.timeoutMs));
      pending.clear();
      if (sweeper !== undefined) clearInterval(sweeper);
    },
  };
}

function mapRequestError(error: unknown, subject: string, timeoutMs: number): unknown {
  if (error instanceof natsErrors.RequestError && error.isNoResponders()) {
    return new NoRespondersError(subject, { cause: error });
  }
  if (error instanceof natsErrors.NoRespondersError) return new NoRespondersError(subject, { cause: error });
  if (
    error instanceof natsErrors.TimeoutError ||
    (error as Error | undefined)?.cause instanceof natsErrors.TimeoutError
  ) {
    return new TimeoutError(subject, timeoutMs, { cause: error });
  }
  return error;
}
