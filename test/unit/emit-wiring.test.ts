import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { stableJson } from "../../compiler/emit/_json.js";
import { buildWiring, emitWiring } from "../../compiler/emit/wiring.js";
import { InvalidWiringError, parseWiring, type Wiring } from "../../runtime/wiring.js";

const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

function modelOf(source: string, file = "t.catga") {
  const { value, diagnostics } = checkSource(source, file);
  if (value === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return value;
}

function example(name: string): Wiring {
  const file = join(EXAMPLES, name, `${name}.catga`);
  return buildWiring(modelOf(readFileSync(file, "utf8"), file), { sourceName: `${name}.catga` });
}

describe("wiring", () => {
  it("wiring — every example's output validates against the runtime schema", () => {
    const names = readdirSync(EXAMPLES).sort();
    expect(names.length).toBeGreaterThanOrEqual(4);
    for (const name of names) {
      const file = join(EXAMPLES, name, `${name}.catga`);
      const [out] = emitWiring(modelOf(readFileSync(file, "utf8"), file), { sourceName: basename(file) });
      expect(out?.path).toBe("wiring.json");
      expect(() => parseWiring(JSON.parse(out!.content), name)).not.toThrow();
    }
  });

  it("wiring — shop: queue groups, broadcast, leader lease, saga steps", () => {
    const w = example("shop");
    expect(w.topology).toBe("shop");
    expect(w.source).toBe("shop.catga");
    expect(w.services.order?.handles).toEqual([
      { message: "CreateOrder", subject: "shop.cmd.CreateOrder", queue: "order-service-workers" },
      { message: "GetOrder", subject: "shop.query.GetOrder", queue: "order-service-workers" },
      { message: "AcceptOrder", subject: "shop.cmd.AcceptOrder", queue: "order-service-workers" },
      { message: "ConfirmOrder", subject: "shop.cmd.ConfirmOrder", queue: "order-service-workers" },
      { message: "CancelOrder", subject: "shop.cmd.CancelOrder", queue: "order-service-workers" },
      { message: "CancelStaleOrders", subject: "shop.cmd.CancelStaleOrders", queue: "order-service-workers" },
    ]);
    expect(w.services.inventory?.handles[0]?.queue).toBe("inventory");
    expect(w.services.notifier?.subscriptions).toEqual([
      {
        event: "OrderCreated",
        subject: "shop.event.OrderCreated",
        delivery: "broadcast",
        durable: {
          stream: "catga_shop_OrderCreated",
          ackWaitMs: 10_000,
          maxDeliver: 5,
          deadLetterSubject: "shop.dead.notifier.OrderCreated",
        },
      },
    ]);
    expect(w.services.coordinator?.leader).toEqual({
      leaseMs: 10_000,
      redisHashTag: "{catga:shop:coordinator}",
      releaseSubject: "shop._catga.leader.coordinator",
    });
    expect(w.services.order?.leader).toBeUndefined();
    expect(w.services.coordinator?.schedules).toEqual([{ job: "sweepStaleOrders", intervalMs: 30_000 }]);
    expect(w.services.coordinator?.sends).toEqual(["CancelStaleOrders"]);
    expect(w.sagas.PlaceOrder?.steps.map((s) => [s.command, s.compensate, s.timeoutMs])).toEqual([
      ["AcceptOrder", "CancelOrder", 5000],
      ["ReserveStock", "ReleaseStock", 5000],
      ["ChargePayment", "RefundPayment", 10_000],
      ["ConfirmOrder", "CancelOrder", 5000],
    ]);
    expect(w.messages.CreateOrder).toMatchObject({ kind: "command", idempotent: true, handledBy: "order" });
    expect(w.messages.OrderCreated?.timeoutMs).toBeUndefined();
    expect(w.redis).toEqual({ mode: "sentinel", nodes: 3, master: "catga" });
    expect(w.services.order?.inboxPrefix).toBe("_INBOX.shop.order");
  });

  it("wiring — a durable event: its stream, each consumer, the saga trigger and the dead letters", () => {
    const source = `topology t
nats { nodes 3  deliveries 7 }
durable event A { x: int } retain 30d
durable event B {} replicas 1 retain 1d
event C {}
command Go {}
service p { emits A, B, C  handles Go  on C }
service g { timeout 20s  on A, B }
service b { on A broadcast }
service r { mode leader  replicas 2  runs S  on A }
service l { mode leader  replicas 2  on B broadcast }
saga S { on A  step Go irreversible }
`;
    const w = buildWiring(modelOf(source), { sourceName: "t.catga" });
    expect(w.messages.A?.durable).toEqual({
      stream: "catga_t_A",
      retentionMs: 30 * 86_400_000,
      maxDeliver: 7,
      replicas: 3,
      dedupWindowMs: 120_000,
    });
    expect(w.messages.B?.durable).toMatchObject({
      stream: "catga_t_B",
      replicas: 1,
      retentionMs: 86_400_000,
    });
    expect(w.messages.C?.durable).toBeUndefined();
    expect(w.services.g?.subscriptions.map((s) => s.durable)).toEqual([
      {
        stream: "catga_t_A",
        consumer: "g",
        ackWaitMs: 25_000,
        maxDeliver: 7,
        deadLetterSubject: "t.dead.g.A",
      },
      {
        stream: "catga_t_B",
        consumer: "g",
        ackWaitMs: 25_000,
        maxDeliver: 7,
        deadLetterSubject: "t.dead.g.B",
      },
    ]);
    // Broadcast: no shared consumer, each instance follows the stream itself.
    expect(w.services.b?.subscriptions[0]?.durable).toEqual({
      stream: "catga_t_A",
      ackWaitMs: 10_000,
      maxDeliver: 7,
      deadLetterSubject: "t.dead.b.A",
    });
    expect(w.services.p?.subscriptions[0]?.durable).toBeUndefined();
    // A leader-mode service ignores broadcast: its leader pulls from a shared durable consumer.
    expect(w.services.l?.subscriptions[0]?.durable?.consumer).toBe("l");
    // The saga's runner takes its trigger through its own consumer, apart from its `on A` consumer.
    expect(w.services.r?.subscriptions[0]?.durable?.consumer).toBe("r");
    expect(w.sagas.S?.trigger).toEqual({
      kind: "event",
      name: "A",
      durable: {
        stream: "catga_t_A",
        consumer: "r-S",
        ackWaitMs: 10_000,
        maxDeliver: 7,
        deadLetterSubject: "t.dead.r.A",
      },
    });
    expect(w.deadLetters).toEqual({
      stream: "catga_t_dead",
      subjects: "t.dead.>",
      retentionMs: 30 * 86_400_000,
      replicas: 3,
    });
  });

  it("wiring — no durable event: no durable fields and no dead-letter stream", () => {
    const w = example("pipeline");
    expect(w.deadLetters).toBeUndefined();
    for (const m of Object.values(w.messages)) expect(m.durable).toBeUndefined();
    for (const s of Object.values(w.services))
      for (const sub of s.subscriptions) expect(sub.durable).toBeUndefined();
  });

  it("wiring — the runtime schema refuses a durable subscription without its stream", () => {
    const w = example("shop");
    const broken = structuredClone(w) as unknown as {
      services: Record<string, { subscriptions: Array<{ durable?: Record<string, unknown> }> }>;
    };
    delete broken.services.notifier!.subscriptions[0]!.durable!.stream;
    expect(() => parseWiring(broken, "broken")).toThrow(InvalidWiringError);
  });

  it("wiring — group-delivered events use the consuming service's queue", () => {
    const w = example("pipeline");
    expect(w.services.stats?.subscriptions).toEqual([
      { event: "BatchStored", subject: "pipeline.event.BatchStored", delivery: "group", queue: "stats" },
    ]);
  });

  it("wiring — a topology without leader-mode services needs no Redis", () => {
    expect(example("pipeline").redis).toBeUndefined();
    expect(example("scheduler").redis).toEqual({ mode: "cluster", nodes: 6 });
    expect(example("ledger").redis).toEqual({
      mode: "standalone",
      nodes: 1,
      url: "redis://redis.internal:6379",
    });
  });

  it("wiring — timeouts: the handler's service, then the default; saga steps fall back to the command's", () => {
    const w = example("scheduler");
    expect(w.messages.CollectPayment?.timeoutMs).toBe(30_000);
    expect(w.messages.IssueInvoice?.timeoutMs).toBe(5000);
    expect(w.sagas.Collect?.steps.map((s) => s.timeoutMs)).toEqual([20_000, 5000]);
  });

  it("wiring — schema ids change with the shape, not with docs or other messages", () => {
    const base = "topology t\ntype P { a: int }\ncommand C { p: P } -> string\nservice s { handles C }\n";
    const id = (src: string) => buildWiring(modelOf(src), { sourceName: "t.catga" }).messages.C?.schemaId;
    const original = id(base);
    expect(original).toMatch(/^C@[0-9a-f]{16}$/);
    expect(id(`/// docs do not change the wire\n${base}`)).toBe(original);
    expect(id(`${base}command D {}\nservice u { handles D }\n`)).toBe(original);
    expect(id(base.replace("a: int", "a: float"))).not.toBe(original);
    expect(id(base.replace("-> string", "-> int"))).not.toBe(original);
    expect(id(base.replace("p: P", "p: P[]"))).not.toBe(original);
  });

  it("wiring — recursive types get a schema id without looping", () => {
    const src = "topology t\ntype Node { kids: Node[] }\nquery Tree {} -> Node\nservice s { handles Tree }\n";
    expect(buildWiring(modelOf(src), { sourceName: "t.catga" }).messages.Tree?.schemaId).toMatch(/^Tree@/);
  });

  it("wiring — a schema id does not depend on which messages were described before it", () => {
    // Shapes of types are shared between messages; those of mutually recursive types must not be,
    // since where the guard cuts the cycle depends on the type the description entered it by.
    const types = "topology t\ntype A { b: B?, n: N }\ntype B { a: A?, n: N[] }\ntype N { x: int }\n";
    const services = "service s { handles X, Y }\n";
    const ids = (commands: string) =>
      buildWiring(modelOf(`${types}${commands}${services}`), { sourceName: "t.catga" }).messages;
    const alone = ids("command X {}\ncommand Y { b: B, n: N }\n");
    const after = ids("command X { a: A, n: N }\ncommand Y { b: B, n: N }\n");
    expect(after.Y?.schemaId).toBe(alone.Y?.schemaId);
    expect(after.X?.schemaId).toBe(ids("command X { a: A, n: N }\ncommand Y {}\n").X?.schemaId);
  });

  it("wiring — parseWiring rejects another version and dangling names, with every path", () => {
    const good = example("shop");
    expect(() => parseWiring({ ...good, version: 2 })).toThrow(InvalidWiringError);
    const broken = structuredClone(good);
    broken.services.order!.handles[0]!.message = "Nope";
    broken.sagas.PlaceOrder!.runBy = "order";
    try {
      parseWiring(broken, "wiring.json");
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidWiringError);
      const problems = (error as InvalidWiringError).problems.map((p) => p.path);
      expect(problems).toEqual(["services.order.handles.0", "sagas.PlaceOrder.runBy"]);
      expect((error as Error).message).toContain("wiring.json is not a valid Catga wiring");
    }
  });

  it("wiring — the output is sorted JSON, identical across builds", () => {
    const file = join(EXAMPLES, "shop", "shop.catga");
    const emit = () =>
      emitWiring(modelOf(readFileSync(file, "utf8"), file), { sourceName: "shop.catga" })[0]?.content;
    const text = emit();
    expect(emit()).toBe(text);
    const keys = Object.keys(JSON.parse(text!) as object);
    expect(keys).toEqual([...keys].sort());
  });

  it("wiring — stableJson orders keys as the built-in sort does, for short and long key lists", () => {
    const reference = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(reference);
      if (value === null || typeof value !== "object") return value;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value).sort()) {
        const v = (value as Record<string, unknown>)[key];
        if (v !== undefined) out[key] = reference(v);
      }
      return out;
    };
    const key = fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.constantFrom("10", "9", "a", "B", "_", "é", "\u{1F600}"),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        fc.jsonValue({ maxDepth: 1 }),
        tie("map"),
        fc.array(tie("node")),
      ),
      // Short key lists are sorted by insertion and long ones (over 16 keys) by the built-in sort.
      map: fc.oneof(
        fc.dictionary(key, fc.oneof(tie("node"), fc.constant(undefined)), { maxKeys: 8 }),
        fc.dictionary(key, fc.oneof(fc.integer(), fc.constant(undefined)), { minKeys: 12, maxKeys: 40 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => stableJson(v) === `${JSON.stringify(reference(v), null, 2)}\n`),
      { seed: 20251126, numRuns: 500 },
    );
  });
});
