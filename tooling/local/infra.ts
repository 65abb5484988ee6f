/**
 * The infrastructure of a local cluster as local processes on free loopback ports: a full-mesh
 * NATS cluster of the wiring's `nats.nodes` (each with a monitoring port), and Redis in the wiring's
 * mode (one server; a primary with replicas and three sentinels; or a cluster created with
 * `redis-cli --cluster create`). Data lives under `.catga/`, nothing is persisted across runs.
 *
 * NATS runs the build's own `nats/nats.conf`, the file compose and Kubernetes run: one user per
 * service plus `client`, `ops` and `admin`, each limited to its grants, and authenticated routes.
 * What differs locally is given the way the deployments give it, from outside the file: passwords
 * (random per run), the server name and the route URLs as the environment variables the config
 * reads, and the ports on the command line. Only the JetStream store directory, a literal in the
 * file (`/data`, where the deployments mount a volume), needs a local config: a two-line file that
 * includes the emitted one and sets `jetstream` again.
 *
 * Redis runs with the ACL catgac emits (compiler/emit/_redis-acl.ts, computed here from the wiring):
 * one user per Redis-using service, `catga-replica`, `catga-sentinel`, `catga-ops`, `catga-admin`,
 * `default` off, sentinels with users of their own; passwords random per run, kept in the state
 * file like the NATS ones. The ACL and the replication credentials are written to 0600 files under
 * `.catga/redis/`, never on a command line.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { Wiring } from "@catga/runtime";
import { Redis } from "ioredis";
import {
  ADMIN_USER,
  CLIENT_USER,
  NATS_CLUSTER_PASSWORD_VAR,
  NATS_CLUSTER_USER,
  NATS_JS_LIMIT_VARS,
  NATS_SERVER_NAME_VAR,
  natsPasswordVar,
  natsRouteUrl,
  natsRouteVar,
  natsUser,
  OPS_USER,
  REDIS_ADMIN_USER,
  REDIS_OPS_USER,
  REDIS_SENTINEL_CLIENT_USER,
  redisBuiltInPasswordVar,
} from "../../compiler/emit/_names.js";
import {
  adminAclUser,
  allRedisAclUsers,
  passwordFrom,
  type RedisAclTopology,
  redisAclFile,
  replicaUser,
  sentinelAuthLines,
} from "../../compiler/emit/_redis-acl.js";
import { redisTlsArgs, sentinelTlsLines, type TlsFilePaths } from "../../compiler/emit/_tls.js";
import { freePort, onPath, spawnDetached, tail, waitUntil } from "./_process.js";
import { LocalClusterError, MissingBinaryError } from "./errors.js";
import type { LocalNatsServer, LocalRedisNode, LocalState } from "./state.js";

/** Where the infrastructure keeps its files and logs, and what was started so far. */
export interface InfraContext {
  /** `.catga/` */
  dir: string;
  /** `.catga/logs/` */
  logs: string;
  /** Called with every pid right after its spawn, so a failure half-way can still stop it. */
  started(pid: number): void;
  /** Progress lines. */
  progress(line: string): void;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * `catga up --tls`: the servers' certificate, key and CA (`.catga/tls/`). NATS (clients and
   * routes) and Redis (data nodes, replication, sentinels, the cluster bus) then listen on TLS only.
   * @default none: plain TCP on loopback
   */
  tls?: TlsFilePaths;
}

/**
 * Checks that the binaries the wiring needs are on PATH, before anything starts.
 *
 * @throws MissingBinaryError naming the binary and its Debian package.
 */
export function checkBinaries(wiring: Wiring, path = process.env.PATH ?? ""): void {
  if (wiring.nats.url === undefined && onPath("nats-server", path) === undefined) {
    throw new MissingBinaryError("nats-server", "nats-server");
  }
  if (wiring.redis !== undefined && wiring.redis.url === undefined) {
    if (onPath("redis-server", path) === undefined)
      throw new MissingBinaryError("redis-server", "redis-server");
    if (wiring.redis.mode === "cluster" && onPath("redis-cli", path) === undefined) {
      throw new MissingBinaryError("redis-cli", "redis-tools");
    }
  }
}

/**
 * JetStream limits of a local server unless the caller's environment sets them: the memory limit of
 * the deployments, a smaller file store (a laptop's disk, not a 10 Gi volume).
 */
