import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HandlerModuleError, loadHandlerModule } from "../../runtime/index.js";
import { tempDir, waitFor } from "../harness/_process.js";
import { killCatgaClis, REPO_ROOT, runCatgaCli } from "../harness/catga.js";

/**
 * Debugging a topology with `catga up --memory` (test/fixtures/debug): the instances' log lines are
 * printed with their instance and the stacks of errors, `--log-level` quiets them, and a handler
 * module that throws while loading or exports another service's definition is a user's mistake
 * (exit 2, naming the service, the file and the fix), never an internal error (exit 3).
 */
const FIXTURES = join(REPO_ROOT, "test/fixtures/debug");
const TSX = import.meta.resolve("tsx");

let dir: ReturnType<typeof tempDir>;
const running = new Set<ChildProcess>();

beforeAll(() => {
  dir = tempDir("up-memory");
});
afterEach(() => {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
  killCatgaClis();
});
afterAll(() => dir.remove());

/** Starts `catga up <fixture> --memory …` in the foreground, collecting what it prints. */
function upInMemory(fixture: string, extra: string[] = []) {
  const child = spawn(
    process.execPath,
    [
      "--conditions=catga-source",
      "--import",
      TSX,
      join(REPO_ROOT, "tooling/cli/bin-entry.ts"),
      "up",
      join(FIXTURES, fixture),
      "--memory",
      "--out",
      join(dir.path, `out-${running.size}`),
      ...extra,
    ],
    { cwd: dir.path, stdio: ["ignore", "pipe", "pipe"] },
  );
  running.add(child);
  const out = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, out, exited };
}

describe("up --memory — logs", () => {
  it("up --memory — prints the instances' log lines with their instance and the stacks of errors; --log-level warn quiets info", async () => {
    const info = upInMemory("dbg.catga");
    const warn = upInMemory("dbg.catga", ["--log-level", "warn"]);
    // The job fails every second tick (1 s apart): two failures mean at least three ticks ran.
    const failures = (text: string) => text.split("scheduled job failed").length - 1;
    await waitFor(
      "two failed ticks in both runs",
      async () => failures(info.out.stderr) >= 2 && failures(warn.out.stderr) >= 2,
      {
        timeoutMs: 90_000,
        intervalMs: 200,
      },
    );
    for (const run of [info, warn]) run.child.kill("SIGINT");
    expect(await info.exited).toBe(0);
    expect(await warn.exited).toBe(0);

    // Every line names its instance; the error's stack points at the handler's own file and line.
    expect(info.out.stderr).toMatch(/^ticker-[01]\s+INFO\s+tick\s.*n=1/m);
    expect(info.out.stderr).toMatch(/^ticker-[01]\s+ERROR\s+scheduled job failed/m);
    expect(info.out.stderr).toMatch(
      /Error: tick 2 failed on purpose\n\s+at failOnPurpose \(.*services\/ticker\.ts:\d+:\d+\)/,
    );
    expect(info.out.stderr).not.toContain("tick detail"); // debug is below the default level
    // The live view is still drawn.
    expect(info.out.stdout).toContain("SERVICE");

    expect(warn.out.stderr).not.toMatch(/INFO/);
    expect(warn.out.stderr).toMatch(/^ticker-[01]\s+ERROR\s+scheduled job failed/m);
  }, 150_000);

  it("up --memory — an unknown --log-level is a usage error (exit 2)", async () => {
    const r = await runCatgaCli(dir.path, [
      "up",
      join(FIXTURES, "dbg.catga"),
      "--memory",
      "--log-level",
      "loud",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("catga up: --log-level is 'loud'; expected one of debug, info, warn, error\n");
  }, 60_000);
});

describe("up --memory — handler modules", () => {
  it("up --memory — a module that throws while loading: exit 2, naming the service, the file and the line that threw", async () => {
    const r = await runCatgaCli(dir.path, [
      "up",
      join(FIXTURES, "dbg-throws.catga"),
      "--memory",
      "--out",
      join(dir.path, "t"),
    ]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `the handler module of service 'ticker' (${join(FIXTURES, "services/throws.ts")}) threw while loading: Error: TICKER_API_KEY is not set`,
    );
    expect(r.stderr).toMatch(new RegExp(`\\n    at ${join(FIXTURES, "services/throws.ts")}:3:\\d+\\n`));
    expect(r.stderr).not.toContain("internal error");
  }, 60_000);

  it("up --memory — a module exporting another service's definition: exit 2 with the fix, not exit 3", async () => {
    const r = await runCatgaCli(dir.path, [
      "up",
      join(FIXTURES, "dbg-wrong.catga"),
      "--memory",
      "--out",
      join(dir.path, "w"),
    ]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      "is the handler module of service 'worker' but exports the definition of service 'ticker' (made with defineTicker): export default defineWorker({ ... }) from the generated client",
    );
    expect(r.stderr).not.toContain("internal error");
  }, 60_000);

  it("handler modules — catga run's loader names the service and file of every mistake", async () => {
    const wrong = await loadHandlerModule(join(FIXTURES, "services/wrong.ts"), "worker", "dbg").catch(
      (e: unknown) => e,
    );
    expect(wrong).toBeInstanceOf(HandlerModuleError);
    expect((wrong as HandlerModuleError).service).toBe("worker");
    const other = await loadHandlerModule(join(FIXTURES, "services/ticker.ts"), "ticker", "shop").catch(
      (e: unknown) => e,
    );
    expect((other as Error).message).toContain(
      "exports the definition of service 'ticker' of topology 'dbg'",
    );
    const missing = await loadHandlerModule(join(FIXTURES, "services/nowhere.ts"), "ticker").catch(
      (e: unknown) => e,
    );
    expect((missing as Error).message).toBe(
      `service 'ticker' has no handler module: expected ${join(FIXTURES, "services/nowhere.ts")}`,
    );
    const empty = await loadHandlerModule(join(FIXTURES, "dbg.catga"), "ticker").catch((e: unknown) => e);
    expect(empty).toBeInstanceOf(HandlerModuleError);
    const ok = await loadHandlerModule(join(FIXTURES, "services/ticker.ts"), "ticker", "dbg");
    expect(ok.service).toBe("ticker");
  });
});
