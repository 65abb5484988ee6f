import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";
import * as zod from "zod";
import { checkSource } from "../../compiler/check/index.js";
import type { EmittedFile } from "../../compiler/emit/_files.js";
import { camelCase, emitTypeScript } from "../../compiler/emit/typescript.js";
import type { TopologyModel } from "../../compiler/model.js";
import type {
  EventSpec,
  HostContext,
  Logger,
  MessageBus,
  RequestSpec,
  ServiceDefinition,
  Subscription,
} from "../../runtime/index.js";
import * as runtime from "../../runtime/index.js";
import { typeCheck, virtualDir } from "../helpers/typecheck.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const EXAMPLES = join(ROOT, "examples");

interface Example {
  name: string;
  model: TopologyModel;
  files: EmittedFile[];
}

function examples(): Example[] {
  return readdirSync(EXAMPLES)
    .sort()
    .flatMap((dir) =>
      readdirSync(join(EXAMPLES, dir))
        .filter((f) => f.endsWith(".catga"))
        .sort()
        .map((f) => {
          const file = join(EXAMPLES, dir, f);
          const { value, diagnostics } = checkSource(readFileSync(file), file);
          if (value === undefined) throw new Error(`${file}: ${JSON.stringify(diagnostics)}`);
          return { name: dir, model: value, files: emitTypeScript(value, { sourceName: f }) };
        }),
    );
}

/**
 * What the examples do not show: a recursive type, a saga started by a command with a result, a
 * command used by two steps, a service with nothing to define.
 */
const EDGE_SOURCE = `/// Edge cases of the TypeScript emitter.
topology edge

redis { mode standalone }

/// A tree: recursive through a list and an optional field.
type Node { name: string, children: Node[], parent: Node?, at: timestamp[]? }

query GetTree { root: string } -> Node?

/// Starts the placement saga; replies with the saga's order id.
command Place { orderId: string } -> string
command Reserve { orderId: string } -> bool
command Release { orderId: string }
command Notify { orderId: string }
command Kick { reason: string }

service runner {
  mode leader
  replicas 2
  runs Placement
  runs Kicking
}

service worker {
  handles Reserve, Release, Notify, GetTree
}

service pinger {
  sends GetTree
}

saga Placement {
  on Place
  step Reserve compensate Release
  step Notify irreversible
  step Reserve compensate Release
}

saga Kicking {
  on Kick
  step Notify irreversible
}
`;

function edge(): Example {
  const { value, diagnostics } = checkSource(EDGE_SOURCE, "edge.catga");
  if (value === undefined) throw new Error(JSON.stringify(diagnostics));
  return { name: "edge", model: value, files: emitTypeScript(value, { sourceName: "edge.catga" }) };
}

