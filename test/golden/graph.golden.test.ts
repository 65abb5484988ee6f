import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { buildGraph, emitDot, emitMermaid } from "../../compiler/graph/index.js";

/**
 * Graph goldens: the Mermaid and DOT drawings of the shop example and of the small fixture
 * (`test/golden/graph/small/input.catga`, every edge kind once) are compared byte for byte with
 * `test/golden/graph/<case>/topology.mmd` and `topology.dot`. The SVG is covered by the build goldens
 * (`topology.svg`) and by test/unit/graph.test.ts.
 *
 * `UPDATE_GOLDENS=1 npx vitest run test/golden` rewrites them; review the diff.
 */

const ROOT = fileURLToPath(new URL("./graph", import.meta.url));
const REPO = fileURLToPath(new URL("../..", import.meta.url));
const UPDATE = process.env.UPDATE_GOLDENS === "1";

const CASES: { name: string; input: string }[] = [
  { name: "shop", input: join(REPO, "examples/shop/shop.catga") },
  { name: "small", input: join(ROOT, "small/input.catga") },
];

describe("graph goldens", () => {
  for (const { name, input } of CASES) {
    const drawings = (): Record<string, string> => {
      const { value: model, diagnostics } = checkSource(readFileSync(input, "utf8"), input);
      expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      const graph = buildGraph(model!);
      const sourceName = input.split("/").pop()!;
      return {
        "topology.mmd": emitMermaid(graph, { sourceName }),
        "topology.dot": emitDot(graph, { sourceName }),
      };
    };

    it(`graph — ${name} Mermaid and DOT match their goldens`, () => {
      const dir = join(ROOT, name);
      for (const [file, content] of Object.entries(drawings())) {
        const path = join(dir, file);
        if (UPDATE) {
          mkdirSync(dir, { recursive: true });
          writeFileSync(path, content);
        }
        expect(existsSync(path), `${path} (run with UPDATE_GOLDENS=1 to create it)`).toBe(true);
        expect(content, file).toBe(readFileSync(path, "utf8"));
      }
    });

    it(`graph — ${name} text drawings are deterministic`, () => {
      expect(drawings()).toEqual(drawings());
    });
  }
});
