/**
 * Redis connections for coordination: standalone, Sentinel and Cluster, configured so a leader can
 * trust what its commands tell it.
 *
 * The defaults of ioredis are wrong for leases. ioredis queues commands while disconnected and
 * replays them after reconnecting (offline queue, 20 retries per request), so a renew sent during an
 * outage could "succeed" long after the lease expired, and a leader would wait on it instead of
 * stepping down. Here commands fail fast while disconnected (no offline queue, no resend of
 * in-flight commands, a command timeout), while the connection itself reconnects forever with
 * jittered, capped backoff so the instance recovers on its own when Redis comes back.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions as TlsConnectionOptions } from "node:tls";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { cappedExponential } from "../_retry.js";
import { asTlsError, probeTls } from "../_tls.js";
import type { TlsError } from "../errors.js";
import { CoordinationUnavailableError, RedisConfigError } from "./errors.js";

/** `host:port` of a sentinel or cluster node. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** Settings shared by every mode. */
export interface RedisCommonConfig {
  /**
   * ACL user name on the Redis data nodes (`AUTH user password`); catgac emits one per service.
   * A user inside a standalone URL wins over this one.
   * @default the `default` user
   */
  username?: string;
  /**
   * Password of the Redis data nodes (AUTH). A password inside a standalone URL wins over this one.
   * @default no password
   */
  password?: string;
  /**
   * Sentinel mode: ACL user name on the sentinels (they have users of their own).
   * @default sentinels are contacted without credentials
   */
  sentinelUsername?: string;
  /**
   * Sentinel mode: password on the sentinels.
   * @default none
   */
  sentinelPassword?: string;
  /**
   * Connect with TLS (to data nodes and, in Sentinel mode, to the sentinels): `true` trusts the
   * system's CAs only; an object names the CA (and a client certificate for mutual TLS). A
   * `rediss://` URL turns TLS on by itself.
   * @default false
   */
  tls?: boolean | RedisTlsOptions;
}

/** TLS settings of a Redis connection: files, read when the client is created. */
export interface RedisTlsOptions {
  /** PEM file of the CA that signed the servers' certificates. @default the system's CAs */
  caFile?: string;
  /** PEM client certificate, for servers with `tls-auth-clients yes`. @default none */
  certFile?: string;
  /** PEM key of {@link certFile}. @default none */
  keyFile?: string;
  /**
   * The name the servers' certificates must list, instead of the host connected to (SNI and
   * hostname check); for servers reached by an address their certificates do not list.
   * @default the host connected to
   */
  servername?: string;
}

/** Where Redis is: one server, a Sentinel-monitored primary, or a Cluster. */
export type RedisConfig =
  | ({ mode: "standalone" /** `redis://host:port` or `rediss://…` */; url: string } & RedisCommonConfig)
  | ({
      mode: "sentinel";
      /** The sentinels to ask for the current primary. */
      sentinels: readonly RedisAddress[];
      /** The monitored primary's name (`sentinel monitor <name> …`). */
      masterName: string;
    } & RedisCommonConfig)
  | ({
      mode: "cluster" /** Seed nodes; the rest of the cluster is discovered. */;
      nodes: readonly RedisAddress[];
    } & RedisCommonConfig);

/** How the client behaves on failures. The defaults suit leases of a few seconds and more. */
export interface RedisConnectionOptions {
  /**
   * A command without a reply within this time fails (`Command timed out`), so a renew stuck on a
   * half-dead connection cannot hold a leader past its renew deadline. Keep it well below the
   * lease's renew deadline.
   * @default 1000
   */
  commandTimeoutMs?: number;
  /**
   * Time allowed to establish a connection before it is dropped and retried.
   * @default 2000
   */
  connectTimeoutMs?: number;
  /**
   * First reconnect delay; it doubles per attempt up to {@link maxBackoffMs}, each delay jittered to
   * 50–100 % so a fleet of instances does not reconnect in lockstep.
   * @default 50
   */
  minBackoffMs?: number;
  /**
   * Cap of the reconnect delay.
   * @default 2000
   */
  maxBackoffMs?: number;
  /**
   * Name shown in `CLIENT LIST`, e.g. the instance id.
   * @default none
   */
  connectionName?: string;
  /**
   * Called with connection errors (ioredis emits them on every failed reconnect).
   * @default errors are dropped: the callers see failures through their commands
   */
  onError?: (error: Error) => void;
  /**
   * Random numbers in [0, 1), for the jitter.
   * @default Math.random
   */
  random?: () => number;
}

