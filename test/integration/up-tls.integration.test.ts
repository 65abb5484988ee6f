import { cpSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import { join } from "node:path";
import { connect as connectTls } from "node:tls";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { askAs, redisAdminLogin } from "../../tooling/local/infra.js";
import type { LocalState } from "../../tooling/local/state.js";
import type { StatusReport } from "../../tooling/local/status.js";
import { connectUpfix } from "../fixtures/up/generated/client.js";
import { tempDir } from "../harness/_process.js";
import { type CliRun, runCatgaCli, statusProbe } from "../harness/catga.js";

/**
 * `catga up --tls` end to end with real servers: a small variant of the fixture topology
 * test/fixtures/up/upfix.catga (two NATS nodes, so the routes run TLS too; Redis with a primary, one
 * two replicas and three sentinels; one worker, one listener, a leader-mode boss with one standby), its
 * handler modules and generated definers copied beside it, as the durable test of
 * up.integration.test.ts does (the replica counts change no handler type).
 */
const ROOT = new URL("../..", import.meta.url).pathname;
const FIXTURE = join(ROOT, "test/fixtures/up");

function catga(cwd: string, args: readonly string[]): Promise<CliRun> {
  return runCatgaCli(cwd, args, { TSX_TSCONFIG_PATH: join(cwd, "tsconfig.paths.json") });
}

/**
 * Whether a TLS handshake with the server on `port` succeeds trusting only `ca`, for 127.0.0.1; a
 * plain port fails it (no ServerHello), as does a certificate of another CA.
 */
function tlsHandshake(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTls({ host: "127.0.0.1", port, ca: readFileSync(ca), timeout: 5000 });
    socket.once("secureConnect", () => {
      resolve(socket.authorized);
      socket.destroy();
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      resolve(false);
      socket.destroy();
    });
  });
}

/**
 * A plain-text NATS session on `port`: CONNECT with the user and password, then PING; resolves with
 * everything the server answered and whether it closed the connection within 5 s.
 */
function plainNatsSession(
  port: number,
  user: string,
  pass: string,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, "127.0.0.1");
    let text = "";
    let sent = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, 5000);
    socket.on("data", (d: Buffer) => {
      text += d.toString();
      if (!sent && text.includes("\r\n")) {
        sent = true;
        socket.write(`CONNECT ${JSON.stringify({ verbose: false, user, pass })}\r\nPING\r\n`);
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: !timedOut });
    });
  });
}

