/**
 * Headless Chromium for the dashboard's tests and screenshot: Debian's `chromium` package (.ci/run
 * installs it when missing), driven by playwright-core, which downloads no browser of its own.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Where Debian's package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** A browser with a fresh profile, and what its pages logged as errors. */
export interface TestBrowser {
  context: BrowserContext;
  /** A new page whose console errors and uncaught exceptions are collected in {@link errors}. */
  page(): Promise<Page>;
  errors: string[];
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Starts headless Chromium with a fresh user-data-dir and nothing that talks to the network by itself. */
export async function launchBrowser(viewport = { width: 1400, height: 1000 }): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "catga-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const errors: string[] = [];
  return {
    context,
    errors,
    async page() {
      const page = await context.newPage();
      page.on("console", (msg) => {
        if (msg.type() === "error") errors.push(`console: ${msg.text()}`);
      });
      page.on("pageerror", (error) => errors.push(`page: ${error.message}`));
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
