/**
 * The baseline of bench/rpc: the NATS client alone, doing the least a JSON request/reply needs.
 * Requests share one inbox subscription and are matched by a token in the reply subject, with no
 * timer per request; the responder is a plain subscription in a queue group that decodes and
 * encodes JSON. Events are JSON published on a subject and decoded by plain subscriptions. No
 * headers, no validation, no deadlines, no metrics: what Catga adds is measured against this.
 */
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { type Contender, main, PAYLOAD } from "./_worker.js";

const REQUEST = "bench.raw.echo";
const EVENT = "bench.raw.tick";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const closer = (nc: NatsConnection) => ({ close: () => nc.drain() });

const raw: Contender = {
  async responder(url) {
    const nc = await connect({ servers: url });
    nc.subscribe(REQUEST, {
      queue: "echo",
      callback: (error, msg) => {
        if (error !== null) return;
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
    let next = 0;
    nc.subscribe(`${inbox}.*`, {
      callback: (error, msg) => {
        if (error !== null) return;
        const token = msg.subject.slice(inbox.length + 1);
        const resolve = pending.get(token);
        if (resolve === undefined) return;
        pending.delete(token);
        resolve(JSON.parse(decoder.decode(msg.data)));
      },
    });
    await nc.flush();
    return {
      call() {
        const token = (next++).toString(36);
        const reply = new Promise<unknown>((resolve) => pending.set(token, resolve));
        nc.publish(REQUEST, encoder.encode(JSON.stringify(PAYLOAD)), { reply: `${inbox}.${token}` });
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
      publish: () => nc.publish(EVENT, encoder.encode(JSON.stringify(PAYLOAD))),
      ...closer(nc),
    };
  },
};

main(raw);
