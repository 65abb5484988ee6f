/**
 * Names every emitter agrees on: NATS subjects, queue groups, inbox prefixes, NATS users, Redis key
 * prefixes, environment variables, ports and DNS-1123 object names. One file, so the wiring the
 * runtime reads, the permissions the NATS server enforces and the manifests that start the services
 * can never disagree about a name.
 *
 * Everything here is a pure function of the model: no clock, no randomness, no environment.
 */
import type { MessageModel, TopologyModel } from "../model.js";
import { dnsLabel } from "../naming.js";

export { dnsLabel };

/** The subject token of each message kind: `shop.cmd.CreateOrder`, `shop.query.GetOrder`, `shop.event.OrderCreated`. */
const KIND_TOKEN: Record<MessageModel["kind"], string> = { command: "cmd", query: "query", event: "event" };

/**
 * The NATS subject of a message. Topology first, so several topologies can share one NATS cluster
 * and a permission like `shop.>` covers exactly one of them.
 */
export function messageSubject(topology: string, message: Pick<MessageModel, "kind" | "name">): string {
  return `${topology}.${KIND_TOKEN[message.kind]}.${message.name}`;
}

/** Prefix of the control subjects: heartbeats and leader announcements. */
export function controlPrefix(topology: string): string {
  return `${topology}._catga`;
}

/** Where every instance of a service publishes its heartbeat: `shop._catga.heartbeat.order`. */
export function heartbeatSubject(topology: string, service: string): string {
  return `${controlPrefix(topology)}.heartbeat.${service}`;
}

/** Where a leader announces that it releases its lease (graceful shutdown): `shop._catga.leader.coordinator`. */
export function leaderSubject(topology: string, service: string): string {
  return `${controlPrefix(topology)}.leader.${service}`;
}

/**
 * The reply-inbox prefix of a service's connections (`_INBOX.shop.order`): each service gets its own
 * so its NATS user may subscribe to its own replies only, never to another service's.
 */
export function inboxPrefix(topology: string, user: string): string {
  return `_INBOX.${topology}.${user}`;
}

/** The queue group of a group-delivered event subscription: the consuming service's name. */
export function eventQueue(service: string): string {
  return service;
}

/**
 * The JetStream stream of a durable event: `catga_shop_OrderCreated`. One stream per event, so its
 * settings (retention, replicas) and its permissions are the event's own, and the `catga_` prefix
 * keeps Catga's streams apart from others on a shared cluster.
 */
export function eventStream(topology: string, event: string): string {
  return `catga_${topology}_${event}`;
}

/** The durable consumer through which a service takes a group-delivered durable event: its name. */
export function eventConsumer(service: string): string {
  return service;
}

/**
 * The durable consumer through which a saga's runner takes the saga's durable trigger:
 * `coordinator-PlaceOrder`. Its own, apart from the service's `on` consumer of the same event, so the
 * saga and the handler each see every event; `-` cannot occur in a service name, so it never clashes
 * with {@link eventConsumer}.
 */
export function sagaConsumer(service: string, saga: string): string {
  return `${service}-${saga}`;
}

/** The stream of a topology's dead letters: `catga_shop_dead`. */
export function deadLetterStream(topology: string): string {
  return `catga_${topology}_dead`;
}

/** Where a service's dead letters of one event go: `shop.dead.coordinator.OrderCreated`. */
export function deadLetterSubject(topology: string, service: string, event: string): string {
  return `${topology}.dead.${service}.${event}`;
}

/** The NATS user a service's instances log in as. */
export function natsUser(service: string): string {
  return service;
}

/**
 * The NATS user of code outside the topology that uses the generated client (a web app calling
 * `connectShop`): may send every command and query and subscribe to every event.
 */
export const CLIENT_USER = "client";

/**
 * The NATS user of operators' tools (`catga status`): reads heartbeats and, when the topology has
 * durable events, the state of their streams and consumers. Changes nothing.
 */
export const OPS_USER = "ops";

/**
 * The NATS user of operators' tools that change durable state (the dead-letter commands of the
 * CLI): lists streams and consumers, reads and removes dead letters, and replays them to their
 * event subjects. Exists only when the topology has a durable event; a service may then not have
 * this name.
 */
export const ADMIN_USER = "admin";

