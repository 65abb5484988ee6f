/**
 * Catga in bench/rpc, on its real path: the code `catgac` generated from bench/rpc/bench.catga
 * (written by run.ts to out/bench-rpc/), its typed client on a NATS bus for the caller and the
 * publisher, and its definers run by the service host for the responder and the subscribers. Both
 * the generated code and this file load the runtime as `catga/runtime` (the package's own export,
 * i.e. dist/: run `npm run build` first), so they share one copy of it.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { ClientOptions, EventSpec, MessageBus, ServiceDefinition } from "../../runtime/index.js";
import { type Contender, main, PAYLOAD } from "./_worker.js";

type Runtime = typeof import("../../runtime/index.js");
type Payload = { text: string; n: number };

/** What this benchmark uses of the generated code (client.ts of the bench topology). */
interface Generated {
  connectBench(
    bus: MessageBus,
    options?: ClientOptions,
  ): { echo(input: Payload): Promise<Payload>; readonly bus: MessageBus };
  defineEcho(definition: { handlers: { echo(input: Payload): Payload } }): ServiceDefinition;
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

async function host(url: string, service: string, definition: ServiceDefinition) {
  const h = await runtime.startHost({ wiring, service, definition, transport: await connect(url) });
  return { close: () => h.stop({ graceMs: 1000 }) };
}

const catga: Contender = {
  responder: (url) => host(url, "echo", generated.defineEcho({ handlers: { echo: (input) => input } })),

  async caller(url) {
    const bus = runtime.createBus(await connect(url));
    const client = generated.connectBench(bus);
    return { call: () => client.echo(PAYLOAD), close: () => bus.close() };
  },

  subscriber: (url, onEvent) =>
    host(url, "sink", generated.defineSink({ events: { tick: () => onEvent() } })),

  async publisher(url) {
    const bus = runtime.createBus(await connect(url));
    return {
      publish: () => runtime.publishEvent(bus, generated.messages.Tick, PAYLOAD),
      close: () => bus.close(),
    };
  },
};

main(catga);
