import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../harness/_process.js";
import { REPO_ROOT } from "../harness/catga.js";

/**
 * `catga up` stopped by a signal while it is still starting (issue 14): whatever point the signal
 * comes at — NATS started, Redis started, replicas starting — every process started so far is
 * stopped, `catga up` says so and exits 128 + the signal's number, and no process is left.
 *
 * "No process left" is checked from /proc, not from what catga recorded: every process `catga up`
 * starts runs in the test's temporary folder (the servers in `.catga/…`, the instances in the
 * folder itself), so any process whose working directory is under it is one left behind.
 */
const FIXTURE = join(REPO_ROOT, "test/fixtures/up");
const TSX = import.meta.resolve("tsx");

/** Pids (not zombies) whose working directory is `dir` or below it, except `except`. */
function processesIn(dir: string, except: number[] = []): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || except.includes(pid)) continue;
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z") continue;
      found.push(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/** Running, not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

interface Interrupted {
  code: number | null;
  stderr: string;
  /** Processes `catga up` had started when the signal was sent. */
  runningAtSignal: number[];
}

/**
 * Runs `catga up upfix.catga` in `dir`, sends `signal` `delayMs` after a progress line matching
 * `when` appeared, and resolves once `catga up` exited.
 */
function upInterrupted(dir: string, when: RegExp, signal: NodeJS.Signals, delayMs = 0): Promise<Interrupted> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--conditions=catga-source",
        "--import",
        TSX,
        join(REPO_ROOT, "tooling/cli/bin-entry.ts"),
        "up",
        join(FIXTURE, "upfix.catga"),
        "--out",
        "build",
      ],
      {
        cwd: dir,
        env: { ...process.env, TSX_TSCONFIG_PATH: join(dir, "tsconfig.paths.json") },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    let runningAtSignal: number[] = [];
    let sent = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), 100_000);
    child.stdout.resume();
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (!sent && when.test(stderr)) {
        sent = true;
        setTimeout(() => {
          // Not counted: the esbuild service tsx runs for `catga up` itself (it ends with it).
          runningAtSignal = processesIn(dir, [child.pid!]).filter(
            (pid) => !commandLine(pid).includes("esbuild"),
          );
          child.kill(signal);
        }, delayMs);
      }
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, runningAtSignal });
    });
  });
}

describe("catga up — a signal during start-up", () => {
  let dir: ReturnType<typeof tempDir>;
  let path: string;

  beforeAll(() => {
    dir = tempDir("up-signals");
    path = realpathSync(dir.path);
    writeFileSync(
      join(path, "tsconfig.paths.json"),
      JSON.stringify({
        compilerOptions: { paths: { "@catga/runtime": [join(REPO_ROOT, "runtime/index.ts")] } },
      }),
    );
  });

  afterAll(() => {
    // Never leave a server behind, even when an assertion failed.
    for (const pid of processesIn(path)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    dir.remove();
  });

  const cases: { point: string; when: RegExp; signal: NodeJS.Signals; delayMs: number; code: number }[] = [
    {
      point: "after NATS started",
      when: /catga up: nats: 3 servers/,
      signal: "SIGTERM",
      delayMs: 0,
      code: 143,
    },
    { point: "after Redis started", when: /catga up: redis: /, signal: "SIGHUP", delayMs: 0, code: 129 },
    {
      point: "while replicas start",
      when: /catga up: starting 10 instances/,
      signal: "SIGINT",
      delayMs: 1500,
      code: 130,
    },
  ];

  for (const c of cases) {
    it(`up — ${c.signal} ${c.point} stops everything started, says so, leaves no process`, async () => {
      const r = await upInterrupted(path, c.when, c.signal, c.delayMs);
      expect(r.code, r.stderr).toBe(c.code);
      expect(r.runningAtSignal.length, r.stderr).toBeGreaterThan(0);
      const said = new RegExp(
        `catga up: ${c.signal} during start-up: stopped the (\\d+) processes started so far; no process left`,
      );
      expect(r.stderr).toMatch(said);
      // Every process that ran when the signal came was counted among the stopped.
      expect(Number(said.exec(r.stderr)![1])).toBeGreaterThanOrEqual(r.runningAtSignal.length);
      // Gone at once: catga up waited for them before it exited.
      expect(processesIn(path)).toEqual([]);
      expect(r.runningAtSignal.filter(running)).toEqual([]);
      expect(existsSync(join(path, ".catga/state.json"))).toBe(false);
    }, 120_000);
  }
});
