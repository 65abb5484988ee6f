/**
 * Coordination benchmark on real Redis deployments started by the test harness: latency of the
 * lease operations (acquire, renew, fenced write) on standalone, Sentinel (with and without
 * `WAIT 1` after acquire) and Cluster, then the time a standby needs to take over after the leader
 * is SIGKILLed, and the hand-over after a graceful release, with instances as real processes
 * (`test/integration/_elector-child.ts`). Prints markdown tables; with `--write` it also replaces
 * the section of docs/benchmarks.md between the `bench:coordination` markers.
 *
 *   npx tsx bench/coordination/run.ts [--write] [--ops 2000] [--rounds 5]
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, platform, release } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Cluster, Redis } from "ioredis";
import { createRedis, type RedisConfig, RedisCoordination } from "../../runtime/coordination/index.js";
import { startRedis, startRedisCluster, startRedisSentinel } from "../../test/harness/redis.js";
import { type Child, elections, type RedisEnv, spawnChild, until } from "../../test/integration/_children.js";

const DOC = fileURLToPath(new URL("../../docs/benchmarks.md", import.meta.url));
const START = "<!-- bench:coordination:start -->";
const END = "<!-- bench:coordination:end -->";
const LEASE = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const { values } = parseArgs({
  options: {
    write: { type: "boolean", default: false },
    ops: { type: "string", default: "2000" },
    rounds: { type: "string", default: "5" },
  },
});
const OPS = Number(values.ops);
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(OPS) || OPS < 10 || !Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error("--ops takes a whole number >= 10 and --rounds a whole number >= 1");
  process.exit(2);
}

interface Stat {
  median: number;
  p99: number;
  min: number;
  max: number;
  n: number;
}

function stat(samples: number[]): Stat {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p99: at(0.99), min: s[0]!, max: s.at(-1)!, n: s.length };
}

const ms = (v: number) => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

async function timeOps(backend: RedisCoordination, label: string): Promise<string[][]> {
  const scope = `{catga:bench:${randomUUID().slice(0, 8)}}`;
  const acquire: number[] = [];
  const renew: number[] = [];
  const fenced: number[] = [];
  for (let i = 0; i < OPS; i++) {
    // Each acquire takes a free lease (a new term: GET, INCR, SET PX), as a takeover does.
    let t = performance.now();
    const token = (await backend.acquire(scope, "bench", 10_000))!;
    acquire.push(performance.now() - t);
    t = performance.now();
    await backend.renew(scope, "bench", token, 10_000);
    renew.push(performance.now() - t);
    t = performance.now();
    await backend.fencedSet(scope, "k", String(i), token);
    fenced.push(performance.now() - t);
    await backend.release(scope, "bench", token);
  }
  return [
    [label, "acquire (new term)", acquire],
    [label, "renew", renew],
    [label, "fenced write", fenced],
  ].map(([l, op, samples]) => {
    const s = stat(samples as number[]);
    return [l as string, op as string, String(s.n), ms(s.median), ms(s.p99), ms(s.max)];
  });
}

async function withClient<T>(config: RedisConfig, f: (client: Redis | Cluster) => Promise<T>): Promise<T> {
  const client = createRedis(config);
  try {
    await until("client ready", () => client.status === "ready");
    return await f(client);
  } finally {
    client.disconnect();
  }
}

async function latencies(): Promise<string[][]> {
  const rows: string[][] = [];
  process.stderr.write("latency: standalone...\n");
  const standalone = await startRedis();
  try {
    rows.push(
      ...(await withClient({ mode: "standalone", url: standalone.url }, (c) =>
        timeOps(new RedisCoordination(c), "standalone"),
      )),
    );
  } finally {
    await standalone.stop();
  }
  process.stderr.write("latency: sentinel...\n");
  const sentinel = await startRedisSentinel({ replicas: 1 });
  try {
    const config: RedisConfig = {
      mode: "sentinel",
      sentinels: sentinel.sentinelAddresses,
      masterName: sentinel.masterName,
    };
    rows.push(...(await withClient(config, (c) => timeOps(new RedisCoordination(c), "sentinel"))));
    const waited = await withClient(config, async (c) => {
      const backend = new RedisCoordination(c, { waitForReplicas: { replicas: 1, timeoutMs: 1000 } });
      const r = await timeOps(backend, "sentinel + WAIT 1");
      return { rows: r.slice(0, 1), unconfirmed: backend.stats.unreplicatedAcquires };
    });
    if (waited.unconfirmed > 0)
      process.stderr.write(`  ${waited.unconfirmed} acquires not confirmed by the replica\n`);
    rows.push(...waited.rows);
  } finally {
    await sentinel.stop();
  }
  process.stderr.write("latency: cluster...\n");
  const cluster = await startRedisCluster();
  try {
    rows.push(
      ...(await withClient({ mode: "cluster", nodes: cluster.addresses }, (c) =>
        timeOps(new RedisCoordination(c), "cluster"),
      )),
    );
  } finally {
    await cluster.stop();
  }
  return rows;
}

/** Takeover after SIGKILL and hand-over after release, `ROUNDS` times each, with 3 instance processes. */
async function failovers(): Promise<string[][]> {
  const redis = await startRedis();
  const env: RedisEnv = { CATGA_REDIS_MODE: "standalone", CATGA_REDIS_URL: redis.url };
  const kill: number[] = [];
  const poked: number[] = [];
  const unpoked: number[] = [];
  const all: Child[] = [];
  try {
    const hashTag = `{catga:bench:${randomUUID().slice(0, 8)}}`;
    let next = 0;
    const replica = () => {
      const c = spawnChild(env, { role: "elect", instanceId: `b${next++}`, hashTag, leaseMs: LEASE });
      all.push(c);
      return c;
    };
    const live = [replica(), replica(), replica()];
    const settle = async () => {
      await until("a leader", () => live.some((c) => c.isLeader()), live, 30_000);
      await until("all started", () => live.every((c) => c.reports().length > 0), live, 30_000);
      // A replacement process needs a moment to connect and campaign; a random pause also spreads
      // the kill over the renew cycle, as a real crash would be.
      await sleep(1500 + Math.random() * 700);
    };
    const change = async (how: "kill" | "poke" | "release") => {
      await settle();
      const old = live.find((c) => c.isLeader())!;
      const rest = live.filter((c) => c !== old);
      const at = Date.now();
      if (how === "kill") {
        await old.process.kill();
      } else {
        old.process.signal("SIGTERM");
        if (how === "poke") {
          await until("release", () => old.reports().some((r) => r.type === "released"), live);
          for (const c of rest) c.process.signal("SIGUSR2");
        }
      }
      await until("a new leader", () => rest.some((c) => c.isLeader()), live, 30_000);
      const took = elections(rest).at(-1)!.at - at;
      live.splice(live.indexOf(old), 1, replica());
      return took;
    };
    for (let i = 0; i < ROUNDS; i++) {
      process.stderr.write(`failover round ${i + 1}/${ROUNDS}...\n`);
      kill.push(await change("kill"));
      poked.push(await change("poke"));
      unpoked.push(await change("release"));
    }
  } finally {
    await Promise.all(all.map((c) => c.process.kill()));
    await redis.stop();
  }
  const row = (what: string, samples: number[]) => {
    const s = stat(samples);
    return [
      what,
      String(s.n),
      String(Math.round(s.median)),
      String(Math.round(s.min)),
      String(Math.round(s.max)),
    ];
  };
  return [
    row("takeover after leader SIGKILL", kill),
    row("hand-over after release, standbys poked (tryNow)", poked),
    row("hand-over after release, no poke (retry period)", unpoked),
  ];
}

