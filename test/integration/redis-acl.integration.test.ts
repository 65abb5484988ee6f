import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { checkSource } from "../../compiler/check/index.js";
import {
  REDIS_ADMIN_USER,
  REDIS_OPS_USER,
  REDIS_SENTINEL_CLIENT_USER,
  redisBuiltInPasswordVar,
  redisHashTag,
  redisPasswordVar,
} from "../../compiler/emit/_names.js";
import {
  allRedisAclUsers,
  passwordFrom,
  redisAclFile,
  replicaUser,
  sentinelAuthLines,
} from "../../compiler/emit/_redis-acl.js";
import { TLS_FILES } from "../../compiler/emit/_tls.js";
import { emitCompose } from "../../compiler/emit/compose.js";
import { emitK8s } from "../../compiler/emit/k8s.js";
import { buildWiring, emitWiring } from "../../compiler/emit/wiring.js";
import { sagaKeys } from "../../runtime/_saga-store.js";
import { memoryBus } from "../../runtime/bus.js";
import { coordinationKeys } from "../../runtime/coordination/backend.js";
import { RedisPermissionError } from "../../runtime/coordination/errors.js";
import { FencedStore } from "../../runtime/coordination/fenced-store.js";
import { LeaderElector } from "../../runtime/coordination/leader-elector.js";
import { acquireLock } from "../../runtime/coordination/lock.js";
import { createRedis, parseRedisConfig } from "../../runtime/coordination/redis-connection.js";
import { RedisCoordination } from "../../runtime/coordination/redis-coordination.js";
import { type Host, startHost } from "../../runtime/host.js";
import { publishEvent } from "../../runtime/messaging.js";
import { sagaId } from "../../runtime/saga.js";
import { MemoryHub } from "../../runtime/transport/memory.js";
import { memoryEffects, SAGA_CATGA, sagaMessages, stepDefinitions } from "../fixtures/saga.js";
import { freePort, spawnServer, tempDir, waitFor } from "../harness/_process.js";
import { makeTestCertificates } from "../harness/certs.js";
import {
  type ClusterRedis,
  type SentinelRedis,
  type StandaloneRedis,
  startRedis,
  startRedisCluster,
  startRedisSentinel,
} from "../harness/redis.js";
import { startCoordinatorHost } from "../helpers/coordinators.js";

/**
 * The Redis ACL catgac emits (compiler/emit/_redis-acl.ts), loaded into real redis-servers with
 * `--aclfile`: the same users and rules compose, Kubernetes and `catga up` start Redis with. The
 * topology is the saga fixture's, with `uses redis` on `stock`; every client logs in as a
 * service's user through `parseRedisConfig` and `createRedis`, as `catga run` does.
 */
const TOPOLOGY = SAGA_CATGA.replace(
  "service stock { handles Reserve, Release }",
  "service stock { handles Reserve, Release  uses redis }",
);

function compile(redisBlock: string) {
  const text = TOPOLOGY.replace("topology sagademo\n", `topology sagademo\n${redisBlock}\n`);
  const { value, diagnostics } = checkSource(text, "sagademo.catga");
  if (value === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return value;
}

const standaloneModel = compile("");
const wiring = buildWiring(standaloneModel, { sourceName: "sagademo.catga" });
const coordinatorTag = redisHashTag("sagademo", "coordinator");
const stockTag = redisHashTag("sagademo", "stock");

/** A password for every user of the model: letters and digits, as the emitted `.env.example` asks. */
function passwordsFor(model: ReturnType<typeof compile>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const u of allRedisAclUsers(model)) out[u.passwordVar] = `p${randomBytes(12).toString("hex")}`;
  return out;
}

const clients: (Redis | Cluster)[] = [];
function track<T extends Redis | Cluster>(client: T): T {
  client.on("error", () => {});
  clients.push(client);
  return client;
}

/** Closes every client made so far: before the servers stop, or they reconnect and fail meanwhile. */
function closeClients(): void {
  for (const c of clients.splice(0)) c.disconnect();
}

/** A client as `catga run` makes it, from the environment the emitted manifests set. */
function connect(env: Record<string, string>): Redis | Cluster {
  return track(createRedis(parseRedisConfig(env), { commandTimeoutMs: 3000, connectTimeoutMs: 3000 }));
}

/** A bare client without credentials (no ready check: it would fail before the command under test). */
function anonymous(port: number): Redis {
  return track(new Redis({ host: "127.0.0.1", port, enableReadyCheck: false, maxRetriesPerRequest: 0 }));
}

