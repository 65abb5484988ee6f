/**
 * The baselines of bench/rpc: the NATS client alone, doing the least a JSON request/reply needs.
 * Requests share one inbox subscription and are matched by a token in the reply subject (reused
 * once its reply has come), with no timer per request; the responder is a plain subscription in a
 * queue group that decodes and encodes JSON. Events are JSON published on a subject and decoded by plain subscriptions. No
 * validation, no deadlines enforced, no metrics: what Catga adds is measured against this.
 *
 * Three variants: `raw` sends no headers at all; `raw-headers` sends, through the client's own
 * headers object, the header Catga's wire version 2 carried (one `Catga` header with message id,
 * deadline and schema hash on requests; the same without deadline on events), and its responder
 * reads the deadline as an instance does: the difference to raw is the price of a header block.
 * `raw-prefix` carries the same fields as wire version 3 does, as a first line of the payload
 * (`C3;<id>;<deadline>;<schema>\n<JSON>`), and its responder and subscribers split it off and read
 * the deadline: the difference to raw is the price of the metadata without a header block.
 */
import { randomFillSync } from "node:crypto";
import {
  type ConnectionOptions,
  connect,
  createInbox,
  headers,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
} from "@nats-io/transport-node";
import type { Contender } from "./_worker.js";
import { PAYLOAD } from "./_worker.js";

const DEADLINE_MS = 5000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const closer = (nc: NatsConnection) => ({ close: () => nc.drain() });

/**
 * The plain client's connection, with nats.js's defaults. `BENCH_PENDING_LIMIT=<bytes>` sets its
 * undocumented `pendingLimit` (32 KiB by default; Catga's transport sets 60 KiB, runtime/transport/
 * nats.ts), to measure how much a plain client gains from the setting Catga uses.
 */
export function connectPlain(url: string): Promise<NatsConnection> {
  const limit = Number(process.env.BENCH_PENDING_LIMIT ?? 0);
  const options: ConnectionOptions & { pendingLimit?: number } = { servers: url };
  if (limit > 0) options.pendingLimit = limit;
  return connect(options);
}

/** A plain subscription on `subject` (in queue group `queue` if given) that hands each message to `each`. */
export async function plainSubscriber(
  url: string,
  subject: string,
  each: (msg: Msg) => void,
  queue?: string,
) {
  const nc = await connectPlain(url);
  nc.subscribe(subject, {
    ...(queue !== undefined ? { queue } : {}),
    callback: (error, msg) => {
      if (error === null) each(msg);
    },
  });
  await nc.flush();
  return closer(nc);
}

/**
 * Catga's request or event header with a fresh id, as wire version 2 writes it (docs/runtime.md,
 * "The wire"): one `Catga` header, `2;<id>;<deadline base 36>;<schema hash>`; no traceparent
 * (Catga sends one only when there is a trace to continue). The id is 12 random bytes in
 * base64url, here from a UUID's bytes (Catga takes them from a pool of random bytes).
 */
function catgaHeaders(deadline: boolean): MsgHdrs {
  const id = messageId();
  const h = headers();
  h.set(
    "Catga",
    `2;${id};${deadline ? (Date.now() + DEADLINE_MS).toString(36) : ""};${deadline ? "621f0767" : "6a1a7c42"}`,
  );
  return h;
}

