import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { format, hasErrors, parse } from "../../dsl/index.js";
import { commentTexts, expectCanonical } from "../helpers/format-invariants.js";

/**
 * Targeted formatter cases. Each goes through `expectCanonical`, so besides the expected text every
 * case also checks idempotence, the AST and the comments. Whole files are pinned by the goldens in
 * test/golden/format.
 */

const FILE = "format.catga";
const SEED = 20_240_611;

/** The lines of a file, each ended by "\n": expected outputs read like the files they pin. */
function file(...lines: string[]): string {
  return lines.map((line) => `${line}\n`).join("");
}

describe("format", () => {
  it("format — prints the canonical layout of a small file", () => {
    const input = "topology t\ncommand  A{x:int,y:string}->B\nservice s{replicas 2 handles A}";
    expect(expectCanonical(input)).toBe(
      file(
        "topology t",
        "command A { x: int, y: string } -> B",
        "",
        "service s {",
        "  replicas 2",
        "  handles A",
        "}",
      ),
    );
  });

  it("format — keeps trailing comments", () => {
    const input = file(
      "topology t // the name",
      "enum E { a, b } // after a one-line block",
      "type T {",
      "  a: int // after a field",
      "  b: int, /* after a comma */",
      "} // after a closing brace",
    );
    expect(expectCanonical(input)).toBe(
      file(
        "topology t  // the name",
        "enum E { a, b }  // after a one-line block",
        "",
        "type T {",
        "  a: int  // after a field",
        "  b: int  /* after a comma */",
        "}  // after a closing brace",
      ),
    );
  });

  it("format — keeps leading comments above the doc comment of their node", () => {
    const input = file("// leads", "", "/// documents", "topology t");
    expect(expectCanonical(input)).toBe(file("// leads", "", "/// documents", "topology t"));
    expect(expectCanonical("// plain\n/// doc\nservice s { mode p2p }")).toBe(
      file("// plain", "/// doc", "service s {", "  mode p2p", "}"),
    );
  });

  it("format — prints comments before a closing brace one level deeper", () => {
    const input = "service s { replicas 2\n// last words\n}";
    expect(expectCanonical(input)).toBe(file("service s {", "  replicas 2", "  // last words", "}"));
  });

  it("format — keeps comments at the end of the file and in an empty file", () => {
    expect(expectCanonical("topology t\n// bye\n\n/* really */")).toBe(
      file("topology t", "// bye", "", "/* really */"),
    );
    expect(expectCanonical("\n// only a comment\n\n")).toBe(file("// only a comment"));
    expect(expectCanonical("")).toBe("");
    expect(expectCanonical(" \n\t\n")).toBe("");
  });

  it("format — keeps block comments exactly", () => {
    const input = "topology t\n  /* one\n     two   \n  three */\nnats { nodes 3 }";
    expect(expectCanonical(input)).toBe(
      file("topology t", "", "/* one", "     two", "  three */", "nats { nodes 3 }"),
    );
  });

  it("format — prints doc comments above their node with their exact text", () => {
    const input = file("type T {", "      ///   Spaced  as written.", "///No space.", "a: int", "}");
    expect(expectCanonical(input)).toBe(
      file("type T {", "  ///   Spaced  as written.", "  ///No space.", "  a: int", "}"),
    );
  });

  it("format — keeps a doc comment that documents nothing as a comment", () => {
    const input = "enum E { a /// trails a\n}\nsaga S { on E\n/// before the brace\n}\n/// at the end";
    expect(expectCanonical(input)).toBe(
      file(
        "enum E {",
        "  a",
        "  /// trails a",
        "}",
        "",
        "saga S {",
        "  on E",
        "  /// before the brace",
        "}",
        "/// at the end",
      ),
    );
  });

  it("format — keeps two doc comment runs apart", () => {
    const input = file("/// documents nothing", "", "/// documents t", "topology t");
    expect(expectCanonical(input)).toBe(input);
  });

  it("format — moves comments from inside a node above it", () => {
    const input = file(
      "service /* in the header */ s {",
      "  handles A, // between names",
      "    B",
      "}",
      "command C {} // between brace and arrow",
      "-> D",
    );
    expect(expectCanonical(input)).toBe(
      file(
        "/* in the header */",
        "service s {",
        "  // between names",
        "  handles A, B",
        "}",
        "",
        "// between brace and arrow",
        "command C {} -> D",
      ),
    );
  });

  it("format — prints a block holding a comment on several lines", () => {
    expect(expectCanonical("nats { nodes 3 /* three */ }")).toBe(
      file("nats {", "  nodes 3  /* three */", "}"),
    );
    expect(expectCanonical("enum E { /// first\na, b }")).toBe(
      file("enum E {", "  /// first", "  a", "  b", "}"),
    );
    expect(expectCanonical("type T {\n// nothing yet\n}")).toBe(file("type T {", "  // nothing yet", "}"));
  });

  it("format — prints at most three fields on one line", () => {
    expect(expectCanonical("type T { a: int, b: int, c: int }")).toBe(
      file("type T { a: int, b: int, c: int }"),
    );
    expect(expectCanonical("event E { a: int, b: int, c: int, d: int }")).toBe(
      file("event E {", "  a: int", "  b: int", "  c: int", "  d: int", "}"),
    );
  });

  it("format — breaks lines longer than 100 columns", () => {
    const fits = `command C { a: ${"X".repeat(100 - "command C { a:  } -> R".length)} } -> R`;
    expect(fits).toHaveLength(100);
    expect(expectCanonical(fits)).toBe(file(fits));
    const tooLong = fits.replace("XX", "XXX");
    expect(expectCanonical(tooLong)).toBe(
      file("command C {", `  a: X${"X".repeat(fits.length - 22)}`, "} -> R"),
    );

    const members = Array.from({ length: 20 }, (_, i) => `member${i}`);
    expect(expectCanonical(`enum E { ${members.join(" ")} }`)).toBe(
      file("enum E {", ...members.map((m) => `  ${m}`), "}"),
    );
    // Nested blocks count their indentation.
    const value = `"${"v".repeat(100 - '  env { K "" }'.length)}"`;
    expect(expectCanonical(`service s { env { K ${value} } }`)).toBe(
      file("service s {", `  env { K ${value} }`, "}"),
    );
    expect(expectCanonical(`service s { env { K ${value.replace("v", "vv")} } }`)).toBe(
      file("service s {", "  env {", `    K ${value.replace("v", "vv")}`, "  }", "}"),
    );
  });

  it("format — prints type references and empty blocks", () => {
    const input = "type T{a:int [ ] [ ] ?,b:T?}\nquery Q{}->T[]\nenum E{}\nnats{}\nservice s{}\nsaga S{}";
    expect(expectCanonical(input)).toBe(
      file(
        "type T { a: int[][]?, b: T? }",
        "query Q {} -> T[]",
        "enum E {}",
        "nats {}",
        "service s {}",
        "saga S {}",
      ),
    );
  });

  it("format — prints literals as written", () => {
    const input = 'service s { port 007 lease 1500ms image "a\\"b\\\\c\\u00e9\\t" env { K "é ✓" } }';
    expect(expectCanonical(input)).toBe(
      file(
        "service s {",
        "  port 007",
        "  lease 1500ms",
        '  image "a\\"b\\\\c\\u00e9\\t"',
        '  env { K "é ✓" }',
        "}",
      ),
    );
  });

  it("format — prints every service and saga item", () => {
    const input = [
      'service s { mode leader replicas 3 lease 10s handles A,B queue "q" on E broadcast on F emits E,F',
      'sends C runs S every 30s job timeout 5s env{K "v"} resources{cpu "500m" memory "256Mi"}',
      'image "x" port 8080 }',
      "saga S { on E step A compensate B timeout 5s step C irreversible step D irreversible timeout 1m }",
    ].join("\n");
    expect(expectCanonical(input)).toBe(
      file(
        "service s {",
        "  mode leader",
        "  replicas 3",
        "  lease 10s",
        '  handles A, B queue "q"',
        "  on E broadcast",
        "  on F",
        "  emits E, F",
        "  sends C",
        "  runs S",
        "  every 30s job",
        "  timeout 5s",
        '  env { K "v" }',
        '  resources { cpu "500m", memory "256Mi" }',
        '  image "x"',
        "  port 8080",
        "}",
        "",
        "saga S {",
        "  on E",
        "  step A compensate B timeout 5s",
        "  step C irreversible",
        "  step D irreversible timeout 1m",
        "}",
      ),
    );
  });

  it("format — prints durable events with their stream settings after the body", () => {
    const input = [
      "nats {nodes 3 retain 14d   dedup 5m}",
      "durable  event A{x:int}retain 30d",
      "  deliveries 10 // why ten",
      "durable event B {",
      "  a: int",
      "  b: int",
      "  c: int",
      "  d: int",
      "} replicas 1",
      "idempotent   command C {} -> R",
    ].join("\n");
    expect(expectCanonical(input)).toBe(
      file(
        "nats { nodes 3, retain 14d, dedup 5m }",
        "durable event A { x: int } retain 30d deliveries 10  // why ten",
        "",
        "durable event B {",
        "  a: int",
        "  b: int",
        "  c: int",
        "  d: int",
        "} replicas 1",
        "",
        "idempotent command C {} -> R",
      ),
    );
  });

  it("format — a comment between a durable event's body and its settings moves above it", () => {
    expect(expectCanonical("durable event A {} /* kept */ retain 1d\n")).toBe(
      file("/* kept */", "durable event A {} retain 1d"),
    );
  });

  it("format — keeps at most one blank line between items, none after { or before }", () => {
    const input = "service s {\n\n\n  replicas 2\n\n\n\n  mode p2p\n  // note\n\n  emits E\n\n}";
    expect(expectCanonical(input)).toBe(
      file("service s {", "  replicas 2", "", "  mode p2p", "  // note", "", "  emits E", "}"),
    );
  });

  it("format — separates declarations by one blank line unless two one-liners were adjacent", () => {
    const input = file(
      "topology t",
      "nats { nodes 3 }",
      "redis { nodes 3 }",
      "",
      "",
      "",
      "type A { a: int }",
      "type B { b: int, c: int, d: int, e: int }",
      "type C { c: int }",
      "/// documented",
      "type D { d: int }",
    );
    expect(expectCanonical(input)).toBe(
      file(
        "topology t",
        "nats { nodes 3 }",
        "redis { nodes 3 }",
        "",
        "type A { a: int }",
        "",
        "type B {",
        "  b: int",
        "  c: int",
        "  d: int",
        "  e: int",
        "}",
        "",
        "type C { c: int }",
        "",
        "/// documented",
        "type D { d: int }",
      ),
    );
  });

  it("format — normalises line endings, tabs and trailing spaces", () => {
    const input = "topology t   \r\n\r\nnats {\tnodes 3 }\t// tabbed   \r\n/* a  \r\n b */\r";
    expect(expectCanonical(input)).toBe(
      file("topology t", "", "nats { nodes 3 }  // tabbed", "/* a", " b */"),
    );
  });

  it("format — returns undefined with the diagnostics for broken input", () => {
    for (const broken of [
      "topology t\nservice s {",
      "type T { a: }",
      'service s { image "open }',
      "topology t /* never closed",
      "topology t\n@",
      "command C { a: int } -> ",
    ]) {
      const result = format(broken, FILE);
      expect(result.value).toBeUndefined();
      expect(hasErrors(result.diagnostics)).toBe(true);
      expect(result.diagnostics).toEqual(parse(broken, FILE).diagnostics);
    }
  });

  it("format — never throws, and formats only what parses", () => {
    const fragments = [
      "topology",
      "nats",
      "enum",
      "type",
      "command",
      "idempotent",
      "service",
      "saga",
      "handles",
      "on",
      "step",
      "env",
      "x",
      "{",
      "}",
      "[]",
      "?",
      ":",
      ",",
      "->",
      "3",
      "10s",
      '"s"',
      "// c\n",
      "/// d\n",
      "/* b */",
      " ",
      "\n",
      "\r\n",
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...fragments), { maxLength: 60 }), (parts) => {
        const text = parts.join(" ");
        const result = format(text, FILE);
        expect(result.value === undefined).toBe(hasErrors(parse(text, FILE).diagnostics));
        if (result.value !== undefined) expect(format(result.value, FILE).value).toBe(result.value);
      }),
      { seed: SEED, numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        expect(() => format(text, FILE)).not.toThrow();
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe("format — comments anywhere", () => {
  /** Covers every construct; a field named after a keyword checks that names stay names. */
  const SEED_FILE = [
    "/// doc",
    "topology t",
    "nats { nodes 3, mode cluster }",
    "enum E { a, b }",
    "type T { type: int[]?, b: E }",
    "idempotent command C { a: int } -> T",
    "event V { a: int }",
    'service s { mode leader replicas 3 lease 10s handles C queue "q" on V broadcast emits V',
    'sends C runs S every 30s job timeout 5s env { K "v" } resources { cpu "1" } }',
    "saga S { on V step C compensate C timeout 5s step C irreversible }",
  ].join("\n");
  /** The tokens of SEED_FILE: comments and line breaks go between any two of them. */
  const tokens = SEED_FILE.match(/"[^"]*"|->|[{}[\]?,:]|\/\/\/[^\n]*|[A-Za-z0-9_]+/g) ?? [];

  const separator = (comments: readonly string[]) =>
    fc.record({
      comment: fc.option(fc.constantFrom(...comments), { nil: undefined }),
      breaks: fc.constantFrom(" ", "\n", "\n\n", "\n\n\n"),
    });

  /** SEED_FILE with a random separator, maybe holding a comment, after each token. */
  const withComments = (comments: readonly string[]) =>
    fc.array(separator(comments), { minLength: tokens.length, maxLength: tokens.length }).map((separators) =>
      tokens
        .map((token, i) => {
          const s = separators[i]!;
          if (s.comment === undefined) return token + s.breaks;
          // Line comments run to the end of the line: they need a line break after them.
          const afterComment = s.comment.startsWith("//") && s.breaks === " " ? "\n" : s.breaks;
          return `${token} ${s.comment}${afterComment}`;
        })
        .join(""),
    );

  it("format — keeps the AST and every comment wherever ordinary comments are", () => {
    expect(tokens.join(" ")).toContain("resources");
    fc.assert(
      fc.property(withComments(["// line", "/* block */", "/* two\n   lines */"]), (text) => {
        fc.pre(!hasErrors(parse(text, FILE).diagnostics));
        expectCanonical(text, FILE);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("format — stays idempotent and keeps every comment wherever doc comments are", () => {
    // A `///` inside a node or after code may become the doc comment of the node it ends up
    // directly above (see dsl/format.ts), so the AST is not compared here.
    fc.assert(
      fc.property(withComments(["/// doc", "// line", "/* block */"]), (text) => {
        fc.pre(!hasErrors(parse(text, FILE).diagnostics));
        const output = format(text, FILE).value;
        expect(output).toBeDefined();
        expect(format(output!, FILE).value).toBe(output);
        expect(commentTexts(output!)).toEqual(commentTexts(text));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("format — keeps the AST with doc comments on their own lines and comments after code", () => {
    const lines = expectCanonical(SEED_FILE).trimEnd().split("\n");
    const extra = fc.constantFrom("/// doc", "/// more", "// line", "", "/* block */", "/* a\n b */");
    const before = fc.array(extra, { maxLength: 3 });
    const after = fc.constantFrom("", " // trailing", " /* trailing */");
    const texts = fc
      .array(fc.tuple(before, after), { minLength: lines.length, maxLength: lines.length })
      .map((extras) =>
        lines
          .map((line, i) => [...extras[i]![0], line + (line === "" ? "" : extras[i]![1])].join("\n"))
          .join("\n"),
      );
    fc.assert(
      fc.property(texts, (text) => {
        fc.pre(!hasErrors(parse(text, FILE).diagnostics));
        expectCanonical(text, FILE);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
