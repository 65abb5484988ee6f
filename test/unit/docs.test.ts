import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { parse } from "../../dsl/index.js";
import { catgaSnippets } from "../helpers/textmate.js";

const LANGUAGE_MD = fileURLToPath(new URL("../../docs/language.md", import.meta.url));

describe("docs", () => {
  const blocks = catgaSnippets(readFileSync(LANGUAGE_MD, "utf8"));

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
