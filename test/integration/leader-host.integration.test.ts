import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, connectNats } from "../../runtime/bus.js";
import type { Heartbeat } from "../../runtime/host.js";
import { sendRequest } from "../../runtime/messaging.js";
import { leaderWiring, workSpec } from "../fixtures/leader.js";
import { freePort, type ServerProcess, tempDir, waitFor } from "../harness/_process.js";
import { spawnCatga } from "../harness/catga.js";
import { type NatsServer, startNats } from "../harness/nats.js";
import { type StandaloneRedis, startRedis } from "../harness/redis.js";

/**
 * Leader mode end to end: three `catga run` processes of a leader-mode service on a real NATS and a
 * real Redis. Exactly one leads (the others stand by, ready), only the leader answers, a crash or a
 * graceful stop hands leadership to a standby with a higher fencing token, and the scheduled job's
 * ticks never run twice or overlap.
 */
const ROOT = new URL("../..", import.meta.url).pathname;
const wiring = leaderWiring();
const work = workSpec(wiring);

describe("leader mode with catga run", () => {
  let nats: NatsServer;
  let redis: StandaloneRedis;
  let dir: ReturnType<typeof tempDir>;
  let bus: Bus;
  const beats = new Map<string, Heartbeat & { seen: number }>();
  const instances = new Map<string, { proc: ServerProcess; port: number }>();
  let ticksFile: string;
  /** Instances killed with SIGKILL: a run they had started simply never ends. */
  const killed = new Set<string>();

  async function spawnBoss(id: string) {
    const port = await freePort();
    const proc = spawnCatga(["run", "--service", "boss"], {
      CATGA_WIRING: join(dir.path, "wiring.json"),
      CATGA_HANDLERS: join(ROOT, "test/fixtures/leader.ts"),
      CATGA_NATS_URLS: nats.url,
      CATGA_REDIS_URL: redis.url,
      CATGA_INSTANCE_ID: id,
      CATGA_HEALTH_PORT: String(port),
      CATGA_TEST_TICKS: ticksFile,
    });
    instances.set(id, { proc, port });
    await waitFor(`${id} to be ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 100,
      describe: () => proc.output(),
    });
  }

  const alive = () => [...instances.entries()].filter(([, i]) => !i.proc.exited).map(([id]) => id);
  const leaders = () =>
    [...beats.values()].filter(
      (b) => alive().includes(b.instance) && b.role === "leader" && Date.now() - b.seen < 5000,
    );

  async function waitForLeader(other: (b: Heartbeat) => boolean): Promise<Heartbeat & { seen: number }> {
    let found: (Heartbeat & { seen: number }) | undefined;
    await waitFor(
      "a leader",
      async () => {
        found = leaders().find(other);
        return found !== undefined;
      },
      { timeoutMs: 15_000, intervalMs: 5 },
    );
    return found!;
  }

  beforeAll(async () => {
    nats = await startNats();
    redis = await startRedis();
    dir = tempDir("leader-host");
    ticksFile = join(dir.path, "ticks.log");
    writeFileSync(ticksFile, "");
    writeFileSync(join(dir.path, "wiring.json"), JSON.stringify(wiring));
    bus = await connectNats({ servers: [nats.url] });
    bus.transport.subscribe("lead._catga.heartbeat.>", {}, (msg) => {
      const beat = JSON.parse(new TextDecoder().decode(msg.data)) as Heartbeat;
      beats.set(beat.instance, { ...beat, seen: Date.now() });
    });
    await Promise.all(["boss-0", "boss-1", "boss-2"].map(spawnBoss));
  }, 90_000);

  afterAll(async () => {
    await bus?.close();
    await Promise.all([...instances.values()].map((i) => i.proc.kill()));
    await redis?.stop();
    await nats?.stop();
    dir?.remove();
  });

  it("leader — exactly one of three leads; standbys report standby and stay ready; only the leader answers", async () => {
    const leader = await waitForLeader(() => true);
    await new Promise((r) => setTimeout(r, 2500)); // every instance has sent a periodic heartbeat by now
    expect(leaders()).toHaveLength(1);
    const standbys = [...beats.values()].filter((b) => b.role === "standby");
    expect(standbys.map((b) => b.instance).sort()).toEqual(
      ["boss-0", "boss-1", "boss-2"].filter((id) => id !== leader.instance).sort(),
    );
    for (const [, i] of instances)
      expect((await fetch(`http://127.0.0.1:${i.port}/readyz`)).status).toBe(200);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, n) => sendRequest(bus, work, { n })));
    expect(new Set(replies.map((r) => r.instance))).toEqual(new Set([leader.instance]));
    expect(new Set(replies.map((r) => r.token))).toEqual(new Set([leader.fencingToken]));
  }, 30_000);

  it("leader — SIGKILL: a standby leads within lease + retry period, with a higher token", async () => {
    const old = leaders()[0]!;
    killed.add(old.instance);
    const killedAt = Date.now();
    instances.get(old.instance)!.proc.signal("SIGKILL");
    const next = await waitForLeader((b) => b.instance !== old.instance);
    const took = next.seen - killedAt;
    console.log(
      `crash failover: ${took} ms (lease 2000 ms), token ${old.fencingToken} -> ${next.fencingToken}`,
    );
    expect(BigInt(next.fencingToken!)).toBeGreaterThan(BigInt(old.fencingToken!));
    expect(took).toBeLessThan(2000 + 500 + 500);
    const reply = await sendRequest(bus, work, { n: 1 });
    expect(reply).toEqual({ instance: next.instance, token: next.fencingToken });
  }, 30_000);

  it("leader — SIGTERM: the leader releases and a standby takes over within about a second", async () => {
    await spawnBoss("boss-3"); // back to a leader and two standbys
    const old = leaders()[0]!;
    const stoppedAt = Date.now();
    instances.get(old.instance)!.proc.signal("SIGTERM");
    const next = await waitForLeader((b) => b.instance !== old.instance);
    const took = next.seen - stoppedAt;
    console.log(`graceful hand-over: ${took} ms, token ${old.fencingToken} -> ${next.fencingToken}`);
    expect(took).toBeLessThan(1000);
    expect(BigInt(next.fencingToken!)).toBeGreaterThan(BigInt(old.fencingToken!));
    await waitFor("the old leader to exit", async () => instances.get(old.instance)!.proc.exited, {
      timeoutMs: 15_000,
    });
  }, 60_000);

  it("leader — scheduled ticks ran on leaders only, never twice, never overlapping", async () => {
    await new Promise((r) => setTimeout(r, 1000));
    const lines = readFileSync(ticksFile, "utf8").trim().split("\n").filter(Boolean);
    const starts = lines.filter((l) => l.endsWith(" start")).map((l) => l.split(" ")[0]!);
    expect(starts.length).toBeGreaterThan(10);
    expect(new Set(starts).size).toBe(starts.length);
    let open: { id: string; instance: string } | undefined;
    for (const line of lines) {
      const [id, instance, , what] = line.split(" ") as [string, string, string, string];
      if (what === "start") {
        if (open !== undefined && !killed.has(open.instance)) {
          expect.fail(`tick ${id} started on ${instance} while ${open.id} was running on ${open.instance}`);
        }
        open = { id, instance };
      } else if (open?.id === id) {
        open = undefined;
      }
    }
    console.log(
      `ticks: ${starts.length} distinct, by ${new Set(lines.map((l) => l.split(" ")[1])).size} instances`,
    );
  }, 30_000);
});
