import { randomUUID } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type CoordinationBackend,
  createRedis,
  type ElectorEvent,
  LeaderElector,
  RedisCoordination,
} from "../../runtime/coordination/index.js";
import { createLogger } from "../../runtime/log.js";
import { waitFor } from "../harness/_process.js";
import { startRedis, startRedisCluster, startRedisSentinel } from "../harness/redis.js";
import { coordinationConformance } from "../helpers/coordination-conformance.js";
import { type Child, elections, type RedisEnv, spawnChild, until } from "./_children.js";
import type { ChildConfig, ChildReport } from "./_elector-child.js";

/**
 * Leader election, fencing, schedules and locks on real Redis deployments. Instances are child
 * processes (`_elector-child.ts`) where killing or pausing a whole instance matters, in-process
 * electors with their own clients elsewhere. Timings use leases of 1–2 s and poll for conditions,
 * so they hold on a loaded two-core machine; measured figures are printed.
 */

const LEASE = 2000;
// The elector defaults: retry period min(1000, lease/4), with up to 20 % jitter.
const RETRY = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tag = (what: string) => `{catga:it-${what}:${randomUUID().slice(0, 8)}}`;
const figures: string[] = [];
const note = (line: string) => {
  figures.push(line);
  process.stdout.write(`[coordination] ${line}\n`);
};

let children: Child[] = [];
const spawn = (env: RedisEnv, config: ChildConfig): Child => {
  const child = spawnChild(env, config);
  children.push(child);
  return child;
};
afterEach(async () => {
  await Promise.all(children.map((c) => c.process.kill()));
  children = [];
});
afterAll(() => {
  if (figures.length > 0) process.stdout.write(`[coordination] summary:\n  ${figures.join("\n  ")}\n`);
});

/** The elections every deployment must pass: (a) one leader, (b) takeover after SIGKILL, (c) graceful hand-over. */
function electionScenarios(label: string, deployment: () => { env: RedisEnv; backend: CoordinationBackend }) {
  const replicas = (hashTag: string) =>
    ["r0", "r1", "r2"].map((id) =>
      spawn(deployment().env, { role: "elect", instanceId: id, hashTag, leaseMs: LEASE }),
    );

  it(`${label} — three replicas: exactly one leader at every observation, and Redis agrees`, async () => {
    const hashTag = tag("one");
    const group = replicas(hashTag);
    await until("a leader", () => group.some((c) => c.isLeader()), group);
    let observations = 0;
    const deadline = Date.now() + 4000;
    while (Date.now() < deadline) {
      const leaders = group.filter((c) => c.isLeader());
      const holder = await deployment().backend.holder(hashTag);
      expect(leaders.map((c) => c.id)).toEqual([holder?.owner]);
      expect(leaders[0]!.lastToken()).toBe(holder?.token);
      observations++;
      await sleep(100);
    }
    expect(observations).toBeGreaterThan(10);
    expect(elections(group)).toHaveLength(1);
  }, 60_000);

  it(`${label} — leader SIGKILL: a standby leads within lease + retry period, with a higher token`, async () => {
    const hashTag = tag("kill");
    const group = replicas(hashTag);
    await until("a leader", () => group.some((c) => c.isLeader()), group);
    // Let every standby be up and campaigning before the kill.
    await until("standbys started", () => group.every((c) => c.reports().length > 0), group);
    await sleep(1000);
    const old = group.find((c) => c.isLeader())!;
    const oldToken = old.lastToken()!;
    const killedAt = Date.now();
    await old.process.kill();
    const rest = group.filter((c) => c !== old);
    await until("a new leader", () => rest.some((c) => c.isLeader()), group);
    const next = elections(rest).at(-1)!;
    const takeover = next.at - killedAt;
    note(`${label}: takeover after SIGKILL ${takeover} ms (lease ${LEASE} ms, retry ${RETRY} ms)`);
    expect(next.token).toBeGreaterThan(oldToken);
    // The lease had at most LEASE ms left; a standby notices within a jittered retry period.
    expect(takeover).toBeLessThanOrEqual(LEASE + RETRY * 1.2 + 500);
    expect(rest.filter((c) => c.isLeader())).toHaveLength(1);
  }, 60_000);

  it(`${label} — graceful stop with release: a poked standby takes over within a second`, async () => {
    const hashTag = tag("handover");
    const group = replicas(hashTag);
    await until("a leader", () => group.some((c) => c.isLeader()), group);
    await until("standbys started", () => group.every((c) => c.reports().length > 0), group);
    await sleep(500);
    const old = group.find((c) => c.isLeader())!;
    const oldToken = old.lastToken()!;
    const stoppedAt = Date.now();
    old.process.signal("SIGTERM");
    await until("the release", () => old.reports().some((r) => r.type === "released"), group);
    // What the host does on the leader's NATS announcement.
    const rest = group.filter((c) => c !== old);
    for (const c of rest) c.process.signal("SIGUSR2");
    await until("a new leader", () => rest.some((c) => c.isLeader()), group);
    const next = elections(rest).at(-1)!;
    const handover = next.at - stoppedAt;
    note(`${label}: hand-over after graceful release ${handover} ms`);
    expect(next.token).toBeGreaterThan(oldToken);
    expect(handover).toBeLessThan(1000);
  }, 60_000);
}