/** The shop fixture: the definers and the client used correctly, and the mistakes the types must catch. */
const SHOP_FIXTURE = `
import {
  connectShop,
  defineCoordinator,
  defineNotifier,
  defineOrder,
  DomainError,
  type MessageBus,
  OrderStatus,
  type OrderResult,
} from "./client.js";

declare const bus: MessageBus;

export async function useClient(): Promise<number> {
  const shop = connectShop(bus, { timeoutMs: 1000 });
  const created: OrderResult = await shop.createOrder({ customerId: "c1", items: [{ sku: "a", qty: 1 }] });
  const status: OrderStatus = created.status;
  const found = await shop.getOrder({ orderId: created.orderId }, { timeoutMs: 200, correlationId: "c" });
  // @ts-expect-error an optional result may be null
  void found.orderId;
  const released: void = await shop.releaseStock({ orderId: "o1" });
  void released;
  // @ts-expect-error qty is an int, not a string
  await shop.createOrder({ customerId: "c1", items: [{ sku: "a", qty: "1" }] });
  // @ts-expect-error customerId is required
  await shop.createOrder({ items: [] });
  // @ts-expect-error the client does not publish events
  await shop.emit.orderCreated({ orderId: "o", total: 1 });
  // @ts-expect-error no such event
  shop.on.orderShipped(() => {});
  const sub = shop.on.orderCreated((event, info) => {
    const total: number = event.total;
    void total;
    void info.correlationId;
  });
  await sub.unsubscribe();
  try {
    await shop.chargePayment({ orderId: "o1", amount: 10 });
  } catch (error) {
    if (error instanceof DomainError) return error.code.length;
  }
  return status.length;
}

export const order = defineOrder({
  handlers: {
    async createOrder(input, ctx) {
      await ctx.emit.orderCreated({ orderId: ctx.messageId, total: input.items.length, items: input.items });
      // @ts-expect-error order does not declare this event in emits
      await ctx.emit.orderShipped({ orderId: "o1" });
      // @ts-expect-error order declares no sends
      await ctx.send.chargePayment({ orderId: "o1", amount: 1 });
      // @ts-expect-error the event's total is a float, not a string
      await ctx.emit.orderCreated({ orderId: "o1", total: "1", items: [] });
      // @ts-expect-error a p2p service has no fencing token
      void ctx.fencingToken;
      // @ts-expect-error nor a leadership flag
      void ctx.isLeader;
      ctx.log.info("created", { deadline: ctx.deadline });
      return { orderId: "o1", status: OrderStatus.pending };
    },
    getOrder: () => null,
    acceptOrder: (input) => void input.sagaId,
    confirmOrder: () => {},
    cancelOrder: () => {},
    cancelStaleOrders: (input) => ({ cancelled: input.limit, more: false }),
  },
});

defineOrder({
  // @ts-expect-error every handled message needs its handler
  handlers: { createOrder: () => ({ orderId: "o", status: "paid" as const }) },
});

defineOrder({
  handlers: {
    // @ts-expect-error the reply must be an OrderResult
    createOrder: () => ({ orderId: "o", status: "lost" }),
    getOrder: () => null,
    acceptOrder: () => {},
    confirmOrder: () => {},
    cancelOrder: () => {},
    cancelStaleOrders: () => ({ cancelled: 0, more: false }),
  },
});

export const notifier = defineNotifier({
  events: {
    orderCreated(event, ctx) {
      ctx.log.info("order", { id: event.orderId, total: event.total });
    },
  },
});

export const coordinator = defineCoordinator({
  jobs: {
    async sweepStaleOrders(ctx) {
      const token: bigint = ctx.fencingToken;
      const leader: boolean = ctx.isLeader;
      ctx.signal.throwIfAborted();
      ctx.log.debug("sweep", { token: String(token), leader });
    },
  },
  sagas: {
    placeOrder: {
      start: (event, saga) => ({
        orderId: event.orderId,
        amount: event.total,
        items: event.items,
        paymentId: "",
        id: saga.sagaId,
      }),
      steps: {
        acceptOrder: {
          input: (state) => ({ orderId: state.orderId, sagaId: state.id }),
          compensate: (state) => ({ orderId: state.orderId, sagaId: state.id }),
        },
        reserveStock: {
          input: (state) => ({ orderId: state.orderId, items: state.items }),
          compensate: (state) => ({ orderId: state.orderId }),
        },
        chargePayment: {
          input: (state) => ({ orderId: state.orderId, amount: state.amount }),
          fold: (state, paymentId) => ({ ...state, paymentId }),
          compensate: (state) => ({ orderId: state.orderId }),
        },
        confirmOrder: {
          input: (state) => ({ orderId: state.orderId, sagaId: state.id }),
          compensate: (state) => ({ orderId: state.orderId, sagaId: state.id }),
        },
      },
    },
  },
});

defineCoordinator({
  jobs: { sweepStaleOrders() {} },
  sagas: {
    placeOrder: {
      start: (event) => ({ orderId: event.orderId }),
      steps: {
        acceptOrder: {
          // @ts-expect-error AcceptOrder needs the saga id
          input: (state) => ({ orderId: state.orderId }),
          compensate: (state) => ({ orderId: state.orderId, sagaId: "s" }),
        },
        reserveStock: {
          // @ts-expect-error ReserveStock needs the items
          input: (state) => ({ orderId: state.orderId }),
          compensate: (state) => ({ orderId: state.orderId }),
        },
        chargePayment: {
          // @ts-expect-error ChargePayment needs an amount
          input: (state) => ({ orderId: state.orderId }),
          // @ts-expect-error ChargePayment returns a string, not a number
          fold: (state, paymentId: number) => ({ orderId: state.orderId + paymentId }),
          // @ts-expect-error RefundPayment takes the order id, not a payment id
          compensate: (state) => ({ paymentId: state.orderId }),
        },
        confirmOrder: {
          input: (state) => ({ orderId: state.orderId, sagaId: "s" }),
          compensate: (state) => ({ orderId: state.orderId, sagaId: "s" }),
        },
      },
    },
  },
});
`;

