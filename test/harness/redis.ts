/**
 * Real Redis deployments for integration tests, from the `redis-server` binary on PATH, on free
 * ports: a standalone server, a primary with replicas watched by three sentinels, and a six-node
 * cluster. Nothing is mocked; every process is killed by `stop()` (and, as a last resort, when the
 * test process exits). With `tls`, every server (and sentinel) listens on TLS only (`port 0`,
 * `tls-port`), replicates and gossips over TLS, and the harness's own clients trust the given CA.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { redisTlsArgs, sentinelTlsLines } from "../../compiler/emit/_tls.js";
import { freePort, type ServerProcess, spawnServer, tempDir, waitFor } from "./_process.js";

/** TLS of test servers: certificate files (test/harness/certs.ts makes them). */
export interface RedisServerTls {
  /** The CA the servers trust for client certificates, and the harness's clients trust. */
  ca: string;
  /** The servers' certificate (also their client certificate towards each other). */
  cert: string;
  key: string;
  /** `tls-auth-clients yes`: clients must present a certificate signed by `ca`. @default false */
  authClients?: boolean;
  /** The certificate the harness's own clients present (needed with `authClients`). @default none */
  client?: { cert: string; key: string };
}

/** ioredis `tls` options of the harness's own clients for `tls`. */
export function redisClientTls(tls: RedisServerTls): {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
  checkServerIdentity: () => undefined;
} {
  return {
    ca: readFileSync(tls.ca),
    // The harness checks readiness, not names: tests also start servers whose certificates name
    // other hosts on purpose.
    checkServerIdentity: () => undefined,
    ...(tls.client !== undefined
      ? { cert: readFileSync(tls.client.cert), key: readFileSync(tls.client.key) }
      : {}),
  };
}

/**
 * redis-server arguments listening on TLS only: the emitted ones (compiler/emit/_tls.ts), so the
 * tests run what compose and Kubernetes run; `authClients` appends `--tls-auth-clients yes`.
 */
function tlsArgs(port: number, tls: RedisServerTls, mode: "standalone" | "sentinel" | "cluster"): string[] {
  return [...redisTlsArgs(mode, tls, port), ...(tls.authClients ? ["--tls-auth-clients", "yes"] : [])];
}

/** sentinel.conf lines of a TLS sentinel: the emitted ones. */
function sentinelTls(port: number, tls: RedisServerTls): string[] {
  return [...sentinelTlsLines(tls, port), ...(tls.authClients ? ["tls-auth-clients yes"] : [])];
}

/** One redis-server (or sentinel) process. */
export interface RedisNode {
  readonly port: number;
  readonly process: ServerProcess;
  /** `redis://127.0.0.1:<port>` (`rediss://` with TLS). */
  readonly url: string;
  /** Starts the node again on the same port and folder after a kill (data persists only if it was saved). */
  restart(): Promise<void>;
}

/**
 * Credentials the harness itself logs in with, for servers started with an ACL (`--aclfile`) whose
 * `default` user is off: an admin-like user that may run PING, INFO, CLUSTER INFO and SENTINEL.
 */
export interface RedisAuth {
  username: string;
  password: string;
}

