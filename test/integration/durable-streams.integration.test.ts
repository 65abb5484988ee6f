import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { StreamPublishError } from "../../runtime/errors.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import { durableStreamsConformance } from "../fixtures/durable-streams-conformance.js";
import { startNats, startNatsCluster } from "../harness/nats.js";

// The same suite as the in-memory streams (test/unit/durable-streams-memory.test.ts), on a real
// nats-server with JetStream.
durableStreamsConformance("nats", async () => {
  const store = await mkdtemp(join(tmpdir(), "catga-js-"));
  const server = await startNats({ args: ["-js", "-sd", store] });
  return {
    connect: () => natsTransport({ servers: [server.url] }),
    stop: async () => {
      await server.stop();
      await rm(store, { recursive: true, force: true });
    },
  };
});

describe("durable streams on a JetStream cluster", () => {
  it("nats cluster — killing the stream leader while publishing 500 messages loses no acknowledged message", async () => {
    const store = await mkdtemp(join(tmpdir(), "catga-jsc-"));
    const cluster = await startNatsCluster(3, {
      config: (routes, clusterPort) =>
        `server_name: $NATS_SERVER_NAME\n` +
        `jetstream { store_dir: "${join(store, String(clusterPort))}" }\n` +
        `cluster {\n  name: "js"\n  listen: "127.0.0.1:${clusterPort}"\n  routes = [\n${routes.map((r) => `    "${r}"`).join("\n")}\n  ]\n}\n`,
    });
    const transport = await natsTransport({ servers: cluster.urls });
    const nc = await connect({ servers: cluster.urls });
    try {
      const ds = transport.streams();
      // JetStream needs a meta leader before the stream can be created: retry until it has one.
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await ds.ensureStream({
            name: "chaos",
            subjects: ["chaos.evt"],
            maxAgeMs: 3_600_000,
            replicas: 3,
            dedupWindowMs: 120_000,
          });
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      const jsm = await jetstreamManager(nc);
      const leaderName = (await jsm.streams.info("chaos")).cluster?.leader;
      const leader = cluster.servers.find((s) => s.serverName === leaderName);
      expect(leader).toBeDefined();

      const total = 500;
      const acked = new Map<string, number>();
      let failed = 0;
      let next = 0;
      let killed = false;
      const worker = async () => {
        while (next < total) {
          const i = next++;
          if (i === 150 && !killed) {
            killed = true;
            process.kill(-(leader?.pid as number), "SIGKILL"); // the process group: no graceful step-down
          }
          const id = `chaos-${i}`;
          try {
            const ack = await ds.publish("chaos.evt", new TextEncoder().encode(String(i)), {
              messageId: id,
              timeoutMs: 15_000,
            });
            acked.set(id, ack.seq);
          } catch (error) {
            expect(error).toBeInstanceOf(StreamPublishError);
            failed++;
          }
        }
      };
      await Promise.all(Array.from({ length: 10 }, worker));
      expect(killed).toBe(true);
      console.log(`cluster: ${acked.size} acknowledged, ${failed} failed, leader ${leaderName} killed`);
      expect(acked.size).toBeGreaterThan(0);

      const stored = new Map<string, number>();
      for (let from = 1; ; ) {
        const batch = await ds.read("chaos", { fromSeq: from, limit: 100 });
        if (batch.length === 0) break;
        for (const m of batch) stored.set(m.headers["Nats-Msg-Id"] as string, m.seq);
        from = (batch.at(-1)?.seq ?? from) + 1;
      }
      const missing = [...acked.keys()].filter((id) => !stored.has(id));
      expect(missing).toEqual([]);
      for (const [id, seq] of acked) expect(stored.get(id)).toBe(seq);
      // Each message id stored once: retries across the election were deduplicated.
      expect(stored.size).toBe((await ds.streamState("chaos"))?.messages);
    } finally {
      await transport.close();
      await nc.close();
      await cluster.stop();
      await rm(store, { recursive: true, force: true });
    }
  }, 120_000);
});
