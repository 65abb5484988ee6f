import { describe, expect, it } from "vitest";
import { generateTopology } from "../../bench/compiler/generate.js";
import { check, checkSource } from "../../compiler/check/index.js";
import type { TopologyModel } from "../../compiler/model.js";
import { type CatgaFile, type Diagnostic, type DiagnosticCode, parse } from "../../dsl/index.js";

const FILE = "t.catga";

/** Every finding of parse + check, sorted. */
function findings(source: string): Diagnostic[] {
  return checkSource(source, FILE).diagnostics;
}

/** `CODE@line` per finding: compact and order-preserving. */
function codes(source: string): string[] {
  return findings(source).map((d) => `${d.code}@${d.span.start.line}`);
}

/** The findings with one code. */
function only(source: string, code: DiagnosticCode): Diagnostic[] {
  return findings(source).filter((d) => d.code === code);
}

/** The model of a source that must check without any finding. */
function model(source: string): TopologyModel {
  const result = checkSource(source, FILE);
  expect(result.diagnostics.map((d) => `${d.code}@${d.span.start.line}: ${d.message}`)).toEqual([]);
  expect(result.value).toBeDefined();
  return result.value!;
}

const SHOP = `/// The shop.
topology shop
nats { nodes 3 }
redis { mode sentinel  nodes 3 }
enum OrderStatus { pending, paid }
type OrderItem { sku: string  qty: int }
type OrderResult { orderId: string  status: OrderStatus }
/// Creates an order.
idempotent command CreateOrder { customerId: string, items: OrderItem[] } -> OrderResult
query GetOrder { orderId: string } -> OrderResult?
event OrderCreated { orderId: string  total: float }
command ReserveStock { orderId: string } -> bool
command ReleaseStock { orderId: string }
command Ship { orderId: string }
service order {
  replicas 5
  handles CreateOrder, GetOrder queue "order-service-workers"
  emits OrderCreated
}
service inventory { replicas 2  handles ReserveStock, ReleaseStock, Ship }
service notifier { replicas 3  on OrderCreated broadcast }
service coordinator {
  mode leader
  replicas 3
  runs PlaceOrder
  every 30s sweepStaleOrders
  timeout 5s
  env { ZED "z"  ALPHA "a" }
  resources { cpu "500m"  memory "256Mi" }
  image "ghcr.io/acme/coordinator:1"
  port 8080
  handler "./services/coordinator.ts"
}
saga PlaceOrder {
  on OrderCreated
  step ReserveStock compensate ReleaseStock timeout 5s
  step Ship irreversible
}
`;

