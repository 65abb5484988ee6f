import { describe, expect, it } from "vitest";
import type { Heartbeat } from "../../runtime/host.js";
import type { Wiring } from "../../runtime/wiring.js";
import {
  checkBinaries,
  externalRedisEnv,
  formatStatus,
  HeartbeatBoard,
  LiveViewPainter,
  MissingBinaryError,
  renderLiveView,
  servicesOf,
} from "../../tooling/local/index.js";

function beat(instance: string, patch: Partial<Heartbeat> = {}): Heartbeat {
  return {
    topology: "t",
    service: instance.replace(/-\d+$/, ""),
    instance,
    role: "peer",
    mode: "p2p",
    pid: 100,
    counters: { handled: 0, errors: 0, invalid: 0, inFlight: 0 },
    ready: true,
    at: 1000,
    ...patch,
  };
}

const wiring = (patch: Partial<Wiring>): Wiring => ({ nats: { nodes: 3 }, ...patch }) as Wiring;

describe("local cluster", () => {
  it("local — the heartbeat board computes a rate from consecutive heartbeats and sorts instances numerically", () => {
    const board = new HeartbeatBoard();
    board.add(beat("order-10"), 1000);
    board.add(beat("order-2", { counters: { handled: 10, errors: 0, invalid: 0, inFlight: 0 } }), 1000);
    board.add(
      beat("order-2", { at: 3000, counters: { handled: 50, errors: 0, invalid: 0, inFlight: 0 } }),
      3000,
    );
    expect(board.list().map((b) => b.beat.instance)).toEqual(["order-2", "order-10"]);
    expect(board.list()[0]!.rate).toBe(20);
    expect(board.list(500, 3200).map((b) => b.beat.instance)).toEqual(["order-2"]);
    board.forget("order-2");
    expect(board.list().map((b) => b.beat.instance)).toEqual(["order-10"]);
  });

  it("local — status shows handled, failed (with invalid) and rate per instance and per service, failures counted in the rate", () => {
    const board = new HeartbeatBoard();
    const counters = (handled: number, errors: number, invalid = 0) => ({
      handled,
      errors,
      invalid,
      inFlight: 1,
    });
    board.add(beat("order-0", { counters: counters(10, 2, 1) }), 1000);
    board.add(beat("order-0", { at: 3000, counters: counters(40, 12, 3) }), 3000);
    board.add(beat("order-1", { counters: counters(5, 0) }), 1000);
    board.add(beat("order-1", { at: 3000, counters: counters(25, 0) }), 3000);
    board.add(beat("order-2", { counters: counters(7, 1) }), 1000); // heard once: no rate yet
    const [order] = servicesOf(board.list(), undefined, {}, 3000);
    expect(order!.instances.map((i) => [i.id, i.handled, i.failed, i.invalid, i.inFlight, i.rate])).toEqual([
      ["order-0", 40, 12, 3, 1, 20], // (30 handled + 10 failed) in 2 s
      ["order-1", 25, 0, 0, 1, 10],
      ["order-2", 7, 1, 0, 1, null],
    ]);
    expect(order).toMatchObject({ handled: 72, failed: 13, invalid: 3, rate: 30 });
    const text = formatStatus({
      services: [order!],
      invalidHeartbeats: 0,
      nats: { servers: [] },
      redis: null,
    });
    expect(text).toContain("order  p2p, 3/3 heard; handled 72, failed 13 (3 invalid), 30.0/s");
    expect(text).toMatch(/order-0 .* handled\s+40\s+failed 12 \(3 invalid\)\s+20\.0\/s/);
    expect(text).toMatch(/order-2 .* handled\s+7\s+failed\s+1\s+-\/s/);
  });

  it("local — status picks the leader with the highest fencing token and lists silent services from the wiring", () => {
    const board = new HeartbeatBoard();
    board.add(beat("boss-0", { mode: "leader", role: "leader", fencingToken: "9" }), 1000);
    board.add(beat("boss-1", { mode: "leader", role: "leader", fencingToken: "10" }), 1000);
    board.add(beat("boss-2", { mode: "leader", role: "standby" }), 1000);
    const [boss, idle] = servicesOf(board.list(), undefined, { idle: "leader" }, 1500);
    expect(boss).toMatchObject({
      name: "boss",
      mode: "leader",
      replicas: 3,
      leader: { instance: "boss-1", fencingToken: "10" },
    });
    expect(boss!.instances[2]).toEqual({
      id: "boss-2",
      role: "standby",
      pid: 100,
      handled: 0,
      failed: 0,
      invalid: 0,
      inFlight: 0,
      rate: null,
      lastSeenMs: 500,
    });
    expect(idle).toBeUndefined(); // without a state, only what is heard
  });

  it("local — the board drops and counts what is not a heartbeat of its subject's service; status survives", () => {
    const board = new HeartbeatBoard();
    const subject = (service: string) => `t._catga.heartbeat.${service}`;
    const { counters: _, ...withoutCounters } = beat("order-0");
    const bad: [unknown, string][] = [
      [withoutCounters, subject("order")],
      [beat("boss-0", { mode: "leader", role: "leader", fencingToken: "NaN" }), subject("boss")],
      [beat("boss-0", { mode: "leader", role: "leader", fencingToken: "1e3" }), subject("boss")],
      [
        beat("boss-0", { mode: "leader", role: "leader", fencingToken: "99999999999999999999999" }),
        subject("boss"),
      ],
      [undefined, subject("order")], // garbage bytes: not JSON
      ["a string", subject("order")],
      [
        { ...beat("order-0"), counters: { handled: "1", errors: 0, invalid: 0, inFlight: 0 } },
        subject("order"),
      ],
      [{ ...beat("order-0"), __proto__: { polluted: true } }, subject("order-x")],
      // Another service's subject: only the service's own NATS user may publish on its subject.
      [beat("boss-9", { mode: "leader", role: "leader", fencingToken: "1000" }), subject("order")],
    ];
    for (const [input, s] of bad) expect(board.add(input, 1000, s)).toBe(false);
    expect(board.add(beat("order-0"), 1000, subject("order"))).toBe(true);
    // The same instance id cannot turn up in another service.
    expect(board.add(beat("order-0", { service: "boss" }), 1000, subject("boss"))).toBe(false);
    expect(board.invalid).toBe(bad.length + 1);
    expect(board.list().map((b) => b.beat.instance)).toEqual(["order-0"]);
    expect(() => servicesOf(board.list(), undefined, {}, 1500)).not.toThrow();
  });

  it("local — a leader claim counts only with evidence: a started instance, and the lease in Redis when known", () => {
    const board = new HeartbeatBoard();
    board.add(beat("boss-0", { mode: "leader", role: "leader", fencingToken: "4" }), 1000);
    board.add(beat("boss-1", { mode: "leader", role: "standby" }), 1000);
    // Forged: an instance nobody started, with a higher token.
    board.add(beat("boss-7", { mode: "leader", role: "leader", fencingToken: "900" }), 1000);
    const state = {
      handlers: { boss: "boss.ts" },
      instances: [
        { id: "boss-0", service: "boss", pid: 1 },
        { id: "boss-1", service: "boss", pid: 2 },
      ],
    } as unknown as Parameters<typeof servicesOf>[1];
    expect(servicesOf(board.list(), undefined, {}, 1500)[0]!.leader).toEqual({
      instance: "boss-7",
      fencingToken: "900",
    });
    expect(servicesOf(board.list(), state, {}, 1500)[0]!.leader).toEqual({
      instance: "boss-0",
      fencingToken: "4",
    });
    // The lease names the leader and its token: a claim that disagrees is not the leader.
    const leases = (owner: string, token: number) => ({ boss: { owner, token } });
    expect(servicesOf(board.list(), undefined, {}, 1500, leases("boss-0", 4))[0]!.leader).toEqual({
      instance: "boss-0",
      fencingToken: "4",
    });
    expect(servicesOf(board.list(), undefined, {}, 1500, leases("boss-0", 5))[0]!.leader).toBeNull();
    expect(servicesOf(board.list(), undefined, {}, 1500, { boss: null })[0]!.leader).toBeNull();
  });

  it("local — the live view marks instances without a recent heartbeat as silent or never heard", () => {
    const board = new HeartbeatBoard();
    board.add(beat("order-0", { counters: { handled: 7, errors: 0, invalid: 0, inFlight: 0 } }), 10_000);
    board.add(beat("order-1"), 1000);
    const lines = renderLiveView({
      topology: "t",
      beats: board.list(),
      expected: [
        { id: "order-0", service: "order" },
        { id: "order-1", service: "order" },
        { id: "order-2", service: "order" },
      ],
      now: 11_000,
    });
    expect(lines[0]).toBe("t — 3 instances");
    expect(lines[1]).toMatch(/^SERVICE\s+INSTANCE\s+ROLE\s+HANDLED\s+FAILED\s+RATE\/s\s+LAST BEAT$/);
    expect(lines[2]).toMatch(/^order\s+order-0\s+peer\s+7\s+0\s+0\.0\s+1\.0s$/);
    expect(lines[3]).toContain("(silent)");
    expect(lines[4]).toMatch(/order-2 .* never$/);
  });

  it("local — the painter redraws in place on a terminal and throttles plain output", () => {
    let tty = "";
    const onTty = new LiveViewPainter((t) => (tty += t), true);
    onTty.paint(["a", "b"]);
    onTty.paint(["c", "d"]);
    expect(tty).toBe("\x1b[Ja\nb\n\r\x1b[2A\x1b[Jc\nd\n");
    let plain = "";
    const onFile = new LiveViewPainter((t) => (plain += t), false, 5000);
    onFile.paint(["x"], 10_000);
    onFile.paint(["y"], 12_000);
    onFile.paint(["z"], 15_000);
    expect(plain).toBe("x\n\nz\n\n");
  });

  it("local — a missing binary names its Debian package and suggests --memory", () => {
    expect(() => checkBinaries(wiring({}), "")).toThrow(MissingBinaryError);
    expect(() => checkBinaries(wiring({}), "")).toThrow(/apt-get install nats-server.*--memory/);
    const cluster = wiring({
      nats: { nodes: 1, url: "nats://x:4222" },
      redis: { mode: "cluster", nodes: 6 },
    });
    expect(() => checkBinaries(cluster, "")).toThrow(
      /'redis-server' is not on PATH.*apt-get install redis-server/,
    );
    expect(() => checkBinaries(wiring({ nats: { nodes: 1, url: "nats://x:4222" } }), "")).not.toThrow();
  });

  it("local — an external Redis becomes the same CATGA_REDIS_* variables as in the emitted compose file", () => {
    expect(externalRedisEnv({ mode: "standalone", nodes: 1, url: "redis://r:6379" })).toEqual({
      CATGA_REDIS_MODE: "standalone",
      CATGA_REDIS_URL: "redis://r:6379",
    });
    expect(
      externalRedisEnv({ mode: "sentinel", nodes: 3, url: "redis://s1,rediss://s2:26380", master: "m" }),
    ).toEqual({
      CATGA_REDIS_MODE: "sentinel",
      CATGA_REDIS_TLS: "true",
      CATGA_REDIS_SENTINELS: "s1:26379,s2:26380",
      CATGA_REDIS_MASTER: "m",
    });
    expect(externalRedisEnv({ mode: "cluster", nodes: 6, url: "redis://a:7000,redis://b" })).toEqual({
      CATGA_REDIS_MODE: "cluster",
      CATGA_REDIS_CLUSTER_NODES: "a:7000,b:6379",
    });
  });
});
