import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type CatgaFile,
  type Declaration,
  type Diagnostic,
  type MessageDecl,
  parse,
  type SagaDecl,
  type ServiceDecl,
} from "../../dsl/index.js";

function ok(source: string): CatgaFile {
  const { value, diagnostics } = parse(source, "t.catga");
  expect(diagnostics).toEqual([]);
  return value;
}

function errors(source: string): Diagnostic[] {
  return parse(source, "t.catga").diagnostics;
}

function only<K extends Declaration["kind"]>(file: CatgaFile, kind: K): Extract<Declaration, { kind: K }> {
  const found = file.declarations.filter((d) => d.kind === kind);
  expect(found).toHaveLength(1);
  return found[0] as Extract<Declaration, { kind: K }>;
}

describe("parser", () => {
  it("parser — reads the shop example without diagnostics", () => {
    const file = ok(readFileSync("examples/shop/shop.catga", "utf8"));
    const kinds = file.declarations.map((d) => d.kind);
    expect(kinds.filter((k) => k === "Service")).toHaveLength(5);
    expect(kinds).toContain("Saga");
  });

  it("parser — topology and infra blocks with settings", () => {
    const file = ok('topology shop\nnats { nodes 3 }\nredis { mode sentinel  nodes 3, master "m1" }');
    expect(only(file, "Topology").name.text).toBe("shop");
    const infra = file.declarations.filter((d) => d.kind === "Infra");
    expect(infra.map((d) => d.target)).toEqual(["nats", "redis"]);
    const redis = infra[1]!;
    expect(redis.settings.map((s) => [s.key.text, s.value.kind])).toEqual([
      ["mode", "Identifier"],
      ["nodes", "Int"],
      ["master", "String"],
    ]);
  });

  it("parser — enums, types, list and optional type references", () => {
    const file = ok("enum S { a, b\n c }\ntype T { xs: Item[][]?, y: int\n z: S? }");
    expect(only(file, "Enum").members.map((m) => m.name.text)).toEqual(["a", "b", "c"]);
    const fields = only(file, "Type").fields;
    expect(fields.map((f) => [f.name.text, f.type.name.text, f.type.listDepth, f.type.optional])).toEqual([
      ["xs", "Item", 2, true],
      ["y", "int", 0, false],
      ["z", "S", 0, true],
    ]);
  });

  it("parser — commands, queries and events with results and idempotent", () => {
    const file = ok(
      "idempotent command C { a: string } -> R\nquery Q {} -> R?\nevent E { at: timestamp }\ncommand D { x: int }",
    );
    const messages = file.declarations as MessageDecl[];
    expect(
      messages.map((m) => [m.messageKind, m.name.text, Boolean(m.idempotent), m.result?.name.text]),
    ).toEqual([
      ["command", "C", true, "R"],
      ["query", "Q", false, "R"],
      ["event", "E", false, undefined],
      ["command", "D", false, undefined],
    ]);
    expect(messages[1]!.result?.optional).toBe(true);
  });

  it("parser — durable messages with stream settings after the body", () => {
    const file = ok(
      "durable event A { x: int } retain 30d deliveries 10\ndurable event B {}\nidempotent durable command C {} -> R dedup 5m",
    );
    const messages = file.declarations as MessageDecl[];
    expect(
      messages.map((m) => [
        m.name.text,
        Boolean(m.durable),
        Boolean(m.idempotent),
        m.settings.map((s) => `${s.key.text}=${s.value.text}`),
      ]),
    ).toEqual([
      ["A", true, false, ["retain=30d", "deliveries=10"]],
      ["B", true, false, []],
      ["C", true, true, ["dedup=5m"]],
    ]);
    expect(messages[0]!.durable).toMatchObject({ start: { line: 1, column: 1 }, end: { column: 8 } });
    expect(messages[0]!.settings[0]!.value).toMatchObject({ kind: "Duration", ms: 30 * 86_400_000 });
    expect(messages[0]!.span.end).toMatchObject({ line: 1, column: 52 });
  });

  it("parser — days are a duration unit; settings may hold durations past 24h, intervals may not", () => {
    const file = ok("nats { retain 400d }\nevent E {} retain 2d");
    expect((file.declarations[0] as { settings: { value: { ms: number } }[] }).settings[0]!.value.ms).toBe(
      400 * 86_400_000,
    );
    const found = errors("service s { every 2d job\n timeout 25h }\nevent E {} retain 3651d");
    expect(found.map((d) => [d.code, d.span.start.line])).toEqual([
      ["C1007", 1],
      ["C1007", 2],
      ["C1007", 3],
    ]);
    expect(found[0]!.hint).toBe("durations go up to 24h here");
    expect(found[2]!.hint).toBe("durations go up to 3650d here");
  });

  it("parser — a broken stream setting is one error and the next declaration survives", () => {
    const { value, diagnostics } = parse("durable event A {} retain\nservice s { on A }", "t.catga");
    // Reported where the value is missing: right before the next declaration.
    expect(diagnostics.map((d) => [d.code, d.span.start.line])).toEqual([["C1004", 2]]);
    expect(value.declarations.map((d) => d.kind)).toEqual(["Message", "Service"]);
  });

  it("parser — keywords may be used as names", () => {
    const file = ok("type T { type: string, on: int, service: bool }\nenum E { event, step }");
    expect(only(file, "Type").fields.map((f) => f.name.text)).toEqual(["type", "on", "service"]);
    expect(only(file, "Enum").members.map((m) => m.name.text)).toEqual(["event", "step"]);
  });

  it("parser — every service item", () => {
    const file = ok(`service coordinator {
  mode leader
  replicas 3
  lease 10s
  handles A, B queue "workers"
  on E1, E2 broadcast
  on E3
  emits E4
  sends C1, C2
  runs S
  every 250ms sweep
  timeout 2m
  env { LOG_LEVEL "debug", REGION "eu" }
  resources { cpu "500m" memory "256Mi" }
  image "ghcr.io/acme/c:1"
  port 8080
  handler "./handlers/c.ts"
}`);
    const service = only(file, "Service") as ServiceDecl;
    expect(service.items.map((i) => i.kind)).toEqual([
      "ServiceSetting",
      "ServiceSetting",
      "ServiceSetting",
      "Handles",
      "On",
      "On",
      "Emits",
      "Sends",
      "Runs",
      "Every",
      "Timeout",
      "Env",
      "Resources",
      "ServiceSetting",
      "ServiceSetting",
      "ServiceSetting",
    ]);
    const [mode, replicas, lease, handles, on, on2, , , , every, timeout, env] = service.items;
    expect(mode?.kind === "ServiceSetting" && mode.setting.value).toMatchObject({
      kind: "Identifier",
      text: "leader",
    });
    expect(replicas?.kind === "ServiceSetting" && replicas.setting.value).toMatchObject({
      kind: "Int",
      value: 3,
    });
    expect(lease?.kind === "ServiceSetting" && lease.setting.value).toMatchObject({
      kind: "Duration",
      ms: 10_000,
    });
    expect(handles?.kind === "Handles" && handles.queue?.value).toBe("workers");
    expect(on?.kind === "On" && on.broadcast !== undefined).toBe(true);
    expect(on2?.kind === "On" && on2.broadcast === undefined).toBe(true);
    expect(every?.kind === "Every" && [every.interval.ms, every.job.text]).toEqual([250, "sweep"]);
    expect(timeout?.kind === "Timeout" && timeout.duration.ms).toBe(120_000);
    expect(env?.kind === "Env" && env.settings.map((s) => s.key.text)).toEqual(["LOG_LEVEL", "REGION"]);
  });

  it("parser — saga trigger, steps, compensations, irreversible steps and timeouts", () => {
    const saga = only(
      ok("saga P {\n on E\n step A compensate B timeout 5s\n step C irreversible\n step D\n}"),
      "Saga",
    ) as SagaDecl;
    expect(saga.items.map((i) => i.kind)).toEqual(["SagaOn", "SagaStep", "SagaStep", "SagaStep"]);
    const [, a, c, d] = saga.items;
    expect(a?.kind === "SagaStep" && [a.command.text, a.compensate?.text, a.timeout?.ms]).toEqual([
      "A",
      "B",
      5000,
    ]);
    expect(c?.kind === "SagaStep" && c.irreversible !== undefined).toBe(true);
    expect(d?.kind === "SagaStep" && d.compensate === undefined && d.irreversible === undefined).toBe(true);
  });

  it("parser — durations in every unit", () => {
    const settings = only(ok("nats { a 250ms, b 10s, c 5m, d 1h }"), "Infra").settings;
    expect(settings.map((s) => (s.value.kind === "Duration" ? s.value.ms : -1))).toEqual([
      250, 10_000, 300_000, 3_600_000,
    ]);
  });

  it("parser — doc comments attach to declarations, fields, members and items", () => {
    const file = ok(
      "/// The topology.\n/// Second line.\ntopology t\n// plain\ntype T {\n  /// a field\n  a: int\n}\nservice s {\n  /// replicas doc\n  replicas 2\n}",
    );
    expect(only(file, "Topology").doc?.text).toBe("The topology.\nSecond line.");
    expect(only(file, "Type").doc).toBeUndefined();
    expect(only(file, "Type").fields[0]!.doc?.text).toBe("a field");
    expect((only(file, "Service") as ServiceDecl).items[0]!.doc?.text).toBe("replicas doc");
    expect(file.comments.map((c) => c.style)).toEqual(["doc", "doc", "line", "doc", "doc"]);
  });

  it("parser — a doc comment separated by another comment does not attach", () => {
    const file = ok("/// stray\n// plain\ntopology t");
    expect(only(file, "Topology").doc).toBeUndefined();
  });

  it("parser — spans are 1-based lines and columns with exclusive ends", () => {
    const file = ok("topology t\n\nservice   order {\n  replicas 5\n}");
    const service = only(file, "Service") as ServiceDecl;
    expect(service.name.span.start).toEqual({ line: 3, column: 11, offset: 22 });
    expect(service.name.span.end).toEqual({ line: 3, column: 16, offset: 27 });
    expect(service.span.start.line).toBe(3);
    expect(service.span.end).toEqual({ line: 5, column: 2, offset: 44 });
    expect(service.span.file).toBe("t.catga");
  });

  it("parser — block comments and string escapes", () => {
    const file = ok('/* a\n b */ service s { image "a\\"b\\\\c\\u0041" }');
    const item = (only(file, "Service") as ServiceDecl).items[0]!;
    expect(item.kind === "ServiceSetting" && item.setting.value).toMatchObject({
      kind: "String",
      value: 'a"b\\cA',
    });
    expect(file.comments[0]!.style).toBe("block");
  });
});

