import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join, resolve } from "node:path";

/**
 * Where the extension finds the language server. Kept free of the `vscode` module so it is unit
 * tested in plain Node (test/unit/vscode-server-path.test.ts).
 *
 * The server is `catgac lsp --stdio` of the workspace's own `catga` package, so the editor always
 * speaks the language version the project builds with (as the Prisma and Svelte extensions do with
 * their workspace packages).
 */

/** Arguments that start the language server on stdio. */
export const SERVER_ARGS: readonly string[] = ["lsp", "--stdio"];

/** A command line that starts the server. */
export interface ServerCommand {
  /** Executable to spawn: a `catgac` launcher, or `node` running the package's `bin/catgac.js`. */
  command: string;
  args: string[];
  /** Spawn through a shell: needed for `.cmd` launchers on Windows, which Node refuses to spawn otherwise. */
  shell: boolean;
  /** Where it was found, for the output channel. */
  source: "setting" | "node_modules/.bin" | "catga package";
}

export type ServerResolution =
  | { found: true; server: ServerCommand }
  | { found: false; message: string; searched: string[] };

export interface ResolveOptions {
  /** The `catga.server.path` setting; empty or undefined to search the workspace. */
  serverPath?: string | undefined;
  /** Workspace folder paths, in the order VS Code lists them. */
  folders: readonly string[];
  /** @default process.platform */
  platform?: NodeJS.Platform;
}

/**
 * Finds the `catgac` that serves the workspace. In order: the `catga.server.path` setting (a path
 * relative to the first workspace folder or absolute; when set it must exist, so a typo is reported
 * rather than silently replaced by another server); then, for each workspace folder and its parent
 * directories, `node_modules/.bin/catgac` (npm, pnpm and yarn link it there, and workspaces hoist it
 * to the root); then the `catga` package resolved from the folder as Node would (which also finds
 * the package when the folder is the catga repository itself), run as `node bin/catgac.js`.
 * Never throws: a miss is a result with a message for the user.
 */
export function resolveServer(options: ResolveOptions): ServerResolution {
  const platform = options.platform ?? process.platform;
  const windows = platform === "win32";
  const setting = options.serverPath?.trim();
  if (setting) {
    const base = options.folders[0] ?? process.cwd();
    const path = isAbsolute(setting) ? setting : resolve(base, setting);
    if (existsSync(path)) {
      const isScript = /\.(?:c|m)?js$/.test(path);
      return {
        found: true,
        server: {
          command: isScript ? "node" : path,
          args: isScript ? [path, ...SERVER_ARGS] : [...SERVER_ARGS],
          shell: windows && /\.(?:cmd|bat)$/i.test(path),
          source: "setting",
        },
      };
    }
    return {
      found: false,
      searched: [path],
      message: `The catga.server.path setting points to ${path}, which does not exist. Fix the setting or clear it to use the workspace's catga package.`,
    };
  }

  const searched: string[] = [];
  const launcher = windows ? "catgac.cmd" : "catgac";
  for (const folder of options.folders) {
    for (const dir of ancestors(resolve(folder))) {
      const bin = join(dir, "node_modules", ".bin", launcher);
      searched.push(bin);
      if (existsSync(bin))
        return {
          found: true,
          server: { command: bin, args: [...SERVER_ARGS], shell: windows, source: "node_modules/.bin" },
        };
    }
  }
  for (const folder of options.folders) {
    const script = packageBin(resolve(folder));
    searched.push(`catga/package.json from ${folder}`);
    if (script)
      return {
        found: true,
        server: { command: "node", args: [script, ...SERVER_ARGS], shell: false, source: "catga package" },
      };
  }
  return {
    found: false,
    searched,
    message:
      options.folders.length === 0
        ? "Open a folder with a catga project to start the Catga language server (it runs the project's own catgac)."
        : "Could not find catgac in this workspace: install the catga package (npm install --save-dev catga) or set catga.server.path. Highlighting works without it.",
  };
}

/** `dir` and every directory above it, nearest first. */
function ancestors(dir: string): string[] {
  const out = [dir];
  for (let parent = dirname(dir); parent !== out[out.length - 1]; parent = dirname(parent)) out.push(parent);
  return out;
}

/** The `catgac` script of the `catga` package visible from `folder`, if any. */
function packageBin(folder: string): string | undefined {
  try {
    const manifest = createRequire(join(folder, "package.json")).resolve("catga/package.json");
    const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { bin?: Record<string, string> | string };
    const bin = typeof pkg.bin === "string" ? pkg.bin : pkg.bin?.catgac;
    if (!bin) return undefined;
    const script = join(dirname(manifest), bin);
    return existsSync(script) ? script : undefined;
  } catch {
    // Not installed, or a package.json that does not parse: the caller reports "not found".
    return undefined;
  }
}
