/**
 * bench/rpc's floor: the NATS client alone, doing by hand what every Catga request and event must
 * do to keep its guarantees, and nothing else. It asks: with no runtime at all, how close to the
 * raw client can a message with Catga's guarantees come?
 *
 * - The envelope's fields: 12 random id bytes, the 4-byte schema hash and, on requests, the
 *   6-byte deadline (binary, as wire version 4 lays them out; `binaryEnvelope` of _raw.ts). The
 *   responder refuses an expired request.
 * - Replies matched as wire version 5 matches them (runtime/transport/_pending.ts): the reply
 *   subject is the request's slot, used again by the slot's next request, and the responder puts a
 *   marker byte and the request's 12 id bytes before the reply's JSON; the caller takes a reply
 *   only when they are its request's, so a late or forged reply never reaches a newer request.
 * - The schema checks, where Catga makes them: the caller validates its input and the result, the
 *   responder the request and its result, the publisher its event and each subscriber the event,
 *   each with the zod schema `catgac` generates for the bench topology (`z.object({ text:
 *   z.string(), n: z.number().int() })`).
 *
 * What it leaves out of what Catga does: metrics, logs, the handler's context, typed errors,
 * deadlines on the caller's side (no timer and no sweep), retries, tracing (off in the bench).
 * It is written plainly, not tuned as Catga's readers and writers are, so it is what the
 * guarantees cost a straightforward client, not a bound: Catga has run ahead of it.
 *
 * `BENCH_GUARDS` (a comma list of `envelope`, `echo12`, `echo4`, `subject`, `schema`;
 * `envelope,echo12,schema` when unset) keeps only the guarantees it names, to measure the price of
 * each: without `envelope` the payload is the bare JSON; `subject` gives every request a reply
 * subject of its own, `<inbox>.<slot>-<counter><8 random characters>` (how Catga matched replies
 * before wire version 5); `echo12` or `echo4` (with `envelope`) reuse the subject and echo 12 or 4
 * id bytes; with none of the three a token is used again once answered and nothing is echoed (as
 * raw's is); without `schema` nothing is validated.
 */
import { createInbox } from "@nats-io/transport-node";
import { z } from "zod";
import { binaryEnvelope, closer, connectPlain, plainSubscriber, randomBase64url } from "./_raw.js";
import { type Contender, main, PAYLOAD } from "./_worker.js";

const REQUEST = "bench.raw-guarded.echo";
const EVENT = "bench.raw-guarded.tick";
const REQUEST_HEAD = 23;
const EVENT_HEAD = 17;
const encoder = new TextEncoder();

// The schema catgac generates for Echo, Echoed and Tick (out/bench-rpc/messages.ts).
const Schema = z.object({ text: z.string(), n: z.number().int() });

const GUARDS = new Set((process.env.BENCH_GUARDS ?? "envelope,echo12,schema").split(","));
const ENVELOPE = GUARDS.has("envelope");
const SUBJECT = GUARDS.has("subject");
const SCHEMA = GUARDS.has("schema");
// `echo4` or `echo12` (with `envelope`, instead of `subject`): the reply subject is used again, and
// the responder puts the first 4 or all 12 bytes of the request's id before the reply's JSON,
// behind a marker byte; the caller takes a reply only when they are its request's.
const ECHO = ENVELOPE ? (GUARDS.has("echo12") ? 12 : GUARDS.has("echo4") ? 4 : 0) : 0;
const check = (value: unknown) =>
  SCHEMA ? Schema.safeParse(value) : { success: value !== undefined, data: value, error: undefined };
const payload = (value: unknown, deadline: boolean): Uint8Array =>
  ENVELOPE ? binaryEnvelope(JSON.stringify(value), deadline) : encoder.encode(JSON.stringify(value));

/** The JSON after an envelope of `head` bytes, or undefined when the envelope is not one or has expired. */
function body(data: Uint8Array, head: number): unknown {
  if (!ENVELOPE) return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString("utf8"));
  if (data[0] !== 1 || data.length < head) return undefined;
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
  if (head === REQUEST_HEAD && !(bytes.readUIntBE(17, 6) > Date.now())) return undefined;
  return JSON.parse(bytes.toString("utf8", head));
}

interface Waiting {
  token: string;
  id: Buffer | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const guarded: Contender = {
  responder: (url) =>
    plainSubscriber(
      url,
      REQUEST,
      (msg) => {
        const checked = check(body(msg.data, REQUEST_HEAD));
        if (!checked.success) return;
        // The handler's result is checked too before it leaves (the echo: its input).
        const result = check(checked.data);
        if (!result.success) return;
        if (ECHO === 0) {
          msg.respond(encoder.encode(JSON.stringify(result.data)));
          return;
        }
        const json = JSON.stringify(result.data);
        const out = Buffer.allocUnsafe(1 + ECHO + Buffer.byteLength(json));
        out[0] = 1;
        out.set(msg.data.subarray(1, 1 + ECHO), 1);
        out.write(json, 1 + ECHO);
        msg.respond(out);
      },
      "echo",
    ),

  async caller(url) {
    const nc = await connectPlain(url);
    const inbox = createInbox();
    // An array of slots and a free list, as runtime/transport/_pending.ts keeps them.
    const slots: (Waiting | undefined)[] = [];
    const free: number[] = [];
    let counter = 0;
    nc.subscribe(`${inbox}.*`, {
      callback: (error, msg) => {
        if (error !== null) return;
        const token = msg.subject.slice(inbox.length + 1);
        const slot = Number.parseInt(token, 36);
        const waiting = slots[slot];
        if (waiting === undefined || waiting.token !== token) return;
        const data = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.length);
        if (
          waiting.id !== undefined &&
          (data[0] !== 1 || data.compare(waiting.id, 0, ECHO, 1, 1 + ECHO) !== 0)
        )
          return;
        slots[slot] = undefined;
        free.push(slot);
        const checked = check(JSON.parse(data.toString("utf8", ECHO === 0 ? 0 : 1 + ECHO)));
        if (checked.success) waiting.resolve(checked.data);
        else waiting.reject(checked.error);
      },
    });
    await nc.flush();
    return {
      call() {
        const input = check(PAYLOAD);
        if (!input.success) return Promise.reject(input.error);
        const slot = free.pop() ?? slots.length;
        const token = SUBJECT
          ? `${slot.toString(36)}-${(counter++).toString(36)}${randomBase64url(6)}`
          : slot.toString(36);
        const data = payload(input.data, true);
        const id = ECHO === 0 ? undefined : Buffer.from(data.buffer, data.byteOffset + 1, ECHO);
        const reply = new Promise<unknown>((resolve, reject) => {
          slots[slot] = { token, id, resolve, reject };
        });
        nc.publish(REQUEST, data, { reply: `${inbox}.${token}` });
        return reply;
      },
      ...closer(nc),
    };
  },

  subscriber: (url, onEvent) =>
    plainSubscriber(url, EVENT, (msg) => {
      if (check(body(msg.data, EVENT_HEAD)).success) onEvent();
    }),

  async publisher(url) {
    const nc = await connectPlain(url);
    return {
      publish: () => {
        const event = check(PAYLOAD);
        if (event.success) nc.publish(EVENT, payload(event.data, false));
      },
      ...closer(nc),
    };
  },
};

main(guarded);
