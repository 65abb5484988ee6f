import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { checkSource } from "../../compiler/check/index.js";
import { buildWiring } from "../../compiler/emit/wiring.js";
import {
  eventHandler,
  eventSpec,
  type Heartbeat,
  type HostContext,
  type MemoryTopology,
  publishEvent,
  requestHandler,
  type ServiceDefinition,
  sendRequest,
  startMemoryTopology,
  UnknownInstanceError,
  UnknownServiceError,
} from "../../runtime/index.js";
import type { Wiring } from "../../runtime/wiring.js";
import { waitFor } from "../harness/_process.js";
import { commandOf } from "../helpers/specs.js";

/**
 * A whole topology in one process (`startMemoryTopology`): requests spread over five peers, events
 * reach every broadcast subscriber, a crashed leader is replaced only after its lease with a higher
 * fencing token, a gracefully stopped one at once, and scaling starts and drains instances. Real
 * timers, no servers: the in-memory hub and coordination stand in for NATS and Redis.
 */
const SOURCE = `topology mem

command Hit { n: int } -> string
command Work { n: int } -> Done
type Done { instance: string, token: string }
event Tick { n: int }

service worker {
  replicas 5
  handles Hit
  emits Tick
}

service listener {
  replicas 3
  on Tick broadcast
}

service boss {
  mode leader
  replicas 3
  lease 10s
  handles Work
}
`;

