/**
 * Catga in bench/events, on its real path: the code `catgac` generated from bench/events/bench.catga
 * (written by run.ts to out/bench-events/). The publisher is `publishEvent` of the durable `Tick` on
 * a NATS bus (headers, validation, `transport.streams().publish` with the message id as
 * Nats-Msg-Id); the consumer is the service host (`startHost`) running the generated `defineSink`
 * with a synchronous handler, pulling from the durable consumer `sink` and acknowledging after
 * success. Loads the runtime as `catga/runtime` (dist/: run `npm run build` first).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { EventSpec, ServiceDefinition } from "../../runtime/index.js";
import { type Contender, main, type Payload, payload } from "./_worker.js";

type Runtime = typeof import("../../runtime/index.js");

/** What this benchmark uses of the generated code (client.ts of the bench topology). */
interface Generated {
  defineSink(definition: { events: { tick(event: Payload): void } }): ServiceDefinition;
  messages: { Tick: EventSpec<Payload> };
}

const out = process.env.CATGA_BENCH_OUT;
if (out === undefined) throw new Error("CATGA_BENCH_OUT (the folder of the generated code) is not set");
// Specifiers in variables: the type checker must not need dist/ or the generated code to exist.
const runtimeModule = "catga/runtime";
const runtime = (await import(runtimeModule)) as Runtime;
const generated = (await import(pathToFileURL(join(out, "client.ts")).href)) as Generated;
const wiring = runtime.parseWiring(JSON.parse(await readFile(join(out, "wiring.json"), "utf8")));

const connect = (url: string) => runtime.natsTransport({ servers: [url] });

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