/**
 * The environment variable holding a NATS user's password: `CATGA_NATS_PASSWORD_ORDER`. Manifests
 * reference it (compose interpolation, Kubernetes Secret keys) and the NATS server config reads it
 * (`$CATGA_NATS_PASSWORD_ORDER`); no password is ever written into an emitted file.
 */
export function natsPasswordVar(user: string): string {
  return `CATGA_NATS_PASSWORD_${envToken(user)}`;
}

/**
 * The environment variable holding the Redis password an instance logs in with (its service's
 * password, see {@link redisPasswordVar}); for an external Redis, the one shared password it needs.
 */
export const REDIS_PASSWORD_VAR = "CATGA_REDIS_PASSWORD";

/**
 * The Redis ACL user a service's instances log in as: the service name (service names are
 * identifiers, so they never clash with the built-in users, which all contain a `-`).
 */
export function redisUser(service: string): string {
  return service;
}

/** Redis ACL user of operators' tools (`catga status`, `catga sagas`): reads the topology's keys. */
export const REDIS_OPS_USER = "catga-ops";
/** Redis ACL user of replicas replicating from their primary (`masteruser`). */
export const REDIS_REPLICA_USER = "catga-replica";
/** Redis ACL user of sentinels, on the data nodes (`sentinel auth-user`) and among themselves (`sentinel sentinel-user`). */
export const REDIS_SENTINEL_USER = "catga-sentinel";
/** Redis ACL user on the sentinels for services and tools asking where the primary is. */
export const REDIS_SENTINEL_CLIENT_USER = "catga-client";
/** Redis ACL user for cluster creation, health checks and operators: every command and key. */
export const REDIS_ADMIN_USER = "catga-admin";

/**
 * The environment variable holding a service's Redis password: `CATGA_REDIS_PASSWORD_ORDER`. The
 * Redis servers read it when they write their ACL file at start; the service's instances get it as
 * {@link REDIS_PASSWORD_VAR}. Never written into an emitted file.
 */
export function redisPasswordVar(service: string): string {
  return `CATGA_REDIS_PASSWORD_${envToken(service)}`;
}

/** The variable token of each built-in Redis user's password. */
const REDIS_BUILT_IN_TOKENS: Readonly<Record<string, string>> = {
  [REDIS_OPS_USER]: "OPS",
  [REDIS_REPLICA_USER]: "REPLICA",
  [REDIS_SENTINEL_USER]: "SENTINEL_PEER",
  [REDIS_SENTINEL_CLIENT_USER]: "SENTINEL_CLIENT",
  [REDIS_ADMIN_USER]: "ADMIN",
};

/**
 * The environment variable holding a built-in Redis user's password: `CATGA_REDIS_OPS_PASSWORD`
 * for `catga-ops`, `CATGA_REDIS_SENTINEL_CLIENT_PASSWORD` for `catga-client`. Shaped apart from
 * {@link redisPasswordVar} (`CATGA_REDIS_PASSWORD_…`) and from the runtime's own variables
 * (`CATGA_REDIS_SENTINEL_PASSWORD`), so no service name can take one.
 *
 * @throws Error for a user that is not built in (a compiler bug).
 */
export function redisBuiltInPasswordVar(user: string): string {
  const token = REDIS_BUILT_IN_TOKENS[user];
  if (token === undefined) throw new Error(`no built-in Redis user ${user}`);
  return `CATGA_REDIS_${token}_PASSWORD`;
}

/**
 * The Redis hash tag of a leader-mode service: every key a Lua script touches together (lease,
 * fencing token, fenced values) shares it, so the script works on Redis Cluster too.
 */
export function redisHashTag(topology: string, service: string): string {
  return `{catga:${topology}:${service}}`;
}

/**
 * Environment variables the runtime (`catga run`) reads. Flags override them. Documented in
 * docs/build.md; compose and Kubernetes manifests set them.
 */
