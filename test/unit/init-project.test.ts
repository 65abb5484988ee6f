import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { emitTypeScript } from "../../compiler/emit/typescript.js";
import type { TopologyModel } from "../../compiler/model.js";
import {
  handlerModule,
  handlerSkeleton,
  mergePackageJson,
  newProjectFiles,
  type ProjectVersions,
  topologyName,
} from "../../tooling/init/project.js";
import { typeCheck, virtualDir } from "../helpers/typecheck.js";

/**
 * What `catga init` writes (tooling/init/project.ts), type-checked with the real compiler against
 * the generated code under the options of the tsconfig it writes: the new project's handler
 * modules and client, and the skeleton of every service of every example (sagas, jobs, events,
 * leader mode). The end-to-end run from the packed package is test/integration/init.integration.test.ts.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const VERSIONS: ProjectVersions = {
  catga: "0.1.0",
  runtime: "0.1.0",
  zod: "4.6.7",
  tsx: "4.23.15",
  typescript: "5.9.3",
  typesNode: "20.19.43",
};

function check(source: string, file: string): TopologyModel {
  const { value, diagnostics } = checkSource(source, file);
  expect(diagnostics).toEqual([]);
  return value!;
}

describe("catga init — files", () => {
  it("init — a new project: the topology checks without findings; handlers and client type-check against its build", () => {
    const files = newProjectFiles("hello", VERSIONS);
    const topology = files.find((f) => f.path === "hello.catga")!;
    const model = check(topology.content, "hello.catga");
    const project = virtualDir("init-new");
    const sources = new Map<string, string>();
    for (const f of emitTypeScript(model, { sourceName: "hello.catga" }))
      sources.set(join(project, "out/hello", f.path), f.content);
    for (const f of files.filter((f) => f.path.endsWith(".ts")))
      sources.set(join(project, f.path), f.content);
    expect(typeCheck(sources)).toEqual([]);
    const pkg = JSON.parse(files.find((f) => f.path === "package.json")!.content);
    expect(pkg.type).toBe("module");
    expect(pkg.scripts).toMatchObject({
      build: "catgac build hello.catga",
      typecheck: "tsc --noEmit",
      up: "catga up hello.catga",
    });
    expect(pkg.dependencies).toEqual({ catga: "0.1.0", "@catga/runtime": "0.1.0", zod: "4.6.7" });
    // Every service of the topology has its module.
    expect(model.services.map((s) => handlerModule(s)).sort()).toEqual(
      files
        .filter((f) => f.path.startsWith("services/"))
        .map((f) => f.path)
        .sort(),
    );
  });

  it("init — skeletons of every service of every example type-check, also from a nested folder", () => {
    const sources = new Map<string, string>();
    for (const name of readdirSync(join(ROOT, "examples")).sort()) {
      const file = join(ROOT, "examples", name, `${name}.catga`);
      const { value: model } = checkSource(readFileSync(file, "utf8"), file);
      const project = virtualDir(`init-${name}`);
      for (const f of emitTypeScript(model!, { sourceName: `${name}.catga` }))
        sources.set(join(project, "out", name, f.path), f.content);
      for (const s of model!.services) {
        // The first service's module in a nested folder: the import path is relative to the module.
        const module = s.name === model!.services[0]!.name ? `src/handlers/${s.name}.ts` : handlerModule(s);
        sources.set(join(project, module), handlerSkeleton(model!, s, module, `out/${name}`));
      }
    }
    expect(typeCheck(sources)).toEqual([]);
  }, 120_000);

  it("init — an existing package.json gains type, scripts and dependencies it lacks; nothing it has changes", () => {
    const before = JSON.stringify({ name: "x", scripts: { build: "make" }, dependencies: { zod: "4.0.0" } });
    const merged = mergePackageJson(before, {
      scripts: { build: "catgac build x.catga", up: "catga up x.catga" },
      versions: VERSIONS,
    });
    const pkg = JSON.parse(merged.text);
    expect(pkg.type).toBe("module");
    expect(pkg.scripts).toEqual({ build: "make", up: "catga up x.catga" });
    expect(pkg.dependencies).toEqual({ zod: "4.0.0", catga: "0.1.0", "@catga/runtime": "0.1.0" });
    expect(merged.added).toContain("scripts.up");
    expect(merged.added).not.toContain("scripts.build");
    // `npm init -y` writes "commonjs": replaced, and said.
    const cjs = mergePackageJson(JSON.stringify({ type: "commonjs" }), { scripts: {}, versions: VERSIONS });
    expect(JSON.parse(cjs.text).type).toBe("module");
    expect(cjs.warning).toMatch(/"commonjs"; set to "module"/);
  });

  it("init — topology names from folder names", () => {
    expect(topologyName("my-app")).toBe("myApp");
    expect(topologyName("Shop")).toBe("shop");
    expect(topologyName("42things")).toBe("app42things");
    expect(topologyName("---")).toBe("app");
  });
});