/** The edge fixture: command-started sagas, repeated steps, an empty definer. */
const EDGE_FIXTURE = `
import { connectEdge, definePinger, defineRunner, type MessageBus, type Node } from "./client.js";

declare const bus: MessageBus;
declare const tree: Node;

export const runner = defineRunner({
  sagas: {
    placement: {
      start: (input, saga) => ({ orderId: input.orderId, sagaId: saga.sagaId, reserved: 0 }),
      reply: (state) => state.orderId,
      steps: {
        reserve: {
          input: (state) => ({ orderId: state.orderId }),
          fold: (state, ok) => ({ ...state, reserved: state.reserved + (ok ? 1 : 0) }),
          compensate: (state) => ({ orderId: state.orderId }),
        },
        notify: { input: (state) => ({ orderId: state.orderId }) },
        reserve3: { input: (state) => ({ orderId: state.orderId }), compensate: (state) => ({ orderId: state.orderId }) },
      },
    },
    kicking: { start: (kick) => ({ reason: kick.reason }), steps: { notify: { input: (s) => ({ orderId: s.reason }) } } },
  },
});

type Placed = { orderId: string };
const keep = (s: Placed) => ({ orderId: s.orderId });

defineRunner<Placed, Placed>({
  sagas: {
    // @ts-expect-error a saga started by a command with a result must say what to reply
    placement: {
      start: keep,
      steps: { reserve: { input: keep, compensate: keep }, notify: { input: keep }, reserve3: { input: keep, compensate: keep } },
    },
    kicking: { start: () => ({ orderId: "o" }), steps: { notify: { input: keep } } },
  },
});

export const pinger = definePinger();

export async function walk(): Promise<number> {
  const edge = connectEdge(bus);
  const root = await edge.getTree({ root: "r" });
  const sagaReply: string = await edge.place({ orderId: "o" });
  const nothing: void = await edge.kick({ reason: "r" });
  void nothing;
  return (root?.children.length ?? 0) + (tree.parent?.at?.[0]?.getTime() ?? 0) + sagaReply.length;
}
`;

/** The ledger fixture: `send` offers exactly the declared `sends`. */
const LEDGER_FIXTURE = `
import { defineTransfers } from "./client.js";

export const transfers = defineTransfers({
  handlers: {
    async transfer(input, ctx) {
      const balance = await ctx.send.balance({ account: input.from }, { timeoutMs: 100 });
      const cents: number = balance.cents;
      // @ts-expect-error transfers does not declare OpenAccount in sends
      await ctx.send.openAccount({ owner: "x" });
      // @ts-expect-error account is a string
      await ctx.send.balance({ account: 42 });
      await ctx.emit.transferred({ transferId: "t", from: input.from, to: input.to, amount: input.amount });
      const token: bigint = ctx.fencingToken;
      return \`\${cents}:\${token}\`;
    },
  },
});
`;

