import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { format } from "../../dsl/index.js";
import { tokenize } from "../../dsl/lexer.js";
import { BlockComment, KEYWORD_WORDS, LineComment } from "../../dsl/tokens.js";
import { tokenizeCatga } from "../helpers/textmate.js";

/**
 * The VS Code extension's language definition against the language itself: every keyword the lexer
 * defines must be painted as a keyword where the grammar expects it, and the extension manifest and
 * language configuration must point at real files and use the lexer's comment syntax.
 */

const EXTENSION = fileURLToPath(new URL("../../editors/vscode/", import.meta.url));
const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));
const readJson = (path: string) => JSON.parse(readFileSync(`${EXTENSION}${path}`, "utf8"));

/**
 * Snippets where each keyword is a keyword (its first whole-word occurrence in each is checked).
 * A keyword added to dsl/tokens.ts fails "covers every keyword" until it gets a sample here and a
 * rule in the grammar.
 */
const SAMPLES: Record<string, string[]> = {
  topology: ["topology a"],
  nats: ["nats { nodes 3 }"],
  redis: ["redis { mode sentinel }"],
  enum: ["enum E { a, b }"],
  type: ["type T { a: int }"],
  command: ["command C { a: int } -> string"],
  query: ["query Q {} -> int"],
  event: ["event E { a: int }"],
  service: ["service s { replicas 2 }"],
  saga: ["saga S { on E step C irreversible }"],
  idempotent: ["idempotent command C {}"],
  durable: ["durable event E {} retain 30d"],
  handles: ['service s { handles C, D queue "q" }'],
  queue: ['service s { handles C queue "q" }', 'service s {\n  handles C,\n    D queue "q"\n}'],
  on: ["service s { on E broadcast }", "saga S { on E step C irreversible }"],
  broadcast: ["service s { on E, F broadcast }"],
  emits: ["service s { emits E }"],
  sends: ["service s { sends C }"],
  runs: ["service s { runs S }"],
  uses: ["service s { uses redis }"],
  every: ["service s { mode leader every 1m sweep }"],
  env: ['service s { env { A "b" } }'],
  resources: ['service s { resources { cpu "1" } }'],
  step: ["saga S { on E step C compensate D timeout 5s }"],
  compensate: ["saga S { on E step C compensate D }"],
  irreversible: ["saga S { step C irreversible timeout 5s }"],
  timeout: ["service s { timeout 2s }", "saga S { step C compensate D timeout 5s }"],
};

