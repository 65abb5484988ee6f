/**
 * What `catga init` writes, as pure functions (the CLI in tooling/cli/init.ts does the file system):
 * a new project's package.json, tsconfig, topology, handler modules and client script, and a typed
 * skeleton of any service's handler module from the checked topology.
 */
import { posix } from "node:path";
import { memberNames, pascalCase, sagaStepKeys } from "../../compiler/emit/typescript.js";
import type { ServiceModel, TopologyModel } from "../../compiler/model.js";

/** One file `catga init` writes, its path relative to the project folder (forward slashes). */
export interface ProjectFile {
  path: string;
  content: string;
}

/** The versions a new project depends on: the installed catga's own and its pinned dependencies. */
export interface ProjectVersions {
  catga: string;
  runtime: string;
  zod: string;
  tsx: string;
  typescript: string;
  typesNode: string;
}

/** The TypeScript options the generated code is promised to compile under (docs/build.md). */
export const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noUnusedLocals: true,
    noUnusedParameters: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    noEmit: true,
    types: ["node"],
  },
  include: ["**/*.ts"],
  exclude: ["node_modules"],
};

/** The scripts of a project whose topology file is `file` (relative to the project). */
export function projectScripts(file: string, clientScript?: string): Record<string, string> {
  return {
    build: `catgac build ${file}`,
    typecheck: "tsc --noEmit",
    up: `catga up ${file}`,
    ...(clientScript !== undefined ? { client: `tsx ${clientScript}` } : {}),
  };
}

/** The dependencies a project needs: the runtime and zod (the generated code imports both). */
export function projectDependencies(v: ProjectVersions): {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
} {
  return {
    dependencies: { catga: v.catga, "@catga/runtime": v.runtime, zod: v.zod },
    devDependencies: { "@types/node": v.typesNode, tsx: v.tsx, typescript: v.typescript },
  };
}