export const LOCAL_JS_LIMITS = { memory: "256M", file: "1G" } as const;

/**
 * A random password for one run: letters and digits starting with a letter, as the emitted config
 * needs (nats-server parses a variable's value as a config value: `1e5` would be a number), 144
 * random bits.
 */
export function localPassword(): string {
  return `p${randomBytes(18).toString("hex")}`;
}

/**
 * The users of the emitted `nats.conf` with a fresh password each: every service (its instances
 * log in as it), `client`, `ops`, and `admin` when the topology has a durable event.
 */
export function localNatsUsers(wiring: Wiring): Record<string, string> {
  const durable = Object.values(wiring.messages).some((m) => m.durable !== undefined);
  const users = [
    ...Object.keys(wiring.services).map(natsUser),
    CLIENT_USER,
    OPS_USER,
    ...(durable ? [ADMIN_USER] : []),
  ];
  return Object.fromEntries(users.map((u) => [u, localPassword()]));
}

/**
 * Starts the NATS cluster of the wiring with the build's `nats/nats.conf` (`natsConf`), or records
 * the external one.
 *
 * @throws LocalClusterError when the build has no `nats/nats.conf`.
 */
export async function startNatsInfra(
  wiring: Wiring,
  ctx: InfraContext,
  natsConf: string,
): Promise<LocalState["nats"]> {
  if (wiring.nats.url !== undefined) {
    return { urls: splitList(wiring.nats.url), external: true, servers: [] };
  }
  if (!existsSync(natsConf)) {
    throw new LocalClusterError(
      `the build has no NATS config: expected ${natsConf} (written by catgac build)`,
    );
  }
  const n = wiring.nats.nodes;
  const taken = new Set<number>();
  const take = async () => {
    const port = await freePort(taken);
    taken.add(port);
    return port;
  };
  const nodes: Omit<LocalNatsServer, "pid">[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({
      name: `nats-${i}`,
      port: await take(),
      clusterPort: await take(),
      monitorPort: await take(),
    });
  }
  const durable = Object.values(wiring.messages).some((m) => m.durable !== undefined);
  const users = localNatsUsers(wiring);
  const routePassword = localPassword();
  const base = ctx.env ?? process.env;
  // What the emitted config reads from the environment (docs/build.md, "NATS permissions"). The
  // config has a cluster block, and so routes to read, only when the topology has several nodes.
  const shared: NodeJS.ProcessEnv = {
    ...base,
    ...Object.fromEntries(Object.entries(users).map(([u, p]) => [natsPasswordVar(u), p])),
    ...(n > 1 ? { [NATS_CLUSTER_PASSWORD_VAR]: routePassword } : {}),
    ...(n > 1
      ? Object.fromEntries(
          nodes.map((s, i) => [natsRouteVar(i), natsRouteUrl("127.0.0.1", routePassword, s.clusterPort)]),
        )
      : {}),
    [NATS_JS_LIMIT_VARS.memory]: base[NATS_JS_LIMIT_VARS.memory] || LOCAL_JS_LIMITS.memory,
    [NATS_JS_LIMIT_VARS.file]: base[NATS_JS_LIMIT_VARS.file] || LOCAL_JS_LIMITS.file,
  };
  const servers: LocalNatsServer[] = [];
  for (const node of nodes) {
    const folder = join(ctx.dir, "nats", node.name);
    mkdirSync(folder, { recursive: true });
    const config = join(folder, "nats.conf");
    // nats-server resolves an include against the including file's folder (an absolute path would
    // be joined to it), and a key set after the include replaces the included one. `-sd` cannot
    // replace `store_dir` instead: nats-server refuses the flag on top of a config that sets it.
    writeFileSync(
      config,
      [
        ctx.tls === undefined
          ? "# catga up: the build's NATS config, unchanged; only the JetStream store is this node's own."
          : "# catga up --tls: the build's NATS config with TLS (this run's certificates); the JetStream store is this node's own.",
        `include ${JSON.stringify(relative(folder, natsConf))}`,
        ...(ctx.tls !== undefined ? natsLocalTlsLines(wiring.topology, n, ctx.tls) : []),
        ...(durable
          ? [
              "jetstream {",
              `  store_dir: ${JSON.stringify(join(folder, "jetstream"))}`,
              `  max_memory_store: $${NATS_JS_LIMIT_VARS.memory}`,
              `  max_file_store: $${NATS_JS_LIMIT_VARS.file}`,
              "}",
            ]
          : []),
        "",
      ].join("\n"),
    );
    // Ports on the command line win over the config's `listen`, `http` and `cluster.listen`. The
    // `--cluster` URL carries the route credentials: without them nats-server would drop the
    // config's cluster authorization and accept any route.
    const args = [
      "-c",
      config,
      "-a",
      "127.0.0.1",
      "-p",
      String(node.port),
      "-m",
      String(node.monitorPort),
      ...(n > 1 ? ["--cluster", natsRouteUrl("127.0.0.1", routePassword, node.clusterPort)] : []),
    ];
    const pid = await spawnDetached("nats-server", args, {
      cwd: folder,
      env: { ...shared, [NATS_SERVER_NAME_VAR]: node.name },
      logFile: join(ctx.logs, `${node.name}.log`),
    });
    ctx.started(pid);
    servers.push({ ...node, pid });
  }
  ctx.progress(`nats: ${n} server${n === 1 ? "" : "s"} on ${servers.map((s) => s.port).join(", ")}`);
  await waitUntil(
    `the NATS cluster to form (${n} servers, ${n - 1} routes each)`,
    async () => {
      const counts = await Promise.all(servers.map((s) => natsRoutes(s.monitorPort)));
      if (!counts.every((c) => c !== undefined && c >= n - 1)) return false;
      // Streams can be created only once JetStream has a meta leader: every node must say so.
      return (
        !durable || (await Promise.all(servers.map((s) => jetStreamReady(s.monitorPort)))).every(Boolean)
      );
    },
    {
      timeoutMs: 30_000,
      describe: () =>
        servers.map((s) => `--- ${s.name}\n${tail(join(ctx.logs, `${s.name}.log`))}`).join("\n"),
    },
  );
  return { urls: servers.map((s) => `nats://127.0.0.1:${s.port}`), external: false, servers, users };
}

