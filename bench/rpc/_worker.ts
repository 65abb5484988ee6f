/**
 * The part of a benchmark worker process that is the same for every contender: the load loop of a
 * caller, the flow-controlled loop of a publisher, the counting of a subscriber, and the IPC with
 * the orchestrator (bench/rpc/run.ts). A contender module (raw.ts, catga.ts, moleculer/worker.mjs)
 * only says how to answer, call, publish and subscribe, and calls {@link runWorker}.
 *
 * A worker is started as `node --import tsx <contender module> <role> <nats url>`; the role is
 * `responder`, `caller`, `publisher` or `subscriber`.
 */

import { constants, PerformanceObserver } from "node:perf_hooks";
import {
  type Closer,
  cpuNow,
  latencies as latencyHistogram,
  runReporting,
  send as sendReport,
  serve,
} from "../_shared/worker.js";

/**
 * The request payload, the echoed reply, and the event of the fan-out: the same small JSON
 * everywhere. `BENCH_TEXT_BYTES=<n>` pads `text` to n characters (for measuring beyond nats-server's
 * cost step for small frames: docs/benchmarks.md, "The floor and the echoed reply"); the written
 * tables always use the default.
 */
export const PAYLOAD = {
  text: "hello".padEnd(Number(process.env.BENCH_TEXT_BYTES ?? 0), "x"),
  n: 42,
} as const;

/** How one contender answers, calls, publishes and subscribes. */
export interface Contender {
  /** Starts one instance answering the echo request. */
  responder(url: string): Promise<Closer>;
  /** Connects a caller; `call` sends one echo request and resolves with the reply. */
  caller(url: string): Promise<Closer & { call(): Promise<unknown> }>;
  /** Starts one instance receiving every broadcast event; `onEvent` is called per event. */
  subscriber(url: string, onEvent: () => void): Promise<Closer>;
  /** Connects a publisher; `publish` broadcasts one event. */
  publisher(url: string): Promise<Closer & { publish(): unknown }>;
}

/** Messages from the orchestrator. */
export type Command =
  | { op: "load"; concurrency: number; warmupMs: number; durationMs: number }
  | { op: "credit"; upTo: number }
  /** `burst`: how many events the publisher sends in one turn of its event loop before it yields. */
  | { op: "publish"; burst: number }
  | { op: "halt" }
  | { op: "mark" }
  | { op: "cpu" }
  | { op: "stop" };

/** Messages to the orchestrator. */
export type Report =
  | { type: "ready" }
  | {
      type: "load";
      count: number;
      errors: number;
      firstError?: string;
      rps: number;
      p50: number;
      p99: number;
      /** CPU time (user + system) this process spent over the measured window, in µs. */
      cpuUs: number;
      /** Young-generation collections (scavenges) over the measured window: how many, and their ms. */
      scavenges: number;
      scavengeMs: number;
    }
  | { type: "progress"; count: number }
  | { type: "mark"; count: number; at: number }
  | { type: "halted"; sent: number }
  /** CPU time (user + system) this process has spent since it started, in µs. */
  | { type: "cpu"; us: number }
  | { type: "failed"; error: string };

const send: (report: Report) => void = sendReport;

/** A subscriber reports its count every this many events: the publisher's credit follows it. */
export const PROGRESS_EVERY = 1000;

/**
 * Runs `concurrency` loops of `call` for `warmupMs` and then `durationMs`, and measures the
 * requests that completed within the measured window: their number per second, and the median and
 * 99th percentile of their latency (from the call to its reply, in ms).
 *
 * Latencies go into Node's native histogram ({@link latencyHistogram}), not an array: with an
 * array, a contender measured after its own c=1,000 phase paid 30-50 % more CPU per request for
 * the harness's sake (docs/benchmarks.md, "The harness, reply subjects and idle callers").
 */
