/**
 * The durable-event benchmark (`npm run bench:events`): Catga's durable events against
 * `@nats-io/jetstream` used directly, on one nats-server with JetStream that this script starts on
 * a free port with its own store folder (single node, file storage, one replica).
 *
 * Publish (acknowledged): a publisher process keeps `window` publishes awaiting their
 * acknowledgement (1 and 256 by default) and measures events/s and the publish → ack latency
 * (median, 99th percentile) after a warm-up. Catga: `publishEvent` of the durable `Tick` on a bus
 * (`bus.publish` → `transport.streams().publish`); raw: `js.publish(subject, json, { msgID })`.
 *
 * Consumption (acknowledged), in two parts per round:
 * - backlog: the stream is purged and pre-filled with `--backlog` events by the contender's own
 *   publisher; then a new consumer process starts and pulls them (Catga: `startHost` of a service
 *   with `on Tick` and a synchronous handler, acked after success; raw:
 *   `js.consumers.get(stream, "sink").consume()` and `m.ack()` after `JSON.parse`). Events/s is
 *   measured from the first event handled to the last.
 * - steady: the same consumer keeps running while the contender's publisher publishes `--rate`
 *   events/s (well below capacity); the end-to-end latency is from the publish call (its time is in
 *   the payload) to the handler, over the measured window.
 *
 * Contenders take turns at each step, the first one rotating per round; the tables show the medians
 * of `--rounds` rounds. CPU per event: each worker samples its own, nats-server is read from /proc.
 *
 * Writes bench/results/events.json; with `--write` also replaces the section of docs/benchmarks.md
 * between the `bench:events` markers. Needs `npm run build` first (the generated code imports
 * `catga/runtime`, i.e. dist/), which the npm script does.
 *
 *   npm run bench:events -- [--write] [--rounds 3] [--duration 2000] [--warmup 1000]
 *     [--windows 1,256] [--backlog 30000] [--rate 2000] [--only raw,raw-headers,raw-64,catga]
 *     [--profile catga]
 *
 * `raw-headers` is the raw publisher sending Catga's `Catga` header too (wire version 2: message id
 * and schema hash; see raw.ts): a reference for the publishing only, the price of that header.
 *
 * `raw-64` is the raw consumer with `max_messages` 64, Catga's buffer (DURABLE_MAX_IN_FLIGHT),
 * instead of the client's default 100: a reference for the consumption only (it consumes what the
 * raw publisher filled), which tells how much of a gap to raw is the buffer.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startJetStream } from "../../test/harness/jetstream.js";
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
import { type Command, RAW_CONSUMER, RAW_STREAM, RAW_SUBJECT, type Report } from "./_worker.js";

const HERE = join(ROOT, "bench/events");
const OUT = join(ROOT, "out/bench-events");
const DOC = join(ROOT, "docs/benchmarks.md");
const RESULTS = join(ROOT, "bench/results/events.json");
const START = "<!-- bench:events:start -->";
const END = "<!-- bench:events:end -->";
/** Publishes in flight while pre-filling the stream for the backlog measurement. */
const FILL_WINDOW = 256;

type Name = "raw" | "raw-headers" | "raw-64" | "catga";
const CONTENDERS: Record<Name, string> = {
  raw: join(HERE, "raw.ts"),
  // The raw publisher with Catga's headers: publishing only, a reference for the headers' price.
  "raw-headers": join(HERE, "raw.ts"),
  // The raw consumer with Catga's buffer (64 in flight instead of the client's 100): consumption
  // only, a reference that tells the buffer's share of a gap from the rest (see raw.ts).
  "raw-64": join(HERE, "raw.ts"),
  catga: join(HERE, "catga.ts"),
};
const ENV: Partial<Record<Name, Record<string, string>>> = {
  "raw-headers": { BENCH_RAW_HEADERS: "1" },
  "raw-64": { BENCH_RAW_MAX_MESSAGES: "64" },
};
/** Contenders of the publishing only. */
const PUBLISH_ONLY = new Set<Name>(["raw-headers"]);
/** Contenders of the consumption only (their publisher is another contender's). */
const CONSUME_ONLY = new Set<Name>(["raw-64"]);

