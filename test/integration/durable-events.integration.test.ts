import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../runtime/bus.js";
import { listDeadLetters, replayDeadLetter } from "../../runtime/dead-letters.js";
import { type Host, startHost } from "../../runtime/host.js";
import { publishEvent, sendRequest } from "../../runtime/messaging.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import type { Transport } from "../../runtime/transport/types.js";
import { durableDefinitions, durableMessages, durableWiring, Outcomes } from "../fixtures/durable.js";
import { waitFor } from "../harness/_process.js";
import { startJetStreamCluster } from "../harness/jetstream.js";
import type { NatsCluster } from "../harness/nats.js";

/**
 * Durable events on a real 3-node NATS cluster with JetStream (stream replicas 3), through service
 * hosts in this process: events published while every consumer is down are all handled once the
 * consumers are back; a failing handler gets the event again with backoff and sees the delivery
 * count; a poison event is dead-lettered after the maximum deliveries, listed, replayed, and the
 * consumer keeps going; a publisher that dies between its publish and its reply leaves one event;
 * broadcast consumers hear every event across the loss of their NATS server.
 */
const wiring = durableWiring(3);
const m = durableMessages(wiring);
const o = new Outcomes();
const defs = durableDefinitions(wiring, o);

describe("durable events on a 3-node JetStream cluster", () => {
  let cluster: NatsCluster;
  let client: Bus;
  const hosts = new Map<string, Host>();

  async function start(service: string, i: number, servers?: string[]): Promise<Host> {
    const id = `${service}-${i}`;
    const transport: Transport = await natsTransport({ servers: servers ?? cluster.urls, name: id });
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
  async function stop(id: string) {
    await hosts.get(id)?.stop({ graceMs: 2000 });
    hosts.delete(id);
  }
  const sinkEffects = (n: number) => o.effects.get("sink")?.get(n) ?? 0;

  beforeAll(async () => {
    cluster = await startJetStreamCluster(3);
    await start("source", 0);
    await start("source", 1);
    await start("sink", 0);
    await start("sink", 1);
    client = createBus(await natsTransport({ servers: cluster.urls, name: "client" }));
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...hosts.values()].map((h) => h.stop({ graceMs: 100 })));
    await client?.close();
    await cluster?.stop();
  });

  it("durable — every sink stopped, 1,000 events published, sinks restarted: each event handled exactly once", async () => {
    await stop("sink-0");
    await stop("sink-1");
    for (let n = 0; n < 1000; n++) await publishEvent(client, m.Tick, { n, failTimes: 0 });
    await start("sink", 0);
    await start("sink", 1);
    await waitFor("1,000 ticks handled", async () => (o.effects.get("sink")?.size ?? 0) >= 1000, {
      timeoutMs: 30_000,
      intervalMs: 100,
      describe: () => `${o.effects.get("sink")?.size ?? 0} handled`,
    });
    const handled = [...(o.effects.get("sink")?.entries() ?? [])].filter(([n]) => n < 1000);
    expect(handled.length).toBe(1000);
    expect(handled.filter(([, times]) => times !== 1)).toEqual([]);
    // Both instances took a share: the consumer is shared, as a queue group is.
    const byInstance = [...hosts.entries()]
      .filter(([id]) => id.startsWith("sink"))
      .map(([, h]) => h.counters.handled);
    expect(byInstance.every((c) => c > 0)).toBe(true);
  }, 60_000);

  it("durable — a handler failing twice gets the event again with backoff and sees delivery counts 1, 2, 3", async () => {
    const started = Date.now();
    await publishEvent(client, m.Tick, { n: 2000, failTimes: 2 });
    await waitFor("tick 2000 handled", async () => sinkEffects(2000) === 1, { timeoutMs: 20_000 });
    expect(o.deliveries.get("sink")?.get(2000)).toEqual([1, 2, 3]);
    // Two backoffs of at least half of 200 ms and 400 ms (equal jitter).
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  }, 30_000);

  it("durable — a poison event is dead-lettered after the maximum deliveries, listed, replayed; the consumer keeps going", async () => {
    const max = wiring.messages.Tick!.durable!.maxDeliver;
    await publishEvent(client, m.Tick, { n: 3000, failTimes: -1 }, { messageId: "poison-3000" });
    for (let n = 3001; n <= 3010; n++) await publishEvent(client, m.Tick, { n, failTimes: 0 });
    await waitFor("the events after the poison one handled", async () => sinkEffects(3010) === 1, {
      timeoutMs: 20_000,
    });
    const streams = client.transport.streams();
    await waitFor("the poison event dead-lettered", async () => {
      const letters = await listDeadLetters(streams, wiring, { service: "sink" });
      return letters.some((l) => l.messageId === "poison-3000");
    });
    expect(o.deliveries.get("sink")?.get(3000)?.length).toBe(max);
    const [letter] = (await listDeadLetters(streams, wiring, { service: "sink" })).filter(
      (l) => l.messageId === "poison-3000",
    );
    expect(letter).toMatchObject({ service: "sink", event: "Tick", deliveries: max });
    expect(letter!.reason).toContain("tick 3000 fails");
    for (let n = 3001; n <= 3010; n++) expect(sinkEffects(n)).toBe(1);

    // The bug is fixed; the replay reaches the sink again, as a new delivery, and succeeds.
    o.healed = true;
    await replayDeadLetter(streams, wiring, letter!.seq);
    await waitFor("the replayed event handled", async () => sinkEffects(3000) === 1);
    expect(o.deliveries.get("sink")?.get(3000)?.at(-1)).toBe(1);
    expect(await listDeadLetters(streams, wiring, { service: "sink" })).not.toContainEqual(
      expect.objectContaining({ seq: letter!.seq }),
    );
  }, 60_000);

  it("durable — a publisher that dies between its publish and its reply: the client's retry leaves one event", async () => {
    const streams = client.transport.streams();
    const before = (await streams.streamState(wiring.messages.Tick!.durable!.stream))!.messages;
    const reply = await sendRequest(
      client,
      m.Emit,
      { n: 4000, failTimes: 0, hangFirst: true },
      { timeoutMs: 3000 },
    );
    expect(reply).toBe(4000);
    expect(o.emits.get(4000)).toBe(2); // the first attempt hung after publishing; the retry answered
    const after = (await streams.streamState(wiring.messages.Tick!.durable!.stream))!.messages;
    expect(after - before).toBe(1);
    await waitFor("tick 4000 handled", async () => sinkEffects(4000) === 1);
    expect(o.deliveries.get("sink")?.get(4000)).toEqual([1]);
  }, 30_000);

  it("durable — broadcast: every watcher hears every event published while it runs, across the loss of its NATS server", async () => {
    const victim = cluster.servers[1]!;
    await start("watcher", 0, [victim.url]);
    await start("watcher", 1, [cluster.servers[2]!.url]);
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
