/**
 * `npm run demo`: the shop topology end to end in one process, no servers. It builds
 * `shop.catga`, starts every replica of every service on the in-memory transport and coordination
 * (what `catga up --memory` runs), sends a few thousand orders through the generated client, and
 * checks what the topology promises:
 *
 * - the 5 order peers share the requests (one queue group);
 * - each of the 3 notifiers hears every OrderCreated (broadcast);
 * - the coordinator's leader runs a PlaceOrder saga per order: paid orders hold their stock and
 *   their one charge, orders whose charge is declined get their stock back (compensation);
 * - when the leader crashes while orders keep coming, a standby takes over once the lease has run
 *   out, with a higher fencing token; the orders placed while no coordinator led are not lost
 *   (OrderCreated is a durable event: it waits in its stream for the next leader), and every order
 *   ends paid or cancelled, none left pending.
 *
 * Exit 0 when every check held; 1 with the failed check otherwise. Run it from the repository
 * (`npm run demo`, which builds the runtime first) or directly: `npx tsx examples/shop/demo.ts`.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  type Heartbeat,
  type MemoryTopology,
  parseWiring,
  type ServiceDefinition,
  startMemoryTopology,
} from "@catga/runtime";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const OUT = join(HERE, "out/shop");
const ORDERS = Number(process.env.DEMO_ORDERS ?? 3000);
const AFTER_FAILOVER = 300;
/** Requests in flight at once: enough to keep 5 peers busy, few enough to keep latency low. */
const CONCURRENCY = 64;

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const say = (line = "") => process.stdout.write(`${line}\n`);
const failures: string[] = [];
function check(ok: boolean, what: string, detail = ""): void {
  say(`  ${ok ? "✓" : "✗"} ${what}${detail ? ` ${detail}` : ""}`);
  if (!ok) failures.push(what);
}
class DemoFailed extends Error {
  override name = "DemoFailed";
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline)
      throw new DemoFailed(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(20);
  }
}
const bar = (n: number, max: number) => "█".repeat(Math.max(1, Math.round((n / Math.max(1, max)) * 30)));

// 1. Build the example: the generated client, service definers and wiring land in out/shop, where
//    the handler modules (services/*.ts) import them from.
say("▶ catgac build examples/shop/shop.catga");
const build = spawnSync(
  process.execPath,
  [join(ROOT, "bin/catgac.js"), "build", join(HERE, "shop.catga"), "--out", relative(process.cwd(), OUT)],
  { encoding: "utf8" },
);
if (build.status !== 0) {
  process.stderr.write(build.stdout + build.stderr);
  process.stderr.write("demo: the build failed (is the compiler built? run npm run build)\n");
  process.exit(1);
}
say(`  ${build.stdout.trim().split("\n").at(-1)}`);

// 2. Load the handler modules where the wiring says they are (relative to shop.catga), as
//    `catga up` does; the shop keeps its data in this process (no CATGA_REDIS_URL needed).
const wiring = parseWiring(JSON.parse(readFileSync(join(OUT, "wiring.json"), "utf8")), "wiring.json");
const { memoryKv, useStore } = await import("./services/_store.js");
// The whole shop's data, every service's keys: the demo reads them all to check the outcome.
const kv = memoryKv();
useStore(kv);
const { CATALOG, keys } = await import("./services/_catalog.js");
const { readOrder } = await import("./services/_orders.js");
const { notificationsSent } = await import("./services/notifier.js");
const { connectShop } = await import("./out/shop/client.js");
const definitions: Record<string, ServiceDefinition> = {};
for (const [service, ws] of Object.entries(wiring.services)) {
  const module = (await import(pathToFileURL(join(HERE, ws.handler)).href)) as { default: ServiceDefinition };
  definitions[service] = module.default;
}

