/**
 * `npm run docs:screenshot`: runs the shop with `catga up` in a temp folder, places a few orders so
 * the counts and rates move, opens the dashboard in headless Chromium (Debian's package) and saves
 * docs/images/dashboard.png. Stops everything afterwards, whatever happened.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { connectNats } from "../runtime/bus.js";
import type { MessageBus } from "../runtime/index.js";
import { tempDir } from "../test/harness/_process.js";
import { launchBrowser } from "../test/harness/browser.js";
import { shopProject, standInPicture, startShopUp } from "../test/harness/shop-up.js";

const OUT = new URL("../docs/images/dashboard.png", import.meta.url).pathname;

interface ShopClient {
  createOrder(input: { customerId: string; items: { sku: string; qty: number }[] }): Promise<unknown>;
}

async function main(): Promise<void> {
  const dir = tempDir("dashboard-screenshot");
  shopProject(dir.path);
  const up = startShopUp(dir.path);
  const browser = await launchBrowser({ width: 1400, height: 1100 }).catch((error: unknown) => {
    throw new Error(`cannot start /usr/bin/chromium (apt-get install chromium): ${String(error)}`);
  });
  try {
    const url = await up.dashboardUrl();
    const state = up.state();
    // Until `catgac build` draws the topology, a stand-in picture shows where the overlays go.
    const svg = join(dir.path, "out/shop/topology.svg");
    if (!existsSync(svg)) writeFileSync(svg, standInPicture());
    const bus = await connectNats({
      servers: state.nats.urls,
      user: "client",
      password: state.nats.users!.client!,
      inboxPrefix: "_INBOX.shop.client",
    });
    const { connectShop } = (await import(pathToFileURL(join(dir.path, "out/shop/client.ts")).href)) as {
      connectShop(bus: MessageBus): ShopClient;
    };
    const shop = connectShop(bus);
    for (let n = 0; n < 60; n++) {
      await shop.createOrder({
        customerId: `customer-${n}`,
        items: [{ sku: n % 2 ? "tea" : "mug", qty: 1 }],
      });
    }
    const page = await browser.page();
    await page.goto(url);
    await page
      .locator('.service[data-service="coordinator"] .leader')
      .filter({ hasText: /fencing token/ })
      .waitFor({ timeout: 120_000 });
    // Traffic while the page watches, so the rates are not all zero.
    const traffic = (async () => {
      for (let n = 0; n < 40; n++) {
        await shop.createOrder({ customerId: `live-${n}`, items: [{ sku: "kettle", qty: 1 }] });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await new Promise((r) => setTimeout(r, 4500));
    await traffic;
    mkdirSync(join(OUT, ".."), { recursive: true });
    await page.screenshot({ path: OUT, fullPage: true });
    process.stdout.write(`saved ${OUT}\n`);
    if (browser.errors.length > 0) process.stderr.write(`page errors:\n${browser.errors.join("\n")}\n`);
    await bus.close();
  } finally {
    await browser.close();
    await up.stop();
    dir.remove();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`docs:screenshot: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
