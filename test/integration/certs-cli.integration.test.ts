import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { certs } from "../../tooling/cli/certs.js";

/**
 * `catga certs` on the shop (3 NATS nodes, Redis Sentinel): the files docker-compose.yml mounts,
 * each server certificate signed by the CA and valid for the compose host names; a second run keeps
 * the CA. Needs `openssl` (it fails with the tool's message without it).
 */
const dir = mkdtempSync(join(tmpdir(), "catga-certs-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await certs(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

function openssl(...args: string[]): string {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`;
}

describe("catga certs", () => {
  it("catga certs — writes the CA and the NATS and Redis certificates the shop's compose file mounts", async () => {
    const out = join(dir, "shop");
    const result = await run(["--topology", "examples/shop/shop.catga", "--out", out]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    for (const f of ["ca.crt", "ca.key", "nats.crt", "nats.key", "redis.crt", "redis.key"]) {
      expect(statSync(join(out, f)).isFile()).toBe(true);
    }
    expect(statSync(join(out, "ca.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, "redis.key")).mode & 0o777).toBe(0o644);
    expect(
      openssl("verify", "-CAfile", join(out, "ca.crt"), join(out, "nats.crt"), join(out, "redis.crt")),
    ).toMatch(/nats\.crt: OK[\s\S]*redis\.crt: OK/);
    const nats = openssl("x509", "-in", join(out, "nats.crt"), "-noout", "-ext", "subjectAltName");
    for (const name of ["DNS:nats-0", "DNS:nats-1", "DNS:nats-2", "DNS:localhost", "IP Address:127.0.0.1"]) {
      expect(nats).toContain(name);
    }
    const redis = openssl("x509", "-in", join(out, "redis.crt"), "-noout", "-ext", "subjectAltName");
    for (const name of ["DNS:redis-0", "DNS:redis-2", "DNS:sentinel-0", "DNS:sentinel-2"])
      expect(redis).toContain(name);

    const ca = readFileSync(join(out, "ca.crt"), "utf8");
    expect((await run(["--topology", "examples/shop/shop.catga", "--out", out])).code).toBe(0);
    expect(readFileSync(join(out, "ca.crt"), "utf8")).toBe(ca);
  });

  it("catga certs --for kubernetes — the certificates k8s.yaml's TLS Secrets take, for its pod and Service names", async () => {
    const out = join(dir, "k8s");
    const result = await run(["--topology", "examples/shop/shop.catga", "--for", "kubernetes", "--out", out]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(
      openssl("verify", "-CAfile", join(out, "ca.crt"), join(out, "nats.crt"), join(out, "redis.crt")),
    ).toMatch(/nats\.crt: OK[\s\S]*redis\.crt: OK/);
    const nats = openssl("x509", "-in", join(out, "nats.crt"), "-noout", "-ext", "subjectAltName");
    for (const name of [
      "DNS:shop-nats-0.shop-nats",
      "DNS:shop-nats-2.shop-nats",
      "DNS:shop-nats-client",
      "DNS:localhost",
      "IP Address:127.0.0.1",
    ])
      expect(nats).toContain(name);
    expect(nats).not.toContain("DNS:nats-0,");
    const redis = openssl("x509", "-in", join(out, "redis.crt"), "-noout", "-ext", "subjectAltName");
    for (const name of ["DNS:shop-redis-0.shop-redis", "DNS:shop-redis-sentinel-2.shop-redis-sentinel"])
      expect(redis).toContain(name);
    // Every name the emitted header asks for is in the certificate.
    const built = spawnSync(
      process.execPath,
      ["bin/catgac.js", "build", "examples/shop/shop.catga", "--out", join(dir, "k8s-out")],
      {
        encoding: "utf8",
      },
    );
    expect(built.status, built.stderr).toBe(0);
    const header = readFileSync(join(dir, "k8s-out/k8s.yaml"), "utf8");
    for (const [, file, list] of header.matchAll(
      /# (NATS|Redis) takes TLS: create the Secret \S+ first, a certificate for (.*):/g,
    )) {
      const san = file === "NATS" ? nats : redis;
      for (const name of list!.split(", "))
        expect(san).toMatch(new RegExp(`(DNS|IP Address):${name.replace(/\./g, "\\.")}(,|\n|$)`));
    }
    const wrong = await run(["--topology", "examples/shop/shop.catga", "--for", "swarm"]);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain("--for takes compose or kubernetes");
  });

  it("catga certs — TLS off everywhere: nothing to make; a topology with errors: exit 2", async () => {
    const off = join(dir, "off.catga");
    writeFileSync(
      off,
      "topology t\nnats { tls off }\ncommand Ping {} -> string\nservice api { handles Ping }\n",
    );
    const none = await run(["--topology", off, "--out", join(dir, "off")]);
    expect(none.code).toBe(0);
    expect(none.out).toContain("no certificates needed");
    const bad = join(dir, "bad.catga");
    writeFileSync(bad, 'topology t\nnats { url "nats://x:4222"  tls on }\nservice api { }\n');
    const broken = await run(["--topology", bad]);
    expect(broken.code).toBe(2);
    expect(broken.err).toContain("C3040");
  });
});
