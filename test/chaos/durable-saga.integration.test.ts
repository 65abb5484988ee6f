import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeRecord, sagaKeys } from "../../runtime/_saga-store.js";
import { type Bus, connectNats } from "../../runtime/bus.js";
import { RedisCoordination } from "../../runtime/coordination/redis-coordination.js";
import { type Heartbeat, type Host, startHost } from "../../runtime/host.js";
import { publishEvent } from "../../runtime/messaging.js";
import { sagaId } from "../../runtime/saga.js";
import { type Effects, redisEffects, sagaMessages, sagaWiring, stepDefinitions } from "../fixtures/saga.js";
import { freePort, type ServerProcess, tempDir, waitFor } from "../harness/_process.js";
import { spawnCatga } from "../harness/catga.js";
import { startJetStreamCluster } from "../harness/jetstream.js";
import type { NatsCluster } from "../harness/nats.js";
import { type StandaloneRedis, startRedis } from "../harness/redis.js";

/**
 * The fault that made durable events necessary, and its relatives, on real servers: a 3-node NATS
 * cluster with JetStream, Redis, the coordinator as three `catga run` processes (2 s lease), each
 * connected to one NATS node. Orders (`durable event OrderPlaced`, each starting a PlaceOrder saga)
 * are published at a steady rate while the coordinator's leader is SIGKILLed, paused past its lease,
 * cut off by the loss of its NATS server, or while Redis stalls (every client paused 1.5 s). Every order must end (completed, or
 * compensated where the order asks for a refusal): no trigger lost, no step's effect applied twice.
 */
const ROOT = new URL("../..", import.meta.url).pathname;
const wiring = sagaWiring({ durable: true });
const messages = sagaMessages(wiring);
const tag = wiring.services.coordinator!.leader!.redisHashTag;
const FINAL = ["completed", "compensated", "failed"];

