import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "../../runtime/bus.js";
import type { Heartbeat } from "../../runtime/host.js";
import { publishEvent } from "../../runtime/messaging.js";
import { sagaId } from "../../runtime/saga.js";
import { type Effects, sagaMessages, sagaWiring } from "../fixtures/saga.js";
import { tempDir } from "../harness/_process.js";
import { startJetStreamCluster } from "../harness/jetstream.js";
import type { NatsCluster } from "../harness/nats.js";
import { type StandaloneRedis, startRedis } from "../harness/redis.js";
import {
  type Coordinators,
  type SagaDeployment,
  type sagaRecords,
  startSagaDeployment,
  waitSagasEnded,
} from "../helpers/coordinators.js";

/**
 * The fault that made durable events necessary, and its relatives, on real servers: a 3-node NATS
 * cluster with JetStream, Redis, the coordinator as three `catga run` processes (2 s lease), each
 * connected to one NATS node. Orders (`durable event OrderPlaced`, each starting a PlaceOrder saga)
 * are published at a steady rate while the coordinator's leader is SIGKILLed, paused past its lease,
 * cut off by the loss of its NATS server, or while Redis stalls (every client paused 1.5 s). Every order must end (completed, or
 * compensated where the order asks for a refusal): no trigger lost, no step's effect applied twice.
 */
const wiring = sagaWiring({ durable: true });
const messages = sagaMessages(wiring);

describe("chaos — durable saga triggers under leader faults", () => {
  let cluster: NatsCluster;
  let redis: StandaloneRedis;
  let dir: ReturnType<typeof tempDir>;
  let client: Bus;
  let effects: Effects;
  let deployment: SagaDeployment<{ node: number }> | undefined;
  let coordinators: Coordinators<{ node: number }>;
  const spawnCoordinator = (id: string, node: number) =>
    coordinators.spawn(id, cluster.servers[node]!.url, { node });
  const waitForLeader = (other?: (b: Heartbeat) => boolean) => coordinators.waitForLeader(other);
  let record: ReturnType<typeof sagaRecords>;

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

  /** Waits until every order's saga has ended; fails with how many never started or are stuck. */
  async function expectAllEnded(orders: readonly { id: string; orderId: string; failAt: number }[]) {
    await waitSagasEnded(
      record,
      orders.map((o) => o.id),
      { timeoutMs: 90_000, intervalMs: 250 },
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
    deployment = await startSagaDeployment({
      wiring,
      dir: dir.path,
      natsUrls: cluster.urls,
      redisUrl: redis.url,
      steps: { delayMs: 5 },
      clientName: "orders",
      freshMs: 3000,
      leaderTimeoutMs: 30_000,
    });
    ({ client, effects, coordinators, record } = deployment);
    await Promise.all([spawnCoordinator("c0", 0), spawnCoordinator("c1", 1), spawnCoordinator("c2", 2)]);
    await waitForLeader();
  }, 120_000);

  afterAll(async () => {
    await deployment?.stop();
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
      coordinators.instances.get(old.instance)!.proc.signal("SIGKILL");
    });
    await expectAllEnded(orders);
    const next = await waitForLeader((b) => b.instance !== old.instance);
    expect(BigInt(next.fencingToken!)).toBeGreaterThan(BigInt(old.fencingToken!));
    await spawnCoordinator(old.instance, coordinators.instances.get(old.instance)!.node);
  }, 180_000);

  it("chaos — leader paused (SIGSTOP) past its lease while orders flow: every order ends after it resumes", async () => {
    const old = await waitForLeader();
    const proc = coordinators.instances.get(old.instance)!.proc;
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
    const server = cluster.servers[coordinators.instances.get(leader.instance)!.node]!;
    const orders = await placeDuring("node", 300, 40, async () => {
      await server.stop();
    });
    await expectAllEnded(orders);
  }, 180_000);
});
