/**
 * Failover benchmark on the real deployment path: three `catga run` processes of the leader-mode
 * service of `test/fixtures/leader.ts` on one nats-server and one redis-server (started once by the
 * test harness for the whole run), for each lease. A crash trial SIGKILLs the leader and measures
 * until the first heartbeat of a new leader with a higher fencing token; a graceful trial SIGTERMs
 * it (the host drains, releases the lease and announces the release over NATS) and measures the
 * same. After each trial the stopped instance is replaced, so three replicas run at every trial,
 * and a `Work` request checks that the new leader answers with its token. Prints a markdown table;
 * with `--write` it also replaces the section of docs/benchmarks.md between the `bench:failover`
 * markers.
 *
 *   npm run bench:failover -- [--write] [--trials 20] [--leases 2,5,10]
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, platform, release } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type Bus, connectNats } from "../../runtime/bus.js";
import type { Heartbeat } from "../../runtime/host.js";
import { sendRequest } from "../../runtime/messaging.js";
import { leaderWiring, workSpec } from "../../test/fixtures/leader.js";
import { freePort, type ServerProcess, tempDir, waitFor } from "../../test/harness/_process.js";
import { spawnCatga } from "../../test/harness/catga.js";
import { type NatsServer, startNats } from "../../test/harness/nats.js";
import { type StandaloneRedis, startRedis } from "../../test/harness/redis.js";

const DOC = fileURLToPath(new URL("../../docs/benchmarks.md", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const START = "<!-- bench:failover:start -->";
const END = "<!-- bench:failover:end -->";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function usage(message: string): never {
  console.error(`bench:failover: ${message}`);
  process.exit(2);
}

let values: { write?: boolean; trials?: string; leases?: string };
try {
  ({ values } = parseArgs({
    options: {
      write: { type: "boolean", default: false },
      trials: { type: "string", default: "20" },
      leases: { type: "string", default: "2,5,10" },
    },
  }));
} catch (error) {
  usage(error instanceof Error ? error.message : String(error));
}
const TRIALS = Number(values.trials);
if (!Number.isInteger(TRIALS) || TRIALS < 1) usage("--trials takes a whole number >= 1");
/** Leases in whole seconds, as the `.catga` source declares them. */
const LEASES = (values.leases ?? "").split(",").map((s) => Number(s.trim().replace(/s$/, "")));
if (LEASES.length === 0 || !LEASES.every((s) => Number.isInteger(s) && s >= 1)) {
  usage("--leases takes whole seconds >= 1, comma-separated, e.g. 2,5,10");
}

const LOAD_AT_START = readFileSync("/proc/loadavg", "utf8").trim();

/** The elector's default retry period (runtime/coordination/leader-elector.ts), before jitter. */
const retryMs = (leaseMs: number) => Math.min(1000, leaseMs / 4);

type Kind = "crash" | "graceful";

interface Seen {
  beat: Heartbeat;
  /** performance.now() when this process received it. */
  at: number;
}

interface Instance {
  id: string;
  proc: ServerProcess;
  port: number;
  spawnedAt: number;
}

let nats: NatsServer | undefined;
let redis: StandaloneRedis | undefined;
let bus: Bus | undefined;
const dir = tempDir("bench-failover");
const everyProcess: ServerProcess[] = [];

async function cleanUp(): Promise<void> {
  await bus?.close().catch(() => {});
  await Promise.all(everyProcess.map((p) => p.kill()));
  await redis?.stop();
  await nats?.stop();
  dir.remove();
}

process.on("SIGINT", () => {
  // Interrupted: leave no servers or instances behind.
  void cleanUp().finally(() => process.exit(130));
});

/** The latest heartbeat of every instance, and who waits for which heartbeat. */
const latest = new Map<string, Seen>();
let waiter: { match: (b: Heartbeat) => boolean; resolve: (s: Seen) => void } | undefined;

