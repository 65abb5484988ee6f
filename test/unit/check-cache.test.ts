import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateTopology } from "../../bench/compiler/generate.js";
import { CheckCache, checkParsed, checkSource } from "../../compiler/check/index.js";
import { analyze } from "../../tooling/lsp/_analysis.js";
import { IncrementalParser } from "../../tooling/lsp/_incremental.js";
import { edit, generator } from "../helpers/random-edits.js";

const SHOP = readFileSync(new URL("../../examples/shop/shop.catga", import.meta.url), "utf8");

/**
 * Besides the typing edits: one name written in place of another (a reference to another
 * declaration, of the same or another kind; a declaration renamed to clash with another), which
 * changes what names resolve to without breaking the syntax.
 */
function swapName(text: string, random: () => number): string {
  const names = [...text.matchAll(/\b[A-Za-z_]\w*\b/g)];
  const target = names[Math.floor(random() * names.length)]!;
  const other = names[Math.floor(random() * names.length)]![0];
  return text.slice(0, target.index!) + other + text.slice(target.index! + target[0].length);
}

describe("check cache", () => {
  it("check cache — the server's diagnostics after every edit equal a whole `catgac check` of the text, over random edits", () => {
    for (const [seed, start] of [
      [11, SHOP],
      [12, SHOP],
      [13, generateTopology(12)],
      [14, generateTopology(12)],
    ] as const) {
      const random = generator(seed);
      const reuse = { parser: new IncrementalParser("doc.catga"), cache: new CheckCache() };
      let text = start;
      for (let i = 0; i < 150; i++) {
        const incremental = analyze("doc.catga", i, text, reuse);
        expect(incremental.diagnostics, `seed ${seed}, edit ${i}`).toEqual(
          checkSource(text, "doc.catga").diagnostics,
        );
        const r = random();
        // Back to the start now and then, so edits keep landing on a file that parses.
        text = r < 0.15 ? start : r < 0.4 ? swapName(text, random) : edit(text, random);
      }
      // Results must have been reused often, and names must have changed, or this proves little.
      expect(reuse.cache.stats.reused, `seed ${seed}`).toBeGreaterThan(1000);
      expect(reuse.cache.stats.namespaceChanges, `seed ${seed}`).toBeGreaterThan(5);
      // After a change of names, results whose names still resolve the same way must be kept.
      expect(reuse.cache.stats.revalidated, `seed ${seed}`).toBeGreaterThan(10);
    }
  }, 180_000);

  it("check cache — the model built with the cache equals the model built without it", () => {
    const random = generator(21);
    const parser = new IncrementalParser("shop.catga");
    const cache = new CheckCache();
    let text = SHOP;
    let models = 0;
    for (let i = 0; i < 100; i++) {
      const cached = checkParsed(parser.parse(text), { cache });
      const fresh = checkSource(text, "shop.catga");
      expect(cached, `edit ${i}`).toEqual(fresh);
      if (fresh.value !== undefined) models++;
      // Mostly back to the valid file: a model is only built when there is no error.
      text = random() < 0.5 ? SHOP : edit(SHOP, random);
    }
    expect(models).toBeGreaterThan(20);
  });
});