let topology: MemoryTopology | undefined;
try {
  // 3. Start every replica: order ×5, inventory ×2, payment ×2, notifier ×3, coordinator ×3.
  say();
  say("▶ catga up examples/shop/shop.catga --memory");
  topology = await startMemoryTopology({ wiring, definitions });
  const t = topology;
  const leaderOf = (service: string): Heartbeat | undefined => {
    const alive = new Set(t.instances().map((i) => i.id));
    return t.heartbeats().find((b) => b.service === service && b.role === "leader" && alive.has(b.instance));
  };
  await until("a coordinator leader", () => leaderOf("coordinator") !== undefined, 10_000);
  for (const [service, ws] of Object.entries(wiring.services)) {
    const list = t
      .instances()
      .filter((i) => i.service === service)
      .map((i) => (i.role === "peer" ? i.id : `${i.id} (${i.role})`));
    say(`  ${service.padEnd(12)} ${ws.mode.padEnd(7)} ${list.join("  ")}`);
  }
  const firstLeader = leaderOf("coordinator")!;
  say(`  coordinator leader: ${firstLeader.instance}, fencing token ${firstLeader.fencingToken}`);

  // 4. A few thousand orders through the generated client. One order in fifty is a samovar, dearer
  //    than the card limit: its charge is declined and the saga gives its stock back.
  const shop = connectShop(t.bus());
  const skus = ["tea", "mug", "kettle"] as const;
  const placed: { orderId: string; items: { sku: string; qty: number }[] }[] = [];
  const errors: string[] = [];
  async function placeOrders(from: number, count: number): Promise<void> {
    let next = from;
    const worker = async () => {
      while (next < from + count) {
        const n = next++;
        const items =
          n % 50 === 7
            ? [{ sku: "samovar", qty: 1 }]
            : [
                { sku: skus[n % 3]!, qty: 1 + (n % 4) },
                { sku: skus[(n + 1) % 3]!, qty: 1 },
              ];
        try {
          const { orderId } = await shop.createOrder({ customerId: `customer-${n % 97}`, items });
          placed.push({ orderId, items });
        } catch (error) {
          errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }
  say();
  say(`▶ ${ORDERS} × createOrder through connectShop(bus)`);
  const sendStart = performance.now();
  await placeOrders(0, ORDERS);
  const sendSecs = (performance.now() - sendStart) / 1000;
  say(
    `  ${placed.length} orders accepted in ${sendSecs.toFixed(1)} s (${Math.round(placed.length / sendSecs)}/s)`,
  );
  check(
    errors.length === 0,
    "every order was accepted",
    errors.length ? `(${errors.length} failed: ${errors[0]})` : "",
  );

  // 5. How the orders spread over the 5 peers: each instance's own handled counter.
  say();
  // Each order is three requests to the order service: CreateOrder, and the saga's AcceptOrder and
  // ConfirmOrder (the sagas run meanwhile, so their share may not be complete yet).
  say("▶ requests per order instance (queue group order-service-workers)");
  const orderPeers = t.instances().filter((i) => i.service === "order");
  const perPeer = orderPeers.map((i) => i.host.counters.handled);
  for (const [k, i] of orderPeers.entries()) {
    say(`  ${i.id.padEnd(14)} ${String(perPeer[k]).padStart(5)} ${bar(perPeer[k]!, Math.max(...perPeer))}`);
  }
  const fair = perPeer.reduce((a, b) => a + b, 0) / orderPeers.length;
  check(
    orderPeers.length === 5 && perPeer.every((n) => n > fair / 2),
    "all 5 order peers took a share",
    `(${Math.min(...perPeer)}–${Math.max(...perPeer)}, fair share ${Math.round(fair)})`,
  );

  // 6. Broadcast: every notifier instance hears every OrderCreated.
  say();
  say("▶ OrderCreated per notifier instance (broadcast)");
  const notifiers = () => t.instances().filter((i) => i.service === "notifier");
  const sent = () => notificationsSent() as Record<string, number>;
  await until(
    "every notifier to notify every order",
    () => notifiers().every((i) => (sent()[i.id] ?? 0) >= placed.length),
    15_000,
  ).catch(() => {});
  for (const i of notifiers()) {
    say(
      `  ${i.id.padEnd(14)} ${String(i.host.counters.handled).padStart(5)} events, ${sent()[i.id] ?? 0} orders notified`,
    );
  }
  check(
    notifiers().length === 3 && notifiers().every((i) => sent()[i.id] === placed.length),
    "each of the 3 notifiers heard all orders",
  );

  // 7. The sagas: wait until every order is paid or cancelled.
  say();
  say(
    `▶ PlaceOrder sagas on ${firstLeader.instance} (AcceptOrder → ReserveStock → ChargePayment → ConfirmOrder)`,
  );
  const statusOf = async (orderId: string) => (await readOrder(kv, orderId))?.status ?? "missing";
  async function settled(list: typeof placed): Promise<{ paid: number; cancelled: number; pending: number }> {
    const counts = { paid: 0, cancelled: 0, pending: 0 };
    for (const o of list) {
      const s = await statusOf(o.orderId);
      if (s === "paid" || s === "cancelled") counts[s]++;
      else counts.pending++;
    }
    return counts;
  }
  async function waitForSagas(list: typeof placed, what: string): Promise<void> {
    let last = await settled(list);
    let lastProgress = Date.now();
    while (last.pending > 0) {
      await sleep(100);
      const now = await settled(list);
      if (now.pending < last.pending) lastProgress = Date.now();
      last = now;
      if (Date.now() - lastProgress > 8000) {
        throw new DemoFailed(
          last.paid + last.cancelled === 0
            ? `no PlaceOrder saga ran for ${what}: the coordinator's leader runs none (does this runtime include the saga runner?)`
            : `${last.pending} orders of ${what} stayed pending for 8 s`,
        );
      }
    }
  }
  await waitForSagas(placed, "the first orders");
  const counts = await settled(placed);
  const declined = placed.filter((o) => o.items[0]?.sku === "samovar").length;
  say(
    `  ${counts.paid} paid, ${counts.cancelled} cancelled (charge declined, stock released) at ${elapsed()}`,
  );
  check(
    counts.cancelled === declined && counts.paid === placed.length - declined,
    "every saga finished as expected",
  );
  // Through the client too: GetOrder answers from any order peer.
  const sample = placed.slice(0, 20);
  const viaClient = await Promise.all(sample.map((o) => shop.getOrder({ orderId: o.orderId })));
  check(
    viaClient.every((r, k) => r?.status === (sample[k]!.items[0]?.sku === "samovar" ? "cancelled" : "paid")),
    "getOrder reports the saga's outcome",
  );

  async function stockAddsUp(): Promise<boolean> {
    const held = new Map<string, number>();
    for (const o of placed) {
      if ((await statusOf(o.orderId)) !== "paid") continue;
      for (const item of o.items) held.set(item.sku, (held.get(item.sku) ?? 0) + item.qty);
    }
    for (const [sku, article] of Object.entries(CATALOG)) {
      const left = Number((await kv.get(keys.inventory.stock(sku))) ?? article.openingStock);
      if (left !== article.openingStock - (held.get(sku) ?? 0)) return false;
    }
    return true;
  }
  check(await stockAddsUp(), "stock adds up: paid orders hold theirs, declined ones gave theirs back");

  /** Every paid order has its one charge; a cancelled order has none, or its charge was refunded. */
  async function chargesAddUp(): Promise<boolean> {
    for (const o of placed) {
      const status = await statusOf(o.orderId);
      const text = await kv.get(keys.payment.payment(o.orderId));
      const payment = text === null ? null : (JSON.parse(text) as { status: string });
      if (status === "paid" && payment?.status !== "charged") return false;
      if (status === "cancelled" && payment !== null && payment.status !== "refunded") return false;
    }
    return true;
  }
  check(await chargesAddUp(), "charges add up: one per paid order, none kept by a cancelled one");

  // 8. Crash the coordinator's leader while orders keep coming: no release, so the standbys wait
  //    for its lease to run out, and the orders placed meanwhile reach no leader. OrderCreated is
  //    durable: their events wait in the stream, and the next leader starts their sagas.
  const leaseMs = wiring.services.coordinator!.leader!.leaseMs;
  say();
  say(
    `▶ catga kill ${firstLeader.instance} while ${AFTER_FAILOVER} more orders arrive   (a crash: its ${leaseMs / 1000} s lease is not released)`,
  );
  const before = placed.length;
  const killedAt = performance.now();
  let takeoverAt: number | undefined;
  let placedWithoutLeader = 0;
  // Orders at a steady rate over most of the lease, so many land while nobody leads.
  const perSecond = Math.max(20, Math.round((AFTER_FAILOVER * 1000) / (leaseMs * 0.8)));
  const flowing = (async () => {
    const pending: Promise<void>[] = [];
    for (let k = 0; k < AFTER_FAILOVER; k++) {
      const due = killedAt + (k * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (takeoverAt === undefined) placedWithoutLeader++;
      pending.push(placeOrders(ORDERS + k, 1));
    }
    await Promise.all(pending);
  })();
  await t.kill(firstLeader.instance);
  await until(
    "a new coordinator leader",
    () => {
      const l = leaderOf("coordinator");
      return l !== undefined && l.instance !== firstLeader.instance;
    },
    leaseMs + 10_000,
  );
  takeoverAt = performance.now();
  const takeover = (takeoverAt - killedAt) / 1000;
  const secondLeader = leaderOf("coordinator")!;
  say(
    `  ${secondLeader.instance} took over after ${takeover.toFixed(1)} s with fencing token ${secondLeader.fencingToken} (was ${firstLeader.fencingToken})`,
  );
  check(
    BigInt(secondLeader.fencingToken ?? 0) > BigInt(firstLeader.fencingToken ?? 0),
    "a standby took over with a higher fencing token",
  );
  check(
    takeover * 1000 >= leaseMs / 2,
    "it waited for the crashed leader's lease",
    `(${takeover.toFixed(1)} s ≥ ${leaseMs / 2000} s)`,
  );

  // 9. Every order ends: those placed while nobody led too.
  await flowing;
  const newer = placed.slice(before);
  say(`  ${placedWithoutLeader} of ${newer.length} orders were placed while no coordinator led`);
  await waitForSagas(newer, "the orders around the failover");
  const after = await settled(newer);
  check(
    newer.length === AFTER_FAILOVER && after.pending === 0 && placedWithoutLeader > 0,
    `${secondLeader.instance} ran the sagas of all ${AFTER_FAILOVER} orders around the crash, 0 pending`,
    `(${after.paid} paid, ${after.cancelled} cancelled)`,
  );
  check(await stockAddsUp(), "stock still adds up");
  check(await chargesAddUp(), "charges still add up");
} catch (error) {
  if (!(error instanceof DemoFailed)) throw error;
  check(false, error.message);
} finally {
  await topology?.stop();
}

say();
if (failures.length === 0) {
  say(`✓ demo passed in ${elapsed()}`);
  process.exit(0);
}
say(`✗ demo failed in ${elapsed()}: ${failures.join("; ")}`);
process.exit(1);
