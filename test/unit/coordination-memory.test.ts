import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  acquireLock,
  backoffDelay,
  type ElectorEvent,
  LeaderElector,
  LeadershipLostError,
  type LockLostError,
  MemoryCoordination,
  parseRedisConfig,
  RedisConfigError,
  runSchedule,
} from "../../runtime/coordination/index.js";
import { coordinationConformance } from "../helpers/coordination-conformance.js";

let scopes = 0;
const scope = () => `{catga:unit:s${++scopes}}`;

describe("coordination conformance (memory)", () => {
  coordinationConformance("memory coordination", () => {
    let clock = 1_000_000;
    const backend = new MemoryCoordination({ now: () => clock });
    return {
      backend: () => backend,
      advance: async (ms) => {
        clock += ms;
      },
      scope,
      ttlMs: 2000,
    };
  });
});

/** Electors on one in-memory backend, all on vitest's fake clock. */
function cluster(count: number, leaseMs = 3000) {
  const backend = new MemoryCoordination({ now: () => Date.now() });
  const hashTag = scope();
  const events: (ElectorEvent & { id: string; at: number })[] = [];
  const electors = Array.from({ length: count }, (_, i) => {
    const e = new LeaderElector({
      backend,
      hashTag,
      instanceId: `i${i}`,
      leaseMs,
      now: () => Date.now(),
      random: () => 0.5,
    });
    e.subscribe((ev) => events.push({ ...ev, id: `i${i}`, at: Date.now() }));
    return e;
  });
  const leaders = () => electors.filter((e) => e.state === "leader");
  return { backend, hashTag, electors, events, leaders };
}