/** {@link connect}, once the client is ready (commands fail fast before that: no offline queue). */
async function connected(env: Record<string, string>): Promise<Redis | Cluster> {
  const client = connect(env);
  await waitFor("the Redis client to be ready", async () => client.status === "ready", { timeoutMs: 15_000 });
  return client;
}

describe("Redis ACL — standalone, with the emitted users", () => {
  const passwords = passwordsFor(standaloneModel);
  const admin = {
    username: REDIS_ADMIN_USER,
    password: passwords[redisBuiltInPasswordVar(REDIS_ADMIN_USER)]!,
  };
  let redis: StandaloneRedis;
  let dir: ReturnType<typeof tempDir>;
  const as = async (user: string, passwordVar: string) =>
    (await connected({
      CATGA_REDIS_MODE: "standalone",
      CATGA_REDIS_URL: redis.url,
      CATGA_REDIS_USER: user,
      CATGA_REDIS_PASSWORD: passwords[passwordVar]!,
    })) as Redis;

  beforeAll(async () => {
    dir = tempDir("redis-acl");
    const aclFile = join(dir.path, "users.acl");
    writeFileSync(aclFile, redisAclFile(standaloneModel, passwords));
    redis = await startRedis({ args: ["--aclfile", aclFile], auth: admin });
  }, 30_000);

  afterAll(async () => {
    closeClients();
    await redis?.stop();
    dir?.remove();
  });

  it("acl — a 'uses redis' service reads and writes its own keys and gets NOPERM for another service's", async () => {
    const stock = await as("stock", redisPasswordVar("stock"));
    await stock.set(`${stockTag}:sku:A`, "3");
    await stock.hset(`${stockTag}:reservations`, "o1", "A");
    await stock.incrby(`${stockTag}:sku:A`, 2);
    expect(await stock.get(`${stockTag}:sku:A`)).toBe("5");
    expect(await stock.hgetall(`${stockTag}:reservations`)).toEqual({ o1: "A" });
    // A script over its own keys works; the same over another service's is refused.
    expect(await stock.eval("return redis.call('GET', KEYS[1])", 1, `${stockTag}:sku:A`)).toBe("5");
    await expect(stock.get(`${coordinatorTag}:token`)).rejects.toThrow(/NOPERM/);
    await expect(stock.set(`${redisHashTag("sagademo", "pay")}:x`, "1")).rejects.toThrow(/NOPERM/);
    await expect(stock.get("unscoped")).rejects.toThrow(/NOPERM/);
    await expect(stock.eval("return 1", 1, `${coordinatorTag}:lease`)).rejects.toThrow(/NOPERM/);
    // Nothing server-wide or beyond its keys: no KEYS, SCAN, FLUSHALL, CONFIG, FUNCTION, PUBLISH.
    await expect(stock.keys("*")).rejects.toThrow(/NOPERM/);
    await expect(stock.scan(0)).rejects.toThrow(/NOPERM/);
    await expect(stock.flushall()).rejects.toThrow(/NOPERM/);
    await expect(stock.call("CONFIG", "GET", "requirepass")).rejects.toThrow(/NOPERM/);
    await expect(stock.call("FUNCTION", "FLUSH")).rejects.toThrow(/NOPERM/);
    await expect(stock.publish("anything", "x")).rejects.toThrow(/NOPERM/);
  });

  it("acl — a leader-mode service without 'uses redis' gets only the runtime's commands, not plain data commands", async () => {
    const coordinator = await as("coordinator", redisPasswordVar("coordinator"));
    expect(await coordinator.get(`${coordinatorTag}:token`)).toBeNull();
    await expect(coordinator.lpush(`${coordinatorTag}:list`, "x")).rejects.toThrow(/NOPERM/);
    await expect(coordinator.incrby(`${coordinatorTag}:n`, 2)).rejects.toThrow(/NOPERM/);
  });

  it("acl — election, a lock under the service's scope, the fenced store and tick claims work as the coordinator's user", async () => {
    const coordination = new RedisCoordination(await as("coordinator", redisPasswordVar("coordinator")));
    const elector = new LeaderElector({
      backend: coordination,
      hashTag: coordinatorTag,
      instanceId: "c-1",
      leaseMs: 2000,
    });
    elector.start();
    try {
      await waitFor("c-1 to lead", async () => elector.state === "leader", { timeoutMs: 10_000 });
      const token = elector.token!;
      const store = new FencedStore(coordination, coordinatorTag);
      await store.set("order:1", "reserved", token);
      await store.hupdate("index", { o1: "1" }, [], token);
      expect(await store.get("order:1")).toBe("reserved");
      expect(await store.hgetall("index")).toEqual({ o1: "1" });
      await expect(store.set("order:1", "stale", token - 1)).rejects.toThrow(/stale|newer/i);
      expect(await coordination.claimTick(coordinatorTag, "sweep", 1, token)).toEqual({
        claimed: true,
        last: 0,
      });
      expect(await coordination.holder(coordinatorTag)).toMatchObject({ owner: "c-1", token });

      // A lock scoped under the service's own hash tag is granted; the default lock scope is not.
      const lock = await acquireLock(coordination, "stock", {
        ttlMs: 2000,
        instanceId: "c-1",
        hashTag: `{catga:sagademo:coordinator:lock:stock}`,
      });
      expect(lock).not.toBeNull();
      expect(await lock!.release()).toBe(true);
      await expect(acquireLock(coordination, "stock", { ttlMs: 2000, instanceId: "c-1" })).rejects.toThrow(
        RedisPermissionError,
      );
    } finally {
      await elector.stop({ release: true });
    }
  }, 20_000);

  it("acl — another service's scope is a RedisPermissionError naming the user and the operation", async () => {
    const coordination = new RedisCoordination(await as("stock", redisPasswordVar("stock")));
    const error = await coordination.acquire(coordinatorTag, "intruder", 2000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedisPermissionError);
    expect((error as RedisPermissionError).user).toBe("stock");
    expect((error as Error).message).toContain(
      `Redis user 'stock' is not allowed to acquire ${coordinatorTag}`,
    );
    expect((error as RedisPermissionError).code).toBe("REDIS_NOPERM");
  });

  it("acl — a saga runs to completion with the coordinator logged in as its own Redis user", async () => {
    const hub = new MemoryHub();
    const coordination = new RedisCoordination(await as("coordinator", redisPasswordVar("coordinator")));
    const hosts: Host[] = [];
    try {
      for (const [service, definition] of Object.entries(stepDefinitions(wiring, memoryEffects()))) {
        hosts.push(await startHost({ wiring, service, definition, transport: memoryBus(hub).transport }));
      }
      const host = await startCoordinatorHost(wiring, "saga-1", memoryBus(hub).transport, coordination);
      hosts.push(host);
      await waitFor(
        "the coordinator to lead",
        async () => host.role === "leader" && host.sagas !== undefined,
        {
          timeoutMs: 10_000,
        },
      );
      await host.sagas!.ready;
      const messages = sagaMessages(wiring);
      await publishEvent(
        memoryBus(hub),
        messages.OrderPlaced,
        { orderId: "acl-1", failAt: 2, failUndo: -1 },
        {
          messageId: "m-acl-1",
        },
      );
      const id = sagaId("PlaceOrder", "m-acl-1");
      let status = "";
      await waitFor(
        "the saga to end",
        async () => {
          status = (await coordination.hgetall(coordinatorTag, sagaKeys.record(id))).status ?? "";
          return status === "compensated" || status === "failed" || status === "completed";
        },
        { timeoutMs: 15_000 },
      );
      // Ship (step 2) fails: Charge and Reserve are compensated in reverse, all under the ACL.
      expect(status).toBe("compensated");
    } finally {
      await Promise.all(hosts.map((h) => h.stop({ graceMs: 100 })));
    }
  }, 30_000);

  it("acl — the ops user reads the topology's keys and writes nothing; the default user is off", async () => {
    const ops = await as(REDIS_OPS_USER, redisBuiltInPasswordVar(REDIS_OPS_USER));
    const coordination = new RedisCoordination(ops);
    expect(await coordination.currentTerm(coordinatorTag)).toBeGreaterThan(0);
    await coordination.holder(coordinatorTag);
    await expect(ops.set(`${coordinatorTag}:${coordinationKeys.token("")}`, "9")).rejects.toThrow(/NOPERM/);
    await expect(ops.get("{catga:other:x}:token")).rejects.toThrow(/NOPERM/);
    await expect(anonymous(redis.node.port).get(`${coordinatorTag}:token`)).rejects.toThrow(/NOAUTH/);
  });
});