describe("textmate grammar", () => {
  it("textmate grammar — the keyword samples cover every keyword of the lexer", () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...KEYWORD_WORDS].sort());
  });

  for (const word of KEYWORD_WORDS) {
    it(`textmate grammar — '${word}' gets a keyword scope`, async () => {
      for (const sample of SAMPLES[word] ?? []) {
        const token = (await tokenizeCatga(sample)).find((t) => t.text === word);
        expect(token, `'${word}' in ${JSON.stringify(sample)}`).toBeDefined();
        expect(token?.scopes.at(-1), JSON.stringify(sample)).toMatch(
          new RegExp(`^keyword\\.[a-z.]*${word}\\.catga$`),
        );
      }
    });
  }

  it("textmate grammar — a keyword where a name is expected is a name, as in the parser", async () => {
    const tokens = await tokenizeCatga(
      "type Envelope {\n  type: string\n  event: string\n}\nenum Kind { command, query, event }\nredis { tls on }",
    );
    const last = (line: number, text: string) =>
      tokens.find((t) => t.line === line && t.text === text)?.scopes.at(-1);
    expect(last(2, "type")).toBe("variable.other.property.catga");
    expect(last(3, "event")).toBe("variable.other.property.catga");
    expect(last(5, "command")).toBe("variable.other.enummember.catga");
    expect(last(5, "event")).toBe("variable.other.enummember.catga");
    expect(last(6, "on")).toBe("constant.language.value.catga");
  });

  it("textmate grammar — a missing '}' ends at the next declaration, as the parser recovers", async () => {
    const tokens = await tokenizeCatga("service a {\n  replicas 2\nservice b {\n  replicas 3\n}\n");
    const b = tokens.find((t) => t.line === 3 && t.text === "service");
    expect(b?.scopes).toEqual(["meta.declaration.service.catga", "keyword.declaration.service.catga"]);
  });

  it("textmate grammar — the manifest contributes the language, grammar and configuration that exist", () => {
    const manifest = readJson("package.json");
    const [language] = manifest.contributes.languages;
    const [grammar] = manifest.contributes.grammars;
    expect(language).toMatchObject({ id: "catga", extensions: [".catga"] });
    expect(grammar).toMatchObject({ language: "catga", scopeName: "source.catga" });
    expect(readJson(grammar.path.replace(/^\.\//, "")).scopeName).toBe("source.catga");
    expect(readJson(language.configuration.replace(/^\.\//, ""))).toBeTypeOf("object");
    expect(manifest.engines.vscode).toMatch(/^\^1\.\d+\.\d+$/);
    expect(manifest.contributes.configuration.properties["catga.server.path"].type).toBe("string");
  });

  it("textmate grammar — the language configuration's comments are the lexer's", () => {
    const config = readJson("language-configuration.json");
    const line = tokenize(`${config.comments.lineComment} x`, "c.catga");
    expect(line.commentTokens.map((t) => t.tokenType)).toEqual([LineComment]);
    const [open, close] = config.comments.blockComment;
    const block = tokenize(`${open} x ${close}`, "c.catga");
    expect(block.commentTokens.map((t) => t.tokenType)).toEqual([BlockComment]);
    expect(block.diagnostics).toEqual([]);
  });

  it("textmate grammar — the editor's indentation rules agree with catgac fmt on every example", () => {
    const rules = readJson("language-configuration.json").indentationRules;
    const increase = new RegExp(rules.increaseIndentPattern);
    const decrease = new RegExp(rules.decreaseIndentPattern);
    const indent = (line: string) => line.length - line.trimStart().length;
    const mismatches: string[] = [];
    const examples = readdirSync(EXAMPLES, { recursive: true, encoding: "utf8" }).filter((p) =>
      p.endsWith(".catga"),
    );
    expect(examples.length).toBeGreaterThan(0);
    for (const path of examples) {
      const formatted = format(readFileSync(`${EXAMPLES}${path}`, "utf8"), path).value ?? "";
      const lines = formatted.split("\n").filter((line) => line.trim() !== "");
      for (let i = 0; i + 1 < lines.length; i++) {
        const [line, next] = [lines[i]!, lines[i + 1]!];
        // VS Code indents after a line matching `increase` and dedents a line matching `decrease`.
        const expected = indent(line) + (increase.test(line) ? 2 : 0) - (decrease.test(next) ? 2 : 0);
        if (indent(next) !== expected)
          mismatches.push(`${path}: ${JSON.stringify(line)} then ${JSON.stringify(next)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it("textmate grammar — Enter in a doc comment continues it, and words include durations", () => {
    const config = readJson("language-configuration.json");
    const doc = config.onEnterRules.find(
      (rule: { action: { appendText?: string } }) => rule.action.appendText === "/// ",
    );
    expect(new RegExp(doc.beforeText).test("  /// Creates an order.")).toBe(true);
    expect(new RegExp(doc.beforeText).test("  // plain")).toBe(false);
    const words = "lease 10s every 250ms sweep_stale".match(new RegExp(config.wordPattern, "g"));
    expect(words).toEqual(["lease", "10s", "every", "250ms", "sweep_stale"]);
  });

  it("textmate grammar — the catga package exports the grammar as catga/catga.tmLanguage.json", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    const resolved = createRequire(import.meta.url).resolve("catga/catga.tmLanguage.json");
    expect(resolved).toBe(`${EXTENSION}syntaxes/catga.tmLanguage.json`);
    expect(pkg.files).toContain("editors/vscode/syntaxes");
  });
});