describe("leader elector (memory, fake clock)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("leader elector — exactly one of three instances leads and keeps leading while it renews", async () => {
    const c = cluster(3);
    for (const e of c.electors) e.start();
    for (let step = 0; step < 40; step++) {
      await vi.advanceTimersByTimeAsync(250);
      expect(c.leaders()).toHaveLength(1);
    }
    expect(c.events.filter((e) => e.type === "elected")).toHaveLength(1);
    const leader = c.leaders()[0]!;
    expect(leader.token).toBe(1);
    expect(leader.stats.renewals).toBeGreaterThanOrEqual(9);
    await Promise.all(c.electors.map((e) => e.stop()));
  });

  it("leader elector — graceful release hands over at once to a standby that is poked", async () => {
    const c = cluster(3);
    for (const e of c.electors) e.start();
    await vi.advanceTimersByTimeAsync(100);
    const old = c.leaders()[0]!;
    const oldSignal = old.signal!;
    await old.stop({ release: true });
    expect(oldSignal.aborted).toBe(true);
    expect(oldSignal.reason).toBeInstanceOf(LeadershipLostError);
    expect(old.state).toBe("stopped");
    for (const e of c.electors) e.tryNow();
    await vi.advanceTimersByTimeAsync(1);
    expect(c.leaders()).toHaveLength(1);
    expect(c.leaders()[0]!.token).toBe(2);
    expect(c.events.find((e) => e.type === "demoted")).toMatchObject({ reason: "stopped", token: 1 });
    await Promise.all(c.electors.map((e) => e.stop()));
  });

  it("leader elector — without release a standby takes over within lease + retry period", async () => {
    const c = cluster(2, 2000);
    for (const e of c.electors) e.start();
    await vi.advanceTimersByTimeAsync(10);
    const old = c.leaders()[0]!;
    const stoppedAt = Date.now();
    await old.stop({ release: false });
    await vi.waitUntil(
      async () => {
        await vi.advanceTimersByTimeAsync(10);
        return c.leaders().length === 1;
      },
      { timeout: 1000, interval: 0 },
    );
    const took = Date.now() - stoppedAt;
    // retry period = min(1000, 2000/4) = 500 ms, +20 % jitter at most.
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThanOrEqual(2000 + 600 + 20);
  });

  it("leader elector — store unreachable: the leader steps down at the renew deadline, before the lease expires", async () => {
    const c = cluster(1, 3000);
    const [e] = c.electors;
    e!.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(e!.state).toBe("leader");
    const signal = e!.signal!;
    c.backend.setUnavailable(true);
    const lostAt = Date.now();
    await vi.advanceTimersByTimeAsync(2500);
    expect(e!.state).toBe("standby");
    expect(signal.aborted).toBe(true);
    const demoted = c.events.find((ev) => ev.type === "demoted")!;
    expect(demoted).toMatchObject({ reason: "renew-deadline", token: 1 });
    // The last successful renew was sent at most renewInterval (1 s) before the outage; the
    // deadline (2 s) counts from it, so the step-down comes before lease expiry (3 s after it).
    expect(demoted.at - lostAt).toBeLessThanOrEqual(2000);
    expect(e!.stats.renewErrors).toBeGreaterThan(0);
    c.backend.setUnavailable(false);
    await vi.advanceTimersByTimeAsync(2000);
    expect(e!.state).toBe("leader");
    await e!.stop();
  });

  it("leader elector — a renew rejected by the store (lease taken) demotes at once", async () => {
    const c = cluster(1, 3000);
    const [e] = c.electors;
    e!.start();
    await vi.advanceTimersByTimeAsync(10);
    // Someone deletes the lease and another instance takes it (as after an expiry).
    await c.backend.release(c.hashTag, "i0", 1);
    expect(await c.backend.acquire(c.hashTag, "intruder", 3000)).toBe(2);
    await vi.advanceTimersByTimeAsync(1100);
    expect(e!.state).toBe("standby");
    expect(c.events.at(-1)).toMatchObject({ type: "demoted", reason: "renew-rejected", token: 1 });
    await e!.stop();
  });

  it("leader elector — store down at start: keeps retrying without throwing, leads once it is up", async () => {
    const c = cluster(1, 2000);
    c.backend.setUnavailable(true);
    const [e] = c.electors;
    e!.start();
    await vi.advanceTimersByTimeAsync(5000);
    expect(e!.state).toBe("standby");
    expect(e!.stats.acquireErrors).toBeGreaterThanOrEqual(8);
    c.backend.setUnavailable(false);
    await vi.advanceTimersByTimeAsync(700);
    expect(e!.state).toBe("leader");
    await e!.stop();
  });

  it("leader elector — a deadline overdue while the timers were starved is enforced on read", async () => {
    let clock = 0;
    const backend = new MemoryCoordination({ now: () => clock });
    const e = new LeaderElector({
      backend,
      hashTag: scope(),
      instanceId: "x",
      leaseMs: 3000,
      now: () => clock,
    });
    e.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(e.state).toBe("leader");
    // The clock jumps (a SIGSTOP) while no timer has had a chance to run.
    clock += 2500;
    expect(e.token).toBeUndefined();
    expect(e.state).toBe("standby");
    await e.stop();
  });

  it("leader elector — rejects timings that would let a lease expire under a leader", () => {
    const backend = new MemoryCoordination();
    const base = { backend, hashTag: scope(), instanceId: "x", leaseMs: 3000 };
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 3000 })).toThrow(RangeError);
    expect(() => new LeaderElector({ ...base, renewIntervalMs: 2500, renewDeadlineMs: 2000 })).toThrow(
      RangeError,
    );
    expect(() => new LeaderElector({ ...base, hashTag: "catga:no-braces" })).toThrow(TypeError);
  });
});

