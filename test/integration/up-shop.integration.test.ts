import { spawn } from "node:child_process";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, connectNats } from "../../runtime/bus.js";
import type { MessageBus } from "../../runtime/index.js";
import type { LocalState } from "../../tooling/local/state.js";
import { leaseHolders, type StatusReport } from "../../tooling/local/status.js";
import { tempDir, waitFor } from "../harness/_process.js";
import { killCatgaClis, runCatgaCli, statusProbe } from "../harness/catga.js";
import { running, shopProject } from "../harness/shop-up.js";

/**
 * `catga up` on the shop example itself (examples/shop/shop.catga and its handler modules
 * examples/shop/services/*.ts) with real servers: 3 NATS nodes, Redis with sentinels, 15 instances
 * as their own processes, the shop's data in Redis. Then status, traffic through the generated
 * client, a crash of the coordinator's leader, `scale order=7` and `down`, as the README walks it.
 *
 * The example runs where a user would run it, in a project folder of its own: the test copies
 * shop.catga and services/ into a temp folder and runs every command there (README: "run every
 * command from this folder"), so `catga up shop.catga` builds into its out/shop (what the handlers
 * import as `../out/shop/client.js`) and keeps its state in its .catga/. Running in examples/shop
 * instead would collide with a developer's own cluster there, and with the demo test, which
 * rebuilds examples/shop/out/shop while this cluster would be loading it.
 *
 * The folder is what the example's folder is inside the repository: an ES module package (the
 * repository's package.json says `"type": "module"`; without it the handlers would load as CommonJS
 * with a second copy of the runtime, and a DomainError would no longer be recognised as one) whose
 * node_modules has `zod` (the generated schemas import it) and `catga`. That `catga` is a package
 * whose `@catga/runtime` is a symlink to runtime/index.ts: Node (for the replicas, through tsx) and
 * vitest (for the generated client in this test) both follow it to the source, so no `npm run build`
 * is needed and each process runs one copy of the runtime, the one under test.
 *
 * The CLI runs from source (`node --import tsx tooling/cli/bin-entry.ts`), so it starts `catgac`
 * and every `catga run` from source too (tooling/local/launcher.ts).
 */
const ROOT = new URL("../..", import.meta.url).pathname;
const SHOP = join(ROOT, "examples/shop");

/** The part of the generated `ShopClient` (out/shop/client.ts) this test uses. */
interface ShopClient {
  createOrder(input: {
    customerId: string;
    items: { sku: string; qty: number }[];
  }): Promise<{ orderId: string; status: string }>;
  getOrder(input: { orderId: string }): Promise<{ orderId: string; status: string } | null>;
}

const catga = (cwd: string, args: readonly string[]) => runCatgaCli(cwd, args);

