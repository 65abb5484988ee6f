import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, DeliverPolicy, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { StreamConfigConflictError, StreamPublishError } from "../../runtime/errors.js";
import { createLogger } from "../../runtime/log.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import { durableStreamsConformance, waitFor } from "../fixtures/durable-streams-conformance.js";
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
      let slowest = 0;
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
          const started = Date.now();
          try {
            const ack = await ds.publish("chaos.evt", new TextEncoder().encode(String(i)), {
              messageId: id,
              timeoutMs: 15_000,
            });
            acked.set(id, ack.seq);
            slowest = Math.max(slowest, Date.now() - started);
          } catch (error) {
            expect(error).toBeInstanceOf(StreamPublishError);
            failed++;
          }
        }
      };
      await Promise.all(Array.from({ length: 10 }, worker));
      expect(killed).toBe(true);
      console.log(
        `cluster: ${acked.size} acknowledged, ${failed} failed, leader ${leaderName} killed, slowest ack ${slowest} ms`,
      );
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

describe("durable streams across NATS failures", () => {
  it("nats — consumption and follow resume after a server restart and after the consumer is deleted and recreated", async () => {
    const store = await mkdtemp(join(tmpdir(), "catga-jsr-"));
    let server = await startNats({ args: ["-js", "-sd", store] });
    const port = server.port;
    const logs: string[] = [];
    const log = createLogger({}, { level: "info", sink: (line) => logs.push(line) });
    const transport = await natsTransport({ servers: [server.url], log });
    try {
      const ds = transport.streams();
      await ds.ensureStream({
        name: "restart",
        subjects: ["restart.evt"],
        maxAgeMs: 60_000,
        replicas: 1,
        dedupWindowMs: 10_000,
      });
      const consumer = {
        stream: "restart",
        name: "svc",
        filterSubject: "restart.evt",
        ackWaitMs: 2000,
        maxDeliver: 5,
      };
      await ds.ensureConsumer(consumer);
      const consumed: string[] = [];
      const followed: string[] = [];
      const sub = ds.consume(
        "restart",
        "svc",
        (m) => {
          consumed.push(new TextDecoder().decode(m.data));
          m.ack();
        },
        { maxInFlight: 10 },
      );
      const follow = ds.follow("restart", "restart.evt", (m) =>
        followed.push(new TextDecoder().decode(m.data)),
      );
      await new Promise((r) => setTimeout(r, 300));
      const publish = (s: string) =>
        ds.publish("restart.evt", new TextEncoder().encode(s), { messageId: s, timeoutMs: 15_000 });
      await publish("one");
      expect(await waitFor(() => consumed.length === 1 && followed.length === 1)).toBe(true);

      let at = Date.now();
      await server.stop();
      server = await startNats({ port, args: ["-js", "-sd", store] });
      await publish("two"); // retried until the restarted server has the stream again
      expect(await waitFor(() => consumed.includes("two") && followed.includes("two"), 60_000)).toBe(true);

      const restartMs = Date.now() - at;
      at = Date.now();
      const nc = await connect({ servers: server.url });
      const jsm = await jetstreamManager(nc);
      await jsm.consumers.delete("restart", "svc");
      await ds.ensureConsumer(consumer); // as a restarting instance would; starts over from the first message
      await publish("three");
      expect(await waitFor(() => consumed.includes("three") && followed.includes("three"), 60_000)).toBe(
        true,
      );
      const recreateMs = Date.now() - at;
      await nc.close();
      await sub.stop();
      await follow.stop();
      expect(followed).toEqual(["one", "two", "three"]);
      console.log(`restart: resumed in ${restartMs} ms after a restart, ${recreateMs} ms after a recreate`);
      console.log(
        `restart: consumed ${consumed.join(",")}; log: ${logs.map((l) => JSON.parse(l).msg).join(" | ")}`,
      );
    } finally {
      await transport.close();
      await server.stop();
      await rm(store, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("durable streams: what only JetStream can disagree on", () => {
  it("nats — a stream in memory storage or a consumer delivering only new messages is a conflict, never recreated", async () => {
    const store = await mkdtemp(join(tmpdir(), "catga-jsx-"));
    const server = await startNats({ args: ["-js", "-sd", store] });
    const transport = await natsTransport({ servers: [server.url] });
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "mem", subjects: ["mem.evt"], storage: StorageType.Memory });
      const ds = transport.streams();
      const config = {
        name: "mem",
        subjects: ["mem.evt"],
        maxAgeMs: 60_000,
        replicas: 1,
        dedupWindowMs: 1000,
      };
      const storage = await ds.ensureStream(config).catch((e: unknown) => e);
      expect(storage).toBeInstanceOf(StreamConfigConflictError);
      expect(storage).toMatchObject({ field: "storage", current: "memory", wanted: "file" });
      expect((storage as Error).message).toMatch(/stream 'mem' has storage "memory".*"file"/);

      await ds.ensureStream({ ...config, name: "file", subjects: ["file.evt"] });
      await jsm.consumers.add("file", {
        durable_name: "svc",
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        filter_subject: "file.evt",
      });
      const consumer = {
        stream: "file",
        name: "svc",
        filterSubject: "file.evt",
        ackWaitMs: 1000,
        maxDeliver: 3,
      };
      const policy = await ds.ensureConsumer(consumer).catch((e: unknown) => e);
      expect(policy).toBeInstanceOf(StreamConfigConflictError);
      expect(policy).toMatchObject({ field: "deliver_policy", current: "new", wanted: "all" });
      // Still the same stream and consumer: nothing was deleted to make them fit.
      expect((await jsm.streams.info("mem")).config.storage).toBe(StorageType.Memory);
      expect((await jsm.consumers.info("file", "svc")).config.deliver_policy).toBe(DeliverPolicy.New);
    } finally {
      await transport.close();
      await nc.close();
      await server.stop();
      await rm(store, { recursive: true, force: true });
    }
  });
});