// Random bytes from a pool, refilled when used up, as Catga draws its message ids.
const pool = Buffer.allocUnsafe(65536);
let offset = pool.length;
/** Where `n` fresh random bytes start in `pool`. */
function draw(n: number): number {
  if (offset + n > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  offset += n;
  return offset - n;
}

/** `n` random bytes in base64url. */
export function randomBase64url(n: number): string {
  const at = draw(n);
  return pool.toString("base64url", at, at + n);
}

/** A message id as Catga draws one: 12 random bytes in base64url. */
const messageId = () => randomBase64url(12);

/** The same fields as wire version 3's envelope line (docs/runtime.md, "The wire"). */
function catgaLine(deadline: boolean): string {
  const id = messageId();
  return `C3;${id};${deadline ? (Date.now() + DEADLINE_MS).toString(36) : ""};${deadline ? "621f0767" : "6a1a7c42"}`;
}

/**
 * The same fields in the fewest bytes: a marker byte (0x01: no JSON text starts with it), the 12
 * id bytes, the 4 bytes of the schema hash and, on requests, the deadline as 6 bytes (epoch ms,
 * big-endian): 23 bytes on a request and 17 on an event, against the text line's 38 and 30.
 */
export function binaryEnvelope(json: string, deadline: boolean): Buffer {
  const head = deadline ? 23 : 17;
  const out = Buffer.allocUnsafe(head + Buffer.byteLength(json));
  out[0] = 1;
  const at = draw(12);
  pool.copy(out, 1, at, at + 12);
  out.writeUInt32BE(deadline ? 0x621f0767 : 0x6a1a7c42, 13);
  if (deadline) out.writeUIntBE(Date.now() + DEADLINE_MS, 17, 6);
  out.write(json, head);
  return out;
}

/** The raw baseline, without headers or with Catga's (see the file comment). */
export function rawContender(options: { headers: boolean; prefix?: boolean; binary?: boolean }): Contender {
  const withHeaders = options.headers;
  const withBinary = options.binary === true;
  const withPrefix = options.prefix === true;
  const variant = withHeaders ? "raw-headers" : withBinary ? "raw-binary" : withPrefix ? "raw-prefix" : "raw";
  // Each variant on its own subjects: both may be running at once.
  const REQUEST = `bench.${variant}.echo`;
  // BENCH_RAW_EVENT names another event subject (a longer one moves a frame past nats-server's
  // cost step for small frames as a larger payload does: docs/benchmarks.md, "The floor and the
  // echoed reply"). Run one raw variant at a time with it.
  const EVENT = process.env.BENCH_RAW_EVENT || `bench.${variant}.tick`;
  const body = (deadline: boolean) =>
    withBinary
      ? binaryEnvelope(JSON.stringify(PAYLOAD), deadline)
      : withPrefix
        ? Buffer.from(`${catgaLine(deadline)}\n${JSON.stringify(PAYLOAD)}`)
        : encoder.encode(JSON.stringify(PAYLOAD));
  const parse = (data: Uint8Array, deadline: boolean): unknown => {
    if (withBinary) {
      if (data[0] !== 1) return undefined;
      const head = deadline ? 23 : 17;
      const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
      if (deadline && !(bytes.readUIntBE(17, 6) > Date.now())) return undefined;
      return JSON.parse(bytes.toString("utf8", head));
    }
    if (!withPrefix) return JSON.parse(decoder.decode(data));
    const nl = data.indexOf(10);
    const line = Buffer.from(data.buffer, data.byteOffset, nl).toString("latin1").split(";");
    if (deadline && !(Number.parseInt(line[2] ?? "", 36) > Date.now())) return undefined;
    return JSON.parse(decoder.decode(data.subarray(nl + 1)));
  };
  return {
    responder: (url) =>
      plainSubscriber(
        url,
        REQUEST,
        (msg) => {
          if (
            withHeaders &&
            !(Number.parseInt(msg.headers?.get("Catga").split(";")[2] ?? "", 36) > Date.now())
          )
            return;
          const value = parse(msg.data, true);
          if (value === undefined) return;
          msg.respond(encoder.encode(JSON.stringify(value)));
        },
        "echo",
      ),

    async caller(url) {
      const nc = await connectPlain(url);
      const inbox = createInbox();
      // A token is used again once its reply has come: nats-server's subject-match cache then hits
      // instead of missing on every reply (no reply is ever late here: there are no deadlines).
      // Catga's transport reuses a subject too (wire version 5), with the request's id echoed in the
      // reply so a forged or late reply cannot reach a newer request (docs/runtime.md, "Reply
      // matching"); raw-guarded.ts does the same by hand.
      // The token is a number, and its request waits at that index of an array: a Map with a key
      // set and deleted per request kept dead requests alive after a full GC (runtime/transport/
      // _pending.ts), which made this caller's collections 2-4x dearer in every run.
      const pending: (((value: unknown) => void) | undefined)[] = [];
      const free: number[] = [];
      nc.subscribe(`${inbox}.*`, {
        callback: (error, msg) => {
          if (error !== null) return;
          const token = Number.parseInt(msg.subject.slice(inbox.length + 1), 36);
          const resolve = pending[token];
          if (resolve === undefined) return;
          pending[token] = undefined;
          free.push(token);
          resolve(JSON.parse(decoder.decode(msg.data)));
        },
      });
      await nc.flush();
      return {
        call() {
          const token = free.pop() ?? pending.length;
          const reply = new Promise<unknown>((resolve) => {
            pending[token] = resolve;
          });
          nc.publish(REQUEST, body(true), {
            reply: `${inbox}.${token.toString(36)}`,
            ...(withHeaders ? { headers: catgaHeaders(true) } : {}),
          });
          return reply;
        },
        ...closer(nc),
      };
    },

    subscriber: (url, onEvent) =>
      plainSubscriber(url, EVENT, (msg) => {
        parse(msg.data, false);
        onEvent();
      }),

    async publisher(url) {
      const nc = await connectPlain(url);
      return {
        publish: () =>
          nc.publish(EVENT, body(false), withHeaders ? { headers: catgaHeaders(false) } : undefined),
        ...closer(nc),
      };
    },
  };
}
