import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../runtime/bus.js";
import { type Host, startHost } from "../../runtime/host.js";
import { publishEvent } from "../../runtime/messaging.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import type { Transport } from "../../runtime/transport/types.js";
import { durableDefinitions, durableMessages, durableWiring, Outcomes } from "../fixtures/durable.js";
import { durableEventsConformance } from "../fixtures/durable-events-conformance.js";
import { waitFor } from "../harness/_process.js";
import { startJetStreamCluster } from "../harness/jetstream.js";
import type { NatsCluster } from "../harness/nats.js";

/**
 * Durable events on a real 3-node NATS cluster with JetStream (stream replicas 3), through service
 * hosts in this process: the conformance suite shared with the in-memory hub
 * (test/fixtures/durable-events-conformance.ts), then what only a cluster can show: broadcast
 * consumers hear every event across the loss of their NATS server.
 */
let cluster: NatsCluster | undefined;
/** One cluster for both parts of the file (a 3-node cluster is slow to start on a small machine). */
const theCluster = async () => {
  cluster ??= await startJetStreamCluster(3);
  return cluster;
};
afterAll(async () => {
  await cluster?.stop();
});

durableEventsConformance("nats cluster", async () => {
  const c = await theCluster();
  return { connect: (name) => natsTransport({ servers: c.urls, name }), stop: async () => {} };
});

const wiring = durableWiring(3);
const m = durableMessages(wiring);
const o = new Outcomes();
const defs = durableDefinitions(wiring, o);

describe("durable events on a 3-node JetStream cluster", () => {
  let client: Bus;
  const hosts = new Map<string, Host>();

  async function start(service: string, i: number, servers: string[]): Promise<Host> {
    const id = `${service}-${i}`;
    const transport: Transport = await natsTransport({ servers, name: id });
    const host = await startHost({
      wiring,
      service,
      definition: defs[service]!,
      transport,
      instanceId: id,
      durableRedelivery: { baseMs: 200, maxMs: 1000 },
    });
    hosts.set(id, host);
    return host;
  }

  beforeAll(async () => {
    client = createBus(await natsTransport({ servers: (await theCluster()).urls, name: "client" }));
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...hosts.values()].map((h) => h.stop({ graceMs: 100 })));
    await client?.close();
  });

  it("durable — broadcast: every watcher hears every event published while it runs, across the loss of its NATS server", async () => {
    const c = await theCluster();
    const victim = c.servers[1]!;
    await start("watcher", 0, [victim.url]);
    await start("watcher", 1, [c.servers[2]!.url]);
    const sent: number[] = [];
    for (let n = 5000; n < 5300; n++) {
      if (n === 5100) await victim.stop();
      await publishEvent(client, m.Tick, { n, failTimes: 0 });
      sent.push(n);
    }
    for (const id of ["watcher-0", "watcher-1"]) {
      await waitFor(
        `${id} to hear all 300`,
        async () => (o.heard.get(id)?.filter((n) => n >= 5000).length ?? 0) >= 300,
        {
          timeoutMs: 30_000,
          describe: () => `${o.heard.get(id)?.filter((n) => n >= 5000).length ?? 0} heard`,
        },
      );
      const heard = o.heard.get(id)!.filter((n) => n >= 5000);
      expect(heard).toEqual(sent); // every one, once, in order
    }
  }, 90_000);
});