describe("parser recovery", () => {
  it("parser — reports several syntax errors in one run and keeps the good declarations", () => {
    const { value, diagnostics } = parse(
      "topology t\ntype A { x: }\ncommand B { y: int } -> \nevent C { z: string }\nservice s { handles }\n",
      "t.catga",
    );
    expect(diagnostics.map((d) => [d.code, d.span.start.line])).toEqual([
      ["C1004", 2],
      ["C1004", 4],
      ["C1004", 5],
    ]);
    expect(value.declarations.map((d) => d.kind)).toEqual([
      "Topology",
      "Type",
      "Message",
      "Message",
      "Service",
    ]);
  });

  it("parser — a missing '}' costs one error and the next declaration survives", () => {
    const { value, diagnostics } = parse("command A { x: string\nservice s {\n  replicas 2\n}\n", "t.catga");
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ code: "C1004", span: { start: { line: 1, column: 22 } } });
    expect(diagnostics[0]!.hint).toContain("line 1");
    expect(value.declarations.map((d) => d.kind)).toEqual(["Message", "Service"]);
  });

  it("parser — a misspelt declaration keyword gets a did-you-mean hint", () => {
    const [d] = errors("servce order { replicas 5 }");
    expect(d).toMatchObject({ code: "C1004", hint: "did you mean 'service'?" });
    expect(d!.span.start).toMatchObject({ line: 1, column: 1 });
  });

  it("parser — a misspelt item keyword gets a did-you-mean hint", () => {
    const [d] = errors("saga S { step A compensat B }");
    expect(d).toMatchObject({ code: "C1004", hint: "did you mean 'compensate'?" });
    expect(d!.span.start.column).toBe(17);
  });

  it("parser — a duration without unit suggests units", () => {
    const [d] = errors("service s { every 10 sweep }");
    expect(d?.code).toBe("C1004");
    expect(d?.hint).toContain("'10s'");
  });

  it("parser — lexical errors: unexpected characters, unterminated string and comment", () => {
    const found = errors('service s {\n  image "abc\n  @@\n}\n/* open').map((d) => [
      d.code,
      d.span.start.line,
    ]);
    expect(found).toEqual(
      expect.arrayContaining([
        ["C1002", 2],
        ["C1001", 3],
        ["C1003", 5],
      ]),
    );
    // The unterminated string is still read as the image's value: no cascade of syntax errors.
    expect(found.filter(([code]) => code === "C1004")).toEqual([]);
  });

  it("parser — invalid literals: bad units, fractions, overflow, bad escapes", () => {
    const found = errors(
      'service s { lease 10x\n timeout 1.5s\n replicas 99999999999999999999\n image "a\\qb"\n port 3651d }',
    );
    expect(found.map((d) => [d.code, d.span.start.line])).toEqual([
      ["C1007", 1],
      ["C1007", 2],
      ["C1007", 3],
      ["C1007", 4],
      ["C1007", 5],
    ]);
    expect(found[0]!.hint).toContain("ms, s, m, h or d");
  });

  it("parser — invalid UTF-8 is C1005 at the offending byte", () => {
    const bytes = Buffer.concat([
      Buffer.from("topology t\nservice "),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(" {}"),
    ]);
    const [d] = parse(bytes, "t.catga").diagnostics;
    expect(d).toMatchObject({ code: "C1005", span: { start: { line: 2, column: 9 } } });
  });

  it("parser — input past the size limit is refused with C1006", async () => {
    const { MAX_SOURCE_BYTES } = await import("../../dsl/index.js");
    const big = new Uint8Array(MAX_SOURCE_BYTES + 1).fill(0x20);
    expect(parse(big, "big.catga").diagnostics.map((d) => d.code)).toEqual(["C1006"]);
  });

  it("parser — garbage stops at 100 errors plus one C1008", () => {
    const diagnostics = errors(
      "} ".repeat(10).concat("\ntype T { a: int }\n", "service s { ] }\n".repeat(300)),
    );
    expect(diagnostics).toHaveLength(101);
    expect(diagnostics[100]!.code).toBe("C1008");
  });

  it("parser — spans of every diagnostic point inside the file", () => {
    const source = "topology\nservice { on }\nsaga { step }\ncommand X {} ->";
    for (const d of errors(source)) {
      expect(d.span.start.offset).toBeGreaterThanOrEqual(0);
      expect(d.span.end.offset).toBeLessThanOrEqual(source.length);
      expect(d.span.start.offset).toBeLessThanOrEqual(d.span.end.offset);
      expect(d.span.start.line).toBeGreaterThanOrEqual(1);
      expect(d.span.start.column).toBeGreaterThanOrEqual(1);
    }
  });
});
