import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { inflateRawSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";

/**
 * `npm run package:vscode` builds a .vsix with @vscode/vsce that VS Code can install: the test runs
 * the real script (esbuild bundle, then vsce) into a temporary folder and reads the archive, which is
 * a zip, to check it carries the manifest, the grammar, the language configuration and the client
 * bundle the manifest's `main` names.
 */

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const EXTENSION = join(REPO, "editors", "vscode");
const out = mkdtempSync(join(tmpdir(), "catga-vsix-"));

afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The entries of a zip archive by name, inflated (the central directory is the source of truth). */
function unzip(zip: Buffer): Map<string, Buffer> {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error("not a zip archive: no end of central directory record");
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const entries = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`bad central directory entry ${i}`);
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.toString("utf8", at + 46, at + 46 + nameLength);
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(dataStart, dataStart + size);
    entries.set(name, method === 8 ? inflateRawSync(data) : Buffer.from(data));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

describe("vscode package", () => {
  it("vscode package — npm run package:vscode builds a vsix with the grammar, configuration and client", async () => {
    await promisify(execFile)("npm", ["run", "package:vscode", "--", "--out", join(out, "catga.vsix")], {
      cwd: REPO,
    });
    const entries = unzip(readFileSync(join(out, "catga.vsix")));
    const names = [...entries.keys()];
    expect(names).toEqual(
      expect.arrayContaining([
        "extension.vsixmanifest",
        "extension/package.json",
        "extension/language-configuration.json",
        "extension/syntaxes/catga.tmLanguage.json",
        "extension/dist/extension.cjs",
      ]),
    );
    // Sources, dependencies and stray archives stay out: the bundle carries the client.
    expect(names.filter((name) => /\/(?:src|node_modules)\/|\.vsix$|\.map$/.test(name))).toEqual([]);

    const manifest = JSON.parse(entries.get("extension/package.json")!.toString("utf8"));
    expect(entries.has(`extension/${manifest.main.replace(/^\.\//, "")}`)).toBe(true);
    expect(entries.get("extension/syntaxes/catga.tmLanguage.json")!.toString("utf8")).toBe(
      readFileSync(join(EXTENSION, "syntaxes", "catga.tmLanguage.json"), "utf8"),
    );
    // The bundle is CommonJS that exports activate and deactivate, with vscode left to the host.
    const bundle = entries.get("extension/dist/extension.cjs")!.toString("utf8");
    expect(bundle).toMatch(/require\("vscode"\)/);
    expect(bundle).toMatch(/module\.exports\s*=\s*\{\s*activate\s*,\s*deactivate\s*\}|activate:\(\)=>/);
    expect(bundle).toContain("lsp");
  }, 180_000);
});