describe("coordination on standalone Redis", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let client: Redis | Cluster;
  let backend: RedisCoordination;
  let env: RedisEnv;
  beforeAll(async () => {
    redis = await startRedis();
    client = createRedis({ mode: "standalone", url: redis.url });
    await until("client ready", () => client.status === "ready");
    backend = new RedisCoordination(client);
    env = { CATGA_REDIS_MODE: "standalone", CATGA_REDIS_URL: redis.url };
  }, 30_000);
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  coordinationConformance("redis standalone", () => ({
    backend: () => backend,
    advance: async (ms) => {
      await sleep(ms);
    },
    scope: () => tag("conf"),
    ttlMs: 1000,
  }));

  electionScenarios("standalone", () => ({ env, backend }));

  it("standalone — leader SIGSTOPped past its lease: after SIGCONT every write with its stale token is rejected", async () => {
    const hashTag = tag("stop");
    const group = ["p0", "p1", "p2"].map((id) =>
      spawn(env, {
        role: "elect",
        instanceId: id,
        hashTag,
        leaseMs: LEASE,
        writes: { keys: ["shared", `own-${id}`], everyMs: 50 },
      }),
    );
    await until("a leader", () => group.some((c) => c.isLeader()), group);
    const paused = group.find((c) => c.isLeader())!;
    const staleToken = paused.lastToken()!;
    // Wait for a write to its own key: the child writes "shared" first, and a stop between the two
    // writes would leave no own key to check below.
    await until(
      "the leader writing its own key",
      () => paused.reports().some((r) => r.type === "write" && r.ok && r.key === `own-${paused.id}`),
      group,
    );
    paused.process.signal("SIGSTOP");
    // Read the clock after the signal: a write the child started in the same millisecond as a
    // clock read before it would otherwise look like one sent after the stop.
    const stoppedAt = Date.now();
    const rest = group.filter((c) => c !== paused);
    await until("a new leader", () => rest.some((c) => c.isLeader()), group);
    const fresh = elections(rest).at(-1)!;
    expect(fresh.token).toBeGreaterThan(staleToken);
    await until("the new leader writing", () =>
      rest.some((c) => c.reports().some((r) => r.type === "write" && r.ok && r.token === fresh.token)),
    );
    // Paused for longer than the lease, as a long GC pause or a frozen VM would.
    await sleep(Math.max(0, stoppedAt + LEASE + 500 - Date.now()));
    const continuedAt = Date.now();
    paused.process.signal("SIGCONT");
    await until("the paused leader to report demoted", () =>
      paused.reports().some((r) => r.type === "demoted" && r.at >= continuedAt),
    );
    await sleep(500);
    const after = paused
      .reports()
      .filter(
        (r): r is Extract<ChildReport, { type: "write" }> => r.type === "write" && r.sentAt >= continuedAt,
      );
    const acceptedStale = after.filter((r) => r.ok && r.token === staleToken).length;
    note(
      `standalone: writes of the resumed leader after SIGCONT: ${after.length} tried, ${acceptedStale} accepted`,
    );
    expect(after.length).toBeGreaterThan(0);
    expect(acceptedStale).toBe(0);
    const demotion = paused.reports().find((r) => r.type === "demoted" && r.at >= continuedAt);
    expect(demotion).toMatchObject({ token: staleToken });
    // Its own key, which the new leader never writes, kept the value from before the pause.
    const own = await backend.get(hashTag, `own-${paused.id}`);
    expect(own?.startsWith(`${paused.id}:${staleToken}:`)).toBe(true);
    const lastBefore = paused
      .reports()
      .filter((r) => r.type === "write" && r.ok && r.key === `own-${paused.id}`)
      .at(-1) as Extract<ChildReport, { type: "write" }>;
    expect(lastBefore.sentAt).toBeLessThanOrEqual(stoppedAt);
  }, 90_000);

  it("standalone — schedules across leader kills: no tick runs twice, runs never overlap", async () => {
    const hashTag = tag("sched");
    const intervalMs = 200;
    let next = 0;
    const replica = () =>
      spawn(env, {
        role: "schedule",
        instanceId: `s${next++}`,
        hashTag,
        leaseMs: 1500,
        schedule: { job: "sweep", intervalMs, runMinMs: 50, runMaxMs: 350 },
      });
    const live = [replica(), replica(), replica()];
    for (let kill = 0; kill < 2; kill++) {
      await until("a leader", () => live.some((c) => c.isLeader()), children);
      await until(
        "some runs",
        () => children.flatMap((c) => c.reports()).filter((r) => r.type === "run").length >= 5 * (kill + 1),
        children,
      );
      await sleep(1500);
      const leader = live.find((c) => c.isLeader())!;
      await leader.process.kill();
      live.splice(live.indexOf(leader), 1, replica());
    }
    await until("a leader", () => live.some((c) => c.isLeader()), children);
    await sleep(2000);
    for (const c of live) c.process.signal("SIGTERM");
    await until("clean exits", () => live.every((c) => c.process.exited), children);
    const runs = children.flatMap((c) =>
      c.reports().flatMap((r) => (r.type === "run" ? [{ ...r, id: c.id }] : [])),
    );
    const ticks = runs.map((r) => r.tick);
    expect(new Set(ticks).size).toBe(ticks.length);
    for (const c of children) {
      const own = runs.filter((r) => r.id === c.id).sort((a, b) => a.start - b.start);
      for (let i = 1; i < own.length; i++) expect(own[i]!.start).toBeGreaterThanOrEqual(own[i - 1]!.end);
    }
    const tokens = new Set(runs.map((r) => r.token));
    const skipped = children
      .flatMap((c) => c.reports())
      .reduce((n, r) => n + (r.type === "schedule-stats" ? r.skippedOverlap : 0), 0);
    note(
      `standalone: schedule ran ${runs.length} ticks under ${tokens.size} terms, ${skipped} skipped for overlap`,
    );
    expect(runs.length).toBeGreaterThanOrEqual(15);
    expect(tokens.size).toBeGreaterThanOrEqual(3);
    expect(skipped).toBeGreaterThan(0);
  }, 120_000);

  it("standalone — locks under kills and pauses: fenced increments never lose an update", async () => {
    const name = `counter-${randomUUID().slice(0, 8)}`;
    let next = 0;
    const contender = () =>
      spawn(env, {
        role: "lock",
        instanceId: `l${next++}`,
        hashTag: tag("unused"),
        leaseMs: 1000,
        lock: { name, holdMs: 300, everyMs: 20 },
      });
    const live = [contender(), contender(), contender(), contender()];
    await until(
      "a lock holder",
      () => children.some((c) => c.reports().some((r) => r.type === "locked")),
      children,
    );
    let stops = 0;
    for (let round = 0; round < 8; round++) {
      await sleep(400 + Math.random() * 400);
      const latest = live
        .map((c) => ({
          c,
          at:
            c
              .reports()
              .filter((r) => r.type === "locked")
              .at(-1)?.at ?? 0,
        }))
        .sort((a, b) => b.at - a.at)[0]!.c;
      if (round % 3 === 2) {
        await latest.process.kill();
        live.splice(live.indexOf(latest), 1, contender());
      } else {
        // Paused past the TTL while holding: it resumes mid-critical-section with a stale token.
        latest.process.signal("SIGSTOP");
        stops++;
        await sleep(1600);
        latest.process.signal("SIGCONT");
      }
    }
    await sleep(1000);
    await Promise.all(children.map((c) => c.process.kill()));
    const incs = children.flatMap((c) =>
      c.reports().flatMap((r) => (r.type === "inc" ? [{ ...r, id: c.id }] : [])),
    );
    const accepted = incs.filter((r) => r.ok).sort((a, b) => a.value - b.value);
    const rejected = incs.filter((r) => !r.ok);
    // A lost update shows as two accepted writes of the same value.
    expect(new Set(accepted.map((r) => r.value)).size).toBe(accepted.length);
    for (let i = 1; i < accepted.length; i++) {
      expect(accepted[i]!.token).toBeGreaterThanOrEqual(accepted[i - 1]!.token);
    }
    for (const r of accepted) expect(r.prevToken).toBeLessThanOrEqual(r.token);
    const store = JSON.parse((await backend.get(`{catga:lock:${name}}`, "counter"))!) as { n: number };
    expect(store.n).toBeGreaterThanOrEqual(accepted.at(-1)!.value);
    const tokens = new Set(accepted.map((r) => r.token));
    note(
      `standalone: lock counter ${store.n}, ${accepted.length} increments reported accepted under ${tokens.size} holds, ${rejected.length} stale increments rejected after ${stops} pauses`,
    );
    expect(accepted.length).toBeGreaterThanOrEqual(50);
    expect(tokens.size).toBeGreaterThanOrEqual(5);
    expect(rejected.length).toBeGreaterThan(0);
  }, 120_000);
});

