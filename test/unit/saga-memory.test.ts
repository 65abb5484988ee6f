import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sagaKeys } from "../../runtime/_saga-store.js";
import { type Bus, memoryBus } from "../../runtime/bus.js";
import { MemoryCoordination } from "../../runtime/coordination/memory-coordination.js";
import { type Host, startHost } from "../../runtime/host.js";
import { publishEvent, sendRequest } from "../../runtime/messaging.js";
import { sagaId, sagaStatus, startSagaRunner, stepKey } from "../../runtime/saga.js";
import { MemoryHub } from "../../runtime/transport/memory.js";
import {
  coordinatorDefinition,
  type Effects,
  memoryEffects,
  sagaMessages,
  sagaWiring,
  stepDefinitions,
} from "../fixtures/saga.js";
import { waitFor } from "../harness/_process.js";
import { startCoordinatorHost } from "../helpers/coordinators.js";

/**
 * Sagas on the in-memory transport and MemoryCoordination: the same runner and host as on NATS and
 * Redis, in one process. Happy path, compensation in reverse order from each step, a failing
 * compensation, command triggers, deduplicated triggers, and a resume by a later term.
 */
const wiring = sagaWiring();
const messages = sagaMessages(wiring);
const tag = wiring.services.coordinator!.leader!.redisHashTag;

