/**
 * Configuration of a running instance, from command-line flags and environment variables (flags
 * win). Secrets come from the environment or from files named there, never from files baked into
 * an image: the same image runs in every environment. The variable names are the ones the emitted
 * compose files and Kubernetes manifests set (docs/runtime.md lists them).
 */
import { hostname } from "node:os";
import type { WireVersion } from "./_wire.js";
import { parseRedisConfig, type RedisConfig } from "./coordination/redis-connection.js";

/** Everything `catga run` needs besides the wiring and the handlers. */
export interface RunConfig {
  wiringFile: string;
  service: string;
  /** Module whose default export is the service's definition (from its generated definer). */
  handlers?: string;
  instanceId: string;
  healthPort: number | undefined;
  nats: {
    servers: string[];
    user?: string;
    password?: string;
    token?: string;
    credsFile?: string;
    tls?: { caFile?: string; certFile?: string; keyFile?: string };
  };
  /** Absent when neither --redis nor CATGA_REDIS_MODE / CATGA_REDIS_URL is given. */
  redis?: RedisConfig;
  /** How long a graceful stop may wait for in-flight work, in ms. */
  graceMs: number;
  /** The wire version the instance writes; absent: the runtime's default (5). */
  wireVersion?: WireVersion;
}

/** A configuration problem: printed as one line; the process exits 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The flags `catga run` accepts, by name (without `--`). */
export interface RunFlags {
  wiring?: string;
  service?: string;
  handlers?: string;
  "instance-id"?: string;
  "health-port"?: string;
  nats?: string;
  "nats-user"?: string;
  "nats-creds"?: string;
  redis?: string;
  "grace-ms"?: string;
  "wire-version"?: string;
}

/**
 * Reads the configuration.
 *
 * @param defaults What the wiring says (health port), used when neither flag nor env sets it.
 * @throws ConfigError naming the flag or variable that is missing or malformed.
 */
export function readRunConfig(
  flags: RunFlags,
  env: Readonly<Record<string, string | undefined>>,
  defaults: { healthPort?: number } = {},
): RunConfig {
  const pick = (flag: keyof RunFlags, variable: string): string | undefined => {
    const value = flags[flag] ?? env[variable];
    return value === undefined || value === "" ? undefined : value;
  };
  const wiringFile = pick("wiring", "CATGA_WIRING");
  if (wiringFile === undefined) throw new ConfigError("no wiring: pass --wiring FILE or set CATGA_WIRING");
  const service = pick("service", "CATGA_SERVICE");
  if (service === undefined) throw new ConfigError("no service: pass --service NAME or set CATGA_SERVICE");
  const healthText = pick("health-port", "CATGA_HEALTH_PORT");
  const healthPort =
    healthText === undefined ? defaults.healthPort : port(healthText, "--health-port / CATGA_HEALTH_PORT");
  const servers = list(pick("nats", "CATGA_NATS_URLS") ?? "nats://127.0.0.1:4222");
  const tls = {
    ...(env.CATGA_NATS_TLS_CA ? { caFile: env.CATGA_NATS_TLS_CA } : {}),
    ...(env.CATGA_NATS_TLS_CERT ? { certFile: env.CATGA_NATS_TLS_CERT } : {}),
    ...(env.CATGA_NATS_TLS_KEY ? { keyFile: env.CATGA_NATS_TLS_KEY } : {}),
  };
  const user = pick("nats-user", "CATGA_NATS_USER");
  const creds = pick("nats-creds", "CATGA_NATS_CREDS");
  const graceText = pick("grace-ms", "CATGA_GRACE_MS");
  const handlers = pick("handlers", "CATGA_HANDLERS");
  const wireText = pick("wire-version", "CATGA_WIRE_VERSION");
  if (wireText !== undefined && !WIRE_VERSIONS.includes(wireText)) {
    throw new ConfigError(
      `--wire-version / CATGA_WIRE_VERSION is '${wireText}'; expected 5 (the default), or 4, 3 or 2 while replicas of an older build still run`,
    );
  }
  return {
    wiringFile,
    service,
    ...(handlers !== undefined ? { handlers } : {}),
    instanceId: pick("instance-id", "CATGA_INSTANCE_ID") ?? `${hostname()}-${process.pid}`,
    healthPort,
    nats: {
      servers,
      ...(user !== undefined ? { user } : {}),
      ...(env.CATGA_NATS_PASSWORD ? { password: env.CATGA_NATS_PASSWORD } : {}),
      ...(env.CATGA_NATS_TOKEN ? { token: env.CATGA_NATS_TOKEN } : {}),
      ...(creds !== undefined ? { credsFile: creds } : {}),
      ...(Object.keys(tls).length > 0 ? { tls } : {}),
    },
    ...redisConfig(pick("redis", "CATGA_REDIS_URL"), env),
    graceMs: graceText === undefined ? 10_000 : positive(graceText, "--grace-ms / CATGA_GRACE_MS"),
    ...(wireText !== undefined ? { wireVersion: Number(wireText) as WireVersion } : {}),
  };
}

/** The wire versions an instance can write (docs/runtime.md, "Versions during a rollout"). */
const WIRE_VERSIONS = ["2", "3", "4", "5"];

function redisConfig(
  url: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Pick<RunConfig, "redis"> {
  if (!env.CATGA_REDIS_MODE && url === undefined) return {};
  try {
    return { redis: parseRedisConfig({ ...env, ...(url !== undefined ? { CATGA_REDIS_URL: url } : {}) }) };
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

function list(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function port(text: string, name: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65_535)
    throw new ConfigError(`${name} is '${text}'; expected a port 0–65535`);
  return n;
}

function positive(text: string, name: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new ConfigError(`${name} is '${text}'; expected a positive whole number`);
  return n;
}