async function ping(port: number, auth?: RedisAuth, tls?: RedisServerTls): Promise<boolean> {
  const client = new Redis({
    port,
    host: "127.0.0.1",
    ...(auth ?? {}),
    ...(tls !== undefined ? { tls: redisClientTls(tls) } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } finally {
    client.disconnect();
  }
}

async function startNode(
  dir: string,
  name: string,
  args: string[],
  port?: number,
  auth?: RedisAuth,
  tls?: RedisServerTls,
  mode: "standalone" | "sentinel" | "cluster" = "standalone",
): Promise<RedisNode> {
  const p = port ?? (await freePort());
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  const argv = [
    ...(tls === undefined ? ["--port", String(p)] : tlsArgs(p, tls, mode)),
    "--bind",
    "127.0.0.1",
    "--dir",
    folder,
    // Tests start from nothing: no snapshots, no append-only file, no leftover state between runs.
    "--save",
    "",
    "--appendonly",
    "no",
    ...args,
  ];
  let proc = spawnServer("redis-server", argv, { cwd: folder });
  const node: RedisNode = {
    port: p,
    get process() {
      return proc;
    },
    url: `${tls === undefined ? "redis" : "rediss"}://127.0.0.1:${p}`,
    restart: async () => {
      proc = spawnServer("redis-server", argv, { cwd: folder });
      await waitFor(`redis ${name} on ${p}`, () => ping(p, auth, tls), { describe: () => proc.output() });
    },
  };
  await waitFor(`redis ${name} on ${p}`, () => ping(p, auth, tls), { describe: () => proc.output() });
  return node;
}

/** A standalone Redis. */
export interface StandaloneRedis {
  readonly node: RedisNode;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts one redis-server on a free port (TLS only, with `tls`). `args` are added to its command
 * line (`--aclfile F`); `auth` is what the harness logs in with when the ACL turns the `default`
 * user off.
 */
export async function startRedis(
  options: { args?: string[]; auth?: RedisAuth; tls?: RedisServerTls } = {},
): Promise<StandaloneRedis> {
  const dir = tempDir("redis");
  const node = await startNode(
    dir.path,
    "standalone",
    options.args ?? [],
    undefined,
    options.auth,
    options.tls,
  );
  return {
    node,
    url: node.url,
    stop: async () => {
      await node.process.kill();
      dir.remove();
    },
  };
}

/** A primary, its replicas and three sentinels. */
export interface SentinelRedis {
  /** The monitored primary's name. */
  readonly masterName: string;
  readonly primary: RedisNode;
  readonly replicas: readonly RedisNode[];
  readonly sentinels: readonly RedisNode[];
  /** `host:port` of each sentinel, as ioredis and `CATGA_REDIS_SENTINELS` take them. */
  readonly sentinelAddresses: readonly { host: string; port: number }[];
  /** Port of the current primary according to the sentinels. */
  currentPrimaryPort(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts a primary, `replicas` replicas of it and three sentinels (quorum 2) that fail over after
 * one second without an answer. Resolves when every sentinel sees every replica.
 */
export async function startRedisSentinel(
  options: {
    replicas?: number;
    masterName?: string;
    /** Added to every data node's command line (`--aclfile F --masteruser U --masterauth P`). */
    args?: string[];
    /** What the harness logs in with on the data nodes. */
    auth?: RedisAuth;
    /** Lines added to every sentinel.conf after `sentinel monitor` (users, `sentinel auth-user` …). */
    sentinelConf?: string[];
    /** What the harness logs in with on the sentinels. */
    sentinelAuth?: RedisAuth;
    tls?: RedisServerTls;
  } = {},
): Promise<SentinelRedis> {
  const masterName = options.masterName ?? "catga";
  const tls = options.tls;
  const dir = tempDir("sentinel");
  const extra = options.args ?? [];
  const primary = await startNode(dir.path, "primary", extra, undefined, options.auth, tls);
  const replicas: RedisNode[] = [];
  for (let i = 0; i < (options.replicas ?? 1); i++) {
    replicas.push(
      await startNode(
        dir.path,
        `replica-${i}`,
        [...extra, "--replicaof", "127.0.0.1", String(primary.port)],
        undefined,
        options.auth,
        tls,
      ),
    );
  }
  const sentinels: RedisNode[] = [];
  const ask = async (port: number, ...args: string[]): Promise<unknown> => {
    const auth = sentinels.some((s) => s.port === port) ? options.sentinelAuth : options.auth;
    const client = new Redis({
      port,
      host: "127.0.0.1",
      maxRetriesPerRequest: 1,
      ...(auth ?? {}),
      ...(tls !== undefined ? { tls: redisClientTls(tls) } : {}),
    });
    client.on("error", () => {});
    try {
      return await client.call(...(args as [string, ...string[]]));
    } finally {
      client.disconnect();
    }
  };
  for (const r of replicas) {
    // Until the first sync is done a replica holds nothing, and a failover to it would lose data
    // that tests wrote before it.
    await waitFor(
      `replica on ${r.port} to sync`,
      async () => String(await ask(r.port, "INFO", "replication")).includes("master_link_status:up"),
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  }
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const folder = join(dir.path, `sentinel-${i}`);
    mkdirSync(folder, { recursive: true });
    const conf = join(folder, "sentinel.conf");
    // A sentinel rewrites its config file as it learns the topology, so it gets its own writable copy.
    writeFileSync(
      conf,
      [
        ...(tls === undefined ? [`port ${port}`] : sentinelTls(port, tls)),
        "bind 127.0.0.1",
        `dir ${folder}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 3000`,
        `sentinel parallel-syncs ${masterName} 1`,
        ...(options.sentinelConf ?? []),
        "",
      ].join("\n"),
    );
    const auth = options.sentinelAuth;
    let proc = spawnServer("redis-server", [conf, "--sentinel"], { cwd: folder });
    await waitFor(`sentinel ${i} on ${port}`, () => ping(port, auth, tls), { describe: () => proc.output() });
    sentinels.push({
      port,
      get process() {
        return proc;
      },
      url: `${tls === undefined ? "redis" : "rediss"}://127.0.0.1:${port}`,
      restart: async () => {
        proc = spawnServer("redis-server", [conf, "--sentinel"], { cwd: folder });
        await waitFor(`sentinel ${i} on ${port}`, () => ping(port, auth, tls), {
          describe: () => proc.output(),
        });
      },
    });
  }
  for (const s of sentinels) {
    await waitFor(
      `sentinel on ${s.port} to see ${replicas.length} replica(s)`,
      async () =>
        ((await ask(s.port, "SENTINEL", "REPLICAS", masterName)) as unknown[]).length === replicas.length,
      { timeoutMs: 20_000, intervalMs: 200 },
    );
  }
  return {
    masterName,
    primary,
    replicas,
    sentinels,
    sentinelAddresses: sentinels.map((s) => ({ host: "127.0.0.1", port: s.port })),
    currentPrimaryPort: async () => {
      for (const s of sentinels) {
        if (s.process.exited) continue;
        const answer = (await ask(s.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)) as [
          string,
          string,
        ];
        return Number(answer[1]);
      }
      throw new Error("no sentinel is running");
    },
    stop: async () => {
      await Promise.all([...sentinels, ...replicas, primary].map((n) => n.process.kill()));
      dir.remove();
    },
  };
}

/** A Redis Cluster: three primaries and three replicas (by default). */
export interface ClusterRedis {
  readonly nodes: readonly RedisNode[];
  /** `host:port` of every node, as ioredis' Cluster and `CATGA_REDIS_CLUSTER_NODES` take them. */
  readonly addresses: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

/**
 * Starts `nodes` cluster-enabled servers (6 by default: 3 primaries, 3 replicas), creates the
 * cluster with `redis-cli --cluster create`, and resolves when every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(
  options: { nodes?: number; args?: string[]; auth?: RedisAuth; tls?: RedisServerTls } = {},
): Promise<ClusterRedis> {
  const count = options.nodes ?? 6;
  const tls = options.tls;
  const dir = tempDir("cluster");
  const nodes: RedisNode[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push(
      await startNode(
        dir.path,
        `node-${i}`,
        [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-node-timeout",
          "2000",
          ...(options.args ?? []),
        ],
        undefined,
        options.auth,
        tls,
        "cluster",
      ),
    );
  }
  const cliAuth = options.auth
    ? ["--user", options.auth.username, "--pass", options.auth.password, "--no-auth-warning"]
    : [];
  const create = spawnServer("redis-cli", [
    ...cliAuth,
    ...(tls !== undefined
      ? [
          "--tls",
          "--cacert",
          tls.ca,
          "--cert",
          tls.client?.cert ?? tls.cert,
          "--key",
          tls.client?.key ?? tls.key,
        ]
      : []),
    "--cluster",
    "create",
    ...nodes.map((n) => `127.0.0.1:${n.port}`),
    "--cluster-replicas",
    String(Math.floor(count / 3) - 1),
    "--cluster-yes",
  ]);
  await waitFor("redis-cli --cluster create", async () => create.exited, {
    timeoutMs: 30_000,
    describe: () => create.output(),
  });
  for (const n of nodes) {
    await waitFor(
      `cluster_state:ok on ${n.port}`,
      async () => {
        const client = new Redis({
          port: n.port,
          host: "127.0.0.1",
          maxRetriesPerRequest: 1,
          ...(options.auth ?? {}),
          ...(tls !== undefined ? { tls: redisClientTls(tls) } : {}),
        });
        client.on("error", () => {});
        try {
          return String(await client.call("CLUSTER", "INFO")).includes("cluster_state:ok");
        } finally {
          client.disconnect();
        }
      },
      { timeoutMs: 30_000, intervalMs: 200, describe: () => create.output() },
    );
  }
  return {
    nodes,
    addresses: nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.process.kill()));
      dir.remove();
    },
  };
}