export const ENV = {
  /** Topology name, for logs and heartbeats. */
  topology: "CATGA_TOPOLOGY",
  /** The service this process runs. */
  service: "CATGA_SERVICE",
  /** Path of wiring.json. */
  wiring: "CATGA_WIRING",
  /** Module exporting the service's handlers (its default export, from the generated definer). */
  handlers: "CATGA_HANDLERS",
  /** Unique id of this instance; defaults to the host name plus the process id. */
  instanceId: "CATGA_INSTANCE_ID",
  /** Comma-separated NATS URLs of every server of the cluster. */
  natsUrls: "CATGA_NATS_URLS",
  /** NATS user name (its password is in {@link natsPasswordVar}, mapped to CATGA_NATS_PASSWORD). */
  natsUser: "CATGA_NATS_USER",
  /** How long `catga run` drains on SIGTERM, in milliseconds (read for the stop grace, not set). */
  graceMs: "CATGA_GRACE_MS",
  natsPassword: "CATGA_NATS_PASSWORD",
  natsToken: "CATGA_NATS_TOKEN",
  natsCreds: "CATGA_NATS_CREDS",
  /** Redis mode: standalone, sentinel or cluster. */
  redisMode: "CATGA_REDIS_MODE",
  /** Standalone: one redis:// URL. */
  redisUrl: "CATGA_REDIS_URL",
  /** Sentinel: comma-separated host:port of the sentinels. */
  redisSentinels: "CATGA_REDIS_SENTINELS",
  /** Sentinel: the monitored primary's name. */
  redisMaster: "CATGA_REDIS_MASTER",
  /** Cluster: comma-separated host:port of the cluster nodes. */
  redisClusterNodes: "CATGA_REDIS_CLUSTER_NODES",
  /** Redis ACL user name of the instance (its password in {@link REDIS_PASSWORD_VAR}). */
  redisUser: "CATGA_REDIS_USER",
  redisPassword: REDIS_PASSWORD_VAR,
  /** Sentinel mode: the ACL user the instance asks the sentinels as. */
  redisSentinelUser: "CATGA_REDIS_SENTINEL_USER",
  /** Sentinel mode: that user's password. */
  redisSentinelPassword: "CATGA_REDIS_SENTINEL_PASSWORD",
  redisTls: "CATGA_REDIS_TLS",
  /** Port of /healthz, /readyz and /metrics. */
  healthPort: "CATGA_HEALTH_PORT",
} as const;

/** The default port of `/healthz`, `/readyz` and `/metrics` when a service declares no `port`. */
export const DEFAULT_HEALTH_PORT = 8080;

/** The health port of a service. */
export function healthPort(service: { port?: number }): number {
  return service.port ?? DEFAULT_HEALTH_PORT;
}

/** Default request deadline when neither the service nor the step declares a `timeout`. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** The Redis primary name in sentinel mode when the topology does not name one. */
export const DEFAULT_REDIS_MASTER = "catga";

/** The sentinel master name of a topology. */
export function redisMaster(model: TopologyModel): string {
  return model.redis.master ?? DEFAULT_REDIS_MASTER;
}

/** NATS client, cluster (route) and monitoring ports inside containers and pods. */
export const NATS_PORTS = { client: 4222, cluster: 6222, monitor: 8222 } as const;

/**
 * The compose service name (and so the host name on the compose network) of the i-th NATS server,
 * i = 0 … nodes-1: `nats-0`, `nats-1`, … The NATS config's routes and the services'
 * {@link ENV}.natsUrls both use it, so they can never disagree.
 */
export function natsComposeHost(index: number): string {
  return `nats-${index}`;
}

/**
 * The environment variable each NATS server reads its `server_name` from (`server_name:
 * $NATS_SERVER_NAME` in nats.conf), so one config file serves every node of the cluster. Compose
 * and Kubernetes set it per node (the compose service name, the pod name).
 */
export const NATS_SERVER_NAME_VAR = "NATS_SERVER_NAME";

/**
 * The user NATS servers authenticate each other's routes with (`cluster { authorization { … } } }`):
 * without it anyone reaching the cluster port could join as a route and bypass every user's
 * permissions. Its password is in {@link NATS_CLUSTER_PASSWORD_VAR}.
 */
export const NATS_CLUSTER_USER = "route";

/** The environment variable holding the route password of {@link NATS_CLUSTER_USER}; every NATS server needs it. */
export const NATS_CLUSTER_PASSWORD_VAR = "CATGA_NATS_CLUSTER_PASSWORD";

/**
 * The environment variable holding the URL of the i-th route, credentials included
 * (`CATGA_NATS_ROUTE_0` = `nats://route:<password>@nats-0:6222`). nats-server sends only a route
 * URL's own credentials when it dials a listed route, and its config cannot build a string from a
 * variable, so nats.conf lists `$CATGA_NATS_ROUTE_0 …` and compose/Kubernetes set each one with
 * {@link natsRouteUrl} (the NATS Helm chart does the same).
 */
