/**
 * `catga init [DIR | FILE.catga]`: start a project of your own. In a folder without a topology it
 * writes a new project (package.json, tsconfig.json, a small topology, its handler modules and a
 * client script); beside an existing topology it writes the handler modules that are missing as
 * typed skeletons. It never overwrites a file; an existing package.json only gains what is missing.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { checkSource } from "../../compiler/check/index.js";
import { renderHuman } from "../../compiler/cli/render.js";
import {
  handlerModule,
  handlerSkeleton,
  mergePackageJson,
  newPackageJson,
  newProjectFiles,
  type ProjectFile,
  type ProjectVersions,
  projectScripts,
  TSCONFIG,
  topologyName,
} from "../init/project.js";
import { defaultOut } from "../local/cluster.js";

/** The text of `catga init --help`. */
export const INIT_HELP = `catga init — start a project of your own

Usage: catga init [DIR | FILE.catga] [--name NAME]

In a folder without a .catga file (default: the working directory; created if missing) writes a
new project: package.json ("type": "module", the dependencies, scripts build / typecheck / up /
client), tsconfig.json, NAME.catga (a small topology), services/<service>.ts for each of its
services and client.ts. In a folder with one topology (or given FILE.catga) writes the handler
module of every service that has none, as a typed skeleton. Never overwrites a file; an existing
package.json only gains "type": "module" (replacing "commonjs", as npm init -y writes it),
scripts and dependencies it lacks.

Then: npm install; npm run build; npm run typecheck; npm run up (or catga up FILE --memory).

Options:
  --name NAME      the new topology's name (default: from the folder's name)
  -h, --help       show this help

Exit codes: 0 done (also when nothing was missing); 1 the topology has errors; 2 usage error, or
several .catga files in the folder (name one).
`;

interface Io {
  stdout(t: string): void;
  stderr(t: string): void;
}