/**
 * The lines `catga up --tls` adds after the included `nats.conf`: TLS for clients and, with several
 * nodes, the cluster block again (a key set after an include replaces it whole) with TLS on the
 * routes, as the emitted `nats/nats-tls.conf` has them, with this run's certificate files.
 */
export function natsLocalTlsLines(topology: string, nodes: number, files: TlsFilePaths): string[] {
  const block = (indent: string) => [
    `${indent}tls {`,
    `${indent}  cert_file: ${JSON.stringify(files.cert)}`,
    `${indent}  key_file: ${JSON.stringify(files.key)}`,
    `${indent}  ca_file: ${JSON.stringify(files.ca)}`,
    // As the emitted block (compiler/emit/_tls.ts): a loaded machine needs more than half a second.
    `${indent}  timeout: 2`,
    `${indent}}`,
  ];
  if (nodes <= 1) return block("");
  return [
    ...block(""),
    "cluster {",
    `  name: ${JSON.stringify(topology)}`,
    "  authorization {",
    `    user: ${JSON.stringify(NATS_CLUSTER_USER)}`,
    `    password: $${NATS_CLUSTER_PASSWORD_VAR}`,
    "  }",
    "  routes = [",
    ...Array.from({ length: nodes }, (_, i) => `    $${natsRouteVar(i)}`),
    "  ]",
    ...block("  "),
    "}",
  ];
}

/** Credentials of one Redis login, and the CA to trust when the server is on TLS (`catga up --tls`). */
export interface RedisLogin {
  username: string;
  password: string;
  /** The CA certificate file of a TLS server. @default plain TCP */
  tlsCa?: string;
}

/** What the ACL is computed from: the wiring's topology, Redis mode and Redis-using services. */
export function aclTopologyOf(wiring: Wiring): RedisAclTopology {
  return {
    name: wiring.topology,
    redis: { mode: wiring.redis?.mode ?? "standalone" },
    services: Object.entries(wiring.services).map(([name, s]) => ({
      name,
      mode: s.mode,
      usesRedis: s.redisKeyScope !== undefined,
    })),
  };
}

/** A fresh password for every Redis ACL user of the wiring, by password variable. */
export function localRedisUsers(wiring: Wiring): Record<string, string> {
  return Object.fromEntries(
    allRedisAclUsers(aclTopologyOf(wiring)).map((u) => [u.passwordVar, localPassword()]),
  );
}

