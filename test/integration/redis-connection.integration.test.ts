import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedis } from "../../runtime/coordination/index.js";
import { waitFor } from "../harness/_process.js";
import { startRedis } from "../harness/redis.js";

/**
 * `createRedis` promises a connection that reconnects forever. ioredis can end a connection on its
 * own (its Sentinel failover detector racing a reconnect), which left an elector unable to lead
 * again; these tests make such an end by calling ioredis' own `disconnect` past our wrapper.
 */
describe("redis connection", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it("redis connection — an end the owner did not ask for is followed by a reconnect", async () => {
    const client = createRedis(
      { mode: "standalone", url: redis.url },
      { minBackoffMs: 20, maxBackoffMs: 100 },
    );
    try {
      await waitFor("ready", async () => client.status === "ready");
      // What ioredis does internally when it gives up: the prototype method, not the owner's.
      Redis.prototype.disconnect.call(client);
      await waitFor("the client to end", async () => client.status === "end", { intervalMs: 1 });
      await waitFor("the client to come back", async () => client.status === "ready", { timeoutMs: 5000 });
      expect(await (client as Redis).ping()).toBe("PONG");
    } finally {
      client.disconnect();
    }
  });

  it("redis connection — disconnect() and quit() by the owner stay closed", async () => {
    for (const close of [(c: Redis) => c.disconnect(), (c: Redis) => void c.quit()]) {
      const client = createRedis(
        { mode: "standalone", url: redis.url },
        { minBackoffMs: 20, maxBackoffMs: 100 },
      ) as Redis;
      await waitFor("ready", async () => client.status === "ready");
      close(client);
      await waitFor("the client to end", async () => client.status === "end");
      // Several backoff periods: a revived client would be connecting or ready by now.
      await new Promise((r) => setTimeout(r, 400));
      expect(client.status).toBe("end");
    }
  });
});
