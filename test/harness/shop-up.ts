/**
 * The shop example run by a foreground `catga up` in a project folder of its own, as a user runs
 * it (see test/integration/up-shop.integration.test.ts for why a copy in a temp folder, with a
 * `catga` package whose runtime is the source under test): for the dashboard's browser test and
 * the docs' screenshot script. Stopping it sends Ctrl-C (SIGINT) and, should anything outlive
 * that, kills every pid the state ever recorded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LocalState } from "../../tooling/local/state.js";
import { REPO_ROOT } from "./catga.js";

const SHOP = join(REPO_ROOT, "examples/shop");
const TSX = import.meta.resolve("tsx");

/** Copies shop.catga and its handler modules into `dir`, an ES module package with zod and the runtime. */
export function shopProject(dir: string): void {
  cpSync(join(SHOP, "shop.catga"), join(dir, "shop.catga"));
  cpSync(join(SHOP, "services"), join(dir, "services"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "shop", private: true, type: "module" }));
  const modules = join(dir, "node_modules");
  mkdirSync(join(modules, "@catga/runtime"), { recursive: true });
  symlinkSync(join(REPO_ROOT, "node_modules/zod"), join(modules, "zod"));
  writeFileSync(
    join(modules, "@catga/runtime/package.json"),
    JSON.stringify({ name: "@catga/runtime", type: "module", exports: { ".": "./index.ts" } }),
  );
  symlinkSync(join(REPO_ROOT, "runtime/index.ts"), join(modules, "@catga/runtime/index.ts"));
}

/** A foreground `catga up shop.catga`. */
export interface ShopUp {
  child: ChildProcess;
  /** What it printed so far. */
  output(): string;
  /** Resolves with the dashboard URL `catga up` printed once everything started. */
  dashboardUrl(timeoutMs?: number): Promise<string>;
  /** The state in .catga/ (its pids are remembered for {@link ShopUp.stop}). */
  state(): LocalState;
  /** Ctrl-C, wait for the drain; then SIGKILL whatever recorded pid still runs. */
  stop(): Promise<void>;
}

/** Running, not a zombie. */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Starts `catga up shop.catga ARGS` in `dir` (a {@link shopProject}). */
export function startShopUp(dir: string, args: readonly string[] = []): ShopUp {
  const child = spawn(
    process.execPath,
    [
      "--conditions=catga-source",
      "--import",
      TSX,
      join(REPO_ROOT, "tooling/cli/bin-entry.ts"),
      "up",
      "shop.catga",
      ...args,
    ],
    { cwd: dir, env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let exited = false;
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      resolve();
    }),
  );
  const pids = new Set<number>();
  const state = (): LocalState => {
    const s = JSON.parse(readFileSync(join(dir, ".catga/state.json"), "utf8")) as LocalState;
    for (const pid of [
      ...s.instances.map((i) => i.pid),
      ...s.nats.servers.map((x) => x.pid),
      ...(s.redis?.nodes.map((n) => n.pid) ?? []),
    ])
      pids.add(pid);
    return s;
  };
  return {
    child,
    output: () => out,
    state,
    dashboardUrl: (timeoutMs = 300_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const look = () => {
          const found = /dashboard (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (found) {
            state();
            resolve(found[1]!);
          } else if (exited) reject(new Error(`catga up exited:\n${out}`));
          else if (Date.now() - started > timeoutMs)
            reject(new Error(`no dashboard URL in ${timeoutMs} ms:\n${out}`));
          else setTimeout(look, 200);
        };
        look();
      }),
    async stop() {
      try {
        if (existsSync(join(dir, ".catga/state.json"))) state();
      } catch {
        // half written: the pids recorded so far are known
      }
      if (!exited) {
        child.kill("SIGINT");
        await Promise.race([exit, new Promise((r) => setTimeout(r, 90_000))]);
        if (!exited) child.kill("SIGKILL");
      }
      for (const pid of [...pids].filter(running)) {
        for (const target of [-pid, pid]) {
          try {
            process.kill(target, "SIGKILL");
          } catch {
            // gone already
          }
        }
      }
    },
  };
}

/**
 * A stand-in for the build's topology.svg (`catgac build` writes the real one): a node per shop
 * service with `data-service`, and the durable OrderCreated edge with `data-message`, which is all
 * the dashboard's overlay relies on.
 */
export function standInPicture(): string {
  const services = ["order", "inventory", "payment", "notifier", "coordinator"];
  const nodes = services
    .map(
      (s, i) =>
        `<g data-service="${s}"><rect x="${20 + i * 170}" y="20" width="150" height="50" rx="6" fill="#fff" stroke="#888"/><text x="${30 + i * 170}" y="50" font-size="14">${s}</text></g>`,
    )
    .join("");
  const edge =
    '<g data-message="OrderCreated"><path d="M170 45 L700 45" stroke="#888" fill="none"/><text x="380" y="40" font-size="11">OrderCreated</text></g>';
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 880 110" width="880" height="110">${edge}${nodes}</svg>\n`;
}
