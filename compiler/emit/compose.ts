/**
 * The docker-compose emitter: `docker-compose.yml` (NATS cluster, with a named volume per node for
 * the JetStream store when the topology has a durable event, Redis per mode, every service with
 * its replicas, environment, health checks and resources), `.env.example` (every variable the
 * compose file reads, secrets without values) and the `Dockerfile` of the one image that runs any
 * service of the topology.
 *
 * Pure: a model in, files out. The YAML is built as a plain object in a fixed, readable order
 * (infrastructure first, then the services in declaration order; environment keys sorted), so the
 * same model always gives the same bytes.
 *
 * No password is ever written: every secret is a `${VAR}` reference that compose fills in from
 * `.env`, required with `${VAR:?…}` so a missing secret stops `docker compose up` with a message
 * instead of starting a server without authentication.
 */
import { posix } from "node:path";
import { type ServiceModel, serviceUsesRedis, type TopologyModel } from "../model.js";
import { type EmitOptions, type EmittedFile, generatedHeader } from "./_files.js";
import {
  ADMIN_USER,
  defaultServiceImage,
  dnsLabel,
  ENV,
  healthPort,
  NATS_CLUSTER_PASSWORD_VAR,
  NATS_IMAGE,
  NATS_JS_LIMIT_VARS,
  NATS_JS_LIMITS,
  NATS_PORTS,
  NATS_SERVER_NAME_VAR,
  NATS_STORE_DIR,
  natsComposeHost,
  natsPasswordVar,
  natsRouteUrl,
  natsRouteVar,
  natsUser,
  objectName,
  REDIS_ADMIN_USER,
  REDIS_IMAGE,
  REDIS_PASSWORD_VAR,
  REDIS_PORTS,
  REDIS_SENTINEL_CLIENT_USER,
  redisBuiltInPasswordVar,
  redisMaster,
  redisPasswordVar,
  redisUser,
  stopGraceSeconds,
} from "./_names.js";
import {
  allRedisAclUsers,
  passwordReference,
  REDIS_AUTH_CONF,
  redisAuthScript,
  redisServerPasswordVars,
  sentinelAuthLines,
  sentinelPasswordVars,
  shellWriteLines,
} from "./_redis-acl.js";
import {
  type CertificateNames,
  COMPOSE_CERT_DIR,
  COMPOSE_CERT_FILES,
  LOCAL_NAMES,
  NATS_CERT_DIR,
  NATS_TLS_CONF,
  natsTls,
  REDIS_CERT_DIR,
  redisCliTls,
  redisScheme,
  redisTls,
  redisTlsArgs,
  SERVICE_CERT_DIR,
  sentinelTlsLines,
  serviceTlsEnv,
  TLS_FILES,
} from "./_tls.js";
import { BlockYamlWriter } from "./_yaml.js";
import { durableEvents, natsUsers } from "./nats.js";

/** Where compose mounts `wiring.json` in every service container (and where `catga run` reads it). */
const COMPOSE_WIRING_PATH = "/etc/catga/wiring.json";

/** Where the emitted Dockerfile puts the project folder in the image. */
const COMPOSE_APP_DIR = "/app";

/**
 * The `.env` variable naming the project folder (package.json, lockfile, handler modules) relative
 * to the output folder: the Dockerfile's `app` build context. Optional.
 * @default "../.." — the project folder when `catgac build` ran there with the default `--out out/<topology>`
 */
const APP_DIR_VAR = "CATGA_APP_DIR";
/**
 * The base images, each overridable from .env: a mirror, a pinned digest, or (in this repository's
 * `npm run test:compose`) a local image where no registry is reachable.
 */
const IMAGE_VARS = {
  node: "CATGA_NODE_IMAGE",
  nats: "CATGA_NATS_IMAGE",
  redis: "CATGA_REDIS_IMAGE",
} as const;
const NODE_IMAGE = "node:20-slim";
/** The Dockerfile's build argument naming its base image. */
const NODE_IMAGE_ARG = "NODE_IMAGE";
const imageRef = (variable: string, image: string) => `\${${variable}:-${image}}`;

/**
 * The `.env` variable choosing the host port the first NATS server's client port is published on
 * (on 127.0.0.1 only), for applications on the host that use the generated client. Optional.
 * @default 4222
 */
const NATS_HOST_PORT_VAR = "CATGA_NATS_HOST_PORT";

/** Number of sentinels in sentinel mode: the smallest number that tolerates losing one. */
const SENTINELS = 3;

/**
 * `stop_grace_period` of NATS and Redis containers: Kubernetes's default of 30 s rather than
 * Docker's 10 s, so a Redis server has time to write its append-only file and NATS its JetStream
 * store before a SIGKILL.
 */
const INFRA_STOP_GRACE = "30s";

/** Agreement needed among the sentinels to declare the primary down: a majority of three. */
const SENTINEL_QUORUM = 2;

/** The standalone Redis host. */
const REDIS_STANDALONE_HOST = "redis";

/** The one-shot service that joins the Redis Cluster nodes into a cluster. */
const REDIS_CLUSTER_INIT = "redis-cluster-init";

/** Health check timing shared by every container: quick enough for `up --wait`, patient at start. */
const HEALTH_TIMING = { interval: "5s", timeout: "3s", retries: 5, start_period: "10s" } as const;