describe("schedules and locks (memory, fake clock)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("schedule — runs each tick once, skips a tick while the previous run is in progress", async () => {
    const backend = new MemoryCoordination({ now: () => Date.now() });
    const hashTag = scope();
    const token = (await backend.acquire(hashTag, "a", 60_000))!;
    const controller = new AbortController();
    const ticks: number[] = [];
    const handle = runSchedule({
      backend,
      hashTag,
      job: "sweep",
      intervalMs: 100,
      token: () => token,
      signal: controller.signal,
      now: () => Date.now(),
      run: async ({ tick }) => {
        ticks.push(tick);
        // Every third run takes 1.5 ticks: the next tick must be skipped, not overlapped.
        if (tick % 3 === 0) await new Promise((r) => setTimeout(r, 150));
      },
    });
    await vi.advanceTimersByTimeAsync(1000);
    controller.abort();
    await vi.advanceTimersByTimeAsync(200);
    await handle.done;
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(ticks[0]).toBe(10_000);
    expect(handle.stats.skippedOverlap).toBeGreaterThan(0);
    expect(handle.stats.ran).toBe(ticks.length);
    expect(ticks.length + handle.stats.skippedOverlap).toBeGreaterThanOrEqual(10);
  });

  it("schedule — a new leader does not rerun claimed ticks and a deposed one cannot claim", async () => {
    const backend = new MemoryCoordination({ now: () => Date.now() });
    const hashTag = scope();
    const runs: { tick: number; token: number }[] = [];
    const start = (token: number, controller: AbortController) =>
      runSchedule({
        backend,
        hashTag,
        job: "sweep",
        intervalMs: 100,
        token: () => token,
        signal: controller.signal,
        now: () => Date.now(),
        run: ({ tick, token: t }) => {
          runs.push({ tick, token: t });
        },
      });
    const t1 = (await backend.acquire(hashTag, "a", 250))!;
    const c1 = new AbortController();
    const h1 = start(t1, c1);
    await vi.advanceTimersByTimeAsync(250);
    // The lease expires; b takes over while a (not yet aware) keeps ticking.
    await vi.advanceTimersByTimeAsync(10);
    const t2 = (await backend.acquire(hashTag, "b", 60_000))!;
    const c2 = new AbortController();
    const h2 = start(t2, c2);
    await vi.advanceTimersByTimeAsync(500);
    c1.abort();
    c2.abort();
    await Promise.all([h1.done, h2.done]);
    const ticks = runs.map((r) => r.tick);
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(runs.filter((r) => r.token === t1).length).toBeGreaterThanOrEqual(2);
    expect(runs.filter((r) => r.token === t2).length).toBeGreaterThanOrEqual(4);
    // After b's first claim, every later run is b's.
    const firstB = runs.findIndex((r) => r.token === t2);
    expect(runs.slice(firstB).every((r) => r.token === t2)).toBe(true);
    expect(h1.stats.refused).toBeGreaterThan(0);
  });

  it("lock — the signal fires when extensions fail past the deadline", async () => {
    const backend = new MemoryCoordination({ now: () => Date.now() });
    const lock = (await acquireLock(backend, "jobs", {
      ttlMs: 3000,
      instanceId: "a",
      now: () => Date.now(),
    }))!;
    await vi.advanceTimersByTimeAsync(5000);
    expect(lock.held).toBe(true);
    backend.setUnavailable(true);
    await vi.advanceTimersByTimeAsync(2100);
    expect(lock.signal.aborted).toBe(true);
    expect((lock.signal.reason as LockLostError).reason).toBe("extend-deadline");
    backend.setUnavailable(false);
    expect(await lock.release()).toBe(true);
  });

  it("lock — the signal fires when an extension is rejected", async () => {
    const backend = new MemoryCoordination({ now: () => Date.now() });
    const lock = (await acquireLock(backend, "jobs", {
      ttlMs: 3000,
      instanceId: "a",
      now: () => Date.now(),
    }))!;
    const holder = (await backend.holder(lock.hashTag))!;
    await backend.release(lock.hashTag, holder.owner, holder.token);
    await vi.advanceTimersByTimeAsync(1100);
    expect((lock.signal.reason as LockLostError).reason).toBe("extend-rejected");
    expect(lock.held).toBe(false);
    expect(await lock.release()).toBe(false);
  });
});