describe("Redis ACL — Sentinel: replication as catga-replica, failover with authenticated sentinels", () => {
  const model = compile("redis { mode sentinel nodes 3 }");
  const passwords = passwordsFor(model);
  const pw = passwordFrom(passwords);
  const admin = {
    username: REDIS_ADMIN_USER,
    password: passwords[redisBuiltInPasswordVar(REDIS_ADMIN_USER)]!,
  };
  let sentinel: SentinelRedis;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir("redis-acl-sentinel");
    const aclFile = join(dir.path, "users.acl");
    writeFileSync(aclFile, redisAclFile(model, passwords));
    const replica = replicaUser(model);
    sentinel = await startRedisSentinel({
      replicas: 2,
      args: ["--aclfile", aclFile, "--masteruser", replica.name, "--masterauth", pw(replica)],
      auth: admin,
      sentinelConf: sentinelAuthLines(model, "catga", pw),
      sentinelAuth: admin,
    });
  }, 60_000);

  afterAll(async () => {
    closeClients();
    await sentinel?.stop();
    dir?.remove();
  });

  it("acl — the coordinator's client finds the primary through the sentinels, and keeps its lease across a failover", async () => {
    const env = {
      CATGA_REDIS_MODE: "sentinel",
      CATGA_REDIS_SENTINELS: sentinel.sentinelAddresses.map((a) => `${a.host}:${a.port}`).join(","),
      CATGA_REDIS_MASTER: sentinel.masterName,
      CATGA_REDIS_USER: "coordinator",
      CATGA_REDIS_PASSWORD: passwords[redisPasswordVar("coordinator")]!,
      CATGA_REDIS_SENTINEL_USER: REDIS_SENTINEL_CLIENT_USER,
      CATGA_REDIS_SENTINEL_PASSWORD: passwords[redisBuiltInPasswordVar(REDIS_SENTINEL_CLIENT_USER)]!,
    };
    const coordination = new RedisCoordination(await connected(env), {
      waitForReplicas: { replicas: 2, timeoutMs: 2000 },
    });
    let token: number | null = null;
    await waitFor(
      "the first lease",
      async () => {
        token = await coordination.acquire(coordinatorTag, "s-1", 60_000).catch(() => null);
        return token !== null;
      },
      { timeoutMs: 15_000 },
    );
    // Both replicas got the lease under catga-replica (WAIT answered by two).
    expect(coordination.stats.unreplicatedAcquires).toBe(0);
    const store = new FencedStore(coordination, coordinatorTag);
    await store.set("before", "1", token!);

    const oldPrimary = await sentinel.currentPrimaryPort();
    await sentinel.primary.process.kill();
    // The sentinels (logged in to each other and to the servers as catga-sentinel) elect a replica.
    await waitFor(
      "the sentinels to promote a replica",
      async () => (await sentinel.currentPrimaryPort().catch(() => oldPrimary)) !== oldPrimary,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    await waitFor(
      "the client to write on the new primary",
      async () =>
        store.set("after", "2", token!).then(
          () => true,
          () => false,
        ),
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(await store.get("before")).toBe("1");
    expect(await store.get("after")).toBe("2");
  }, 90_000);

  it("acl — sentinels and servers refuse clients without credentials; catga-client may only ask sentinels", async () => {
    for (const node of sentinel.sentinels) {
      await expect(anonymous(node.port).call("SENTINEL", "MASTERS")).rejects.toThrow(/NOAUTH/);
    }
    for (const node of sentinel.replicas) {
      await expect(anonymous(node.port).get(`${coordinatorTag}:token`)).rejects.toThrow(/NOAUTH/);
    }
    const client = track(
      new Redis({
        host: "127.0.0.1",
        port: sentinel.sentinels[0]!.port,
        username: REDIS_SENTINEL_CLIENT_USER,
        password: passwords[redisBuiltInPasswordVar(REDIS_SENTINEL_CLIENT_USER)]!,
      }),
    );
    expect(await client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", sentinel.masterName)).toHaveLength(2);
    await expect(client.call("SENTINEL", "FAILOVER", sentinel.masterName)).rejects.toThrow(/NOPERM/);
    await expect(client.call("SENTINEL", "REMOVE", sentinel.masterName)).rejects.toThrow(/NOPERM/);
  });
});

describe("Redis ACL — Cluster", () => {
  const model = compile("redis { mode cluster nodes 6 }");
  const passwords = passwordsFor(model);
  const pw = passwordFrom(passwords);
  const admin = {
    username: REDIS_ADMIN_USER,
    password: passwords[redisBuiltInPasswordVar(REDIS_ADMIN_USER)]!,
  };
  let cluster: ClusterRedis;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir("redis-acl-cluster");
    const aclFile = join(dir.path, "users.acl");
    writeFileSync(aclFile, redisAclFile(model, passwords));
    const replica = replicaUser(model);
    cluster = await startRedisCluster({
      args: ["--aclfile", aclFile, "--masteruser", replica.name, "--masterauth", pw(replica)],
      auth: admin,
    });
  }, 90_000);

  afterAll(async () => {
    closeClients();
    await cluster?.stop();
    dir?.remove();
  });

  it("acl — a service's user leads, writes fenced data and keeps to its keys on Redis Cluster", async () => {
    const env = (service: string) => ({
      CATGA_REDIS_MODE: "cluster",
      CATGA_REDIS_CLUSTER_NODES: cluster.addresses.map((a) => `${a.host}:${a.port}`).join(","),
      CATGA_REDIS_USER: service,
      CATGA_REDIS_PASSWORD: passwords[redisPasswordVar(service)]!,
    });
    const coordination = new RedisCoordination(await connected(env("coordinator")));
    let token: number | null = null;
    await waitFor(
      "the lease on the cluster",
      async () => {
        token = await coordination.acquire(coordinatorTag, "k-1", 10_000).catch(() => null);
        return token !== null;
      },
      { timeoutMs: 15_000 },
    );
    const store = new FencedStore(coordination, coordinatorTag);
    await store.set("x", "1", token!);
    expect(await store.get("x")).toBe("1");

    const stock = (await connected(env("stock"))) as Cluster;
    await stock.set(`${stockTag}:sku:B`, "7");
    expect(await stock.get(`${stockTag}:sku:B`)).toBe("7");
    await expect(stock.get(`${coordinatorTag}:token`)).rejects.toThrow(/NOPERM/);
  }, 60_000);
});

