/**
 * The RPC and event fan-out benchmark (`npm run bench:rpc`): Catga's generated client and service
 * host against a raw baseline on the NATS client alone and against Moleculer, all over one
 * nats-server this script starts on a free port.
 *
 * Requests: one responder process and one caller process per contender; the caller runs
 * 1, 100 and 1,000 concurrent loops of an echo request ({text: "hello", n: 42}) and measures
 * requests/s and the median and 99th percentile latency after a warm-up. Contenders take turns at
 * each concurrency, and the whole sequence is repeated `--rounds` times (the table shows the median
 * of the rounds), so a slow moment of the machine does not land on one contender.
 *
 * Fan-out: three subscriber processes receive every event a publisher process broadcasts; the
 * publisher stays at most `WINDOW` events ahead of the slowest subscriber (credit from the
 * subscribers' progress reports), so nothing is lost to a slow consumer. Measured: events/s
 * received per instance over the measured window, at each of `--bursts`: how many events the
 * publisher sends in one turn of its event loop. Several, because nats.js writes a turn's messages
 * at once up to 32 KiB and in pieces beyond, and nats-server's cost per event moves with that: one
 * burst size alone puts contenders whose frames differ by a few bytes on either side of that
 * threshold (docs/benchmarks.md, "The fan-out step is nats.js's 32 KiB flush").
 *
 * Writes bench/results/rpc.json; with `--write` also replaces the section of docs/benchmarks.md
 * between the `bench:rpc` markers. Needs `npm run build` first (the generated code imports
 * `catga/runtime`, i.e. dist/), which the npm script does.
 *
 *   npm run bench:rpc -- [--write] [--rounds 3] [--duration 2000] [--warmup 1000]
 *     [--levels 1,100,1000] [--bursts 50,500,2000] [--only raw,raw-headers,raw-prefix,raw-binary,raw-guarded,catga,moleculer] [--profile catga]
 *     [--gap 10000]
 *
 * `--gap` waits that many ms before every request phase: it reproduces the state a caller meets
 * after an idle (docs/benchmarks.md, "After an idle"), which a run of four contenders meets by
 * itself (each caller waits for the other three). `BENCH_CALLER_FLAGS` adds Node options to the
 * caller processes (e.g. `--single-threaded-gc`), `BENCH_PRELOAD` a module to every worker.
 *
 * `raw-guarded` (in the default set) is the raw client doing by hand what every Catga message must
 * to keep its guarantees (raw-guarded.ts): the floor under Catga, measured in the same run.
 * `raw-headers` is the raw baseline carrying wire version 2's header through the client's own
 * headers object, `raw-prefix` the same fields as version 3's envelope line in the payload,
 * `raw-binary` the same fields in binary (see _raw.ts): the targets are stated against `raw`, and
 * the gaps show what the metadata costs by itself. These references' rows go to `reference` in
 * rpc.json, apart from `results`; all but raw-guarded run only when `--only` names them.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { startNats } from "../../test/harness/nats.js";
import {
  BenchWorker,
  generate,
  int,
  machine,
  median,
  medianOrNull,
  packageVersion,
  perMessage,
  ROOT,
  ratio,
  requireDist,
  round2,
  serverCpu,
  sleep,
  table,
  writeDocSection,
} from "../_shared/orchestrator.js";
import type { Command, Report } from "./_worker.js";

const HERE = join(ROOT, "bench/rpc");
const OUT = join(ROOT, "out/bench-rpc");
const DOC = join(ROOT, "docs/benchmarks.md");
const RESULTS = join(ROOT, "bench/results/rpc.json");
const START = "<!-- bench:rpc:start -->";
const END = "<!-- bench:rpc:end -->";
/** Baselines that explain the gap (rpc.json's `reference`), not contenders. */
const REFERENCE = new Set<string>(["raw-headers", "raw-prefix", "raw-binary", "raw-guarded"]);
/** How many events the publisher may be ahead of the slowest subscriber. */
const WINDOW = 20_000;
const SUBSCRIBERS = 3;

type Name = "raw" | "raw-headers" | "raw-prefix" | "raw-binary" | "raw-guarded" | "catga" | "moleculer";
const CONTENDERS: Record<Name, string> = {
  raw: join(HERE, "raw.ts"),
  "raw-headers": join(HERE, "raw-headers.ts"),
  "raw-prefix": join(HERE, "raw-prefix.ts"),
  "raw-binary": join(HERE, "raw-binary.ts"),
  "raw-guarded": join(HERE, "raw-guarded.ts"),
  catga: join(HERE, "catga.ts"),
  moleculer: join(HERE, "moleculer/worker.mjs"),
};