/** Emits `docker-compose.yml`, `.env.example` and `Dockerfile`. */
export function emitCompose(model: TopologyModel, options: EmitOptions): EmittedFile[] {
  const plan = new ComposePlan(model);
  return [
    { path: "docker-compose.yml", content: composeYaml(model, options, plan) },
    { path: ".env.example", content: envExample(model, options, plan) },
    { path: "Dockerfile", content: dockerfile(model, options) },
  ];
}

/**
 * A Kubernetes CPU quantity (`"250m"`, `"0.5"`, `"2"`) as compose's decimal number of CPUs
 * (`"0.25"`, `"0.5"`, `"2"`). Exact: millicores are shifted by three decimal places, no floating point.
 *
 * @throws Error on a quantity the checker would have rejected (a compiler bug, not user input).
 */
export function composeCpus(quantity: string): string {
  const milli = /^(\d+)m$/.exec(quantity);
  if (milli) {
    const digits = milli[1]!.padStart(4, "0");
    return trimDecimal(`${digits.slice(0, -3).replace(/^0+(?=\d)/, "")}.${digits.slice(-3)}`);
  }
  if (/^\d+(\.\d+)?$/.test(quantity)) return trimDecimal(quantity.replace(/^0+(?=\d)/, ""));
  throw new Error(`compose: '${quantity}' is not a CPU quantity`);
}

/**
 * A Kubernetes memory quantity (`"256Mi"`, `"1.5Gi"`, `"512M"`, `"1000"`) as a compose/Docker
 * memory size. Docker's units are binary (`k` = 1024 bytes, `M` = 1024², `G` = 1024³), so the exact
 * byte count is written in the largest binary unit that divides it: `"256Mi"` → `"256M"`,
 * `"1.5Gi"` → `"1536M"`, while decimal `"512M"` (512 000 000 bytes) → `"500000k"`. A fraction of a
 * byte rounds up, as Kubernetes does.
 *
 * @throws Error on a quantity the checker would have rejected (a compiler bug, not user input).
 */
export function composeMemory(quantity: string): string {
  const match = /^(\d+)(?:\.(\d+))?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(quantity);
  if (!match) throw new Error(`compose: '${quantity}' is not a memory quantity`);
  const [, whole, fraction = "", suffix = ""] = match;
  const multiplier = MEMORY_SUFFIX[suffix] as bigint;
  const scale = 10n ** BigInt(fraction.length);
  const numerator = BigInt(`${whole}${fraction}`) * multiplier;
  const bytes = (numerator + scale - 1n) / scale;
  for (const [unit, size] of DOCKER_UNITS) {
    if (bytes >= size && bytes % size === 0n) return `${bytes / size}${unit}`;
  }
  return `${bytes}b`;
}

const MEMORY_SUFFIX: Record<string, bigint> = {
  "": 1n,
  k: 10n ** 3n,
  M: 10n ** 6n,
  G: 10n ** 9n,
  T: 10n ** 12n,
  P: 10n ** 15n,
  E: 10n ** 18n,
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};

/** Docker's memory units, largest first (docker/go-units RAMInBytes: binary, case-insensitive). */
const DOCKER_UNITS: ReadonlyArray<readonly [string, bigint]> = [
  ["P", 1n << 50n],
  ["T", 1n << 40n],
  ["G", 1n << 30n],
  ["M", 1n << 20n],
  ["k", 1n << 10n],
];

function trimDecimal(value: string): string {
  if (!value.includes(".")) return value;
  return value.replace(/0+$/, "").replace(/\.$/, "");
}

/** What the compose file contains, decided once and shared by the YAML and `.env.example`. */
class ComposePlan {
  /** NATS servers emitted (`nats-0` …); empty when the topology connects to an external NATS. */
  readonly natsHosts: string[];
  /** Comma-separated NATS URLs every service connects to. */
  readonly natsUrls: string;
  /** Some service uses Redis: leader mode (lease, sagas, schedules) or `uses redis`. */
  readonly needsRedis: boolean;
  /** Redis servers are emitted (Redis needed and no `url`). */
  readonly emitsRedis: boolean;
  /** Compose service name of each topology service. */
  readonly serviceNames: Map<string, string>;
  /** The emitted NATS servers run JetStream (the topology has a durable event). */
  readonly jetStream: boolean;

  constructor(readonly model: TopologyModel) {
    const external = model.nats.url;
    this.natsHosts = external === undefined ? range(model.nats.nodes).map(natsComposeHost) : [];
    this.natsUrls =
      external === undefined
        ? this.natsHosts.map((h) => `nats://${h}:${NATS_PORTS.client}`).join(",")
        : splitList(external).join(",");
    this.needsRedis = model.services.some(serviceUsesRedis);
    this.emitsRedis = this.needsRedis && model.redis.url === undefined;
    this.jetStream = this.natsHosts.length > 0 && durableEvents(model).length > 0;
    // A service whose label is taken (by an infrastructure container such as `redis`, or by an
    // earlier service: `orderService` and `order_service`) gives way: first the topology prefix,
    // then a counter. Compose would otherwise silently keep only one of the two.
    const taken = new Set(this.infraNames());
    this.serviceNames = new Map();
    for (const s of model.services) {
      let name = dnsLabel(s.name);
      if (taken.has(name)) name = objectName(model.name, s.name);
      const base = name;
      for (let i = 2; taken.has(name); i++) name = dnsLabel(`${base}-${i}`);
      taken.add(name);
      this.serviceNames.set(s.name, name);
    }
  }