/**
 * Jittered exponential backoff: attempt 1 waits about `min`, each further attempt doubles, capped at
 * `max`; the delay is uniformly 50–100 % of that ("equal jitter").
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const exp = cappedExponential(Math.min(Math.max(attempt - 1, 0), 30), minMs, maxMs);
  return Math.max(1, Math.round(exp / 2 + (exp / 2) * random()));
}

/**
 * A client for `config`: `Redis` for standalone and Sentinel, `Cluster` for Cluster. It connects at
 * once, reconnects forever, and fails commands fast while disconnected (see the file comment).
 * The caller owns it and ends it with `disconnect()` or `quit()`.
 */
export function createRedis(config: RedisConfig, options: RedisConnectionOptions = {}): Redis | Cluster {
  const minBackoff = options.minBackoffMs ?? 50;
  const maxBackoff = options.maxBackoffMs ?? 2000;
  const random = options.random ?? Math.random;
  const retry = (times: number): number => backoffDelay(times, minBackoff, maxBackoff, random);
  const tls = tlsOptions(config);
  const common: RedisOptions = {
    commandTimeout: options.commandTimeoutMs ?? 1000,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    // Fail fast: a command issued while disconnected errors at once instead of waiting in a queue.
    enableOfflineQueue: false,
    // Commands in flight when the connection drops fail instead of being replayed after reconnect:
    // a replayed renew would arrive after its lease could have expired.
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    // After a Sentinel failover the old primary (if it comes back) is a replica and refuses writes:
    // reconnect so the connector asks the sentinels for the new primary.
    reconnectOnError: (error) => (error.message.startsWith("READONLY") ? 1 : false),
    ...(options.connectionName !== undefined ? { connectionName: options.connectionName } : {}),
    ...(config.username !== undefined ? { username: config.username } : {}),
    ...(config.password !== undefined ? { password: config.password } : {}),
    ...(tls !== undefined ? { tls } : {}),
  };
  let client: Redis | Cluster;
  switch (config.mode) {
    case "standalone":
      client = new Redis(config.url, { ...common, retryStrategy: retry });
      break;
    case "sentinel":
      client = new Redis({
        ...common,
        sentinels: config.sentinels.map((s) => ({ host: s.host, port: s.port })),
        name: config.masterName,
        retryStrategy: retry,
        // With all sentinels down, keep asking (the ioredis default gives up after a while).
        sentinelRetryStrategy: retry,
        // Subscribe to +switch-master so a failover is noticed before the old socket times out.
        failoverDetector: true,
        // Ask only the sentinels configured: the ones a sentinel reports are IP addresses (sentinels
        // announce no host name of their own), which a TLS certificate for the host names does not
        // cover. Found by the compose run (test/compose): with the default, a client on TLS crashed on
        // the first discovered sentinel. Every emitted deployment lists all of its sentinels.
        updateSentinels: false,
        ...(config.sentinelUsername !== undefined ? { sentinelUsername: config.sentinelUsername } : {}),
        ...(config.sentinelPassword !== undefined ? { sentinelPassword: config.sentinelPassword } : {}),
        ...(tls !== undefined ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      });
      break;
    case "cluster": {
      const { username, password, tls: nodeTls, ...nodeOptions } = common;
      const clusterOptions: ClusterOptions = {
        enableOfflineQueue: false,
        clusterRetryStrategy: retry,
        // Retry MOVED/ASK/CLUSTERDOWN briefly (a resharding or a failover in progress), then fail.
        maxRedirections: 6,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        slotsRefreshTimeout: options.connectTimeoutMs ?? 2000,
        redisOptions: {
          ...nodeOptions,
          ...(username !== undefined ? { username } : {}),
          ...(password !== undefined ? { password } : {}),
          ...(nodeTls !== undefined ? { tls: nodeTls } : {}),
        },
      };
      client = new Cluster(
        config.nodes.map((n) => ({ host: n.host, port: n.port })),
        clusterOptions,
      );
      break;
    }
  }
  // Without a listener ioredis prints every reconnect failure to the console.
  const onError = options.onError;
  const target = describeRedis(config);
  const diagnose = tls === undefined ? undefined : tlsDiagnosis(config, tls);
  client.on(
    "error",
    onError === undefined
      ? () => {}
      : (error: Error) => {
          const known = redisTlsError(error, target);
          onError(known ?? error);
          // ioredis drops the cause of a failed handshake with a sentinel or cluster node
          // ("Connection is closed"): find it with a handshake of our own.
          if (known === undefined && diagnose !== undefined) {
            diagnose().then((found) => {
              if (found !== undefined && client.status !== "ready" && client.status !== "end") onError(found);
            });
          }
        },
  );
  if (client instanceof Redis) reviveOnUnexpectedEnd(client, retry);
  return client;
}

/**
 * {@link createRedis}, resolved once the connection is ready. A TLS verification failure rejects at
 * once with a {@link TlsError} naming the server and the fix (retrying cannot help); anything else
 * that keeps the connection from becoming ready rejects after `readyTimeoutMs` with a
 * {@link CoordinationUnavailableError} carrying the last connection error. The client is closed when
 * the promise rejects.
 */
export function connectRedis(
  config: RedisConfig,
  options: RedisConnectionOptions & {
    /** @default 5000 */
    readyTimeoutMs?: number;
  } = {},
): Promise<Redis | Cluster> {
  const { readyTimeoutMs = 5000, ...rest } = options;
  const target = describeRedis(config);
  let lastError: Error | undefined;
  let settle: ((error: Error | undefined) => void) | undefined;
  const client = createRedis(config, {
    ...rest,
    onError: (error) => {
      lastError = error;
      rest.onError?.(error);
      if (error.name === "TlsError") settle?.(error);
    },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        settle?.(
          new CoordinationUnavailableError(`connect to ${target} within ${readyTimeoutMs} ms`, {
            cause: lastError,
          }),
        ),
      readyTimeoutMs,
    );
    settle = (error) => {
      settle = undefined;
      clearTimeout(timer);
      client.off("ready", onReady);
      if (error === undefined) return resolve(client);
      client.disconnect();
      reject(error);
    };
    const onReady = () => settle?.(undefined);
    if (client.status === "ready") settle(undefined);
    else client.once("ready", onReady);
  });
}