export async function loadLoop(
  call: () => Promise<unknown>,
  concurrency: number,
  warmupMs: number,
  durationMs: number,
): Promise<Extract<Report, { type: "load" }>> {
  const from = performance.now() + warmupMs;
  const to = from + durationMs;
  const latencies = latencyHistogram();
  let errors = 0;
  let firstError: string | undefined;
  // The CPU time of the measured window, sampled by timers at its two ends (a loop may still be
  // finishing its last call at the end: one call's worth, against tens of thousands).
  let cpuFrom = 0;
  let cpuTo: number | undefined;
  // Scavenges of the measured window: their cost is what changed after an idle (docs/benchmarks.md,
  // "After an idle"), so every phase reports it.
  let scavenges = 0;
  let scavengeMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind !== constants.NODE_PERFORMANCE_GC_MINOR || entry.startTime < from || entry.startTime >= to)
        continue;
      scavenges++;
      scavengeMs += entry.duration;
    }
  });
  gc.observe({ entryTypes: ["gc"] });
  const fromTimer = setTimeout(() => {
    cpuFrom = cpuNow();
  }, warmupMs);
  const toTimer = setTimeout(() => {
    cpuTo = cpuNow();
  }, warmupMs + durationMs);
  const loop = async () => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= to) return;
      try {
        await call();
      } catch (error) {
        errors++;
        firstError ??= String(error);
        continue;
      }
      const t1 = performance.now();
      if (t1 >= from && t1 < to) latencies.record(t1 - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  clearTimeout(fromTimer);
  clearTimeout(toTimer);
  cpuTo ??= cpuNow();
  // Entries are delivered after a task: give the last ones their turn before stopping.
  await new Promise((resolve) => setImmediate(resolve));
  gc.disconnect();
  const count = latencies.count;
  return {
    type: "load",
    count,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    rps: count / (durationMs / 1000),
    p50: latencies.at(50),
    p99: latencies.at(99),
    cpuUs: cpuTo - cpuFrom,
    scavenges,
    scavengeMs,
  };
}

/** Starts the role named on the command line and serves the orchestrator's commands until `stop`. */
export async function runWorker(contender: Contender): Promise<void> {
  const [role, url] = process.argv.slice(2);
  if (url === undefined) throw new Error("usage: <worker> responder|caller|publisher|subscriber <nats url>");
  const handlers: Partial<Record<Command["op"], (cmd: never) => void | Promise<void>>> = {};
  let closer: Closer;

  if (role === "responder") {
    closer = await contender.responder(url);
  } else if (role === "caller") {
    const caller = await contender.caller(url);
    closer = caller;
    const reply = await caller.call();
    // A contender that answers something else than the echo would measure nothing.
    if (JSON.stringify(reply) !== JSON.stringify(PAYLOAD)) {
      throw new Error(`the echo answered ${JSON.stringify(reply)}`);
    }
    handlers.load = async (cmd: Extract<Command, { op: "load" }>) => {
      send(await loadLoop(caller.call, cmd.concurrency, cmd.warmupMs, cmd.durationMs));
    };
  } else if (role === "subscriber") {
    let count = 0;
    closer = await contender.subscriber(url, () => {
      if (++count % PROGRESS_EVERY === 0) send({ type: "progress", count });
    });
    handlers.mark = () => send({ type: "mark", count, at: performance.now() });
  } else if (role === "publisher") {
    const publisher = await contender.publisher(url);
    closer = publisher;
    let allowed = 0;
    let sent = 0;
    let burst = 1;
    let running = false;
    let wake: (() => void) | undefined;
    const pump = async () => {
      while (running) {
        if (sent >= allowed) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          continue;
        }
        // Publish a burst without waiting on each event (as handlers emitting in one turn would):
        // the client writes the burst to the socket at once, or in pieces of 32 KiB when it is
        // larger (nats.js's flush threshold), instead of one write per event.
        const end = Math.min(allowed, sent + burst);
        const acks: Promise<unknown>[] = [];
        while (sent < end) {
          const ack = publisher.publish();
          if (ack instanceof Promise) acks.push(ack);
          sent++;
        }
        await Promise.all(acks);
        // Let the connection write and the orchestrator's credits arrive.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    handlers.credit = (cmd: Extract<Command, { op: "credit" }>) => {
      allowed = Math.max(allowed, cmd.upTo);
      wake?.();
    };
    let pumping = false;
    handlers.publish = (cmd: Extract<Command, { op: "publish" }>) => {
      burst = cmd.burst;
      running = true;
      if (pumping) return; // the last round's loop is still finishing its batch: it goes on
      pumping = true;
      void pump()
        .catch((error: unknown) => send({ type: "failed", error: String(error) }))
        .finally(() => {
          pumping = false;
        });
    };
    handlers.halt = () => {
      running = false;
      wake?.();
      send({ type: "halted", sent });
    };
  } else {
    throw new Error(`unknown role '${role}'`);
  }

  serve<Command>(role, handlers, closer);
}

/** {@link runWorker}, reporting a start-up failure to the orchestrator instead of hanging it. */
export function main(contender: Contender): void {
  runReporting(() => runWorker(contender));
}
