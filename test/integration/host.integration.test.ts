import { describe, expect, it } from "vitest";
import type { HostContext } from "../../runtime/api.js";
import { createBus } from "../../runtime/bus.js";
import { DomainError, InvalidMessageError } from "../../runtime/errors.js";
import type { Heartbeat } from "../../runtime/host.js";
import { startHost } from "../../runtime/host.js";
import { createLogger } from "../../runtime/log.js";
import { publishEvent, sendRequest } from "../../runtime/messaging.js";
import { eventHandler, requestHandler } from "../../runtime/service-definition.js";
import { MemoryHub, memoryTransport } from "../../runtime/transport/memory.js";
import {
  conformanceWiring,
  echoDefinition,
  newProbe,
  pingDefinition,
  specs,
} from "../fixtures/conformance.js";

const wiring = conformanceWiring();
const s = specs(wiring);

describe("host", () => {
  it("host — /healthz, /readyz and /metrics answer over HTTP; readiness drops while draining", async () => {
    const hub = new MemoryHub();
    const host = await startHost({
      wiring,
      service: "echo",
      definition: echoDefinition(wiring, newProbe()),
      transport: memoryTransport(hub),
      instanceId: "echo-h",
      healthPort: 0,
    });
    const base = `http://127.0.0.1:${host.healthPort}`;
    const bus = createBus(memoryTransport(hub));
    expect(await sendRequest(bus, s.Echo, { text: "a", delayMs: 0 })).toBe("a");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "ready",
      role: "peer",
      service: "echo",
      instance: "echo-h",
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('catga_messages_total{kind="command",message="Echo",outcome="ok"} 1');
    expect(metrics).toContain('catga_message_duration_seconds_count{message="Echo"} 1');
    expect(metrics).toContain("catga_ready 1");
    const slow = sendRequest(bus, s.Once, { text: "slow", delayMs: 300 });
    await new Promise((r) => setTimeout(r, 50));
    const stopping = host.stop();
    const during = await fetch(`${base}/readyz`);
    expect(during.status).toBe(503);
    expect(await slow).toBe("slow");
    await stopping;
    await bus.close();
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it("host — heartbeats carry topology, service, instance, role and counters", async () => {
    const hub = new MemoryHub();
    const watcher = memoryTransport(hub);
    const beats: Heartbeat[] = [];
    watcher.subscribe("conf._catga.heartbeat.>", {}, (msg) =>
      beats.push(JSON.parse(new TextDecoder().decode(msg.data))),
    );
    const host = await startHost({
      wiring,
      service: "echo",
      definition: echoDefinition(wiring, newProbe()),
      transport: memoryTransport(hub),
      instanceId: "echo-b",
      heartbeatMs: 50,
    });
    const bus = createBus(memoryTransport(hub));
    await sendRequest(bus, s.Echo, { text: "a", delayMs: 0 });
    await sendRequest(bus, s.Fail, { code: "X" }).catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    await host.stop();
    await bus.close();
    await new Promise((r) => setTimeout(r, 20)); // the farewell beat is delivered asynchronously
    expect(beats.length).toBeGreaterThanOrEqual(3);
    const last = beats.at(-2)!;
    expect(last).toMatchObject({
      topology: "conf",
      service: "echo",
      instance: "echo-b",
      role: "peer",
      mode: "p2p",
      ready: true,
      counters: { handled: 1, errors: 1, invalid: 0, inFlight: 0 },
    });
    expect(beats.at(-1)!.ready).toBe(false);
  });

  it("host — a definition for another service is refused with every problem listed", async () => {
    const hub = new MemoryHub();
    const def = echoDefinition(wiring, newProbe());
    await expect(
      startHost({ wiring, service: "everyone", definition: def, transport: memoryTransport(hub) }),
    ).rejects.toThrow(
      /module defines service 'conf.echo', not 'conf.everyone'[\s\S]*no event handler for Ping/,
    );
    const { Echo: _, ...rest } = def.handlers;
    await expect(
      startHost({
        wiring,
        service: "echo",
        definition: { ...def, handlers: rest },
        transport: memoryTransport(hub),
      }),
    ).rejects.toThrow(/no handler for Echo/);
  });
  it("host — event handlers, sync or async, count their outcomes; a drain waits for an async one", async () => {
    const hub = new MemoryHub();
    const seen: number[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // n picks the handler's behaviour: synchronous or not, succeeding or failing, or held open.
    const events = {
      Ping: (e: { n: number }): void | Promise<void> => {
        seen.push(e.n);
        if (e.n === 1) return;
        if (e.n === 2) throw new Error("sync failure");
        if (e.n === 3) return Promise.resolve();
        if (e.n === 4) return Promise.reject(new Error("async failure"));
        return held;
      },
    };
    const definition = {
      ...pingDefinition(wiring, "everyone", newProbe()),
      events: { Ping: eventHandler(s.Ping, events, "Ping") },
    };
    const logs: string[] = [];
    const host = await startHost({
      wiring,
      service: "everyone",
      definition,
      transport: memoryTransport(hub),
      instanceId: "everyone-h",
      healthPort: 0,
      log: createLogger({}, { sink: (line) => logs.push(line) }),
    });
    const bus = createBus(memoryTransport(hub));
    for (const n of [1, 2, 3, 4]) await publishEvent(bus, s.Ping, { n });
    // An event that fails its schema, sent past the client's validation.
    bus.transport.publish(s.Ping.subject, new TextEncoder().encode('{"n":"x"}'), {});
    await publishEvent(bus, s.Ping, { n: 5 });
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    const metrics = await (await fetch(`http://127.0.0.1:${host.healthPort}/metrics`)).text();
    const total = (outcome: string) =>
      Number(
        metrics.match(
          new RegExp(`catga_messages_total\\{kind="event",message="Ping",outcome="${outcome}"\\} (\\d+)`),
        )?.[1] ?? 0,
      );
    expect([total("ok"), total("error"), total("invalid")]).toEqual([2, 2, 1]);
    expect(metrics).toMatch(/catga_messages_in_flight\{[^}]*message="Ping"[^}]*\} 1/);
    expect(logs.filter((l) => l.includes("event handler failed"))).toHaveLength(2);
    // The held handler is in flight: stopping waits for it.
    let stopped = false;
    const stopping = host.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(stopped).toBe(true);
    await bus.close();
  });
  it("host — an event handler's deadline is its service's timeout from the event's arrival, read however late; its message id is the one sent", async () => {
    const hub = new MemoryHub();
    // The bytes each event went out with, as another subscriber sees them: the drawn id is bytes 2-13.
    const sentIds: string[] = [];
    memoryTransport(hub).subscribe(s.Ping.subject, {}, (msg) =>
      sentIds.push(Buffer.from(msg.data.subarray(2, 14)).toString("base64url")),
    );
    const seen: { arrived: number; deadline: number; messageId: string }[] = [];
    const events = {
      Ping: async (_: { n: number }, ctx: HostContext) => {
        const arrived = Date.now();
        // The deadline and the id are read only after the handler has run a while.
        await new Promise((r) => setTimeout(r, 300));
        seen.push({ arrived, deadline: ctx.deadline, messageId: ctx.messageId });
      },
    };
    const host = await startHost({
      wiring,
      service: "everyone",
      definition: {
        ...pingDefinition(wiring, "everyone", newProbe()),
        events: { Ping: eventHandler(s.Ping, events, "Ping") },
      },
      transport: memoryTransport(hub),
      instanceId: "everyone-d",
    });
    const timeout = wiring.services.everyone!.timeoutMs;
    const bus = createBus(memoryTransport(hub));
    for (const n of [1, 2]) await publishEvent(bus, s.Ping, { n });
    // A caller's own id travels as text and reads back the same.
    await publishEvent(bus, s.Ping, { n: 3 }, { messageId: "order-3" });
    const until = Date.now() + 5000;
    while (seen.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(seen).toHaveLength(3);
    for (const { arrived, deadline } of seen) {
      // Read 300 ms after the handler began, the deadline still counts from the arrival: at most the
      // timeout after the handler's first clock read, and not more than a few ms before it; whole ms.
      expect(Number.isInteger(deadline)).toBe(true);
      expect(deadline).toBeLessThanOrEqual(arrived + timeout);
      expect(deadline).toBeGreaterThan(arrived + timeout - 100);
    }
    expect(seen.map((x) => x.messageId).sort()).toEqual([sentIds[0], sentIds[1], "order-3"].sort());
    expect(sentIds[0]).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(sentIds[0]).not.toBe(sentIds[1]);
    await host.stop();
    await bus.close();
  });

  it("host — request handlers answer the same whether they return at once or later", async () => {
    const hub = new MemoryHub();
    type In = { text: string; delayMs: number };
    // Echo: synchronous or not by delayMs; Once: a rejection or a result that fails its schema.
    const handlers = {
      Echo: (input: In): string | Promise<string> =>
        input.delayMs > 0
          ? new Promise((resolve) => setTimeout(() => resolve(input.text), input.delayMs))
          : input.text,
      Once: (input: In): string | Promise<string> =>
        input.text === "reject"
          ? Promise.reject(new DomainError("NOPE", "rejected later"))
          : (42 as unknown as string),
    };
    const base = echoDefinition(wiring, newProbe());
    const definition = {
      ...base,
      handlers: {
        ...base.handlers,
        Echo: requestHandler(s.Echo, handlers, "Echo"),
        Once: requestHandler(s.Once, handlers, "Once"),
      },
    };
    const host = await startHost({
      wiring,
      service: "echo",
      definition,
      transport: memoryTransport(hub),
      instanceId: "echo-r",
      log: createLogger({}, { sink: () => {} }),
    });
    const bus = createBus(memoryTransport(hub));
    expect(await sendRequest(bus, s.Echo, { text: "now", delayMs: 0 })).toBe("now");
    expect(await sendRequest(bus, s.Echo, { text: "later", delayMs: 20 })).toBe("later");
    await expect(sendRequest(bus, s.Once, { text: "reject", delayMs: 0 })).rejects.toMatchObject({
      name: "DomainError",
      code: "NOPE",
    });
    const invalid = await sendRequest(bus, s.Once, { text: "bad result", delayMs: 0 }).catch(
      (e: unknown) => e,
    );
    expect(invalid).toBeInstanceOf(InvalidMessageError);
    expect(invalid).toMatchObject({ part: "result" });
    // The instance keeps serving after each failure.
    expect(await sendRequest(bus, s.Echo, { text: "still", delayMs: 0 })).toBe("still");
    await host.stop();
    await bus.close();
  });
});