/** `error` as a {@link TlsError} when it is a TLS verification failure of a Redis connection. */
export function redisTlsError(error: unknown, target: string): TlsError | undefined {
  return asTlsError(error, target, {
    caVariable: REDIS_ENV.tlsCa,
    certVariable: REDIS_ENV.tlsCert,
    keyVariable: REDIS_ENV.tlsKey,
    serverNameVariable: REDIS_ENV.tlsServername,
  });
}

/** The servers of `config`, for messages: the URL, or the sentinels or cluster nodes. */
export function describeRedis(config: RedisConfig): string {
  const list = (addresses: readonly RedisAddress[]) => addresses.map((a) => `${a.host}:${a.port}`).join(",");
  switch (config.mode) {
    case "standalone":
      // Never the password a URL may carry.
      return config.url.replace(/\/\/[^@/]*@/, "//");
    case "sentinel":
      return `Redis '${config.masterName}' via sentinels ${list(config.sentinels)}`;
    case "cluster":
      return `Redis Cluster ${list(config.nodes)}`;
  }
}

/**
 * A function that shakes hands with the servers `config` names (the sentinels, the cluster's seed
 * nodes, the standalone host) and resolves with the first TLS verification failure as a
 * {@link TlsError} naming that server. At most one probe at a time, and one per 5 s.
 */
function tlsDiagnosis(config: RedisConfig, tls: TlsConnectionOptions): () => Promise<TlsError | undefined> {
  let last = 0;
  let running = false;
  const servers: { host: string; port: number; label: string }[] = [];
  switch (config.mode) {
    case "standalone": {
      try {
        const url = new URL(config.url);
        servers.push({ host: url.hostname, port: Number(url.port || 6379), label: describeRedis(config) });
      } catch {
        // parseRedisConfig checked the URL's shape; a URL it let through that URL() refuses is not probed
      }
      break;
    }
    case "sentinel":
      for (const s of config.sentinels) servers.push({ ...s, label: `sentinel ${s.host}:${s.port}` });
      break;
    case "cluster":
      for (const n of config.nodes) servers.push({ ...n, label: `cluster node ${n.host}:${n.port}` });
      break;
  }
  return async () => {
    if (running || Date.now() - last < 5000) return undefined;
    running = true;
    last = Date.now();
    try {
      for (const s of servers) {
        const error = await probeTls(s.host, s.port, tls);
        const found = error === undefined ? undefined : redisTlsError(error, s.label);
        if (found !== undefined) return found;
      }
      return undefined;
    } finally {
      running = false;
    }
  };
}