export function natsRouteVar(index: number): string {
  return `CATGA_NATS_ROUTE_${index}`;
}

/**
 * A route URL with the route credentials: `natsRouteUrl("nats-0", "${CATGA_NATS_CLUSTER_PASSWORD}")`
 * for compose interpolation, `natsRouteUrl(host, "$(CATGA_NATS_CLUSTER_PASSWORD)")` for a Kubernetes
 * env value that refers to an earlier env var. `password` is that reference, never a literal secret.
 */
export function natsRouteUrl(host: string, password: string, port: number = NATS_PORTS.cluster): string {
  return `nats://${NATS_CLUSTER_USER}:${password}@${host}:${port}`;
}

/**
 * Where a NATS server keeps its JetStream store (`jetstream { store_dir }`; the server adds a
 * `jetstream/` folder under it): compose mounts a named volume there, Kubernetes a volume claim.
 * Only topologies with a durable event enable JetStream.
 */
export const NATS_STORE_DIR = "/data";

/**
 * JetStream limits of each NATS server, read from the environment (`max_memory_store:
 * $CATGA_NATS_JS_MAX_MEMORY`) so an operator sizes them without editing nats.conf; compose and
 * Kubernetes set them, with the defaults below. Sizes in nats-server syntax: `256M`, `8G` (decimal
 * units: 8G is 8·10⁹ bytes).
 */
export const NATS_JS_LIMIT_VARS = {
  memory: "CATGA_NATS_JS_MAX_MEMORY",
  file: "CATGA_NATS_JS_MAX_FILE",
} as const;

/**
 * Default JetStream limits: memory for ordered consumers' state and in-flight data (streams are
 * stored on file), file store below {@link NATS_VOLUME_SIZE} so the server hits its own limit (and
 * refuses publishes cleanly) before the volume is full.
 */
export const NATS_JS_LIMITS = { memory: "256M", file: "8G" } as const;

/** The size of each NATS server's volume claim in Kubernetes (the JetStream store). */
export const NATS_VOLUME_SIZE = "10Gi";

/** Redis server and sentinel ports inside containers and pods. */
export const REDIS_PORTS = { server: 6379, sentinel: 26379 } as const;

/** Image of NATS servers in emitted infrastructure (pinned: output must not change under us). */
export const NATS_IMAGE = "nats:2.10.29-alpine";

/** Image of Redis servers and sentinels in emitted infrastructure. */
export const REDIS_IMAGE = "redis:7.4.6-alpine";

/** The image services run when they declare none: built from the emitted Dockerfile. */
export function defaultServiceImage(topology: string): string {
  return `catga-${dnsLabel(topology)}:latest`;
}

/** The DNS-safe name of a topology object: `shop-order`, `shop-nats`, `shop-redis`. */
export function objectName(topology: string, part: string): string {
  return dnsLabel(`${dnsLabel(topology)}-${dnsLabel(part)}`);
}

/** `CATGA_NATS_PASSWORD_ORDER_SERVICE` from `orderService` or `order-service`. */
function envToken(name: string): string {
  return dnsLabel(name).replace(/-/g, "_").toUpperCase();
}

/**
 * The drain grace `catga run` uses unless `CATGA_GRACE_MS` says otherwise (runtime/cli/run.ts,
 * docs/runtime.md "Drain").
 */
export const RUNTIME_GRACE_MS = 10_000;

/**
 * Seconds added to the drain grace for the termination grace: after the grace the runtime still
 * releases its lease, sends a farewell heartbeat and drains its connection, and the kill must not
 * come before that (a killed leader is a crash failover: standbys wait out the lease).
 */
export const GRACE_MARGIN_S = 20;

/**
 * The seconds a service is given to stop (Kubernetes `terminationGracePeriodSeconds`, compose
 * `stop_grace_period`): its drain grace (`CATGA_GRACE_MS` in the service's `env`, or
 * {@link RUNTIME_GRACE_MS}), rounded up to seconds, plus {@link GRACE_MARGIN_S}.
 */
export function stopGraceSeconds(service: { env: Record<string, string> }): number {
  const text = service.env[ENV.graceMs]?.trim() ?? "";
  const declared = text === "" ? Number.NaN : Number(text);
  const graceMs = Number.isFinite(declared) && declared >= 0 ? declared : RUNTIME_GRACE_MS;
  return Math.ceil(graceMs / 1000) + GRACE_MARGIN_S;
}