const { values } = parseArgs({
  options: {
    write: { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "2000" },
    warmup: { type: "string", default: "1000" },
    windows: { type: "string", default: "1,256" },
    backlog: { type: "string", default: "30000" },
    rate: { type: "string", default: "2000" },
    only: { type: "string", default: "raw,raw-headers,raw-64,catga" },
    profile: { type: "string", default: "" },
  },
});
const ROUNDS = Number(values.rounds);
const DURATION = Number(values.duration);
const WARMUP = Number(values.warmup);
const WINDOWS = values.windows.split(",").map(Number);
const BACKLOG = Number(values.backlog);
const RATE = Number(values.rate);
const ONLY = values.only.split(",") as Name[];
const PROFILE = new Set(values.profile.split(",").filter((s) => s !== ""));
if (
  ![ROUNDS, DURATION, WARMUP, BACKLOG, RATE, ...WINDOWS].every((n) => Number.isInteger(n) && n > 0) ||
  !ONLY.every((n) => n in CONTENDERS)
) {
  console.error(
    "--rounds, --duration, --warmup, --windows, --backlog and --rate take whole numbers > 0; --only raw,raw-headers,raw-64,catga",
  );
  process.exit(2);
}
/** A worker process and the reports it sends. */
type Worker = BenchWorker<Command, Report>;

function startWorker(name: Name, role: string, url: string, expected = 0): Promise<Worker> {
  const profile = PROFILE.has(name)
    ? ["--cpu-prof", `--cpu-prof-dir=${join(ROOT, "out/bench-events-prof")}`]
    : [];
  return BenchWorker.start<Command, Report>({
    label: `${name} ${role}`,
    module: CONTENDERS[name],
    args: [role, url, String(expected)],
    execArgv: ["--import", "tsx", ...profile],
    env: { ...process.env, CATGA_BENCH_OUT: OUT, ...ENV[name] },
    timeoutMs: 120_000,
  });
}

interface PublishResult {
  contender: Name;
  /** Publishes awaiting their acknowledgement at any time. */
  window: number;
  events_per_s: number;
  /** Publish → acknowledgement, ms. */
  p50_ms: number;
  p99_ms: number;
  /** CPU time per event in the publishing process, µs. */
  publisher_cpu_us: number;
  /** CPU time per event in nats-server, µs (null where /proc cannot be read). */
  server_cpu_us: number | null;
}

interface ConsumeResult {
  contender: Name;
  /** Events pre-filled and then consumed. */
  backlog: number;
  /** Backlog handled (and acknowledged) per second, from the first event to the last. */
  events_per_s: number;
  /** CPU time per event in the consuming process over the backlog, µs. */
  consumer_cpu_us: number;
  /** CPU time per event in nats-server over the backlog (consumer start included), µs. */
  server_cpu_us: number | null;
  /** Write and read system calls of the consumer per event over the backlog. */
  consumer_writes: number;
  consumer_reads: number;
  /** Steady publishing at `rate` events/s: publish call → handler, ms. */
  rate: number;
  e2e_p50_ms: number;
  e2e_p99_ms: number;
  /** Events handled in the steady window. */
  steady_count: number;
}

const serverDelta = (pid: number, before: number | undefined) => {
  const after = serverCpu(pid);
  return before === undefined || after === undefined ? null : after - before;
};
interface Durable {
  stream: string;
  subject: string;
  consumer: string;
  ackWaitMs: number;
  dedupWindowMs: number;
  retentionMs: number;
  replicas: number;
}

/** Catga's stream and consumer as the wiring declares them. */
function catgaDurable(): Durable {
  const wiring = JSON.parse(readFileSync(join(OUT, "wiring.json"), "utf8"));
  const tick = wiring.messages.Tick;
  const sub = wiring.services.sink.subscriptions[0];
  return {
    stream: tick.durable.stream,
    subject: tick.subject,
    consumer: sub.durable.consumer,
    ackWaitMs: sub.durable.ackWaitMs,
    dedupWindowMs: tick.durable.dedupWindowMs,
    retentionMs: tick.durable.retentionMs,
    replicas: tick.durable.replicas,
  };
}

/**
 * Creates both contenders' streams and durable consumers with the same settings (those a Catga
 * instance reconciles: file storage, limits retention, discard old, the wiring's max age, replicas
 * and dedup window; explicit ack, deliver all, the wiring's ack wait, no server-side max deliver).
 */
