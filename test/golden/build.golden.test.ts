import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { emitBuild } from "../../compiler/emit/index.js";

/**
 * Build goldens: every example topology (`examples/<name>/<name>.catga`) is built with every emitter
 * (`emitBuild`, as `catgac build` does, so `topology.svg` is included)
 * and each output file is compared byte for byte with `test/golden/build/<name>/<path>`. The set of
 * files must match too, so a file an emitter stops writing is noticed. This is how the committed
 * example outputs are rebuilt by the test command and must match.
 *
 * `UPDATE_GOLDENS=1 npx vitest run test/golden/build.golden.test.ts` rewrites them; review the diff.
 */

const ROOT = fileURLToPath(new URL("./build", import.meta.url));
const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));
const UPDATE = process.env.UPDATE_GOLDENS === "1";

const examples = readdirSync(EXAMPLES, { recursive: true, encoding: "utf8" })
  .filter((path) => path.endsWith(".catga"))
  .sort();

function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(dir.length + 1).split("\\").join("/"))
      .sort();
  } catch {
    return [];
  }
}

describe("build goldens", () => {
  it("build — covers at least four example topologies", () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });

  for (const example of examples) {
    const name = basename(example, ".catga");
    it(`build — ${name} matches its golden outputs`, async () => {
      const source = readFileSync(join(EXAMPLES, example), "utf8");
      const { value: model, diagnostics } = checkSource(source, example);
      expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      const files = await emitBuild(model!, { sourceName: basename(example) });
      const dir = join(ROOT, name);
      if (UPDATE) {
        rmSync(dir, { recursive: true, force: true });
        for (const f of files) {
          mkdirSync(dirname(join(dir, f.path)), { recursive: true });
          writeFileSync(join(dir, f.path), f.content);
        }
      }
      expect(files.map((f) => f.path)).toEqual(filesUnder(dir));
      for (const f of files) expect(f.content, f.path).toBe(readFileSync(join(dir, f.path), "utf8"));
    });

    it(`build — ${name} is deterministic`, async () => {
      const source = readFileSync(join(EXAMPLES, example), "utf8");
      const once = await emitBuild(checkSource(source, example).value!, { sourceName: basename(example) });
      const twice = await emitBuild(checkSource(source, example).value!, { sourceName: basename(example) });
      expect(twice).toEqual(once);
    });
  }
});