const { values } = parseArgs({
  options: {
    write: { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "2000" },
    warmup: { type: "string", default: "1000" },
    levels: { type: "string", default: "1,100,1000" },
    bursts: { type: "string", default: "50,500,2000" },
    only: { type: "string", default: "raw,raw-guarded,catga,moleculer" },
    profile: { type: "string", default: "" },
    gap: { type: "string", default: "0" },
  },
});
if (values.write && process.env.BENCH_TEXT_BYTES !== undefined) {
  console.error("--write measures the default payload: unset BENCH_TEXT_BYTES");
  process.exit(2);
}
const ROUNDS = Number(values.rounds);
const DURATION = Number(values.duration);
const WARMUP = Number(values.warmup);
const GAP = Number(values.gap);
const LEVELS = values.levels.split(",").map(Number);
const BURSTS = values.bursts.split(",").map(Number);
const ONLY = values.only.split(",") as Name[];
const PROFILE = new Set(values.profile.split(",").filter((s) => s !== ""));
if (
  ![ROUNDS, DURATION, WARMUP, ...LEVELS, ...BURSTS].every((n) => Number.isInteger(n) && n > 0) ||
  !(Number.isInteger(GAP) && GAP >= 0) ||
  !ONLY.every((n) => n in CONTENDERS)
) {
  console.error(
    "--rounds, --duration, --warmup, --levels and --bursts take whole numbers > 0, --gap one >= 0; --only raw,raw-headers,raw-prefix,raw-binary,raw-guarded,catga,moleculer",
  );
  process.exit(2);
}
/** A worker process and the reports it sends. */
type Worker = BenchWorker<Command, Report>;

function startWorker(name: Name, role: string, url: string): Promise<Worker> {
  const profile = PROFILE.has(name)
    ? ["--cpu-prof", `--cpu-prof-dir=${join(ROOT, "out/bench-rpc-prof")}`]
    : [];
  return BenchWorker.start<Command, Report>({
    label: `${name} ${role}`,
    module: CONTENDERS[name],
    args: [role, url],
    execArgv: [
      "--import",
      "tsx",
      ...profile,
      ...(process.env.BENCH_PRELOAD ? ["--import", process.env.BENCH_PRELOAD] : []),
      ...(role === "caller" && process.env.BENCH_CALLER_FLAGS
        ? process.env.BENCH_CALLER_FLAGS.split(" ")
        : []),
    ],
    env: { ...process.env, CATGA_BENCH_OUT: OUT, BENCH_SUBSCRIBERS: String(SUBSCRIBERS) },
    timeoutMs: 60_000,
  });
}

interface RpcResult {
  contender: Name;
  concurrency: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  /** CPU time per request in the calling process, µs. */
  caller_cpu_us: number;
  /** CPU time per request in the responding process, µs. */
  responder_cpu_us: number;
  /** CPU time per request in nats-server, µs (null where /proc cannot be read). */
  server_cpu_us: number | null;
  /** The caller's young-generation collections over the measured window, and their mean ms. */
  caller_scavenges: number;
  caller_scavenge_ms: number;
}

interface FanoutResult {
  contender: Name;
  /** Events the publisher sent per turn of its event loop. */
  burst: number;
  subscribers: number;
  /** Mean over the instances of the events each received per second. */
  events_per_s_per_instance: number;
  /** The slowest instance. */
  min_events_per_s: number;
  /** CPU time per event in the publishing process, µs. */
  publisher_cpu_us: number;
  /** CPU time per event received, mean over the subscriber processes, µs. */
  subscriber_cpu_us: number;
  /** CPU time of nats-server per event published (fanned out to every subscriber), µs. */
  server_cpu_us: number | null;
}

/** CPU time of some workers and of nats-server so far, sampled together. */
async function cpuOf(workers: Worker[], serverPid: number) {
  const server = serverCpu(serverPid);
  return { workers: await Promise.all(workers.map((w) => w.cpu())), server };
}

function prepare(): void {
  requireDist("bench:rpc");
  generate(join(HERE, "bench.catga"), OUT);
  const moleculerDir = join(HERE, "moleculer");
  if (ONLY.includes("moleculer") && !existsSync(join(moleculerDir, "node_modules/moleculer/package.json"))) {
    console.log("installing Moleculer (bench/rpc/moleculer: npm ci) …");
    execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: moleculerDir, stdio: "inherit" });
  }
}