async function createStreams(jsm: JetStreamManager, durables: Record<Name, Durable>): Promise<void> {
  for (const d of new Map(Object.values(durables).map((d) => [d.stream, d])).values()) {
    await jsm.streams.add({
      name: d.stream,
      subjects: [d.subject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: d.retentionMs * 1e6,
      num_replicas: d.replicas,
      duplicate_window: d.dedupWindowMs * 1e6,
    });
    await jsm.consumers.add(d.stream, {
      durable_name: d.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: d.subject,
      ack_wait: d.ackWaitMs * 1e6,
      max_deliver: -1,
    });
  }
}

async function main(url: string, serverPid: number) {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  const catgaD = catgaDurable();
  const durables: Record<Name, Durable> = {
    catga: catgaD,
    raw: { ...catgaD, stream: RAW_STREAM, subject: RAW_SUBJECT, consumer: RAW_CONSUMER },
    "raw-headers": { ...catgaD, stream: RAW_STREAM, subject: RAW_SUBJECT, consumer: RAW_CONSUMER },
    "raw-64": { ...catgaD, stream: RAW_STREAM, subject: RAW_SUBJECT, consumer: RAW_CONSUMER },
  };
  const publisherOf = (name: Name): Name => (name === "raw-64" ? "raw" : name);
  const PUBLISHING = ONLY.filter((n) => !CONSUME_ONLY.has(n));
  await createStreams(jsm, durables);
  const publishers = new Map<Name, Worker>();
  const publishRounds: PublishResult[][] = [];
  const consumeRounds: ConsumeResult[][] = [];
  try {
    for (const name of new Set(ONLY.map(publisherOf))) {
      publishers.set(name, await startWorker(name, "publisher", url));
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order = ONLY.map((_, i) => ONLY[(i + round) % ONLY.length]!);
      const pubs: PublishResult[] = [];
      for (const window of WINDOWS) {
        for (const name of order) {
          if (CONSUME_ONLY.has(name)) continue;
          await jsm.streams.purge(durables[name].stream);
          const pub = publishers.get(name)!;
          const report = pub.ask(
            { op: "load", window, warmupMs: WARMUP, durationMs: DURATION },
            "load",
            WARMUP + DURATION + 60_000,
          );
          await sleep(WARMUP);
          const before = serverCpu(serverPid);
          await sleep(DURATION);
          const serverUs = serverDelta(serverPid, before);
          const r = await report;
          if (r.errors > 0)
            throw new Error(`${name} window ${window}: ${r.errors} errors, first ${r.firstError}`);
          const result: PublishResult = {
            contender: name,
            window,
            events_per_s: Math.round(r.rps),
            p50_ms: round2(r.p50),
            p99_ms: round2(r.p99),
            publisher_cpu_us: perMessage(r.cpuUs, r.count),
            server_cpu_us: serverUs === null ? null : perMessage(serverUs, r.count),
          };
          console.log(
            `round ${round + 1} publish ${name.padEnd(5)} window ${String(window).padStart(3)} ` +
              `${result.events_per_s.toLocaleString("en-US").padStart(7)} events/s  p50 ${result.p50_ms} ms  ` +
              `p99 ${result.p99_ms} ms  CPU µs/event ${result.publisher_cpu_us} + server ${result.server_cpu_us ?? "–"}`,
          );
          pubs.push(result);
        }
      }
      publishRounds.push(pubs);

      const cons: ConsumeResult[] = [];
      for (const name of order) {
        if (PUBLISH_ONLY.has(name)) continue;
        const d = durables[name];
        await jsm.streams.purge(d.stream);
        const pub = publishers.get(publisherOf(name))!;
        await pub.ask({ op: "fill", count: BACKLOG, window: FILL_WINDOW }, "filled");
        const before = serverCpu(serverPid);
        const consumer = await startWorker(name, "consumer", url, BACKLOG);
        try {
          const drained = await consumer.next("drained", 120_000);
          const serverUs = serverDelta(serverPid, before);
          // Steady publishing at RATE while the consumer keeps up: end-to-end latency.
          const steadied = pub.ask({ op: "steady", rate: RATE, durationMs: WARMUP + DURATION }, "steadied");
          await sleep(WARMUP);
          await consumer.ask({ op: "mark" }, "marked");
          await sleep(DURATION);
          const collected = await consumer.ask({ op: "collect" }, "collected");
          const s = await steadied;
          if (s.errors > 0) throw new Error(`${name} steady publishing: ${s.errors} errors`);
          const result: ConsumeResult = {
            contender: name,
            backlog: BACKLOG,
            events_per_s: Math.round((drained.count / drained.ms) * 1000),
            consumer_cpu_us: perMessage(drained.cpuUs, drained.count),
            server_cpu_us: serverUs === null ? null : perMessage(serverUs, BACKLOG),
            consumer_writes: perMessage(drained.writes, drained.count),
            consumer_reads: perMessage(drained.reads, drained.count),
            rate: RATE,
            e2e_p50_ms: round2(collected.p50),
            e2e_p99_ms: round2(collected.p99),
            steady_count: collected.count,
          };
          console.log(
            `round ${round + 1} consume ${name.padEnd(5)} backlog ${BACKLOG} ` +
              `${result.events_per_s.toLocaleString("en-US").padStart(7)} events/s  CPU µs/event ` +
              `${result.consumer_cpu_us} + server ${result.server_cpu_us ?? "–"}, syscalls/event ` +
              `${result.consumer_writes} w ${result.consumer_reads} r; steady ${RATE}/s: ` +
              `e2e p50 ${result.e2e_p50_ms} ms  p99 ${result.e2e_p99_ms} ms (${collected.count} events)`,
          );
          cons.push(result);
        } finally {
          await consumer.stop();
        }
      }
      consumeRounds.push(cons);
    }
  } finally {
    for (const p of publishers.values()) await p.stop();
    await nc.drain();
  }

  const publish: PublishResult[] = [];
  for (const window of WINDOWS) {
    for (const contender of PUBLISHING) {
      const all = publishRounds.flat().filter((r) => r.contender === contender && r.window === window);
      publish.push({
        contender,
        window,
        events_per_s: Math.round(median(all.map((r) => r.events_per_s))),
        p50_ms: round2(median(all.map((r) => r.p50_ms))),
        p99_ms: round2(median(all.map((r) => r.p99_ms))),
        publisher_cpu_us: round2(median(all.map((r) => r.publisher_cpu_us))),
        server_cpu_us: medianOrNull(all.map((r) => r.server_cpu_us)),
      });
    }
  }
  const consume: ConsumeResult[] = ONLY.filter((n) => !PUBLISH_ONLY.has(n)).map((contender) => {
    const all = consumeRounds.flat().filter((r) => r.contender === contender);
    return {
      contender,
      backlog: BACKLOG,
      events_per_s: Math.round(median(all.map((r) => r.events_per_s))),
      consumer_cpu_us: round2(median(all.map((r) => r.consumer_cpu_us))),
      server_cpu_us: medianOrNull(all.map((r) => r.server_cpu_us)),
      consumer_writes: round2(median(all.map((r) => r.consumer_writes))),
      consumer_reads: round2(median(all.map((r) => r.consumer_reads))),
      rate: RATE,
      e2e_p50_ms: round2(median(all.map((r) => r.e2e_p50_ms))),
      e2e_p99_ms: round2(median(all.map((r) => r.e2e_p99_ms))),
      steady_count: Math.round(median(all.map((r) => r.steady_count))),
    };
  });
  return { publish, consume, rounds: { publish: publishRounds, consume: consumeRounds } };
}

function publishTable(results: PublishResult[]): string {
  return table(
    [
      "contender",
      "in flight",
      "events/s",
      "p50 ms",
      "p99 ms",
      "catga ÷ this",
      "CPU µs/event publisher",
      "nats-server",
    ],
    results.map((r) => {
      const catga = results.find((x) => x.contender === "catga" && x.window === r.window);
      return [
        r.contender,
        int(r.window),
        int(r.events_per_s),
        r.p50_ms.toFixed(2),
        r.p99_ms.toFixed(2),
        r.contender === "catga" ? "" : ratio(catga?.events_per_s, r.events_per_s),
        r.publisher_cpu_us.toFixed(1),
        r.server_cpu_us === null ? "–" : r.server_cpu_us.toFixed(1),
      ];
    }),
    [false, true, true, true, true, true, true, true],
  );
}

function consumeTable(results: ConsumeResult[]): string {
  const catga = results.find((x) => x.contender === "catga");
  return table(
    [
      "contender",
      "backlog",
      "events/s",
      "catga ÷ this",
      "CPU µs/event consumer",
      "nats-server",
      "steady rate/s",
      "e2e p50 ms",
      "e2e p99 ms",
    ],
    results.map((r) => [
      r.contender,
      int(r.backlog),
      int(r.events_per_s),
      r.contender === "catga" ? "" : ratio(catga?.events_per_s, r.events_per_s),
      r.consumer_cpu_us.toFixed(1),
      r.server_cpu_us === null ? "–" : r.server_cpu_us.toFixed(1),
      int(r.rate),
      r.e2e_p50_ms.toFixed(2),
      r.e2e_p99_ms.toFixed(2),
    ]),
    [false, true, true, true, true, true, true, true, true],
  );
}

function machineOf() {
  return { ...machine(), natsJetStream: packageVersion(ROOT, "@nats-io/jetstream") };
}

requireDist("bench:events");
// C3019 (Tick is never emitted): the benchmark's client publishes it, not a service.
generate(join(HERE, "bench.catga"), OUT, ["C3019"]);
const loadBefore = readFileSync("/proc/loadavg", "utf8").trim();
const startedAt = Date.now();
const nats = await startJetStream();
console.log(
  `nats-server (JetStream, single node, file store) at ${nats.url}; ${ROUNDS} rounds of ${WARMUP} ms warm-up + ${DURATION} ms measured`,
);
let run: Awaited<ReturnType<typeof main>>;
try {
  run = await main(nats.url, nats.pid);
} finally {
  await nats.stop();
}
const m = {
  ...machineOf(),
  loadavg: { before: loadBefore, after: readFileSync("/proc/loadavg", "utf8").trim() },
  loadAverage1m: { before: Number(loadBefore.split(" ")[0]), after: round2(loadavg()[0]!) },
};
const minutes = ((Date.now() - startedAt) / 60_000).toFixed(1);
const server = {
  nodes: 1,
  storage: "file",
  replicas: 1,
  // nats-server 2.9 has no sync setting: it writes at once and fsyncs every 2 minutes.
  sync: "nats-server default (2.9: fsync every 2 min; no sync_interval setting before 2.10)",
};
const command = `npm run bench:events${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(
  RESULTS,
  `${JSON.stringify(
    {
      machine: m,
      server,
      command,
      settings: {
        rounds: ROUNDS,
        warmupMs: WARMUP,
        durationMs: DURATION,
        windows: WINDOWS,
        backlog: BACKLOG,
        fillWindow: FILL_WINDOW,
        steadyRate: RATE,
      },
      publish: run.publish,
      consume: run.consume,
      rounds: run.rounds,
    },
    null,
    2,
  )}\n`,
);
const publishText = publishTable(run.publish);
const consumeText = consumeTable(run.consume);
console.log(`\nPublish (median of ${ROUNDS} rounds)\n${publishText}\n\nConsume\n${consumeText}`);
console.log(`\nwrote ${RESULTS}`);

if (values.write) {
  writeDocSection(DOC, START, END, [
    `Machine: ${m.cpu}, ${m.cores} cores (\`nproc\`), Node ${m.node}, ${m.os}, nats-server ${m.natsServer} ` +
      `(one node, JetStream file store, R1, default sync: fsync every 2 min), @nats-io/jetstream ${m.natsJetStream}.  `,
    `\`/proc/loadavg\` before: \`${m.loadavg.before}\`; after: \`${m.loadavg.after}\` (the machine is shared).  `,
    `Command: \`${command}\` (${minutes} min; ${ROUNDS} rounds, contenders interleaved; publish: ${WARMUP} ms ` +
      `warm-up then ${DURATION} ms measured; medians of the rounds).`,
    "",
    "Durable publish, acknowledged (publish → ack):",
    "",
    publishText,
    "",
    `Group consumption, acknowledged: a backlog of ${int(BACKLOG)} events pre-filled, then consumed by a new ` +
      `consumer process (events/s from the first event to the last); then steady publishing at ${int(RATE)} ` +
      `events/s with the same consumer, end-to-end latency (publish call → handler) over ${DURATION} ms:`,
    "",
    consumeText,
  ]);
}