describe("emit typescript", () => {
  let all: Example[];
  beforeAll(() => {
    all = examples();
  });

  it("typescript — every example's generated code and the typed fixtures type-check with zero diagnostics", () => {
    const files = new Map<string, string>();
    for (const ex of all) {
      for (const f of ex.files) files.set(join(virtualDir(ex.name), f.path), f.content);
    }
    files.set(join(virtualDir("shop"), "fixture.ts"), SHOP_FIXTURE);
    files.set(join(virtualDir("ledger"), "fixture.ts"), LEDGER_FIXTURE);
    for (const f of edge().files) files.set(join(virtualDir("edge"), f.path), f.content);
    files.set(join(virtualDir("edge"), "fixture.ts"), EDGE_FIXTURE);
    expect(all.map((e) => e.name)).toEqual(
      expect.arrayContaining(["ledger", "pipeline", "scheduler", "shop"]),
    );
    expect(typeCheck(files)).toEqual([]);
  }, 120_000);

  it("typescript — a fixture mistake is reported, so the type check cannot pass vacuously", () => {
    const shop = all.find((e) => e.name === "shop");
    if (!shop) throw new Error("no shop example");
    const files = new Map(shop.files.map((f) => [join(virtualDir("shop"), f.path), f.content]));
    files.set(
      join(virtualDir("shop"), "bad.ts"),
      `import { defineOrder } from "./client.js";\n` +
        `export const o = defineOrder({ handlers: { createOrder: async (i, ctx) => { await ctx.emit.nope(i); return { orderId: "", status: "paid" }; }, getOrder: () => null, ` +
        `acceptOrder: () => {}, confirmOrder: () => {}, cancelOrder: () => {}, cancelStaleOrders: () => ({ cancelled: 0, more: false }) } });\n`,
    );
    const diagnostics = typeCheck(files);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toContain("Property 'nope' does not exist");
  }, 120_000);

  it("typescript — output is deterministic and every file starts with the generated header", () => {
    for (const ex of all) {
      const again = emitTypeScript(ex.model, { sourceName: `${ex.name}.catga` });
      expect(again).toEqual(ex.files);
      expect(ex.files.map((f) => f.path)).toEqual(["client.ts", "messages.ts", "services.ts"]);
      for (const f of ex.files) {
        expect(f.content.split("\n")[0]).toBe(`// Generated by catgac from ${ex.name}.catga — do not edit`);
        const long = f.content.split("\n").filter((l) => l.length > 120);
        expect(long, `${ex.name}/${f.path}`).toEqual([]);
      }
    }
  });

  it("typescript — the header names the source by the option, not the model's path", () => {
    const shop = all.find((e) => e.name === "shop");
    if (!shop) throw new Error("no shop example");
    const files = emitTypeScript(
      { ...shop.model, source: "/elsewhere/x.catga" },
      { sourceName: "renamed.catga" },
    );
    expect(
      files.every((f) => f.content.startsWith("// Generated by catgac from renamed.catga — do not edit\n")),
    ).toBe(true);
    expect(files.some((f) => f.content.includes("/elsewhere"))).toBe(false);
  });

  it("typescript — doc comments become TSDoc on types, fields, enum members, methods", () => {
    const pipeline = all.find((e) => e.name === "pipeline");
    if (!pipeline) throw new Error("no pipeline example");
    const messages = pipeline.files.find((f) => f.path === "messages.ts")?.content ?? "";
    expect(messages).toContain("/** Severity of a log line. */\nexport const Level = {");
    expect(messages).toContain(
      "/** Takes a batch of lines; returns how many were accepted. */\nexport interface Ingest {",
    );
    const model: TopologyModel = {
      ...pipeline.model,
      enums: [
        ...pipeline.model.enums,
        { name: "Color", doc: "A colour.", members: [{ name: "red", doc: "Warm." }, { name: "blue" }] },
      ],
      types: [
        ...pipeline.model.types,
        {
          name: "Swatch",
          fields: [
            {
              name: "color",
              doc: "Its colour; */ cannot close the comment.",
              type: { kind: "enum", name: "Color", listDepth: 0, optional: false },
            },
          ],
        },
      ],
    };
    const out =
      emitTypeScript(model, { sourceName: "p.catga" }).find((f) => f.path === "messages.ts")?.content ?? "";
    expect(out).toContain('  /** Warm. */\n  red: "red",');
    expect(out).toContain("  /** Its colour; *\\/ cannot close the comment. */\n  color: Color;");
  });

  it("typescript — a durable event's spec names its stream; other events carry no durable field", () => {
    const shop = all.find((e) => e.name === "shop");
    if (!shop) throw new Error("no shop example");
    const loaded = load(shop.files);
    const spec = loaded.messages.OrderCreated as EventSpec;
    expect(spec.durable).toEqual({ stream: "catga_shop_OrderCreated" });
    const pipeline = all.find((e) => e.name === "pipeline");
    if (!pipeline) throw new Error("no pipeline example");
    const events = Object.values(load(pipeline.files).messages as Record<string, EventSpec>).filter(
      (m) => m.kind === "event",
    );
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) expect(event.durable).toBeUndefined();
  });

  it("typescript — member names are camelCase and fall back to the declared name when two would meet", () => {
    expect(camelCase("CreateOrder")).toBe("createOrder");
    expect(camelCase("URLFetch")).toBe("urlFetch");
    expect(camelCase("ID")).toBe("id");
    expect(camelCase("sweep")).toBe("sweep");
  });
});

// ------------------------------------------------------------------ behaviour

/* biome-ignore lint/suspicious/noExplicitAny: the generated module is evaluated at run time; its types are checked above. */
type Loaded = Record<string, any>;

/** Evaluates generated files in memory (transpiled to CommonJS): no file is written. */
function load(files: EmittedFile[]): Loaded {
  const cache = new Map<string, Record<string, unknown>>();
  const evaluate = (path: string): Record<string, unknown> => {
    const cached = cache.get(path);
    if (cached) return cached;
    const source = files.find((f) => f.path === path)?.content;
    if (source === undefined) throw new Error(`no generated file ${path}`);
    const js = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
      },
    }).outputText;
    const exports: Record<string, unknown> = {};
    cache.set(path, exports);
    const require = (specifier: string): unknown => {
      if (specifier === "zod") return zod;
      if (specifier === "@catga/runtime") return runtime;
      if (specifier.startsWith("./")) return evaluate(specifier.slice(2).replace(/\.js$/, ".ts"));
      throw new Error(`generated code imports ${specifier}`);
    };
    new Function("exports", "require", js)(exports, require);
    return exports;
  };
  return evaluate("client.ts");
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** What crossing the wire does to a value: JSON out and back. */
const wire = (value: unknown): unknown =>
  value === undefined ? undefined : JSON.parse(JSON.stringify(value));

