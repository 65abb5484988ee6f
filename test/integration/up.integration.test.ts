import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, connectNats } from "../../runtime/bus.js";
import { createRedis, parseRedisConfig } from "../../runtime/coordination/redis-connection.js";
import type { LocalState } from "../../tooling/local/state.js";
import type { StatusReport } from "../../tooling/local/status.js";
import { connectUpfix, type UpfixClient } from "../fixtures/up/generated/client.js";
import { tempDir, waitFor } from "../harness/_process.js";
import { type CliRun, runCatgaCli, statusProbe } from "../harness/catga.js";

/**
 * `catga up` end to end with real servers and real processes, on the fixture topology
 * test/fixtures/up/upfix.catga (the shape of the shop example: 3 NATS nodes, Redis with sentinels,
 * five p2p workers, broadcast listeners, a leader with two standbys).
 *
 * The CLI runs from source (`node --import tsx tooling/cli/bin-entry.ts`), so it builds with the
 * compiler's source and starts every `catga run` from source too. The fixture's handler modules import the generated definers
 * from test/fixtures/up/generated/ (checked in, and checked below to equal a fresh build), which
 * import "@catga/runtime"; a tsconfig with `paths` given to tsx (TSX_TSCONFIG_PATH) maps that to
 * runtime/index.ts, so no `npm run build` is needed and one copy of the runtime runs.
 */
const ROOT = new URL("../..", import.meta.url).pathname;
const FIXTURE = join(ROOT, "test/fixtures/up");

function catga(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCatgaCli(cwd, args, { TSX_TSCONFIG_PATH: join(cwd, "tsconfig.paths.json"), ...env });
}