describe("coordination when Redis goes away", () => {
  const electors: LeaderElector[] = [];
  const clients: (Redis | Cluster)[] = [];
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop({ release: false })));
    for (const c of clients.splice(0)) c.disconnect();
  });

  it("redis down — unreachable at start: the elector retries without throwing and leads once Redis is up", async () => {
    const redis = await startRedis();
    try {
      await redis.node.process.kill();
      const client = createRedis({ mode: "standalone", url: redis.url }, { maxBackoffMs: 500 });
      clients.push(client);
      const elector = new LeaderElector({
        backend: new RedisCoordination(client),
        hashTag: tag("down-start"),
        instanceId: "x",
        leaseMs: LEASE,
      });
      electors.push(elector);
      elector.start();
      await sleep(2000);
      expect(elector.state).toBe("standby");
      expect(elector.stats.acquireErrors).toBeGreaterThanOrEqual(2);
      const upAt = Date.now();
      await redis.node.restart();
      await until("leadership", () => elector.state === "leader", [], 15_000);
      note(`redis down at start: leader ${Date.now() - upAt} ms after redis-server was started again`);
      expect(elector.token).toBe(1);
    } finally {
      await redis.stop();
    }
  }, 60_000);

  it("redis down — lost while leading: the leader steps down before its lease could expire", async () => {
    const redis = await startRedis();
    try {
      const client = createRedis({ mode: "standalone", url: redis.url }, { commandTimeoutMs: 300 });
      clients.push(client);
      await until("client ready", () => client.status === "ready");
      let lastGoodRenewSentAt = 0;
      class Recording extends RedisCoordination {
        override async renew(scope: string, owner: string, token: number, ttlMs: number): Promise<boolean> {
          const sentAt = performance.now();
          const ok = await super.renew(scope, owner, token, ttlMs);
          if (ok) lastGoodRenewSentAt = Math.max(lastGoodRenewSentAt, sentAt);
          return ok;
        }
      }
      const elector = new LeaderElector({
        backend: new Recording(client),
        hashTag: tag("down-lead"),
        instanceId: "x",
        leaseMs: LEASE,
      });
      electors.push(elector);
      const events: (ElectorEvent & { at: number })[] = [];
      elector.subscribe((e) => events.push({ ...e, at: performance.now() }));
      elector.start();
      await until("leadership", () => elector.state === "leader");
      await until("a renew", () => lastGoodRenewSentAt > 0);
      const signal = elector.signal!;
      await redis.node.process.kill();
      await until("demotion", () => events.some((e) => e.type === "demoted"), [], 10_000);
      const demoted = events.find((e) => e.type === "demoted")!;
      const sinceRenew = demoted.at - lastGoodRenewSentAt;
      note(
        `redis lost while leading: stepped down ${Math.round(sinceRenew)} ms after the last good renew was sent (lease ${LEASE} ms, renew deadline ${Math.round((LEASE * 2) / 3)} ms)`,
      );
      expect(demoted).toMatchObject({ reason: "renew-deadline", token: 1 });
      expect(signal.aborted).toBe(true);
      expect(sinceRenew).toBeLessThan(LEASE);
      expect(elector.stats.renewErrors).toBeGreaterThan(0);
    } finally {
      await redis.stop();
    }
  }, 60_000);
});

