import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../harness/_process.js";
import { launchBrowser, type TestBrowser } from "../harness/browser.js";
import { type ShopUp, shopProject, standInPicture, startShopUp } from "../harness/shop-up.js";

/**
 * The dashboard in a real browser (Debian's chromium, headless, through playwright-core) on the
 * shop run by a foreground `catga up` with real servers: the page lists 5 order instances and a
 * coordinator leader, overlays them on the topology picture, and a kill from the page (confirmed in
 * its dialog) of the coordinator's leader shows the new leader and its higher fencing token without
 * a reload; no console errors on the way.
 *
 * Heavy (15 instances and a browser on a shared 2-core machine): one `catga up`, one page.
 */
describe("dashboard — in Chromium, on the shop run by catga up", () => {
  let dir: ReturnType<typeof tempDir>;
  let up: ShopUp;
  let browser: TestBrowser | undefined;
  let page: Page;
  let url: string;

  beforeAll(async () => {
    dir = tempDir("dashboard-browser");
    shopProject(dir.path);
    up = startShopUp(dir.path);
    url = await up.dashboardUrl();
    browser = await launchBrowser();
    page = await browser.page();
  }, 360_000);

  afterAll(async () => {
    await browser?.close();
    await up?.stop();
    dir?.remove();
  }, 180_000);

  const leaderLine = () => page.locator('.service[data-service="coordinator"] .leader');

  it("dashboard — without a topology.svg, a panel per service: 5 order peers, a coordinator leader with its token", async () => {
    expect(up.output()).toMatch(/dashboard http:\/\/127\.0\.0\.1:\d+\/ \(127\.0\.0\.1 only\)/);
    // `catgac build` writes topology.svg once the graph lands; this case is the page without it.
    const svg = join(dir.path, "out/shop/topology.svg");
    if (existsSync(svg)) renameSync(svg, `${svg}.real`);
    await page.goto(url);
    await expect
      .poll(() => page.locator('.service[data-service="order"] tr.instance').count(), { timeout: 120_000 })
      .toBe(5);
    await expect
      .poll(() => leaderLine().textContent(), { timeout: 120_000 })
      .toMatch(/^leader coordinator-\d · fencing token \d+$/);
    const roles = await page
      .locator('.service[data-service="order"] tr.instance')
      .evaluateAll((rows) => rows.map((r) => [r.getAttribute("data-instance"), r.getAttribute("data-role")]));
    expect(roles).toEqual([0, 1, 2, 3, 4].map((n) => [`order-${n}`, "peer"]));
    // A standby may still be starting once the leader is on the page (CI saw two rows of three):
    // wait for all three rather than read the rows once.
    await expect
      .poll(
        () =>
          page
            .locator('.service[data-service="coordinator"] tr.instance')
            .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-role")).sort()),
        { timeout: 120_000 },
      )
      .toEqual(["leader", "standby", "standby"]);
    expect(await page.locator("#graph svg").count()).toBe(0);
    expect(await page.locator("#connection").getAttribute("data-state")).toBe("live");
    expect(await page.locator("#mode").textContent()).toContain("kill and scale act");
    // The infrastructure panels: 3 NATS servers with 2 routes each, Redis sentinel with its primary.
    await expect.poll(() => page.locator("#nats tr").count(), { timeout: 30_000 }).toBe(4);
    expect(await page.locator("#redis h2").textContent()).toBe("Redis sentinel");
    expect(await page.locator("#sagas").isHidden()).toBe(false);
    if (existsSync(`${svg}.real`)) renameSync(`${svg}.real`, svg);
  }, 300_000);

  it("dashboard — with the build's topology.svg, each service node carries its live state", async () => {
    const svg = join(dir.path, "out/shop/topology.svg");
    if (!existsSync(svg)) writeFileSync(svg, standInPicture());
    await page.reload();
    // The first element so marked: a picture may mark more than the node (a saga's box, say).
    const order = page.locator('#graph [data-service="order"]').first();
    await expect.poll(() => order.getAttribute("data-live"), { timeout: 60_000 }).toBe("ok");
    await expect
      .poll(() => order.locator(":scope > text.catga-live").textContent(), { timeout: 30_000 })
      .toMatch(/^5\/5 · /);
    await expect
      .poll(
        () => page.locator('#graph [data-service="coordinator"] > text.catga-live').first().textContent(),
        {
          timeout: 30_000,
        },
      )
      .toMatch(/★coordinator-\d #\d+$/);
  }, 120_000);

  it("dashboard — kill the leader from the page: the new leader and its higher token appear without a reload", async () => {
    const before = /^leader (coordinator-\d) · fencing token (\d+)$/.exec(
      (await leaderLine().textContent()) ?? "",
    );
    expect(before).not.toBeNull();
    const [, leader, token] = before!;
    // A mark on the window: a reload would lose it.
    await page.evaluate(() => {
      (globalThis as { mark?: number }).mark = 1;
    });
    await page.locator(`button.kill[data-instance="${leader}"]`).click();
    const dialog = page.locator("dialog#confirm");
    await expect.poll(() => dialog.isVisible()).toBe(true);
    expect(await page.locator("#confirm-text").textContent()).toContain(`Kill ${leader}?`);
    await page.locator("#confirm-ok").click();
    await expect
      .poll(() => page.locator("#notice").textContent(), { timeout: 30_000 })
      .toMatch(new RegExp(`^killed ${leader} \\(pid \\d+\\)$`));
    expect(up.state().instances.some((i) => i.id === leader)).toBe(false);
    // The lease (10 s) runs out, a standby takes over with the next token; the page shows it as it comes.
    let after: RegExpExecArray | null = null;
    await expect
      .poll(
        async () => {
          after = /^leader (coordinator-\d) · fencing token (\d+)$/.exec(
            (await leaderLine().textContent()) ?? "",
          );
          return after !== null && after[1] !== leader;
        },
        { timeout: 90_000, interval: 500 },
      )
      .toBe(true);
    expect(BigInt(after![2]!)).toBeGreaterThan(BigInt(token!));
    expect(
      await page.locator(`.service[data-service="coordinator"] tr[data-instance="${leader}"]`).count(),
    ).toBe(0);
    expect(await page.evaluate(() => (globalThis as { mark?: number }).mark)).toBe(1);
    expect(browser!.errors).toEqual([]);
  }, 180_000);

  it("dashboard — scale order to 6 from the page: order-5 starts, reports ready and shows up", async () => {
    const order = page.locator('.service[data-service="order"]');
    await order.locator(".scale input").fill("6");
    await order.locator(".scale button").click();
    expect(await page.locator("#confirm-text").textContent()).toContain(
      "Scale order from 5 to 6 instance(s)?",
    );
    await page.locator("#confirm-ok").click();
    await expect
      .poll(() => page.locator("#notice").textContent(), { timeout: 150_000 })
      .toBe("started order-5");
    expect(up.state().instances.filter((i) => i.service === "order")).toHaveLength(6);
    await expect.poll(() => order.locator("tr.instance").count(), { timeout: 30_000 }).toBe(6);
    expect(await order.locator('tr[data-instance="order-5"]').getAttribute("data-role")).toBe("peer");
    expect(browser!.errors).toEqual([]);
  }, 200_000);
});
