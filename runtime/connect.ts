/**
 * One way for an application to connect, the same in every environment: the generated
 * `connect<Topology>()` without a bus calls {@link connectFromEnv}, which reads the variables the
 * emitted compose and Kubernetes files give a service (docs/runtime.md, "Connecting a client"), and
 * when none names a NATS, the local cluster `catga up` started in the working directory or a
 * parent (`.catga/state.json`: its URLs and the `client` user's password of this run).
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { ClientOptions } from "./api.js";
import { type Bus, type BusOptions, connectNats } from "./bus.js";
import { ConfigError } from "./config.js";
import type { NatsConnectOptions } from "./transport/nats.js";

/** The NATS user an application logs in as under the emitted permissions. */
export const CLIENT_NATS_USER = "client";

/** Options of {@link connectFromEnv}. */
export interface ConnectFromEnvOptions {
  /** The topology's name (`shop`): the client's inbox prefix is `_INBOX.<topology>.<user>`. */
  topology: string;
  /** The variables to read. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where to look for `.catga/state.json` (this folder, then its parents). @default process.cwd() */
  cwd?: string;
  /** The connection's name in NATS monitoring. @default `<topology>/client` */
  name?: string;
  /** How long to keep trying the first connection, in milliseconds. @default 5000 */
  connectTimeoutMs?: number;
  /** Options of the bus (retries, default deadline). */
  bus?: BusOptions;
}

/**
 * The options of a generated `connect<Topology>()` without a bus: the client's call defaults and
 * how to find NATS (the topology is the generated code's own).
 */
export interface EnvClientOptions extends ClientOptions, Omit<ConnectFromEnvOptions, "topology"> {}

/** Where {@link clientNatsOptions} found the NATS to connect to. */
export interface ClientNatsOptions {
  nats: NatsConnectOptions;
  /** `environment`, or the path of the local cluster's state file. */
  from: string;
}

/**
 * The NATS connection options of a client of `topology`, from the environment or, when
 * `CATGA_NATS_URLS` is not set, from the local cluster of the working directory or a parent.
 *
 * Variables (the ones `catga run` reads, runtime/config.ts): `CATGA_NATS_URLS` (comma-separated),
 * `CATGA_NATS_USER` (default `client` when a password is given), `CATGA_NATS_PASSWORD` (else
 * `CATGA_NATS_PASSWORD_<USER>`, the name the emitted `.env` and Secret use), `CATGA_NATS_TOKEN`,
 * `CATGA_NATS_CREDS` (a `.creds` file), `CATGA_NATS_TLS_CA` / `_CERT` / `_KEY` (files; the local
 * cluster's CA when it runs `catga up --tls` and the variable is unset), and
 * `CATGA_NATS_INBOX_PREFIX` (default `_INBOX.<topology>.<user>`: the only inbox the emitted
 * permissions let that user subscribe to).
 *
 * @throws ConfigError when neither the variables nor a local cluster name a NATS, or the local
 *   cluster found runs another topology.
 */