describe("check — model", () => {
  it("check — builds the resolved model with defaults applied", () => {
    const m = model(SHOP);
    expect(m.name).toBe("shop");
    expect(m.doc).toBe("The shop.");
    expect(m.source).toBe(FILE);
    expect(m.nats).toEqual({ nodes: 3, tls: true });
    expect(m.redis).toEqual({ mode: "sentinel", nodes: 3, tls: true });
    const order = m.services.find((s) => s.name === "order")!;
    expect(order).toMatchObject({ mode: "p2p", replicas: 5, env: {}, emits: ["OrderCreated"] });
    expect(order.leaseMs).toBeUndefined();
    expect(order.handles).toEqual([
      { message: "CreateOrder", queue: "order-service-workers" },
      { message: "GetOrder", queue: "order-service-workers" },
    ]);
    const inventory = m.services.find((s) => s.name === "inventory")!;
    expect(inventory.handles[0]).toEqual({ message: "ReserveStock", queue: "inventory" });
    expect(m.services.find((s) => s.name === "notifier")!.subscriptions).toEqual([
      { event: "OrderCreated", delivery: "broadcast" },
    ]);
  });

  it("check — leader services get the default lease, settings and sorted env", () => {
    const coordinator = model(SHOP).services.find((s) => s.name === "coordinator")!;
    expect(coordinator).toEqual({
      name: "coordinator",
      mode: "leader",
      replicas: 3,
      leaseMs: 10_000,
      timeoutMs: 5_000,
      image: "ghcr.io/acme/coordinator:1",
      port: 8080,
      handler: "./services/coordinator.ts",
      env: { ALPHA: "a", ZED: "z" },
      resources: { cpu: "500m", memory: "256Mi" },
      handles: [],
      subscriptions: [],
      emits: [],
      sends: [],
      runs: ["PlaceOrder"],
      schedules: [{ job: "sweepStaleOrders", intervalMs: 30_000 }],
      usesRedis: false,
    });
    expect(Object.keys(coordinator.env)).toEqual(["ALPHA", "ZED"]);
  });

  it("check — 'uses redis' sets usesRedis on that service only; a misspelt target is C3032, a repeat C3033", () => {
    const text = [
      "topology t",
      "command A { id: string }",
      "command B { id: string }",
      "service one { handles A  uses redis }",
      "service two { handles B }",
    ].join("\n");
    const { value, diagnostics } = checkSource(text, "t.catga");
    expect(diagnostics).toEqual([]);
    expect(value!.services.map((s) => [s.name, s.usesRedis])).toEqual([
      ["one", true],
      ["two", false],
    ]);
    const bad = checkSource(text.replace("uses redis", "uses redis, reds  uses redis"), "t.catga");
    expect(bad.diagnostics.map((d) => [d.code, d.hint])).toEqual([
      ["C3032", "did you mean 'redis'?"],
      ["C3033", "remove the repeated 'uses'"],
    ]);
  });

  it("check — resolves field types, results, docs and handlers of messages", () => {
    const m = model(SHOP);
    const create = m.messages.find((x) => x.name === "CreateOrder")!;
    expect(create).toEqual({
      name: "CreateOrder",
      doc: "Creates an order.",
      kind: "command",
      idempotent: true,
      fields: [
        { name: "customerId", type: { kind: "builtin", name: "string", listDepth: 0, optional: false } },
        { name: "items", type: { kind: "type", name: "OrderItem", listDepth: 1, optional: false } },
      ],
      result: { kind: "type", name: "OrderResult", listDepth: 0, optional: false },
      handledBy: "order",
    });
    expect(m.messages.find((x) => x.name === "GetOrder")!.result).toEqual({
      kind: "type",
      name: "OrderResult",
      listDepth: 0,
      optional: true,
    });
    expect(m.messages.find((x) => x.name === "OrderCreated")!.handledBy).toBeUndefined();
    expect(m.types.find((t) => t.name === "OrderResult")!.fields[1]!.type).toEqual({
      kind: "enum",
      name: "OrderStatus",
      listDepth: 0,
      optional: false,
    });
    expect(m.enums).toEqual([{ name: "OrderStatus", members: [{ name: "pending" }, { name: "paid" }] }]);
  });

  it("check — sagas carry trigger, steps and runner", () => {
    expect(model(SHOP).sagas).toEqual([
      {
        name: "PlaceOrder",
        trigger: { kind: "event", name: "OrderCreated" },
        steps: [
          { command: "ReserveStock", compensate: "ReleaseStock", irreversible: false, timeoutMs: 5_000 },
          { command: "Ship", irreversible: true },
        ],
        runBy: "coordinator",
      },
    ]);
  });

  it("check — the model is plain JSON and identical across runs", () => {
    const a = model(SHOP);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    expect(JSON.stringify(model(SHOP))).toBe(JSON.stringify(a));
  });

  it("check — defaults: p2p, one replica, standalone redis, one nats node", () => {
    const m = model("topology t\ncommand Ping {} -> string\nservice api { handles Ping }");
    expect(m.nats).toEqual({ nodes: 1, tls: true });
    expect(m.redis).toEqual({ mode: "standalone", nodes: 1, tls: true });
    expect(m.services[0]).toMatchObject({ mode: "p2p", replicas: 1, env: {} });
  });

  it("check — redis defaults its node count to the mode's minimum", () => {
    const base = "topology t\ncommand Ping {} -> string\nservice api { handles Ping }\n";
    expect(model(`${base}redis { mode cluster }`).redis).toEqual({ mode: "cluster", nodes: 6, tls: true });
    expect(model(`${base}redis { mode sentinel  master "main" }`).redis).toEqual({
      mode: "sentinel",
      nodes: 3,
      master: "main",
      tls: true,
    });
    expect(model(`${base}nats { url "nats://a:4222,nats://b:4222" }`).nats).toEqual({
      nodes: 1,
      url: "nats://a:4222,nats://b:4222",
      tls: true,
    });
  });

  it("check — a saga started by a command makes its runner that command's handler", () => {
    const m = model(`topology t
event Done {}
command Start {}
command Work {}
service worker { handles Work  emits Done  on Done }
service boss { mode leader  replicas 2  runs Flow }
saga Flow { on Start  step Work irreversible }
`);
    expect(m.services.find((s) => s.name === "boss")!.handles).toEqual([
      { message: "Start", queue: "boss", saga: "Flow" },
    ]);
    expect(m.messages.find((x) => x.name === "Start")!.handledBy).toBe("boss");
    expect(m.sagas[0]!.trigger).toEqual({ kind: "command", name: "Start" });
  });

  it("check — a runner that also lists the saga's command in handles is still one handler", () => {
    const m = model(`topology t
command Start {}
command Work {}
service worker { handles Work }
service boss { mode leader  replicas 2  handles Start  runs Flow }
saga Flow { on Start  step Work irreversible }
`);
    expect(m.services.find((s) => s.name === "boss")!.handles).toEqual([
      { message: "Start", queue: "boss", saga: "Flow" },
    ]);
  });

  it("check — no model when there are errors, a model despite warnings", () => {
    expect(checkSource("topology t\nservice api { replicas 0 handles Nope }", FILE).value).toBeUndefined();
    const warned = checkSource(
      "topology t\ntype Unused { a: int }\ncommand Ping {}\nservice api { handles Ping }",
      FILE,
    );
    expect(warned.diagnostics.map((d) => d.code)).toEqual(["C3018"]);
    expect(warned.value?.types.map((t) => t.name)).toEqual(["Unused"]);
  });

  it("check — the generated benchmark topology checks clean", () => {
    const m = model(generateTopology(40));
    expect(m.services).toHaveLength(40);
    expect(m.sagas.length).toBeGreaterThan(0);
  });
});