/** The Node TLS options of `config`, the files read now; undefined without TLS. */
function tlsOptions(config: RedisConfig): TlsConnectionOptions | undefined {
  const tls = config.tls;
  if (tls === undefined || tls === false) return undefined;
  if (tls === true) return {};
  const read = (file: string | undefined, variable: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      throw new RedisConfigError(
        `cannot read ${variable} '${file}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        variable,
        { cause: error },
      );
    }
  };
  const ca = read(tls.caFile, REDIS_ENV.tlsCa);
  const cert = read(tls.certFile, REDIS_ENV.tlsCert);
  const key = read(tls.keyFile, REDIS_ENV.tlsKey);
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? REDIS_ENV.tlsCert : REDIS_ENV.tlsKey;
    throw new RedisConfigError(
      `${missing} is not set: a client certificate needs both the certificate and its key`,
      missing,
    );
  }
  return {
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
  };
}

/**
 * ioredis can give up on a connection by itself: in Sentinel mode the failover detector of the lost
 * connection calls `disconnect()` on the connector while a reconnect is resolving the new primary,
 * and the client then ends for good (status `end`, every command "Connection is closed"). Seen in
 * our Sentinel failover test on a loaded machine; `failoverDetector` is off by default in ioredis
 * for related reasons (ioredis #1362), but without it a hung primary is only noticed by timeouts.
 * So: an `end` that the owner did not ask for (through `disconnect()` or `quit()`) is answered with
 * a new `connect()` after the usual backoff, and "reconnects forever" holds.
 */
function reviveOnUnexpectedEnd(client: Redis, retry: (times: number) => number): void {
  let closedByOwner = false;
  let attempts = 0;
  const disconnect = client.disconnect.bind(client);
  client.disconnect = (reconnect = false) => {
    if (!reconnect) closedByOwner = true;
    disconnect(reconnect);
  };
  const quit = client.quit.bind(client) as (...args: unknown[]) => Promise<"OK">;
  (client as { quit: (...args: unknown[]) => Promise<"OK"> }).quit = (...args) => {
    closedByOwner = true;
    return quit(...args);
  };
  client.on("ready", () => {
    attempts = 0;
  });
  client.on("end", () => {
    if (closedByOwner) return;
    const timer = setTimeout(() => {
      if (!closedByOwner && client.status === "end") client.connect().catch(() => {});
    }, retry(++attempts));
    // A client the owner forgot to close must not keep the process alive by itself.
    timer.unref();
  });
}

/** Environment variables read by {@link parseRedisConfig} (the same names as the compiler's `ENV`). */
export const REDIS_ENV = {
  mode: "CATGA_REDIS_MODE",
  url: "CATGA_REDIS_URL",
  sentinels: "CATGA_REDIS_SENTINELS",
  master: "CATGA_REDIS_MASTER",
  clusterNodes: "CATGA_REDIS_CLUSTER_NODES",
  user: "CATGA_REDIS_USER",
  password: "CATGA_REDIS_PASSWORD",
  sentinelUser: "CATGA_REDIS_SENTINEL_USER",
  sentinelPassword: "CATGA_REDIS_SENTINEL_PASSWORD",
  tls: "CATGA_REDIS_TLS",
  tlsCa: "CATGA_REDIS_TLS_CA",
  tlsCert: "CATGA_REDIS_TLS_CERT",
  tlsKey: "CATGA_REDIS_TLS_KEY",
  tlsServername: "CATGA_REDIS_TLS_SERVERNAME",
} as const;

/**
 * Reads a {@link RedisConfig} from environment variables:
 * - `CATGA_REDIS_MODE`: `standalone` (default), `sentinel` or `cluster`;
 * - standalone: `CATGA_REDIS_URL` (`redis://host:port`);
 * - sentinel: `CATGA_REDIS_SENTINELS` (`host:port,host:port`) and `CATGA_REDIS_MASTER` (default `catga`);
 * - cluster: `CATGA_REDIS_CLUSTER_NODES` (`host:port,…`);
 * - sentinel: `CATGA_REDIS_SENTINEL_USER` and `CATGA_REDIS_SENTINEL_PASSWORD`, the sentinels' own credentials;
 * - any mode: `CATGA_REDIS_USER` (ACL user), `CATGA_REDIS_PASSWORD`, `CATGA_REDIS_TLS` (`true`/`false`, `1`/`0`);
 * - TLS files: `CATGA_REDIS_TLS_CA` (PEM CA), `CATGA_REDIS_TLS_CERT` + `CATGA_REDIS_TLS_KEY` (client
 *   certificate), `CATGA_REDIS_TLS_SERVERNAME` (the name the certificates must list). Any of them
 *   turns TLS on; with `CATGA_REDIS_TLS=false` or a `redis://` URL they are a contradiction and
 *   rejected.
 *
 * @param env Usually `process.env`.
 * @throws RedisConfigError naming the variable that is missing or malformed.
 */
export function parseRedisConfig(env: Readonly<Record<string, string | undefined>>): RedisConfig {
  const value = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const required = (name: string, why: string): string => {
    const v = value(name);
    if (v === undefined) throw new RedisConfigError(`${name} is not set (${why})`, name);
    return v;
  };
  const common: RedisCommonConfig = {};
  const username = value(REDIS_ENV.user);
  if (username !== undefined) common.username = username;
  const password = value(REDIS_ENV.password);
  if (password !== undefined) common.password = password;
  const tls = value(REDIS_ENV.tls);
  if (tls !== undefined) {
    if (/^(true|1|yes)$/i.test(tls)) common.tls = true;
    else if (/^(false|0|no)$/i.test(tls)) common.tls = false;
    else throw new RedisConfigError(`${REDIS_ENV.tls} must be true or false, got '${tls}'`, REDIS_ENV.tls);
  }
  const files: RedisTlsOptions = {};
  const caFile = value(REDIS_ENV.tlsCa);
  if (caFile !== undefined) files.caFile = caFile;
  const certFile = value(REDIS_ENV.tlsCert);
  if (certFile !== undefined) files.certFile = certFile;
  const keyFile = value(REDIS_ENV.tlsKey);
  if (keyFile !== undefined) files.keyFile = keyFile;
  const servername = value(REDIS_ENV.tlsServername);
  if (servername !== undefined) files.servername = servername;
  const fileVariable = [REDIS_ENV.tlsCa, REDIS_ENV.tlsCert, REDIS_ENV.tlsKey, REDIS_ENV.tlsServername].find(
    (name) => value(name) !== undefined,
  );
  if (fileVariable !== undefined) {
    if (common.tls === false) {
      throw new RedisConfigError(
        `${fileVariable} is set but ${REDIS_ENV.tls} is false: drop one of them`,
        REDIS_ENV.tls,
      );
    }
    common.tls = files;
  }
  const mode = value(REDIS_ENV.mode) ?? "standalone";
  switch (mode) {
    case "standalone": {
      const url = required(REDIS_ENV.url, "standalone mode connects to this URL, e.g. redis://redis:6379");
      if (!/^rediss?:\/\/[^/\s]+/.test(url)) {
        throw new RedisConfigError(
          `${REDIS_ENV.url} must look like redis://host:port or rediss://host:port, got '${url}'`,
          REDIS_ENV.url,
        );
      }
      if (fileVariable !== undefined && url.startsWith("redis://")) {
        throw new RedisConfigError(
          `${fileVariable} is set but ${REDIS_ENV.url} is plain redis://: use rediss:// for TLS`,
          REDIS_ENV.url,
        );
      }
      return { mode, url, ...common };
    }
    case "sentinel":
      return {
        mode,
        sentinels: addresses(
          REDIS_ENV.sentinels,
          required(
            REDIS_ENV.sentinels,
            "sentinel mode asks these sentinels for the primary, e.g. s1:26379,s2:26379",
          ),
        ),
        masterName: value(REDIS_ENV.master) ?? "catga",
        ...sentinelCredentials(value),
        ...common,
      };
    case "cluster":
      return {
        mode,
        nodes: addresses(
          REDIS_ENV.clusterNodes,
          required(REDIS_ENV.clusterNodes, "cluster mode starts from these nodes, e.g. r1:6379,r2:6379"),
        ),
        ...common,
      };
    default:
      throw new RedisConfigError(
        `${REDIS_ENV.mode} must be standalone, sentinel or cluster, got '${mode}'`,
        REDIS_ENV.mode,
      );
  }
}

function sentinelCredentials(
  value: (name: string) => string | undefined,
): Pick<RedisCommonConfig, "sentinelUsername" | "sentinelPassword"> {
  const sentinelUsername = value(REDIS_ENV.sentinelUser);
  const sentinelPassword = value(REDIS_ENV.sentinelPassword);
  return {
    ...(sentinelUsername !== undefined ? { sentinelUsername } : {}),
    ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
  };
}

function addresses(variable: string, text: string): RedisAddress[] {
  const list = text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => {
      // host:port, the host possibly an IPv6 literal in brackets.
      const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(part);
      const port = Number(match?.[2]);
      if (!match || port < 1 || port > 65535) {
        throw new RedisConfigError(`${variable}: '${part}' is not host:port`, variable);
      }
      return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
    });
  if (list.length === 0) throw new RedisConfigError(`${variable} lists no host:port`, variable);
  return list;
}