describe("redis config", () => {
  it("redis config — reads each mode from CATGA_REDIS_* variables", () => {
    expect(parseRedisConfig({ CATGA_REDIS_URL: "redis://r:6379" })).toEqual({
      mode: "standalone",
      url: "redis://r:6379",
    });
    expect(
      parseRedisConfig({
        CATGA_REDIS_MODE: "sentinel",
        CATGA_REDIS_SENTINELS: "s1:26379, s2:26379,[::1]:26380",
        CATGA_REDIS_PASSWORD: "pw",
        CATGA_REDIS_TLS: "true",
      }),
    ).toEqual({
      mode: "sentinel",
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26379 },
        { host: "::1", port: 26380 },
      ],
      masterName: "catga",
      password: "pw",
      tls: true,
    });
    expect(
      parseRedisConfig({
        CATGA_REDIS_MODE: "cluster",
        CATGA_REDIS_CLUSTER_NODES: "a:1,b:2",
        CATGA_REDIS_TLS: "0",
      }),
    ).toEqual({
      mode: "cluster",
      nodes: [
        { host: "a", port: 1 },
        { host: "b", port: 2 },
      ],
      tls: false,
    });
  });

  it("redis config — the ACL login: CATGA_REDIS_USER everywhere, the sentinels' own in sentinel mode only", () => {
    expect(
      parseRedisConfig({
        CATGA_REDIS_MODE: "sentinel",
        CATGA_REDIS_SENTINELS: "s1:26379",
        CATGA_REDIS_USER: "order",
        CATGA_REDIS_PASSWORD: "pw",
        CATGA_REDIS_SENTINEL_USER: "catga-client",
        CATGA_REDIS_SENTINEL_PASSWORD: "spw",
      }),
    ).toEqual({
      mode: "sentinel",
      sentinels: [{ host: "s1", port: 26379 }],
      masterName: "catga",
      username: "order",
      password: "pw",
      sentinelUsername: "catga-client",
      sentinelPassword: "spw",
    });
    expect(
      parseRedisConfig({
        CATGA_REDIS_URL: "redis://r:6379",
        CATGA_REDIS_USER: "order",
        CATGA_REDIS_SENTINEL_USER: "ignored",
      }),
    ).toEqual({ mode: "standalone", url: "redis://r:6379", username: "order" });
  });

  it("redis config — names the variable at fault", () => {
    const fault = (env: Record<string, string>) => {
      try {
        parseRedisConfig(env);
      } catch (error) {
        expect(error).toBeInstanceOf(RedisConfigError);
        return (error as RedisConfigError).variable;
      }
      throw new Error("expected a RedisConfigError");
    };
    expect(fault({})).toBe("CATGA_REDIS_URL");
    expect(fault({ CATGA_REDIS_URL: "http://x" })).toBe("CATGA_REDIS_URL");
    expect(fault({ CATGA_REDIS_MODE: "sentinal" })).toBe("CATGA_REDIS_MODE");
    expect(fault({ CATGA_REDIS_MODE: "sentinel" })).toBe("CATGA_REDIS_SENTINELS");
    expect(fault({ CATGA_REDIS_MODE: "cluster", CATGA_REDIS_CLUSTER_NODES: "a:1,b" })).toBe(
      "CATGA_REDIS_CLUSTER_NODES",
    );
    expect(fault({ CATGA_REDIS_MODE: "cluster", CATGA_REDIS_CLUSTER_NODES: "a:99999" })).toBe(
      "CATGA_REDIS_CLUSTER_NODES",
    );
    expect(fault({ CATGA_REDIS_URL: "redis://x:1", CATGA_REDIS_TLS: "maybe" })).toBe("CATGA_REDIS_TLS");
  });

  it("redis config — reconnect backoff doubles from the minimum, is capped and jittered to 50–100 %", () => {
    expect(backoffDelay(1, 50, 2000, () => 0)).toBe(25);
    expect(backoffDelay(1, 50, 2000, () => 0.999)).toBe(50);
    expect(backoffDelay(3, 50, 2000, () => 0.999)).toBe(200);
    expect(backoffDelay(50, 50, 2000, () => 0)).toBe(1000);
    expect(backoffDelay(50, 50, 2000, () => 0.999)).toBe(1999);
  });
});
