/**
 * `catga` run from source as a separate process, the way tests and benchmarks start real instances
 * (`catga run`) that they can SIGKILL, SIGSTOP or SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { expect } from "vitest";
import type { StatusReport } from "../../tooling/local/status.js";
import { type ServerProcess, spawnServer, waitFor } from "./_process.js";

/** The repository root: the working directory of every spawned instance. */
export const REPO_ROOT = new URL("../..", import.meta.url).pathname;

/**
 * Spawns `catga <args>` from source (through tsx) in its own process group, with `env` on top of
 * this process's environment.
 */
export function spawnCatga(args: readonly string[], env: NodeJS.ProcessEnv): ServerProcess {
  return spawnServer(
    process.execPath,
    ["--import", "tsx", join(REPO_ROOT, "test/fixtures/run-catga.ts"), ...args],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
    },
  );
}

/** What a finished `catga` CLI command printed and returned. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** tsx's loader as a URL: `--import tsx` would be resolved from the (temporary) working directory. */
const TSX = import.meta.resolve("tsx");
/** CLI commands still running: {@link killCatgaClis} ends them (one cut short by a test timeout). */
const clis = new Set<ChildProcess>();

/**
 * Runs the `catga` CLI from source (`node --import tsx tooling/cli/bin-entry.ts`) in `cwd` until it
 * exits, so it starts `catgac` and every `catga run` from source too (tooling/local/launcher.ts).
 */
export function runCatgaCli(
  cwd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--conditions=catga-source", "--import", TSX, join(REPO_ROOT, "tooling/cli/bin-entry.ts"), ...args],
      {
        cwd,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    clis.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      clis.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** SIGKILLs every CLI command started by {@link runCatgaCli} that still runs. */
export function killCatgaClis(): void {
  for (const child of clis) child.kill("SIGKILL");
}

/**
 * `catga status --json` through `run`, and polling it until a condition holds (failing with the last
 * report): what the `catga up` tests ask of a running cluster.
 */
export function statusProbe(
  run: (args: readonly string[]) => Promise<CliRun>,
  timeoutMs: number,
): {
  status(): Promise<StatusReport>;
  statusUntil(what: string, ok: (s: StatusReport) => boolean): Promise<StatusReport>;
} {
  async function status(): Promise<StatusReport> {
    const r = await run(["status", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as StatusReport;
  }
  async function statusUntil(what: string, ok: (s: StatusReport) => boolean): Promise<StatusReport> {
    let last: StatusReport | undefined;
    await waitFor(
      what,
      async () => {
        last = await status();
        return ok(last);
      },
      { timeoutMs, intervalMs: 200, describe: () => JSON.stringify(last, null, 1) },
    );
    return last!;
  }
  return { status, statusUntil };
}
