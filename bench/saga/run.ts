/**
 * Saga benchmark: sagas per second with the 3-step saga of `test/fixtures/saga.ts` (Reserve →
 * Charge → Ship, triggered by an event), in one process on the in-memory transport and
 * MemoryCoordination, and on a real NATS and Redis (started by the test harness) with the
 * coordinator and the step services in this process; then the time to resume after the leader of
 * three `catga run` coordinator processes is SIGKILLed in the middle of 200 sagas. Prints markdown
 * tables; with `--write` it also replaces the section of docs/benchmarks.md between the
 * `bench:saga` markers.
 *
 *   npx tsx bench/saga/run.ts [--write] [--sagas 2000] [--window 200] [--rounds 3]
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import type { HostContext, ServiceDefinition } from "../../runtime/api.js";
import { type Bus, connectNats, memoryBus } from "../../runtime/bus.js";
import type { CoordinationBackend } from "../../runtime/coordination/backend.js";
import { MemoryCoordination } from "../../runtime/coordination/memory-coordination.js";
import { RedisCoordination } from "../../runtime/coordination/redis-coordination.js";
import { type Heartbeat, type Host, startHost } from "../../runtime/host.js";
import { leaderGate } from "../../runtime/leadership.js";
import { publishEvent } from "../../runtime/messaging.js";
import { MemoryHub } from "../../runtime/transport/memory.js";
import type { Transport } from "../../runtime/transport/types.js";
import {
  coordinatorDefinition,
  type Effects,
  memoryEffects,
  sagaMessages,
  sagaWiring,
  stepDefinitions,
} from "../../test/fixtures/saga.js";
import { freePort, type ServerProcess, tempDir, waitFor } from "../../test/harness/_process.js";
import { spawnCatga } from "../../test/harness/catga.js";
import { startNats } from "../../test/harness/nats.js";
import { startRedis } from "../../test/harness/redis.js";

const DOC = fileURLToPath(new URL("../../docs/benchmarks.md", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const START = "<!-- bench:saga:start -->";
const END = "<!-- bench:saga:end -->";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const { values } = parseArgs({
  options: {
    write: { type: "boolean", default: false },
    sagas: { type: "string", default: "2000" },
    window: { type: "string", default: "200" },
    rounds: { type: "string", default: "3" },
  },
});
const SAGAS = Number(values.sagas);
const WINDOW = Number(values.window);
const ROUNDS = Number(values.rounds);
if (![SAGAS, WINDOW, ROUNDS].every((n) => Number.isInteger(n) && n >= 1)) {
  console.error("--sagas, --window and --rounds take whole numbers >= 1");
  process.exit(2);
}

const wiring = sagaWiring();
const messages = sagaMessages(wiring);

/** Starts the step services and a leading coordinator on `transport()`; returns the coordinator. */
async function topology(
  transport: () => Promise<Transport>,
  backend: CoordinationBackend,
  effects: Effects,
): Promise<{ coordinator: Host; hosts: Host[] }> {
  const hosts: Host[] = [];
  for (const [service, definition] of Object.entries(stepDefinitions(wiring, effects))) {
    hosts.push(await startHost({ wiring, service, definition, transport: await transport() }));
  }
  const t = await transport();
  const coordinator = await startHost({
    wiring,
    service: "coordinator",
    definition: coordinatorDefinition(wiring),
    transport: t,
    instanceId: "bench",
    coordination: backend,
    leader: leaderGate({ backend, service: wiring.services.coordinator!, instanceId: "bench", transport: t }),
  });
  hosts.push(coordinator);
  await waitFor("the coordinator to lead", async () => coordinator.sagas !== undefined, {
    timeoutMs: 30_000,
  });
  await coordinator.sagas!.ready;
  return { coordinator, hosts };
}

/** Runs `count` sagas with at most `window` in flight; resolves with sagas per second. */
async function throughput(client: Bus, coordinator: Host, tag: string, count: number): Promise<number> {
  const stats = () => coordinator.sagas!.stats;
  const base = stats().completed;
  let published = 0;
  const started = performance.now();
  while (stats().completed - base < count) {
    while (published < count && published - (stats().completed - base) < WINDOW) {
      const orderId = `${tag}-${published++}`;
      await publishEvent(client, messages.OrderPlaced, { orderId, failAt: -1, failUndo: -1 });
    }
    await sleep(1);
  }
  return count / ((performance.now() - started) / 1000);
}

async function memoryRun(): Promise<number[]> {
  const hub = new MemoryHub();
  const { coordinator, hosts } = await topology(
    async () => memoryBus(hub).transport,
    new MemoryCoordination(),
    memoryEffects(),
  );
  const client = memoryBus(hub);
  await throughput(client, coordinator, "warm", Math.min(200, SAGAS));
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) rates.push(await throughput(client, coordinator, `m${r}`, SAGAS));
  await Promise.all(hosts.map((h) => h.stop({ graceMs: 1000 })));
  return rates;
}

