import { Cluster, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { startRedis, startRedisCluster, startRedisSentinel } from "../harness/redis.js";

/**
 * The harness itself: later integration tests (leader election, locks, sagas) rely on these being
 * real, working deployments, including a Sentinel failover.
 */
describe("redis harness", () => {
  it("redis harness — a standalone server on a free port answers", async () => {
    const redis = await startRedis();
    try {
      expect(redis.node.port).not.toBe(6379);
      const client = new Redis(redis.url);
      await client.set("k", "v");
      expect(await client.get("k")).toBe("v");
      client.disconnect();
    } finally {
      await redis.stop();
    }
    expect(redis.node.process.exited).toBe(true);
  });

  it("redis harness — sentinels promote the replica when the primary dies", async () => {
    const redis = await startRedisSentinel();
    try {
      const client = new Redis({ sentinels: [...redis.sentinelAddresses], name: redis.masterName });
      await client.set("before", "1");
      expect(await client.wait(1, 2000)).toBe(1);
      expect(await redis.currentPrimaryPort()).toBe(redis.primary.port);
      await redis.primary.process.kill();
      const replica = redis.replicas[0]!;
      const deadline = Date.now() + 20_000;
      while ((await redis.currentPrimaryPort()) !== replica.port && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(await redis.currentPrimaryPort()).toBe(replica.port);
      expect(await client.get("before")).toBe("1");
      await client.set("after", "2");
      client.disconnect();
    } finally {
      await redis.stop();
    }
  }, 60_000);

  it("redis harness — a six-node cluster serves keys across slots", async () => {
    const redis = await startRedisCluster();
    try {
      const client = new Cluster([...redis.addresses]);
      for (let i = 0; i < 50; i++) await client.set(`key-${i}`, String(i));
      expect(await client.get("key-42")).toBe("42");
      const info = String(await client.call("CLUSTER", "INFO"));
      expect(info).toContain("cluster_size:3");
      client.disconnect();
    } finally {
      await redis.stop();
    }
  }, 60_000);
});