describe("Redis ACL — the emitted start scripts", () => {
  const passwords = passwordsFor(standaloneModel);
  const admin = {
    username: REDIS_ADMIN_USER,
    password: passwords[redisBuiltInPasswordVar(REDIS_ADMIN_USER)]!,
  };
  const composeScript = (): string => {
    const file = emitCompose(standaloneModel, { sourceName: "sagademo.catga" }).find(
      (f) => f.path === "docker-compose.yml",
    )!;
    // Compose turns `$$` into `$` before the shell sees the script.
    return (parseYaml(file.content).services.redis.command[2] as string).replace(/\$\$/g, "$");
  };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML documents
  const k8sContainer = (name: string): any => {
    const wiringJson = emitWiring(standaloneModel, { sourceName: "sagademo.catga" })[0]!.content;
    const file = emitK8s(standaloneModel, { sourceName: "sagademo.catga", wiringJson })[0]!;
    const sts = parseAllDocuments(file.content)
      .map((d) => d.toJS())
      .find((d) => d?.kind === "StatefulSet" && d.metadata.name === name);
    return sts.spec.template.spec.containers[0];
  };
  const k8sScript = (): string => k8sContainer("sagademo-redis").command[2] as string;

  it("acl — the whole Kubernetes Redis start script runs on TLS with a Secret-layout certificate; its probe and a service with the CA get in", async () => {
    const dir = tempDir("redis-k8s-tls");
    const certs = await makeTestCertificates();
    const port = await freePort();
    const redis = k8sContainer("sagademo-redis");
    // The pod's certificate folder: the kubernetes.io/tls Secret's keys.
    const certDir = join(dir.path, "certs");
    mkdirSync(certDir);
    copyFileSync(certs.server.cert, join(certDir, TLS_FILES.cert));
    copyFileSync(certs.server.key, join(certDir, TLS_FILES.key));
    copyFileSync(certs.ca, join(certDir, TLS_FILES.ca));
    // The pod's paths and port, moved into the test's folder and a free port; nothing else changes.
    const local = (text: string): string =>
      text
        .replaceAll("/tmp/", `${dir.path}/`)
        .replaceAll("/etc/redis/certs", certDir)
        .replaceAll("--dir /data", `--dir ${dir.path}`)
        .replaceAll("6379", String(port));
    // The container's environment as the manifest declares it: each Secret key from the passwords.
    // biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML documents
    const env = (c: any): Record<string, string> =>
      Object.fromEntries(
        // biome-ignore lint/suspicious/noExplicitAny: as above
        (c.env as any[])
          .filter((e) => e.value !== undefined || e.valueFrom.secretKeyRef !== undefined)
          .map((e) => [e.name, e.value ?? passwords[e.valueFrom.secretKeyRef.key]!]),
      );
    const script = local(redis.command[2] as string);
    expect(script).toContain(`--port 0 --tls-port ${port}`);
    const server = spawnServer("sh", ["-c", script], { env: { ...process.env, ...env(redis) } });
    try {
      const probe = (redis.readinessProbe.exec.command as string[]).map(local);
      expect(probe).toContain("--tls");
      const ping = (): string =>
        execFileSync(probe[0]!, probe.slice(1), { env: { ...process.env, ...env(redis) } })
          .toString()
          .trim();
      await waitFor("the emitted readiness probe", async () => ping() === "PONG", {
        timeoutMs: 20_000,
        describe: () => server.output(),
      });
      // The plain port is closed: the same probe without TLS gets no answer.
      const plain = probe.filter((a, i) => a !== "--tls" && a !== "--cacert" && probe[i - 1] !== "--cacert");
      expect(() =>
        execFileSync(plain[0]!, plain.slice(1), { env: { ...process.env, ...env(redis) }, stdio: "pipe" }),
      ).toThrow();
      // The coordinator's environment from its manifest: rediss:// and the CA, its own user.
      const coordinatorEnv = env(k8sContainer("sagademo-coordinator"));
      expect(coordinatorEnv.CATGA_REDIS_URL).toBe("rediss://sagademo-redis-0.sagademo-redis:6379");
      const coordinator = (await connected({
        CATGA_REDIS_MODE: coordinatorEnv.CATGA_REDIS_MODE!,
        CATGA_REDIS_URL: `rediss://localhost:${port}`,
        CATGA_REDIS_TLS_CA: certs.ca,
        CATGA_REDIS_USER: coordinatorEnv.CATGA_REDIS_USER!,
        CATGA_REDIS_PASSWORD: coordinatorEnv.CATGA_REDIS_PASSWORD!,
      })) as Redis;
      expect(coordinatorEnv.CATGA_REDIS_TLS_CA).toBe("/etc/catga-redis-tls/ca.crt");
      expect(await new RedisCoordination(coordinator).acquire(coordinatorTag, "x", 1000)).toBe(1);
      await expect(coordinator.get(`${stockTag}:sku:A`)).rejects.toThrow(/NOPERM/);
    } finally {
      closeClients();
      await server.kill();
      certs.remove();
      dir.remove();
    }
  }, 60_000);

  for (const [name, script] of [
    ["compose", composeScript],
    ["kubernetes", k8sScript],
  ] as const) {
    it(`acl — the ${name} Redis start script writes, from the environment, an ACL redis-server runs with`, async () => {
      const dir = tempDir(`redis-acl-${name}`);
      let redis: StandaloneRedis | undefined;
      try {
        // The script up to its `exec redis-server`, writing into a folder of the test instead of /tmp.
        const text = script();
        const auth = text.slice(0, text.indexOf("exec redis-server")).replaceAll("/tmp/", `${dir.path}/`);
        expect(auth).not.toMatch(/p[0-9a-f]{24}/); // no password in the emitted text
        execFileSync("sh", ["-c", `${auth}true`], { env: { ...process.env, ...passwords } });
        redis = await startRedis({ args: ["--include", join(dir.path, "auth.conf")], auth: admin });
        const coordinator = (await connected({
          CATGA_REDIS_MODE: "standalone",
          CATGA_REDIS_URL: redis.url,
          CATGA_REDIS_USER: "coordinator",
          CATGA_REDIS_PASSWORD: passwords[redisPasswordVar("coordinator")]!,
        })) as Redis;
        const coordination = new RedisCoordination(coordinator);
        expect(await coordination.acquire(coordinatorTag, "x", 1000)).toBe(1);
        await expect(coordinator.get(`${stockTag}:sku:A`)).rejects.toThrow(/NOPERM/);
        await expect(anonymous(redis.node.port).get("k")).rejects.toThrow(/NOAUTH/);
      } finally {
        closeClients();
        await redis?.stop();
        dir.remove();
      }
    }, 30_000);
  }
});
