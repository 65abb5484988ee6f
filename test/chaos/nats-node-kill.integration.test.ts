import { afterAll, describe, expect, it } from "vitest";
import { createBus } from "../../runtime/bus.js";
import { startHost } from "../../runtime/host.js";
import { sendRequest } from "../../runtime/messaging.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import { conformanceWiring, echoDefinition, newProbe, specs } from "../fixtures/conformance.js";
import { type NatsCluster, startNatsCluster } from "../harness/nats.js";

/**
 * A NATS node dies under load. The client and one instance were connected only to that node (they
 * were given its URL alone and learned the others from the cluster), so they must reconnect to a
 * surviving node; requests must succeed again within a few seconds. The gap is printed.
 */
const wiring = conformanceWiring();
const s = specs(wiring);

describe("chaos — one node of a 3-node NATS cluster killed under load", () => {
  let cluster: NatsCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it("chaos — clients and instances reconnect to the other nodes and requests succeed again", async () => {
    cluster = await startNatsCluster(3);
    const hosts = await Promise.all(
      cluster.urls.map(async (url, i) =>
        startHost({
          wiring,
          service: "echo",
          definition: echoDefinition(wiring, newProbe()),
          transport: await natsTransport({ servers: [url] }),
          instanceId: `echo-${i}`,
        }),
      ),
    );
    const bus = createBus(await natsTransport({ servers: [cluster.urls[0]!] }));
    // Give every connection time to learn the other servers from the cluster's INFO gossip.
    await new Promise((r) => setTimeout(r, 500));
    const successes: number[] = [];
    const failures: unknown[] = [];
    let stop = false;
    let killedAt = 0;
    const worker = async () => {
      while (!stop) {
        try {
          await sendRequest(bus, s.Echo, { text: "x", delayMs: 1 }, { timeoutMs: 3000 });
          successes.push(Date.now());
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const workers = Array.from({ length: 20 }, worker);
    await new Promise((r) => setTimeout(r, 1000));
    killedAt = Date.now();
    await cluster.servers[0]!.stop();
    await new Promise((r) => setTimeout(r, 5000));
    stop = true;
    await Promise.all(workers);
    const before = successes.filter((t) => t < killedAt).length;
    const after = successes.filter((t) => t >= killedAt);
    const firstAfterGap = after.length > 0 ? Math.max(0, after[0]! - killedAt) : Number.POSITIVE_INFINITY;
    let gap = 0;
    for (let i = 1; i < after.length; i++) gap = Math.max(gap, after[i]! - after[i - 1]!);
    const recoveredAt = after.find((t, i) => i > 0 && t - after[i - 1]! === gap) ?? after[0];
    console.log(
      `nats node kill: ${before} ok before, ${after.length} ok after, ${failures.length} failed; ` +
        `longest pause without a reply ${Math.max(gap, firstAfterGap)} ms (recovered ${(recoveredAt ?? killedAt) - killedAt} ms after the kill)`,
    );
    expect(before).toBeGreaterThan(0);
    // Requests succeed again within a few seconds, and keep succeeding until the end.
    expect(after.filter((t) => t > killedAt + 4000).length).toBeGreaterThan(0);
    expect(Math.max(gap, firstAfterGap)).toBeLessThan(4000);
    await bus.close();
    await Promise.all(hosts.map((h) => h.stop({ graceMs: 1000 })));
  }, 60_000);
});