async function rpc(url: string, serverPid: number): Promise<{ rounds: RpcResult[][]; results: RpcResult[] }> {
  const pairs = new Map<Name, { responder: Worker; caller: Worker }>();
  try {
    for (const name of ONLY) {
      const responder = await startWorker(name, "responder", url);
      pairs.set(name, { responder, caller: await startWorker(name, "caller", url) });
    }
    const rounds: RpcResult[][] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const results: RpcResult[] = [];
      // Rotate who goes first, so no contender always runs right after the same neighbour.
      const order = ONLY.map((_, i) => ONLY[(i + round) % ONLY.length]!);
      for (const concurrency of LEVELS) {
        for (const name of order) {
          const { caller, responder } = pairs.get(name)!;
          if (GAP > 0) await sleep(GAP);
          const report = caller.next("load", WARMUP + DURATION + 60_000);
          caller.send({ op: "load", concurrency, warmupMs: WARMUP, durationMs: DURATION });
          // The responder's and the server's CPU over the caller's measured window (the caller
          // samples its own): timed from here, within an IPC hop of the caller's clock.
          await sleep(WARMUP);
          const before = await cpuOf([responder], serverPid);
          await sleep(DURATION);
          const after = await cpuOf([responder], serverPid);
          const r = await report;
          if (r.errors > 0)
            throw new Error(`${name} at ${concurrency}: ${r.errors} errors, first ${r.firstError}`);
          const serverUs =
            before.server === undefined || after.server === undefined ? null : after.server - before.server;
          const result: RpcResult = {
            contender: name,
            concurrency,
            rps: r.rps,
            p50_ms: r.p50,
            p99_ms: r.p99,
            caller_cpu_us: perMessage(r.cpuUs, r.count),
            responder_cpu_us: perMessage(after.workers[0]! - before.workers[0]!, r.count),
            server_cpu_us: serverUs === null ? null : perMessage(serverUs, r.count),
            caller_scavenges: r.scavenges,
            caller_scavenge_ms: r.scavenges > 0 ? round2(r.scavengeMs / r.scavenges) : 0,
          };
          console.log(
            `round ${round + 1} ${name.padEnd(9)} c=${String(concurrency).padStart(4)} ` +
              `${Math.round(r.rps).toLocaleString("en-US").padStart(7)} req/s  ` +
              `p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  ` +
              `CPU µs/req ${result.caller_cpu_us} + ${result.responder_cpu_us} + server ${result.server_cpu_us ?? "–"}  ` +
              `caller scavenges ${result.caller_scavenges} × ${result.caller_scavenge_ms} ms`,
          );
          results.push(result);
        }
      }
      rounds.push(results);
    }
    const results: RpcResult[] = [];
    for (const concurrency of LEVELS) {
      for (const contender of ONLY) {
        const all = rounds.flat().filter((r) => r.contender === contender && r.concurrency === concurrency);
        results.push({
          contender,
          concurrency,
          rps: Math.round(median(all.map((r) => r.rps))),
          p50_ms: round2(median(all.map((r) => r.p50_ms))),
          p99_ms: round2(median(all.map((r) => r.p99_ms))),
          caller_cpu_us: round2(median(all.map((r) => r.caller_cpu_us))),
          responder_cpu_us: round2(median(all.map((r) => r.responder_cpu_us))),
          server_cpu_us: medianOrNull(all.map((r) => r.server_cpu_us)),
          caller_scavenges: Math.round(median(all.map((r) => r.caller_scavenges))),
          caller_scavenge_ms: round2(median(all.map((r) => r.caller_scavenge_ms))),
        });
      }
    }
    return { rounds, results };
  } finally {
    for (const { responder, caller } of pairs.values()) await Promise.all([responder.stop(), caller.stop()]);
  }
}

