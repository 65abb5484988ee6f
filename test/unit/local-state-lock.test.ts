import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  type LocalState,
  readState,
  updateState,
  withStateLock,
  writeState,
} from "../../tooling/local/state.js";

/**
 * `catga kill`, `catga scale` and a running `catga up` all change `.catga/state.json`. Without a
 * lock each wrote back the copy it had read, and one command's change could undo another's. Real
 * processes here, since the lock is between processes.
 */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function cluster(): string {
  const cwd = mkdtempSync(join(tmpdir(), "catga-lock-"));
  dirs.push(cwd);
  const state: LocalState = {
    version: 1,
    topology: "t",
    file: join(cwd, "t.catga"),
    wiring: join(cwd, "wiring.json"),
    nats: { urls: [], external: true, servers: [] },
    launcher: [process.execPath],
    handlers: { a: "a.ts", b: "b.ts" },
    instances: [],
  };
  writeState(state, cwd);
  return cwd;
}

/** A child process that appends `count` instances of `service`, one locked update each. */
function appender(cwd: string, service: string, count: number): Promise<number | null> {
  const script = `
    import { updateState } from ${JSON.stringify(join(ROOT, "tooling/local/state.ts"))};
    for (let n = 0; n < ${count}; n++) {
      updateState((s) => { s.instances.push({ id: "${service}-" + n, service: "${service}", n, pid: process.pid, healthPort: 1 }); }, ${JSON.stringify(cwd)});
    }`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
  });
  return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}

describe("local state lock", () => {
  it("local state — concurrent updates from several processes all land", async () => {
    const cwd = cluster();
    const codes = await Promise.all([appender(cwd, "a", 60), appender(cwd, "b", 60), appender(cwd, "c", 60)]);
    expect(codes).toEqual([0, 0, 0]);
    const ids = readState(cwd)!.instances.map((i) => i.id);
    expect(ids).toHaveLength(180);
    expect(new Set(ids).size).toBe(180);
    expect(existsSync(join(cwd, ".catga/state.lock"))).toBe(false);
  }, 60_000);

  it("local state — a lock left by a process that no longer runs is taken over", async () => {
    const cwd = cluster();
    const dead = spawn(process.execPath, ["-e", ""]);
    const pid = dead.pid!;
    await new Promise((r) => dead.on("exit", r));
    writeFileSync(join(cwd, ".catga/state.lock"), String(pid));
    updateState((s) => {
      s.instances.push({ id: "a-0", service: "a", n: 0, pid: 1, healthPort: 1 });
    }, cwd);
    expect(readState(cwd)!.instances.map((i) => i.id)).toEqual(["a-0"]);
  });

  it("local state — a lock held by a live process makes others wait, then fail with who holds it", () => {
    const cwd = cluster();
    // This process holds the lock (it is alive): a nested update must give up after its wait.
    withStateLock(() => {
      expect(readFileSync(join(cwd, ".catga/state.lock"), "utf8")).toBe(String(process.pid));
      const started = Date.now();
      expect(() => updateState(() => {}, cwd, { waitMs: 200 })).toThrow(
        new RegExp(`held by process ${process.pid}`),
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    }, cwd);
    expect(existsSync(join(cwd, ".catga/state.lock"))).toBe(false);
  });
});