/** A markdown table, columns after the first two right-aligned, padded as biome formats it. */
function table(header: string[], body: string[][], left = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (i < left ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`;
  return [line(header), rule, ...body.map(line)].join("\n");
}

function machine(): string {
  const cpu = cpus();
  return `${cpu[0]?.model.trim() || "unknown CPU"}, ${cpu.length} cores, Node ${process.version}, ${platform()} ${release()}, Redis ${redisVersion()}`;
}

function redisVersion(): string {
  const out = execFileSync("redis-server", ["--version"], { encoding: "utf8" });
  return /v=(\S+)/.exec(out)?.[1] ?? "unknown";
}

const latencyRows = await latencies();
const failoverRows = await failovers();
const latencyTable = table(
  ["deployment", "operation", "ops", "median ms", "p99 ms", "max ms"],
  latencyRows,
  2,
);
const failoverTable = table(["event", "rounds", "median ms", "min ms", "max ms"], failoverRows);
const command = `npx tsx bench/coordination/run.ts${values.ops !== "2000" ? ` --ops ${OPS}` : ""}${values.rounds !== "5" ? ` --rounds ${ROUNDS}` : ""}${values.write ? " --write" : ""}`;
console.log(`${machine()}\n\n${latencyTable}\n\n${failoverTable}`);
if (values.write) {
  const section = [
    START,
    `Machine: ${machine()}.  `,
    `Command: \`${command}\`.`,
    "",
    "Lease operations, one client issuing them one after another (round trip included; Redis on",
    "localhost, started by the test harness). `acquire (new term)` takes a free lease: GET, INCR and",
    "SET PX in one script. `sentinel + WAIT 1` adds a `WAIT 1` for the replica after each acquire.",
    "",
    latencyTable,
    "",
    `Leadership changes with three instance processes on standalone Redis, lease ${LEASE} ms (renew every`,
    `${Math.round(LEASE / 3)} ms, renew deadline ${Math.round((LEASE * 2) / 3)} ms, retry period ${LEASE / 4} ms plus up to 20 % jitter), measured from the`,
    "signal to the new leader's `elected` report. The leader is killed at a random point of its renew",
    "cycle, so a takeover waits for the rest of the lease and then for a standby's next retry.",
    "",
    failoverTable,
    END,
  ].join("\n");
  const doc = readFileSync(DOC, "utf8");
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) {
    throw new Error(
      `${DOC} has no '${START}' ... '${END}' section: restore the markers, then run again with --write`,
    );
  }
  writeFileSync(DOC, doc.slice(0, start) + section + doc.slice(end + END.length));
  process.stderr.write(`updated ${DOC}\n`);
}
