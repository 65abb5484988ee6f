import type { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationUnavailableError } from "../../runtime/coordination/errors.js";
import { connectRedis, parseRedisConfig } from "../../runtime/coordination/index.js";
import { TlsError } from "../../runtime/errors.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import type { Transport } from "../../runtime/transport/types.js";
import { makeTestCertificates, type TestCertificates } from "../harness/certs.js";
import { type NatsCluster, type NatsServer, startNats, startNatsCluster } from "../harness/nats.js";
import {
  type ClusterRedis,
  type RedisServerTls,
  type SentinelRedis,
  type StandaloneRedis,
  startRedis,
  startRedisCluster,
  startRedisSentinel,
} from "../harness/redis.js";

/**
 * TLS against real servers with certificates made by `openssl` (the code behind `catga certs`):
 * NATS (a server, and a 3-node cluster whose routes are TLS too) and Redis (standalone, Sentinel
 * with TLS sentinels and replication, Cluster with a TLS bus). A client with the CA connects; one
 * without it, with another CA, or reaching a server whose certificate names another host fails at
 * once with a `TlsError` that names the server, the cause and the fix — not a hang until timeout.
 */
let certs: TestCertificates;
beforeAll(async () => {
  certs = await makeTestCertificates();
});
afterAll(() => certs?.remove());

/** The time a failed connect may take: well below the 10 s connect timeouts the tests give (4.2 s seen once in a loaded full run). */
const FAST_MS = 6000;

async function failsFast<T>(attempt: () => Promise<T>): Promise<{ error: unknown; ms: number }> {
  const start = Date.now();
  try {
    await attempt();
  } catch (error) {
    return { error, ms: Date.now() - start };
  }
  throw new Error("expected the connection to fail");
}

function natsTlsBlock(cert: { cert: string; key: string }, ca: string, indent = "  "): string {
  return [
    `${indent}tls {`,
    `${indent}  cert_file: "${cert.cert}"`,
    `${indent}  key_file: "${cert.key}"`,
    `${indent}  ca_file: "${ca}"`,
    `${indent}}`,
  ].join("\n");
}

async function roundTrip(a: Transport, b: Transport, subject: string): Promise<string> {
  const sub = b.subscribe(subject, {}, (msg) => {
    if (msg.reply !== undefined)
      b.publish(msg.reply, new TextEncoder().encode(`re:${new TextDecoder().decode(msg.data)}`));
  });
  try {
    await b.flush();
    // Interest crosses the routes a moment after the subscription reaches its own server.
    for (let i = 0; ; i++) {
      try {
        const reply = await a.request(subject, new TextEncoder().encode("hi"), { timeoutMs: 1000 });
        return new TextDecoder().decode(reply.data);
      } catch (error) {
        if (i >= 20) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    sub.unsubscribe();
  }
}

describe("tls — NATS", () => {
  let server: NatsServer;
  let elsewhere: NatsServer;
  let plain: NatsServer;
  beforeAll(async () => {
    server = await startNats({ config: `${natsTlsBlock(certs.server, certs.ca, "")}\n` });
    elsewhere = await startNats({ config: `${natsTlsBlock(certs.elsewhere, certs.ca, "")}\n` });
    plain = await startNats();
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), elsewhere?.stop(), plain?.stop()]);
  });

  it("tls — a NATS client with the CA connects and exchanges messages", async () => {
    const t = await natsTransport({
      servers: [server.url],
      tls: { caFile: certs.ca },
      connectTimeoutMs: 10_000,
    });
    try {
      expect(await roundTrip(t, t, "tls.one")).toBe("re:hi");
    } finally {
      await t.close();
    }
  });

  it("tls — a NATS client without the CA fails at once with a TlsError naming the server and CATGA_NATS_TLS_CA", async () => {
    const { error, ms } = await failsFast(() =>
      natsTransport({ servers: [server.url], connectTimeoutMs: 10_000 }),
    );
    expect(error).toBeInstanceOf(TlsError);
    expect((error as TlsError).failure).toBe("untrusted-certificate");
    expect((error as TlsError).message).toContain(server.url);
    expect((error as TlsError).message).toContain("CATGA_NATS_TLS_CA");
    expect(ms).toBeLessThan(FAST_MS);
  });

  it("tls — a NATS client trusting another CA fails with untrusted-certificate", async () => {
    const { error, ms } = await failsFast(() =>
      natsTransport({ servers: [server.url], tls: { caFile: certs.otherCa }, connectTimeoutMs: 10_000 }),
    );
    expect(error).toBeInstanceOf(TlsError);
    expect((error as TlsError).failure).toBe("untrusted-certificate");
    expect(ms).toBeLessThan(FAST_MS);
  });

  it("tls — a NATS server whose certificate names another host fails with hostname-mismatch", async () => {
    const { error, ms } = await failsFast(() =>
      natsTransport({ servers: [elsewhere.url], tls: { caFile: certs.ca }, connectTimeoutMs: 10_000 }),
    );
    expect(error).toBeInstanceOf(TlsError);
    expect((error as TlsError).failure).toBe("hostname-mismatch");
    expect((error as TlsError).message).toContain(elsewhere.url);
    expect(ms).toBeLessThan(FAST_MS);
  });

  it("tls — a client with TLS settings against a plain NATS server fails at once with server-not-tls", async () => {
    const { error, ms } = await failsFast(() =>
      natsTransport({ servers: [plain.url], tls: { caFile: certs.ca }, connectTimeoutMs: 10_000 }),
    );
    expect(error).toBeInstanceOf(TlsError);
    expect((error as TlsError).failure).toBe("server-not-tls");
    expect(ms).toBeLessThan(FAST_MS);
  });
});