  /** Hosts of the Redis data servers (empty when none is emitted). */
  redisHosts(): string[] {
    if (!this.emitsRedis) return [];
    if (this.model.redis.mode === "standalone") return [REDIS_STANDALONE_HOST];
    return range(this.model.redis.nodes).map((i) => `redis-${i}`);
  }

  /** Hosts of the sentinels (sentinel mode with emitted Redis only). */
  sentinelHosts(): string[] {
    if (!this.emitsRedis || this.model.redis.mode !== "sentinel") return [];
    return range(SENTINELS).map((i) => `sentinel-${i}`);
  }

  /** Every infrastructure service name, to keep topology services from colliding with them. */
  infraNames(): string[] {
    const names = [...this.natsHosts, ...this.redisHosts(), ...this.sentinelHosts()];
    if (this.emitsRedis && this.model.redis.mode === "cluster") names.push(REDIS_CLUSTER_INIT);
    return names;
  }

  private serverUsers: string[] | undefined;

  /** NATS users whose password a NATS server needs: exactly those nats.conf references. */
  natsServerUsers(): string[] {
    // Computed once: every NATS node and .env.example ask, and the list grows with the model.
    this.serverUsers ??= this.natsHosts.length === 0 ? [] : natsUsers(this.model);
    return this.serverUsers;
  }
}

type ComposeService = Record<string, unknown>;

function composeYaml(model: TopologyModel, options: EmitOptions, plan: ComposePlan): string {
  const services: Record<string, ComposeService> = {};
  Object.assign(services, natsServices(plan));
  Object.assign(services, redisServices(plan));
  for (const s of model.services) services[plan.serviceNames.get(s.name)!] = topologyService(s, plan);
  const volumes = natsVolumes(plan);
  const doc = {
    name: dnsLabel(model.name),
    services,
    ...(volumes.length > 0 ? { volumes: namedVolumes(volumes) } : {}),
  };
  const header = [
    generatedHeader(options.sourceName, "#"),
    `# Topology ${model.name}: cp .env.example .env, fill in every secret, then docker compose up --build.`,
    ...(natsTls(model) || (plan.emitsRedis && redisTls(model))
      ? [`# TLS is on: first make ${COMPOSE_CERT_DIR}/ (catga certs --topology <file> --out certs).`]
      : []),
    "# Details: docs/build.md (docker-compose).",
  ].join("\n");
  // YAML 1.1 output quotes strings like "no" and "on" that YAML 1.1 readers would take for booleans.
  // The bytes of the yaml package's stringify with these options, written by the fast block writer.
  const yaml = new BlockYamlWriter({ version: "1.1", aliasDuplicateObjects: false });
  return `${header}\n${yaml.document(doc)}`;
}

/** `${VAR:?…}`: compose refuses to start when the variable is unset or empty. */
function required(variable: string): string {
  return `\${${variable}:?set ${variable} in .env}`;
}

function healthcheck(test: string[]): Record<string, unknown> {
  return { test: ["CMD", ...test], ...HEALTH_TIMING };
}

/**
 * A health check as one shell command line (compose's string form, the same as `CMD-SHELL`): for
 * services with replicas. podman-compose 1.0.3 (Debian 12) removes the first item of a list-form
 * test while it creates the first replica, so the second replica's test starts with `node` and
 * `podman-compose up` stops with "unknown healthcheck test type"; a string is not changed.
 */
function shellHealthcheck(command: string): Record<string, unknown> {
  return { test: command, ...HEALTH_TIMING };
}

/**
 * The named volume of each NATS node's JetStream store (`nats-0-data`, …): only when JetStream runs
 * (a durable event), so the stored events outlive `docker compose down` and a container's
 * recreation (`down -v` removes them). Empty otherwise.
 */
function natsVolumes(plan: ComposePlan): string[] {
  if (!plan.jetStream) return [];
  return plan.natsHosts.map((host) => `${host}-data`);
}

/** The top-level `volumes:` map: each named volume with the engine's defaults. */
function namedVolumes(names: string[]): Record<string, Record<string, never>> {
  return Object.fromEntries(names.map((name) => [name, {}]));
}

