/**
 * The side of a benchmark worker process that every benchmark shares (bench/rpc/_worker.ts,
 * bench/events/_worker.ts): sending reports to the orchestrator, serving its commands until `stop`,
 * and reporting a start-up failure instead of hanging it. Each benchmark keeps its own commands,
 * reports and roles.
 */

import { createHistogram } from "node:perf_hooks";

/**
 * Latencies in Node's native HDR histogram (nanoseconds, 3 significant digits), read back in ms.
 * Not an array of every sample: an array that grows to hundreds of thousands of numbers in old
 * space (and is sorted at the end) made every later young-generation collection of its process
 * 3-4x dearer (docs/benchmarks.md, "The harness, reply subjects and idle callers").
 */
export function latencies() {
  const histogram = createHistogram();
  return {
    /** Records one latency in ms (at least 1 ns: the histogram takes positive integers only). */
    record(ms: number): void {
      histogram.record(Math.max(1, Math.round(ms * 1e6)));
    },
    get count(): number {
      return histogram.count;
    },
    /** The latency at `percentile` (0-100) in ms, 0 when nothing was recorded. */
    at(percentile: number): number {
      return histogram.count === 0 ? 0 : histogram.percentile(percentile) / 1e6;
    },
  };
}

/** Something to close when the worker stops. */
export interface Closer {
  close(): Promise<void>;
}

/** The reports every worker sends, whatever its benchmark. */
type BaseReport = { type: "ready" } | { type: "cpu"; us: number } | { type: "failed"; error: string };

/** CPU time (user + system) of this process so far, in µs. */
export const cpuNow = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Sends one report to the orchestrator. */
export function send<R extends { type: string }>(report: R | BaseReport): void {
  // The orchestrator may already be gone (stopped with Ctrl-C): then there is nobody to tell.
  if (process.connected) process.send?.(report, undefined, undefined, () => {});
}

/**
 * Serves the orchestrator's commands with `handlers` (and `cpu`, which every role answers) until
 * `stop`, which closes `closer` and exits; then reports `ready`. A command the role has no handler
 * for, or a handler that fails, is reported as `failed`.
 */
export function serve<C extends { op: string }>(
  role: string,
  handlers: Partial<Record<C["op"], (cmd: never) => void | Promise<void>>>,
  closer: Closer,
): void {
  const all: Partial<Record<string, (cmd: never) => void | Promise<void>>> = {
    ...handlers,
    cpu: () => send({ type: "cpu", us: cpuNow() }),
  };
  process.on("message", (cmd: C) => {
    if (cmd.op === "stop") {
      void closer.close().finally(() => process.exit(0));
      return;
    }
    const handler = all[cmd.op];
    if (handler === undefined) {
      send({ type: "failed", error: `a ${role} cannot '${cmd.op}'` });
      return;
    }
    void (async () => handler(cmd as never))().catch((error: unknown) =>
      send({ type: "failed", error: String(error) }),
    );
  });
  send({ type: "ready" });
}

/** Runs a worker, reporting a start-up failure to the orchestrator instead of hanging it. */
export function runReporting(run: () => Promise<void>): void {
  run().catch((error: unknown) => {
    send({ type: "failed", error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
  });
}
