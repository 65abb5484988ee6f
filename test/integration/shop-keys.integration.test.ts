import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { emitAll } from "../../compiler/emit/index.js";
import {
  type MemoryTopology,
  type MessageBus,
  parseWiring,
  type ServiceDefinition,
  startMemoryTopology,
} from "../../runtime/index.js";
import { waitFor } from "../harness/_process.js";

/**
 * The shop example keeps each service's data under that service's own Redis hash tag
 * (`{catga:shop:<service>}`), so under one Redis ACL user per service (issue 13) no service gets
 * `NOPERM`: facts cross services only in messages. This runs the whole shop in memory (every
 * replica, the sagas, declined charges and their compensations, the sweep) with the store wrapped
 * per service so that every key each service touches is recorded, and checks each key against the
 * service that touched it.
 *
 * The example runs from a copy: its handler modules (examples/shop/services/*.ts) and the code
 * `catgac build` generates for shop.catga, in a git-ignored folder under examples/shop/out/ (so
 * `zod` resolves from the repository), and never the demo's own out/shop, which the demo test
 * rebuilds.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SHOP = join(ROOT, "examples/shop");

type StoreModule = typeof import("../../examples/shop/services/_store.js");
/**
 * What this test reads of services/_catalog.ts, written out: the catalog imports the generated
 * client (examples/shop/out, built by this test), which a clean checkout's type-check does not have.
 */
interface CatalogModule {
  keyTag(service: string): string;
  keys: {
    order: { order(orderId: string): string; pending: string };
    inventory: { stock(sku: string): string };
  };
}
type Kv = import("../../examples/shop/services/_store.js").Kv;

/** The part of the generated `ShopClient` this test uses. */
interface ShopClient {
  createOrder(input: {
    customerId: string;
    items: { sku: string; qty: number }[];
  }): Promise<{ orderId: string }>;
  getOrder(input: { orderId: string }): Promise<{ status: string } | null>;
}

/** A Kv that records, for `service`, every key it is asked for (test code around the real store). */
function recording(service: string, kv: Kv, touched: Map<string, Set<string>>): Kv {
  const seen = touched.get(service) ?? new Set<string>();
  touched.set(service, seen);
  const at = <T>(key: string, result: T): T => {
    seen.add(key);
    return result;
  };
  return {
    kind: kv.kind,
    get: (key) => at(key, kv.get(key)),
    set: (key, value) => at(key, kv.set(key, value)),
    setIfAbsent: (key, value) => at(key, kv.setIfAbsent(key, value)),
    compareAndSet: (key, expected, value) => at(key, kv.compareAndSet(key, expected, value)),
    incrBy: (key, by) => at(key, kv.incrBy(key, by)),
    zadd: (key, score, member) => at(key, kv.zadd(key, score, member)),
    zrem: (key, member) => at(key, kv.zrem(key, member)),
    zrangeUpTo: (key, max, limit) => at(key, kv.zrangeUpTo(key, max, limit)),
    close: () => kv.close(),
  };
}

/**
 * Every recorded key outside its service's own tag, as `service: key`. The tag is spelled out as the
 * emitted ACL grants it (`~{catga:shop:<service>}*`), not taken from the shop's own catalog.
 */
function outsideOwnTag(touched: Map<string, Set<string>>): string[] {
  const wrong: string[] = [];
  for (const [service, keys] of touched) {
    for (const key of keys) if (!key.startsWith(`{catga:shop:${service}}`)) wrong.push(`${service}: ${key}`);
  }
  return wrong;
}