function natsServices(plan: ComposePlan): Record<string, ComposeService> {
  const out: Record<string, ComposeService> = {};
  const clustered = plan.natsHosts.length > 1;
  // The same for every node: derived once, not once per node.
  const passwordVars = plan.natsServerUsers().map(natsPasswordVar);
  plan.natsHosts.forEach((host, index) => {
    const environment: Record<string, string> = { [NATS_SERVER_NAME_VAR]: host };
    for (const variable of passwordVars) environment[variable] = required(variable);
    if (clustered) {
      environment[NATS_CLUSTER_PASSWORD_VAR] = required(NATS_CLUSTER_PASSWORD_VAR);
      // nats.conf lists its routes as $CATGA_NATS_ROUTE_<i>: URLs with the route credentials in them.
      plan.natsHosts.forEach((peer, i) => {
        environment[natsRouteVar(i)] = natsRouteUrl(peer, required(NATS_CLUSTER_PASSWORD_VAR));
      });
    }
    const volumes = ["./nats/nats.conf:/etc/nats/nats.conf:ro"];
    if (natsTls(plan.model))
      volumes.push(
        `./nats/${NATS_TLS_CONF}:/etc/nats/${NATS_TLS_CONF}:ro`,
        ...certMounts("nats", NATS_CERT_DIR),
      );
    if (plan.jetStream) {
      // JetStream limits: overridable in .env, with the documented defaults.
      environment[NATS_JS_LIMIT_VARS.memory] = `\${${NATS_JS_LIMIT_VARS.memory}:-${NATS_JS_LIMITS.memory}}`;
      environment[NATS_JS_LIMIT_VARS.file] = `\${${NATS_JS_LIMIT_VARS.file}:-${NATS_JS_LIMITS.file}}`;
      volumes.push(`${host}-data:${NATS_STORE_DIR}`);
    }
    out[host] = {
      image: imageRef(IMAGE_VARS.nats, NATS_IMAGE),
      command: ["nats-server", "-c", `/etc/nats/${natsTls(plan.model) ? NATS_TLS_CONF : "nats.conf"}`],
      environment: sortedRecord(environment),
      volumes,
      // Only the first node is published, on the loopback interface: host applications need one
      // entry point, and publishing every node would clash on the host port.
      ...(index === 0
        ? {
            ports: [
              {
                target: NATS_PORTS.client,
                published: `\${${NATS_HOST_PORT_VAR}:-${NATS_PORTS.client}}`,
                host_ip: "127.0.0.1",
                protocol: "tcp",
              },
            ],
          }
        : {}),
      // The alpine image has busybox wget; /healthz answers 200 once the server accepts clients.
      healthcheck: healthcheck([
        "wget",
        "-q",
        "-O",
        "/dev/null",
        `http://127.0.0.1:${NATS_PORTS.monitor}/healthz`,
      ]),
      restart: "unless-stopped",
      stop_grace_period: INFRA_STOP_GRACE,
    };
  });
  return out;
}

function redisServices(plan: ComposePlan): Record<string, ComposeService> {
  if (!plan.emitsRedis) return {};
  const out: Record<string, ComposeService> = {};
  const model = plan.model;
  const mode = model.redis.mode;
  const hosts = plan.redisHosts();
  // redis-cli reads REDISCLI_AUTH, so health checks and the cluster init log in as the admin user
  // without a password on their command line.
  const adminVar = redisBuiltInPasswordVar(REDIS_ADMIN_USER);
  const cli = ["redis-cli", "--user", REDIS_ADMIN_USER];
  const cliAuth = { REDISCLI_AUTH: required(adminVar) };
  // Every data node writes the emitted ACL (one user per Redis-using service, replica, sentinel,
  // ops, admin; `default` off) and its replication credentials from its environment at start:
  // the passwords never appear in this file or on a command line.
  const serverEnv: Record<string, string> = { ...cliAuth };
  for (const variable of redisServerPasswordVars(model)) serverEnv[variable] = required(variable);
  const auth = redisAuthScript(model, "$$");
  const tls = redisTls(plan.model);
  if (tls) cli.push(...redisCliTls());
  const tlsVolumes = tls ? { volumes: certMounts("redis", REDIS_CERT_DIR) } : {};
  hosts.forEach((host, index) => {
    // Append-only persistence: a Redis that restarts (same container) must not hand out fencing
    // tokens it already issued, or a stale leader's writes would be accepted again.
    // On TLS the plain port is closed (`--port 0`, in the TLS arguments) and the same number is the
    // TLS port.
    const args = [
      "redis-server",
      REDIS_AUTH_CONF,
      ...(tls ? redisTlsArgs(mode) : ["--port", String(REDIS_PORTS.server)]),
      "--appendonly",
      "yes",
    ];
    if (mode === "sentinel") {
      // Every node may become the primary after a failover, so every node carries the replication
      // credentials (in the auth config) and announces its stable host name rather than its IP.
      args.push("--replica-announce-ip", host);
      if (index > 0) args.push("--replicaof", hosts[0]!, String(REDIS_PORTS.server));
    } else if (mode === "cluster") {
      args.push(
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        "5000",
        // Clients are redirected by host name, which survives a container getting a new IP.
        "--cluster-announce-hostname",
        host,
        "--cluster-preferred-endpoint-type",
        "hostname",
      );
    }
    out[host] = {
      image: imageRef(IMAGE_VARS.redis, REDIS_IMAGE),
      command: ["sh", "-c", `${auth} && exec ${args.join(" ")}`],
      user: "redis",
      environment: sortedRecord(serverEnv),
      ...tlsVolumes,
      healthcheck: healthcheck([...cli, "ping"]),
      ...(mode === "sentinel" && index > 0
        ? { depends_on: { [hosts[0]!]: { condition: "service_healthy" } } }
        : {}),
      restart: "unless-stopped",
      stop_grace_period: INFRA_STOP_GRACE,
    };
  });
  if (mode === "sentinel") {
    const master = redisMaster(model);
    // A sentinel rewrites its config file (it records the current primary), so each one writes a
    // fresh config at start instead of reading a read-only mounted one. Its users (default off),
    // and the users it logs in to the servers and to the other sentinels as, come from its
    // environment like the servers'.
    const script = [
      shellWriteLines(
        [
          // On TLS: the plain port closed, the TLS port and certificates (one `port` line only).
          ...(tls ? sentinelTlsLines() : [`port ${REDIS_PORTS.sentinel}`]),
          "sentinel resolve-hostnames yes",
          "sentinel announce-hostnames yes",
          `sentinel monitor ${master} ${hosts[0]} ${REDIS_PORTS.server} ${SENTINEL_QUORUM}`,
          ...sentinelAuthLines(model, master, passwordReference),
          `sentinel down-after-milliseconds ${master} 5000`,
          `sentinel failover-timeout ${master} 30000`,
        ],
        "/tmp/sentinel.conf",
        "$$",
      ),
      "exec redis-sentinel /tmp/sentinel.conf",
    ].join(" && ");
    const sentinelEnv: Record<string, string> = { ...cliAuth };
    for (const variable of sentinelPasswordVars(model)) sentinelEnv[variable] = required(variable);
    for (const host of plan.sentinelHosts()) {
      out[host] = {
        image: imageRef(IMAGE_VARS.redis, REDIS_IMAGE),
        command: ["sh", "-c", script],
        user: "redis",
        environment: sortedRecord(sentinelEnv),
        ...tlsVolumes,
        healthcheck: healthcheck([...cli, "-p", String(REDIS_PORTS.sentinel), "ping"]),
        depends_on: dependsOn(hosts, "service_healthy"),
        restart: "unless-stopped",
        stop_grace_period: INFRA_STOP_GRACE,
      };
    }
  }
  if (mode === "cluster") {
    // CLUSTER MEET takes IP addresses, so the init resolves the node names first; it does nothing
    // when the cluster is already formed, so `docker compose up` can run again.
    const nodes = hosts.join(" ");
    const rcli = cli.join(" ");
    const script = [
      `if ${rcli} -h ${hosts[0]} cluster info | grep -q cluster_state:ok; then echo cluster already formed; exit 0; fi;`,
      'addrs="";',
      `for h in ${nodes}; do addrs="$$addrs $$(getent hosts $$h | awk '{print $$1}'):${REDIS_PORTS.server}"; done;`,
      `${rcli} --cluster create $$addrs --cluster-replicas 1 --cluster-yes`,
    ].join(" ");
    out[REDIS_CLUSTER_INIT] = {
      image: imageRef(IMAGE_VARS.redis, REDIS_IMAGE),
      command: ["sh", "-c", script],
      environment: cliAuth,
      ...tlsVolumes,
      depends_on: dependsOn(hosts, "service_healthy"),
      restart: "no",
      stop_grace_period: INFRA_STOP_GRACE,
    };
  }
  return out;
}