describe("check — names", () => {
  it("check — unknown names suggest a name of the right kind first", () => {
    const [d] = only(
      "topology t\ncommand CreateOrder {}\nevent CreateOrders {}\nservice api { handles CreateOrdr }",
      "C2001",
    );
    expect(d!.message).toBe("unknown message 'CreateOrdr'");
    expect(d!.hint).toBe("did you mean 'CreateOrder'?");
    expect(d!.span.start).toMatchObject({ line: 4, column: 23 });
  });

  it("check — unknown names fall back to suggestions of any kind", () => {
    const [d] = only("topology t\nevent OrderCreated {}\nservice api { handles OrderCreatd }", "C2001");
    expect(d!.hint).toBe("did you mean 'OrderCreated'?");
  });

  it("check — unknown field types suggest builtins", () => {
    const [d] = only("topology t\ntype T { a: Strng }", "C2001");
    expect(d!.message).toBe("unknown type 'Strng'");
    expect(d!.hint).toBe("did you mean 'string'?");
  });

  it("check — builtin type names of other languages suggest the builtin (integer -> int)", () => {
    const ds = only(
      "topology t\ntype T { a: integer  b: Boolean  c: number  d: DateTime  e: str }\ncommand C {} -> long",
      "C2001",
    );
    expect(ds.map((d) => [d.message, d.hint])).toEqual([
      ["unknown type 'integer'", "did you mean 'int'?"],
      ["unknown type 'Boolean'", "did you mean 'bool'?"],
      ["unknown type 'number'", "did you mean 'float'?"],
      ["unknown type 'DateTime'", "did you mean 'timestamp'?"],
      ["unknown type 'str'", "did you mean 'string'?"],
      ["unknown type 'long'", "did you mean 'int'?"],
    ]);
    // A declared name that differs only in case wins over the alias.
    const [declared] = only("topology t\ntype Date { at: timestamp }\ntype T { a: date }", "C2001");
    expect(declared!.hint).toBe("did you mean 'Date'?");
  });

  it("check — unknown names far from every candidate get no hint", () => {
    const [d] = only("topology t\ncommand Ping {}\nservice api { handles Completely }", "C2001");
    expect(d!.hint).toBeUndefined();
  });

  it("check — a typo is reported once, not also as an unused or unhandled name", () => {
    expect(
      codes(`topology t
event OrderCreated {}
command Ping {}
service api { handles Pnig  emits OrderCreatd }
service audit { on OrderCreated }
`),
    ).toEqual(["C2001@4", "C2001@4"]);
  });

  it("check — duplicate names are reported at every site with the others related", () => {
    const ds = only("topology t\ntype A {}\nevent A {}\nsaga A { on A step A irreversible }", "C2002");
    expect(ds.map((d) => d.span.start.line)).toEqual([2, 3, 4]);
    for (const d of ds) {
      expect(d.related).toHaveLength(2);
      expect(d.related!.map((r) => r.span.start.line)).not.toContain(d.span.start.line);
    }
  });

  it("check — services have their own namespace", () => {
    const source = "topology t\ncommand api {}\nservice api { handles api }";
    expect(only(source, "C2002")).toEqual([]);
    expect(
      only("topology t\ncommand P {}\nservice a { handles P }\nservice a { handles P }", "C2002"),
    ).toHaveLength(2);
  });

  it("check — builtin type names cannot be declared", () => {
    expect(only("topology t\ntype string { a: int }", "C2002")).toHaveLength(1);
  });

  it("check — wrong kinds explain what the place takes and what to write", () => {
    const ds = only(
      `topology t
event E {}
command C {}
query Q {} -> int
type T {}
service api { handles E  on C  emits C  sends E  runs C }
saga S { on Q  step Q compensate E }
type U { e: E }
`,
      "C2003",
    );
    expect(ds.map((d) => d.message)).toEqual([
      "'E' is an event, but 'handles' takes commands and queries",
      "'C' is a command, but 'on' takes events",
      "'C' is a command, but 'emits' takes events",
      "'E' is an event, but 'sends' takes commands and queries",
      "'C' is a command, but 'runs' takes sagas",
      "'Q' is a query, but a saga starts on an event or a command",
      "'Q' is a query, but saga steps are commands",
      "'E' is an event, but a compensation is a command",
      "'E' is an event, but a field's type must be a builtin type, a type or an enum",
    ]);
    expect(ds[0]!.hint).toBe("to consume an event, write 'on E'");
    expect(ds[1]!.hint).toBe("to answer a command, write 'handles C'");
  });

  it("check — a service name where a message belongs is a wrong kind", () => {
    const [d] = only("topology t\ncommand P {}\nservice api { handles P }\nservice b { sends api }", "C2003");
    expect(d!.message).toBe("'api' is a service, but 'sends' takes commands and queries");
  });

  it("check — duplicate members: fields, enum members, settings, env keys, list names, jobs", () => {
    expect(
      codes(`topology t
enum E { a, b, a }
type T { x: int  x: E }
command P { t: T }
service s {
  mode leader
  replicas 2
  replicas 3
  timeout 1s
  timeout 2s
  env { A "1"  A "2" }
  handles P, P
  every 1m job
  every 2m job
}
`),
    ).toEqual(["C2004@2", "C2004@3", "C2004@8", "C2004@10", "C2004@11", "C2004@12", "C2004@14"]);
  });

  it("check — missing and multiple topologies", () => {
    const [missing] = only("command P {}\nservice s { handles P }", "C2005");
    expect(missing!.span.start).toEqual({ line: 1, column: 1, offset: 0 });
    expect(missing!.span.end).toEqual(missing!.span.start);
    expect(only("", "C2005")).toHaveLength(1);
    expect(only("topology a\ntopology b\ntopology c", "C2006").map((d) => d.related?.length)).toEqual([
      2, 2, 2,
    ]);
  });
});