describe("shop example: each service's data under its own keys", () => {
  const dir = join(SHOP, "out", `keys-test-${process.pid}-${Date.now()}`);
  const touched = new Map<string, Set<string>>();
  let topology: MemoryTopology | undefined;
  let storeModule: StoreModule;
  let catalog: CatalogModule;
  let base: Kv;
  let shop: ShopClient;

  beforeAll(async () => {
    const source = readFileSync(join(SHOP, "shop.catga"), "utf8");
    const { value: model, diagnostics } = checkSource(source, "shop.catga");
    expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    for (const f of emitAll(model!, { sourceName: "shop.catga" })) {
      const path = join(dir, "out/shop", f.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.content);
    }
    cpSync(join(SHOP, "services"), join(dir, "services"), { recursive: true });
    const load = (path: string) => import(pathToFileURL(join(dir, path)).href);
    storeModule = (await load("services/_store.ts")) as StoreModule;
    catalog = (await load("services/_catalog.ts")) as unknown as CatalogModule;
    base = storeModule.memoryKv();
    storeModule.useStore(base, (service, kv) => recording(service, kv, touched));
    const wiring = parseWiring(JSON.parse(readFileSync(join(dir, "out/shop/wiring.json"), "utf8")));
    // The sweep every 200 ms instead of every 30 s, so it runs within the test.
    for (const schedule of wiring.services.coordinator!.schedules) {
      (schedule as { intervalMs: number }).intervalMs = 200;
    }
    const definitions: Record<string, ServiceDefinition> = {};
    for (const [service, ws] of Object.entries(wiring.services)) {
      definitions[service] = ((await load(ws.handler)) as { default: ServiceDefinition }).default;
    }
    topology = await startMemoryTopology({ wiring, definitions });
    const { connectShop } = (await load("out/shop/client.ts")) as {
      connectShop(bus: MessageBus): ShopClient;
    };
    shop = connectShop(topology.bus());
  }, 60_000);

  afterAll(async () => {
    await topology?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shop keys — orders, sagas, declined charges and the sweep touch only the own tag of each service", async () => {
    const orders = await Promise.all(
      Array.from({ length: 40 }, (_, n) =>
        shop.createOrder({
          customerId: `c${n}`,
          items: n % 10 === 0 ? [{ sku: "samovar", qty: 1 }] : [{ sku: "mug", qty: 1 + (n % 3) }],
        }),
      ),
    );
    const statuses = async () =>
      Promise.all(orders.map(async (o) => (await shop.getOrder({ orderId: o.orderId }))?.status));
    await waitFor("every saga to end", async () => (await statuses()).every((s) => s !== "pending"), {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    const final = await statuses();
    expect(final.filter((s) => s === "cancelled")).toHaveLength(4); // the samovars: declined
    expect(final.filter((s) => s === "paid")).toHaveLength(36);

    // An order pending since long ago (its saga never ran): the coordinator's sweep has the order
    // service cancel it.
    const stale = {
      orderId: "stale-1",
      customerId: "c-stale",
      items: [{ sku: "tea", qty: 1 }],
      total: 4.5,
      status: "pending",
      createdAt: 1,
      saga: null,
    };
    await base.set(catalog.keys.order.order(stale.orderId), JSON.stringify(stale));
    await base.zadd(catalog.keys.order.pending, stale.createdAt, stale.orderId);
    await waitFor(
      "the sweep to cancel the stale order",
      async () => (await shop.getOrder({ orderId: stale.orderId }))?.status === "cancelled",
      { timeoutMs: 10_000, intervalMs: 50 },
    );

    // Every service with data touched some, and only under its own tag; the others touched none.
    expect([...touched.keys()].sort()).toEqual(["inventory", "order", "payment"]);
    for (const [service, keys] of touched) expect(keys.size, service).toBeGreaterThan(0);
    expect(outsideOwnTag(touched)).toEqual([]);
    // The tags are what the per-service Redis users are limited to: `~{catga:shop:<service>}*`.
    expect(catalog.keyTag("inventory")).toBe("{catga:shop:inventory}");
  }, 60_000);

  it("shop keys — the check fails for a service that reads another's key", async () => {
    const elsewhere = new Map<string, Set<string>>();
    const inventory = recording("inventory", base, elsewhere);
    await inventory.get(catalog.keys.order.order("any"));
    await inventory.get(catalog.keys.inventory.stock("mug"));
    expect(outsideOwnTag(elsewhere)).toEqual([`inventory: ${catalog.keys.order.order("any")}`]);
  });
});
