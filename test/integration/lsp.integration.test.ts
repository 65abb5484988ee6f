/**
 * `catgac lsp` driven over stdio by a real JSON-RPC client (vscode-languageserver-protocol), as an
 * editor drives it: every feature on the shop example, incremental edits, a broken file, rename,
 * completion at a dozen places, and a seeded fuzz of random edits that must never make the server
 * fail. Needs `npm run build` (the server runs from dist/, as installed).
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CodeActionRequest,
  CompletionRequest,
  DefinitionRequest,
  DocumentFormattingRequest,
  DocumentHighlightRequest,
  DocumentRangeFormattingRequest,
  DocumentSymbolRequest,
  FoldingRangeRequest,
  HoverRequest,
  type MarkupContent,
  PrepareRenameRequest,
  ReferencesRequest,
  RenameRequest,
  SemanticTokensRequest,
  type TextEdit,
} from "vscode-languageserver-protocol/node.js";
import { TextDocument } from "vscode-languageserver-textdocument";
import { checkSource } from "../../compiler/check/index.js";
import { format } from "../../dsl/index.js";
import { LspClient } from "../helpers/lsp-client.js";

const SHOP = readFileSync(new URL("../../examples/shop/shop.catga", import.meta.url), "utf8");

let client: LspClient;
let capabilities: Record<string, unknown>;
let uriCount = 0;
const freshUri = () => `file:///work/test-${++uriCount}.catga`;

beforeAll(async () => {
  ({ client, capabilities } = await LspClient.start());
});

afterAll(async () => {
  const code = await client.stop();
  expect(code).toBe(0);
  expect(client.log.join("\n")).not.toMatch(/internal error/);
});

/** The LSP position of the `nth` occurrence of `needle` in `text`, `delta` characters in. */
function pos(text: string, needle: string, delta = 0, nth = 0) {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`'${needle}' #${nth} not in text`);
  }
  return TextDocument.create("x", "catga", 0, text).positionAt(at + delta);
}

const doc = (uri: string) => ({ textDocument: { uri } });

/** What `catgac check` reports for `text`, in the shape the server must publish. */
function expected(text: string, uri: string) {
  return checkSource(text, uri).diagnostics.map((d) => ({
    code: d.code,
    message: d.hint === undefined ? d.message : `${d.message}\nhint: ${d.hint}`,
    range: {
      start: { line: d.span.start.line - 1, character: d.span.start.column - 1 },
      end: { line: d.span.end.line - 1, character: d.span.end.column - 1 },
    },
  }));
}

const published = (diagnostics: { code?: unknown; message: string; range: unknown }[]) =>
  diagnostics.map((d) => ({ code: d.code, message: d.message, range: d.range }));