describe("check — settings", () => {
  const base = "topology t\ncommand P {}\n";

  it("check — unknown settings suggest keys of their block, and keywords in services", () => {
    const ds = only(
      `${base}nats { nodez 3 }\nredis { mod sentinel }\nservice s { handle P  resources { memroy "1Gi" } }`,
      "C2007",
    );
    expect(ds.map((d) => d.hint)).toEqual([
      "did you mean 'nodes'?",
      "did you mean 'mode'?",
      "did you mean 'handles'?",
      "did you mean 'memory'?",
    ]);
    const [far] = only(`${base}nats { colour "red" }`, "C2007");
    expect(far!.hint).toBe("valid settings: nodes, url, tls, retain, deliveries, replicas, dedup");
    const [service] = only(`${base}service s { colour "red"  handles P }`, "C2007");
    expect(service!.hint).toBe(
      "valid settings: mode, replicas, lease, image, port, handler, timeout, env, resources",
    );
  });

  it("check — invalid values: wrong kind, unknown word, range", () => {
    const ds = only(
      `${base}nats { nodes "3" }
redis { mode sentinl }
service s {
  mode "leader"
  replicas 2
  lease 10
  port 0
  image 42
  handles P
}
`,
      "C2008",
    );
    expect(ds.map((d) => [d.span.start.line, d.message, d.hint])).toEqual([
      [3, "'nodes' takes a whole number, not a string", "remove the quotes: nodes 3"],
      [4, "unknown mode 'sentinl'", "did you mean 'sentinel'?"],
      [6, "'mode' takes a name, not a string", "remove the quotes: mode leader"],
      [8, "'lease' takes a duration, not a whole number", "add a unit: '10s', '10ms', '10m' or '10h'"],
      [9, "port 0 is outside 1 to 65535", "use a TCP port such as 8080"],
      [10, "'image' takes a string, not a whole number", 'quote it: image "42"'],
    ]);
  });

  it("check — redis node counts per mode, and master only with sentinels", () => {
    const tail = "service s { handles P }\n";
    expect(codes(`${base}redis { mode sentinel  nodes 2 }\n${tail}`)).toEqual(["C2008@3"]);
    expect(codes(`${base}redis { mode cluster  nodes 5 }\n${tail}`)).toEqual(["C2008@3"]);
    expect(codes(`${base}redis { nodes 3 }\n${tail}`)).toEqual(["C2008@3"]);
    expect(codes(`${base}redis { mode cluster  master "m" }\n${tail}`)).toEqual(["C2008@3"]);
    expect(codes(`${base}redis { url "http://x" }\n${tail}`)).toEqual(["C2008@3"]);
    expect(codes(`${base}redis { mode cluster  nodes 6  url "redis://r:6379" }\n${tail}`)).toEqual([]);
  });

  it("check — resource quantities and queue names are validated", () => {
    expect(
      codes(`${base}service s {
  resources { cpu "0.5"  memory "512MiB" }
  handles P queue "has space"
}
`),
    ).toEqual(["C2008@4", "C2008@5"]);
  });

  it("check — an invalid literal is reported once, by the parser", () => {
    expect(codes(`${base}service s { replicas 99999999999999999999  handles P }`)).toEqual(["C1007@3"]);
    expect(codes(`${base}service s { mode leader  replicas 2  lease 10x  handles P }`)).toEqual(["C1007@3"]);
  });
});

