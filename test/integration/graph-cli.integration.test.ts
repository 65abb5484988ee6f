import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../compiler/cli/catgac.js";

/** Runs catgac in-process and captures what it prints. */
async function catgac(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t), color: false });
  return { code, out, err };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "catgac-graph-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("catgac graph", () => {
  it("graph cli — mermaid to standard output matches the golden, nothing on standard error", async () => {
    const r = await catgac("graph", "--format", "mermaid", "examples/shop/shop.catga");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toBe(readFileSync("test/golden/graph/shop/topology.mmd", "utf8"));
  });

  it("graph cli — --out writes the DOT file and names it on standard error", async () => {
    const out = join(dir, "sub", "shop.dot");
    const r = await catgac("graph", "--format", "dot", "--out", out, "examples/shop/shop.catga");
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    expect(r.err).toBe(`wrote ${out}\n`);
    expect(readFileSync(out, "utf8")).toBe(readFileSync("test/golden/graph/shop/topology.dot", "utf8"));
  });

  it("graph cli — the SVG is the build's topology.svg", async () => {
    const r = await catgac("graph", "examples/shop/shop.catga");
    expect(r.code).toBe(0);
    expect(r.out).toBe(readFileSync("test/golden/build/shop/topology.svg", "utf8"));
  });

  it("graph cli — bad input: diagnostics with file:line:col on standard error, exit 1, no drawing", async () => {
    const bad = join(dir, "bad.catga");
    writeFileSync(bad, "topology t\nservice a { handles Nope }\n");
    const r = await catgac("graph", "--format", "dot", bad);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toContain(`${bad}:2:21: error C2001:`);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it("graph cli — the real executable on a syntax error prints diagnostics, never a stack trace", () => {
    const bad = join(dir, "syntax.catga");
    writeFileSync(bad, "topology t\nservice {{{\n");
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        "import('./compiler/cli/bin.ts').then((m) => m.runCatgac(process.argv.slice(1)))",
        "graph",
        bad,
      ],
      {
        encoding: "utf8",
        timeout: 120_000,
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/syntax\.catga:2:\d+: error C1/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe("");
  });

  it("graph cli — missing file and unknown format exit 2 with one line", async () => {
    const missing = await catgac("graph", join(dir, "nope.catga"));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^catgac: cannot read .*nope\.catga': no such file\n$/);
    const format = await catgac("graph", "--format", "png", "examples/shop/shop.catga");
    expect(format.code).toBe(2);
    expect(format.err).toBe("catgac: unknown format 'png'; use svg, mermaid or dot\n");
  });

  it("graph cli — above 60 services it warns that the drawing is dense", async () => {
    const lines = ["topology big", "event Ping { n: int }"];
    for (let i = 0; i < 61; i++) lines.push(`service s${i} { on Ping }`);
    lines.push("service src { emits Ping }");
    const big = join(dir, "big.catga");
    writeFileSync(big, `${lines.join("\n")}\n`);
    const r = await catgac("graph", "--format", "mermaid", big);
    expect(r.code).toBe(0);
    expect(r.err).toContain("catgac: warning: 62 services (more than 60): the drawing is dense");
    expect(r.out).toContain("svc_s60");
  });
});
