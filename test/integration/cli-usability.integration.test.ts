import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main as catgac } from "../../compiler/cli/catgac.js";
import { deadLetters } from "../../runtime/cli/dead-letters.js";
import { run } from "../../runtime/cli/run.js";
import type { LocalState } from "../../tooling/local/state.js";
import { tempDir } from "../harness/_process.js";
import { REPO_ROOT, runCatgaCli } from "../harness/catga.js";
import { type StandaloneRedis, startRedis } from "../harness/redis.js";

/**
 * The command lines help a user who mistyped: "did you mean" for commands (catgac, the runtime's
 * catga, the tooling's catga), for service and instance names, and `catga sagas` finding the local
 * cluster of the working directory as `catga status` does (with a real Redis behind it).
 */
const SOURCE = `topology sg
command Order { id: string }
command Reserve { id: string } -> bool
command Release { id: string }
event Ordered { id: string }
service order { handles Order  emits Ordered }
service stock { handles Reserve, Release }
service boss { mode leader  replicas 2  runs Place }
saga Place {
  on Ordered
  step Reserve compensate Release
}
`;

function capture() {
  const io = {
    out: "",
    err: "",
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
  };
  return io;
}

/** The runtime's own `catga` (what containers run), from source. */
function runtimeCatga(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(REPO_ROOT, "test/fixtures/run-catga.ts"), ...args],
    {
      cwd: REPO_ROOT,
      encoding: "utf8",
      timeout: 60_000,
    },
  );
  return { status: r.status, stderr: r.stderr };
}

/** A `.catga/state.json` as `catga up` writes it, for a cluster whose processes are gone (or never ran). */
function writeState(cwd: string, wiring: string, redisUrl?: string): void {
  const state: LocalState = {
    version: 1,
    topology: "sg",
    file: join(cwd, "sg.catga"),
    wiring,
    nats: { urls: ["nats://127.0.0.1:1"], external: false, servers: [] },
    ...(redisUrl !== undefined
      ? {
          redis: {
            mode: "standalone" as const,
            external: false,
            env: { CATGA_REDIS_MODE: "standalone", CATGA_REDIS_URL: redisUrl },
            nodes: [],
          },
        }
      : {}),
    launcher: [process.execPath],
    handlers: { order: "/nowhere/order.ts", stock: "/nowhere/stock.ts", boss: "/nowhere/boss.ts" },
    instances: [
      { id: "order-0", service: "order", n: 0, pid: 2 ** 22 + 17, healthPort: 1 },
      { id: "order-1", service: "order", n: 1, pid: 2 ** 22 + 18, healthPort: 2 },
    ],
  };
  mkdirSync(join(cwd, ".catga"), { recursive: true });
  writeFileSync(join(cwd, ".catga", "state.json"), JSON.stringify(state), { mode: 0o600 });
}

let dir: ReturnType<typeof tempDir>;
let wiring: string;

beforeAll(async () => {
  dir = tempDir("cli-usability");
  writeFileSync(join(dir.path, "sg.catga"), SOURCE);
  const io = Object.assign(capture(), { color: false });
  expect(
    await catgac(["build", join(dir.path, "sg.catga"), "--out", join(dir.path, "out")], io),
    io.err,
  ).toBe(0);
  wiring = join(dir.path, "out", "wiring.json");
}, 60_000);
afterAll(() => dir.remove());

describe("cli — did you mean", () => {
  it("cli — catgac suggests the command a typo meant", async () => {
    const io = Object.assign(capture(), { color: false });
    expect(await catgac(["biuld", "x.catga"], io)).toBe(2);
    expect(io.err).toBe(
      "catgac: unknown command 'biuld' (did you mean 'build'?); run 'catgac --help' for the list\n",
    );
  });

  it("cli — the runtime's catga and the tooling's catga suggest commands, exit 2", async () => {
    const runtime = runtimeCatga(["sgas"]);
    expect(runtime.status).toBe(2);
    expect(runtime.stderr).toContain("unknown command 'sgas' (did you mean 'sagas'?)");
    const tooling = await runCatgaCli(dir.path, ["stauts"]);
    expect(tooling.code).toBe(2);
    expect(tooling.stderr).toContain("unknown command 'stauts' (did you mean 'status'?)");
    const far = await runCatgaCli(dir.path, ["frobnicate"]);
    expect(far.code).toBe(2);
    expect(far.stderr).toBe("catga: unknown command 'frobnicate'; run 'catga --help'\n");
  }, 60_000);

  it("cli — catga run and dead-letters suggest the service a typo meant, exit 2", async () => {
    const io = capture();
    expect(await run(["--wiring", wiring, "--service", "ordr"], io, {})).toBe(2);
    expect(io.err).toContain("service 'ordr' is not in");
    expect(io.err).toContain("(did you mean 'order'?)");
    const dl = capture();
    expect(
      await deadLetters(["--nats", "nats://127.0.0.1:1", "--wiring", wiring, "--service", "stok"], dl, {}),
    ).toBe(2);
    expect(dl.err).toBe(
      "catga dead-letters: no service 'stok' in 'sg' (did you mean 'stock'?); it has boss, order, stock\n",
    );
  });

  it("cli — catga run refuses an unknown CATGA_LOG_LEVEL before it connects, exit 2", async () => {
    const io = capture();
    expect(await run(["--wiring", wiring, "--service", "order"], io, { CATGA_LOG_LEVEL: "loud" })).toBe(2);
    expect(io.err).toBe("catga run: CATGA_LOG_LEVEL is 'loud'; expected one of debug, info, warn, error\n");
  });

  it("cli — catga kill and scale suggest the instance or service a typo meant, exit 2", async () => {
    const cwd = join(dir.path, "names");
    mkdirSync(cwd);
    writeState(cwd, wiring);
    const kill = await runCatgaCli(cwd, ["kill", "ordr-1"]);
    expect(kill.code).toBe(2);
    expect(kill.stderr).toContain("no instance 'ordr-1' in the local cluster (did you mean 'order-1'?)");
    const scale = await runCatgaCli(cwd, ["scale", "stok=3"]);
    expect(scale.code).toBe(2);
    expect(scale.stderr).toContain("no service 'stok' in 'sg' (did you mean 'stock'?)");
  }, 60_000);
});

describe("cli — catga sagas beside a local cluster", () => {
  let redis: StandaloneRedis;
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => redis?.stop());

  it("cli — catga sagas reads the wiring and Redis of .catga/state.json, as catga status does", async () => {
    const cwd = join(dir.path, "local");
    mkdirSync(cwd);
    writeState(cwd, wiring, redis.url);
    // Variables of another deployment in the shell would win over the local cluster: none here.
    const clean = { CATGA_WIRING: "", CATGA_REDIS_URL: "", CATGA_REDIS_MODE: "" };
    const r = await runCatgaCli(cwd, ["sagas", "--json"], clean);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { counts: Record<string, unknown> };
    expect(Object.keys(report.counts)).toEqual(["Place"]);
  }, 60_000);

  it("cli — catga sagas with no local cluster and no flags says how to get one, exit 2", async () => {
    const cwd = join(dir.path, "empty");
    mkdirSync(cwd);
    const r = await runCatgaCli(cwd, ["sagas"], {
      CATGA_WIRING: "",
      CATGA_REDIS_URL: "",
      CATGA_REDIS_MODE: "",
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no local cluster in");
    expect(r.stderr).toContain("catga up FILE.catga");
  }, 60_000);
});
