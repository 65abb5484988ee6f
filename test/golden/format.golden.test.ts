import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { format } from "../../dsl/index.js";
import { expectCanonical } from "../helpers/format-invariants.js";

/**
 * Formatter goldens: each folder of test/golden/format holds an `input.catga` and the
 * `expected.catga` the formatter must print for it, compared byte for byte. Every input and every
 * example must also satisfy the invariants of canonical output (idempotent, same AST, same
 * comments: see test/helpers/format-invariants.ts).
 *
 * `UPDATE_GOLDENS=1 npx vitest run test/golden` rewrites the expected files; review the diff.
 */

const ROOT = fileURLToPath(new URL("./format", import.meta.url));
const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));
const UPDATE = process.env.UPDATE_GOLDENS === "1";

const cases = readdirSync(ROOT, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

const examples = readdirSync(EXAMPLES, { recursive: true, encoding: "utf8" })
  .filter((path) => path.endsWith(".catga"))
  .sort();

describe("format goldens", () => {
  it("format — has golden cases and examples to check", () => {
    expect(cases.length).toBeGreaterThan(0);
    expect(examples.length).toBeGreaterThan(0);
  });

  for (const name of cases) {
    it(`format — ${name}`, () => {
      const dir = join(ROOT, name);
      const input = readFileSync(join(dir, "input.catga"), "utf8");
      const expectedFile = join(dir, "expected.catga");
      const output = expectCanonical(input, `${name}/input.catga`);
      if (UPDATE) writeFileSync(expectedFile, output);
      expect(existsSync(expectedFile), `${expectedFile} is missing: run with UPDATE_GOLDENS=1`).toBe(true);
      expect(output).toBe(readFileSync(expectedFile, "utf8"));
      // The expected file is canonical text itself.
      expect(format(output, `${name}/expected.catga`).value).toBe(output);
    });
  }

  for (const path of examples) {
    it(`format — examples/${path} formats idempotently and keeps its meaning`, () => {
      expectCanonical(readFileSync(join(EXAMPLES, path), "utf8"), `examples/${path}`);
    });
  }
});
