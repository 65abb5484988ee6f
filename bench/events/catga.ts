/**
 * Catga in bench/events, on its real path: the code `catgac` generated from bench/events/bench.catga
 * (written by run.ts to out/bench-events/). The publisher is `publishEvent` of the durable `Tick` on
 * a NATS bus (headers, validation, `transport.streams().publish` with the message id as
 * Nats-Msg-Id); the consumer is the service host (`startHost`) running the generated `defineSink`
 * with a synchronous handler, pulling from the durable consumer `sink` and acknowledging after
 * success. Loads the runtime as `catga/runtime` (dist/: run `npm run build` first).
 */
import type { EventSpec, ServiceDefinition } from "../../runtime/index.js";
import { loadGenerated } from "../_shared/generated.js";
import { type Contender, main, type Payload, payload } from "./_worker.js";

/** What this benchmark uses of the generated code (client.ts of the bench topology). */
interface Generated {
  defineSink(definition: { events: { tick(event: Payload): void } }): ServiceDefinition;
  messages: { Tick: EventSpec<Payload> };
}

const { runtime, generated, wiring, connect } = await loadGenerated<Generated>();

const catga: Contender = {
  async publisher(url) {
    const bus = runtime.createBus(await connect(url));
    return {
      publish: () => runtime.publishEvent(bus, generated.messages.Tick, payload()),
      close: () => bus.close(),
    };
  },

  async consumer(url, onEvent) {
    const host = await runtime.startHost({
      wiring,
      service: "sink",
      definition: generated.defineSink({ events: { tick: (event) => onEvent(event) } }),
      transport: await connect(url),
    });
    return { close: () => host.stop({ graceMs: 1000 }) };
  },
};

main(catga);