function topologyService(s: ServiceModel, plan: ComposePlan): ComposeService {
  const model = plan.model;
  // Only services that use Redis (leader mode, or `uses redis`) get its address and a user.
  const usesRedis = serviceUsesRedis(s);
  const image = s.image ?? defaultServiceImage(model.name);
  const port = healthPort(s);
  const environment: Record<string, string> = {};
  // Declared values are literal: `$` is doubled so compose does not interpolate them.
  for (const [key, value] of Object.entries(s.env)) environment[key] = value.replace(/\$/g, "$$$$");
  Object.assign(environment, {
    [ENV.topology]: model.name,
    [ENV.service]: s.name,
    [ENV.wiring]: COMPOSE_WIRING_PATH,
    [ENV.healthPort]: String(port),
    [ENV.natsUrls]: plan.natsUrls,
    [ENV.natsUser]: natsUser(s.name),
    [ENV.natsPassword]: required(natsPasswordVar(natsUser(s.name))),
    ...(s.image === undefined ? { [ENV.handlers]: handlerPath(s) } : {}),
    ...(usesRedis ? redisEnv(plan, s) : {}),
    ...serviceTlsEnv(model, usesRedis),
  });
  const tlsCa = Object.keys(serviceTlsEnv(model, usesRedis)).length > 0;

  const depends: Record<string, { condition: string }> = dependsOn(plan.natsHosts, "service_healthy");
  if (usesRedis && plan.emitsRedis) {
    const mode = model.redis.mode;
    if (mode === "standalone") Object.assign(depends, dependsOn(plan.redisHosts(), "service_healthy"));
    else if (mode === "sentinel") Object.assign(depends, dependsOn(plan.sentinelHosts(), "service_healthy"));
    else Object.assign(depends, dependsOn([REDIS_CLUSTER_INIT], "service_completed_successfully"));
  }

  const service: ComposeService = { image };
  if (s.image === undefined) {
    // Every service on the default image carries the same build, so `up --build` works whichever
    // service compose looks at first; the builder's cache makes the repeats free.
    service.build = {
      context: ".",
      dockerfile: "Dockerfile",
      additional_contexts: { app: `\${${APP_DIR_VAR}:-../..}` },
      args: { [NODE_IMAGE_ARG]: imageRef(IMAGE_VARS.node, NODE_IMAGE) },
    };
  }
  Object.assign(service, {
    command: ["catga", "run", "--wiring", COMPOSE_WIRING_PATH, "--service", s.name],
    environment: sortedRecord(environment),
    volumes: [
      `./wiring.json:${COMPOSE_WIRING_PATH}:ro`,
      ...(tlsCa
        ? [`${COMPOSE_CERT_DIR}/${COMPOSE_CERT_FILES.ca}:${SERVICE_CERT_DIR}/${TLS_FILES.ca}:ro`]
        : []),
    ],
    // An init process as PID 1 forwards SIGTERM (graceful drain) and reaps children.
    init: true,
    // Above the drain grace: Docker's default 10 s would kill a drain using its whole grace, and a
    // killed leader is a crash failover (standbys wait out its lease).
    stop_grace_period: `${stopGraceSeconds(s)}s`,
    // The runtime needs no privilege and writes nothing but temporary files: the default image
    // runs as `node`; a custom image keeps its own user.
    read_only: true,
    tmpfs: ["/tmp"],
    cap_drop: ["ALL"],
    security_opt: ["no-new-privileges:true"],
    healthcheck: shellHealthcheck(
      `node -e "fetch('http://127.0.0.1:${port}/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"`,
    ),
  });
  if (Object.keys(depends).length > 0) service.depends_on = depends;
  service.deploy = { replicas: s.replicas, ...(s.resources ? { resources: resources(s.resources) } : {}) };
  service.restart = "unless-stopped";
  return service;
}

