import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { emitTypeScript } from "../../compiler/emit/typescript.js";
import { typeCheck, virtualDir } from "../helpers/typecheck.js";

/**
 * The TypeScript examples of docs/build.md compile against the shop example's generated code, with
 * the strict options the docs promise: each ```ts block is a file of a project that built
 * examples/shop/shop.catga into `out/shop/` (a block importing `./out/shop/…` is a script at the
 * project's root, one importing `../out/shop/…` a handler module under `services/`).
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The ```ts blocks of a Markdown file, with the line each starts on. */
function tsBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue;
    const start = i + 1;
    while (i + 1 < lines.length && lines[i + 1]!.trim() !== "```") i++;
    blocks.push({ line: start + 1, code: lines.slice(start, i + 1).join("\n") });
    i++;
  }
  return blocks;
}

describe("docs — examples compile", () => {
  it("docs — every TypeScript block of docs/build.md type-checks against the built shop", () => {
    const file = join(ROOT, "examples/shop/shop.catga");
    const { value: model, diagnostics } = checkSource(readFileSync(file, "utf8"), file);
    expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const project = virtualDir("docs-build");
    const files = new Map<string, string>();
    for (const f of emitTypeScript(model!, { sourceName: "shop.catga" }))
      files.set(join(project, "out/shop", f.path), f.content);
    const blocks = tsBlocks(readFileSync(join(ROOT, "docs/build.md"), "utf8"));
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const { line, code } of blocks) {
      const where = code.includes('"../out/') ? "services" : ".";
      // An `export {}` makes every block a module (top-level await, no clashes between blocks).
      files.set(join(project, where, `build-md-line-${line}.ts`), `${code}\nexport {};\n`);
    }
    expect(typeCheck(files)).toEqual([]);
  }, 120_000);
});