/** One contender's fan-out: three subscriber processes and a publisher, kept for every round. */
async function startFanout(name: Name, url: string, serverPid: number) {
  const subs: Worker[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) subs.push(await startWorker(name, "subscriber", url));
  const pub = await startWorker(name, "publisher", url);
  const progress = subs.map(() => 0);
  let granted = WINDOW;
  subs.forEach((sub, i) => {
    sub.onReport = (report) => {
      if (report.type !== "progress") return;
      const count = report.count;
      progress[i] = count;
      const upTo = Math.min(...progress) + WINDOW;
      if (upTo > granted) {
        granted = upTo;
        pub.send({ op: "credit", upTo });
      }
    };
  });
  pub.send({ op: "credit", upTo: granted });
  const mark = () =>
    Promise.all(
      subs.map((s) => {
        const m = s.next("mark");
        s.send({ op: "mark" });
        return m;
      }),
    );
  return {
    /** Publishes for the warm-up and the measured window; each instance's rate over the window. */
    async run(burst: number): Promise<FanoutResult> {
      pub.send({ op: "publish", burst });
      await sleep(WARMUP);
      const [first, cpu0] = await Promise.all([mark(), cpuOf([pub, ...subs], serverPid)]);
      await sleep(DURATION);
      const [second, cpu1] = await Promise.all([mark(), cpuOf([pub, ...subs], serverPid)]);
      const halted = pub.next("halted");
      pub.send({ op: "halt" });
      await halted;
      const counts = second.map((m, i) => m.count - first[i]!.count);
      const rates = second.map((m, i) => counts[i]! / ((m.at - first[i]!.at) / 1000));
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      // Every instance receives every event: the mean count is the number published in the window.
      const events = mean(counts);
      const cpu = cpu1.workers.map((us, i) => us - cpu0.workers[i]!);
      const result: FanoutResult = {
        contender: name,
        burst,
        subscribers: SUBSCRIBERS,
        events_per_s_per_instance: Math.round(mean(rates)),
        min_events_per_s: Math.round(Math.min(...rates)),
        publisher_cpu_us: perMessage(cpu[0]!, events),
        subscriber_cpu_us: round2(mean(cpu.slice(1).map((us, i) => perMessage(us, counts[i]!)))),
        server_cpu_us:
          cpu0.server === undefined || cpu1.server === undefined
            ? null
            : perMessage(cpu1.server - cpu0.server, events),
      };
      console.log(
        `fan-out ${name.padEnd(9)} burst ${String(burst).padStart(4)} ${result.events_per_s_per_instance.toLocaleString("en-US").padStart(8)} ` +
          `events/s per instance (slowest ${result.min_events_per_s.toLocaleString("en-US")})  ` +
          `CPU µs/event publisher ${result.publisher_cpu_us}, each subscriber ${result.subscriber_cpu_us}, ` +
          `server ${result.server_cpu_us ?? "–"}`,
      );
      return result;
    },
    async stop(): Promise<void> {
      for (const sub of subs) sub.onReport = () => {};
      await Promise.all([...subs, pub].map((w) => w.stop()));
    },
  };
}

async function fanout(
  url: string,
  serverPid: number,
): Promise<{ rounds: FanoutResult[][]; results: FanoutResult[] }> {
  const runs = new Map<Name, Awaited<ReturnType<typeof startFanout>>>();
  try {
    for (const name of ONLY) runs.set(name, await startFanout(name, url, serverPid));
    const rounds: FanoutResult[][] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = ONLY.map((_, i) => ONLY[(i + round) % ONLY.length]!);
      const results: FanoutResult[] = [];
      for (const burst of BURSTS) for (const name of order) results.push(await runs.get(name)!.run(burst));
      rounds.push(results);
    }
    const results = BURSTS.flatMap((burst) =>
      ONLY.map((contender) => {
        const all = rounds.flat().filter((r) => r.contender === contender && r.burst === burst);
        return {
          contender,
          burst,
          subscribers: SUBSCRIBERS,
          events_per_s_per_instance: Math.round(median(all.map((r) => r.events_per_s_per_instance))),
          min_events_per_s: Math.round(median(all.map((r) => r.min_events_per_s))),
          publisher_cpu_us: round2(median(all.map((r) => r.publisher_cpu_us))),
          subscriber_cpu_us: round2(median(all.map((r) => r.subscriber_cpu_us))),
          server_cpu_us: medianOrNull(all.map((r) => r.server_cpu_us)),
        };
      }),
    );
    return { rounds, results };
  } finally {
    for (const run of runs.values()) await run.stop();
  }
}

function rpcTable(results: RpcResult[]): string {
  const get = (c: Name, n: number) => results.find((r) => r.contender === c && r.concurrency === n);
  const rows = results.map((r) => {
    const catga = get("catga", r.concurrency);
    return [
      r.contender,
      int(r.concurrency),
      int(r.rps),
      r.p50_ms.toFixed(2),
      r.p99_ms.toFixed(2),
      r.contender === "catga" ? "" : ratio(catga?.rps, r.rps),
      r.contender === "catga" ? "" : ratio(catga?.p99_ms, r.p99_ms),
      `${r.caller_cpu_us.toFixed(1)} + ${r.responder_cpu_us.toFixed(1)}`,
      r.server_cpu_us === null ? "–" : r.server_cpu_us.toFixed(1),
    ];
  });
  return table(
    [
      "contender",
      "concurrency",
      "requests/s",
      "p50 ms",
      "p99 ms",
      "catga req/s ÷ this",
      "catga p99 ÷ this",
      "CPU µs/req caller + responder",
      "nats-server µs/req",
    ],
    rows,
    [false, true, true, true, true, true, true, true, true],
  );
}

