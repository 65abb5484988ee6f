import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "../../runtime/bus.js";
import type { RedisCoordination } from "../../runtime/coordination/redis-coordination.js";
import type { Heartbeat } from "../../runtime/host.js";
import { publishEvent, sendRequest } from "../../runtime/messaging.js";
import { sagaId, sagaStatus } from "../../runtime/saga.js";
import { type Effects, type StepHandlerOptions, sagaMessages, sagaWiring } from "../fixtures/saga.js";
import { tempDir, waitFor } from "../harness/_process.js";
import { type NatsServer, startNats } from "../harness/nats.js";
import { type StandaloneRedis, startRedis } from "../harness/redis.js";
import {
  type Coordinators,
  FINAL,
  type SagaDeployment,
  type sagaRecords,
  startSagaDeployment,
  waitSagasEnded,
} from "../helpers/coordinators.js";

/**
 * Sagas end to end on a real NATS and a real Redis: the coordinator runs as three `catga run`
 * processes (one leads), the step services run in this process and record their effects in Redis,
 * deduplicated by idempotency key and counted per order and command. Covers the happy path,
 * compensation in reverse from each step, a failing compensation, a command trigger, a leader
 * SIGKILLed in the middle of 200 sagas (all finish under the next leader, no effect twice), and a
 * leader paused past its lease (its saga writes are rejected by fencing; no saga state regresses).
 */
const ROOT = new URL("../..", import.meta.url).pathname;
const wiring = sagaWiring();
const messages = sagaMessages(wiring);

/** What a PlaceOrder saga's handlers must have applied, by the step that refuses (-1: none). */
const expectedLog = (failAt: number) =>
  [["Reserve", "Charge", "Ship"], [], ["Reserve", "Release"], ["Reserve", "Charge", "Refund", "Release"]][
    failAt + 1
  ]!;