async function natsRedisRun(): Promise<number[]> {
  const nats = await startNats();
  const redis = await startRedis();
  const store = new Redis(redis.url);
  try {
    const { coordinator, hosts } = await topology(
      async () => (await connectNats({ servers: [nats.url] })).transport,
      new RedisCoordination(store),
      memoryEffects(),
    );
    const client = await connectNats({ servers: [nats.url] });
    await throughput(client, coordinator, "warm", Math.min(200, SAGAS));
    const rates: number[] = [];
    for (let r = 0; r < ROUNDS; r++) rates.push(await throughput(client, coordinator, `n${r}`, SAGAS));
    await Promise.all(hosts.map((h) => h.stop({ graceMs: 1000 })));
    await client.close();
    return rates;
  } finally {
    store.disconnect();
    await redis.stop();
    await nats.stop();
  }
}

interface CrashRound {
  /** SIGKILL → the next leader's `elected` heartbeat. */
  takeover: number;
  /** SIGKILL → the first step command sent by the next leader. */
  resume: number;
  /** SIGKILL → every saga of the round ended. */
  allDone: number;
  unfinished: number;
}

/** Three coordinator processes; the leader is SIGKILLed in the middle of 200 sagas, `ROUNDS` times. */
async function crashRuns(): Promise<CrashRound[]> {
  const nats = await startNats();
  const redis = await startRedis();
  const dir = tempDir("bench-saga");
  const wiringFile = join(dir.path, "wiring.json");
  writeFileSync(wiringFile, JSON.stringify(wiring));
  const effects = memoryEffects();
  const calls: number[] = []; // start times of step handler calls
  const hosts: Host[] = [];
  const steps = stepDefinitions(wiring, effects, { delayMs: 10 });
  for (const [service, definition] of Object.entries(steps)) {
    const timed: ServiceDefinition = {
      ...definition,
      handlers: Object.fromEntries(
        Object.entries(definition.handlers).map(([name, h]) => [
          name,
          {
            spec: h.spec,
            handle: (payload: unknown, ctx: HostContext) => {
              calls.push(Date.now());
              return h.handle(payload, ctx);
            },
          },
        ]),
      ),
    };
    const bus = await connectNats({ servers: [nats.url] });
    hosts.push(await startHost({ wiring, service, definition: timed, transport: bus.transport }));
  }
  const client = await connectNats({ servers: [nats.url] });
  const beats = new Map<string, Heartbeat & { seen: number }>();
  client.transport.subscribe("sagademo._catga.heartbeat.>", {}, (msg) => {
    const beat = JSON.parse(new TextDecoder().decode(msg.data)) as Heartbeat;
    beats.set(beat.instance, { ...beat, seen: Date.now() });
  });
  const processes = new Map<string, ServerProcess>();
  let next = 0;
  const spawn = async () => {
    const id = `c${next++}`;
    const port = await freePort();
    const proc = spawnCatga(["run", "--service", "coordinator"], {
      CATGA_WIRING: wiringFile,
      CATGA_HANDLERS: join(ROOT, "test/fixtures/saga.ts"),
      CATGA_NATS_URLS: nats.url,
      CATGA_REDIS_URL: redis.url,
      CATGA_INSTANCE_ID: id,
      CATGA_HEALTH_PORT: String(port),
    });
    processes.set(id, proc);
    await waitFor(`${id} ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 100,
      describe: () => proc.output(),
    });
  };
  const leader = async (not?: string) => {
    let found: (Heartbeat & { seen: number }) | undefined;
    await waitFor(
      "a leader",
      async () => {
        found = [...beats.values()].find(
          (b) => b.role === "leader" && b.instance !== not && !processes.get(b.instance)?.exited,
        );
        return found !== undefined;
      },
      { timeoutMs: 30_000, intervalMs: 2 },
    );
    return found!;
  };
  const rounds: CrashRound[] = [];
  try {
    await Promise.all([spawn(), spawn(), spawn()]);
    for (let r = 0; r < ROUNDS; r++) {
      const old = await leader();
      const orders = Array.from({ length: 200 }, (_, i) => `crash${r}-${i}`);
      for (const orderId of orders) {
        await publishEvent(client, messages.OrderPlaced, { orderId, failAt: -1, failUndo: -1 });
      }
      const effectsOf = async () =>
        [...(await effects.counts()).keys()].filter((k) => k.startsWith(`crash${r}-`));
      await waitFor("sagas under way", async () => (await effectsOf()).length >= 200, {
        timeoutMs: 30_000,
        intervalMs: 2,
      });
      const killedAt = Date.now();
      processes.get(old.instance)!.signal("SIGKILL");
      const unfinished = 600 - (await effectsOf()).length;
      const nextLeader = await leader(old.instance);
      const takeover = nextLeader.seen - killedAt;
      await waitFor("all sagas of the round to end", async () => (await effectsOf()).length === 600, {
        timeoutMs: 60_000,
        intervalMs: 5,
      });
      const allDone = Date.now() - killedAt;
      // Requests the old leader had sent reach the handlers within milliseconds of the kill; the
      // next leader sends nothing before it leads, which takes at least most of a lease.
      const resumedAt = calls.find((t) => t > killedAt + 100);
      rounds.push({ takeover, resume: (resumedAt ?? Number.NaN) - killedAt, allDone, unfinished });
      console.log(`crash round ${r + 1}: ${JSON.stringify(rounds.at(-1))}`);
      await spawn();
    }
  } finally {
    await Promise.all(hosts.map((h) => h.stop({ graceMs: 500 })));
    await client.close();
    await Promise.all([...processes.values()].map((p) => p.kill()));
    await redis.stop();
    await nats.stop();
    dir.remove();
  }
  return rounds;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

function table(header: string[], body: string[][], left = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (i < left ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`;
  return [line(header), rule, ...body.map(line)].join("\n");
}

function machine(): string {
  const cpu = cpus();
  const redis = /v=(\S+)/.exec(execFileSync("redis-server", ["--version"], { encoding: "utf8" }))?.[1];
  const nats = execFileSync("nats-server", ["--version"], { encoding: "utf8" })
    .trim()
    .replace(/^nats-server: /, "");
  // Other work on the machine changes these figures a lot: say how busy it was.
  return `${cpu[0]?.model.trim() || "unknown CPU"}, ${cpu.length} cores, Node ${process.version}, ${platform()} ${release()}, Redis ${redis ?? "?"}, nats-server ${nats}, load average ${LOAD_AT_START} at start`;
}

const LOAD_AT_START = loadavg()[0]!.toFixed(1);
const memory = await memoryRun();
console.log(`in memory: ${memory.map((r) => r.toFixed(0)).join(", ")} sagas/s`);
const real = await natsRedisRun();
console.log(`NATS + Redis: ${real.map((r) => r.toFixed(0)).join(", ")} sagas/s`);
const crashes = await crashRuns();

const rate = (xs: number[]) => [
  String(SAGAS),
  String(ROUNDS),
  median(xs).toFixed(0),
  Math.min(...xs).toFixed(0),
  Math.max(...xs).toFixed(0),
];
const throughputTable = table(
  ["transport and store", "sagas per round", "rounds", "median sagas/s", "min", "max"],
  [
    ["in memory (MemoryHub + MemoryCoordination)", ...rate(memory)],
    ["NATS + Redis (localhost)", ...rate(real)],
  ],
);
const ms = (xs: number[]) => [
  String(xs.length),
  median(xs).toFixed(0),
  Math.min(...xs).toFixed(0),
  Math.max(...xs).toFixed(0),
];
const crashTable = table(
  ["after the leader's SIGKILL (lease 2000 ms)", "rounds", "median ms", "min ms", "max ms"],
  [
    ["next leader elected", ...ms(crashes.map((c) => c.takeover))],
    ["first step re-sent by the next leader (resume)", ...ms(crashes.map((c) => c.resume))],
    ["all 200 sagas ended", ...ms(crashes.map((c) => c.allDone))],
  ],
);
const command = `npx tsx bench/saga/run.ts${values.sagas !== "2000" ? ` --sagas ${SAGAS}` : ""}${values.window !== "200" ? ` --window ${WINDOW}` : ""}${values.rounds !== "3" ? ` --rounds ${ROUNDS}` : ""}${values.write ? " --write" : ""}`;
console.log(`${machine()}\n\n${throughputTable}\n\n${crashTable}`);
if (values.write) {
  const section = [
    START,
    `Machine: ${machine()}.  `,
    `Command: \`${command}\`.`,
    "",
    `Throughput: 3-step sagas (Reserve → Charge → Ship, each a request to another service, state`,
    `written to the store after every step) started by events, at most ${WINDOW} in flight; the`,
    "coordinator (leader) and the three step services run in the benchmark's process. Per saga: 3",
    "step requests, one read (is the trigger new?) and 9 fenced writes (open index, first state, one",
    "per step, final state, then the open index, the counts and the retention bucket).",
    "",
    throughputTable,
    "",
    "Resume after a crash: three `catga run` coordinator processes on standalone Redis; the leader is",
    "SIGKILLed once 200 sagas are under way (step handlers take 10 ms each). At the kill, of the 600",
    `step effects of a round, ${crashes.map((c) => c.unfinished).join(", ")} were still to apply.`,
    "",
    crashTable,
    END,
  ].join("\n");
  const doc = readFileSync(DOC, "utf8");
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) {
    throw new Error(
      `${DOC} has no '${START}' ... '${END}' section: add the markers, then run again with --write`,
    );
  }
  writeFileSync(DOC, doc.slice(0, start) + section + doc.slice(end + END.length));
}
process.exit(0);