export function clientNatsOptions(options: ConnectFromEnvOptions): ClientNatsOptions {
  const env = options.env ?? process.env;
  const get = (name: string) => (env[name] === undefined || env[name] === "" ? undefined : env[name]);
  const { topology } = options;
  const urls = get("CATGA_NATS_URLS");
  let servers: string[];
  let from = "environment";
  let localPassword: string | undefined;
  // `catga up --tls`: the CA of the local cluster's certificates.
  let localCa: string | undefined;
  if (urls !== undefined) {
    servers = urls
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  } else {
    const local = findLocalCluster(options.cwd ?? process.cwd());
    if (local === undefined) {
      throw new ConfigError(
        `no NATS to connect to: set CATGA_NATS_URLS (and CATGA_NATS_PASSWORD, the '${CLIENT_NATS_USER}' user's, as the emitted compose and Kubernetes files define it), or run beside a local cluster ('catga up ${topology}.catga' in this folder or a parent)`,
      );
    }
    if (local.state.topology !== topology) {
      throw new ConfigError(
        `the local cluster in ${dirname(local.file)} runs topology '${local.state.topology}', not '${topology}': set CATGA_NATS_URLS, or run from the folder of ${topology}'s cluster`,
      );
    }
    servers = local.state.nats.urls;
    from = local.file;
    localPassword = local.state.nats.users?.[CLIENT_NATS_USER];
    localCa = local.state.tls?.ca;
  }
  const token = get("CATGA_NATS_TOKEN");
  const credsFile = get("CATGA_NATS_CREDS");
  const explicitUser = get("CATGA_NATS_USER");
  const user = explicitUser ?? CLIENT_NATS_USER;
  const password =
    get("CATGA_NATS_PASSWORD") ??
    get(`CATGA_NATS_PASSWORD_${user.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`) ??
    (explicitUser === undefined || explicitUser === CLIENT_NATS_USER ? localPassword : undefined);
  const ca = get("CATGA_NATS_TLS_CA") ?? localCa;
  const tls = {
    ...(ca !== undefined ? { caFile: ca } : {}),
    ...(get("CATGA_NATS_TLS_CERT") !== undefined ? { certFile: get("CATGA_NATS_TLS_CERT")! } : {}),
    ...(get("CATGA_NATS_TLS_KEY") !== undefined ? { keyFile: get("CATGA_NATS_TLS_KEY")! } : {}),
  };
  return {
    from,
    nats: {
      servers,
      name: options.name ?? `${topology}/${CLIENT_NATS_USER}`,
      // A user name is sent with a password only: a token or creds file identify the user themselves.
      ...(password !== undefined ? { user, password } : {}),
      ...(token !== undefined ? { token } : {}),
      ...(credsFile !== undefined ? { credsFile } : {}),
      ...(Object.keys(tls).length > 0 ? { tls } : {}),
      inboxPrefix: get("CATGA_NATS_INBOX_PREFIX") ?? `_INBOX.${topology}.${user}`,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    },
  };
}

/**
 * A bus on the NATS {@link clientNatsOptions} finds: the generated `connect<Topology>()` without a
 * bus uses it, so one script runs unchanged locally, under compose and on Kubernetes.
 *
 * @throws ConfigError when no NATS is configured; the NATS client's error when it cannot connect.
 */
export async function connectFromEnv(options: ConnectFromEnvOptions): Promise<Bus> {
  const { nats } = clientNatsOptions(options);
  return await connectNats(nats, options.bus ?? {});
}

/** What the runtime reads of `.catga/state.json` (tooling/local/state.ts owns the full format). */
interface LocalClusterState {
  topology: string;
  nats: { urls: string[]; users?: Record<string, string> };
  /** `catga up --tls`: the CA certificate of the cluster's servers. */
  tls?: { ca: string };
}

/** The nearest `.catga/state.json` from `cwd` upwards. */
function findLocalCluster(cwd: string): { file: string; state: LocalClusterState } | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const file = join(dir, ".catga", "state.json");
    let text: string | undefined;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      // none here
    }
    if (text !== undefined) {
      const state = parseState(text);
      if (state === undefined) throw new ConfigError(`${file} is not a local cluster's state file`);
      return { file, state };
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function parseState(text: string): LocalClusterState | undefined {
  try {
    const raw = JSON.parse(text) as {
      topology?: unknown;
      nats?: { urls?: unknown; users?: unknown };
      tls?: { ca?: unknown };
    };
    if (typeof raw.topology !== "string" || !Array.isArray(raw.nats?.urls)) return undefined;
    const urls = raw.nats.urls.filter((u): u is string => typeof u === "string");
    const users =
      typeof raw.nats.users === "object" && raw.nats.users !== null
        ? (raw.nats.users as Record<string, string>)
        : undefined;
    const ca = typeof raw.tls?.ca === "string" ? raw.tls.ca : undefined;
    return {
      topology: raw.topology,
      nats: { urls, ...(users !== undefined ? { users } : {}) },
      ...(ca !== undefined ? { tls: { ca } } : {}),
    };
  } catch {
    return undefined;
  }
}
