import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../compiler/cli/catgac.js";

/** Runs catgac in-process and captures what it prints. */
async function catgac(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t), color: false });
  return { code, out, err };
}

const BIN = fileURLToPath(new URL("../../compiler/cli/bin.ts", import.meta.url));
const TSX = import.meta.resolve("tsx");

/**
 * Runs catgac as a process in `cwd` (from the TypeScript source, as bin/catgac.js runs dist/): for
 * git:REF:PATH, which reads the repository of the current folder, and to prove that no input ends in
 * a stack trace.
 */
function proc(cwd: string, ...argv: string[]): { code: number | null; out: string; err: string } {
  const script = `import { runCatgac } from ${JSON.stringify(BIN)}; runCatgac(process.argv.slice(1));`;
  const r = spawnSync(process.execPath, ["--import", TSX, "--input-type=module", "-e", script, ...argv], {
    cwd,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const V1 = `topology t

type Item { sku: string, qty: int }

command Create { id: string, items: Item[] } -> string

event Created { id: string }

service api {
  replicas 2
  handles Create queue "api-workers"
  emits Created
}

service worker {
  on Created broadcast
}
`;

/** V1 plus an optional field: safe. */
const SAFE = V1.replace("event Created { id: string }", "event Created { id: string, note: string? }");
/** V1 with a required field and a renamed queue: one wire-breaking, one behaviour-breaking change. */
const BREAKING = V1.replace(
  "{ id: string, items: Item[] }",
  "{ id: string, items: Item[], by: string }",
).replace('queue "api-workers"', 'queue "api"');
const BROKEN = V1.replace("on Created broadcast", "on Creatd broadcast");

let dir: string;
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "catgac-diff-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("catgac diff", () => {
  it("diff — a file against itself: no changes, exit 0", async () => {
    const a = file("self.catga", V1);
    const r = await catgac("diff", a, a);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${a} → ${a}: no changes\n`);
  });

  it("diff — a safe change is reported as safe, exit 0", async () => {
    const r = await catgac("diff", file("v1.catga", V1), file("safe.catga", SAFE));
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      `${join(dir, "safe.catga")}:7:29: safe D1050: optional field 'note' added to event Created`,
    );
    expect(r.out).toContain("1 change: 0 wire-breaking, 0 behaviour-breaking, 1 safe\n");
  });

  it("diff — a breaking change: file:line:col, code, explanation, source line and fix; exit 1", async () => {
    const r = await catgac("diff", file("v1.catga", V1), file("breaking.catga", BREAKING));
    expect(r.code).toBe(1);
    const path = join(dir, "breaking.catga");
    expect(r.out).toContain(
      `${path}:5:45: wire-breaking D1005: required field 'by: string' added to command Create: old replicas do not send it, so new ones reject their messages\n` +
        "  5 | command Create { id: string, items: Item[], by: string } -> string\n" +
        "    |                                             ^^\n" +
        "  hint: add it as optional ('string?'), and make it required in a later rollout once every writer sends it\n",
    );
    expect(r.out).toContain(`${path}:11:24: behaviour-breaking D1020: queue group of service api renamed`);
    expect(r.out).toContain(`  note: ${join(dir, "v1.catga")}:11:24: was here in the old version\n`);
    expect(r.out).toContain("2 changes: 1 wire-breaking, 1 behaviour-breaking, 0 safe\n");
  });

  it("diff — --allow accepts named rules: still printed, no longer failing", async () => {
    const old = file("v1.catga", V1);
    const next = file("breaking.catga", BREAKING);
    const one = await catgac("diff", "--allow", "D1020", old, next);
    expect(one.code).toBe(1);
    expect(one.out).toContain("behaviour-breaking (allowed) D1020");
    const both = await catgac("diff", "--allow", "D1020,d1005", old, next);
    expect(both.code).toBe(0);
    expect(both.out).toContain("(2 allowed)");
    const unknown = await catgac("diff", "--allow", "D1020,D9999", old, next);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toBe(
      "catgac: --allow: unknown rule D9999; the rules are D1001–D1099 (docs/diff.md)\n",
    );
  });

  it("diff — --format json: one object with the findings, flat and 1-based", async () => {
    const r = await catgac(
      "diff",
      "--format",
      "json",
      file("v1.catga", V1),
      file("breaking.catga", BREAKING),
    );
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as Record<string, unknown> & { findings: Record<string, unknown>[] };
    expect(Object.keys(report)).toEqual(["old", "new", "compared", "breaking", "findings", "diagnostics"]);
    expect(report).toMatchObject({ compared: true, breaking: true, diagnostics: [] });
    expect(report.findings.map((f) => f.code)).toEqual(["D1005", "D1020"]);
    expect(report.findings[0]).toEqual({
      code: "D1005",
      rule: "required-field-added",
      class: "wire",
      breaking: true,
      allowed: false,
      message:
        "required field 'by: string' added to command Create: old replicas do not send it, so new ones reject their messages",
      file: join(dir, "breaking.catga"),
      line: 5,
      column: 45,
      endLine: 5,
      endColumn: 47,
      hint: "add it as optional ('string?'), and make it required in a later rollout once every writer sends it",
    });
    expect(report.findings[1]).toMatchObject({
      code: "D1020",
      class: "behaviour",
      related: [
        { message: "was here in the old version", file: join(dir, "v1.catga"), line: 11, column: 24 },
      ],
    });
    const allowed = await catgac(
      "diff",
      "--format",
      "json",
      "--allow",
      "D1005,D1020",
      join(dir, "v1.catga"),
      join(dir, "breaking.catga"),
    );
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.out)).toMatchObject({
      breaking: false,
      findings: [{ allowed: true }, { allowed: true }],
    });
  });

  it("diff — a broken file gets the checker's diagnostics, never a stack trace; exit 1", async () => {
    const old = file("v1.catga", V1);
    const broken = file("broken.catga", BROKEN);
    const r = proc(dir, "diff", old, broken);
    expect(r.code).toBe(1);
    expect(r.err).toBe("");
    expect(r.out).toContain(`${broken}:16:6: error C2001: unknown event 'Creatd'`);
    expect(r.out).toContain("cannot compare: fix the errors above first\n");
    const json = await catgac("diff", "--format", "json", old, broken);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toMatchObject({
      compared: false,
      breaking: false,
      findings: [],
      diagnostics: [{ code: "C2001", file: broken, line: 16, column: 6 }],
    });
    const binary = await catgac("diff", old, file("binary.catga", "topology t\n\u0000\u00ff"));
    expect(binary.code).toBe(1);
    expect(binary.err).toBe("");
  }, 180_000);

  it("diff — listed in catgac --help, with its own --help; a typo suggests it", async () => {
    expect((await catgac("--help")).out).toContain(
      "  diff OLD NEW             classify the changes between two versions",
    );
    const help = await catgac("diff", "--help");
    expect(help.code).toBe(0);
    expect(help.out).toContain("Usage: catgac diff [--format human|json] [--allow CODE,...] OLD NEW");
    expect((await catgac("dif")).err).toBe(
      "catgac: unknown command 'dif' (did you mean 'diff'?); run 'catgac --help' for the list\n",
    );
  });

  it("diff — usage and I/O errors: one line, exit 2", async () => {
    const old = file("v1.catga", V1);
    const missing = await catgac("diff", old, join(dir, "nope.catga"));
    expect(missing).toMatchObject({ code: 2, out: "" });
    expect(missing.err).toMatch(/^catgac: cannot read '.*nope\.catga': no such file\n$/);
    expect((await catgac("diff", old)).err).toBe(
      "catgac: diff takes two versions: OLD NEW; see 'catgac diff --help'\n",
    );
    expect((await catgac("diff", "--format", "xml", old, old)).code).toBe(2);
    expect((await catgac("diff", "git:HEAD", old)).err).toBe(
      "catgac: 'git:HEAD': expected git:REF:PATH, such as git:HEAD:topology.catga\n",
    );
  });

  it("diff — git:REF:PATH reads committed versions through git show", async () => {
    const repo = mkdtempSync(join(tmpdir(), "catgac-diff-git-"));
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo });
    git("init", "-q");
    writeFileSync(join(repo, "topo.catga"), V1);
    git("add", "topo.catga");
    git("commit", "-qm", "v1");
    writeFileSync(join(repo, "topo.catga"), BREAKING);
    git("commit", "-qam", "v2");
    writeFileSync(join(repo, "topo.catga"), SAFE);
    // git show reads the repository of the current folder, as it does for a user in their checkout.
    // Vitest runs test files in forked processes, where chdir is allowed.
    const cwd = process.cwd();
    process.chdir(repo);
    try {
      const committed = await catgac(
        "diff",
        "--format",
        "json",
        "git:HEAD~1:topo.catga",
        "git:HEAD:topo.catga",
      );
      expect(committed.code).toBe(1);
      const report = JSON.parse(committed.out) as {
        old: string;
        new: string;
        findings: { code: string; file: string }[];
      };
      expect(report.old).toBe("git:HEAD~1:topo.catga");
      expect(report.findings.map((f) => [f.code, f.file])).toEqual([
        ["D1005", "git:HEAD:topo.catga"],
        ["D1020", "git:HEAD:topo.catga"],
      ]);

      // The working copy against the first commit: only the safe change.
      const working = await catgac("diff", "git:HEAD~1:./topo.catga", "topo.catga");
      expect(working.code).toBe(0);
      expect(working.out).toContain("topo.catga:7:29: safe D1050");

      const badRef = await catgac("diff", "git:nope:topo.catga", "topo.catga");
      expect(badRef.code).toBe(2);
      expect(badRef.err).toMatch(/^catgac: cannot read 'git:nope:topo\.catga' with git show: fatal: .*\n$/);
      const badPath = await catgac("diff", "git:HEAD:missing.catga", "topo.catga");
      expect(badPath.code).toBe(2);
      expect(badPath.err).toMatch(
        /^catgac: cannot read 'git:HEAD:missing\.catga' with git show: fatal: .*missing\.catga.*\n$/,
      );
    } finally {
      process.chdir(cwd);
      rmSync(repo, { recursive: true, force: true });
    }
  });
});

describe("catgac build --against", () => {
  it("build — a breaking change against OLD stops the build before anything is written", async () => {
    const out = join(dir, "out-breaking");
    const r = await catgac(
      "build",
      "--out",
      out,
      "--against",
      file("v1.catga", V1),
      file("breaking.catga", BREAKING),
    );
    expect(r.code).toBe(1);
    expect(r.out).toContain("wire-breaking D1005");
    expect(existsSync(out)).toBe(false);
  });

  it("build — safe or allowed changes build, with one line about the diff", async () => {
    const out = join(dir, "out-safe");
    const safe = await catgac(
      "build",
      "--out",
      out,
      "--against",
      file("v1.catga", V1),
      file("safe.catga", SAFE),
    );
    expect(safe.code).toBe(0);
    expect(safe.out).toContain(
      `against ${join(dir, "v1.catga")}: 1 change: 0 wire-breaking, 0 behaviour-breaking, 1 safe\n`,
    );
    expect(readFileSync(join(out, "wiring.json"), "utf8")).toContain('"note"');
    const allowed = await catgac(
      "build",
      "--out",
      join(dir, "out-allowed"),
      "--against",
      join(dir, "v1.catga"),
      "--allow",
      "D1005,D1020",
      file("breaking.catga", BREAKING),
    );
    expect(allowed.code).toBe(0);
    expect((await catgac("build", "--allow", "D1005", join(dir, "v1.catga"))).err).toBe(
      "catgac: --allow needs --against OLD\n",
    );
  });
});