/**
 * A small in-process bus for these tests: routes requests to the lowered handlers of service
 * definitions, JSON-encodes every payload as a transport would, carries errors as wire errors and
 * records what was sent. Not a NATS mock: it implements the MessageBus contract directly.
 */
class RoutingBus implements MessageBus {
  readonly sent: { subject: string; payload: unknown; timeoutMs: number | undefined }[] = [];
  readonly published: { subject: string; payload: unknown }[] = [];
  private readonly subscribers = new Map<string, ((payload: unknown) => unknown)[]>();
  /** Overrides the reply of a subject with a raw JSON value (a misbehaving remote). */
  readonly rawReplies = new Map<string, unknown>();

  constructor(private readonly services: ServiceDefinition[]) {}

  private context(def: ServiceDefinition): HostContext {
    const emit = Object.fromEntries(
      Object.entries(def.emits).map(([k, spec]) => [k, (e: unknown) => runtime.publishEvent(this, spec, e)]),
    );
    const send = Object.fromEntries(
      Object.entries(def.sends).map(([k, spec]) => [k, (i: unknown) => runtime.sendRequest(this, spec, i)]),
    );
    return {
      service: def.service,
      instance: `${def.service}-0`,
      messageId: "m-1",
      correlationId: "c-1",
      deadline: Date.now() + 1000,
      signal: new AbortController().signal,
      log: silent,
      emit,
      send,
      ...(def.mode === "leader" ? { fencingToken: 7n, isLeader: true } : {}),
    };
  }

  async request(spec: RequestSpec, payload: unknown, options: { timeoutMs?: number }): Promise<unknown> {
    const json = wire(payload);
    this.sent.push({ subject: spec.subject, payload: json, timeoutMs: options.timeoutMs });
    if (this.rawReplies.has(spec.subject)) return this.rawReplies.get(spec.subject);
    for (const def of this.services) {
      for (const h of Object.values(def.handlers)) {
        if (h.spec.subject !== spec.subject) continue;
        try {
          return wire(await h.handle(json, this.context(def)));
        } catch (error) {
          throw runtime.fromWireError(wire(runtime.toWireError(error)) as runtime.WireError);
        }
      }
    }
    throw new runtime.NoRespondersError(spec.subject);
  }

  async publish(spec: EventSpec, event: unknown): Promise<void> {
    const json = wire(event);
    this.published.push({ subject: spec.subject, payload: json });
    for (const s of this.subscribers.get(spec.subject) ?? []) await s(json);
    for (const def of this.services) {
      for (const h of Object.values(def.events))
        if (h.spec.subject === spec.subject) await h.handle(json, this.context(def));
    }
  }

  subscribe(spec: EventSpec, handler: (payload: unknown, info: runtime.EventInfo) => unknown): Subscription {
    const list = this.subscribers.get(spec.subject) ?? [];
    const deliver = (payload: unknown) =>
      handler(payload, { subject: spec.subject, messageId: "e-1", correlationId: "c-1" });
    list.push(deliver);
    this.subscribers.set(spec.subject, list);
    return {
      subject: spec.subject,
      unsubscribe: async () => {
        list.splice(list.indexOf(deliver), 1);
      },
    };
  }

  async close(): Promise<void> {}
}