describe("catgac lsp", () => {
  it("lsp — announces its features", () => {
    for (const key of [
      "hoverProvider",
      "definitionProvider",
      "referencesProvider",
      "documentHighlightProvider",
      "renameProvider",
      "completionProvider",
      "documentSymbolProvider",
      "foldingRangeProvider",
      "semanticTokensProvider",
      "documentFormattingProvider",
      "documentRangeFormattingProvider",
      "codeActionProvider",
    ])
      expect(capabilities[key], key).toBeTruthy();
  });

  it("lsp — the shop example has no diagnostics, like catgac check", async () => {
    const uri = freshUri();
    const first = await client.open(uri, SHOP);
    expect(first.diagnostics).toEqual([]);
    expect(expected(SHOP, uri)).toEqual([]);
  });

  it("lsp — a broken file gets catgac check's codes, messages, ranges and hints, and related locations", async () => {
    const uri = freshUri();
    const broken = SHOP.replace("on OrderCreated broadcast", "on OrderCreatd broadcast")
      .replace("type OrderItem {", "type OrderResult {")
      .replace("replicas 2\n  handles ChargePayment", "replicas 2\n  handles ChargePayment\n  handles {");
    const result = await client.open(uri, broken);
    const want = expected(broken, uri);
    expect(want.length).toBeGreaterThan(3);
    expect(published(result.diagnostics)).toEqual(want);
    const duplicate = result.diagnostics.find((d) => d.code === "C2002");
    expect(duplicate?.relatedInformation?.[0]?.location.uri).toBe(uri);
    expect(result.diagnostics.map((d) => d.code)).toContain("C1004");
    // Other features still work on a file with syntax errors.
    const hover = await client.connection.sendRequest(HoverRequest.type, {
      ...doc(uri),
      position: pos(broken, "CreateOrder", 2, 1),
    });
    expect((hover?.contents as MarkupContent | undefined)?.value).toContain("command CreateOrder");
  });

  it("lsp — incremental edits: a typo appears as it is typed and goes when undone", async () => {
    const uri = freshUri();
    await client.open(uri, SHOP);
    const at = pos(SHOP, "emits OrderCreated", "emits OrderCreate".length);
    let version = await client.change(uri, [{ range: { start: at, end: at }, text: "x" }]);
    let result = await client.diagnosticsFor(uri, version);
    expect(result.version).toBe(version);
    expect(result.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ["C2001", "unknown event 'OrderCreatexd'\nhint: did you mean 'OrderCreated'?"],
    ]);
    // The quick fix of the did-you-mean.
    const actions = await client.connection.sendRequest(CodeActionRequest.type, {
      ...doc(uri),
      range: result.diagnostics[0]!.range,
      context: { diagnostics: result.diagnostics },
    });
    const fix = actions?.find((a) => "title" in a && a.title === "Change to 'OrderCreated'");
    expect(fix && "edit" in fix ? fix.edit?.changes?.[uri] : undefined).toEqual([
      { range: result.diagnostics[0]!.range, newText: "OrderCreated" },
    ]);
    version = await client.change(uri, [
      { range: { start: at, end: { line: at.line, character: at.character + 1 } }, text: "" },
    ]);
    result = await client.diagnosticsFor(uri, version);
    expect(result.diagnostics).toEqual([]);
  });

  it("lsp — many edits sent at once are analysed at their latest version", async () => {
    const uri = freshUri();
    await client.open(uri, SHOP);
    const at = pos(SHOP, "replicas 5", "replicas ".length);
    let version = 0;
    for (const digit of ["0", "1", "2", "0"]) {
      version = await client.change(uri, [
        { range: { start: at, end: { line: at.line, character: at.character + 1 } }, text: digit },
      ]);
    }
    const result = await client.diagnosticsFor(uri, version);
    expect(result.version).toBe(version);
    expect(result.diagnostics.map((d) => d.code)).toEqual(["C3004"]);
  });

  it("lsp — hover: kind, fields, result, doc, handlers, senders, saga steps; services; settings", async () => {
    const uri = freshUri();
    await client.open(uri, SHOP);
    const hover = async (needle: string, delta = 1, nth = 0) => {
      const h = await client.connection.sendRequest(HoverRequest.type, {
        ...doc(uri),
        position: pos(SHOP, needle, delta, nth),
      });
      return (h?.contents as MarkupContent | undefined)?.value ?? "";
    };
    const create = await hover("CreateOrder", 1, 1);
    expect(create).toContain(
      "idempotent command CreateOrder {\n  customerId: string\n  items: OrderItem[]\n} -> OrderResult",
    );
    expect(create).toContain("Creates an order and announces it with OrderCreated.");
    expect(create).toContain("Handled by `order` (queue group `order-service-workers`).");
    const stale = await hover("CancelStaleOrders", 1, 1);
    expect(stale).toContain("Sent by `coordinator`.");
    const charge = await hover("step ChargePayment", 6);
    expect(charge).toContain("Step of saga `PlaceOrder`.");
    expect(charge).toContain("Result: `string`.");
    const event = await hover("on OrderCreated broadcast", 4);
    expect(event).toContain("durable event OrderCreated");
    expect(event).toContain("Emitted by `order`.");
    expect(event).toContain("Consumed by `notifier` (broadcast).");
    expect(event).toContain("Starts saga `PlaceOrder`.");
    const coordinator = await hover("service coordinator", 9);
    expect(coordinator).toContain("- mode: `leader`");
    expect(coordinator).toContain("- replicas: 3");
    expect(coordinator).toContain("- lease: 10s");
    expect(coordinator).toContain("- runs: `PlaceOrder`");
    const order = await hover("service order", 9);
    expect(order).toContain("- queue groups: `order-service-workers`");
    expect(await hover("mode p2p", 1)).toContain("How the replicas serve");
    expect(await hover("sentinel", 2)).toContain("sentinels promote a replica");
    expect(await hover("lease 10s", 1)).toContain("Leader mode only");
    expect(await hover("OrderItem[]", 2)).toContain("type OrderItem");
    expect(await hover("  handles CreateOrder", 4)).toContain("Commands and queries this service answers");
  });

  it("lsp — definition, references and highlights", async () => {
    const uri = freshUri();
    await client.open(uri, SHOP);
    const from = pos(SHOP, "on OrderCreated broadcast", 5);
    const definition = await client.connection.sendRequest(DefinitionRequest.type, {
      ...doc(uri),
      position: from,
    });
    const decl = pos(SHOP, "event OrderCreated", 6);
    expect(definition).toEqual({
      uri,
      range: { start: decl, end: { line: decl.line, character: decl.character + "OrderCreated".length } },
    });
    const references = await client.connection.sendRequest(ReferencesRequest.type, {
      ...doc(uri),
      position: from,
      context: { includeDeclaration: true },
    });
    // The declaration, `emits`, `on … broadcast` and the saga's trigger; not the doc comment's mention.
    expect(references?.map((r) => r.range.start.line)).toEqual(
      [decl, pos(SHOP, "emits OrderCreated"), from, pos(SHOP, "  on OrderCreated\n  step")].map(
        (p) => p.line,
      ),
    );
    const without = await client.connection.sendRequest(ReferencesRequest.type, {
      ...doc(uri),
      position: from,
      context: { includeDeclaration: false },
    });
    expect(without).toHaveLength(3);
    const highlights = await client.connection.sendRequest(DocumentHighlightRequest.type, {
      ...doc(uri),
      position: decl,
    });
    expect(highlights?.map((h) => h.kind)).toEqual([3, 2, 2, 2]);
  });

  it("lsp — rename changes every use and refuses clashing or invalid names with the reason", async () => {
    const uri = freshUri();
    await client.open(uri, SHOP);
    const at = pos(SHOP, "step ReserveStock", 6);
    const prepared = await client.connection.sendRequest(PrepareRenameRequest.type, {
      ...doc(uri),
      position: at,
    });
    expect(prepared).toMatchObject({ placeholder: "ReserveStock" });
    const edit = await client.connection.sendRequest(RenameRequest.type, {
      ...doc(uri),
      position: at,
      newName: "HoldStock",
    });
    const edits = edit?.changes?.[uri] ?? [];
    expect(edits).toHaveLength(3); // declaration, handles, saga step (the doc comment's mention is prose)
    const renamed = TextDocument.applyEdits(TextDocument.create(uri, "catga", 1, SHOP), edits);
    expect(renamed.match(/\bReserveStock\b/g)).toHaveLength(1); // "Undoes ReserveStock: …" in a doc comment
    expect(checkSource(renamed, uri).diagnostics).toEqual([]);
    // A service rename.
    const service = await client.connection.sendRequest(RenameRequest.type, {
      ...doc(uri),
      position: pos(SHOP, "service payment", 9),
      newName: "billing",
    });
    expect(service?.changes?.[uri]).toHaveLength(1);
    const refused = async (newName: string, needle = "step ReserveStock", delta = 6) => {
      try {
        await client.connection.sendRequest(RenameRequest.type, {
          ...doc(uri),
          position: pos(SHOP, needle, delta),
          newName,
        });
      } catch (error) {
        return (error as Error).message;
      }
      return "not refused";
    };
    expect(await refused("GetOrder")).toBe("'GetOrder' is already declared as a query at line 23");
    expect(await refused("1stock")).toMatch(/^'1stock' is not a valid name/);
    expect(await refused("int")).toBe("'int' is a builtin type");
    expect(await refused("service")).toBe("'service' is a keyword of the language");
    expect(await refused("inventory", "service payment", 9)).toMatch(
      /^'inventory' is already declared as a service/,
    );
    expect(await refused("admin", "service payment", 9)).toMatch(/would cause C3023: 'admin' is reserved/);
    expect(await refused("Other", "int,", 0)).toBe("'int' is a builtin type");
  });

  it("lsp — completion knows where it is", async () => {
    const uri = freshUri();
    const text = [
      "topology t",
      "/// A line of an order.",
      "type Line { sku: string }",
      "enum Color { red }",
      "/// Makes an order.",
      "command Make { lines: Line[] }",
      "query Find { id: string } -> Line",
      "durable event Made { id: string } retain 7d",
      "saga Flow {",
      "  on Made",
      "  step Make compensate Make",
      "}",
      "service s {",
      "  mode leader",
      "  replicas 2",
      "  handles Make, Find",
      "  on Made",
      "  runs Flow",
      "}",
      "redis { mode sentinel }",
      "",
    ].join("\n");
    await client.open(uri, text);
    const labels = async (line: number, character: number, insert?: string) => {
      if (insert !== undefined) {
        const version = await client.change(uri, [
          { range: { start: { line, character: 0 }, end: { line, character: 0 } }, text: insert },
        ]);
        await client.diagnosticsFor(uri, version);
      }
      const result = await client.connection.sendRequest(CompletionRequest.type, {
        ...doc(uri),
        position: { line, character },
      });
      const items = Array.isArray(result) ? result : (result?.items ?? []);
      if (insert !== undefined) {
        const version = await client.change(uri, [
          {
            range: {
              start: { line, character: 0 },
              end: insert.endsWith("\n")
                ? { line: line + 1, character: 0 }
                : { line, character: insert.length },
            },
            text: "",
          },
        ]);
        await client.diagnosticsFor(uri, version);
      }
      return items.map((i) => i.label).sort();
    };
    // After `handles`: commands and queries only, with the doc comment as documentation.
    expect(await labels(15, 10)).toEqual(["Find", "Make"]);
    expect(await labels(15, 16)).toEqual(["Find", "Make"]);
    const items = await client.connection.sendRequest(CompletionRequest.type, {
      ...doc(uri),
      position: { line: 15, character: 10 },
    });
    const make = (Array.isArray(items) ? items : (items?.items ?? [])).find((i) => i.label === "Make");
    expect((make?.documentation as MarkupContent | undefined)?.value).toContain("Makes an order.");
    // After `on` in a service: events.
    expect(await labels(16, 5)).toEqual(["Made"]);
    expect(await labels(17, 7)).toEqual(["Flow"]);
    // A setting's values.
    expect(await labels(13, 7)).toEqual(["leader", "p2p"]);
    expect(await labels(19, 13)).toEqual(["cluster", "sentinel", "standalone"]);
    // Setting keys and item keywords at the start of a service line.
    const keys = await labels(14, 2, "  \n");
    expect(keys).toEqual(
      expect.arrayContaining(["mode", "replicas", "lease", "handles", "on", "emits", "resources"]),
    );
    // Field types: builtins, types and enums.
    expect(await labels(2, 22)).toEqual(["Color", "Line", "bool", "float", "int", "string", "timestamp"]);
    expect(await labels(6, 29)).toEqual(["Color", "Line", "bool", "float", "int", "string", "timestamp"]);
    // Saga steps: commands; the trigger: events and commands; after the step's command: its words.
    expect(await labels(10, 7)).toEqual(["Make"]);
    expect(await labels(10, 23)).toEqual(["Make"]);
    expect(await labels(9, 5)).toEqual(["Made", "Make"]);
    expect(await labels(10, 12, "")).toEqual(["compensate", "irreversible", "timeout"]);
    // A durable event's stream settings, after its body.
    expect(await labels(7, 34)).toEqual(["dedup", "deliveries", "replicas", "retain"]);
    // Top level: declaration keywords.
    expect(await labels(20, 0)).toEqual(
      expect.arrayContaining(["service", "saga", "command", "event", "type"]),
    );
    // Inside a comment: nothing.
    expect(await labels(1, 8)).toEqual([]);
  });

  it("lsp — outline, folding ranges and semantic tokens", async () => {
    const uri = freshUri();
    await client.open(uri, SHOP);
    const symbols = await client.connection.sendRequest(DocumentSymbolRequest.type, doc(uri));
    const names = (symbols ?? []).map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "shop",
        "nats",
        "redis",
        "OrderStatus",
        "CreateOrder",
        "order",
        "coordinator",
        "PlaceOrder",
      ]),
    );
    const order = (symbols ?? []).find((s) => s.name === "order");
    expect(order && "children" in order ? order.children?.map((c) => c.name) : []).toEqual([
      "uses",
      "mode",
      "replicas",
      "handles",
      "emits",
    ]);
    const folding = await client.connection.sendRequest(FoldingRangeRequest.type, doc(uri));
    const saga = pos(SHOP, "saga PlaceOrder");
    expect(folding).toEqual(expect.arrayContaining([expect.objectContaining({ startLine: saga.line })]));
    const tokens = await client.connection.sendRequest(SemanticTokensRequest.type, doc(uri));
    expect(tokens?.data.length ?? 0).toBeGreaterThan(100);
    expect((tokens?.data.length ?? 0) % 5).toBe(0);
  });

  it("lsp — formatting: the formatter's output for the whole document and for a range", async () => {
    const uri = freshUri();
    const messy = SHOP.replace(
      "service notifier {\n  replicas 3",
      "service   notifier {\n      replicas 3",
    ).replace("type OrderItem { sku: string, qty: int }", "type   OrderItem {sku:string,qty:int}");
    await client.open(uri, messy);
    const whole = await client.connection.sendRequest(DocumentFormattingRequest.type, {
      ...doc(uri),
      options: { tabSize: 2, insertSpaces: true },
    });
    const apply = (edits: TextEdit[] | null) =>
      TextDocument.applyEdits(TextDocument.create(uri, "catga", 1, messy), edits ?? []);
    expect(apply(whole)).toBe(format(messy, uri).value);
    const start = pos(messy, "service   notifier");
    const range = await client.connection.sendRequest(DocumentRangeFormattingRequest.type, {
      ...doc(uri),
      range: { start, end: { line: start.line + 1, character: 0 } },
      options: { tabSize: 2, insertSpaces: true },
    });
    const partly = apply(range);
    expect(partly).toContain("service notifier {\n  replicas 3");
    expect(partly).toContain("type   OrderItem {sku:string,qty:int}");
  });

  it("lsp — quick fixes: did you mean, quotes, modifiers, a missing handler", async () => {
    const uri = freshUri();
    const text = [
      "topology t",
      "command Make {}",
      "idempotent event Made {}",
      "service maker {",
      '  mode "leader"',
      "  replicas 2",
      "  emits Made",
      "  on Made",
      "  replicaz 2",
      "}",
      "",
    ].join("\n");
    const { diagnostics } = await client.open(uri, text);
    const titles = [];
    for (const d of diagnostics) {
      const actions = await client.connection.sendRequest(CodeActionRequest.type, {
        ...doc(uri),
        range: d.range,
        context: { diagnostics: [d] },
      });
      for (const a of actions ?? []) if ("kind" in a && a.kind === "quickfix") titles.push(a.title);
    }
    expect(new Set(titles)).toEqual(
      new Set([
        "Change to 'replicas'",
        "Write leader without quotes",
        "Remove 'idempotent'",
        "Add service 'make' that handles 'Make'",
      ]),
    );
  });

  it("lsp — fuzz: random edits never make the server fail, and it always ends where catgac check does", async () => {
    const uri = freshUri();
    await client.open(uri, SHOP);
    let mirror = TextDocument.create(uri, "catga", 1, SHOP);
    // A seeded generator (mulberry32): the same edits on every run, so a failure reproduces.
    let seed = 0x5eed17;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pieces = [
      "{",
      "}",
      "service x {",
      "handles ",
      "on ",
      ",",
      "->",
      "\n",
      "/*",
      "*/",
      '"',
      "///",
      "step ",
      "Order",
      "é",
      "\u0000",
      " ",
      "10s",
      "mode leader",
      "[]",
      "?",
    ];
    let version = 1;
    for (let round = 0; round < 200; round++) {
      const length = mirror.getText().length;
      const start = Math.floor(random() * (length + 1));
      const end = Math.min(length, start + Math.floor(random() * 12));
      const text = random() < 0.3 ? "" : pieces[Math.floor(random() * pieces.length)]!;
      const range = { start: mirror.positionAt(start), end: mirror.positionAt(end) };
      version = await client.change(uri, [{ range, text }]);
      mirror = TextDocument.create(
        uri,
        "catga",
        version,
        TextDocument.applyEdits(mirror, [{ range, newText: text }]),
      );
      if (round % 10 === 0) {
        const position = mirror.positionAt(Math.floor(random() * mirror.getText().length));
        const requests = [
          client.connection.sendRequest(HoverRequest.type, { ...doc(uri), position }),
          client.connection.sendRequest(CompletionRequest.type, { ...doc(uri), position }),
          client.connection.sendRequest(DefinitionRequest.type, { ...doc(uri), position }),
          client.connection.sendRequest(ReferencesRequest.type, {
            ...doc(uri),
            position,
            context: { includeDeclaration: true },
          }),
          client.connection.sendRequest(DocumentSymbolRequest.type, doc(uri)),
          client.connection.sendRequest(FoldingRangeRequest.type, doc(uri)),
          client.connection.sendRequest(SemanticTokensRequest.type, doc(uri)),
          client.connection.sendRequest(DocumentFormattingRequest.type, {
            ...doc(uri),
            options: { tabSize: 2, insertSpaces: true },
          }),
          client.connection.sendRequest(CodeActionRequest.type, {
            ...doc(uri),
            range: { start: position, end: position },
            context: { diagnostics: [] },
          }),
        ];
        await Promise.all(requests);
      }
    }
    const last = await client.diagnosticsFor(uri, version);
    expect(last.version).toBe(version);
    expect(published(last.diagnostics)).toEqual(expected(mirror.getText(), uri));
    expect(client.log.join("\n")).not.toMatch(/internal error/);
  }, 120_000);
});