/** Requests become both reservations and limits, as a Kubernetes pod with requests = limits. */
function resources(r: NonNullable<ServiceModel["resources"]>): Record<string, unknown> {
  const amounts: Record<string, string> = {};
  if (r.cpu !== undefined) amounts.cpus = composeCpus(r.cpu);
  if (r.memory !== undefined) amounts.memory = composeMemory(r.memory);
  return { limits: { ...amounts }, reservations: { ...amounts } };
}

/** The handler module inside the default image: the declared path under the project folder. */
function handlerPath(s: ServiceModel): string {
  return posix.join(COMPOSE_APP_DIR, s.handler ?? `services/${s.name}.ts`);
}

/** The Redis variables of a service that uses Redis, emitted or external. */
function redisEnv(plan: ComposePlan, s: ServiceModel): Record<string, string> {
  const redis = plan.model.redis;
  const env: Record<string, string> = { [ENV.redisMode]: redis.mode };
  if (plan.emitsRedis) {
    // Its own ACL user and password (and, in sentinel mode, the sentinels' client user).
    env[ENV.redisUser] = redisUser(s.name);
    env[ENV.redisPassword] = required(redisPasswordVar(s.name));
    if (redis.mode === "sentinel") {
      env[ENV.redisSentinelUser] = REDIS_SENTINEL_CLIENT_USER;
      env[ENV.redisSentinelPassword] = required(redisBuiltInPasswordVar(REDIS_SENTINEL_CLIENT_USER));
    }
    if (redis.mode === "standalone")
      env[ENV.redisUrl] = `${redisScheme(plan.model)}://${REDIS_STANDALONE_HOST}:${REDIS_PORTS.server}`;
    else if (redis.mode === "sentinel") {
      env[ENV.redisSentinels] = plan
        .sentinelHosts()
        .map((h) => `${h}:${REDIS_PORTS.sentinel}`)
        .join(",");
      env[ENV.redisMaster] = redisMaster(plan.model);
    } else
      env[ENV.redisClusterNodes] = plan
        .redisHosts()
        .map((h) => `${h}:${REDIS_PORTS.server}`)
        .join(",");
    return env;
  }
  // An external deployment may or may not need a password: optional, empty by default.
  env[ENV.redisPassword] = `\${${REDIS_PASSWORD_VAR}:-}`;
  const urls = splitList(redis.url ?? "");
  if (urls.some((u) => u.startsWith("rediss://"))) env[ENV.redisTls] = "true";
  if (redis.mode === "standalone") env[ENV.redisUrl] = urls.join(",");
  else if (redis.mode === "sentinel") {
    env[ENV.redisSentinels] = urls.map((u) => hostPort(u, REDIS_PORTS.sentinel)).join(",");
    env[ENV.redisMaster] = redisMaster(plan.model);
  } else env[ENV.redisClusterNodes] = urls.map((u) => hostPort(u, REDIS_PORTS.server)).join(",");
  return env;
}

/** `redis://h:26379` → `h:26379`; the default port when the URL has none. */
function hostPort(url: string, defaultPort: number): string {
  try {
    const parsed = new URL(url);
    if (parsed.hostname !== "") return `${parsed.hostname}:${parsed.port || defaultPort}`;
  } catch {
    // Not a URL: taken as host[:port] below.
  }
  return url.includes(":") ? url : `${url}:${defaultPort}`;
}

function dependsOn(hosts: string[], condition: string): Record<string, { condition: string }> {
  const out: Record<string, { condition: string }> = {};
  for (const h of hosts) out[h] = { condition };
  return out;
}

/** One line per variable the compose file reads, with what it is and whether it is required. */
interface EnvEntry {
  name: string;
  comment: string;
  /** Optional variables have a default in the compose file; an empty value keeps it. */
  optional: boolean;
}