/** The `catga-ops` login of a local Redis (status), plus the sentinels' client login in sentinel mode. */
export function redisOpsEnv(redis: NonNullable<LocalState["redis"]>): Record<string, string> {
  const users = redis.users;
  if (users === undefined) return { ...redis.env };
  return {
    ...redis.env,
    CATGA_REDIS_USER: REDIS_OPS_USER,
    CATGA_REDIS_PASSWORD: users[redisBuiltInPasswordVar(REDIS_OPS_USER)] ?? "",
    ...(redis.mode === "sentinel"
      ? {
          CATGA_REDIS_SENTINEL_USER: REDIS_SENTINEL_CLIENT_USER,
          CATGA_REDIS_SENTINEL_PASSWORD: users[redisBuiltInPasswordVar(REDIS_SENTINEL_CLIENT_USER)] ?? "",
        }
      : {}),
  };
}

/** The `catga-admin` login of a local Redis (node health, roles), when it runs the ACL. */
export function redisAdminLogin(redis: LocalState["redis"] | undefined): RedisLogin | undefined {
  const password = redis?.users?.[redisBuiltInPasswordVar(REDIS_ADMIN_USER)];
  const tlsCa = redis?.env.CATGA_REDIS_TLS_CA;
  return password === undefined
    ? undefined
    : { username: REDIS_ADMIN_USER, password, ...(tlsCa !== undefined ? { tlsCa } : {}) };
}