function wiring(): Wiring {
  const { value, diagnostics } = checkSource(SOURCE, "mem.catga");
  if (value === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return buildWiring(value, { sourceName: "mem.catga" });
}

const w = wiring();
const req = <I, R>(name: string, request: z.ZodType<I>, result: z.ZodType<R>) =>
  commandOf(w, name, request, result);
const Hit = req("Hit", z.object({ n: z.number().int() }), z.string());
const Work = req(
  "Work",
  z.object({ n: z.number().int() }),
  z.object({ instance: z.string(), token: z.string() }),
);
const Tick = eventSpec({
  name: "Tick",
  kind: "event",
  subject: w.messages.Tick!.subject,
  schemaId: w.messages.Tick!.schemaId,
  payload: z.object({ n: z.number().int() }),
});

const base = { topology: "mem", emits: {}, sends: {}, handlers: {}, events: {}, jobs: {}, sagas: {} };
const handlers = {
  hit: (_: { n: number }, ctx: HostContext) => ctx.instance,
  work: (_: { n: number }, ctx: HostContext) => ({ instance: ctx.instance, token: String(ctx.fencingToken) }),
};
const heard = { tick: () => {} };
const definitions: Record<string, ServiceDefinition> = {
  worker: {
    ...base,
    service: "worker",
    mode: "p2p",
    emits: { tick: Tick },
    handlers: { Hit: requestHandler(Hit, handlers, "hit") },
  },
  listener: {
    ...base,
    service: "listener",
    mode: "p2p",
    events: { Tick: eventHandler(Tick, heard, "tick") },
  },
  boss: {
    ...base,
    service: "boss",
    mode: "leader",
    handlers: { Work: requestHandler(Work, handlers, "work") },
  },
};

const leaderOf = (t: MemoryTopology, service: string): Heartbeat | undefined => {
  const alive = new Set(t.instances().map((i) => i.id));
  return t.heartbeats().find((b) => b.service === service && b.role === "leader" && alive.has(b.instance));
};

async function waitForLeader(t: MemoryTopology, other?: string): Promise<Heartbeat> {
  let found: Heartbeat | undefined;
  await waitFor(
    "a leader of boss",
    async () => {
      found = leaderOf(t, "boss");
      return found !== undefined && found.instance !== other;
    },
    { timeoutMs: 20_000, intervalMs: 5 },
  );
  return found!;
}

describe("memory topology", () => {
  let topology: MemoryTopology | undefined;
  afterEach(async () => {
    await topology?.stop();
    topology = undefined;
  });

  it("memory topology — starts every replica as <service>-<n> with its role", async () => {
    topology = await startMemoryTopology({ wiring: w, definitions });
    await waitForLeader(topology);
    const instances = topology.instances();
    expect(instances.map((i) => i.id)).toEqual([
      "worker-0",
      "worker-1",
      "worker-2",
      "worker-3",
      "worker-4",
      "listener-0",
      "listener-1",
      "listener-2",
      "boss-0",
      "boss-1",
      "boss-2",
    ]);
    const roles = instances.filter((i) => i.service === "boss").map((i) => i.role);
    expect(roles.filter((r) => r === "leader")).toHaveLength(1);
    expect(roles.filter((r) => r === "standby")).toHaveLength(2);
    expect(instances.filter((i) => i.service !== "boss").every((i) => i.role === "peer")).toBe(true);
    await waitFor("a heartbeat from every instance", async () => topology!.heartbeats().length === 11);
  });

  it("memory topology — requests are balanced over the 5 worker peers", async () => {
    topology = await startMemoryTopology({ wiring: w, definitions });
    const bus = topology.bus();
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, n) => sendRequest(bus, Hit, { n })));
    const byInstance = new Map<string, number>();
    for (const a of answers) byInstance.set(a, (byInstance.get(a) ?? 0) + 1);
    expect([...byInstance.keys()].sort()).toEqual([
      "worker-0",
      "worker-1",
      "worker-2",
      "worker-3",
      "worker-4",
    ]);
    // Uniform random choice: 200 each on average; below 100 would take a broken balancer.
    for (const count of byInstance.values()) expect(count).toBeGreaterThan(100);
    const handled = topology
      .instances()
      .filter((i) => i.service === "worker")
      .map((i) => i.host.counters.handled);
    expect(handled.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it("memory topology — a broadcast event reaches each of the 3 listeners", async () => {
    topology = await startMemoryTopology({ wiring: w, definitions });
    const bus = topology.bus();
    for (let n = 0; n < 50; n++) await publishEvent(bus, Tick, { n });
    const listeners = () => topology!.instances().filter((i) => i.service === "listener");
    await waitFor("every listener to hear 50 ticks", async () =>
      listeners().every((i) => i.host.counters.handled === 50),
    );
    expect(listeners()).toHaveLength(3);
  });

  it("memory topology — a crashed leader is replaced after its lease, with a higher fencing token", async () => {
    const leaseMs = 2000;
    topology = await startMemoryTopology({ wiring: w, definitions, leaseMs });
    const first = await waitForLeader(topology);
    const bus = topology.bus();
    expect(await sendRequest(bus, Work, { n: 1 })).toEqual({
      instance: first.instance,
      token: first.fencingToken,
    });
    const crashedAt = Date.now();
    await topology.kill(first.instance);
    expect(topology.instances().map((i) => i.id)).not.toContain(first.instance);
    // The crashed leader answers nothing, and its lease still stands: nobody leads for now.
    await expect(sendRequest(bus, Work, { n: 2 }, { timeoutMs: 200 })).rejects.toMatchObject({
      name: "NoRespondersError",
    });
    const holder = await topology.coordination.holder(w.services.boss!.leader!.redisHashTag);
    expect(holder?.owner).toBe(first.instance);
    const second = await waitForLeader(topology, first.instance);
    const tookMs = Date.now() - crashedAt;
    // The lease was renewed at most leaseMs/3 before the crash, so it ran at least 2/3 of it after.
    expect(tookMs).toBeGreaterThanOrEqual((leaseMs * 2) / 3 - 50);
    expect(tookMs).toBeLessThan(leaseMs + 5000);
    expect(BigInt(second.fencingToken!)).toBeGreaterThan(BigInt(first.fencingToken!));
    expect(await sendRequest(bus, Work, { n: 3 })).toEqual({
      instance: second.instance,
      token: second.fencingToken,
    });
  });

  it("memory topology — a leader killed gracefully hands over at once, well within its 10 s lease", async () => {
    topology = await startMemoryTopology({ wiring: w, definitions });
    const first = await waitForLeader(topology);
    const stoppedAt = Date.now();
    await topology.kill(first.instance, { graceful: true });
    const second = await waitForLeader(topology, first.instance);
    expect(Date.now() - stoppedAt).toBeLessThan(2000);
    expect(BigInt(second.fencingToken!)).toBeGreaterThan(BigInt(first.fencingToken!));
    const boss = topology.instances().filter((i) => i.service === "boss");
    expect(boss.map((i) => i.role).sort()).toEqual(["leader", "standby"]);
  });

  it("memory topology — scale starts new instances that take load, and drains surplus ones", async () => {
    topology = await startMemoryTopology({ wiring: w, definitions, replicas: { worker: 2 } });
    await topology.scale("worker", 4);
    const workers = () =>
      topology!
        .instances()
        .filter((i) => i.service === "worker")
        .map((i) => i.id);
    expect(workers()).toEqual(["worker-0", "worker-1", "worker-2", "worker-3"]);
    const bus = topology.bus();
    const answers = await Promise.all(Array.from({ length: 400 }, (_, n) => sendRequest(bus, Hit, { n })));
    expect(new Set(answers)).toEqual(new Set(workers()));
    await topology.scale("worker", 1);
    expect(workers()).toEqual(["worker-0"]);
    await topology.kill("worker-0", { graceful: true });
    await topology.scale("worker", 1);
    // Numbers are never reused: a new instance is a new process, not the old one back.
    expect(workers()).toEqual(["worker-4"]);
  });

  it("memory topology — unknown instances and services are named errors", async () => {
    topology = await startMemoryTopology({ wiring: w, definitions, replicas: { boss: 1 } });
    await expect(topology.kill("nobody-0")).rejects.toBeInstanceOf(UnknownInstanceError);
    await expect(topology.scale("nobody", 2)).rejects.toBeInstanceOf(UnknownServiceError);
    await expect(topology.scale("worker", -1)).rejects.toBeInstanceOf(RangeError);
    await expect(
      startMemoryTopology({ wiring: w, definitions: { worker: definitions.worker! } }),
    ).rejects.toMatchObject({ name: "DefinitionMismatchError", service: "listener" });
  });
});
