import { type SpawnOptions, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../harness/_process.js";
import { REPO_ROOT } from "../harness/catga.js";

/**
 * "Use Catga in your own project" (README.md) end to end, from the packed packages, in a temporary
 * folder outside the repository: exactly the README's commands, with the two tarballs `npm pack`
 * makes of `catga` and of `@catga/runtime` in place of the registry names.
 *
 * Offline as far as npm allows: the packages come from the tarballs, their dependencies from the
 * npm cache that `npm ci` of this repository filled (`--prefer-offline`: the registry is asked only
 * for what the cache lacks). Slow, so it is one file of its own: two installs, a build, a type-check
 * and a local cluster take about 1.5 minutes on an idle two-core machine, 3–5 minutes while other
 * tests load it; `npm run build` adds 35–60 s when dist/ is older than the sources (not in
 * `npm test`, which has just built).
 */
const NPM_OFFLINE = ["--prefer-offline", "--no-audit", "--no-fund"];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of every command: this one's without npm's and catga's own variables. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(npm_|CATGA_|TSX_|VITEST|NODE_OPTIONS$)/i.test(k)),
  );
}

function run(
  command: string,
  args: readonly string[],
  cwd: string,
  options: SpawnOptions = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"],
      ...options,
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The modification times of the files under `dir` that `match`. */
function mtimes(dir: string, match: (f: string) => boolean): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter(match)
    .map((f) => statSync(join(dir, f)).mtimeMs);
}

/** Whether dist/ (and runtime/dist/) were built after the last change to a source file. */
function distIsFresh(): boolean {
  const sources = ["dsl", "compiler", "runtime", "tooling"].flatMap((d) =>
    mtimes(
      join(REPO_ROOT, d),
      (f) => f.endsWith(".ts") && !f.includes("dist/") && !f.includes("node_modules"),
    ),
  );
  const built = [
    ...mtimes(join(REPO_ROOT, "dist"), (f) => f.endsWith(".js")),
    ...mtimes(join(REPO_ROOT, "runtime/dist"), (f) => f.endsWith(".js")),
  ];
  return built.length > 0 && Math.min(...built) > Math.max(...sources);
}

const ok = (r: Run) => expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);

describe("catga init — a project of your own, from the packed packages", () => {
  let dir: ReturnType<typeof tempDir>;
  let app: string;
  let tarballs: { catga: string; runtime: string };

  beforeAll(async () => {
    dir = tempDir("init-e2e");
    app = join(dir.path, "my-app");
    // `npm pack` runs `prepare` (npm run build) so the tarball holds a fresh dist/. That build is the
    // slowest step, and `npm test` has just run it: it is run here only when dist/ is older than a
    // source file, and both packs skip scripts.
    if (!distIsFresh()) ok(await run("npm", ["run", "build"], REPO_ROOT));
    ok(await run("npm", ["pack", "--ignore-scripts", "--pack-destination", dir.path], REPO_ROOT));
    ok(
      await run(
        "npm",
        ["pack", "-w", "@catga/runtime", "--ignore-scripts", "--pack-destination", dir.path],
        REPO_ROOT,
      ),
    );
    const packed = readdirSync(dir.path);
    tarballs = {
      catga: join(dir.path, packed.find((f) => /^catga-\d/.test(f))!),
      runtime: join(dir.path, packed.find((f) => /^catga-runtime-\d/.test(f))!),
    };
  }, 180_000);

  afterAll(async () => {
    if (app !== undefined && existsSync(join(app, ".catga/state.json")))
      await run("npx", ["catga", "down"], app);
    dir?.remove();
  });

  it("init — install, init, install, build, typecheck, up, the client, down: as the README says", async () => {
    // mkdir my-app && cd my-app && npm init -y
    ok(await run("mkdir", ["-p", app], dir.path));
    ok(await run("npm", ["init", "-y"], app));
    // npm install catga @catga/runtime
    ok(await run("npm", ["install", ...NPM_OFFLINE, tarballs.catga, tarballs.runtime], app));
    // npx catga init
    const init = await run("npx", ["catga", "init"], app);
    ok(init);
    expect(init.stdout).toContain("updated package.json");
    for (const f of ["tsconfig.json", "myApp.catga", "services/greeter.ts", "services/audit.ts", "client.ts"])
      expect(existsSync(join(app, f)), f).toBe(true);
    // The client script is the README's, word for word.
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Use Catga in your own project"));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(readFileSync(join(app, "client.ts"), "utf8")).toBe(block);
    const pkg = JSON.parse(readFileSync(join(app, "package.json"), "utf8"));
    expect(pkg.type).toBe("module");
    // npm install
    ok(await run("npm", ["install", ...NPM_OFFLINE], app));
    // npm run build; npm run typecheck
    ok(await run("npm", ["run", "build"], app));
    expect(existsSync(join(app, "out/myApp/client.ts"))).toBe(true);
    ok(await run("npm", ["run", "typecheck"], app));
    // npm run up -- --detach; npm run client; npx catga down
    ok(await run("npm", ["run", "up", "--", "--detach"], app));
    const client = await run("npm", ["run", "client", "--silent", "--", "Ada"], app);
    ok(client);
    expect(client.stdout).toMatch(/^Hello, Ada! \(from greeter-[01]\)$/m);
    const down = await run("npx", ["catga", "down"], app);
    ok(down);
    expect(existsSync(join(app, ".catga"))).toBe(false);
  }, 240_000);

  it("init — catga up --memory starts the new project's topology in one process; Ctrl-C stops it", async () => {
    const r = await new Promise<Run>((resolve, reject) => {
      // The bin `npx catga` runs, run directly: on Ctrl-C npx itself exits at once, without waiting
      // for the command, so only catga's own exit tells whether it stopped cleanly.
      const child = spawn(join(app, "node_modules/.bin/catga"), ["up", "myApp.catga", "--memory"], {
        cwd: app,
        env: cleanEnv(),
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      let stdout = "";
      let stderr = "";
      let sent = false;
      const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 60_000);
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (!sent && /3 instances running in this process/.test(stderr)) {
          sent = true;
          process.kill(-child.pid!, "SIGINT");
        }
      });
      child.once("error", reject);
      child.once("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    expect(r.stderr).toContain("3 instances running in this process");
    expect(r.stderr).toContain("draining and stopping every instance");
    expect(r.code, r.stderr).toBe(0);
  }, 90_000);

  it("init — beside an existing topology only the missing handler modules are written, nothing is overwritten", async () => {
    const before = readFileSync(join(app, "services/greeter.ts"), "utf8");
    const topology = readFileSync(join(app, "myApp.catga"), "utf8");
    writeFileSync(
      join(app, "myApp.catga"),
      `${topology}\n/// Added later.\nquery Count { name: string } -> int\n\nservice counter {\n  handles Count\n}\n`,
    );
    rmSync(join(app, "services/audit.ts"));
    const r = await run("npx", ["catga", "init"], app);
    ok(r);
    expect(r.stdout).toContain("services/counter.ts");
    expect(r.stdout).toContain("services/audit.ts");
    expect(readFileSync(join(app, "services/greeter.ts"), "utf8")).toBe(before);
    // The skeleton is typed against the build (type-checked for every example in
    // test/unit/init-project.test.ts; not again here, a tsc run costs 15–60 s).
    expect(readFileSync(join(app, "services/counter.ts"), "utf8")).toContain(
      'import { defineCounter } from "../out/myApp/client.js";',
    );
  }, 120_000);
});
