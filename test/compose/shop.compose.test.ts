import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, tempDir } from "../harness/_process.js";
import {
  BASE_IMAGE,
  buildShopImage,
  cleanEnv,
  createOrders,
  failoverChecked,
  type Lease,
  makeShopProject,
  metrics,
  ok,
  placeOrdersChecked,
  run,
  SHOP_IMAGE,
  since,
  until,
} from "./_shop-project.js";

/**
 * The emitted docker-compose.yml of the shop, run for real with podman and podman-compose: the
 * command sequence of examples/shop/README.md "Compose" (the podman variant), in a project folder
 * of its own made from the packed packages. Run by `npm run test:compose` (after
 * scripts/containers/setup-machine.sh and base-image.sh), not by `npm test`.
 *
 * No registry is reachable on the test machines, so every image is built on the local base image
 * of scripts/containers/base-image.sh (the host's node, nats-server and redis-server), set through
 * the emitted compose file's own CATGA_NODE_IMAGE / CATGA_NATS_IMAGE / CATGA_REDIS_IMAGE.
 *
 * Figures (times, orders per replica, fencing tokens) are printed as the test goes.
 */

const PROJECT = "shop";
const ORDERS = 200;
const ADMIN = ["--user", "catga-admin", "--tls", "--cacert", "/etc/redis/certs/ca.crt"];

const log = (line: string) => process.stdout.write(`compose: ${line}\n`);

/** The project's containers, by name (shop_order_1, …), running or not. */
async function containers(): Promise<string[]> {
  const r = await ok("podman", [
    "ps",
    "-a",
    "--filter",
    `label=io.podman.compose.project=${PROJECT}`,
    "--format",
    "{{.Names}}",
  ]);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .sort();
}

/** Runs the container's own emitted health check (podman runs none by itself without systemd). */
async function healthy(container: string): Promise<boolean> {
  return (await run("podman", ["healthcheck", "run", container], { timeout: 30_000 })).code === 0;
}

/** Redis as catga-admin inside a data node (REDISCLI_AUTH is in the container's environment). */
async function redis(container: string, ...command: string[]): Promise<string> {
  return (await ok("podman", ["exec", container, "redis-cli", ...ADMIN, ...command])).stdout.trim();
}

/** The coordinator's lease, read on the primary the sentinels name: owner (instance id) and token. */
async function lease(): Promise<Lease | null> {
  const [host] = (
    await redis(`${PROJECT}_sentinel-0_1`, "-p", "26379", "sentinel", "get-master-addr-by-name", "catga")
  ).split("\n");
  const value = await redis(`${PROJECT}_${host}_1`, "get", "{catga:shop:coordinator}:lease");
  const match = /^(.*)\|(\d+)$/.exec(value);
  return match ? { owner: match[1]!, token: Number(match[2]) } : null;
}

/** The container whose hostname starts the instance id (`<hostname>-<n>`). */
async function containerOf(instance: string): Promise<string | undefined> {
  for (const name of await containers()) {
    const r = await run("podman", ["inspect", "-f", "{{.Config.Hostname}}", name]);
    if (r.code === 0 && instance.startsWith(`${r.stdout.trim()}-`)) return name;
  }
  return undefined;
}