describe("check — topology rules", () => {
  it("check — an unhandled command names a likely service and where it is sent from", () => {
    const [d] = only(
      `topology t
command ChargePayment {}
event Paid {}
service payment { on Paid }
service api { sends ChargePayment  emits Paid }
saga S { on Paid  step ChargePayment irreversible }
service boss { mode leader  replicas 2  runs S }
`,
      "C3001",
    );
    expect(d!.message).toBe("command 'ChargePayment' is not handled by any service");
    expect(d!.hint).toBe("add 'handles ChargePayment' to service 'payment'");
    expect(d!.related!.map((r) => r.span.start.line)).toEqual([5, 6]);
  });

  it("check — a command handled twice is reported at every handler", () => {
    const ds = only(
      `topology t
command P {}
command Q {}
service a { handles P }
service b { handles P }
service c { mode leader  replicas 2  runs S  handles Q }
saga S { on P  step Q irreversible }
`,
      "C3002",
    );
    expect(ds.map((d) => d.span.start.line)).toEqual([4, 5, 6]);
    expect(ds[0]!.message).toBe("command 'P' is handled by more than one service: 'a', 'b' and 'c'");
  });

  it("check — jobs need leader mode, replicas at least 1, a leader wants a standby", () => {
    const base = "topology t\ncommand P {}\n";
    expect(codes(`${base}service s { handles P  every 1m j }`)).toEqual(["C3003@3"]);
    expect(codes(`${base}service s { replicas 0  handles P }`)).toEqual(["C3004@3"]);
    expect(codes(`${base}service s { mode leader  handles P }`)).toEqual(["C3005@3"]);
    expect(codes(`${base}service s {\n  mode leader\n  replicas 1\n  handles P\n}`)).toEqual(["C3005@5"]);
    // An invalid replica count is one finding, not also "no standby".
    expect(codes(`${base}service s { mode leader  replicas 0  handles P }`)).toEqual(["C3004@3"]);
  });

  it("check — lease: leader mode only, between 1s and 5m", () => {
    const base = "topology t\ncommand P {}\n";
    expect(codes(`${base}service s { replicas 2  lease 10s  handles P }`)).toEqual(["C3006@3"]);
    expect(codes(`${base}service s { mode leader  replicas 2  lease 999ms  handles P }`)).toEqual([
      "C3007@3",
    ]);
    expect(codes(`${base}service s { mode leader  replicas 2  lease 1s  handles P }`)).toEqual([]);
    expect(codes(`${base}service s { mode leader  replicas 2  lease 5m  handles P }`)).toEqual([]);
    expect(codes(`${base}service s { mode leader  replicas 2  lease 301s  handles P }`)).toEqual(["C3007@3"]);
  });

  it("check — durations: timeout within (0, 1h], every at least 100ms, step timeout not 0", () => {
    const base = "topology t\ncommand P {}\n";
    const leader = "mode leader  replicas 2";
    expect(codes(`${base}service s { timeout 0ms  handles P }`)).toEqual(["C3008@3"]);
    expect(codes(`${base}service s { timeout 61m  handles P }`)).toEqual(["C3008@3"]);
    expect(codes(`${base}service s { timeout 1h  handles P }`)).toEqual([]);
    expect(codes(`${base}service s { ${leader}  handles P  every 99ms j }`)).toEqual(["C3008@3"]);
    expect(codes(`${base}service s { ${leader}  handles P  every 100ms j }`)).toEqual([]);
    expect(
      codes(
        `${base}event E {}\nservice s { ${leader}  handles P  emits E  runs S }\nsaga S { on E  step P irreversible timeout 0s }`,
      ),
    ).toEqual(["C3008@5"]);
  });

  it("check — sagas: compensation, runner, trigger and steps", () => {
    const base = "topology t\ncommand P {}\nevent E {}\nservice w { handles P  emits E }\n";
    const boss = "service boss { mode leader  replicas 2  runs S }\n";
    const [c3009] = only(`${base}${boss}saga S { on E  step P }`, "C3009");
    expect(c3009!.hint).toContain("compensate");
    expect(c3009!.hint).toContain("irreversible");
    expect(codes(`${base}saga S { on E  step P irreversible }`)).toEqual(["C3010@5"]);
    expect(
      codes(
        `${base}${boss}service boss2 { mode leader  replicas 2  runs S }\nsaga S { on E step P irreversible }`,
      ),
    ).toEqual(["C3011@5", "C3011@6"]);
    expect(codes(`${base}service boss { replicas 2  runs S }\nsaga S { on E  step P irreversible }`)).toEqual(
      ["C3012@5"],
    );
    expect(codes(`${base}${boss}saga S { step P irreversible }`)).toEqual(["C3017@3", "C3013@6"]);
    expect(codes(`${base}${boss}saga S {\n  on E\n  on P\n  step P irreversible\n}`)).toEqual([
      "C3013@7",
      "C3013@8",
    ]);
    expect(codes(`${base}${boss}saga S { on E }`)).toEqual(["C3014@6"]);
  });

  it("check — message shapes: query results, event results, idempotent events", () => {
    const tail = "service s { handles Q  on E  emits E }";
    expect(codes(`topology t\nquery Q {}\nevent E {}\n${tail}`)).toEqual(["C3015@2"]);
    expect(codes(`topology t\nquery Q {} -> int\nevent E {} -> int\n${tail}`)).toEqual(["C3015@3"]);
    expect(codes(`topology t\nquery Q {} -> int\nidempotent event E {}\n${tail}`)).toEqual(["C3016@3"]);
  });

  it("check — usage warnings: events consumed and emitted, types used, services busy", () => {
    expect(codes("topology t\nevent E {}\ncommand P {}\nservice s { handles P }")).toEqual([
      "C3017@2",
      "C3019@2",
    ]);
    expect(codes("topology t\ntype T {}\nenum N { a }\ncommand P {}\nservice s { handles P }")).toEqual([
      "C3018@2",
      "C3018@3",
    ]);
    // A type used only by itself (through an optional field) is still unused.
    expect(codes("topology t\ntype T { next: T? }\ncommand P {}\nservice s { handles P }")).toEqual([
      "C3018@2",
    ]);
    expect(codes("topology t\ncommand P {}\nservice s { handles P }\nservice idle { replicas 2 }")).toEqual([
      "C3021@4",
    ]);
  });

  it("check — queue and broadcast warn in leader mode", () => {
    const ds = only(
      'topology t\nevent E {}\ncommand P {}\nservice s { mode leader  replicas 2  handles P queue "q"  on E broadcast  emits E }',
      "C3020",
    );
    expect(ds).toHaveLength(2);
    expect(ds.every((d) => d.severity === "warning")).toBe(true);
  });

  it("check — types that contain themselves through required fields", () => {
    const ds = only(
      `topology t
type A { b: B }
type B { c: C }
type C { a: A }
type D { d: D }
type Fine { next: Fine?  children: Fine[]  a: A? }
command P { a: A, d: D, f: Fine }
service s { handles P }
`,
      "C3022",
    );
    expect(ds.map((d) => d.message)).toEqual([
      "type 'A' contains itself through required fields: A.b -> B.c -> C.a -> A",
      "type 'D' contains itself through required fields: D.d -> D",
    ]);
    expect(ds[0]!.related!.map((r) => r.span.start.line)).toEqual([2, 3, 4]);
  });

  it("check — severities come from the code table", () => {
    const ds = findings("topology t\nevent E {}\nservice s { mode leader }");
    expect(ds.map((d) => [d.code, d.severity])).toEqual([
      ["C3017", "warning"],
      ["C3019", "warning"],
      ["C3021", "warning"],
      ["C3005", "warning"],
    ]);
  });
});