describe("sagas with catga run on NATS and Redis", () => {
  let nats: NatsServer;
  let redis: StandaloneRedis;
  let dir: ReturnType<typeof tempDir>;
  let client: Bus;
  let coordination: RedisCoordination;
  let effects: Effects;
  const stepOptions: StepHandlerOptions = { delayMs: 0 };
  let deployment: SagaDeployment<object> | undefined;
  let coordinators: Coordinators;
  const spawnCoordinator = (id: string) => coordinators.spawn(id, nats.url, {});
  const waitForLeader = (other?: (b: Heartbeat) => boolean) => coordinators.waitForLeader(other);
  let record: ReturnType<typeof sagaRecords>;
  const waitAllEnded = (ids: readonly string[], timeoutMs = 60_000) =>
    waitSagasEnded(record, ids, { timeoutMs, intervalMs: 100 });
  const metric = async (port: number, name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return text
      .split("\n")
      .filter((l) => l.startsWith(name))
      .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
  };

  async function placeMany(prefix: string, count: number, failAt: (i: number) => number) {
    const sagas = Array.from({ length: count }, (_, i) => ({
      orderId: `${prefix}${i}`,
      messageId: `${prefix}-m${i}`,
      failAt: failAt(i),
    }));
    for (const s of sagas) {
      await publishEvent(
        client,
        messages.OrderPlaced,
        { orderId: s.orderId, failAt: s.failAt, failUndo: -1 },
        { messageId: s.messageId },
      );
    }
    return sagas.map((s) => ({ ...s, id: sagaId("PlaceOrder", s.messageId) }));
  }

  async function expectNoDuplicates(prefix: string) {
    const counts = await effects.counts();
    const mine = [...counts.entries()].filter(([k]) => k.startsWith(prefix));
    const duplicates = mine.filter(([, n]) => n !== 1);
    expect(duplicates).toEqual([]);
    return mine.length;
  }

  beforeAll(async () => {
    nats = await startNats();
    redis = await startRedis();
    dir = tempDir("saga");
    deployment = await startSagaDeployment({
      wiring,
      dir: dir.path,
      natsUrls: [nats.url],
      redisUrl: redis.url,
      steps: stepOptions,
      freshMs: 5000,
      leaderTimeoutMs: 20_000,
    });
    ({ client, coordination, effects, coordinators, record } = deployment);
    await Promise.all(["c0", "c1", "c2"].map(spawnCoordinator));
    await waitForLeader();
    // The leader's heartbeat can come before its saga runner subscribes to OrderPlaced, a plain
    // (at most once) event here: one published in between is lost, and its saga never starts
    // (seen once in CI: the first test timed out waiting for its five sagas).
    await waitFor(
      "the leader's saga runner",
      async () =>
        [...coordinators.instances.values()].some((i) => i.proc.output().includes('"saga runner started"')),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  }, 120_000);

  afterAll(async () => {
    await deployment?.stop();
    await redis?.stop();
    await nats?.stop();
    dir?.remove();
  });

  it("saga — happy path, a refusal at each step compensated in reverse, a failing compensation kept as failed", async () => {
    const cases = [
      { orderId: "h", failAt: -1, failUndo: -1, status: "completed" },
      { orderId: "f0", failAt: 0, failUndo: -1, status: "compensated" },
      { orderId: "f1", failAt: 1, failUndo: -1, status: "compensated" },
      { orderId: "f2", failAt: 2, failUndo: -1, status: "compensated" },
      { orderId: "u", failAt: 2, failUndo: 0, status: "failed" },
    ];
    for (const c of cases) {
      await publishEvent(client, messages.OrderPlaced, c, { messageId: `basic-${c.orderId}` });
    }
    const ids = cases.map((c) => sagaId("PlaceOrder", `basic-${c.orderId}`));
    await waitAllEnded(ids);
    for (const [i, c] of cases.entries()) {
      const r = (await record(ids[i]!))!;
      expect(r.status).toBe(c.status);
      if (c.failUndo === -1) expect(await effects.log(c.orderId)).toEqual(expectedLog(c.failAt));
    }
    // Ship refused; Charge undone (Refund); undoing Reserve (Release, step 0) fails: left failed.
    expect(await effects.log("u")).toEqual(["Reserve", "Charge", "Refund"]);
    const failed = (await record(ids[4]!))!;
    expect(failed.error).toMatchObject({ code: "REFUSED", step: 2, command: "Ship" });
    expect(failed.compensationError).toMatchObject({ code: "CANNOT_UNDO", step: 0, command: "Release" });
    const status = await sagaStatus(coordination, wiring);
    expect(status.sagas.find((s) => s.id === ids[4])).toMatchObject({
      status: "failed",
      stepCommand: "Release",
      error: { code: "CANNOT_UNDO" },
    });
    expect(status.counts.PlaceOrder).toMatchObject({ completed: 1, compensated: 3, failed: 1 });
    // Every step was sent with the key <sagaId>:<step>:do (or :undo).
    const keys = (await effects.deliveries()).keys.filter((k) => k.startsWith(ids[0]!));
    expect(keys.sort()).toEqual([`${ids[0]}:0:do`, `${ids[0]}:1:do`, `${ids[0]}:2:do`]);
    // A command trigger: answered with the saga's reply once started.
    const reply = await sendRequest(
      client,
      messages.PlaceDirect,
      { orderId: "cmd", failAt: -1, failUndo: -1 },
      { messageId: "direct-1" },
    );
    expect(reply).toBe(`cmd started as ${sagaId("DirectOrder", "direct-1")}`);
    await waitAllEnded([sagaId("DirectOrder", "direct-1")]);
    expect(await effects.log("cmd")).toEqual(["Reserve", "Notify", "Charge"]);
  }, 90_000);

  it("saga — catga sagas lists the failed saga with its error, and counts per status (text and --json)", () => {
    const cli = (args: string[], env: NodeJS.ProcessEnv = { CATGA_REDIS_URL: redis.url }) =>
      spawnSync(
        process.execPath,
        ["--import", "tsx", join(ROOT, "test/fixtures/run-catga.ts"), "sagas", ...args],
        {
          cwd: ROOT,
          encoding: "utf8",
          env: { PATH: process.env.PATH, ...env },
        },
      );
    const wiringFile = join(dir.path, "wiring.json");
    const json = cli(["--wiring", wiringFile, "--json"]);
    expect(json.status, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.sagas).toEqual([
      expect.objectContaining({ name: "PlaceOrder", status: "failed", step: 0, stepCommand: "Release" }),
    ]);
    expect(report.counts.PlaceOrder).toEqual({
      running: 0,
      compensating: 0,
      completed: 1,
      compensated: 3,
      failed: 1,
    });
    expect(report.counts.DirectOrder).toMatchObject({ completed: 1 });
    const text = cli(["--wiring", wiringFile]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/PlaceOrder\s+PlaceOrder-basic-u\s+failed\s+0\s+Release\s+\S+\s+CANNOT_UNDO/);
    expect(text.stdout).toMatch(/COMPLETED/);
    const usage = cli([], {});
    expect(usage.status).toBe(2);
    expect(usage.stderr.trim().split("\n")).toEqual([
      "catga sagas: no wiring: pass --wiring FILE or set CATGA_WIRING",
    ]);
  }, 60_000);

  it("saga — leader SIGKILLed amid 200 concurrent sagas: all finish under the next leader, no effect twice", async () => {
    stepOptions.delayMs = 25;
    const old = await waitForLeader();
    const sagas = await placeMany("k", 200, (i) => (i % 10 === 0 ? 2 : -1));
    await waitFor("sagas to be under way", async () => {
      const counts = await effects.counts();
      return [...counts.keys()].filter((k) => k.startsWith("k")).length >= 150;
    });
    const killedAt = Date.now();
    coordinators.instances.get(old.instance)!.proc.signal("SIGKILL");
    const next = await waitForLeader((b) => b.instance !== old.instance);
    expect(BigInt(next.fencingToken!)).toBeGreaterThan(BigInt(old.fencingToken!));
    const unfinishedAtKill = (await Promise.all(sagas.map((s) => record(s.id)))).filter(
      (r) => !FINAL.includes(r?.status ?? ""),
    ).length;
    await waitAllEnded(sagas.map((s) => s.id));
    const took = Date.now() - killedAt;
    const records = await Promise.all(sagas.map((s) => record(s.id)));
    const resumedByNext = records.filter((r) => r!.term === Number(next.fencingToken)).length;
    for (const [i, s] of sagas.entries()) {
      expect(records[i]!.status).toBe(s.failAt === 2 ? "compensated" : "completed");
      expect(await effects.log(s.orderId)).toEqual(expectedLog(s.failAt));
    }
    const effectsCounted = await expectNoDuplicates("k");
    const { redeliveries } = await effects.deliveries();
    console.log(
      `SIGKILL amid 200 sagas: ${unfinishedAtKill} unfinished at the kill, ${resumedByNext} finished by the next leader; ` +
        `all ended ${took} ms after the kill; ${effectsCounted} effects, 0 duplicates, ${redeliveries} redeliveries deduplicated`,
    );
    expect(unfinishedAtKill).toBeGreaterThan(0);
    expect(resumedByNext).toBeGreaterThan(0);
    stepOptions.delayMs = 0;
  }, 120_000);

  it("saga — leader paused past its lease: its saga writes are rejected by fencing; no saga state regresses", async () => {
    await spawnCoordinator("c3"); // back to a leader and two standbys
    stepOptions.delayMs = 40;
    const old = await waitForLeader();
    const oldPort = coordinators.instances.get(old.instance)!.port;
    const sagas = await placeMany("p", 100, (i) => (i % 5 === 0 ? 2 : -1));
    // Watch every saga's record: its progress and its term must never go back.
    const progress = new Map<string, { rank: number; term: number }>();
    const regressions: string[] = [];
    const rank = (status: string, step: number) =>
      status === "running" ? step : status === "compensating" ? 10 + (3 - step) : 100;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        // Stop quietly if the test ends (or fails) while a read is in flight and Redis goes away.
        const records = await Promise.all(sagas.map((s) => record(s.id))).catch(
          () => [] as Awaited<ReturnType<typeof record>>[],
        );
        for (const r of records) {
          if (r === undefined) continue;
          const now = { rank: rank(r.status, r.step), term: r.term };
          const before = progress.get(r.id);
          if (before && (now.rank < before.rank || now.term < before.term)) {
            regressions.push(`${r.id}: ${JSON.stringify(before)} -> ${JSON.stringify(now)}`);
          }
          progress.set(r.id, now);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitFor("sagas to be under way", async () => {
      const counts = await effects.counts();
      return [...counts.keys()].filter((k) => k.startsWith("p")).length >= 30;
    });
    coordinators.instances.get(old.instance)!.proc.signal("SIGSTOP");
    const next = await waitForLeader((b) => b.instance !== old.instance);
    // Let the new leader advance the sagas the paused one was in the middle of.
    await new Promise((r) => setTimeout(r, 1000));
    coordinators.instances.get(old.instance)!.proc.signal("SIGCONT");
    let rejected = 0;
    let stillLeader = 1;
    try {
      // After SIGCONT the old leader either tries to advance a saga first (and fencing rejects the
      // write) or notices its lapsed lease first and steps down without trying: which one runs
      // first is up to the scheduler. Either way no write of its old term may land, which the
      // watcher checks: a landed stale write would take a record's term back.
      await waitFor(
        "the resumed old leader to be fenced off or to step down",
        async () => {
          rejected = await metric(oldPort, "catga_saga_stale_writes_total");
          stillLeader = await metric(oldPort, "catga_leader");
          return rejected > 0 || stillLeader === 0;
        },
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      await waitAllEnded(sagas.map((s) => s.id));
    } finally {
      watching = false;
      await watcher;
    }
    for (const s of sagas) expect(await effects.log(s.orderId)).toEqual(expectedLog(s.failAt));
    await expectNoDuplicates("p");
    console.log(
      `SIGSTOP past the lease: old leader ${old.instance} (token ${old.fencingToken}) had ${rejected} saga writes rejected (stepped down: ${stillLeader === 0}); ` +
        `${next.instance} (token ${next.fencingToken}) finished all 100; ${regressions.length} regressions`,
    );
    expect(regressions).toEqual([]);
    // The old leader is a standby again, and still alive.
    await waitFor(
      "the old leader to step down",
      async () => coordinators.beats.get(old.instance)?.role === "standby",
      {
        timeoutMs: 15_000,
      },
    );
    stepOptions.delayMs = 0;
  }, 120_000);
});