describe("compose — the shop's emitted docker-compose.yml under podman-compose", () => {
  let dir: ReturnType<typeof tempDir>;
  let app: string;
  let out: string;
  let natsPort: number;
  let clientPassword: string;

  /** place-orders.ts on the published NATS port, as the README runs it: TLS with the CA, user `client`. */
  const placeOrders = (count: number) =>
    run("node", ["--import", "tsx", "place-orders.ts", String(count)], {
      cwd: app,
      env: cleanEnv({
        CATGA_NATS_URLS: `nats://localhost:${natsPort}`,
        CATGA_NATS_PASSWORD: clientPassword,
        CATGA_NATS_TLS_CA: join(out, "certs/ca.crt"),
      }),
      timeout: 5 * 60_000,
    });

  /** podman-compose in out/shop, as the README runs it. */
  const compose = (...args: string[]) => run("podman-compose", args, { cwd: out });

  beforeAll(async () => {
    const started = Date.now();
    dir = tempDir("compose-shop");
    app = join(dir.path, "shop");
    out = join(app, "out/shop");
    // A project of its own, as the README's "Compose" section makes it.
    out = await makeShopProject(app);
    expect(existsSync(join(out, "certs/ca.crt"))).toBe(true);
    // .env: every required variable a fresh password, the base images and a free host port.
    natsPort = await freePort();
    const values: Record<string, string> = {
      CATGA_NODE_IMAGE: BASE_IMAGE,
      CATGA_NATS_IMAGE: BASE_IMAGE,
      CATGA_REDIS_IMAGE: BASE_IMAGE,
      CATGA_NATS_HOST_PORT: String(natsPort),
    };
    const env = readFileSync(join(out, ".env.example"), "utf8")
      .split("\n")
      .map((line) => {
        const m = /^(# )?([A-Z0-9_]+)=$/.exec(line);
        if (m === null) return line;
        const name = m[2]!;
        if (values[name] !== undefined) return `${name}=${values[name]}`;
        if (m[1] === undefined)
          return `${name}=p${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex")}`;
        return line;
      })
      .join("\n");
    writeFileSync(join(out, ".env"), env);
    clientPassword = /^CATGA_NATS_PASSWORD_CLIENT=(.*)$/m.exec(env)![1]!;
    log(`project ready in ${since(started)}`);

    const built = Date.now();
    await buildShopImage(app);
    log(`image catga-shop:latest built in ${since(built)}`);
    // What must never ship is not in the image.
    const listing = await ok("podman", ["run", "--rm", SHOP_IMAGE, "find", "/app", "-maxdepth", "3"]);
    const files = listing.stdout.split("\n");
    expect(files).toContain("/app/out/shop/client.ts");
    expect(files).toContain("/app/services/order.ts");
    expect(files).not.toContain("/app/out/shop/certs");
    expect(files).not.toContain("/app/out/shop/.env");

    await compose("down", "-v", "-t", "2"); // leftovers of an interrupted run
    const up = Date.now();
    const r = await compose("up", "-d");
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    log(`podman-compose up -d: ${(await containers()).length} containers in ${since(up)}`);
  }, 40 * 60_000);

  afterAll(async () => {
    if (out !== undefined && existsSync(out)) {
      const r = await compose("down", "-v", "-t", "2");
      if (r.code !== 0) log(`down failed: ${r.stderr.slice(-2000)}`);
      await run("podman", ["network", "rm", "-f", `${PROJECT}_default`]);
    }
    dir?.remove();
  }, 10 * 60_000);

  it(
    "compose — every container of the shop becomes healthy by its emitted health check",
    async () => {
      const t = Date.now();
      const names = await containers();
      // 3 NATS, 3 Redis, 3 sentinels; order 5, inventory 2, payment 2, notifier 3, coordinator 3.
      expect(names).toHaveLength(24);
      const pending = new Set(names);
      await until("every container healthy", 10 * 60_000, async () => {
        for (const name of [...pending]) if (await healthy(name)) pending.delete(name);
        return pending.size === 0 ? true : undefined;
      }).catch(async (error) => {
        for (const name of pending) {
          const logs = await run("podman", ["logs", "--tail", "20", name]);
          log(`${name} not healthy:\n${logs.stdout}${logs.stderr}`);
        }
        throw error;
      });
      log(`all ${names.length} containers healthy ${since(t)} after up`);
    },
    12 * 60_000,
  );

  it(
    "compose — orders through the generated client on the published port spread over the 5 order replicas; every saga ends",
    async () => {
      await placeOrdersChecked(placeOrders, ORDERS, log);
      const perReplica: Record<string, number> = {};
      for (const name of (await containers()).filter((n) => n.startsWith(`${PROJECT}_order_`)))
        perReplica[name] = createOrders(await metrics(name));
      log(`CreateOrder per order replica: ${JSON.stringify(perReplica)}`);
      expect(Object.keys(perReplica)).toHaveLength(5);
      for (const [name, n] of Object.entries(perReplica)) expect(n, name).toBeGreaterThan(0);
      expect(Object.values(perReplica).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(ORDERS);
    },
    6 * 60_000,
  );

  it(
    "compose — killing the coordinator's leader container: a standby takes over with a higher fencing token",
    async () => {
      const before = await until("a coordinator leader", 60_000, async () => (await lease()) ?? undefined);
      const leader = await containerOf(before.owner);
      expect(leader, `no container for instance ${before.owner}`).toBeDefined();
      log(`leader ${before.owner} (${leader}) with token ${before.token}; podman kill ${leader}`);
      const after = await failoverChecked({
        before,
        kill: async () => void (await ok("podman", ["kill", leader!])),
        lease,
        placeOrders,
        log,
        where: containerOf,
      });
      expect(after.where).not.toBe(leader);
    },
    6 * 60_000,
  );

  it(
    "compose — scaling order to 7 with an override file starts two more replicas, which take orders",
    async () => {
      // podman-compose 1.0.3 has no working --scale; a second file with the replica count is the
      // compose way that works in both (docker compose: `up -d --scale order=7`).
      writeFileSync(join(out, "scale.yml"), "services:\n  order:\n    deploy:\n      replicas: 7\n");
      const t = Date.now();
      const r = await compose("-f", "docker-compose.yml", "-f", "scale.yml", "up", "-d");
      expect(r.code, r.stderr.slice(-4000)).toBe(0);
      const orders = (await containers()).filter((n) => n.startsWith(`${PROJECT}_order_`));
      expect(orders).toHaveLength(7);
      for (const name of [`${PROJECT}_order_6`, `${PROJECT}_order_7`])
        await until(`${name} healthy`, 5 * 60_000, async () => ((await healthy(name)) ? true : undefined));
      log(`order scaled to 7, new replicas healthy ${since(t)} after up`);
      const placed = await placeOrders(150);
      expect(placed.code, `${placed.stdout}\n${placed.stderr}`).toBe(0);
      const fresh = {
        [`${PROJECT}_order_6`]: createOrders(await metrics(`${PROJECT}_order_6`)),
        [`${PROJECT}_order_7`]: createOrders(await metrics(`${PROJECT}_order_7`)),
      };
      log(`CreateOrder on the new replicas: ${JSON.stringify(fresh)}`);
      for (const [name, n] of Object.entries(fresh)) expect(n, name).toBeGreaterThan(0);
    },
    10 * 60_000,
  );

  it(
    "compose — down -v removes every container and volume of the shop",
    async () => {
      const t = Date.now();
      const r = await compose("-f", "docker-compose.yml", "-f", "scale.yml", "down", "-v", "-t", "5");
      expect(r.code, r.stderr.slice(-4000)).toBe(0);
      log(`podman-compose down -v in ${since(t)}`);
      expect(await containers()).toEqual([]);
      const volumes = await ok("podman", ["volume", "ls", "--format", "{{.Name}}"]);
      expect(volumes.stdout.split("\n").filter((v) => v.startsWith(`${PROJECT}_`))).toEqual([]);
      // podman-compose 1.0.3 leaves the network it made; removing it is the last step of the README.
      await ok("podman", ["network", "rm", `${PROJECT}_default`]);
      const networks = await ok("podman", ["network", "ls", "--format", "{{.Name}}"]);
      expect(networks.stdout.split("\n")).not.toContain(`${PROJECT}_default`);
      rmSync(join(out, "scale.yml"));
    },
    10 * 60_000,
  );
});