/** Writes a file only its owner may read: it holds passwords. */
function writeSecretFile(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Starts Redis in the wiring's mode, or records the external one; `undefined` when none is needed. */
export async function startRedisInfra(
  wiring: Wiring,
  ctx: InfraContext,
): Promise<LocalState["redis"] | undefined> {
  const redis = wiring.redis;
  if (redis === undefined) return undefined;
  if (redis.url !== undefined) {
    return { mode: redis.mode, external: true, env: externalRedisEnv(redis), nodes: [] };
  }
  const env = ctx.env ?? process.env;
  const taken = new Set<number>();
  const take = async () => {
    const port = await freePort(taken);
    taken.add(port);
    taken.add(port + 10_000); // a cluster node's bus port
    return port;
  };
  // The emitted ACL with this run's passwords, and the replication credentials, in 0600 files.
  const acl = aclTopologyOf(wiring);
  const users = localRedisUsers(wiring);
  const password = passwordFrom(users);
  const tls = ctx.tls;
  const admin: RedisLogin = {
    username: REDIS_ADMIN_USER,
    password: password(adminAclUser()),
    ...(tls !== undefined ? { tlsCa: tls.ca } : {}),
  };
  // What every client of a TLS Redis needs besides the addresses: the CA to trust.
  const tlsEnv: Record<string, string> =
    tls !== undefined ? { CATGA_REDIS_TLS: "true", CATGA_REDIS_TLS_CA: tls.ca } : {};
  mkdirSync(join(ctx.dir, "redis"), { recursive: true });
  const aclFile = join(ctx.dir, "redis", "users.acl");
  writeSecretFile(aclFile, redisAclFile(acl, users));
  const authConf = join(ctx.dir, "redis", "auth.conf");
  const replica = replicaUser(acl);
  writeSecretFile(
    authConf,
    [`aclfile ${aclFile}`, `masteruser ${replica.name}`, `masterauth ${password(replica)}`, ""].join("\n"),
  );
  const nodes: LocalRedisNode[] = [];
  const server = async (name: string, kind: LocalRedisNode["kind"], args: string[] = []) => {
    const port = await take();
    const folder = join(ctx.dir, "redis", name);
    mkdirSync(folder, { recursive: true });
    const pid = await spawnDetached(
      "redis-server",
      // A local cluster starts from nothing and leaves nothing: no snapshots, no append-only file.
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        folder,
        "--save",
        "",
        "--appendonly",
        "no",
        "--include",
        authConf,
        ...args,
        // Last: `--port 0` closes the plain port; the same port number is the TLS port.
        ...(tls !== undefined ? redisTlsArgs(redis.mode, tls, port) : []),
      ],
      { cwd: folder, env, logFile: join(ctx.logs, `redis-${name}.log`) },
    );
    ctx.started(pid);
    const node: LocalRedisNode = { name, kind, pid, port };
    nodes.push(node);
    await waitUntil(`redis ${name} on port ${port}`, () => ping(port, admin), {
      timeoutMs: 20_000,
      describe: () => tail(join(ctx.logs, `redis-${name}.log`)),
    });
    return node;
  };

  switch (redis.mode) {
    case "standalone": {
      const node = await server("standalone", "standalone");
      ctx.progress(`redis: standalone on ${node.port}`);
      return {
        mode: "standalone",
        external: false,
        env: {
          CATGA_REDIS_MODE: "standalone",
          CATGA_REDIS_URL: `${tls !== undefined ? "rediss" : "redis"}://127.0.0.1:${node.port}`,
          ...tlsEnv,
        },
        nodes,
        users,
      };
    }
    case "sentinel": {
      const master = redis.master ?? "catga";
      const primary = await server("primary", "primary");
      for (let i = 1; i < redis.nodes; i++) {
        await server(`replica-${i}`, "replica", ["--replicaof", "127.0.0.1", String(primary.port)]);
      }
      const sentinels: LocalRedisNode[] = [];
      for (let i = 0; i < 3; i++) {
        const port = await take();
        const name = `sentinel-${i}`;
        const folder = join(ctx.dir, "redis", name);
        mkdirSync(folder, { recursive: true });
        const conf = join(folder, "sentinel.conf");
        // A sentinel rewrites its config as it learns the topology: each gets its own copy (0600:
        // it holds the sentinels' users and the password they log in to the servers with).
        writeSecretFile(
          conf,
          [
            `port ${port}`,
            "bind 127.0.0.1",
            `dir ${folder}`,
            `sentinel monitor ${master} 127.0.0.1 ${primary.port} 2`,
            ...sentinelAuthLines(acl, master, password),
            `sentinel down-after-milliseconds ${master} 2000`,
            `sentinel failover-timeout ${master} 10000`,
            `sentinel parallel-syncs ${master} 1`,
            // Later lines win: the plain port closed, TLS on this port and towards the servers.
            ...(tls !== undefined ? sentinelTlsLines(tls, port) : []),
            "",
          ].join("\n"),
        );
        const pid = await spawnDetached("redis-server", [conf, "--sentinel"], {
          cwd: folder,
          env,
          logFile: join(ctx.logs, `redis-${name}.log`),
        });
        ctx.started(pid);
        const node: LocalRedisNode = { name, kind: "sentinel", pid, port };
        nodes.push(node);
        sentinels.push(node);
      }
      await waitUntil(
        `the sentinels to see the primary '${master}'`,
        async () => {
          for (const s of sentinels) {
            const answer = (await askAs(
              admin,
              `127.0.0.1:${s.port}`,
              "SENTINEL",
              "GET-MASTER-ADDR-BY-NAME",
              master,
            )) as unknown;
            if (!Array.isArray(answer) || Number(answer[1]) !== primary.port) return false;
          }
          return true;
        },
        {
          timeoutMs: 20_000,
          describe: () => sentinels.map((s) => tail(join(ctx.logs, `redis-${s.name}.log`))).join("\n"),
        },
      );
      ctx.progress(
        `redis: sentinel '${master}', primary on ${primary.port}, ${redis.nodes - 1} replica(s), sentinels on ${sentinels.map((s) => s.port).join(", ")}`,
      );
      return {
        mode: "sentinel",
        external: false,
        env: {
          CATGA_REDIS_MODE: "sentinel",
          CATGA_REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(","),
          CATGA_REDIS_MASTER: master,
          ...tlsEnv,
        },
        nodes,
        users,
      };
    }
    case "cluster": {
      const count = Math.max(redis.nodes, 3);
      for (let i = 0; i < count; i++) {
        await server(`cluster-${i}`, "cluster", [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-node-timeout",
          "5000",
        ]);
      }
      await createCluster(
        nodes.map((n) => `127.0.0.1:${n.port}`),
        Math.max(Math.floor(count / 3) - 1, 0),
        // redis-cli logs in as catga-admin, its password from the environment (not the command line).
        { ...env, REDISCLI_AUTH: admin.password },
        tls,
      );
      await waitUntil(
        "cluster_state:ok on every Redis Cluster node",
        async () => {
          for (const n of nodes) {
            if (
              !String(await askAs(admin, `127.0.0.1:${n.port}`, "CLUSTER", "INFO")).includes(
                "cluster_state:ok",
              )
            )
              return false;
          }
          return true;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      ctx.progress(`redis: cluster of ${count} on ${nodes.map((n) => n.port).join(", ")}`);
      return {
        mode: "cluster",
        external: false,
        env: {
          CATGA_REDIS_MODE: "cluster",
          CATGA_REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(","),
          ...tlsEnv,
        },
        nodes,
        users,
      };
    }
  }
}

/** The `CATGA_REDIS_*` variables for an existing Redis (`redis { url }`), as the compose emitter sets them. */
export function externalRedisEnv(redis: NonNullable<Wiring["redis"]>): Record<string, string> {
  const urls = splitList(redis.url ?? "");
  const env: Record<string, string> = { CATGA_REDIS_MODE: redis.mode };
  if (urls.some((u) => u.startsWith("rediss://"))) env.CATGA_REDIS_TLS = "true";
  if (redis.mode === "standalone") env.CATGA_REDIS_URL = urls[0] ?? "";
  else if (redis.mode === "sentinel") {
    env.CATGA_REDIS_SENTINELS = urls.map((u) => hostPort(u, 26_379)).join(",");
    env.CATGA_REDIS_MASTER = redis.master ?? "catga";
  } else env.CATGA_REDIS_CLUSTER_NODES = urls.map((u) => hostPort(u, 6379)).join(",");
  return env;
}

/** Whether a server's JetStream is up and, when clustered, knows its meta leader (`/jsz`). */
export async function jetStreamReady(monitorPort: number, host = "127.0.0.1"): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}:${monitorPort}/jsz`, { signal: AbortSignal.timeout(1000) });
    if (!response.ok) return false;
    const body = (await response.json()) as { disabled?: boolean; meta_cluster?: { leader?: string } };
    if (body.disabled === true) return false;
    return body.meta_cluster === undefined || (body.meta_cluster.leader ?? "") !== "";
  } catch {
    return false;
  }
}

/** The number of routes of the NATS server with this monitoring port; `undefined` when it does not answer. */
export async function natsRoutes(monitorPort: number, host = "127.0.0.1"): Promise<number | undefined> {
  try {
    const response = await fetch(`http://${host}:${monitorPort}/routez`, {
      signal: AbortSignal.timeout(1000),
    });
    if (!response.ok) return undefined;
    return ((await response.json()) as { num_routes?: number }).num_routes ?? 0;
  } catch {
    return undefined;
  }
}

