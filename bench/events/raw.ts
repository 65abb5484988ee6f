/**
 * The baseline of bench/events: `@nats-io/jetstream` used directly. The publisher is
 * `js.publish(subject, json, { msgID })` (a fresh UUID per event, as the stream's dedup key; no
 * other headers); the consumer is `js.consumers.get(stream, "sink").consume()` with the client's
 * defaults, decoding each event's JSON and acknowledging it after the handler. The stream and the
 * durable consumer are created by the orchestrator with the same settings as Catga's.
 *
 * `BENCH_RAW_HEADERS=1` makes the publisher send, through the client's own headers object, the
 * header Catga's durable events carry besides Nats-Msg-Id (wire version 2: one `Catga` header
 * with the message id and the schema hash; docs/runtime.md, "The wire"): the price of that header
 * by itself, for the publisher and for nats-server.
 *
 * `BENCH_RAW_MAX_MESSAGES` sets the consumer's `max_messages` (the client's default is 100; Catga
 * pulls with 64, DURABLE_MAX_IN_FLIGHT), to tell the buffer's share of a gap from the rest.
 */
import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";
import {
  type Contender,
  main,
  type Payload,
  payload,
  RAW_CONSUMER,
  RAW_STREAM,
  RAW_SUBJECT,
} from "./_worker.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const withHeaders = process.env.BENCH_RAW_HEADERS === "1";

/** The publish options: the message id, and Catga's other headers with `BENCH_RAW_HEADERS=1`. */
function options() {
  if (!withHeaders) return { msgID: randomUUID() };
  // A 16-character id, as Catga's (12 random bytes in base64url).
  const id = Buffer.from(randomUUID().replaceAll("-", "").slice(0, 24), "hex").toString("base64url");
  const h = headers();
  h.set("Catga", `2;${id};;73434456`);
  return { msgID: id, headers: h };
}

const raw: Contender = {
  async publisher(url) {
    const nc = await connect({ servers: url });
    const js = jetstream(nc);
    return {
      publish: () => js.publish(RAW_SUBJECT, encoder.encode(JSON.stringify(payload())), options()),
      close: () => nc.drain(),
    };
  },

  async consumer(url, onEvent) {
    const nc = await connect({ servers: url });
    const js = jetstream(nc);
    const consumer = await js.consumers.get(RAW_STREAM, RAW_CONSUMER);
    const messages = await consumer.consume(
      process.env.BENCH_RAW_MAX_MESSAGES ? { max_messages: Number(process.env.BENCH_RAW_MAX_MESSAGES) } : {},
    );
    void (async () => {
      for await (const m of messages) {
        onEvent(JSON.parse(decoder.decode(m.data)) as Payload);
        m.ack();
      }
    })();
    return {
      close: async () => {
        await messages.close();
        await nc.drain();
      },
    };
  },
};

main(raw);