/** Runs `catga init` with `argv` (after `init`); resolves with the exit code. */
export async function init(argv: readonly string[], io: Io): Promise<number> {
  let values: { name?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: { name: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (error) {
    io.stderr(`catga init: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(INIT_HELP);
    return 0;
  }
  if (positionals.length > 1) {
    io.stderr("catga init: expected at most one DIR or FILE.catga; run 'catga init --help'\n");
    return 2;
  }
  const target = resolve(positionals[0] ?? ".");
  let dir = target;
  let topologyFile: string | undefined;
  if (target.endsWith(".catga")) {
    if (!existsSync(target)) {
      io.stderr(`catga init: cannot read '${positionals[0]}': no such file\n`);
      return 2;
    }
    dir = dirname(target);
    topologyFile = target;
  } else if (existsSync(target)) {
    if (!statSync(target).isDirectory()) {
      io.stderr(`catga init: '${positionals[0]}' is neither a folder nor a .catga file\n`);
      return 2;
    }
    const found = readdirSync(target)
      .filter((f) => f.endsWith(".catga"))
      .sort();
    if (found.length > 1) {
      io.stderr(
        `catga init: ${found.length} topologies in ${target} (${found.join(", ")}): name one, e.g. 'catga init ${join(positionals[0] ?? ".", found[0]!)}'\n`,
      );
      return 2;
    }
    if (found[0] !== undefined) topologyFile = join(target, found[0]);
  }
  const versions = projectVersions();
  const written: string[] = [];
  const kept: string[] = [];
  const write = (file: ProjectFile) => {
    const path = join(dir, file.path);
    if (existsSync(path)) {
      kept.push(file.path);
      return;
    }
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.content);
    written.push(file.path);
  };

  if (topologyFile === undefined) {
    if (values.name !== undefined && !/^[A-Za-z][A-Za-z0-9_]*$/.test(values.name)) {
      io.stderr(
        `catga init: --name '${values.name}' is not a topology name: letters, digits and _, from a letter\n`,
      );
      return 2;
    }
    const name = values.name ?? topologyName(basename(dir));
    mkdirSync(dir, { recursive: true });
    const files = newProjectFiles(name, versions);
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      const merged = mergeInto(pkg, projectScripts(`${name}.catga`, "client.ts"), versions, io);
      if (merged === undefined) return 2;
    }
    for (const file of files) if (file.path !== "package.json" || !existsSync(pkg)) write(file);
    report(io, dir, written, kept);
    io.stdout(nextSteps(dir, `${name}.catga`));
    return 0;
  }

  // Beside an existing topology: its missing handler modules, and the project files it lacks.
  const source = readFileSync(topologyFile, "utf8");
  const { value: model, diagnostics } = checkSource(source, topologyFile);
  const errors = diagnostics.filter((d) => d.severity === "error");
  if (model === undefined || errors.length > 0) {
    for (const d of errors) io.stderr(`${renderHuman(d, source, false)}\n`);
    io.stderr("catga init: the topology has errors; fix them first (catgac check shows them too)\n");
    return 1;
  }
  const file = relative(dir, topologyFile);
  const out = defaultOut(file).split("\\").join("/");
  const pkg = join(dir, "package.json");
  if (existsSync(pkg)) {
    if (mergeInto(pkg, projectScripts(file), versions, io) === undefined) return 2;
  } else {
    write({
      path: "package.json",
      content: newPackageJson(topologyName(basename(dir)), projectScripts(file), versions),
    });
  }
  write({ path: "tsconfig.json", content: `${JSON.stringify(TSCONFIG, null, 2)}\n` });
  for (const service of model.services) {
    const module = handlerModule(service);
    write({ path: module, content: handlerSkeleton(model, service, module, out) });
  }
  report(io, dir, written, kept);
  io.stdout(nextSteps(dir, file));
  return 0;
}

/** Adds the missing parts to an existing package.json; `undefined` (and a message) when it cannot be read. */
function mergeInto(
  path: string,
  scripts: Record<string, string>,
  versions: ProjectVersions,
  io: Io,
): string[] | undefined {
  let merged: ReturnType<typeof mergePackageJson>;
  try {
    merged = mergePackageJson(readFileSync(path, "utf8"), { scripts, versions });
  } catch (error) {
    io.stderr(`catga init: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}\n`);
    return undefined;
  }
  if (merged.added.length > 0) {
    writeFileSync(path, merged.text);
    io.stdout(`updated package.json: added ${merged.added.join(", ")}\n`);
  }
  if (merged.warning !== undefined) io.stderr(`catga init: ${merged.warning}\n`);
  return merged.added;
}

function report(io: Io, dir: string, written: string[], kept: string[]): void {
  for (const f of written) io.stdout(`wrote ${join(dir, f)}\n`);
  if (kept.length > 0) io.stdout(`kept (already there): ${kept.join(", ")}\n`);
  if (written.length === 0) io.stdout("nothing was missing\n");
}

function nextSteps(dir: string, file: string): string {
  const cd = relative(process.cwd(), dir);
  return [
    "next:",
    ...(cd === "" ? [] : [`  cd ${cd}`]),
    "  npm install",
    "  npm run build        # catgac build: the typed client and definers in out/",
    "  npm run typecheck",
    `  npm run up           # catga up ${file}: NATS, Redis and every replica (or: npx catga up ${file} --memory)`,
    "",
  ].join("\n");
}

/**
 * The versions of the installed catga and of what it pins (zod, tsx, typescript, @types/node), read
 * from its package.json: a new project depends on exactly what this catga was built and tested with.
 */
export function projectVersions(): ProjectVersions {
  const pkg = catgaPackageJson();
  const deps = { ...(pkg.devDependencies ?? {}), ...(pkg.dependencies ?? {}) };
  const pick = (name: string) => {
    const v = deps[name];
    if (v === undefined) throw new Error(`catga's package.json does not pin ${name}`);
    return v;
  };
  return {
    catga: pkg.version,
    runtime: pick("@catga/runtime"),
    zod: pick("zod"),
    tsx: pick("tsx"),
    typescript: pick("typescript"),
    typesNode: pick("@types/node"),
  };
}

interface PackageJson {
  name?: string;
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** catga's own package.json: the nearest one named `catga` above this file (source or dist/). */
function catgaPackageJson(): PackageJson {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as PackageJson;
      if (pkg.name === "catga") return pkg;
    }
    if (dirname(dir) === dir) throw new Error("catga's package.json was not found above its code");
  }
}