/** Running, not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("catga up --tls", () => {
  let dir: ReturnType<typeof tempDir>;
  let state: () => LocalState;
  const { statusUntil } = statusProbe((args) => catga(dir.path, args), 60_000);
  const boss = (s: StatusReport) => s.services.find((x) => x.name === "boss")!;

  beforeAll(() => {
    dir = tempDir("up-tls");
    writeFileSync(
      join(dir.path, "tsconfig.paths.json"),
      JSON.stringify({ compilerOptions: { paths: { "@catga/runtime": [join(ROOT, "runtime/index.ts")] } } }),
    );
    cpSync(join(FIXTURE, "services"), join(dir.path, "services"), { recursive: true });
    cpSync(join(FIXTURE, "generated"), join(dir.path, "generated"), { recursive: true });
    writeFileSync(join(dir.path, "package.json"), JSON.stringify({ type: "module", private: true }));
    symlinkSync(join(ROOT, "node_modules"), join(dir.path, "node_modules"));
    const source = readFileSync(join(FIXTURE, "upfix.catga"), "utf8")
      .replace("nats { nodes 3 }", "nats { nodes 2 }")
      .replace("replicas 5", "replicas 1")
      .replace("replicas 2\n", "replicas 1\n")
      .replace("replicas 3", "replicas 2");
    expect(source).toContain("nats { nodes 2 }");
    writeFileSync(join(dir.path, "upfix.catga"), source);
    state = () => JSON.parse(readFileSync(join(dir.path, ".catga/state.json"), "utf8")) as LocalState;
  });

  afterAll(async () => {
    if (existsSync(join(dir.path, ".catga/state.json"))) await catga(dir.path, ["down"]);
    dir.remove();
  });

  it("up --tls --detach — makes a CA and server certificate in .catga/tls/, records the CA, prints how to connect", async () => {
    const r = await catga(dir.path, ["up", "upfix.catga", "--tls", "--detach", "--out", "build"]);
    expect(r.code, r.stderr).toBe(0);
    const s = state();
    const tlsDir = join(dir.path, ".catga/tls");
    expect(s.tls).toEqual({
      ca: join(tlsDir, "ca.crt"),
      cert: join(tlsDir, "server.crt"),
      key: join(tlsDir, "server.key"),
    });
    expect(statSync(s.tls!.key).mode & 0o777).toBe(0o600);
    // The CA signed once and is gone: nothing else can be signed with it.
    expect(existsSync(join(tlsDir, "ca.key"))).toBe(false);
    expect(r.stdout).toContain(`tls: { caFile: ${JSON.stringify(s.tls!.ca)} }`);
    expect(s.redis?.env.CATGA_REDIS_TLS_CA).toBe(s.tls!.ca);
    expect(s.nats.servers).toHaveLength(2);
    expect(s.instances.map((i) => i.id).sort()).toEqual(["boss-0", "boss-1", "listener-0", "worker-0"]);
  }, 240_000);

  it("status — works over TLS: a boss leader, 2 NATS routes, every Redis node and sentinel answers", async () => {
    const s = await statusUntil("a boss leader and every instance heard", (r) => {
      return boss(r).leader !== null && r.services.every((x) => x.instances.length === x.replicas);
    });
    expect(boss(s).instances.filter((i) => i.role === "standby")).toHaveLength(1);
    expect(s.nats.servers.map((x) => x.routes)).toEqual([1, 1]);
    expect(s.redis?.nodes.map((n) => n.role).sort()).toEqual([
      "primary",
      "replica",
      "replica",
      "sentinel",
      "sentinel",
      "sentinel",
    ]);
  }, 120_000);

  it("NATS and Redis refuse plain connections; with the state's CA they answer", async () => {
    const s = state();
    // The right user and password in plain text: the server (waiting for a TLS handshake) hangs up
    // with no PONG: its INFO line is all it said.
    const session = await plainNatsSession(s.nats.servers[0]!.port, "client", s.nats.users!.client!);
    expect(session.text).toMatch(/^INFO [^\r\n]*\r\n$/);
    expect(session.closed).toBe(true);
    // A NATS client upgrades to TLS by itself; without the CA it cannot verify the server.
    await expect(
      connect({
        servers: s.nats.urls[0]!,
        user: "client",
        pass: s.nats.users!.client!,
        reconnect: false,
        timeout: 5000,
      }),
    ).rejects.toThrow("unable to verify the first certificate");
    // Routes too: every cluster port speaks TLS at once (a client port first sends its INFO in plain
    // text, then the handshake follows, as above), with a certificate of the CA.
    for (const server of s.nats.servers) {
      expect(await tlsHandshake(server.clusterPort, s.tls!.ca)).toBe(true);
      // The monitoring port stays plain HTTP: no handshake there.
      expect(await tlsHandshake(server.monitorPort, s.tls!.ca)).toBe(false);
    }
    const primary = s.redis!.nodes.find((n) => n.kind === "primary")!;
    const admin = redisAdminLogin(s.redis)!;
    expect(admin.tlsCa).toBe(s.tls!.ca);
    const { tlsCa: _ca, ...plain } = admin;
    await expect(askAs(plain, `127.0.0.1:${primary.port}`, "PING")).rejects.toThrow();
    expect(await askAs(admin, `127.0.0.1:${primary.port}`, "PING")).toBe("PONG");
    // The generated client without a bus reads .catga/state.json, CA included (runtime/connect.ts).
    const client = await connectUpfix({ cwd: dir.path });
    try {
      const leader = boss(await statusUntil("a leader", (r) => boss(r).leader !== null)).leader!;
      const lead = await client.lead({ n: 1 });
      expect(lead.instance).toBe(leader.instance);
      expect((await client.work({ n: 2 })).instance).toBe("worker-0");
    } finally {
      await client.bus.close();
    }
  }, 120_000);

  it("kill, scale, sagas — over TLS: a standby takes over from a killed leader, a scaled-up worker starts with the CA, sagas reads Redis", async () => {
    const before = boss(await statusUntil("a leader", (r) => boss(r).leader !== null)).leader!;
    const killed = await catga(dir.path, ["kill", before.instance]);
    expect(killed.code, killed.stderr).toBe(0);
    const after = await statusUntil("a new leader", (r) => {
      const leader = boss(r).leader;
      return leader !== null && leader.instance !== before.instance;
    });
    expect(BigInt(boss(after).leader!.fencingToken)).toBeGreaterThan(BigInt(before.fencingToken));
    const scaled = await catga(dir.path, ["scale", "worker=2"]);
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(scaled.stdout).toContain("started worker-1");
    await statusUntil("worker-1 heard", (r) =>
      r.services.some((x) => x.name === "worker" && x.instances.some((i) => i.id === "worker-1")),
    );
    // `catga sagas` reads the saga records from the state's Redis as catga-ops, over TLS.
    const sagas = await runCatgaCli(dir.path, ["sagas", "--json"], {
      TSX_TSCONFIG_PATH: join(dir.path, "tsconfig.paths.json"),
      CATGA_WIRING: "",
      CATGA_REDIS_URL: "",
      CATGA_REDIS_MODE: "",
    });
    expect(sagas.stderr).toBe("");
    expect(sagas.code).toBe(0);
    expect(JSON.parse(sagas.stdout)).toHaveProperty("counts");
  }, 180_000);

  it("down — stops every process and removes .catga/", async () => {
    const s = state();
    const pids = [
      ...s.instances.map((i) => i.pid),
      ...s.nats.servers.map((x) => x.pid),
      ...s.redis!.nodes.map((n) => n.pid),
    ];
    expect(pids.filter(running)).toHaveLength(pids.length);
    const r = await catga(dir.path, ["down"]);
    expect(r.code, r.stderr).toBe(0);
    expect(pids.filter(running)).toEqual([]);
    expect(existsSync(join(dir.path, ".catga"))).toBe(false);
  }, 120_000);
});
