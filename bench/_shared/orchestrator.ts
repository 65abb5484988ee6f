/**
 * The side of a benchmark that every orchestrator (bench/rpc/run.ts, bench/events/run.ts) shares:
 * the worker processes and their reports, nats-server's CPU time from /proc, medians and rounding,
 * Markdown tables, the machine's description, the generated code of the bench topology, and the
 * writing of a benchmark's section of docs/benchmarks.md.
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, platform, release } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkSource } from "../../compiler/check/index.js";
import { emitAll } from "../../compiler/emit/index.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How to start a worker process. */
export interface WorkerStart {
  /** Names the worker in errors, e.g. `catga caller`. */
  label: string;
  /** The contender module. */
  module: string;
  args: string[];
  execArgv: string[];
  env: NodeJS.ProcessEnv;
  /** How long {@link BenchWorker.next} waits by default, ms. */
  timeoutMs: number;
}

/** A worker process and the reports it sends. */
export class BenchWorker<C extends { op: string }, R extends { type: string }> {
  private readonly waiting = new Map<string, { resolve(r: R): void; reject(e: Error): void }>();
  private exited = false;
  /** Sees every report before it goes to whoever waits for its type. */
  onReport: (report: R) => void = () => {};

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
    private readonly timeoutMs: number,
  ) {
    child.on("message", (report: R) => {
      this.onReport(report);
      if (report.type === "failed") {
        return this.fail(new Error(`${label}: ${(report as unknown as { error: string }).error}`));
      }
      const w = this.waiting.get(report.type);
      this.waiting.delete(report.type);
      w?.resolve(report);
    });
    // Sends racing a worker's exit (credits after a halt) fail with EPIPE: nothing to do about it.
    child.on("error", () => {});
    child.once("exit", (code) => {
      this.exited = true;
      this.fail(new Error(`${label} exited with ${code}`));
    });
  }

  /** Forks the worker and waits until it is ready. */
  static async start<C extends { op: string }, R extends { type: string }>(
    start: WorkerStart,
  ): Promise<BenchWorker<C, R>> {
    const child = fork(start.module, start.args, {
      execArgv: start.execArgv,
      env: start.env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const worker = new BenchWorker<C, R>(start.label, child, start.timeoutMs);
    await worker.next("ready" as R["type"], 30_000);
    return worker;
  }

  /** Sends `cmd` and waits for the report of type `type`. */
  ask<T extends R["type"]>(cmd: C, type: T, timeoutMs = this.timeoutMs): Promise<Extract<R, { type: T }>> {
    const report = this.next(type, timeoutMs);
    this.send(cmd);
    return report;
  }

  /** This worker's CPU time so far (user + system), in µs. */
  async cpu(): Promise<number> {
    const report = (await this.ask({ op: "cpu" } as C, "cpu" as R["type"])) as unknown as { us: number };
    return report.us;
  }

  send(cmd: C): void {
    // A worker that died has already failed whoever waits on it; credits to it go nowhere.
    if (this.child.connected) this.child.send(cmd);
  }

  next<T extends R["type"]>(type: T, timeoutMs = this.timeoutMs): Promise<Extract<R, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.label}: no '${type}' in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiting.set(type, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as Extract<R, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exit = new Promise((resolve) => this.child.once("exit", resolve));
    this.send({ op: "stop" } as C);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exit;
    clearTimeout(timer);
  }

  private fail(error: Error): void {
    for (const w of this.waiting.values()) w.reject(error);
    this.waiting.clear();
  }
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time nats-server has spent so far (user + system, from /proc/<pid>/stat), in µs; undefined
 * where there is no /proc. Capacity is CPU per message: on a shared machine it moves much less
 * between runs than a rate does.
 */
export function serverCpu(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces): state is the 3rd field of the
    // line, utime and stime the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

export const round2 = (n: number) => Math.round(n * 100) / 100;
export const perMessage = (us: number, count: number) => (count > 0 ? round2(us / count) : 0);
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
export const medianOrNull = (xs: (number | null)[]) =>
  xs.some((x) => x === null) ? null : round2(median(xs as number[]));
export const int = (n: number) => Math.round(n).toLocaleString("en-US");
export const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? "–" : `${(a / b).toFixed(2)}×`;

/** A Markdown table; `right[i]` aligns column i to the right. */
export function table(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (right[i] ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** The version of a package installed under `node_modules` of `dir`. */
export const packageVersion = (dir: string, name: string): string =>
  (JSON.parse(readFileSync(join(dir, `node_modules/${name}/package.json`), "utf8")) as { version: string })
    .version;

/** The machine, Node and nats-server a benchmark ran on. */
export function machine() {
  let natsServer: string;
  try {
    natsServer = execFileSync("nats-server", ["--version"], { encoding: "utf8" }).trim();
  } catch {
    natsServer = "unknown";
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    node: process.version,
    os: `${platform()} ${release()}`,
    natsServer: natsServer.replace(/^nats-server: /, ""),
  };
}

/**
 * Fails with the npm script to run when the built runtime is missing: `catga/runtime`, which the
 * contenders and the generated code import, is dist/tooling/runtime.js, an alias of the
 * `@catga/runtime` package built to runtime/dist/ (it used to be dist/runtime/, which a stale build
 * may still hold).
 */
export function requireDist(script: string): void {
  for (const built of ["dist/tooling/runtime.js", "runtime/dist/index.js"]) {
    if (!existsSync(join(ROOT, built))) {
      throw new Error(`${built} is missing: run \`npm run build\` (or \`npm run ${script}\`, which does)`);
    }
  }
}

/**
 * Emits the bench topology's TypeScript and wiring to `out` with the compiler, as `catgac build`
 * does; diagnostics with a code in `allowed` are expected and pass.
 */
export function generate(file: string, out: string, allowed: readonly string[] = []): void {
  const name = file.slice(file.lastIndexOf("/") + 1);
  const checked = checkSource(readFileSync(file), name);
  const unexpected = checked.diagnostics.filter((d) => !allowed.includes(d.code));
  if (checked.value === undefined || unexpected.length > 0) {
    throw new Error(`${name}: ${JSON.stringify(unexpected, null, 2)}`);
  }
  for (const f of emitAll(checked.value, { sourceName: name })) {
    mkdirSync(dirname(join(out, f.path)), { recursive: true });
    writeFileSync(join(out, f.path), f.content);
  }
}

/**
 * Replaces the section of `doc` between the markers `start` and `end` (both kept) with `lines`.
 * Reads the file right before writing: other benchmarks update their own sections of it.
 */
export function writeDocSection(doc: string, start: string, end: string, lines: string[]): void {
  const section = [start, ...lines, end].join("\n");
  const text = readFileSync(doc, "utf8");
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`docs/benchmarks.md has no ${start} … ${end} section`);
  writeFileSync(doc, text.slice(0, from) + section + text.slice(to + end.length));
  console.log(`updated ${doc}`);
}