/**
 * Sends one command to the Redis (or sentinel) at `host:port` and returns the reply: one short
 * connection that never retries, so a dead node answers at once with an error.
 */
export async function askAt(address: string, ...command: [string, ...string[]]): Promise<unknown> {
  return askAs(undefined, address, ...command);
}

/** {@link askAt}, logged in as `login` (a local Redis runs the emitted ACL: `default` is off). */
export async function askAs(
  login: RedisLogin | undefined,
  address: string,
  ...command: [string, ...string[]]
): Promise<unknown> {
  const at = address.lastIndexOf(":");
  const { tlsCa, ...credentials } = login ?? {};
  const client = new Redis({
    ...credentials,
    ...(tlsCa !== undefined ? { tls: { ca: readFileSync(tlsCa) } } : {}),
    host: address.slice(0, at),
    port: Number(address.slice(at + 1)),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: 2000,
    retryStrategy: () => null,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    return await client.call(...command);
  } finally {
    client.disconnect();
  }
}

async function ping(port: number, login?: RedisLogin): Promise<boolean> {
  return (await askAs(login, `127.0.0.1:${port}`, "PING")) === "PONG";
}

function createCluster(
  addresses: string[],
  replicas: number,
  env: NodeJS.ProcessEnv,
  tls: TlsFilePaths | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "redis-cli",
      [
        "--user",
        REDIS_ADMIN_USER,
        "--no-auth-warning",
        ...(tls !== undefined ? ["--tls", "--cacert", tls.ca] : []),
        "--cluster",
        "create",
        ...addresses,
        "--cluster-replicas",
        String(replicas),
        "--cluster-yes",
      ],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`redis-cli --cluster create failed (exit ${code}):\n${output}`)),
    );
  });
}

function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function hostPort(url: string, defaultPort: number): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || defaultPort}`;
  } catch {
    return url.includes(":") ? url : `${url}:${defaultPort}`;
  }
}