describe("check — robustness", () => {
  it("check — skips names that recovery left empty, silently", () => {
    const result = checkSource("topology t\ncommand P {}\nservice s { handles P, }", FILE);
    expect(result.diagnostics.map((d) => d.code)).toEqual(["C1004"]);
  });

  it("check — never throws on a tree with missing children", () => {
    const span = {
      file: FILE,
      start: { line: 1, column: 1, offset: 0 },
      end: { line: 1, column: 1, offset: 0 },
    };
    // What an aggressive recovery could produce: children the types promise, missing.
    const broken = {
      kind: "File",
      span,
      comments: [],
      declarations: [
        { kind: "Topology", span },
        { kind: "Type", span, fields: [{ kind: "Field", span }, undefined] },
        { kind: "Message", messageKind: "query", span, name: { kind: "Identifier", text: "Q", span } },
        {
          kind: "Enum",
          span,
          name: { kind: "Identifier", text: "N", span },
          members: [{ kind: "EnumMember", span }],
        },
        {
          kind: "Service",
          span,
          name: { kind: "Identifier", text: "s", span },
          items: [
            { kind: "Handles", span },
            { kind: "Every", span },
            { kind: "Timeout", span },
            { kind: "Env", span },
            { kind: "ServiceSetting", span },
            undefined,
          ],
        },
        {
          kind: "Saga",
          span,
          name: { kind: "Identifier", text: "S", span },
          items: [
            { kind: "SagaStep", span },
            { kind: "SagaOn", span },
          ],
        },
        { kind: "Infra", target: "redis", span, keyword: span },
        undefined,
      ],
    } as unknown as CatgaFile;
    const result = check(broken);
    expect(result.value).toBeUndefined();
    expect(result.diagnostics.length).toBeGreaterThan(0);
  });

  it("check — every prefix of a topology checks without throwing", () => {
    for (let end = 0; end <= SHOP.length; end += 3) {
      const { value } = parse(SHOP.slice(0, end), FILE);
      expect(() => check(value)).not.toThrow();
    }
  });

  it("check — stays linear: 2,000 generated services check in seconds, not minutes", () => {
    const parsed = parse(generateTopology(2_000), FILE);
    expect(parsed.diagnostics).toEqual([]);
    const started = performance.now();
    const result = check(parsed.value);
    const elapsed = performance.now() - started;
    expect(result.diagnostics).toEqual([]);
    expect(result.value?.services).toHaveLength(2_000);
    // Generous for slow CI machines; a quadratic pass over 2,000 services takes minutes, not seconds.
    expect(elapsed).toBeLessThan(10_000);
  });
});

