/**
 * The part of a durable-event benchmark worker that is the same for every contender: the publish
 * load, the fill and the paced publishing of a publisher; the counting and latency of a consumer;
 * and the IPC with the orchestrator (bench/events/run.ts). A contender module (raw.ts, catga.ts)
 * only says how to publish one event and how to consume, and calls {@link main}.
 *
 * A worker is started as `node --import tsx <contender module> <role> <nats url> [<expected>]`; the
 * role is `publisher` or `consumer` (which expects `<expected>` events already in the stream, and
 * reports when it has handled them all).
 */
import { readFileSync } from "node:fs";
import {
  type Closer,
  cpuNow,
  latencies as latencyHistogram,
  runReporting,
  send as sendReport,
  serve,
} from "../_shared/worker.js";
import { loadLoop } from "../rpc/_worker.js";

/** The event: the small JSON of bench/rpc plus `t`, the publish time in epoch ms (fractional). */
export interface Payload {
  text: string;
  n: number;
  t: number;
}

/** The raw baseline's stream, subject and durable consumer (created by the orchestrator). */
export const RAW_STREAM = "raw_Tick";
export const RAW_SUBJECT = "raw.event.Tick";
export const RAW_CONSUMER = "sink";

/** Epoch ms with sub-ms precision, comparable between processes of one machine. */
export const now = (): number => performance.timeOrigin + performance.now();

export const payload = (): Payload => ({ text: "hello", n: 42, t: now() });

/** How one contender publishes and consumes. */
export interface Contender {
  /** Connects a publisher; `publish` resolves once the stream acknowledged the event. */
  publisher(url: string): Promise<Closer & { publish(): Promise<unknown> }>;
  /** Starts consuming the durable consumer; `onEvent` runs (synchronously) in each event's handler. */
  consumer(url: string, onEvent: (event: Payload) => void): Promise<Closer>;
}

/** Messages from the orchestrator. */
export type Command =
  | { op: "load"; window: number; warmupMs: number; durationMs: number }
  | { op: "fill"; count: number; window: number }
  | { op: "steady"; rate: number; durationMs: number }
  | { op: "mark" }
  | { op: "collect" }
  | { op: "cpu" }
  | { op: "stop" };

/** Messages to the orchestrator. */
export type Report =
  | { type: "ready" }
  | Awaited<ReturnType<typeof loadLoop>>
  | { type: "filled"; ms: number }
  | { type: "steadied"; sent: number; errors: number }
  /** The expected backlog handled: from the first event to the last, and this process's CPU in between. */
  | { type: "drained"; count: number; ms: number; cpuUs: number; writes: number; reads: number }
  | { type: "marked" }
  /** End-to-end latencies (publish → handler) of the events handled since `mark`. */
  | { type: "collected"; count: number; p50: number; p99: number; cpuUs: number }
  | { type: "cpu"; us: number }
  | { type: "failed"; error: string };

const send: (report: Report) => void = sendReport;

/**
 * Read and write system calls of this process so far (/proc/self/io; zeros where there is none):
 * a consumer that writes one acknowledgement per system call pays for it in the kernel and in
 * nats-server.
 */
export function syscalls(): { reads: number; writes: number } {
  try {
    const io = readFileSync("/proc/self/io", "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, "m").exec(io)?.[1] ?? 0);
    return { reads: field("syscr"), writes: field("syscw") };
  } catch {
    return { reads: 0, writes: 0 };
  }
}

/** Publishes `count` events with at most `window` awaiting their acknowledgement. */
async function fill(publish: () => Promise<unknown>, count: number, window: number): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < count) {
      next++;
      await publish();
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, loop));
}

/**
 * Publishes `rate` events per second for `durationMs`, on a 5 ms timer (each tick publishes what is
 * due), without waiting for acknowledgements: a steady stream well below capacity, for latency.
 */
function steady(publish: () => Promise<unknown>, rate: number, durationMs: number) {
  return new Promise<{ sent: number; errors: number }>((resolve) => {
    const start = performance.now();
    let sent = 0;
    let errors = 0;
    const pending = new Set<Promise<unknown>>();
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.min(rate * (durationMs / 1000), Math.floor((rate * elapsed) / 1000));
      while (sent < due) {
        const p = publish().catch(() => {
          errors++;
        });
        pending.add(p);
        void p.finally(() => pending.delete(p));
        sent++;
      }
      if (elapsed >= durationMs) {
        clearInterval(timer);
        void Promise.all(pending).then(() => resolve({ sent, errors }));
      }
    }, 5);
  });
}

/** Starts the role named on the command line and serves the orchestrator's commands until `stop`. */
async function runWorker(contender: Contender): Promise<void> {
  const [role, url, expectedArg] = process.argv.slice(2);
  if (url === undefined) throw new Error("usage: <worker> publisher|consumer <nats url> [expected]");
  const handlers: Partial<Record<Command["op"], (cmd: never) => void | Promise<void>>> = {};
  let closer: Closer;

  if (role === "publisher") {
    const publisher = await contender.publisher(url);
    closer = publisher;
    handlers.load = async (cmd: Extract<Command, { op: "load" }>) =>
      send(await loadLoop(publisher.publish, cmd.window, cmd.warmupMs, cmd.durationMs));
    handlers.fill = async (cmd: Extract<Command, { op: "fill" }>) => {
      const t0 = performance.now();
      await fill(publisher.publish, cmd.count, cmd.window);
      send({ type: "filled", ms: performance.now() - t0 });
    };
    handlers.steady = async (cmd: Extract<Command, { op: "steady" }>) =>
      send({ type: "steadied", ...(await steady(publisher.publish, cmd.rate, cmd.durationMs)) });
  } else if (role === "consumer") {
    const expected = Number(expectedArg);
    let count = 0;
    let first = 0;
    let firstCpu = 0;
    let firstIo = { reads: 0, writes: 0 };
    let recording = false;
    let latencies = latencyHistogram();
    let markCpu = 0;
    closer = await contender.consumer(url, (event) => {
      const at = now();
      // Two processes' clocks: a latency may read 0 or less, which the histogram takes as 1 ns.
      if (recording) latencies.record(at - event.t);
      if (++count === 1) {
        first = at;
        firstCpu = cpuNow();
        firstIo = syscalls();
      }
      if (count === expected) {
        const io = syscalls();
        send({
          type: "drained",
          count: count - 1,
          ms: at - first,
          cpuUs: cpuNow() - firstCpu,
          writes: io.writes - firstIo.writes,
          reads: io.reads - firstIo.reads,
        });
      }
    });
    handlers.mark = () => {
      latencies = latencyHistogram();
      recording = true;
      markCpu = cpuNow();
      send({ type: "marked" });
    };
    handlers.collect = () => {
      recording = false;
      const cpuUs = cpuNow() - markCpu;
      send({
        type: "collected",
        count: latencies.count,
        p50: latencies.at(50),
        p99: latencies.at(99),
        cpuUs,
      });
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
