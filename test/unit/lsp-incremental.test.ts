import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateTopology } from "../../bench/compiler/generate.js";
import { parse } from "../../dsl/index.js";
import { IncrementalParser } from "../../tooling/lsp/_incremental.js";
import { edit, generator } from "../helpers/random-edits.js";

const SHOP = readFileSync(new URL("../../examples/shop/shop.catga", import.meta.url), "utf8");

describe("lsp incremental parsing", () => {
  it("lsp incremental — every version parses exactly as a whole parse does, over random edits", () => {
    for (const [seed, start] of [
      [1, SHOP],
      [2, SHOP],
      [3, generateTopology(12)],
    ] as const) {
      const random = generator(seed);
      const parser = new IncrementalParser("doc.catga");
      let text = start;
      let fast = 0;
      for (let i = 0; i < 150; i++) {
        const got = parser.parse(text);
        if (parser.lastWasIncremental) fast++;
        expect(got, `seed ${seed}, edit ${i}`).toEqual(parse(text, "doc.catga"));
        // Back to the start now and then, so edits keep landing on a file that parses.
        text = random() < 0.25 ? start : edit(text, random);
      }
      // The fast path must have been taken often, or this test proves nothing about it.
      expect(fast, `seed ${seed}`).toBeGreaterThan(20);
    }
  }, 180_000);
});
