/**
 * TLS of the emitted infrastructure, shared by the compose and Kubernetes emitters: which servers
 * take TLS, where their certificates are mounted, the NATS config that turns TLS on, the Redis
 * arguments and sentinel lines, the `redis-cli` flags of health checks, the services' variables,
 * and the names each certificate must list.
 *
 * TLS is on unless the topology says `tls off` (`nats { }`, `redis { }`); with `url` nothing is
 * emitted and the URL's scheme decides. The servers prove who they are; clients are not asked for
 * certificates (they log in with their NATS user and Redis password), so the services need only the
 * CA. Certificates follow the Kubernetes `kubernetes.io/tls` Secret layout everywhere (`tls.crt`,
 * `tls.key`, `ca.crt` in one folder), so the same paths serve compose and Kubernetes.
 *
 * Pure: model in, text out. `nats/nats-tls.conf` itself is written by the NATS emitter (nats.ts:
 * `natsTlsConf`), which owns the cluster block it repeats.
 */
import { serviceUsesRedis, type TopologyModel } from "../model.js";
import { REDIS_PORTS } from "./_names.js";

/** Whether the emitted NATS servers take TLS: emitted (no `url`) and not `tls off`. */
export function natsTls(model: TopologyModel): boolean {
  return model.nats.url === undefined && model.nats.tls;
}

/** Whether emitted Redis servers take TLS: some service needs Redis, no `url`, and not `tls off`. */
export function redisTls(model: TopologyModel): boolean {
  return model.redis.url === undefined && model.redis.tls && model.services.some(serviceUsesRedis);
}

/** File names inside a certificate folder: the `kubernetes.io/tls` Secret keys. */
export const TLS_FILES = { cert: "tls.crt", key: "tls.key", ca: "ca.crt" } as const;

/** Where NATS containers find their certificate, key and CA. */
export const NATS_CERT_DIR = "/etc/nats/certs";
/** Where Redis servers and sentinels find theirs. */
export const REDIS_CERT_DIR = "/etc/redis/certs";
/** Where service containers find the CA (`ca.crt`) they trust: not inside the wiring mount (`/etc/catga`), since Kubernetes would have to create a mount point inside a read-only ConfigMap volume. */
export const SERVICE_CERT_DIR = "/etc/catga-tls";

/**
 * Where service containers in Kubernetes find the Redis CA (`ca.crt` of the Redis TLS Secret): a
 * folder of its own, since the NATS and Redis Secrets are separate and each carries its `ca.crt`.
 */
export const SERVICE_REDIS_CERT_DIR = "/etc/catga-redis-tls";

/** The variables of `catga run` that name the CA (docs/runtime.md). */
export const TLS_ENV = { natsCa: "CATGA_NATS_TLS_CA", redisCa: "CATGA_REDIS_TLS_CA" } as const;

/** The NATS config that the emitted servers run when TLS is on: `nats/nats-tls.conf`. */
export const NATS_TLS_CONF = "nats-tls.conf";

/** The certificate files of a compose deployment, in `certs/` next to docker-compose.yml. */
export const COMPOSE_CERT_FILES = {
  ca: "ca.crt",
  natsCert: "nats.crt",
  natsKey: "nats.key",
  redisCert: "redis.crt",
  redisKey: "redis.key",
} as const;

/** The compose folder of the certificates, relative to docker-compose.yml. */
export const COMPOSE_CERT_DIR = "./certs";

function path(dir: string, file: string): string {
  return `${dir}/${file}`;
}

/** The lines of a nats-server `tls { }` block with the files in `dir`, indented by `indent`. */
export function natsTlsBlock(dir: string, indent: string): string[] {
  return [
    `${indent}tls {`,
    `${indent}  cert_file: "${path(dir, TLS_FILES.cert)}"`,
    `${indent}  key_file: "${path(dir, TLS_FILES.key)}"`,
    `${indent}  ca_file: "${path(dir, TLS_FILES.ca)}"`,
    // A handshake over a loaded network takes more than nats-server's default half second.
    `${indent}  timeout: 2`,
    `${indent}}`,
  ];
}

/** Paths of a server's certificate, key and CA. */
export interface TlsFilePaths {
  cert: string;
  key: string;
  ca: string;
}

/** The files of a certificate folder in the `kubernetes.io/tls` layout. */
export function tlsFilesIn(dir: string): TlsFilePaths {
  return { cert: path(dir, TLS_FILES.cert), key: path(dir, TLS_FILES.key), ca: path(dir, TLS_FILES.ca) };
}

/**
 * Arguments appended to a Redis server's command line for TLS only: the plain port closed, the TLS
 * port on the usual 6379, replication (and, in Cluster mode, the bus) over TLS, clients not asked
 * for certificates. Later arguments win, so `--port 0` overrides an earlier `--port`. The test
 * harness starts its TLS servers with these arguments (test/harness/redis.ts).
 */
export function redisTlsArgs(
  mode: TopologyModel["redis"]["mode"],
  files: TlsFilePaths = tlsFilesIn(REDIS_CERT_DIR),
  port: number = REDIS_PORTS.server,
): string[] {
  return [
    "--port",
    "0",
    "--tls-port",
    String(port),
    "--tls-cert-file",
    files.cert,
    "--tls-key-file",
    files.key,
    "--tls-ca-cert-file",
    files.ca,
    "--tls-auth-clients",
    "no",
    "--tls-replication",
    "yes",
    ...(mode === "cluster" ? ["--tls-cluster", "yes"] : []),
  ];
}

/**
 * sentinel.conf lines (appended: later lines win) for a sentinel on TLS that talks TLS to Redis;
 * the harness's TLS sentinels use them too.
 */
export function sentinelTlsLines(
  files: TlsFilePaths = tlsFilesIn(REDIS_CERT_DIR),
  port: number = REDIS_PORTS.sentinel,
): string[] {
  return [
    "port 0",
    `tls-port ${port}`,
    `tls-cert-file ${files.cert}`,
    `tls-key-file ${files.key}`,
    `tls-ca-cert-file ${files.ca}`,
    "tls-auth-clients no",
    "tls-replication yes",
  ];
}

/** `redis-cli` flags for a TLS server (health checks, cluster creation). */
export function redisCliTls(dir = REDIS_CERT_DIR): string[] {
  return ["--tls", "--cacert", path(dir, TLS_FILES.ca)];
}

/** The variables that make `catga run` trust the CA mounted in {@link SERVICE_CERT_DIR}. */
export function serviceTlsEnv(model: TopologyModel, usesRedis: boolean): Record<string, string> {
  const ca = path(SERVICE_CERT_DIR, TLS_FILES.ca);
  return {
    ...(natsTls(model) ? { [TLS_ENV.natsCa]: ca } : {}),
    ...(usesRedis && redisTls(model) ? { [TLS_ENV.redisCa]: ca } : {}),
  };
}

/** The scheme of the emitted standalone Redis URL. */
export function redisScheme(model: TopologyModel): "redis" | "rediss" {
  return redisTls(model) ? "rediss" : "redis";
}

/** What a server certificate must be valid for, per certificate, in a compose deployment. */
export interface CertificateNames {
  /** `nats.crt`: every NATS host, and localhost for the port published on the host. */
  nats?: string[];
  /** `redis.crt`: every Redis host and sentinel. */
  redis?: string[];
}

/** Names every server certificate also lists: health checks inside a container, the published port. */
export const LOCAL_NAMES = ["localhost", "127.0.0.1"] as const;
