import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import type { MessageBus } from "../../runtime/index.js";
import { waitFor } from "../harness/_process.js";
import { startRedis } from "../harness/redis.js";

/**
 * `npm run demo` in the test suite: the shop example built, run in one process, loaded with
 * orders, its leader crashed. The script itself checks every claim and exits 0 only when all held;
 * here it runs as a child process (the runtime from dist/, which `npm test` builds first, as
 * `npm run demo` does), and then the example's handler modules are type-checked against the code
 * the demo generated, and run once more with their data in a real Redis.
 */
const ROOT = new URL("../..", import.meta.url).pathname;

/** The part of the generated `ShopClient` this test uses. */
interface ShopClient {
  createOrder(input: {
    customerId: string;
    items: { sku: string; qty: number }[];
  }): Promise<{ orderId: string }>;
  getOrder(input: { orderId: string }): Promise<{ status: string } | null>;
}

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("demo", () => {
  it("demo — the shop example runs end to end and every check holds", { timeout: 180_000 }, async () => {
    const { code, output } = await run(["--import", "tsx", join(ROOT, "examples/shop/demo.ts")], 170_000);
    expect(output, output).toContain("✓ demo passed");
    expect(output).not.toContain("✗");
    for (const line of [
      "✓ all 5 order peers took a share",
      "✓ each of the 3 notifiers heard all orders",
      "✓ every saga finished as expected",
      "✓ a standby took over with a higher fencing token",
      "✓ it waited for the crashed leader's lease",
    ]) {
      expect(output).toContain(line);
    }
    expect(code, output).toBe(0);
  });

  it("demo — the shop's handler modules type-check against the generated code", {
    timeout: 120_000,
  }, async () => {
    // Runs after the demo, which generated examples/shop/out/shop.
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    const { code, output } = await run([tsc, "-p", join(ROOT, "examples/shop/tsconfig.json")], 110_000);
    expect(output).toBe("");
    expect(code).toBe(0);
  });

  it("demo — with CATGA_REDIS_URL the shop keeps orders, stock and payments in Redis", {
    timeout: 120_000,
  }, async () => {
    // The runtime as the handler modules see it ("@catga/runtime": runtime/dist/), so there is one copy.
    const runtime = (await import(
      pathToFileURL(join(ROOT, "runtime/dist/index.js")).href
    )) as typeof import("../../runtime/index.js");
    const shopDir = join(ROOT, "examples/shop");
    const redis = await startRedis();
    const previous = process.env.CATGA_REDIS_URL;
    process.env.CATGA_REDIS_URL = redis.url;
    // Loaded by path like the handler modules, so they share this module (and its store).
    const storeModule = (await import(
      pathToFileURL(join(shopDir, "services/_store.ts")).href
    )) as typeof import("../../examples/shop/services/_store.js");
    let topology: Awaited<ReturnType<typeof runtime.startMemoryTopology>> | undefined;
    const client = runtime.createRedis({ mode: "standalone", url: redis.url });
    try {
      const wiring = runtime.parseWiring(
        JSON.parse(readFileSync(join(shopDir, "out/shop/wiring.json"), "utf8")),
      );
      const definitions: Record<string, import("../../runtime/index.js").ServiceDefinition> = {};
      for (const [service, ws] of Object.entries(wiring.services)) {
        definitions[service] = (await import(pathToFileURL(join(shopDir, ws.handler)).href)).default;
      }
      topology = await runtime.startMemoryTopology({ wiring, definitions });
      // The generated client exists only once the demo has built it: not a static import.
      const { connectShop } = (await import(pathToFileURL(join(shopDir, "out/shop/client.ts")).href)) as {
        connectShop(bus: MessageBus): ShopClient;
      };
      const shop = connectShop(topology.bus());
      const orders = await Promise.all(
        Array.from({ length: 60 }, (_, n) =>
          shop.createOrder({
            customerId: `c${n}`,
            items: n % 20 === 0 ? [{ sku: "samovar", qty: 1 }] : [{ sku: "mug", qty: 2 }],
          }),
        ),
      );
      expect(storeModule.store({ service: "order" }).kind).toBe("redis");
      // SKUs are user input: the names of Object.prototype's members are not articles.
      for (const sku of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
        const refused = await shop
          .createOrder({ customerId: "c-proto", items: [{ sku, qty: 1 }] })
          .catch((e: unknown) => e);
        expect(refused, sku).toMatchObject({ code: "UNKNOWN_SKU" });
      }
      const statuses = async () =>
        Promise.all(orders.map(async (o) => (await shop.getOrder({ orderId: o.orderId }))?.status));
      await waitFor(
        "every saga to finish",
        async () => (await statuses()).every((s) => s === "paid" || s === "cancelled"),
        {
          timeoutMs: 60_000,
          intervalMs: 200,
        },
      );
      const final = await statuses();
      expect(final.filter((s) => s === "cancelled")).toHaveLength(3);
      expect(final.filter((s) => s === "paid")).toHaveLength(57);
      // Read back from Redis itself, not through the shop: each service's data under its own tag.
      const stored = JSON.parse(
        (await client.get(`{catga:shop:order}:shop:order:${orders[1]!.orderId}`)) ?? "null",
      );
      expect(stored).toMatchObject({ status: "paid", items: [{ sku: "mug", qty: 2 }] });
      expect(await client.get("{catga:shop:inventory}:shop:stock:mug")).toBe(String(1_000_000 - 57 * 2));
      expect(await client.get("{catga:shop:inventory}:shop:stock:samovar")).toBe("100");
      expect(
        JSON.parse((await client.get(`{catga:shop:payment}:shop:payment:${orders[1]!.orderId}`)) ?? "null"),
      ).toMatchObject({
        paymentId: `pay_${orders[1]!.orderId}`,
        status: "charged",
        amount: 24,
      });
      // A declined charge records nothing (and, refused, is not compensated).
      expect(await client.get(`{catga:shop:payment}:shop:payment:${orders[0]!.orderId}`)).toBeNull();
    } finally {
      await topology?.stop();
      await storeModule.store({ service: "order" }).close();
      client.disconnect();
      if (previous === undefined) delete process.env.CATGA_REDIS_URL;
      else process.env.CATGA_REDIS_URL = previous;
      await redis.stop();
    }
  });
  it("demo — under one Redis ACL user per service, limited to its own keys, the shop works and each is refused the others' keys", {
    timeout: 120_000,
  }, async () => {
    const runtime = (await import(
      pathToFileURL(join(ROOT, "runtime/dist/index.js")).href
    )) as typeof import("../../runtime/index.js");
    const shopDir = join(ROOT, "examples/shop");
    const redis = await startRedis();
    const storeModule = (await import(
      pathToFileURL(join(shopDir, "services/_store.ts")).href
    )) as typeof import("../../examples/shop/services/_store.js");
    const admin = runtime.createRedis({ mode: "standalone", url: redis.url });
    const port = new URL(redis.url).port;
    // What issue 13 gives each service that keeps data in Redis: its own user, its own keys only,
    // and the commands the shop's store uses (plus what a client sends on connecting).
    const services = ["order", "inventory", "payment"] as const;
    const password = (service: string) => `pw-${service}-${process.pid}`;
    const userOf = (service: string) =>
      runtime.createRedis({
        mode: "standalone",
        url: `redis://${service}:${password(service)}@127.0.0.1:${port}`,
      });
    const clients = new Map<string, ReturnType<typeof userOf>>();
    let topology: Awaited<ReturnType<typeof runtime.startMemoryTopology>> | undefined;
    try {
      await waitFor("redis", async () => (await admin.ping().catch(() => "")) === "PONG", {
        timeoutMs: 10_000,
        intervalMs: 50,
      });
      for (const service of services) {
        await admin.call(
          "ACL",
          "SETUSER",
          service,
          "reset",
          "on",
          `>${password(service)}`,
          `~{catga:shop:${service}}*`,
          "+@connection",
          "+info",
          "+get",
          "+set",
          "+eval",
          "+incrby",
          "+zadd",
          "+zrem",
          "+zrangebyscore",
        );
      }
      // No service gets the default user: the store of each is a connection as its own user.
      storeModule.useStore(storeModule.memoryKv(), (service) => {
        if (!(services as readonly string[]).includes(service)) {
          throw new Error(`service ${service} has no Redis user: it should keep no shop data`);
        }
        const client = userOf(service);
        clients.set(service, client);
        return storeModule.redisKv(client);
      });
      const wiring = runtime.parseWiring(
        JSON.parse(readFileSync(join(shopDir, "out/shop/wiring.json"), "utf8")),
      );
      const definitions: Record<string, import("../../runtime/index.js").ServiceDefinition> = {};
      for (const [service, ws] of Object.entries(wiring.services)) {
        definitions[service] = (await import(pathToFileURL(join(shopDir, ws.handler)).href)).default;
      }
      topology = await runtime.startMemoryTopology({ wiring, definitions });
      const { connectShop } = (await import(pathToFileURL(join(shopDir, "out/shop/client.ts")).href)) as {
        connectShop(bus: MessageBus): ShopClient;
      };
      const shop = connectShop(topology.bus());
      const orders = await Promise.all(
        Array.from({ length: 40 }, (_, n) =>
          shop.createOrder({
            customerId: `c${n}`,
            items: n % 20 === 0 ? [{ sku: "samovar", qty: 1 }] : [{ sku: "kettle", qty: 1 }],
          }),
        ),
      );
      const statuses = async () =>
        Promise.all(orders.map(async (o) => (await shop.getOrder({ orderId: o.orderId }))?.status));
      await waitFor(
        "every saga to finish",
        async () => (await statuses()).every((s) => s === "paid" || s === "cancelled"),
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      const final = await statuses();
      expect(final.filter((s) => s === "cancelled")).toHaveLength(2);
      expect(final.filter((s) => s === "paid")).toHaveLength(38);
      expect([...clients.keys()].sort()).toEqual(["inventory", "order", "payment"]);
      expect(await admin.get("{catga:shop:inventory}:shop:stock:kettle")).toBe(String(1_000_000 - 38));
      // The ACLs hold: each user is refused the others' keys.
      const inventory = clients.get("inventory")!;
      await expect(inventory.get(`{catga:shop:order}:shop:order:${orders[1]!.orderId}`)).rejects.toThrow(
        /NOPERM/,
      );
      await expect(clients.get("payment")!.get("{catga:shop:inventory}:shop:stock:kettle")).rejects.toThrow(
        /NOPERM/,
      );
      expect(await inventory.get("{catga:shop:inventory}:shop:stock:kettle")).toBe(String(1_000_000 - 38));
    } finally {
      await topology?.stop();
      for (const client of clients.values()) client.disconnect();
      admin.disconnect();
      await redis.stop();
    }
  });
});
