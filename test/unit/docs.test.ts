import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { parse } from "../../dsl/index.js";

const LANGUAGE_MD = fileURLToPath(new URL("../../docs/language.md", import.meta.url));

/** Every fenced ```catga block of a markdown text, with the line its code starts on. */
function catgaBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split("\n");
  let open: { line: number; body: string[] } | undefined;
  for (const [i, line] of lines.entries()) {
    if (open === undefined) {
      if (/^```catga\s*$/.test(line)) open = { line: i + 2, body: [] };
    } else if (/^```\s*$/.test(line)) {
      blocks.push({ line: open.line, code: open.body.join("\n") });
      open = undefined;
    } else {
      open.body.push(line);
    }
  }
  return blocks;
}

describe("docs", () => {
  const blocks = catgaBlocks(readFileSync(LANGUAGE_MD, "utf8"));

  it("docs — language.md has catga examples", () => {
    expect(blocks.length).toBeGreaterThan(20);
  });

  it("docs — every catga example in language.md parses", () => {
    const failures = blocks.flatMap(({ line, code }) =>
      parse(code, `language.md:${line}`)
        .diagnostics.filter((d) => d.code.startsWith("C1"))
        .map((d) => `block at line ${line}: ${d.code} ${d.message} (block line ${d.span.start.line})`),
    );
    expect(failures).toEqual([]);
  });

  it("docs — every catga example in language.md checks without errors", () => {
    const failures = blocks.flatMap(({ line, code }) =>
      checkSource(code, `language.md:${line}`)
        .diagnostics.filter((d) => d.severity === "error")
        .map((d) => `block at line ${line}: ${d.code} ${d.message} (block line ${d.span.start.line})`),
    );
    expect(failures).toEqual([]);
  });
});
