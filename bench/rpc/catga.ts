/**
 * Catga in bench/rpc, on its real path: the code `catgac` generated from bench/rpc/bench.catga
 * (written by run.ts to out/bench-rpc/), its typed client on a NATS bus for the caller and the
 * publisher, and its definers run by the service host for the responder and the subscribers. Both
 * the generated code and this file load the runtime as `catga/runtime` (the package's own export,
 * i.e. dist/: run `npm run build` first), so they share one copy of it.
 */
import type { ClientOptions, EventSpec, MessageBus, ServiceDefinition } from "../../runtime/index.js";
import { loadGenerated } from "../_shared/generated.js";
import { type Contender, main, PAYLOAD } from "./_worker.js";

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

const { runtime, generated, wiring, connect } = await loadGenerated<Generated>();

/**
 * The wire version the caller, the publisher and the hosts write: the runtime's default, or the one
 * `CATGA_BENCH_WIRE` names (`CATGA_BENCH_WIRE=4 npx tsx bench/rpc/run.ts …` measures version 4's
 * binary envelope against raw in the same run).
 */
const WIRE = process.env.CATGA_BENCH_WIRE;
const wire = WIRE === undefined || WIRE === "" ? {} : { wireVersion: Number(WIRE) as 2 | 3 | 4 };

async function host(url: string, service: string, definition: ServiceDefinition) {
  const h = await runtime.startHost({ wiring, service, definition, transport: await connect(url), ...wire });
  return { close: () => h.stop({ graceMs: 1000 }) };
}

const catga: Contender = {
  responder: (url) => host(url, "echo", generated.defineEcho({ handlers: { echo: (input) => input } })),

  async caller(url) {
    const bus = runtime.createBus(await connect(url), wire);
    const client = generated.connectBench(bus);
    return { call: () => client.echo(PAYLOAD), close: () => bus.close() };
  },

  subscriber: (url, onEvent) =>
    host(url, "sink", generated.defineSink({ events: { tick: () => onEvent() } })),

  async publisher(url) {
    const bus = runtime.createBus(await connect(url), wire);
    return {
      publish: () => runtime.publishEvent(bus, generated.messages.Tick, PAYLOAD),
      close: () => bus.close(),
    };
  },
};

main(catga);
