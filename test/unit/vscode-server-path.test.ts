import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { resolveServer, type ServerCommand } from "../../editors/vscode/src/server-path.js";

/**
 * How the VS Code extension finds `catgac lsp --stdio`: against temporary workspaces laid out as
 * npm leaves them, and run for real, so the command line the client would spawn is the one that
 * reaches the launcher.
 */

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const made: string[] = [];

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), "catga-vscode-"));
  made.push(dir);
  return dir;
}

/** A stand-in launcher that prints the arguments it was given (the server itself is `catgac lsp`). */
function launcher(path: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, '#!/bin/sh\necho "launched $*"\n');
  chmodSync(path, 0o755);
}

/** A `catga` package in node_modules whose bin script prints its arguments. */
function catgaPackage(root: string): string {
  const pkg = join(root, "node_modules", "catga");
  mkdirSync(join(pkg, "bin"), { recursive: true });
  writeFileSync(
    join(pkg, "package.json"),
    JSON.stringify({ name: "catga", bin: { catgac: "bin/catgac.js" } }),
  );
  const script = join(pkg, "bin", "catgac.js");
  writeFileSync(script, 'console.log("launched " + process.argv.slice(2).join(" "));\n');
  return script;
}

function run(server: ServerCommand): string {
  return execFileSync(server.command, server.args, { encoding: "utf8" }).trim();
}

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("vscode server path", () => {
  it("vscode server path — finds node_modules/.bin/catgac of the workspace and starts it with lsp --stdio", () => {
    const root = workspace();
    launcher(join(root, "node_modules", ".bin", "catgac"));
    const result = resolveServer({ folders: [root], platform: "linux" });
    expect(result).toMatchObject({ found: true, server: { source: "node_modules/.bin", shell: false } });
    if (!result.found) return;
    expect(result.server.command).toBe(join(root, "node_modules", ".bin", "catgac"));
    expect(run(result.server)).toBe("launched lsp --stdio");
  });

  it("vscode server path — finds the launcher hoisted to a parent folder (npm workspaces)", () => {
    const root = workspace();
    const app = join(root, "packages", "app");
    mkdirSync(app, { recursive: true });
    launcher(join(root, "node_modules", ".bin", "catgac"));
    const result = resolveServer({ folders: [app], platform: "linux" });
    expect(result.found && result.server.command).toBe(join(root, "node_modules", ".bin", "catgac"));
  });

  it("vscode server path — without a .bin entry, runs the bin script of the catga package with node", () => {
    const root = workspace();
    writeFileSync(join(root, "package.json"), JSON.stringify({ name: "app" }));
    const script = catgaPackage(root);
    const result = resolveServer({ folders: [root], platform: "linux" });
    expect(result).toMatchObject({
      found: true,
      server: { command: "node", args: [script, "lsp", "--stdio"] },
    });
    if (result.found) expect(run(result.server)).toBe("launched lsp --stdio");
  });

  it("vscode server path — finds the catga repository's own catgac when it is the workspace", () => {
    const result = resolveServer({ folders: [REPO], platform: "linux" });
    expect(result).toMatchObject({
      found: true,
      server: {
        command: "node",
        args: [join(REPO, "bin", "catgac.js"), "lsp", "--stdio"],
        source: "catga package",
      },
    });
  });

  it("vscode server path — catga.server.path wins, relative to the first folder", () => {
    const root = workspace();
    launcher(join(root, "node_modules", ".bin", "catgac"));
    launcher(join(root, "tools", "my-catgac"));
    const result = resolveServer({ serverPath: "tools/my-catgac", folders: [root], platform: "linux" });
    expect(result).toMatchObject({
      found: true,
      server: { command: join(root, "tools", "my-catgac"), source: "setting" },
    });
    if (result.found) expect(run(result.server)).toBe("launched lsp --stdio");
  });

  it("vscode server path — catga.server.path to a .js script runs it with node", () => {
    const root = workspace();
    const script = catgaPackage(root);
    const result = resolveServer({ serverPath: script, folders: [], platform: "linux" });
    expect(result).toMatchObject({
      found: true,
      server: { command: "node", args: [script, "lsp", "--stdio"] },
    });
  });

  it("vscode server path — a catga.server.path that does not exist is reported, not replaced by another server", () => {
    const root = workspace();
    launcher(join(root, "node_modules", ".bin", "catgac"));
    const result = resolveServer({ serverPath: "/nowhere/catgac", folders: [root], platform: "linux" });
    expect(result.found).toBe(false);
    if (!result.found) expect(result.message).toContain("/nowhere/catgac");
  });

  it("vscode server path — nothing installed: a message that says how to fix it, and where it looked", () => {
    const root = workspace();
    const result = resolveServer({ folders: [root], platform: "linux" });
    expect(result.found).toBe(false);
    if (result.found) return;
    expect(result.message).toContain("npm install --save-dev catga");
    expect(result.message).toContain("catga.server.path");
    expect(result.searched).toContain(join(root, "node_modules", ".bin", "catgac"));
    expect(resolveServer({ folders: [] })).toMatchObject({ found: false });
  });

  it("vscode server path — on Windows looks for catgac.cmd and spawns it through a shell", () => {
    const root = workspace();
    launcher(join(root, "node_modules", ".bin", "catgac.cmd"));
    const result = resolveServer({ folders: [root], platform: "win32" });
    expect(result).toMatchObject({
      found: true,
      server: { command: join(root, "node_modules", ".bin", "catgac.cmd"), shell: true },
    });
  });
});