describe("coordination on Redis Sentinel", () => {
  it("sentinel — the primary dies while a leader holds the lease: election continues, tokens never decrease", async () => {
    const redis = await startRedisSentinel({ replicas: 1 });
    const clients: (Redis | Cluster)[] = [];
    const electors: LeaderElector[] = [];
    try {
      const hashTag = tag("sentinel");
      const events: { id: string; token: number; type: string; at: number }[] = [];
      const logs: string[] = [];
      const backends: RedisCoordination[] = [];
      for (const id of ["a", "b", "c"]) {
        const client = createRedis(
          { mode: "sentinel", sentinels: redis.sentinelAddresses, masterName: redis.masterName },
          { commandTimeoutMs: 500, maxBackoffMs: 500 },
        );
        clients.push(client);
        // WAIT 1 after each acquire narrows the window in which a failover loses a fresh token.
        const backend = new RedisCoordination(client, { waitForReplicas: { replicas: 1, timeoutMs: 500 } });
        backends.push(backend);
        const elector = new LeaderElector({
          backend,
          hashTag,
          instanceId: id,
          leaseMs: LEASE,
          logger: createLogger({ instance: id }, { level: "debug", sink: (line) => logs.push(line) }),
        });
        elector.subscribe((e) => events.push({ id, token: e.token, type: e.type, at: Date.now() }));
        electors.push(elector);
      }
      for (const c of clients) await until("client ready", () => c.status === "ready");
      for (const e of electors) e.start();
      await until("a leader", () => electors.some((e) => e.state === "leader"));
      await sleep(1000);
      const before = electors.find((e) => e.state === "leader")!.token!;
      expect(backends.reduce((n, b) => n + b.stats.unreplicatedAcquires, 0)).toBe(0);
      const killedAt = Date.now();
      await redis.primary.process.kill();
      await until(
        "the sentinels to promote the replica",
        async () => (await redis.currentPrimaryPort()) === redis.replicas[0]!.port,
        [],
        30_000,
      );
      const promotedAt = Date.now();
      const termsBefore = events.length;
      let holderError: unknown;
      await waitFor(
        "a leader after the failover",
        async () =>
          electors.some((e) => e.state === "leader") &&
          (await backends[0]!.holder(hashTag).catch((error) => {
            holderError = error;
            return null;
          })) !== null,
        {
          timeoutMs: 30_000,
          intervalMs: 25,
          // When this fails on a loaded CI machine, say where each elector and client was.
          describe: () =>
            [
              ...electors.map(
                (e, i) =>
                  `elector ${i}: ${e.state} token=${e.token} stats=${JSON.stringify(e.stats)} client=${clients[i]!.status} backend=${JSON.stringify(backends[i]!.stats)}`,
              ),
              `events: ${JSON.stringify(events.map((e) => ({ ...e, at: e.at - killedAt })))}`,
              `last holder() error: ${String(holderError)}`,
              `logs:\n${logs.slice(-40).join("\n")}`,
            ].join("\n"),
        },
      );
      const leader = electors.find((e) => e.state === "leader")!;
      note(
        `sentinel: replica promoted ${promotedAt - killedAt} ms after the primary was killed; a leader (token ${leader.token}) confirmed ${Date.now() - killedAt} ms after the kill; ${events.length - termsBefore} election events after promotion`,
      );
      expect(leader.token!).toBeGreaterThanOrEqual(before);
      const elected = events.filter((e) => e.type === "elected");
      for (let i = 1; i < elected.length; i++)
        expect(elected[i]!.token).toBeGreaterThanOrEqual(elected[i - 1]!.token);
      // A leader exists and its term is the store's current term.
      expect(await backends[0]!.currentTerm(hashTag)).toBe(leader.token);
      await sleep(1500);
      expect(electors.filter((e) => e.state === "leader")).toHaveLength(1);
      const unreplicated = backends.reduce((n, b) => n + b.stats.unreplicatedAcquires, 0);
      const waited = backends.reduce((n, b) => n + b.stats.waitedAcquires, 0);
      note(
        `sentinel: ${waited} acquires waited for a replica, ${unreplicated} not confirmed (after the failover no replica is left)`,
      );
    } finally {
      await Promise.all(electors.map((e) => e.stop({ release: false })));
      for (const c of clients) c.disconnect();
      await redis.stop();
    }
  }, 120_000);
});

describe("coordination on Redis Cluster", () => {
  let redis: Awaited<ReturnType<typeof startRedisCluster>>;
  let client: Redis | Cluster;
  let backend: RedisCoordination;
  let env: RedisEnv;
  beforeAll(async () => {
    redis = await startRedisCluster();
    client = createRedis({ mode: "cluster", nodes: redis.addresses });
    await until("cluster client ready", () => client.status === "ready");
    backend = new RedisCoordination(client);
    env = {
      CATGA_REDIS_MODE: "cluster",
      CATGA_REDIS_CLUSTER_NODES: redis.addresses.map((a) => `${a.host}:${a.port}`).join(","),
    };
  }, 90_000);
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  coordinationConformance("redis cluster", () => ({
    backend: () => backend,
    advance: async (ms) => {
      await sleep(ms);
    },
    scope: () => tag("conf"),
    ttlMs: 1000,
  }));

  electionScenarios("cluster", () => ({ env, backend }));
});