function envEntries(model: TopologyModel, plan: ComposePlan): EnvEntry[] {
  const entries: EnvEntry[] = [];
  const serverUsers = new Set(plan.natsServerUsers());
  // The first service of each user, as a search in declaration order would find it (a map: one
  // search per user made this quadratic).
  const serviceOfUser = new Map<string, ServiceModel>();
  for (const s of model.services)
    if (!serviceOfUser.has(natsUser(s.name))) serviceOfUser.set(natsUser(s.name), s);
  const users = [...new Set([...serviceOfUser.keys(), ...serverUsers])].sort();
  for (const user of users) {
    const service = serviceOfUser.get(user);
    const what = service
      ? `service ${service.name}`
      : user === "client"
        ? "applications using the generated client"
        : user === "ops"
          ? "operators' tools (catga status)"
          : user === ADMIN_USER
            ? "operators' dead-letter commands (list, read, remove, replay)"
            : user;
    entries.push({
      name: natsPasswordVar(user),
      comment: `NATS password of user ${user}: ${what}`,
      optional: false,
    });
  }
  if (plan.natsHosts.length > 1) {
    entries.push({
      name: NATS_CLUSTER_PASSWORD_VAR,
      comment: "password the NATS servers' routes authenticate with",
      optional: false,
    });
  }
  if (plan.emitsRedis) {
    for (const user of allRedisAclUsers(model)) {
      entries.push({
        name: user.passwordVar,
        comment: `Redis password of ACL user ${user.name}: ${user.purpose}`,
        optional: false,
      });
    }
  } else if (plan.needsRedis) {
    entries.push({
      name: REDIS_PASSWORD_VAR,
      comment: "password of the external Redis, if it requires one",
      optional: true,
    });
  }
  if (plan.jetStream) {
    entries.push(
      {
        name: NATS_JS_LIMIT_VARS.memory,
        comment: `JetStream memory limit of each NATS server (nats-server size: 256M, 1G); empty: ${NATS_JS_LIMITS.memory}`,
        optional: true,
      },
      {
        name: NATS_JS_LIMIT_VARS.file,
        comment: `JetStream file-store limit of each NATS server (its volume must hold it); empty: ${NATS_JS_LIMITS.file}`,
        optional: true,
      },
    );
  }
  if (plan.natsHosts.length > 0) {
    entries.push({
      name: NATS_HOST_PORT_VAR,
      comment: `host port (on 127.0.0.1) of the first NATS server; empty: ${NATS_PORTS.client}`,
      optional: true,
    });
  }
  if (model.services.some((s) => s.image === undefined)) {
    entries.push(
      {
        name: APP_DIR_VAR,
        comment: "project folder (package.json, lockfile, handlers) relative to this folder; empty: ../..",
        optional: true,
      },
      {
        name: IMAGE_VARS.node,
        comment: `base image of the services' image (the Dockerfile's ${NODE_IMAGE_ARG}); empty: ${NODE_IMAGE}`,
        optional: true,
      },
    );
  }
  if (plan.natsHosts.length > 0) {
    entries.push({
      name: IMAGE_VARS.nats,
      comment: `NATS server image; empty: ${NATS_IMAGE}`,
      optional: true,
    });
  }
  if (plan.emitsRedis) {
    entries.push({
      name: IMAGE_VARS.redis,
      comment: `Redis (and sentinel) image; empty: ${REDIS_IMAGE}`,
      optional: true,
    });
  }
  return entries;
}

