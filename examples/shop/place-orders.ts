/**
 * Places orders on a running shop over NATS, through the generated client, and reports how their
 * sagas ended: `npx tsx place-orders.ts [COUNT]` beside a `catga up` cluster (the NATS URLs, the
 * `client` user's password and, with `--tls`, the CA come from `.catga/state.json` in this folder
 * or a parent), or with `CATGA_NATS_URLS`, `CATGA_NATS_PASSWORD` (the `client` user's) and, for
 * NATS on TLS, `CATGA_NATS_TLS_CA` for any other (compose: the published port as `localhost`).
 */
import { ConfigError } from "@catga/runtime";
import { connectShop } from "./out/shop/client.js";

const count = Number(process.argv[2] ?? 1000);
let shop: Awaited<ReturnType<typeof connectShop>>;
try {
  // No bus of our own: the generated client connects the way every Catga script does.
  shop = await connectShop();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`place-orders: ${error.message}\n`);
  process.exit(2);
}
const skus = ["tea", "mug", "kettle"];
const ids: string[] = [];
let failed = 0;
let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (next < count) {
      const n = next++;
      // One in fifty is a samovar, above the card limit: declined, its stock released.
      const items = n % 50 === 7 ? [{ sku: "samovar", qty: 1 }] : [{ sku: skus[n % 3]!, qty: 1 + (n % 3) }];
      try {
        ids.push((await shop.createOrder({ customerId: `customer-${n % 97}`, items })).orderId);
      } catch (error) {
        failed++;
        if (failed === 1) process.stderr.write(`place-orders: ${String(error)}\n`);
      }
    }
  }),
);
const secs = (performance.now() - started) / 1000;
process.stdout.write(`${ids.length} orders placed in ${secs.toFixed(1)} s, ${failed} failed\n`);

// The sagas run on the coordinator's leader; wait (up to 30 s) until every order is paid or cancelled.
const deadline = Date.now() + 30_000;
let tally: Record<string, number> = {};
do {
  await new Promise((r) => setTimeout(r, 500));
  tally = {};
  for (const orderId of ids) {
    const status = (await shop.getOrder({ orderId }))?.status ?? "missing";
    tally[status] = (tally[status] ?? 0) + 1;
  }
} while ((tally.pending ?? 0) > 0 && Date.now() < deadline);
process.stdout.write(
  `${Object.entries(tally)
    .map(([status, n]) => `${n} ${status}`)
    .join(", ")}\n`,
);
await shop.bus.close();
process.exit(failed === 0 && (tally.pending ?? 0) === 0 ? 0 : 1);