/** Runs `node ARGS` in `cwd` until it exits, with no CATGA_NATS_* of this shell (the script must find its own). */
function runNode(
  cwd: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CATGA_NATS_")));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The orders of place-orders.ts: one in fifty is a samovar, above the card limit, so declined. */
function orderInput(n: number): { customerId: string; items: { sku: string; qty: number }[] } {
  const skus = ["tea", "mug", "kettle"];
  return {
    customerId: `customer-${n % 97}`,
    items: n % 50 === 7 ? [{ sku: "samovar", qty: 1 }] : [{ sku: skus[n % 3]!, qty: 1 + (n % 3) }],
  };
}
const isSamovar = (n: number) => n % 50 === 7;

describe("catga up on examples/shop with real servers", () => {
  let dir: ReturnType<typeof tempDir>;
  let bus: Bus | undefined;
  let shop: ShopClient;
  /** Every pid the state ever recorded: afterAll kills what still runs of them. */
  const pids = new Set<number>();
  let next = 0;

  function state(): LocalState {
    const s = JSON.parse(readFileSync(join(dir.path, ".catga/state.json"), "utf8")) as LocalState;
    for (const pid of [
      ...s.instances.map((i) => i.pid),
      ...s.nats.servers.map((x) => x.pid),
      ...(s.redis?.nodes.map((n) => n.pid) ?? []),
    ])
      pids.add(pid);
    return s;
  }

  const { status, statusUntil } = statusProbe((args) => catga(dir.path, args), 90_000);

  const service = (s: StatusReport, name: string) => s.services.find((x) => x.name === name)!;
  const handled = (s: StatusReport, id: string) =>
    s.services.flatMap((x) => x.instances).find((i) => i.id === id)?.handled ?? 0;

  /** Places `count` orders as place-orders.ts does (32 in flight); resolves with their ids by number. */
  async function placeOrders(count: number): Promise<Map<number, string>> {
    const first = next;
    next += count;
    const ids = new Map<number, string>();
    let n = first;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (n < first + count) {
          const mine = n++;
          ids.set(mine, (await shop.createOrder(orderInput(mine))).orderId);
        }
      }),
    );
    return ids;
  }

  /**
   * Waits until no order is pending any more (each saga ended) and returns the statuses. A saga
   * that could not even start stays pending until the sweep job cancels it (after 2 minutes, every
   * 30 s): the deadline leaves room for that on a loaded machine rather than failing on it.
   */
  async function settled(ids: Map<number, string>): Promise<Map<number, string>> {
    const statuses = new Map<number, string>();
    await waitFor(
      `the sagas of ${ids.size} orders to end`,
      async () => {
        for (const [n, orderId] of ids) {
          if (statuses.get(n) === "paid" || statuses.get(n) === "cancelled") continue;
          statuses.set(n, (await shop.getOrder({ orderId }))?.status ?? "missing");
        }
        return [...statuses.values()].every((x) => x === "paid" || x === "cancelled");
      },
      {
        timeoutMs: 200_000,
        intervalMs: 500,
        describe: () => JSON.stringify(tally(statuses)),
      },
    );
    return statuses;
  }

  function tally(statuses: Map<number, string>): Record<string, number> {
    const t: Record<string, number> = {};
    for (const [n, x] of statuses) {
      const key = `${isSamovar(n) ? "samovar" : "other"} ${x}`;
      t[key] = (t[key] ?? 0) + 1;
    }
    return t;
  }

  /**
   * What the PlaceOrder saga promises: every samovar order is declined and its stock released
   * (`cancelled`); the others are paid. On a loaded machine a ReserveStock can time out (5 s), and
   * the saga then cancels that order too, so up to one in ten of the others may end cancelled.
   */
  function expectSagaOutcomes(statuses: Map<number, string>): void {
    const t = tally(statuses);
    const samovars = [...statuses.keys()].filter(isSamovar).length;
    const others = statuses.size - samovars;
    expect(t["samovar cancelled"] ?? 0, JSON.stringify(t)).toBe(samovars);
    expect(t["other paid"] ?? 0, JSON.stringify(t)).toBeGreaterThanOrEqual(Math.ceil(others * 0.9));
    expect((t["other paid"] ?? 0) + (t["other cancelled"] ?? 0), JSON.stringify(t)).toBe(others);
  }

  beforeAll(() => {
    dir = tempDir("up-shop");
    shopProject(dir.path);
  });

  afterAll(async () => {
    await bus?.close().catch(() => {});
    killCatgaClis();
    if (existsSync(join(dir.path, ".catga/state.json"))) {
      try {
        state();
      } catch {
        // half written: the pids recorded so far are known
      }
      await catga(dir.path, ["down"]);
    }
    // Whatever `down` could not stop (or a state that never got written completely): kill it.
    for (const pid of [...pids].filter(running)) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, "SIGKILL");
        } catch {
          // gone already
        }
      }
    }
    dir.remove();
  }, 120_000);

  it("up — --detach builds the shop into out/shop, starts 3 NATS, Redis sentinel and 15 instances", async () => {
    const r = await catga(dir.path, ["up", "shop.catga", "--detach"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("shop is running");
    const s = state();
    expect(s.nats.servers).toHaveLength(3);
    expect(s.redis?.mode).toBe("sentinel");
    expect(s.redis?.nodes.map((n) => n.kind).sort()).toEqual([
      "primary",
      "replica",
      "replica",
      "sentinel",
      "sentinel",
      "sentinel",
    ]);
    const count = (name: string) => s.instances.filter((i) => i.service === name).length;
    expect({
      order: count("order"),
      inventory: count("inventory"),
      payment: count("payment"),
      notifier: count("notifier"),
      coordinator: count("coordinator"),
    }).toEqual({ order: 5, inventory: 2, payment: 2, notifier: 3, coordinator: 3 });
    expect(s.handlers.order).toBe(join(dir.path, "services/order.ts"));
    // The handler modules import the generated code from ../out/shop/: the default build folder.
    expect(s.wiring).toBe(join(dir.path, "out/shop/wiring.json"));
    const { connectShop } = (await import(pathToFileURL(join(dir.path, "out/shop/client.ts")).href)) as {
      connectShop(bus: MessageBus): ShopClient;
    };
    // NATS runs the build's nats.conf with its users: the test is a client script, user `client`.
    bus = await connectNats({
      servers: s.nats.urls,
      user: "client",
      password: s.nats.users!.client!,
      inboxPrefix: "_INBOX.shop.client",
    });
    shop = connectShop(bus);
  }, 300_000);

  it("status — --json: 5 order peers, coordinator leader + 2 standbys, 3 NATS servers with routes, sentinel Redis", async () => {
    const s = await statusUntil(
      "all 15 instances heard and a coordinator leader",
      (r) =>
        r.services.every((x) => x.instances.length === x.replicas) &&
        service(r, "coordinator").leader !== null &&
        r.services.reduce((sum, x) => sum + x.instances.length, 0) === 15,
    );
    const order = service(s, "order");
    expect(order).toMatchObject({ mode: "p2p", replicas: 5, leader: null });
    expect(order.instances.map((i) => [i.id, i.role])).toEqual(
      [0, 1, 2, 3, 4].map((n) => [`order-${n}`, "peer"]),
    );
    for (const i of order.instances) expect(i.pid).toBe(state().instances.find((x) => x.id === i.id)?.pid);
    const coordinator = service(s, "coordinator");
    expect(coordinator).toMatchObject({ mode: "leader", replicas: 3 });
    expect(coordinator.instances.filter((i) => i.role === "leader").map((i) => i.id)).toEqual([
      coordinator.leader!.instance,
    ]);
    expect(coordinator.instances.filter((i) => i.role === "standby")).toHaveLength(2);
    expect(BigInt(coordinator.leader!.fencingToken)).toBeGreaterThan(0n);
    for (const [name, replicas] of [
      ["inventory", 2],
      ["payment", 2],
      ["notifier", 3],
    ] as const) {
      expect(service(s, name).instances.map((i) => i.role)).toEqual(Array(replicas).fill("peer"));
    }
    expect(s.nats.servers).toHaveLength(3);
    expect(s.nats.servers.map((x) => x.routes)).toEqual([2, 2, 2]);
    expect(s.redis?.mode).toBe("sentinel");
    expect(s.redis?.nodes.map((n) => n.role).sort()).toEqual([
      "primary",
      "replica",
      "replica",
      "sentinel",
      "sentinel",
      "sentinel",
    ]);
    expect(s.sagas?.PlaceOrder).toEqual({
      running: 0,
      compensating: 0,
      completed: 0,
      compensated: 0,
      failed: 0,
    });
  }, 120_000);

  it("up — 300 orders through connectShop: spread over the 5 order peers, every notifier hears each, the leader's sagas pay them", async () => {
    const ids = await placeOrders(300);
    expect(new Set(ids.values()).size).toBe(300);
    const statuses = await settled(ids);
    expectSagaOutcomes(statuses);
    const s = await statusUntil("the heartbeats to count the orders", (r) =>
      service(r, "notifier").instances.every((i) => i.handled >= 300),
    );
    for (let n = 0; n < 5; n++) expect(handled(s, `order-${n}`), `order-${n}`).toBeGreaterThan(0);
    // Every saga ended (none failed: a declined charge is compensated), each order's status matches.
    const sagas = s.sagas!.PlaceOrder!;
    expect(sagas).toMatchObject({ running: 0, compensating: 0, failed: 0 });
    expect(sagas.completed).toBe([...statuses.values()].filter((x) => x === "paid").length);
    // Each declined charge is a compensated saga; an order whose saga never started is cancelled by
    // the sweep without one.
    expect(sagas.compensated).toBeGreaterThanOrEqual([...statuses.keys()].filter(isSamovar).length);
    expect(sagas.compensated).toBeLessThanOrEqual(
      [...statuses.values()].filter((x) => x === "cancelled").length,
    );
    // OrderCreated is durable: its stream holds the 300, the saga's consumer took every one, and
    // nothing was dead-lettered.
    const durable = s.durable!;
    const stream = durable.streams.find((x) => x.name === "catga_shop_OrderCreated");
    expect(stream?.messages).toBeGreaterThanOrEqual(300);
    expect(durable.consumers.find((c) => c.consumer === "coordinator-PlaceOrder")).toMatchObject({
      service: "coordinator",
      event: "OrderCreated",
      pending: 0,
      ackPending: 0,
      deadLetters: 0,
    });
    const letters = await catga(dir.path, ["dead-letters"]);
    expect(letters.code, letters.stderr).toBe(0);
    expect(letters.stdout).toBe("no dead letters\n");
  }, 300_000);

  it("kill — SIGKILL of the coordinator's leader: a standby leads with a higher fencing token and runs the sagas", async () => {
    const before = service(await status(), "coordinator").leader!;
    const pid = state().instances.find((i) => i.id === before.instance)!.pid;
    const r = await catga(dir.path, ["kill", before.instance]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`killed ${before.instance}`);
    expect(running(pid)).toBe(false);
    expect(state().instances.some((i) => i.id === before.instance)).toBe(false);
    // Orders keep coming while no coordinator leads (its 10 s lease runs out first): OrderCreated is
    // durable, so their events wait in the stream for the next leader instead of reaching nobody.
    const duringFailover = await placeOrders(100);
    // Who holds the lease right after the orders went in, straight from Redis: the dead leader (its
    // lease has not run out) or nobody. `catga status` would be too slow a witness on a loaded
    // machine: it listens for heartbeats for seconds, long enough for a standby to take over.
    const holder = (await leaseHolders(state()))?.coordinator;
    const leaderless = holder === null || holder?.owner === before.instance;
    const after = await statusUntil("a new coordinator leader", (s) => {
      const leader = service(s, "coordinator").leader;
      return leader !== null && leader.instance !== before.instance;
    });
    const coordinator = service(after, "coordinator");
    expect(BigInt(coordinator.leader!.fencingToken)).toBeGreaterThan(BigInt(before.fencingToken));
    expect(coordinator.instances.map((i) => i.id)).not.toContain(before.instance);
    expect(coordinator.instances.filter((i) => i.role === "standby")).toHaveLength(1);
    // Only the leader runs PlaceOrder: orders placed now are paid by the new one, and so are the
    // orders placed while nobody led: not one was lost.
    expectSagaOutcomes(await settled(await placeOrders(100)));
    const t = tally(await settled(duringFailover));
    const samovars = [...duringFailover.keys()].filter(isSamovar).length;
    expect(t, "orders placed during the failover").toEqual({
      "samovar cancelled": samovars,
      "other paid": duringFailover.size - samovars,
    });
    expect(leaderless, "the orders were placed while no coordinator led").toBe(true);
  }, 300_000);

  it("scale — order=7 starts order-5 and order-6, which take their share of the orders", async () => {
    const r = await catga(dir.path, ["scale", "order=7"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("started order-5, order-6");
    await statusUntil("7 order peers", (s) => service(s, "order").instances.length === 7);
    const ids = await placeOrders(350);
    const s = await statusUntil("order-5 and order-6 to report handled orders", (x) =>
      ["order-5", "order-6"].every((id) => handled(x, id) > 0),
    );
    expect(service(s, "order").replicas).toBe(7);
    expect(service(s, "order").instances.map((i) => i.role)).toEqual(Array(7).fill("peer"));
    expectSagaOutcomes(await settled(ids));
  }, 300_000);

  it("place-orders.ts — the README's client script logs in as `client` from .catga/state.json", async () => {
    cpSync(join(SHOP, "place-orders.ts"), join(dir.path, "place-orders.ts"));
    const r = await runNode(dir.path, ["--import", import.meta.resolve("tsx"), "place-orders.ts", "40"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^40 orders placed in [\d.]+ s, 0 failed\n/);
    expect(r.stdout).not.toContain("pending");
  }, 120_000);

  it("down — drains and stops every process of the shop and removes .catga/", async () => {
    const s = state();
    const all = [
      ...s.instances.map((i) => i.pid),
      ...s.nats.servers.map((x) => x.pid),
      ...s.redis!.nodes.map((n) => n.pid),
    ];
    expect(all).toHaveLength(16 + 3 + 6);
    expect(all.filter(running)).toHaveLength(all.length);
    await bus?.close();
    bus = undefined;
    const r = await catga(dir.path, ["down"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("none left");
    expect(all.filter(running)).toEqual([]);
    expect([...pids].filter(running)).toEqual([]);
    expect(existsSync(join(dir.path, ".catga"))).toBe(false);
    const again = await catga(dir.path, ["status"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("no local cluster");
  }, 120_000);
});

describe("catga up on examples/shop with a replica that cannot start", () => {
  it("up — a handler module that throws on load stops everything at once: exit 1 with the replica's log", async () => {
    const dir = tempDir("up-shop-broken");
    try {
      shopProject(dir.path);
      writeFileSync(
        join(dir.path, "services/notifier.ts"),
        'throw new Error("the notifier cannot start");\n',
      );
      const r = await catga(dir.path, ["up", "shop.catga", "--detach"]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/instance notifier-\d exited during start-up; its log/);
      expect(r.stderr).toContain("the notifier cannot start");
      // Not after the 90 s a replica that never gets ready is given.
      expect(r.stderr).not.toContain("timed out");
      // Nothing runs and no state is left, but the log the message points at is still there.
      expect(existsSync(join(dir.path, ".catga", "state.json"))).toBe(false);
      const log = /its log \(([^)]+)\)/.exec(r.stderr)?.[1];
      expect(log).toBeDefined();
      expect(readFileSync(log!, "utf8")).toContain("the notifier cannot start");
    } finally {
      dir.remove();
    }
  }, 240_000);
});
