import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

/** Runs the real executable, as a user would: proves there is no stack trace on any input. */
function bin(...argv: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ["bin/catgac.js", ...argv], { encoding: "utf8", timeout: 180_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

let dir: string;
const file = (name: string, content: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

const BROKEN = `topology t
command CreateOrder { id: string } -> string
event OrderCreated { id: string }
service order {
  handles CreateOrder
  emits OrderCreated
}
service notifier {
  on OrderCreatd broadcast
}
`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "catgac-cli-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("catgac check", () => {
  it("cli — the shop example checks clean with exit 0", async () => {
    const r = await catgac("check", "examples/shop/shop.catga");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
  });

  it("cli — human output: location, severity, code, source line, underline, hint", async () => {
    const path = file("broken.catga", BROKEN);
    const r = await catgac("check", path);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${path}:9:6: error C2001:`);
    expect(r.out).toContain("  9 |   on OrderCreatd broadcast\n");
    expect(r.out).toContain("    |      ^^^^^^^^^^^\n");
    expect(r.out).toContain("hint: did you mean 'OrderCreated'?");
    expect(r.out).toMatch(/1 error, \d+ warnings? in 1 file/);
  });

  it("cli — --format json prints the documented array", async () => {
    const path = file("broken-json.catga", BROKEN);
    const r = await catgac("check", "--format", "json", path);
    expect(r.code).toBe(1);
    const parsed = JSON.parse(r.out) as Record<string, unknown>[];
    const unknown = parsed.find((d) => d.code === "C2001");
    expect(unknown).toEqual({
      code: "C2001",
      severity: "error",
      message: expect.any(String),
      file: path,
      line: 9,
      column: 6,
      endLine: 9,
      endColumn: 17,
      hint: "did you mean 'OrderCreated'?",
    });
    for (const d of parsed) {
      expect(Object.keys(d).sort()).toEqual(
        expect.arrayContaining([
          "code",
          "column",
          "endColumn",
          "endLine",
          "file",
          "line",
          "message",
          "severity",
        ]),
      );
    }
  });

  it("cli — json output of a clean file is an empty array", async () => {
    const r = await catgac("check", "--format", "json", "examples/shop/shop.catga");
    expect(JSON.parse(r.out)).toEqual([]);
    expect(r.code).toBe(0);
  });

  it("cli — warnings alone exit 0", async () => {
    const path = file("warn.catga", "topology t\ntype Unused { a: int }\n");
    const r = await catgac("check", "--format", "json", path);
    const parsed = JSON.parse(r.out) as { severity: string }[];
    expect(parsed.length).toBeGreaterThan(0);
    expect(parsed.every((d) => d.severity === "warning")).toBe(true);
    expect(r.code).toBe(0);
  });

  it("cli — several files are checked in one run", async () => {
    const a = file("a.catga", "topology a\nservice s { replicas 0 }\n");
    const b = file("b.catga", "topology b\nevent E { x: Strng }\n");
    const r = await catgac("check", "--format", "json", a, b);
    const files = new Set((JSON.parse(r.out) as { file: string }[]).map((d) => d.file));
    expect(files).toEqual(new Set([a, b]));
    expect(r.code).toBe(1);
  });

  it("cli — a missing file is an I/O error: exit 2 and one line on stderr", async () => {
    const r = await catgac("check", join(dir, "nope.catga"));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^catgac: cannot read '.*nope\.catga': no such file\n$/);
  });

  it("cli — usage errors exit 2", async () => {
    expect((await catgac("check")).code).toBe(2);
    expect((await catgac("check", "--format", "xml", "x.catga")).code).toBe(2);
    expect((await catgac("check", "--bogus", "x.catga")).code).toBe(2);
    expect((await catgac("frobnicate")).code).toBe(2);
  });

  it("cli — --help on every command", async () => {
    for (const argv of [["--help"], ["check", "--help"], ["fmt", "--help"]]) {
      const r = await catgac(...argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Usage: catgac/);
    }
  });
});

describe("catgac fmt", () => {
  const messy =
    "topology   t\n\n\n\ncommand C {a:string,b:int}->string // keep me\nservice s {handles C\n}\n";

  it("cli — rewrites a file in place, then finds nothing to do", async () => {
    const path = file("messy.catga", messy);
    const first = await catgac("fmt", path);
    expect(first.code).toBe(0);
    expect(first.out).toBe(`formatted ${path}\n`);
    const formatted = readFileSync(path, "utf8");
    expect(formatted).not.toBe(messy);
    expect(formatted).toContain("// keep me");
    const second = await catgac("fmt", path);
    expect(second.out).toBe("");
    expect(readFileSync(path, "utf8")).toBe(formatted);
  });

  it("cli — --check reports and changes nothing", async () => {
    const path = file("messy-check.catga", messy);
    const r = await catgac("fmt", "--check", path);
    expect(r.code).toBe(1);
    expect(r.out).toBe(`${path}: not formatted\n`);
    expect(readFileSync(path, "utf8")).toBe(messy);
    expect((await catgac("fmt", "--check", "examples/shop/shop.catga")).code).toBe(0);
  });

  it("cli — never rewrites a file with syntax errors", async () => {
    const broken = "topology t\ncommand C { a: }\n";
    const path = file("broken-fmt.catga", broken);
    const r = await catgac("fmt", path);
    expect(r.code).toBe(1);
    expect(r.out).toContain("C1004");
    expect(readFileSync(path, "utf8")).toBe(broken);
  });
});

describe("catgac executable on bad input", () => {
  beforeAll(() => {
    if (!existsSync("dist/compiler/cli/bin.js"))
      throw new Error("run `npm run build` first: dist/ is missing");
  });

  const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);

  it("cli — empty file, binary bytes, non-UTF-8, unterminated comment: diagnostics, exit 1", () => {
    const cases = [
      file("empty.catga", ""),
      file("binary.catga", new Uint8Array([0, 1, 2, 0xff, 0xfe, 0, 0x80])),
      file("latin1.catga", Buffer.from("topology caf\xe9\n", "latin1")),
      file("comment.catga", "topology t\n/* never closed\nservice s {}\n"),
      file("string.catga", 'topology t\nservice s { image "never closed\n}\n'),
      file("deep.catga", `topology t\n${"{".repeat(100_000)}${"[".repeat(100_000)}`),
    ];
    for (const path of cases) {
      const r = bin("check", path);
      expect(r.code, path).toBe(1);
      expect(r.out, path).toMatch(/error C\d{4}/);
      noStack(r.out + r.err);
    }
  });

  it("cli — a 10 MB file gets diagnostics, not a crash", () => {
    const line = "service s { replicas 1 handles X }\n";
    const path = file("big.catga", `topology t\n${line.repeat(Math.ceil((10 * 1024 * 1024) / line.length))}`);
    const r = bin("check", "--format", "json", path);
    expect(r.code).toBe(1);
    const found = JSON.parse(r.out) as { code: string; line: number }[];
    // Capped: the first findings in order, then one C1008 saying how many were left out.
    expect(found.length).toBe(1001);
    expect(found[0]).toMatchObject({ code: "C2002", line: 2 });
    expect(found.at(-1)?.code).toBe("C1008");
    noStack(r.err);
  }, 180_000);

  it("cli — the README's 30-second example prints what the README shows", () => {
    const readme = readFileSync("README.md", "utf8");
    const section = readme.slice(readme.indexOf("## In 30 seconds"));
    const example = /```catga\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
    const shown =
      /```console\n[\s\S]*?&& npx catgac check shop\.catga\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
    expect(example).toContain("on OrderCreated broadcast");
    const path = file("shop.catga", example);
    expect(bin("check", path).code).toBe(0);
    writeFileSync(path, example.replace("on OrderCreated", "on OrderCreatd"));
    const r = bin("check", path);
    expect(r.code).toBe(1);
    expect(r.out.split(path).join("shop.catga")).toBe(shown);
  });

  it("cli — build writes every output, then rewrites nothing on a second run", async () => {
    const out = join(dir, "build-out");
    const first = await catgac("build", "--out", out, "examples/shop/shop.catga");
    expect(first.code).toBe(0);
    for (const path of ["client.ts", "wiring.json", "docker-compose.yml", "k8s.yaml", "nats/nats.conf"]) {
      expect(existsSync(join(out, path)), path).toBe(true);
      expect(first.out).toContain(`wrote ${join(out, path)}\n`);
    }
    expect(first.out).toMatch(/built shop: \d+ files in .* \((\d+) changed\)/);
    const second = await catgac("build", "--out", out, "examples/shop/shop.catga");
    expect(second.code).toBe(0);
    expect(second.out).not.toContain("wrote ");
    expect(second.out).toContain("(0 changed)");
  });

  it("cli — build with errors prints them and writes nothing", async () => {
    const out = join(dir, "broken-out");
    const r = await catgac("build", "--out", out, file("broken.catga", BROKEN));
    expect(r.code).toBe(1);
    expect(r.out).toContain("C2001");
    expect(existsSync(out)).toBe(false);
  });

  it("cli — build into a path blocked by a file exits 2 with one line, no stack", () => {
    const blocker = file("blocker", "not a folder");
    const r = bin("build", "--out", join(blocker, "sub"), "examples/shop/shop.catga");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^catgac: cannot (create|write) '.*blocker.*': /);
    noStack(r.err);
  });

  it("cli — build --cert-manager-issuer adds cert-manager Certificates for the NATS and Redis Secrets; a bad value is a usage error", async () => {
    const out = join(dir, "issuer-out");
    const r = await catgac(
      "build",
      "--out",
      out,
      "--cert-manager-issuer",
      "catga-ca:ClusterIssuer",
      "examples/shop/shop.catga",
    );
    expect(r.code).toBe(0);
    const k8s = readFileSync(join(out, "k8s.yaml"), "utf8");
    // One for the NATS Secret, one for the Redis Secret (the shop runs both on TLS).
    expect(k8s.match(/^kind: Certificate$/gm)).toHaveLength(2);
    expect(k8s).toContain("secretName: shop-nats-tls");
    expect(k8s).toContain("secretName: shop-redis-tls");
    expect(k8s).toMatch(/issuerRef:\n\s+group: cert-manager.io\n\s+kind: ClusterIssuer\n\s+name: catga-ca/);
    expect(existsSync(join(out, "nats/nats-tls.conf"))).toBe(true);
    const bad = await catgac(
      "build",
      "--out",
      out,
      "--cert-manager-issuer",
      "Bad Name",
      "examples/shop/shop.catga",
    );
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--cert-manager-issuer");
  });

  it("cli — build takes exactly one file", async () => {
    const r = await catgac("build", "examples/shop/shop.catga", "examples/pipeline/pipeline.catga");
    expect(r.code).toBe(2);
    expect(r.err).toContain("build takes one FILE");
  });
});