describe("check — durable events", () => {
  const tail = "service s { emits A  on A }\n";

  it("check — a durable event gets every default: 7d, 5 deliveries, 2m, replicas by node count", () => {
    const one = model(
      `topology t\ndurable event A { x: int }\nevent B {}\nservice s { emits A, B  on A, B }\n`,
    );
    expect(one.messages.map((m) => [m.name, m.durable])).toEqual([
      ["A", { retentionMs: 604_800_000, maxDeliver: 5, replicas: 1, dedupWindowMs: 120_000 }],
      ["B", undefined],
    ]);
    const three = model(`topology t\nnats { nodes 3 }\ndurable event A {}\n${tail}`);
    expect(three.messages[0]!.durable?.replicas).toBe(3);
    const five = model(`topology t\nnats { nodes 5 }\ndurable event A {}\n${tail}`);
    expect(five.messages[0]!.durable?.replicas).toBe(3);
  });

  it("check — per-event settings override the nats defaults, which override the built-in ones", () => {
    const m = model(`topology t
nats { nodes 3  retain 14d  deliveries 8  dedup 5m }
durable event A {} retain 30d replicas 1
durable event B {} deliveries 2 dedup 1m
service s { emits A, B  on A, B }
`);
    expect(Object.fromEntries(m.messages.map((x) => [x.name, x.durable]))).toEqual({
      A: { retentionMs: 30 * 86_400_000, maxDeliver: 8, replicas: 1, dedupWindowMs: 300_000 },
      B: { retentionMs: 14 * 86_400_000, maxDeliver: 2, replicas: 3, dedupWindowMs: 60_000 },
    });
  });

  it("check — durable on a command or query is C3025 at the modifier", () => {
    const ds = only(
      "topology t\ndurable command C {}\ndurable query Q {} -> int retain 1d\nservice s { handles C, Q }\n",
      "C3025",
    );
    expect(ds.map((d) => [d.span.start.line, d.span.start.column, d.span.end.column])).toEqual([
      [2, 1, 8],
      [3, 1, 8],
    ]);
    expect(ds[0]!.hint).toContain("idempotent");
    // The settings of a durable query are the same slip: no C3026 on top.
    expect(codes("topology t\ndurable query Q {} -> int retain 1d\nservice s { handles Q }\n")).toEqual([
      "C3025@2",
    ]);
  });

  it("check — stream settings on a message that is not durable are C3026 with the fix", () => {
    const [d, c] = only(
      `topology t\nevent A {} retain 1d deliveries 3\ncommand C {} dedup 1m\nservice s { emits A  on A  handles C }\n`,
      "C3026",
    );
    expect(d).toMatchObject({ span: { start: { line: 2, column: 12 }, end: { line: 2, column: 34 } } });
    expect(d!.hint).toBe("write 'durable event A' to store it, or remove the settings");
    expect(c!.hint).toBe("remove the settings");
  });

  it("check — unknown stream settings suggest the right key, JetStream's words included", () => {
    const ds = only(
      `topology t\nnats { nodes 3  retention 7d  streamReplicas 3 }\ndurable event A {} maxDeliver 3 dedupe 1m colour 1\n${tail}`,
      "C2007",
    );
    expect(ds.map((d) => [d.span.start.line, d.hint])).toEqual([
      [2, "did you mean 'retain'?"],
      [2, "did you mean 'replicas'?"],
      [3, "did you mean 'deliveries'?"],
      [3, "did you mean 'dedup'?"],
      [3, "valid settings: retain, deliveries, replicas, dedup"],
    ]);
  });

  it("check — retention and dedup take durations (C2008) within bounds (C3027, C3028)", () => {
    expect(codes(`topology t\ndurable event A {} retain 7 dedup "2m" deliveries 1d\n${tail}`)).toEqual([
      "C2008@2",
      "C2008@2",
      "C2008@2",
    ]);
    expect(codes(`topology t\ndurable event A {} retain 30s\n${tail}`)).toEqual(["C3027@2"]);
    expect(codes(`topology t\ndurable event A {} retain 366d\n${tail}`)).toEqual(["C3027@2"]);
    expect(codes(`topology t\ndurable event A {} retain 1m dedup 1m\n${tail}`)).toEqual([]);
    expect(codes(`topology t\ndurable event A {} dedup 500ms\n${tail}`)).toEqual(["C3028@2"]);
    // The default dedup window (2m) outlives a 1m retention: reported at the retention, the written one.
    const [d] = only(`topology t\ndurable event A {} retain 1m\n${tail}`, "C3028");
    expect(d).toMatchObject({ span: { start: { line: 2, column: 27 } } });
    expect(d!.hint).toContain("'dedup 1m' or less");
    // A nats default that conflicts with an event's own setting: at the event's line.
    expect(codes(`topology t\nnats { dedup 1h }\ndurable event A {} retain 30m\n${tail}`)).toEqual([
      "C3028@3",
    ]);
  });

  it("check — a conflict in the nats defaults is reported once, not per durable event", () => {
    expect(
      codes(
        `topology t\nnats { retain 1m  dedup 1h }\ndurable event A {}\ndurable event B {}\nservice s { emits A, B  on A, B }\n`,
      ),
    ).toEqual(["C3028@2"]);
  });

  it("check — deliveries below 1 is C3029", () => {
    expect(codes(`topology t\ndurable event A {} deliveries 0\n${tail}`)).toEqual(["C3029@2"]);
    expect(codes(`topology t\nnats { deliveries 0 }\ndurable event A {}\n${tail}`)).toEqual(["C3029@2"]);
  });

  it("check — stream replicas within 1, the node count and JetStream's 5 (C3030)", () => {
    const [d] = only(`topology t\nnats { nodes 3 }\ndurable event A {} replicas 4\n${tail}`, "C3030");
    expect(d!.hint).toBe("write 'replicas 3' or less, or 'nodes 4' in the nats block");
    expect(codes(`topology t\nnats { nodes 7 }\ndurable event A {} replicas 6\n${tail}`)).toEqual([
      "C3030@3",
    ]);
    expect(codes(`topology t\ndurable event A {} replicas 0\n${tail}`)).toEqual(["C3030@2"]);
    expect(codes(`topology t\nnats { nodes 5 }\ndurable event A {} replicas 5\n${tail}`)).toEqual([]);
    // An existing cluster (url) has a size the topology does not know: only JetStream's limit holds.
    expect(
      codes(`topology t\nnats { url "nats://n:4222"  replicas 3 }\ndurable event A {}\n${tail}`),
    ).toEqual([]);
  });

  it("check — stream settings in nats with no durable event warn (C3031); a model is still built", () => {
    const result = checkSource(
      `topology t\nnats { nodes 3  retain 1d  dedup 1m }\nevent A {}\n${tail}`,
      FILE,
    );
    expect(result.diagnostics.map((d) => `${d.code}@${d.span.start.line}`)).toEqual(["C3031@2"]);
    expect(result.diagnostics[0]!.message).toContain("'retain', 'dedup'");
    expect(result.value?.messages[0]?.durable).toBeUndefined();
  });

  it("check — a durable event nobody consumes is C3017 with a hint about its stream", () => {
    const [d] = only(
      "topology t\ndurable event A {}\nservice s { emits A  every 1s job  mode leader replicas 2 }\n",
      "C3017",
    );
    expect(d!.hint).toContain("remove 'durable'");
  });
});