describe("sagas in memory", () => {
  let hub: MemoryHub;
  let coordination: MemoryCoordination;
  let effects: Effects;
  let hosts: Host[];
  let client: Bus;

  async function startSteps(delayMs = 0) {
    for (const [service, definition] of Object.entries(stepDefinitions(wiring, effects, { delayMs }))) {
      hosts.push(await startHost({ wiring, service, definition, transport: memoryBus(hub).transport }));
    }
  }

  async function startCoordinator(id: string): Promise<Host> {
    const transport = memoryBus(hub).transport;
    const host = await startCoordinatorHost(wiring, id, transport, coordination);
    hosts.push(host);
    await waitFor("the coordinator to lead", async () => host.role === "leader" && host.sagas !== undefined);
    await host.sagas!.ready;
    return host;
  }

  const record = (id: string) => coordination.hgetall(tag, sagaKeys.record(id));
  const ended = async (id: string) => {
    let status = "";
    await waitFor(`saga ${id} to end`, async () => {
      status = (await record(id)).status ?? "";
      return ["completed", "compensated", "failed"].includes(status);
    });
    return status;
  };
  let orders = 0;
  const place = async (failAt = -1, failUndo = -1) => {
    const orderId = `o${++orders}`;
    const messageId = `m-${orderId}`;
    await publishEvent(client, messages.OrderPlaced, { orderId, failAt, failUndo }, { messageId });
    return { orderId, id: sagaId("PlaceOrder", messageId) };
  };

  beforeEach(async () => {
    hub = new MemoryHub();
    coordination = new MemoryCoordination();
    effects = memoryEffects();
    hosts = [];
    client = memoryBus(hub);
  });

  afterEach(async () => {
    await Promise.all(hosts.map((h) => h.stop({ graceMs: 100 })));
  });

  it("saga — happy path: steps in order with keys <sagaId>:<step>:do; completed; state folded", async () => {
    await startSteps();
    await startCoordinator("c0");
    const { orderId, id } = await place();
    expect(await ended(id)).toBe("completed");
    expect(await effects.log(orderId)).toEqual(["Reserve", "Charge", "Ship"]);
    expect((await effects.deliveries()).keys.filter((k) => k.startsWith(id)).sort()).toEqual(
      [stepKey(id, 0, "do"), stepKey(id, 1, "do"), stepKey(id, 2, "do")].sort(),
    );
    const r = await record(id);
    expect(JSON.parse(r.state!)).toMatchObject({
      orderId,
      reservation: `Reserve:${orderId}`,
      payment: `Charge:${orderId}`,
      shipment: `Ship:${orderId}`,
    });
    expect(await coordination.hgetall(tag, sagaKeys.open)).toEqual({});
    const status = await sagaStatus(coordination, wiring);
    expect(status.counts.PlaceOrder).toMatchObject({ completed: 1, running: 0, failed: 0 });
  });

  it("saga — a step refused (DomainError) at each position: completed steps compensated in reverse", async () => {
    await startSteps();
    await startCoordinator("c0");
    const expected = [
      [], // Reserve refused: nothing to undo
      ["Reserve", "Release"],
      ["Reserve", "Charge", "Refund", "Release"],
    ];
    const sagas = await Promise.all([0, 1, 2].map((failAt) => place(failAt)));
    for (const [failAt, { orderId, id }] of sagas.entries()) {
      expect(await ended(id)).toBe("compensated");
      expect(await effects.log(orderId)).toEqual(expected[failAt]);
      const error = JSON.parse((await record(id)).error!);
      expect(error).toMatchObject({ code: "REFUSED", step: failAt });
    }
    expect((await sagaStatus(coordination, wiring)).counts.PlaceOrder).toMatchObject({ compensated: 3 });
  });

  it("saga — a failing compensation leaves the saga failed, with both errors kept and listed", async () => {
    await startSteps();
    await startCoordinator("c0");
    // Ship is refused; undoing Charge (step 1) fails: Release is never reached.
    const { orderId, id } = await place(2, 1);
    expect(await ended(id)).toBe("failed");
    expect(await effects.log(orderId)).toEqual(["Reserve", "Charge"]);
    const r = await record(id);
    expect(JSON.parse(r.error!)).toMatchObject({ code: "REFUSED", step: 2, command: "Ship" });
    expect(JSON.parse(r.compensationError!)).toMatchObject({
      code: "CANNOT_UNDO",
      step: 1,
      command: "Refund",
    });
    const status = await sagaStatus(coordination, wiring);
    expect(status.sagas).toEqual([
      expect.objectContaining({
        name: "PlaceOrder",
        id,
        status: "failed",
        step: 1,
        stepCommand: "Refund",
        error: expect.objectContaining({ code: "CANNOT_UNDO" }),
      }),
    ]);
    expect(status.counts.PlaceOrder).toMatchObject({ failed: 1, running: 0 });
  });

  it("saga — command trigger: answered once started; a retry with the same message id starts nothing new; irreversible steps are not compensated", async () => {
    await startSteps();
    await startCoordinator("c0");
    const input = { orderId: "d1", failAt: 2, failUndo: -1 };
    const [first, again] = await Promise.all([
      sendRequest(client, messages.PlaceDirect, input, { messageId: "cmd-1" }),
      sendRequest(client, messages.PlaceDirect, input, { messageId: "cmd-1" }),
    ]);
    const id = sagaId("DirectOrder", "cmd-1");
    expect(first).toBe(`d1 started as ${id}`);
    expect(again).toBe(first);
    expect(await ended(id)).toBe("compensated");
    // Notify is irreversible: skipped when compensating.
    expect(await effects.log("d1")).toEqual(["Reserve", "Notify", "Release"]);
    expect(await sendRequest(client, messages.PlaceDirect, input, { messageId: "cmd-1" })).toBe(first);
    expect((await effects.deliveries()).keys.filter((k) => k.startsWith(id))).toHaveLength(3);
  });

  it("saga — a redelivered event (same message id) does not start a second saga", async () => {
    await startSteps();
    const leader = await startCoordinator("c0");
    const payload = { orderId: "dup", failAt: -1, failUndo: -1 };
    await Promise.all(
      [1, 2, 3].map(() => publishEvent(client, messages.OrderPlaced, payload, { messageId: "same" })),
    );
    const id = sagaId("PlaceOrder", "same");
    expect(await ended(id)).toBe("completed");
    await publishEvent(client, messages.OrderPlaced, payload, { messageId: "same" });
    await waitFor("the duplicates to be seen", async () => leader.sagas!.stats.duplicates === 3);
    expect(await effects.log("dup")).toEqual(["Reserve", "Charge", "Ship"]);
  });

  it("saga — a later term resumes unfinished sagas with the same keys; the earlier term's writes are fenced off", async () => {
    await startSteps(30);
    const bus = memoryBus(hub);
    const first = (await coordination.acquire(tag, "a", 60_000))!;
    const term1 = new AbortController();
    const runner1 = startSagaRunner({
      wiring,
      service: "coordinator",
      definition: coordinatorDefinition(wiring),
      bus,
      backend: coordination,
      hashTag: tag,
      token: first,
      signal: term1.signal,
    });
    await runner1.ready;
    const started = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        runner1.start("PlaceOrder", { orderId: `r${i}`, failAt: i % 4 === 0 ? 2 : -1, failUndo: -1 }),
      ),
    );
    await new Promise((r) => setTimeout(r, 45)); // some sagas are mid-step
    // A new term begins while the first runner still believes it leads (a pause, a partition).
    await coordination.release(tag, "a", first);
    const second = (await coordination.acquire(tag, "b", 60_000))!;
    const runner2 = startSagaRunner({
      wiring,
      service: "coordinator",
      definition: coordinatorDefinition(wiring),
      bus,
      backend: coordination,
      hashTag: tag,
      token: second,
      signal: new AbortController().signal,
    });
    await runner2.ready;
    expect(runner2.stats.resumed).toBeGreaterThan(0);
    await waitFor("the first runner to be fenced off", async () => runner1.stats.staleWrites > 0);
    term1.abort();
    await runner1.done;
    for (const s of started) await ended(s.sagaId);
    await runner2.stop();
    const counts = await effects.counts();
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    for (let i = 0; i < 20; i++) {
      expect(await effects.log(`r${i}`)).toEqual(
        i % 4 === 0 ? ["Reserve", "Charge", "Refund", "Release"] : ["Reserve", "Charge", "Ship"],
      );
    }
  });
});
