/**
 * Places orders on a running shop over NATS, through the generated client, and reports how their
 * sagas ended: `npx tsx place-orders.ts [COUNT]` beside a `catga up` cluster (the NATS URLs and the
 * `client` user's password come from `.catga/state.json` in the working directory), or with
 * `CATGA_NATS_URLS` (and, for NATS with the emitted permissions, `CATGA_NATS_USER=client` and
 * `CATGA_NATS_PASSWORD`) for any other.
 */
import { readFileSync } from "node:fs";
import { connectNats } from "@catga/runtime";
import { connectShop } from "./out/shop/client.js";

const count = Number(process.argv[2] ?? 1000);
let servers = process.env.CATGA_NATS_URLS?.split(",");
let user = process.env.CATGA_NATS_USER;
let password = process.env.CATGA_NATS_PASSWORD;
if (servers === undefined) {
  try {
    // catga up runs NATS with the emitted users: a client script logs in as `client`.
    const { nats } = JSON.parse(readFileSync(".catga/state.json", "utf8")) as {
      nats: { urls: string[]; users?: Record<string, string> };
    };
    servers = nats.urls;
    if (user === undefined && nats.users?.client !== undefined) {
      user = "client";
      password = nats.users.client;
    }
  } catch {
    process.stderr.write(
      "place-orders: no .catga/state.json here (run catga up first) and no CATGA_NATS_URLS\n",
    );
    process.exit(2);
  }
}
const bus = await connectNats({
  servers,
  inboxPrefix: "_INBOX.shop.client",
  ...(user ? { user } : {}),
  ...(password ? { password } : {}),
});
const shop = connectShop(bus);
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
await bus.close();
process.exit(failed === 0 && (tally.pending ?? 0) === 0 ? 0 : 1);
