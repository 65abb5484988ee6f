import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { EventSpec } from "../../runtime/api.js";
import { createBus } from "../../runtime/bus.js";
import { MemoryHub, memoryTransport } from "../../runtime/transport/memory.js";

const Tick: EventSpec<{ n: number }> = {
  name: "Tick",
  kind: "event",
  subject: "t.event.Tick",
  schemaId: "t.Tick",
  payload: z.object({ n: z.number() }),
};

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe("bus subscriptions", () => {
  it("unsubscribe resolves once every running handler has finished, and not before", async () => {
    const bus = createBus(memoryTransport(new MemoryHub()));
    const release: (() => void)[] = [];
    const finished: number[] = [];
    const sub = bus.subscribe(Tick, async (payload) => {
      const { n } = payload as { n: number };
      await new Promise<void>((resolve) => release.push(resolve));
      finished.push(n);
    });
    for (let n = 0; n < 3; n++) await bus.publish(Tick, { n });
    await settle();
    expect(release).toHaveLength(3);
    let unsubscribed = false;
    const done = sub.unsubscribe().then(() => {
      unsubscribed = true;
    });
    await settle();
    release[1]!();
    release[0]!();
    await settle();
    expect(unsubscribed).toBe(false);
    release[2]!();
    await done;
    expect(finished.sort()).toEqual([0, 1, 2]);
    await bus.close();
  });

  it("unsubscribe resolves at once when no handler runs, also after many events and a failing handler", async () => {
    const bus = createBus(memoryTransport(new MemoryHub()));
    let handled = 0;
    const sub = bus.subscribe(Tick, (payload) => {
      handled++;
      if ((payload as { n: number }).n === 3) throw new Error("boom");
    });
    for (let n = 0; n < 1000; n++) await bus.publish(Tick, { n });
    await settle();
    expect(handled).toBe(1000);
    await sub.unsubscribe();
    await bus.close();
  });
});