/** Running, not a zombie: an exited process whose parent has not reaped it yet runs nothing. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function paths(cwd: string): void {
  writeFileSync(
    join(cwd, "tsconfig.paths.json"),
    JSON.stringify({ compilerOptions: { paths: { "@catga/runtime": [join(ROOT, "runtime/index.ts")] } } }),
  );
}

describe("catga up with real servers", () => {
  let dir: ReturnType<typeof tempDir>;
  let bus: Bus | undefined;
  let client: UpfixClient;
  let state: () => LocalState;

  const { status, statusUntil } = statusProbe((args) => catga(dir.path, args), 60_000);

  const service = (s: StatusReport, name: string) => s.services.find((x) => x.name === name)!;

  beforeAll(async () => {
    dir = tempDir("up");
    paths(dir.path);
    state = () => JSON.parse(readFileSync(join(dir.path, ".catga/state.json"), "utf8")) as LocalState;
  });

  afterAll(async () => {
    await bus?.close();
    if (existsSync(join(dir.path, ".catga/state.json"))) await catga(dir.path, ["down"]);
    dir.remove();
  });

  it("up — --detach builds, starts 3 NATS, Redis sentinel and 10 instances, exits 0", async () => {
    const r = await catga(dir.path, ["up", join(FIXTURE, "upfix.catga"), "--detach", "--out", "build"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("upfix is running");
    const s = state();
    expect(s.nats.servers).toHaveLength(3);
    expect(s.redis?.nodes.map((n) => n.kind).sort()).toEqual([
      "primary",
      "replica",
      "replica",
      "sentinel",
      "sentinel",
      "sentinel",
    ]);
    expect(s.instances.map((i) => i.id).sort()).toEqual(
      [
        "boss-0",
        "boss-1",
        "boss-2",
        "listener-0",
        "listener-1",
        "worker-0",
        "worker-1",
        "worker-2",
        "worker-3",
        "worker-4",
      ].sort(),
    );
    for (const file of ["client.ts", "messages.ts", "services.ts"]) {
      // The handler modules are typed against the checked-in copy: it must be what catgac emits now.
      expect(
        readFileSync(join(FIXTURE, "generated", file), "utf8"),
        `test/fixtures/up/generated/${file} is stale: copy it from the output of catgac build test/fixtures/up/upfix.catga`,
      ).toBe(readFileSync(join(dir.path, "build", file), "utf8"));
    }
    // NATS runs the build's nats.conf: a client script logs in as `client`, as `up` prints.
    const password = s.nats.users?.client;
    expect(password).toMatch(/^p[0-9a-f]{36}$/);
    expect(r.stdout).toContain(
      `connectNats({ servers: "${s.nats.urls.join(",")}", user: "client", password: "${password}", inboxPrefix: "_INBOX.upfix.client" })`,
    );
    expect(r.stdout).toContain("await connectUpfix() (reads .catga/state.json)");
    expect(Object.keys(s.nats.users ?? {}).sort()).toEqual(["boss", "client", "listener", "ops", "worker"]);
    // The state holds passwords: its owner only may read it.
    expect(statSync(join(dir.path, ".catga/state.json")).mode & 0o777).toBe(0o600);
    bus = await connectNats({
      servers: s.nats.urls,
      user: "client",
      password,
      inboxPrefix: "_INBOX.upfix.client",
    });
    client = connectUpfix(bus);
  }, 240_000);

  it("up — NATS users: a worker's user may not send Lead, forge the boss's heartbeat or hear Lead; no credentials, no connection", async () => {
    const s = state();
    // What ops hears under the control prefix: a forged heartbeat must not arrive.
    const ops = await connect({ servers: s.nats.urls, user: "ops", pass: s.nats.users!.ops! });
    const forged: string[] = [];
    ops.subscribe("upfix._catga.heartbeat.boss", {
      callback: (_err, msg) => {
        if (msg.string().includes("forged")) forged.push(msg.subject);
      },
    });
    await ops.flush();
    const worker = await connect({ servers: s.nats.urls, user: "worker", pass: s.nats.users!.worker! });
    const errors: string[] = [];
    void (async () => {
      for await (const st of worker.status()) {
        const error = (st as { error?: Error }).error;
        if (st.type === "error" && error !== undefined) errors.push(error.message);
      }
    })();
    try {
      // Allowed: its own heartbeat subject (the control that the login itself works).
      worker.publish("upfix._catga.heartbeat.worker", "{}");
      worker.publish("upfix.cmd.Lead", JSON.stringify({ n: 1 }));
      worker.publish("upfix._catga.heartbeat.boss", JSON.stringify({ forged: true }));
      const subError = new Promise<string>((resolve) =>
        worker.subscribe("upfix.cmd.Lead", {
          callback: (err) => {
            if (err) resolve(err.message);
          },
        }),
      );
      await worker.flush();
      expect(await subError).toBe('Permissions Violation for Subscription to "upfix.cmd.Lead"');
      await waitFor("the worker's refusals", async () => errors.length >= 3, { timeoutMs: 10_000 });
      expect(errors.filter((e) => e.startsWith("Permissions Violation for Publish")).sort()).toEqual([
        'Permissions Violation for Publish to "upfix._catga.heartbeat.boss"',
        'Permissions Violation for Publish to "upfix.cmd.Lead"',
      ]);
      await ops.flush();
      expect(forged).toEqual([]);
    } finally {
      await worker.close();
      await ops.close();
    }
    await expect(connect({ servers: s.nats.urls, reconnect: false })).rejects.toThrow(
      "Authorization Violation",
    );
    await expect(
      connect({ servers: s.nats.urls, user: "worker", pass: "wrong", reconnect: false }),
    ).rejects.toThrow("Authorization Violation");
  }, 60_000);

  it("up — Redis ACL: only the boss (leader mode) has a Redis user; it reads its own keys, NOPERM elsewhere; no credentials, no access", async () => {
    const s = state();
    const users = s.redis!.users!;
    // The emitted ACL's users, each with a random password: the boss is the only Redis-using service.
    expect(Object.keys(users).sort()).toEqual([
      "CATGA_REDIS_ADMIN_PASSWORD",
      "CATGA_REDIS_OPS_PASSWORD",
      "CATGA_REDIS_PASSWORD_BOSS",
      "CATGA_REDIS_REPLICA_PASSWORD",
      "CATGA_REDIS_SENTINEL_CLIENT_PASSWORD",
      "CATGA_REDIS_SENTINEL_PEER_PASSWORD",
    ]);
    for (const file of [".catga/redis/users.acl", ".catga/redis/auth.conf"])
      expect(statSync(join(dir.path, file)).mode & 0o777).toBe(0o600);
    const boss = createRedis(
      parseRedisConfig({
        ...s.redis!.env,
        CATGA_REDIS_USER: "boss",
        CATGA_REDIS_PASSWORD: users.CATGA_REDIS_PASSWORD_BOSS,
        CATGA_REDIS_SENTINEL_USER: "catga-client",
        CATGA_REDIS_SENTINEL_PASSWORD: users.CATGA_REDIS_SENTINEL_CLIENT_PASSWORD,
      }),
    );
    const primary = s.redis!.nodes.find((n) => n.kind === "primary")!;
    const anonymous = new Redis({ host: "127.0.0.1", port: primary.port, enableReadyCheck: false });
    anonymous.on("error", () => {});
    try {
      await waitFor("the boss's Redis client", async () => boss.status === "ready", { timeoutMs: 15_000 });
      // The boss's instances lead under this user: its term counter exists. The first election may
      // still be under way when the client is ready (a loaded machine: CI run of 2026-12-03 07:45).
      await waitFor(
        "the boss's term counter",
        async () => Number(await boss.get("{catga:upfix:boss}:token")) > 0,
        {
          timeoutMs: 15_000,
        },
      );
      expect(Number(await boss.get("{catga:upfix:boss}:token"))).toBeGreaterThan(0);
      await expect(boss.get("{catga:upfix:worker}:x")).rejects.toThrow(/NOPERM/);
      await expect(anonymous.get("{catga:upfix:boss}:token")).rejects.toThrow(/NOAUTH/);
    } finally {
      boss.disconnect();
      anonymous.disconnect();
    }
  }, 60_000);

  it("status — --json: 5 peers, 1 leader + 2 standbys, 3 NATS servers with 2 routes each, sentinel Redis", async () => {
    const s = await statusUntil("every instance heard and a leader", (r) => {
      const boss = service(r, "boss");
      return (
        service(r, "worker").instances.length === 5 && boss.leader !== null && boss.instances.length === 3
      );
    });
    const worker = service(s, "worker");
    expect(worker).toMatchObject({ mode: "p2p", replicas: 5, leader: null });
    expect(worker.instances.map((i) => i.role)).toEqual(Array(5).fill("peer"));
    for (const i of worker.instances) {
      expect(i.pid).toBe(state().instances.find((x) => x.id === i.id)?.pid);
      expect(i.lastSeenMs).toBeLessThan(5000);
    }
    const boss = service(s, "boss");
    expect(boss.mode).toBe("leader");
    expect(boss.instances.filter((i) => i.role === "leader").map((i) => i.id)).toEqual([
      boss.leader!.instance,
    ]);
    expect(boss.instances.filter((i) => i.role === "standby")).toHaveLength(2);
    expect(BigInt(boss.leader!.fencingToken)).toBeGreaterThan(0n);
    expect(service(s, "listener").instances.map((i) => i.role)).toEqual(["peer", "peer"]);
    expect(s.nats.servers).toHaveLength(3);
    expect(s.nats.servers.map((x) => x.routes)).toEqual([2, 2, 2]);
    expect(s.redis?.mode).toBe("sentinel");
    expect(s.redis?.nodes.map((n) => n.role).sort()).toEqual([
      "primary",
      "replica",
      "replica",
      "sentinel",
      "sentinel",
      "sentinel",
    ]);
  }, 120_000);

  it("up — traffic through the generated client spreads over the 5 workers; broadcasts reach every listener", async () => {
    const replies = await Promise.all(Array.from({ length: 300 }, (_, n) => client.work({ n })));
    expect(new Set(replies.map((r) => r.instance))).toEqual(
      new Set(["worker-0", "worker-1", "worker-2", "worker-3", "worker-4"]),
    );
    const s = await statusUntil("the heartbeats to count the work", (r) => {
      const handled = service(r, "worker").instances.reduce((sum, i) => sum + i.handled, 0);
      return handled >= 300 && service(r, "listener").instances.every((i) => i.handled >= 300);
    });
    expect(service(s, "listener").instances.map((i) => i.handled)).toEqual([300, 300]);
    const lead = await client.lead({ n: 1 });
    expect(lead.instance).toBe(service(s, "boss").leader!.instance);
    expect(lead.token).toBe(service(s, "boss").leader!.fencingToken);
  }, 120_000);

  it("kill — SIGKILL of the leader: a standby leads with a higher fencing token", async () => {
    const before = service(await status(), "boss").leader!;
    const pid = state().instances.find((i) => i.id === before.instance)!.pid;
    const r = await catga(dir.path, ["kill", before.instance]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`killed ${before.instance}`);
    expect(running(pid)).toBe(false);
    expect(state().instances.some((i) => i.id === before.instance)).toBe(false);
    const after = await statusUntil("a new leader", (s) => {
      const leader = service(s, "boss").leader;
      return leader !== null && leader.instance !== before.instance;
    });
    const leader = service(after, "boss").leader!;
    expect(BigInt(leader.fencingToken)).toBeGreaterThan(BigInt(before.fencingToken));
    expect(service(after, "boss").instances.map((i) => i.id)).not.toContain(before.instance);
    const lead = await client.lead({ n: 2 });
    expect(lead).toEqual({ instance: leader.instance, token: leader.fencingToken });
  }, 120_000);

  it("scale — worker=7 starts worker-5 and worker-6, which take load", async () => {
    const r = await catga(dir.path, ["scale", "worker=7"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("started worker-5, worker-6");
    await statusUntil("7 workers", (s) => service(s, "worker").instances.length === 7);
    const replies = await Promise.all(Array.from({ length: 700 }, (_, n) => client.work({ n })));
    const served = new Set(replies.map((x) => x.instance));
    expect(served).toContain("worker-5");
    expect(served).toContain("worker-6");
    const s = await statusUntil("worker-5 and worker-6 to report handled work", (x) =>
      service(x, "worker")
        .instances.filter((i) => i.id === "worker-5" || i.id === "worker-6")
        .every((i) => i.handled > 0),
    );
    expect(service(s, "worker").replicas).toBe(7);
  }, 180_000);

  it("down — drains and stops every process of the cluster and removes .catga/", async () => {
    const s = state();
    const pids = [
      ...s.instances.map((i) => i.pid),
      ...s.nats.servers.map((x) => x.pid),
      ...s.redis!.nodes.map((n) => n.pid),
    ];
    expect(pids.filter(running)).toHaveLength(pids.length);
    await bus?.close();
    bus = undefined;
    const r = await catga(dir.path, ["down"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("none left");
    expect(pids.filter(running)).toEqual([]);
    expect(existsSync(join(dir.path, ".catga"))).toBe(false);
    const again = await catga(dir.path, ["status"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("no local cluster");
  }, 120_000);
});

describe("catga up with one NATS node and a durable event", () => {
  it("up — the emitted config runs unclustered with JetStream in .catga/, under the users; durable broadcasts arrive; status and the live view work; Ctrl-C stops all", async () => {
    const dir = tempDir("up-durable");
    let bus: Bus | undefined;
    let up: ChildProcess | undefined;
    try {
      paths(dir.path);
      // The fixture with one NATS node, standalone Redis and Worked durable: the handler modules
      // and their generated definers are the fixture's (a durable event changes no handler type).
      cpSync(join(FIXTURE, "services"), join(dir.path, "services"), { recursive: true });
      cpSync(join(FIXTURE, "generated"), join(dir.path, "generated"), { recursive: true });
      // Outside the repository: an ES module package (as the repository is) that finds its
      // dependencies (zod, for the generated schemas) in the repository's node_modules.
      writeFileSync(join(dir.path, "package.json"), JSON.stringify({ type: "module", private: true }));
      symlinkSync(join(ROOT, "node_modules"), join(dir.path, "node_modules"));
      const source = readFileSync(join(FIXTURE, "upfix.catga"), "utf8")
        .replace("nats { nodes 3 }", "nats { nodes 1 }")
        .replace("redis { mode sentinel, nodes 3 }", "redis { mode standalone }")
        .replace("event Worked", "durable event Worked");
      expect(source).toContain("durable event Worked");
      writeFileSync(join(dir.path, "upfix.catga"), source);
      // In the foreground: the live view logs in as `ops` to read the heartbeats.
      up = spawn(
        process.execPath,
        [
          "--conditions=catga-source",
          "--import",
          "tsx",
          join(ROOT, "tooling/cli/bin-entry.ts"),
          "up",
          "upfix.catga",
          "--out",
          "build",
        ],
        {
          cwd: dir.path,
          env: { ...process.env, TSX_TSCONFIG_PATH: join(dir.path, "tsconfig.paths.json") },
          detached: true,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let output = "";
      up.stdout!.on("data", (d: Buffer) => (output += d.toString()));
      up.stderr!.on("data", (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => up!.once("exit", (code) => resolve(code)));
      await waitFor(
        "catga up to start and print the client's login",
        async () => output.includes("connectNats("),
        {
          timeoutMs: 120_000,
          describe: () => output,
        },
      );
      const s = JSON.parse(readFileSync(join(dir.path, ".catga/state.json"), "utf8")) as LocalState;
      expect(s.nats.servers).toHaveLength(1);
      expect(Object.keys(s.nats.users ?? {}).sort()).toEqual([
        "admin",
        "boss",
        "client",
        "listener",
        "ops",
        "worker",
      ]);
      expect(readFileSync(join(dir.path, ".catga/nats/nats-0/nats.conf"), "utf8")).toContain(
        'include "../../../build/nats/nats.conf"',
      );
      expect(existsSync(join(dir.path, ".catga/nats/nats-0/jetstream/jetstream"))).toBe(true);
      bus = await connectNats({
        servers: s.nats.urls,
        user: "client",
        password: s.nats.users!.client!,
        inboxPrefix: "_INBOX.upfix.client",
      });
      const upfix = connectUpfix(bus);
      await Promise.all(Array.from({ length: 20 }, (_, n) => upfix.work({ n })));
      const { statusUntil } = statusProbe((args) => catga(dir.path, args), 60_000);
      const report = await statusUntil("both listeners to hear the 20 durable Worked", (x) => {
        const listener = x.services.find((v) => v.name === "listener")!;
        return listener.instances.length === 2 && listener.instances.every((i) => i.handled >= 20);
      });
      expect(report.durable?.streams.map((x) => x.name)).toContain("catga_upfix_Worked");
      expect(report.nats.servers.map((x) => x.routes)).toEqual([0]);
      // The live view (plain lines every 5 s off a terminal) hears every instance's heartbeat.
      await waitFor(
        "the live view to show worker-4 heard",
        async () => /worker-4\s+peer\s+\d+\s+\d+\s+[\d.]+\s+[\d.]+s\n/.test(output), // handled, failed, rate, age
        { timeoutMs: 30_000, describe: () => output.slice(-3000) },
      );
      await bus.close();
      bus = undefined;
      process.kill(-up.pid!, "SIGINT");
      expect(await exited, output.slice(-3000)).toBe(0);
      expect(output).toContain("stopped; no process left");
      expect(existsSync(join(dir.path, ".catga"))).toBe(false);
    } finally {
      await bus?.close();
      if (up !== undefined && up.exitCode === null) process.kill(-up.pid!, "SIGKILL");
      if (existsSync(join(dir.path, ".catga/state.json"))) await catga(dir.path, ["down"]);
      dir.remove();
    }
  }, 240_000);
});

describe("catga up without servers on PATH", () => {
  it("up — no nats-server on PATH: exit 2 naming the Debian package and --memory, nothing left", async () => {
    const dir = tempDir("up-missing");
    try {
      paths(dir.path);
      const r = await catga(dir.path, ["up", join(FIXTURE, "upfix.catga"), "--detach"], { PATH: dir.path });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("'nats-server' is not on PATH");
      expect(r.stderr).toContain("apt-get install nats-server");
      expect(r.stderr).toContain("--memory");
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(existsSync(join(dir.path, ".catga"))).toBe(false);
    } finally {
      dir.remove();
    }
  }, 60_000);
});
