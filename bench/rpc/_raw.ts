/**
 * The baselines of bench/rpc: the NATS client alone, doing the least a JSON request/reply needs.
 * Requests share one inbox subscription and are matched by a token in the reply subject (reused
 * once its reply has come), with no timer per request; the responder is a plain subscription in a
 * queue group that decodes and encodes JSON. Events are JSON published on a subject and decoded by plain subscriptions. No
 * validation, no deadlines enforced, no metrics: what Catga adds is measured against this.
 *
 * Two variants: `raw` sends no headers at all; `raw-headers` sends, through the client's own
 * headers object, the header Catga's wire carries (version 2: one `Catga` header with message id,
 * deadline and schema hash on requests; the same without deadline on events), and its responder
 * reads the deadline as an instance does. The difference between the two is the price of the headers themselves.
 */
import { randomUUID } from "node:crypto";
import { connect, createInbox, headers, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import type { Contender } from "./_worker.js";
import { PAYLOAD } from "./_worker.js";

const DEADLINE_MS = 5000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const closer = (nc: NatsConnection) => ({ close: () => nc.drain() });

/**
 * Catga's request or event header with a fresh id, as wire version 2 writes it (docs/runtime.md,
 * "The wire"): one `Catga` header, `2;<id>;<deadline base 36>;<schema hash>`; no traceparent
 * (Catga sends one only when there is a trace to continue). The id is 12 random bytes in
 * base64url, here from a UUID's bytes (Catga takes them from a pool of random bytes).
 */
function catgaHeaders(deadline: boolean): MsgHdrs {
  const id = Buffer.from(randomUUID().replaceAll("-", "").slice(0, 24), "hex").toString("base64url");
  const h = headers();
  h.set(
    "Catga",
    `2;${id};${deadline ? (Date.now() + DEADLINE_MS).toString(36) : ""};${deadline ? "621f0767" : "6a1a7c42"}`,
  );
  return h;
}

/** The raw baseline, without headers or with Catga's (see the file comment). */
export function rawContender(options: { headers: boolean }): Contender {
  const withHeaders = options.headers;
  // Each variant on its own subjects: both may be running at once.
  const REQUEST = withHeaders ? "bench.raw-headers.echo" : "bench.raw.echo";
  const EVENT = withHeaders ? "bench.raw-headers.tick" : "bench.raw.tick";
  return {
    async responder(url) {
      const nc = await connect({ servers: url });
      nc.subscribe(REQUEST, {
        queue: "echo",
        callback: (error, msg) => {
          if (error !== null) return;
          if (
            withHeaders &&
            !(Number.parseInt(msg.headers?.get("Catga").split(";")[2] ?? "", 36) > Date.now())
          )
            return;
          const value: unknown = JSON.parse(decoder.decode(msg.data));
          msg.respond(encoder.encode(JSON.stringify(value)));
        },
      });
      await nc.flush();
      return closer(nc);
    },

    async caller(url) {
      const nc = await connect({ servers: url });
      const inbox = createInbox();
      const pending = new Map<string, (value: unknown) => void>();
      // A token is used again once its reply has come, as Catga's transport does: nats-server's
      // subject-match cache then hits instead of missing on every reply (no reply is ever late
      // here: there are no deadlines).
      const free: string[] = [];
      let next = 0;
      nc.subscribe(`${inbox}.*`, {
        callback: (error, msg) => {
          if (error !== null) return;
          const token = msg.subject.slice(inbox.length + 1);
          const resolve = pending.get(token);
          if (resolve === undefined) return;
          pending.delete(token);
          free.push(token);
          resolve(JSON.parse(decoder.decode(msg.data)));
        },
      });
      await nc.flush();
      return {
        call() {
          const token = free.pop() ?? (next++).toString(36);
          const reply = new Promise<unknown>((resolve) => pending.set(token, resolve));
          nc.publish(REQUEST, encoder.encode(JSON.stringify(PAYLOAD)), {
            reply: `${inbox}.${token}`,
            ...(withHeaders ? { headers: catgaHeaders(true) } : {}),
          });
          return reply;
        },
        ...closer(nc),
      };
    },

    async subscriber(url, onEvent) {
      const nc = await connect({ servers: url });
      nc.subscribe(EVENT, {
        callback: (error, msg) => {
          if (error !== null) return;
          JSON.parse(decoder.decode(msg.data));
          onEvent();
        },
      });
      await nc.flush();
      return closer(nc);
    },

    async publisher(url) {
      const nc = await connect({ servers: url });
      return {
        publish: () =>
          nc.publish(
            EVENT,
            encoder.encode(JSON.stringify(PAYLOAD)),
            withHeaders ? { headers: catgaHeaders(false) } : undefined,
          ),
        ...closer(nc),
      };
    },
  };
}