describe("emit typescript — behaviour of the generated shop code", () => {
  let shop: Loaded;
  beforeAll(() => {
    const ex = examples().find((e) => e.name === "shop");
    if (!ex) throw new Error("no shop example");
    shop = load(ex.files);
  });

  function setup() {
    const orders = new Map<string, { orderId: string; status: string }>();
    const order = shop.defineOrder({
      handlers: {
        async createOrder(input: { customerId: string; items: { qty: number }[] }, ctx: Loaded) {
          if (input.customerId === "banned")
            throw new runtime.DomainError("BANNED", "customer is banned", { details: { id: 1 } });
          if (input.customerId === "broken") return { orderId: 42, status: "paid" };
          const result = { orderId: `o${orders.size + 1}`, status: "pending" };
          orders.set(result.orderId, result);
          await ctx.emit.orderCreated({
            orderId: result.orderId,
            total: input.items.reduce((n, i) => n + i.qty, 0),
            items: input.items,
          });
          return result;
        },
        getOrder: (input: { orderId: string }) => orders.get(input.orderId) ?? null,
        acceptOrder: () => undefined,
        confirmOrder: () => undefined,
        cancelOrder: () => undefined,
        cancelStaleOrders: () => ({ cancelled: 0, more: false }),
      },
    });
    const inventory = shop.defineInventory({
      handlers: { reserveStock: () => undefined, releaseStock: () => undefined },
    });
    const bus = new RoutingBus([order, inventory]);
    return { bus, client: shop.connectShop(bus) };
  }

  it("behaviour — a call goes to the message's subject with its declared deadline and returns the typed reply", async () => {
    const { bus, client } = setup();
    const reply = await client.createOrder({ customerId: "c1", items: [{ sku: "a", qty: 2 }] });
    expect(reply).toEqual({ orderId: "o1", status: "pending" });
    expect(bus.sent).toEqual([
      {
        subject: "shop.cmd.CreateOrder",
        payload: { customerId: "c1", items: [{ sku: "a", qty: 2 }] },
        timeoutMs: 5000,
      },
    ]);
    expect(await client.getOrder({ orderId: "o1" }, { timeoutMs: 50 })).toEqual(reply);
    expect(bus.sent[1]).toMatchObject({ subject: "shop.query.GetOrder", timeoutMs: 50 });
    expect(await client.getOrder({ orderId: "nope" })).toBeNull();
    expect(await client.releaseStock({ orderId: "o1" })).toBeUndefined();
    expect(await client.reserveStock({ orderId: "o1", items: [{ sku: "a", qty: 1 }] })).toBeUndefined();
  });

  it("behaviour — an invalid input throws InvalidMessageError before anything is sent", async () => {
    const { bus, client } = setup();
    const error = await client
      .createOrder({ customerId: "c1", items: [{ sku: "a", qty: 1.5 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(runtime.InvalidMessageError);
    expect(error).toMatchObject({
      name: "InvalidMessageError",
      code: "INVALID_MESSAGE",
      messageName: "CreateOrder",
      part: "request",
    });
    expect((error as runtime.InvalidMessageError).issues.map((i) => i.path)).toEqual(["items.0.qty"]);
    await expect(client.getOrder({})).rejects.toBeInstanceOf(runtime.InvalidMessageError);
    expect(bus.sent).toEqual([]);
  });

  it("behaviour — a reply failing the result schema throws InvalidMessageError", async () => {
    const { bus, client } = setup();
    bus.rawReplies.set("shop.cmd.CreateOrder", { orderId: "o1", status: "lost" });
    const error = await client.createOrder({ customerId: "c1", items: [] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(runtime.InvalidMessageError);
    expect(error).toMatchObject({ part: "result", issues: [{ path: "status" }] });
    bus.rawReplies.set("shop.cmd.ReleaseStock", { unexpected: true });
    await expect(client.releaseStock({ orderId: "o1" })).rejects.toBeInstanceOf(runtime.InvalidMessageError);
  });

  it("behaviour — a handler's invalid reply and its DomainError reach the caller as the same typed errors", async () => {
    const { client } = setup();
    const broken = await client.createOrder({ customerId: "broken", items: [] }).catch((e: unknown) => e);
    expect(broken).toBeInstanceOf(runtime.InvalidMessageError);
    expect(broken).toMatchObject({ part: "result", issues: [{ path: "orderId" }] });
    const banned = await client.createOrder({ customerId: "banned", items: [] }).catch((e: unknown) => e);
    expect(banned).toBeInstanceOf(runtime.DomainError);
    expect(banned).toMatchObject({ code: "BANNED", message: "customer is banned", details: { id: 1 } });
    const none = await client.chargePayment({ orderId: "o", amount: 1 }).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(runtime.NoRespondersError);
  });

  it("behaviour — an event a handler emits reaches typed client subscriptions", async () => {
    const { bus, client } = setup();
    const seen: unknown[] = [];
    const sub = client.on.orderCreated((event: unknown) => {
      seen.push(event);
    });
    await client.createOrder({ customerId: "c1", items: [{ sku: "a", qty: 3 }] });
    await sub.unsubscribe();
    await client.createOrder({ customerId: "c1", items: [] });
    expect(seen).toEqual([{ orderId: "o1", total: 3, items: [{ sku: "a", qty: 3 }] }]);
    expect(bus.published.map((p) => p.subject)).toEqual([
      "shop.event.OrderCreated",
      "shop.event.OrderCreated",
    ]);
  });

  it("behaviour — a definer refuses a missing handler at definition time", () => {
    expect(() => shop.defineOrder({ handlers: { createOrder: () => null } })).toThrow(
      /handlers\.getOrder must be a function/,
    );
  });

  it("behaviour — the saga lowering builds step inputs from the state and folds results", async () => {
    type State = { orderId: string; sagaId: string; amount: number; items: unknown[]; paymentId: string };
    const ids = (s: State) => ({ orderId: s.orderId, sagaId: s.sagaId });
    const coordinator: ServiceDefinition = shop.defineCoordinator({
      jobs: { sweepStaleOrders: () => undefined },
      sagas: {
        placeOrder: {
          start: (e: { orderId: string; total: number; items: unknown[] }, saga: { sagaId: string }) => ({
            orderId: e.orderId,
            sagaId: saga.sagaId,
            amount: e.total,
            items: e.items,
            paymentId: "",
          }),
          steps: {
            acceptOrder: { input: ids, compensate: ids },
            reserveStock: {
              input: (s: State) => ({ orderId: s.orderId, items: s.items }),
              compensate: (s: State) => ({ orderId: s.orderId }),
            },
            chargePayment: {
              input: (s: State) => ({ orderId: s.orderId, amount: s.amount }),
              fold: (s: State, paymentId: string) => ({ ...s, paymentId }),
              compensate: (s: State) => ({ orderId: s.paymentId }),
            },
            confirmOrder: { input: ids, compensate: ids },
          },
        },
      },
    });
    expect(coordinator).toMatchObject({ topology: "shop", service: "coordinator", mode: "leader" });
    const saga = coordinator.sagas.PlaceOrder;
    if (!saga) throw new Error("no saga");
    expect(saga.trigger.subject).toBe("shop.event.OrderCreated");
    expect(saga.steps.map((s) => [s.command.name, s.compensation?.name])).toEqual([
      ["AcceptOrder", "CancelOrder"],
      ["ReserveStock", "ReleaseStock"],
      ["ChargePayment", "RefundPayment"],
      ["ConfirmOrder", "CancelOrder"],
    ]);
    const items = [{ sku: "a", qty: 2 }];
    let state = saga.start({ orderId: "o1", total: 9, items }, { sagaId: "s1", correlationId: "c1" });
    expect(() => saga.start({ orderId: "o1", total: 9 }, { sagaId: "s1", correlationId: "c1" })).toThrow(
      runtime.InvalidMessageError,
    );
    const [accept, reserve, charge, confirm] = saga.steps;
    expect(accept?.input(state)).toEqual({ orderId: "o1", sagaId: "s1" });
    state = accept?.fold(state, undefined);
    expect(reserve?.input(state)).toEqual({ orderId: "o1", items });
    state = reserve?.fold(state, undefined);
    expect(charge?.input(state)).toEqual({ orderId: "o1", amount: 9 });
    state = charge?.fold(state, "pay-1");
    expect(charge?.compensate?.(state)).toEqual({ orderId: "pay-1" });
    expect(confirm?.compensate?.(state)).toEqual({ orderId: "o1", sagaId: "s1" });
    expect(Object.keys(coordinator.jobs)).toEqual(["sweepStaleOrders"]);
  });
});

describe("emit typescript — wire format of the generated code", () => {
  it("behaviour — recursive types parse, and a command-started saga replies from its first state", () => {
    const generated = load(edge().files);
    const node = generated.NodeSchema.parse({
      name: "root",
      children: [{ name: "leaf", children: [], parent: null, at: ["2024-01-01T00:00:00Z"] }],
    });
    expect(node.children[0].at[0]).toBeInstanceOf(Date);
    expect(node.children[0].parent).toBeUndefined();
    expect(generated.NodeSchema.safeParse({ name: "x", children: [{ name: 1, children: [] }] }).success).toBe(
      false,
    );

    const runner: ServiceDefinition = generated.defineRunner({
      sagas: {
        placement: {
          start: (input: { orderId: string }) => ({ orderId: input.orderId }),
          reply: (state: { orderId: string }) => `accepted ${state.orderId}`,
          steps: {
            reserve: { input: (s: unknown) => s, compensate: (s: unknown) => s },
            notify: { input: (s: unknown) => s },
            reserve3: { input: (s: unknown) => s, compensate: (s: unknown) => s },
          },
        },
        kicking: { start: () => ({}), steps: { notify: { input: () => ({ orderId: "o" }) } } },
      },
    });
    const info = { sagaId: "s1", correlationId: "c1" };
    const placement = runner.sagas.Placement;
    const kicking = runner.sagas.Kicking;
    if (!placement || !kicking) throw new Error("missing sagas");
    expect(placement.trigger.subject).toBe("edge.cmd.Place");
    expect(placement.steps.map((x) => [x.command.name, x.compensation?.name])).toEqual([
      ["Reserve", "Release"],
      ["Notify", undefined],
      ["Reserve", "Release"],
    ]);
    const state = placement.start({ orderId: "o7" }, info);
    expect(placement.reply?.(state, info)).toBe("accepted o7");
    expect(kicking.reply?.(kicking.start({ reason: "r" }, info), info)).toBeNull();
    expect(runner.handlers).toEqual({});
    expect(generated.definePinger().sends.getTree.subject).toBe("edge.query.GetTree");
  });

  it("behaviour — timestamps travel as ISO strings and arrive as Date; optional fields accept absent and null", async () => {
    const ex = examples();
    const pipeline = load(ex.find((e) => e.name === "pipeline")?.files ?? []);
    const scheduler = load(ex.find((e) => e.name === "scheduler")?.files ?? []);
    const received: unknown[] = [];
    const ingest = pipeline.defineIngest({
      handlers: {
        ingest(input: { lines: { at: Date; tags?: string[] }[] }) {
          received.push(...input.lines);
          return input.lines.length;
        },
      },
    });
    const stats = pipeline.defineStats({
      handlers: {
        countSince: (input: { since: Date }) =>
          input.since instanceof Date ? input.since.getUTCFullYear() : -1,
      },
      events: { batchStored: () => undefined },
    });
    const bus = new RoutingBus([ingest, stats]);
    const client = pipeline.connectPipeline(bus);
    const at = new Date("2024-05-06T07:08:09.010Z");
    const count = await client.ingest({
      source: "s",
      lines: [
        { at, level: "info", text: "a" },
        { at, level: "warn", text: "b", tags: ["x"] },
      ],
    });
    expect(count).toBe(2);
    expect(bus.sent[0]?.payload).toEqual({
      source: "s",
      lines: [
        { at: "2024-05-06T07:08:09.010Z", level: "info", text: "a" },
        { at: "2024-05-06T07:08:09.010Z", level: "warn", text: "b", tags: ["x"] },
      ],
    });
    expect(received).toEqual([
      { at, level: "info", text: "a" },
      { at, level: "warn", text: "b", tags: ["x"] },
    ]);
    expect((received[0] as { at: unknown }).at).toBeInstanceOf(Date);
    expect(await client.countSince({ level: "error", since: new Date("2023-01-01T00:00:00Z") })).toBe(2023);

    // null from another producer means absent; an offset timestamp is accepted; a bad one is not.
    const line = pipeline.LineSchema.parse({
      at: "2024-05-06T09:08:09+02:00",
      level: "debug",
      text: "t",
      tags: null,
    });
    expect(line).toEqual({
      at: new Date("2024-05-06T07:08:09Z"),
      level: "debug",
      text: "t",
      tags: undefined,
    });
    expect(pipeline.LineSchema.safeParse({ at: "yesterday", level: "debug", text: "t" }).success).toBe(false);
    expect(pipeline.LineSchema.safeParse({ at: new Date("nope"), level: "debug", text: "t" }).success).toBe(
      false,
    );
    await expect(
      client.ingest({ source: "s", lines: [{ at: "soon", level: "info", text: "a" }] }),
    ).rejects.toBeInstanceOf(runtime.InvalidMessageError);

    // A timestamp in a reply arrives as a Date.
    const billing = scheduler.defineBilling({
      handlers: {
        issueInvoice: (input: { customerId: string; amount: number }) => ({
          id: "i1",
          customerId: input.customerId,
          amount: input.amount,
          due: new Date("2025-01-31T00:00:00Z"),
        }),
        voidInvoice: () => undefined,
        openInvoices: () => [],
      },
      jobs: { closeBillingDay: () => undefined, retryFailedCharges: () => undefined },
      sagas: {
        collect: {
          start: (e: { invoice: { id: string } }) => ({ id: e.invoice.id }),
          steps: {
            collectPayment: {
              input: () => ({ invoiceId: "i", amount: 1 }),
              compensate: () => ({ paymentId: "p" }),
            },
            sendReminder: { input: () => ({ invoiceId: "i" }) },
          },
        },
      },
    });
    const invoice = await scheduler
      .connectScheduler(new RoutingBus([billing]))
      .issueInvoice({ customerId: "c", amount: 5 });
    expect(invoice.due).toBeInstanceOf(Date);
    expect(invoice.due.toISOString()).toBe("2025-01-31T00:00:00.000Z");
  });
});
