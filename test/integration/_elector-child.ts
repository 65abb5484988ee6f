/**
 * One coordination "instance" as a real process, for the integration tests that SIGKILL, SIGSTOP
 * and SIGCONT instances. Run with `node --import tsx test/integration/_elector-child.ts`; Redis
 * comes from the CATGA_REDIS_* variables, the role from CATGA_CHILD (JSON, see `ChildConfig`).
 * It reports every observation as one JSON line on stdout (see `ChildReport`).
 *
 * Signals: SIGUSR2 = `tryNow()` (what the host does on a NATS release announcement);
 * SIGTERM = graceful stop with release, then exit.
 *
 * It deliberately keeps writing with its last token after losing leadership (or a lock): that is
 * the paused-leader hazard fencing must neutralise, and the tests count how many such writes the
 * store accepted (it must be none).
 */
import {
  acquireLock,
  createRedis,
  FencedStore,
  LeaderElector,
  LockTimeoutError,
  parseRedisConfig,
  RedisCoordination,
  runSchedule,
  StaleTokenError,
} from "../../runtime/coordination/index.js";

/** What the child does. */
export interface ChildConfig {
  role: "elect" | "schedule" | "lock";
  instanceId: string;
  hashTag: string;
  leaseMs: number;
  retryPeriodMs?: number;
  /** elect: fenced writes to these keys every `everyMs`, with the last token ever held. */
  writes?: { keys: string[]; everyMs: number };
  /** schedule: the job and how long each run takes (uniformly between min and max). */
  schedule?: { job: string; intervalMs: number; runMinMs: number; runMaxMs: number };
  /** lock: hold the lock for about `holdMs`, incrementing the fenced counter every `everyMs`. */
  lock?: { name: string; holdMs: number; everyMs: number };
}

/** One line of output. `at` is the child's wall clock (shared by every process on the machine). */
export type ChildReport =
  | { type: "started"; at: number }
  | { type: "elected"; token: number; at: number }
  | { type: "demoted"; token: number; reason: string; at: number }
  | { type: "released"; at: number }
  | { type: "write"; key: string; token: number; ok: boolean; sentAt: number; at: number }
  | { type: "run"; tick: number; token: number; start: number; end: number }
  | { type: "schedule-stats"; skippedOverlap: number; refused: number; missed: number; at: number }
  | { type: "locked"; token: number; at: number }
  | { type: "inc"; token: number; value: number; prevToken: number; ok: boolean; sentAt: number; at: number };

const report = (r: ChildReport) => process.stdout.write(`${JSON.stringify(r)}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const config = JSON.parse(process.env.CATGA_CHILD ?? "{}") as ChildConfig;
const client = createRedis(parseRedisConfig(process.env), {
  commandTimeoutMs: Math.max(200, Math.floor(config.leaseMs / 4)),
  connectionName: config.instanceId,
});
const backend = new RedisCoordination(client);

async function elect(): Promise<void> {
  const elector = new LeaderElector({
    backend,
    hashTag: config.hashTag,
    instanceId: config.instanceId,
    leaseMs: config.leaseMs,
    ...(config.retryPeriodMs !== undefined ? { retryPeriodMs: config.retryPeriodMs } : {}),
  });
  let lastToken: number | undefined;
  // Terms' schedules run one after the other: a new term waits until the old term's run is over,
  // so runs never overlap within this process even across terms.
  let schedules: Promise<void> = Promise.resolve();
  elector.subscribe((event) => {
    if (event.type === "elected") {
      lastToken = event.token;
      report({ type: "elected", token: event.token, at: Date.now() });
      const { token, signal } = event;
      if (config.role === "schedule") schedules = schedules.then(() => scheduleTerm(token, signal));
    } else {
      report({ type: "demoted", token: event.token, reason: event.reason, at: Date.now() });
    }
  });
  process.on("SIGUSR2", () => elector.tryNow());
  process.on("SIGTERM", () => {
    void elector.stop({ release: true }).then(async () => {
      report({ type: "released", at: Date.now() });
      await schedules;
      client.disconnect();
      process.exit(0);
    });
  });
  elector.start();
  if (config.writes) {
    const store = new FencedStore(backend, config.hashTag);
    const { keys, everyMs } = config.writes;
    for (let seq = 0; ; seq++) {
      await sleep(everyMs);
      const token = lastToken;
      if (token === undefined) continue;
      for (const key of keys) {
        const sentAt = Date.now();
        let ok = false;
        try {
          await store.set(key, `${config.instanceId}:${token}:${seq}`, token);
          ok = true;
        } catch (error) {
          if (!(error instanceof StaleTokenError)) continue;
        }
        report({ type: "write", key, token, ok, sentAt, at: Date.now() });
      }
    }
  }
}

async function scheduleTerm(token: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  const s = config.schedule!;
  const handle = runSchedule({
    backend,
    hashTag: config.hashTag,
    job: s.job,
    intervalMs: s.intervalMs,
    token: () => token,
    signal,
    run: async ({ tick, token: t }) => {
      const start = Date.now();
      await sleep(s.runMinMs + Math.random() * (s.runMaxMs - s.runMinMs));
      report({ type: "run", tick, token: t, start, end: Date.now() });
    },
  });
  await handle.done;
  report({
    type: "schedule-stats",
    skippedOverlap: handle.stats.skippedOverlap,
    refused: handle.stats.refused,
    missed: handle.stats.missed,
    at: Date.now(),
  });
}

async function lockLoop(): Promise<void> {
  const l = config.lock!;
  for (;;) {
    let lock: Awaited<ReturnType<typeof acquireLock>>;
    try {
      lock = await acquireLock(backend, l.name, {
        ttlMs: config.leaseMs,
        instanceId: config.instanceId,
        wait: { timeoutMs: 3000, retryMs: 50 },
      });
    } catch (error) {
      if (error instanceof LockTimeoutError) continue;
      await sleep(100);
      continue;
    }
    if (!lock) continue;
    report({ type: "locked", token: lock.token, at: Date.now() });
    const store = new FencedStore(backend, lock.hashTag);
    // A hold is a number of increments, not a time span, and the signal is checked only AFTER each
    // write: a holder paused mid-hold resumes and tries at least one write with its stale token.
    for (let i = 0; i < Math.ceil(l.holdMs / l.everyMs); i++) {
      const sentAt = Date.now();
      try {
        const current = JSON.parse((await store.get("counter")) ?? '{"n":0,"token":0}') as {
          n: number;
          token: number;
        };
        let ok = false;
        try {
          await store.set("counter", JSON.stringify({ n: current.n + 1, token: lock.token }), lock.token);
          ok = true;
        } catch (error) {
          if (!(error instanceof StaleTokenError)) throw error;
        }
        report({
          type: "inc",
          token: lock.token,
          value: current.n + 1,
          prevToken: current.token,
          ok,
          sentAt,
          at: Date.now(),
        });
      } catch {
        // Store unreachable: the extension deadline decides whether the hold survives.
      }
      if (lock.signal.aborted) break;
      await sleep(l.everyMs);
    }
    await lock.release();
    await sleep(Math.random() * 50);
  }
}

report({ type: "started", at: Date.now() });
if (config.role === "lock") void lockLoop();
else void elect();