function nextBeat(match: (b: Heartbeat) => boolean, timeoutMs: number, what: string): Promise<Seen> {
  return new Promise<Seen>((resolve, reject) => {
    const timer = setTimeout(() => {
      waiter = undefined;
      reject(new Error(`no ${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    waiter = {
      match,
      resolve: (s) => {
        clearTimeout(timer);
        waiter = undefined;
        resolve(s);
      },
    };
  });
}

interface Sample {
  leaseS: number;
  kind: Kind;
  ms: number;
  from: string;
  to: string;
}

async function runLease(leaseS: number, samples: Sample[], checks: { ok: number; failed: string[] }) {
  const leaseMs = leaseS * 1000;
  const wiring = leaderWiring(`${leaseS}s`);
  const work = workSpec(wiring);
  const wiringFile = join(dir.path, `wiring-${leaseS}s.json`);
  writeFileSync(wiringFile, JSON.stringify(wiring));
  const live: Instance[] = [];
  let next = 0;

  const spawnBoss = async (): Promise<Instance> => {
    const id = `boss-${leaseS}s-${next++}`;
    const port = await freePort();
    const proc = spawnCatga(["run", "--service", "boss"], {
      CATGA_WIRING: wiringFile,
      CATGA_HANDLERS: join(ROOT, "test/fixtures/leader.ts"),
      CATGA_NATS_URLS: nats!.url,
      CATGA_REDIS_URL: redis!.url,
      CATGA_INSTANCE_ID: id,
      CATGA_HEALTH_PORT: String(port),
      CATGA_TEST_TICKS: "",
    });
    everyProcess.push(proc);
    const instance = { id, proc, port, spawnedAt: performance.now() };
    live.push(instance);
    await waitFor(`${id} to be ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
      timeoutMs: 60_000,
      intervalMs: 100,
      describe: () => proc.output(),
    });
    return instance;
  };

  /** Three ready replicas, each heard since it started, exactly one of them leading. */
  const settle = async (): Promise<{ leader: Instance; token: bigint }> => {
    let found: { leader: Instance; token: bigint } | undefined;
    await waitFor(
      "three replicas with exactly one leader",
      async () => {
        const beats = live.map((i) => ({ i, s: latest.get(i.id) }));
        if (live.length !== 3 || beats.some(({ i, s }) => s === undefined || s.at < i.spawnedAt))
          return false;
        const leading = beats.filter(({ s }) => s!.beat.role === "leader");
        if (leading.length !== 1) return false;
        found = { leader: leading[0]!.i, token: BigInt(leading[0]!.s!.beat.fencingToken!) };
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    return found!;
  };

  const trial = async (kind: Kind): Promise<void> => {
    await settle();
    // Spread the signal over the leader's renew cycle (renew every lease / 3), as a real crash
    // would fall anywhere in it; the fixed part lets a just-restarted standby reach its retry loop.
    await sleep(300 + Math.random() * (leaseMs / 3));
    const { leader: old, token: oldToken } = await settle();
    const arrived = nextBeat(
      (b) =>
        b.role === "leader" &&
        b.instance !== old.id &&
        b.fencingToken !== undefined &&
        BigInt(b.fencingToken) > oldToken,
      leaseMs * 3 + 30_000,
      `new leader after ${kind} of ${old.id}`,
    );
    const t0 = performance.now();
    old.proc.signal(kind === "crash" ? "SIGKILL" : "SIGTERM");
    const seen = await arrived;
    const ms = seen.at - t0;
    samples.push({ leaseS, kind, ms, from: old.id, to: seen.beat.instance });
    process.stderr.write(
      `lease ${leaseS}s ${kind.padEnd(8)} ${ms.toFixed(0).padStart(6)} ms  ${old.id} (${oldToken}) -> ${seen.beat.instance} (${seen.beat.fencingToken})\n`,
    );
    // The new leader serves: a request is answered by it, under its token.
    try {
      const reply = await sendRequest(bus!, work, { n: samples.length });
      if (reply.instance === seen.beat.instance && reply.token === seen.beat.fencingToken) checks.ok++;
      else checks.failed.push(`lease ${leaseS}s ${kind}: answered by ${reply.instance} (${reply.token})`);
    } catch (error) {
      checks.failed.push(
        `lease ${leaseS}s ${kind}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    await waitFor(`${old.id} to exit`, async () => old.proc.exited, { timeoutMs: 30_000 });
    live.splice(live.indexOf(old), 1);
    const replaced = await spawnBoss();
    process.stderr.write(
      `  replacement ${replaced.id} ready after ${(performance.now() - replaced.spawnedAt).toFixed(0)} ms\n`,
    );
  };

  try {
    await Promise.all([spawnBoss(), spawnBoss(), spawnBoss()]);
    // Alternate the kinds, so both see the same spells of machine load.
    for (let i = 0; i < TRIALS; i++) {
      await trial("crash");
      await trial("graceful");
    }
  } finally {
    // Graceful stops release the lease, so the next lease's replicas elect at once.
    for (const i of live) i.proc.signal("SIGTERM");
    await Promise.all(
      live.map((i) =>
        waitFor(`${i.id} to exit`, async () => i.proc.exited, { timeoutMs: 20_000 }).catch(() =>
          i.proc.kill(),
        ),
      ),
    );
  }
}

interface Stat {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
}

function stat(values: number[]): Stat {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  // Nearest rank: the smallest sample with at least 95 % of the samples at or below it.
  const p95 = s[Math.max(0, Math.ceil(0.95 * n) - 1)]!;
  return { n, min: s[0]!, median, p95, max: s[n - 1]! };
}

/** A markdown table, columns after the first `left` right-aligned, padded as biome formats it. */
function table(header: string[], body: string[][], left = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (i < left ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`;
  return [line(header), rule, ...body.map(line)].join("\n");
}

function machine(): string {
  const cpu = cpus();
  const redisV = /v=(\S+)/.exec(execFileSync("redis-server", ["--version"], { encoding: "utf8" }))?.[1];
  const natsV = execFileSync("nats-server", ["--version"], { encoding: "utf8" })
    .trim()
    .replace(/^nats-server: /, "");
  return `${cpu[0]?.model.trim() || "unknown CPU"}, ${cpu.length} cores, Node ${process.version}, ${platform()} ${release()}, Redis ${redisV ?? "?"}, nats-server ${natsV}`;
}

const samples: Sample[] = [];
const checks = { ok: 0, failed: [] as string[] };
const startedAt = Date.now();
try {
  nats = await startNats();
  redis = await startRedis();
  bus = await connectNats({ servers: [nats.url] });
  const decoder = new TextDecoder();
  bus.transport.subscribe("lead._catga.heartbeat.>", {}, (msg) => {
    const at = performance.now();
    const beat = JSON.parse(decoder.decode(msg.data)) as Heartbeat;
    const seen = { beat, at };
    latest.set(beat.instance, seen);
    if (waiter?.match(beat)) waiter.resolve(seen);
  });
  await bus.transport.flush();
  for (const leaseS of LEASES) {
    process.stderr.write(`lease ${leaseS}s: ${TRIALS} crash and ${TRIALS} graceful trials...\n`);
    await runLease(leaseS, samples, checks);
  }
} finally {
  await cleanUp();
}
const LOAD_AT_END = readFileSync("/proc/loadavg", "utf8").trim();
const minutes = ((Date.now() - startedAt) / 60_000).toFixed(1);

const rows: string[][] = [];
for (const leaseS of LEASES) {
  for (const kind of ["crash", "graceful"] as const) {
    const s = stat(samples.filter((x) => x.leaseS === leaseS && x.kind === kind).map((x) => x.ms));
    const leaseMs = leaseS * 1000;
    const bound = kind === "crash" ? leaseMs + retryMs(leaseMs) : 1000;
    const within = samples.filter((x) => x.leaseS === leaseS && x.kind === kind && x.ms <= bound).length;
    rows.push([
      `${leaseS} s`,
      kind === "crash" ? "crash (SIGKILL)" : "graceful (SIGTERM)",
      String(s.n),
      s.min.toFixed(0),
      s.median.toFixed(0),
      s.p95.toFixed(0),
      s.max.toFixed(0),
      kind === "crash" ? `${bound} (lease + retry ${retryMs(leaseMs)})` : `${bound} (goal)`,
      `${within}/${s.n}`,
    ]);
  }
}
const resultTable = table(
  ["lease", "kind", "trials", "min ms", "median ms", "p95 ms", "max ms", "bound ms", "within bound"],
  rows,
);
const flags = [
  values.trials !== "20" ? `--trials ${TRIALS}` : "",
  values.leases !== "2,5,10" ? `--leases ${LEASES.join(",")}` : "",
  values.write ? "--write" : "",
].filter(Boolean);
const command = `npm run bench:failover${flags.length > 0 ? ` -- ${flags.join(" ")}` : ""}`;
const checkLine =
  checks.failed.length === 0
    ? `After every trial a \`Work\` request was answered by the new leader under its new token (${checks.ok}/${checks.ok}).`
    : `After each trial a \`Work\` request checked the new leader: ${checks.ok} answered by it under its new token, ${checks.failed.length} not (${checks.failed.join("; ")}).`;

console.log(
  `${machine()}\nload at start: ${LOAD_AT_START}\nload at end:   ${LOAD_AT_END}\n${minutes} min\n\n${resultTable}\n\n${checkLine}`,
);
if (values.write) {
  const section = [
    START,
    `Machine: ${machine()}.  `,
    `\`cat /proc/loadavg\` at start: \`${LOAD_AT_START}\`; at end: \`${LOAD_AT_END}\` (the machine was shared with other work).  `,
    `Command: \`${command}\` (${minutes} min).`,
    "",
    "Three `catga run` processes of the leader-mode service of `test/fixtures/leader.ts` (its `.catga`",
    "text generated with each lease) on one nats-server and one redis-server on localhost. The",
    "elector's defaults: renew every lease / 3, renew deadline 2 × lease / 3, retry period",
    "min(1000 ms, lease / 4) stretched by up to 20 % jitter. Each trial signals the leader at a random",
    "point of its renew cycle and measures until the benchmark receives the first heartbeat of a new",
    "leader with a higher fencing token (a new leader publishes one the moment it is elected);",
    "the stopped instance is then replaced, so every trial starts with three replicas. Crash and",
    "graceful trials alternate. Median of an even count is the mean of the middle two; p95 is the",
    "nearest rank (with 20 trials, the 19th smallest).",
    "",
    resultTable,
    "",
    checkLine,
    "",
    "Reference (documented defaults, not measured here): Kubernetes leader election as client-go",
    "and the control plane use it — leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s —",
    "replaces a crashed leader in about 15–17 s: the lease must expire, then a candidate's next retry",
    "wins.",
    END,
  ].join("\n");
  // Others edit other sections: read the file as late as possible and replace only ours.
  const doc = readFileSync(DOC, "utf8");
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) {
    console.error(`bench:failover: ${DOC} has no '${START}' ... '${END}' section: restore the markers`);
    process.exit(2);
  }
  writeFileSync(DOC, doc.slice(0, start) + section + doc.slice(end + END.length));
  process.stderr.write(`updated ${DOC}\n`);
}