/** A new project's package.json. */
export function newPackageJson(
  name: string,
  scripts: Record<string, string>,
  versions: ProjectVersions,
): string {
  const pkg = {
    name: name.toLowerCase(),
    version: "0.1.0",
    private: true,
    type: "module",
    scripts,
    ...projectDependencies(versions),
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

/**
 * Adds what a project needs to an existing package.json, changing nothing else already there:
 * `"type": "module"` when no type or `"commonjs"` (what `npm init -y` writes) is set, missing
 * scripts, missing dependencies.
 *
 * @returns the new text and what was added (empty when nothing was), and a warning when the
 *   package is not an ES module (the generated code is).
 */
export function mergePackageJson(
  text: string,
  wanted: { scripts: Record<string, string>; versions: ProjectVersions },
): { text: string; added: string[]; warning?: string } {
  const pkg = JSON.parse(text) as Record<string, unknown>;
  const added: string[] = [];
  let warning: string | undefined;
  if (pkg.type === undefined || pkg.type === "commonjs") {
    // `npm init -y` writes "commonjs"; the generated code and the handler modules are ES modules
    // (top-level await, `import`), so the one value catga init changes is this one, and says so.
    if (pkg.type === "commonjs")
      warning =
        'package.json said "type": "commonjs"; set to "module": the generated code and handler modules are ES modules';
    pkg.type = "module";
    added.push('"type": "module"');
  } else if (pkg.type !== "module") {
    warning = `package.json has "type": ${JSON.stringify(pkg.type)}; the generated code and handler modules are ES modules: set "type": "module"`;
  }
  const section = (key: string, entries: Record<string, string>) => {
    const current = (pkg[key] ?? {}) as Record<string, string>;
    for (const [name, value] of Object.entries(entries)) {
      // A dependency may already be in the other section (installed as a dev dependency, say).
      const elsewhere = key.endsWith("ependencies")
        ? (((pkg.dependencies ?? {}) as Record<string, string>)[name] ??
          ((pkg.devDependencies ?? {}) as Record<string, string>)[name])
        : undefined;
      if (current[name] !== undefined || elsewhere !== undefined) continue;
      current[name] = value;
      added.push(`${key}.${name}`);
    }
    pkg[key] = current;
  };
  section("scripts", wanted.scripts);
  const deps = projectDependencies(wanted.versions);
  section("dependencies", deps.dependencies);
  section("devDependencies", deps.devDependencies);
  return { text: `${JSON.stringify(pkg, null, 2)}\n`, added, ...(warning !== undefined ? { warning } : {}) };
}

/** A topology name from a folder name: letters, digits and `_`, starting with a lower-case letter. */
export function topologyName(folder: string): string {
  const words = folder
    .replace(/[^A-Za-z0-9]+/g, " ")
    .trim()
    .split(" ")
    .filter((w) => w !== "");
  const joined = words.map((w, i) => (i === 0 ? w.toLowerCase() : pascalCase(w.toLowerCase()))).join("");
  const name = /^[a-z]/.test(joined) ? joined : `app${pascalCase(joined)}`;
  return name === "" ? "app" : name;
}

/** The files of a new project named `name` (everything but the handler modules' folder is at the root). */
export function newProjectFiles(name: string, versions: ProjectVersions): ProjectFile[] {
  const file = `${name}.catga`;
  const T = pascalCase(name);
  const client = `../out/${name}/client.js`;
  return [
    { path: "package.json", content: newPackageJson(name, projectScripts(file, "client.ts"), versions) },
    { path: "tsconfig.json", content: `${JSON.stringify(TSCONFIG, null, 2)}\n` },
    { path: ".gitignore", content: "node_modules/\nout/\n.catga/\n" },
    {
      path: file,
      content: `/// ${name}: a small topology to start from (docs/language.md has the whole language).
topology ${name}

/// Greets someone; any replica of greeter answers.
command Greet { name: string } -> string

/// Someone was greeted.
event Greeted { name: string }

/// Answers Greet and tells the others.
service greeter {
  replicas 2
  handles Greet
  emits Greeted
}

/// Hears every Greeted (one replica of it per event).
service audit {
  on Greeted
}
`,
    },
    {
      path: "services/greeter.ts",
      content: `/** Service \`greeter\` of ${file}: its handlers, typed by the generated definer. */
import { defineGreeter } from "${client}";

export default defineGreeter({
  handlers: {
    async greet(input, ctx) {
      await ctx.emit.greeted({ name: input.name });
      return \`Hello, \${input.name}! (from \${ctx.instance})\`;
    },
  },
});
`,
    },
    {
      path: "services/audit.ts",
      content: `/** Service \`audit\` of ${file}: its event handlers, typed by the generated definer. */
import { defineAudit } from "${client}";

export default defineAudit({
  events: {
    greeted(event, ctx) {
      ctx.log.info("greeted", { name: event.name });
    },
  },
});
`,
    },
    {
      path: "client.ts",
      content: `import { connect${T} } from "./out/${name}/client.js";

const ${name} = await connect${T}(); // finds NATS: .catga/state.json beside catga up, else CATGA_NATS_URLS
try {
  console.log(await ${name}.greet({ name: process.argv[2] ?? "world" }));
} finally {
  await ${name}.bus.close();
}
`,
    },
  ];
}

/**
 * A typed skeleton of `service`'s handler module at `modulePath` (relative to the project), for a
 * topology built into `outDir` (relative to the project): every member the definer requires, each
 * throwing "not implemented yet" until written, so it type-checks and `catga up` starts it.
 */
export function handlerSkeleton(
  model: TopologyModel,
  service: ServiceModel,
  modulePath: string,
  outDir: string,
): string {
  const S = pascalCase(service.name);
  let from = posix.relative(posix.dirname(modulePath), posix.join(outDir, "client.js"));
  if (!from.startsWith(".")) from = `./${from}`;
  const message = (name: string) => model.messages.find((m) => m.name === name);
  const body: string[] = [];
  const handled = service.handles.filter((h) => h.saga === undefined);
  if (handled.length > 0) {
    const names = memberNames(handled.map((h) => h.message));
    body.push("  handlers: {");
    for (const h of handled) {
      body.push(
        `    async ${names.get(h.message)}(input, ctx) {`,
        `      ctx.log.info(${JSON.stringify(h.message)}, { input });`,
        `      return todo(${JSON.stringify(`${service.name}: ${message(h.message)?.kind ?? "request"} ${h.message}`)});`,
        "    },",
      );
    }
    body.push("  },");
  }
  if (service.subscriptions.length > 0) {
    const names = memberNames(service.subscriptions.map((x) => x.event));
    body.push("  events: {");
    for (const x of service.subscriptions) {
      body.push(
        `    ${names.get(x.event)}(event, ctx) {`,
        `      ctx.log.info(${JSON.stringify(x.event)}, { event });`,
        "    },",
      );
    }
    body.push("  },");
  }
  if (service.schedules.length > 0) {
    body.push("  jobs: {");
    for (const j of service.schedules) {
      body.push(`    ${j.job}(ctx) {`, `      ctx.log.info(${JSON.stringify(`job ${j.job}`)});`, "    },");
    }
    body.push("  },");
  }
  if (service.runs.length > 0) {
    const names = memberNames(service.runs);
    body.push("  sagas: {");
    for (const name of service.runs) {
      const saga = model.sagas.find((s) => s.name === name);
      if (saga === undefined) continue;
      const keys = sagaStepKeys(saga);
      body.push(
        `    ${names.get(name)}: {`,
        "      // The saga's state: plain JSON, persisted after every step.",
        "      start: (trigger) => ({ trigger }),",
        "      steps: {",
      );
      saga.steps.forEach((step, i) => {
        const what = `${service.name}: saga ${name}, step ${i + 1} (${step.command})`;
        body.push(
          `        ${keys[i]}: {`,
          `          input: () => todo(${JSON.stringify(`${what} input`)}),`,
          ...(step.irreversible
            ? []
            : [`          compensate: () => todo(${JSON.stringify(`${what} compensation`)}),`]),
          "        },",
        );
      });
      body.push("      },");
      const trigger = saga.trigger.kind === "command" ? message(saga.trigger.name) : undefined;
      if (trigger?.result !== undefined) {
        body.push(
          `      reply: () => todo(${JSON.stringify(`${service.name}: saga ${name}, the reply to ${trigger.name}`)}),`,
        );
      }
      body.push("    },");
    }
    body.push("  },");
  }
  const usesTodo = body.some((l) => l.includes("todo("));
  return [
    `/** Service \`${service.name}\` of topology \`${model.name}\` (written by catga init: fill in each member). */`,
    `import { define${S} } from ${JSON.stringify(from)};`,
    "",
    ...(usesTodo
      ? [
          "/** Stands for code still to write: fails the call with a message naming what is missing. */",
          "function todo(what: string): never {",
          '  throw new Error("not implemented yet: " + what);',
          "}",
          "",
        ]
      : []),
    body.length === 0 ? `export default define${S}({});` : `export default define${S}({`,
    ...(body.length === 0 ? [] : [...body, "});"]),
    "",
  ].join("\n");
}

/** The handler module of `service` relative to the topology's folder: its `handler` or `services/<name>.ts`. */
export function handlerModule(service: ServiceModel): string {
  return service.handler ?? `services/${service.name}.ts`;
}
