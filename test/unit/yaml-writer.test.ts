import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Yaml } from "cdk8s";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { type BlockYamlOptions, BlockYamlWriter } from "../../compiler/emit/_yaml.js";

/**
 * The fast YAML writer of the compose and Kubernetes emitters must write exactly what the yaml
 * package writes with the same options: it replaces the package for speed, never for output.
 */

const GOLDENS = fileURLToPath(new URL("../golden/build", import.meta.url));
const SEED = 20251126;

/** docker-compose.yml's options, and cdk8s's `Yaml.stringify` options (k8s.yaml). */
const COMPOSE: BlockYamlOptions = { version: "1.1", aliasDuplicateObjects: false };
const K8S: BlockYamlOptions = { version: "1.1", keepUndefined: true };

function packageYaml(value: unknown, options: BlockYamlOptions): string {
  return stringify(value, { ...options, lineWidth: 0 });
}

/** Strings around every rule of plain scalars: indicators, `: `, ` #`, YAML 1.1 booleans, numbers, blocks. */
const TRICKY = [
  "",
  " ",
  "a",
  "yes",
  "No",
  "ON",
  "off",
  "y",
  "N",
  "true",
  "False",
  "null",
  "Null",
  "~",
  "1",
  "-1",
  "1.0",
  "1e3",
  "0x1F",
  "0o17",
  "017",
  "1_000",
  "1:20",
  "2001-12-14",
  ".inf",
  ".NaN",
  "-",
  "?",
  "- a",
  "-a",
  "a: b",
  "a:b",
  "a:",
  "a #b",
  "a#b",
  "#a",
  "@a",
  "`a",
  "%a",
  "!a",
  "&a",
  "*a",
  "|",
  ">a",
  "'a'",
  '"a"',
  "it's",
  'say "hi"',
  "[a]",
  "{a}",
  "a, b",
  "---",
  "--- a",
  "...",
  "a ",
  " a",
  "\ta",
  "a\tb",
  "a\rb",
  "\u0007",
  "\u00e9t\u00e9",
  "$" + "{VAR:?set VAR in .env}",
  "fetch('http://127.0.0.1:8080/readyz').then((r) => process.exit(r.ok ? 0 : 1))",
  "a\nb",
  "a\nb\n",
  "a\n\nb\n",
  "a\nb\n\n",
  "a\n",
  "\na",
  " a\nb",
  "\ta\nb",
  "a \nb",
  "a\n b",
  "a\nb ",
  "a\n---\nb\n",
  "a\n%b\n",
  "a\u0007\nb",
];

const scalar = fc.oneof(
  fc.constantFrom(...TRICKY),
  fc.string({ maxLength: 12 }),
  fc.stringMatching(/^[a-z0-9 :#\-'"\n]{0,10}$/),
  fc.integer(),
  fc.double(),
  fc.boolean(),
);

const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: "small" }, scalar, tie("list"), tie("map")),
  list: fc.array(tie("node"), { maxLength: 4 }),
  map: fc.dictionary(fc.oneof(fc.constantFrom(...TRICKY), fc.string({ maxLength: 8 })), tie("node"), {
    maxKeys: 4,
  }),
})).node;

describe("yaml writer", () => {
  it("yaml writer — every tricky string matches the package as a value, a key and an item", () => {
    for (const options of [COMPOSE, K8S]) {
      const writer = new BlockYamlWriter(options);
      for (const s of TRICKY) {
        for (const doc of [{ k: s }, { [s]: "v" }, { k: [s, { n: s }] }, [[s]], { k: { n: { m: s } } }]) {
          expect(writer.document(doc), JSON.stringify(doc)).toBe(packageYaml(doc, options));
        }
      }
    }
  });

  it("yaml writer — random documents match the package byte for byte", () => {
    for (const options of [COMPOSE, K8S]) {
      fc.assert(
        fc.property(value, (doc) => {
          expect(new BlockYamlWriter(options).document(doc)).toBe(packageYaml(doc, options));
        }),
        { seed: SEED, numRuns: 500 },
      );
    }
  });

  it("yaml writer — numbers, booleans, empty collections and -0 match the package", () => {
    const doc = {
      a: 0,
      b: -0,
      c: 1.5,
      d: -2,
      e: 1e21,
      f: Number.NaN,
      g: true,
      h: false,
      i: [],
      j: {},
      k: [[], {}],
    };
    for (const options of [COMPOSE, K8S]) {
      const writer = new BlockYamlWriter(options);
      expect(writer.document(doc)).toBe(packageYaml(doc, options));
      expect(writer.fallbacks).toBe(0);
    }
  });

  it("yaml writer — what it does not cover falls back to the package", () => {
    const shared = { x: 1 };
    const cases: [unknown, BlockYamlOptions][] = [
      [{ a: null }, COMPOSE],
      [{ a: undefined, b: 1 }, K8S],
      [{ a: new Map([["x", 1]]) }, COMPOSE],
      [{ a: shared, b: shared }, K8S],
      [{ [`k${"x".repeat(1100)}`]: 1 }, COMPOSE],
      ["just a string", COMPOSE],
    ];
    for (const [doc, options] of cases) {
      const writer = new BlockYamlWriter(options);
      expect(writer.document(doc)).toBe(packageYaml(doc, options));
      expect(writer.fallbacks).toBe(1);
    }
  });

  it("yaml writer — the example manifests take the fast path and match the package and cdk8s", () => {
    const examples = readdirSync(GOLDENS).sort();
    expect(examples.length).toBeGreaterThanOrEqual(4);
    for (const example of examples) {
      for (const [file, options] of [
        ["docker-compose.yml", COMPOSE],
        ["k8s.yaml", K8S],
      ] as const) {
        const docs = parseAllDocuments(readFileSync(join(GOLDENS, example, file), "utf8"), {
          version: "1.1",
        }).map((d) => d.toJSON() as unknown);
        const writer = new BlockYamlWriter(options);
        for (const doc of docs) expect(writer.document(doc)).toBe(packageYaml(doc, options));
        expect(writer.fallbacks, `${example}/${file}`).toBe(0);
        if (file === "k8s.yaml") {
          expect(docs.map((d) => writer.document(d)).join("---\n")).toBe(Yaml.stringify(...docs));
        }
      }
    }
  });
});