describe("tls — NATS cluster with TLS routes", () => {
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await startNatsCluster(3, {
      config: (routes, clusterPort) =>
        [
          natsTlsBlock(certs.server, certs.ca, ""),
          "cluster {",
          '  name: "tls"',
          `  listen: "127.0.0.1:${clusterPort}"`,
          natsTlsBlock(certs.server, certs.ca),
          "  routes = [",
          ...routes.map((r) => `    "${r}"`),
          "  ]",
          "}",
          "",
        ].join("\n"),
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("tls — three nodes route over TLS and a request crosses them", async () => {
    for (const s of cluster.servers) {
      const varz = (await (await fetch(`http://127.0.0.1:${s.monitorPort}/varz`)).json()) as {
        tls_required?: boolean;
        cluster?: { tls_required?: boolean; tls_verify?: boolean };
      };
      expect(varz.tls_required).toBe(true);
      expect(varz.cluster?.tls_required).toBe(true);
    }
    const a = await natsTransport({
      servers: [cluster.urls[0]!],
      tls: { caFile: certs.ca },
      connectTimeoutMs: 10_000,
    });
    const b = await natsTransport({
      servers: [cluster.urls[2]!],
      tls: { caFile: certs.ca },
      connectTimeoutMs: 10_000,
    });
    try {
      expect(await roundTrip(a, b, "tls.routes")).toBe("re:hi");
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

function env(extra: Record<string, string>): Record<string, string> {
  return extra;
}

async function setGet(client: Redis | Cluster, keys: readonly string[]): Promise<string[]> {
  for (const k of keys) await client.set(k, `v-${k}`);
  return Promise.all(keys.map(async (k) => (await client.get(k)) ?? ""));
}

describe("tls — Redis standalone", () => {
  let redis: StandaloneRedis;
  let mutual: StandaloneRedis;
  let elsewhere: StandaloneRedis;
  let plain: StandaloneRedis;
  beforeAll(async () => {
    const tls: RedisServerTls = { ca: certs.ca, ...certs.server };
    redis = await startRedis({ tls });
    mutual = await startRedis({ tls: { ...tls, authClients: true, client: certs.client } });
    elsewhere = await startRedis({ tls: { ca: certs.ca, ...certs.elsewhere } });
    plain = await startRedis();
  });
  afterAll(async () => {
    await Promise.all([redis?.stop(), mutual?.stop(), elsewhere?.stop(), plain?.stop()]);
  });

  it("tls — a Redis client with CATGA_REDIS_TLS_CA connects", async () => {
    expect(redis.url).toMatch(/^rediss:/);
    const config = parseRedisConfig(env({ CATGA_REDIS_URL: redis.url, CATGA_REDIS_TLS_CA: certs.ca }));
    const client = await connectRedis(config, { readyTimeoutMs: 10_000 });
    try {
      expect(await setGet(client, ["tls:a"])).toEqual(["v-tls:a"]);
    } finally {
      client.disconnect();
    }
  });

  it("tls — a Redis client without the CA fails at once with a TlsError naming the server and CATGA_REDIS_TLS_CA", async () => {
    const config = parseRedisConfig(env({ CATGA_REDIS_URL: redis.url }));
    const { error, ms } = await failsFast(() => connectRedis(config, { readyTimeoutMs: 10_000 }));
    expect(error).toBeInstanceOf(TlsError);
    expect((error as TlsError).failure).toBe("untrusted-certificate");
    expect((error as TlsError).message).toContain(redis.url);
    expect((error as TlsError).message).toContain("CATGA_REDIS_TLS_CA");
    expect(ms).toBeLessThan(FAST_MS);
  });

  it("tls — a Redis client trusting another CA fails with untrusted-certificate", async () => {
    const config = parseRedisConfig(env({ CATGA_REDIS_URL: redis.url, CATGA_REDIS_TLS_CA: certs.otherCa }));
    const { error, ms } = await failsFast(() => connectRedis(config, { readyTimeoutMs: 10_000 }));
    expect((error as TlsError).failure).toBe("untrusted-certificate");
    expect(ms).toBeLessThan(FAST_MS);
  });

  it("tls — a Redis server whose certificate names another host fails with hostname-mismatch; CATGA_REDIS_TLS_SERVERNAME fixes it", async () => {
    const config = parseRedisConfig(env({ CATGA_REDIS_URL: elsewhere.url, CATGA_REDIS_TLS_CA: certs.ca }));
    const { error, ms } = await failsFast(() => connectRedis(config, { readyTimeoutMs: 10_000 }));
    expect(error).toBeInstanceOf(TlsError);
    expect((error as TlsError).failure).toBe("hostname-mismatch");
    expect((error as TlsError).message).toContain("CATGA_REDIS_TLS_SERVERNAME");
    expect(ms).toBeLessThan(FAST_MS);
    const named = parseRedisConfig(
      env({
        CATGA_REDIS_URL: elsewhere.url,
        CATGA_REDIS_TLS_CA: certs.ca,
        CATGA_REDIS_TLS_SERVERNAME: "elsewhere.invalid",
      }),
    );
    const client = await connectRedis(named, { readyTimeoutMs: 10_000 });
    try {
      expect(await client.ping()).toBe("PONG");
    } finally {
      client.disconnect();
    }
  });

  it("tls — a Redis server that wants client certificates takes CATGA_REDIS_TLS_CERT/KEY and refuses a client without", async () => {
    const config = parseRedisConfig(
      env({
        CATGA_REDIS_URL: mutual.url,
        CATGA_REDIS_TLS_CA: certs.ca,
        CATGA_REDIS_TLS_CERT: certs.client.cert,
        CATGA_REDIS_TLS_KEY: certs.client.key,
      }),
    );
    const client = await connectRedis(config, { readyTimeoutMs: 10_000 });
    try {
      expect(await client.ping()).toBe("PONG");
    } finally {
      client.disconnect();
    }
    const without = parseRedisConfig(env({ CATGA_REDIS_URL: mutual.url, CATGA_REDIS_TLS_CA: certs.ca }));
    const { error, ms } = await failsFast(() => connectRedis(without, { readyTimeoutMs: 10_000 }));
    expect(error).toBeInstanceOf(TlsError);
    expect((error as TlsError).failure).toBe("client-certificate-rejected");
    expect((error as TlsError).message).toContain("CATGA_REDIS_TLS_CERT");
    expect(ms).toBeLessThan(FAST_MS);
  });

  it("tls — a Redis TLS client against a plain server is never ready and says so after its timeout (Redis does not answer a ClientHello)", async () => {
    const url = plain.url.replace("redis:", "rediss:");
    const config = parseRedisConfig(env({ CATGA_REDIS_URL: url, CATGA_REDIS_TLS_CA: certs.ca }));
    const error = await connectRedis(config, { readyTimeoutMs: 1500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoordinationUnavailableError);
    expect((error as Error).message).toContain(url);
  });

  it("tls — a plain Redis client against a TLS-only server is never ready and says so after its timeout", async () => {
    const config = parseRedisConfig(env({ CATGA_REDIS_URL: redis.url.replace("rediss:", "redis:") }));
    const error = await connectRedis(config, { readyTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoordinationUnavailableError);
  });
});

describe("tls — Redis Sentinel with TLS sentinels and replication", () => {
  let sentinel: SentinelRedis;
  beforeAll(async () => {
    sentinel = await startRedisSentinel({ tls: { ca: certs.ca, ...certs.server } });
  }, 60_000);
  afterAll(async () => {
    await sentinel?.stop();
  });

  const sentinelEnv = (extra: Record<string, string> = {}) =>
    env({
      CATGA_REDIS_MODE: "sentinel",
      CATGA_REDIS_SENTINELS: sentinel.sentinelAddresses.map((a) => `${a.host}:${a.port}`).join(","),
      CATGA_REDIS_MASTER: sentinel.masterName,
      ...extra,
    });

  it("tls — a client with the CA finds the primary through TLS sentinels and writes", async () => {
    const client = await connectRedis(parseRedisConfig(sentinelEnv({ CATGA_REDIS_TLS_CA: certs.ca })), {
      readyTimeoutMs: 10_000,
    });
    try {
      expect(await setGet(client, ["tls:s"])).toEqual(["v-tls:s"]);
      expect(String(await client.call("INFO", "replication"))).toContain("role:master");
    } finally {
      client.disconnect();
    }
  });

  it("tls — a Sentinel client without the CA fails at once with a TlsError naming the sentinels", async () => {
    const config = parseRedisConfig(sentinelEnv({ CATGA_REDIS_TLS: "true" }));
    const { error, ms } = await failsFast(() => connectRedis(config, { readyTimeoutMs: 10_000 }));
    expect(error).toBeInstanceOf(TlsError);
    expect((error as TlsError).failure).toBe("untrusted-certificate");
    const first = sentinel.sentinelAddresses[0]!;
    expect((error as TlsError).message).toContain(`sentinel ${first.host}:${first.port}`);
    expect(ms).toBeLessThan(FAST_MS);
  });
});

describe("tls — Redis Cluster with a TLS bus", () => {
  let cluster: ClusterRedis;
  beforeAll(async () => {
    cluster = await startRedisCluster({ tls: { ca: certs.ca, ...certs.server } });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const clusterEnv = (extra: Record<string, string> = {}) =>
    env({
      CATGA_REDIS_MODE: "cluster",
      CATGA_REDIS_CLUSTER_NODES: cluster.addresses.map((a) => `${a.host}:${a.port}`).join(","),
      ...extra,
    });

  it("tls — a Cluster client with the CA writes keys in several slots", async () => {
    const client = await connectRedis(parseRedisConfig(clusterEnv({ CATGA_REDIS_TLS_CA: certs.ca })), {
      readyTimeoutMs: 10_000,
    });
    try {
      const keys = ["tls:a", "tls:b", "tls:c", "tls:d", "tls:e"];
      expect(await setGet(client, keys)).toEqual(keys.map((k) => `v-${k}`));
    } finally {
      client.disconnect();
    }
  });

  it("tls — a Cluster client without the CA fails at once with a TlsError", async () => {
    const config = parseRedisConfig(clusterEnv({ CATGA_REDIS_TLS: "true" }));
    const { error, ms } = await failsFast(() => connectRedis(config, { readyTimeoutMs: 10_000 }));
    expect(error).toBeInstanceOf(TlsError);
    expect((error as TlsError).failure).toBe("untrusted-certificate");
    expect((error as TlsError).message).toContain(
      `cluster node ${cluster.addresses[0]!.host}:${cluster.addresses[0]!.port}`,
    );
    expect(ms).toBeLessThan(FAST_MS);
  });
});