function fanoutTable(results: FanoutResult[]): string {
  const catga = (burst: number) => results.find((r) => r.contender === "catga" && r.burst === burst);
  return table(
    [
      "contender",
      "events per burst",
      "events/s per instance",
      "slowest instance",
      "catga ÷ this",
      "CPU µs/event publisher",
      "each subscriber",
      "nats-server",
    ],
    results.map((r) => [
      r.contender,
      int(r.burst),
      int(r.events_per_s_per_instance),
      int(r.min_events_per_s),
      r.contender === "catga"
        ? ""
        : ratio(catga(r.burst)?.events_per_s_per_instance, r.events_per_s_per_instance),
      r.publisher_cpu_us.toFixed(1),
      r.subscriber_cpu_us.toFixed(1),
      r.server_cpu_us === null ? "–" : r.server_cpu_us.toFixed(1),
    ]),
    [false, true, true, true, true, true, true, true],
  );
}

function machineOf() {
  const moleculerPkg = join(HERE, "moleculer/node_modules/moleculer/package.json");
  return {
    ...machine(),
    natsClient: packageVersion(ROOT, "@nats-io/transport-node"),
    moleculer: existsSync(moleculerPkg)
      ? (JSON.parse(readFileSync(moleculerPkg, "utf8")) as { version: string }).version
      : "not installed",
  };
}

prepare();
const loadBefore = loadavg()[0]!;
const nats = await startNats();
console.log(`nats-server at ${nats.url}; ${ROUNDS} rounds of ${WARMUP} ms warm-up + ${DURATION} ms measured`);
let rpcRun: Awaited<ReturnType<typeof rpc>>;
let fanoutRun: Awaited<ReturnType<typeof fanout>>;
try {
  rpcRun = await rpc(nats.url, nats.pid);
  fanoutRun = await fanout(nats.url, nats.pid);
} finally {
  await nats.stop();
}

const m = {
  ...machineOf(),
  // Other work on the machine skews every contender; the load average says how much there was.
  loadAverage: { before: round2(loadBefore), after: round2(loadavg()[0]!) },
};
const command = `npm run bench:rpc${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(
  RESULTS,
  `${JSON.stringify(
    {
      machine: m,
      command,
      settings: {
        rounds: ROUNDS,
        warmupMs: WARMUP,
        durationMs: DURATION,
        fanoutWindow: WINDOW,
        fanoutBursts: BURSTS,
      },
      results: rpcRun.results.filter((r) => !REFERENCE.has(r.contender)),
      fanout: fanoutRun.results.filter((r) => !REFERENCE.has(r.contender)),
      // The raw baseline with Catga's metadata: how much of the gap to raw the metadata is.
      reference: {
        results: rpcRun.results.filter((r) => REFERENCE.has(r.contender)),
        fanout: fanoutRun.results.filter((r) => REFERENCE.has(r.contender)),
      },
      rounds: { results: rpcRun.rounds, fanout: fanoutRun.rounds },
    },
    null,
    2,
  )}\n`,
);

const rpcText = rpcTable(rpcRun.results);
const fanoutText = fanoutTable(fanoutRun.results);
console.log(
  `\nRequests (median of ${ROUNDS} rounds)\n${rpcText}\n\nFan-out to ${SUBSCRIBERS} instances\n${fanoutText}`,
);
console.log(`\nwrote ${RESULTS}`);

if (values.write) {
  writeDocSection(DOC, START, END, [
    `Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.os}, nats-server ${m.natsServer}, ` +
      `@nats-io/transport-node ${m.natsClient}, Moleculer ${m.moleculer}; ` +
      `1-minute load average ${m.loadAverage.before} before and ${m.loadAverage.after} after the run.  `,
    `Command: \`${command}\` (${ROUNDS} rounds; each measurement ${WARMUP} ms warm-up, then ${DURATION} ms measured; ` +
      "medians of the rounds).",
    "",
    'Request/reply, echo of `{text: "hello", n: 42}`:',
    "",
    rpcText,
    "",
    `Event fan-out, one publisher broadcasting \`{text: "hello", n: 42}\` to ${SUBSCRIBERS} instances, ` +
      `in bursts of ${BURSTS.map(int).join(", ")} events per turn of its event loop:`,
    "",
    fanoutText,
  ]);
}