describe("chaos — durable saga triggers under leader faults", () => {
  let cluster: NatsCluster;
  let redis: StandaloneRedis;
  let dir: ReturnType<typeof tempDir>;
  let client: Bus;
  let plain: Redis;
  let store: Redis;
  let coordination: RedisCoordination;
  let effects: Effects;
  const stepHosts: Host[] = [];
  const beats = new Map<string, Heartbeat & { seen: number }>();
  const instances = new Map<string, { proc: ServerProcess; node: number }>();

  async function spawnCoordinator(id: string, node: number) {
    const port = await freePort();
    const proc = spawnCatga(["run", "--service", "coordinator"], {
      CATGA_WIRING: join(dir.path, "wiring.json"),
      CATGA_HANDLERS: join(ROOT, "test/fixtures/saga.ts"),
      CATGA_NATS_URLS: cluster.servers[node]!.url,
      CATGA_REDIS_URL: redis.url,
      CATGA_INSTANCE_ID: id,
      CATGA_HEALTH_PORT: String(port),
    });
    instances.set(id, { proc, node });
    await waitFor(`${id} to be ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 100,
      describe: () => proc.output(),
    });
  }

  const alive = () => [...instances.entries()].filter(([, i]) => !i.proc.exited).map(([id]) => id);
  async function waitForLeader(other: (b: Heartbeat) => boolean = () => true) {
    let found: (Heartbeat & { seen: number }) | undefined;
    await waitFor(
      "a leader",
      async () => {
        found = [...beats.values()].find(
          (b) =>
            alive().includes(b.instance) && b.role === "leader" && Date.now() - b.seen < 3000 && other(b),
        );
        return found !== undefined;
      },
      { timeoutMs: 30_000, intervalMs: 5 },
    );
    return found!;
  }

  /**
   * Publishes `count` orders at `perSecond` (every tenth asks the charge to be refused, so some
   * sagas compensate) and runs `fault` once a third of them are out.
   */
  async function placeDuring(prefix: string, count: number, perSecond: number, fault: () => Promise<void>) {
    const orders = Array.from({ length: count }, (_, i) => ({
      orderId: `${prefix}${i}`,
      messageId: `${prefix}-m${i}`,
      failAt: i % 10 === 0 ? 1 : -1,
    }));
    const started = Date.now();
    let faulted: Promise<void> | undefined;
    for (const [i, order] of orders.entries()) {
      if (i === Math.floor(count / 3)) faulted = fault();
      const due = started + (i * 1000) / perSecond;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      await publishEvent(
        client,
        messages.OrderPlaced,
        { orderId: order.orderId, failAt: order.failAt, failUndo: -1 },
        { messageId: order.messageId },
      );
    }
    await faulted;
    return orders.map((o) => ({ ...o, id: sagaId("PlaceOrder", o.messageId) }));
  }

  const record = async (id: string) => decodeRecord(id, await coordination.hgetall(tag, sagaKeys.record(id)));

  /** Waits until every order's saga has ended; fails with how many never started or are stuck. */
  async function expectAllEnded(orders: readonly { id: string; orderId: string; failAt: number }[]) {
    let missing = 0;
    let unfinished = 0;
    await waitFor(
      `${orders.length} sagas to end`,
      async () => {
        const records = await Promise.all(orders.map((o) => record(o.id)));
        missing = records.filter((r) => r === undefined).length;
        unfinished = records.filter((r) => r !== undefined && !FINAL.includes(r.status)).length;
        return missing === 0 && unfinished === 0;
      },
      {
        timeoutMs: 90_000,
        intervalMs: 250,
        describe: () => `${missing} never started, ${unfinished} unfinished`,
      },
    );
    const records = await Promise.all(orders.map((o) => record(o.id)));
    for (const [i, o] of orders.entries()) {
      expect(records[i]!.status).toBe(o.failAt === 1 ? "compensated" : "completed");
    }
    const counts = await effects.counts();
    const twice = [...counts.entries()].filter(
      ([k, n]) => orders.some((o) => k.startsWith(`${o.orderId}:`)) && n !== 1,
    );
    expect(twice).toEqual([]);
    const charged = orders.filter((o) => counts.get(`${o.orderId}:Charge`) === 1).length;
    expect(charged).toBe(orders.filter((o) => o.failAt !== 1).length);
  }

  beforeAll(async () => {
    cluster = await startJetStreamCluster(3);
    redis = await startRedis();
    dir = tempDir("durable-saga");
    writeFileSync(join(dir.path, "wiring.json"), JSON.stringify(wiring));
    plain = new Redis(redis.url);
    store = new Redis(redis.url);
    coordination = new RedisCoordination(store);
    effects = redisEffects(plain, "effects");
    client = await connectNats({ servers: cluster.urls, name: "orders" });
    client.transport.subscribe("sagademo._catga.heartbeat.>", {}, (msg) => {
      const beat = JSON.parse(new TextDecoder().decode(msg.data)) as Heartbeat;
      beats.set(beat.instance, { ...beat, seen: Date.now() });
    });
    for (const [service, definition] of Object.entries(stepDefinitions(wiring, effects, { delayMs: 5 }))) {
      for (let i = 0; i < 2; i++) {
        const bus = await connectNats({ servers: cluster.urls });
        stepHosts.push(await startHost({ wiring, service, definition, transport: bus.transport }));
      }
    }
    await Promise.all([spawnCoordinator("c0", 0), spawnCoordinator("c1", 1), spawnCoordinator("c2", 2)]);
    await waitForLeader();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(stepHosts.map((h) => h.stop({ graceMs: 100 })));
    await client?.close();
    await Promise.all([...instances.values()].map((i) => i.proc.kill()));
    plain?.disconnect();
    store?.disconnect();
    await redis?.stop();
    await cluster?.stop();
    dir?.remove();
  });

  it("chaos — 400 orders/s for 8 s: the leader keeps its lease (one term throughout) and every order ends", async () => {
    const leader = await waitForLeader();
    const orders = await placeDuring("load", 3200, 400, async () => {});
    await expectAllEnded(orders);
    const now = await waitForLeader();
    // Lease renewals have their own Redis connection and at most 256 sagas run at once: a leader
    // busy with its own work does not miss its renewals and step down.
    expect({ instance: now.instance, token: now.fencingToken }).toEqual({
      instance: leader.instance,
      token: leader.fencingToken,
    });
  }, 240_000);

  it("chaos — leader SIGKILLed while 40 orders/s flow: every order ends, none charged twice", async () => {
    const old = await waitForLeader();
    const orders = await placeDuring("kill", 400, 40, async () => {
      instances.get(old.instance)!.proc.signal("SIGKILL");
    });
    await expectAllEnded(orders);
    const next = await waitForLeader((b) => b.instance !== old.instance);
    expect(BigInt(next.fencingToken!)).toBeGreaterThan(BigInt(old.fencingToken!));
    await spawnCoordinator(old.instance, instances.get(old.instance)!.node);
  }, 180_000);

  it("chaos — leader paused (SIGSTOP) past its lease while orders flow: every order ends after it resumes", async () => {
    const old = await waitForLeader();
    const proc = instances.get(old.instance)!.proc;
    const orders = await placeDuring("stop", 300, 40, async () => {
      proc.signal("SIGSTOP");
      await new Promise((r) => setTimeout(r, 5000)); // more than twice the 2 s lease
      proc.signal("SIGCONT");
    });
    await expectAllEnded(orders);
  }, 180_000);

  it("chaos — Redis stalls twice (CLIENT PAUSE 1.5 s) while sagas start: every order ends", async () => {
    const admin = new Redis(redis.url);
    try {
      const orders = await placeDuring("stall", 300, 40, async () => {
        // Every client's commands wait 1.5 s: longer than the runtime's Redis command timeout, so
        // saga starts (and lease renewals) fail as in a Sentinel failover or an overloaded Redis.
        await admin.call("CLIENT", "PAUSE", "1500", "ALL");
        await new Promise((r) => setTimeout(r, 3000));
        await admin.call("CLIENT", "PAUSE", "1500", "ALL");
      });
      await expectAllEnded(orders);
    } finally {
      admin.disconnect();
    }
  }, 180_000);

  it("chaos — the leader's NATS server killed while orders flow: every order ends", async () => {
    const leader = await waitForLeader();
    const server = cluster.servers[instances.get(leader.instance)!.node]!;
    const orders = await placeDuring("node", 300, 40, async () => {
      await server.stop();
    });
    await expectAllEnded(orders);
  }, 180_000);
});