function envExample(model: TopologyModel, options: EmitOptions, plan: ComposePlan): string {
  const lines = [
    generatedHeader(options.sourceName, "#"),
    `# Variables docker-compose.yml of topology ${model.name} reads. Copy this file to .env beside`,
    "# docker-compose.yml, fill in every required value (uncomment an optional one to set it) and keep",
    "# .env out of version control.",
    "# Generate each password with:  printf 'p%s\\n' \"$(openssl rand -hex 24)\"",
    "# (letters and digits, starting with a letter: nats-server parses a password variable's value).",
  ];
  for (const entry of envEntries(model, plan)) {
    // Optional entries stay commented out: unset, so `${VAR:-default}` gives the default in every
    // compose. podman-compose 1.0.3 (Debian 12) gives an empty value where docker compose gives the
    // default, and an empty JetStream limit starts NATS with no storage (found by test/compose).
    lines.push(
      "",
      `# ${entry.optional ? "Optional" : "Required"}: ${entry.comment}`,
      `${entry.optional ? "# " : ""}${entry.name}=`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function dockerfile(model: TopologyModel, options: EmitOptions): string {
  const onDefault = model.services.filter((s) => s.image === undefined);
  const ports = [...new Set(onDefault.map(healthPort))].sort((a, b) => a - b);
  const serviceList = onDefault.map((s) => s.name).join(", ");
  // Where the handlers import the generated code from (`../out/<topology>/client.js` with the
  // default layout): the folder catgac build writes, two levels under the project folder.
  const generatedDir = `out/${model.name}`;
  // What must not ship in the image although it sits in the project folder: the host's install,
  // `catga up`'s state and passwords, and this folder's TLS keys and .env. Removed in a first
  // stage, so no layer of the image holds them (podman does not apply a .dockerignore to a named
  // build context, so that alone would not keep them out).
  const dropped = [
    "node_modules",
    ".catga",
    `${generatedDir}/${COMPOSE_CERT_DIR.replace(/^\.\//, "")}`,
    `${generatedDir}/.env`,
  ];
  const lines = [
    generatedHeader(options.sourceName, "#"),
    `# The image ${defaultServiceImage(model.name)} of topology ${model.name}: one image runs any of its`,
    "# services; `catga run --service NAME` (the command docker-compose.yml gives each service)",
    `# picks which. Services on this image: ${serviceList === "" ? "none (every service names its own image)" : serviceList}.`,
    "#",
    "# Two build contexts: this folder (only this Dockerfile is read from it) and `app`, your project",
    `# folder, set by ${APP_DIR_VAR} in .env (default ../..). Assumed layout of the project folder:`,
    "#   package.json and package-lock.json, with `@catga/runtime` (and `tsx` for .ts handler modules)",
    "#   among the dependencies and `catga` (the compiler and `catga up`) among the devDependencies,",
    "#   which are not installed: the image carries only the runtime;",
    `#   ${options.sourceName} and the handler modules at their declared paths, relative to it`,
    "#   (default services/<service>.ts). The runtime loads them from CATGA_HANDLERS.",
    `#   ${generatedDir}/: what catgac build writes; the handlers import its client.ts, so build first.`,
    "# wiring.json is not baked in: compose mounts it (Kubernetes: a ConfigMap) at /etc/catga/wiring.json.",
    `# Never in the image: ${dropped.join(", ")} (dropped in the first stage).`,
    "# A .dockerignore in the project folder listing node_modules keeps the context small.",
    "#",
    "# Build by hand from the project folder (after catgac build):",
    `#   docker build --build-context app=. -t ${defaultServiceImage(model.name)} -f ${generatedDir}/Dockerfile ${generatedDir}`,
    `# ${NODE_IMAGE_ARG}: the base image (compose passes ${IMAGE_VARS.node} from .env).`,
    `ARG ${NODE_IMAGE_ARG}=${NODE_IMAGE}`,
    `FROM \${${NODE_IMAGE_ARG}} AS project`,
    "COPY --from=app . /project",
    `RUN cd /project && rm -rf ${dropped.join(" ")} \\`,
    `  && { test -f ${generatedDir}/client.ts || { echo "catga: ${generatedDir}/client.ts is missing from the project folder: the handlers import it. Run catgac build ${options.sourceName} there first, and keep out/ out of .dockerignore." >&2; exit 1; }; }`,
    "",
    `FROM \${${NODE_IMAGE_ARG}}`,
    `WORKDIR ${COMPOSE_APP_DIR}`,
    "ENV NODE_ENV=production",
    "# A clean install from the lockfile: node_modules from the host may hold binaries built for",
    "# another system.",
    `COPY --from=project /project ${COMPOSE_APP_DIR}`,
    "RUN npm ci --omit=dev && npm cache clean --force",
    "# `catga` on PATH is the runtime's (run, sagas, dead-letters). The runtime package declares no",
    "# `bin`: in a development install the `catga` package's `catga` (which adds `up`…) must win.",
    `RUN ln -s ${COMPOSE_APP_DIR}/node_modules/@catga/runtime/bin/catga.js /usr/local/bin/catga \\`,
    `  && chmod +x ${COMPOSE_APP_DIR}/node_modules/@catga/runtime/bin/catga.js`,
    `ENV PATH=${COMPOSE_APP_DIR}/node_modules/.bin:$PATH`,
    `ENV ${ENV.wiring}=${COMPOSE_WIRING_PATH}`,
    "USER node",
    "# Health port(s): /healthz, /readyz, /metrics.",
    ...(ports.length > 0 ? [`EXPOSE ${ports.join(" ")}`] : []),
    "# The node image's entrypoint runs `catga` from PATH; set CATGA_SERVICE or pass --service NAME.",
    `CMD ["catga", "run", "--wiring", "${COMPOSE_WIRING_PATH}"]`,
  ];
  return `${lines.join("\n")}\n`;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function splitList(text: string): string[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key]!;
  return out;
}

/** The read-only mounts of a server's certificate, key and CA from `./certs` (docs/build.md, TLS). */
function certMounts(server: "nats" | "redis", dir: string): string[] {
  const [cert, key] =
    server === "nats"
      ? [COMPOSE_CERT_FILES.natsCert, COMPOSE_CERT_FILES.natsKey]
      : [COMPOSE_CERT_FILES.redisCert, COMPOSE_CERT_FILES.redisKey];
  return [
    `${COMPOSE_CERT_DIR}/${cert}:${dir}/${TLS_FILES.cert}:ro`,
    `${COMPOSE_CERT_DIR}/${key}:${dir}/${TLS_FILES.key}:ro`,
    `${COMPOSE_CERT_DIR}/${COMPOSE_CERT_FILES.ca}:${dir}/${TLS_FILES.ca}:ro`,
  ];
}

/**
 * The names each server certificate of the compose deployment must list (its host names, plus
 * localhost and 127.0.0.1): what `catga certs` makes. Empty when TLS is off or nothing is emitted.
 */
export function composeCertificateNames(model: TopologyModel): CertificateNames {
  const plan = new ComposePlan(model);
  const out: CertificateNames = {};
  if (natsTls(model)) out.nats = [...plan.natsHosts, ...LOCAL_NAMES];
  if (plan.emitsRedis && redisTls(model))
    out.redis = [...plan.redisHosts(), ...plan.sentinelHosts(), ...LOCAL_NAMES];
  return out;
}
