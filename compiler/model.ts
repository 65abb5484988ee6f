/**
 * The resolved topology model: what a `.catga` file means once every name is resolved and every
 * default applied. It is the one input of every emitter (TypeScript client, wiring.json, compose,
 * Kubernetes, NATS permissions), so emitters never look at the AST or re-derive defaults.
 *
 * The model is plain data: no classes, no maps, no `undefined` values (optional properties are
 * absent rather than undefined), so `JSON.stringify` round-trips it and two builds of the same input
 * are deeply equal. Lists keep declaration order; records are sorted by key.
 */

/** The scalar types built into the language. */
export const BUILTIN_TYPES = ["string", "int", "float", "bool", "timestamp"] as const;

/** One of {@link BUILTIN_TYPES}. */
export type BuiltinType = (typeof BUILTIN_TYPES)[number];

/** A resolved type reference: `int`, `OrderItem[]`, `OrderStatus?`, `string[][]`. */
export type TypeUse =
  | {
      /** A builtin scalar. */
      kind: "builtin";
      name: BuiltinType;
      /** How many `[]` follow the name; 0 for a single value. */
      listDepth: number;
      /** `T?`: the value may be absent (for a list: the whole list may be absent). */
      optional: boolean;
    }
  | {
      /** A declared `type` (a record) or `enum`. */
      kind: "type" | "enum";
      name: string;
      /** How many `[]` follow the name; 0 for a single value. */
      listDepth: number;
      /** `T?`: the value may be absent (for a list: the whole list may be absent). */
      optional: boolean;
    };

/** A field of a type or message. */
export interface FieldModel {
  name: string;
  /** The `///` comment above the field. */
  doc?: string;
  type: TypeUse;
}

/** A `type` declaration: a record of fields. */
export interface TypeModel {
  name: string;
  doc?: string;
  fields: FieldModel[];
}

/** An enum member. */
export interface EnumMemberModel {
  name: string;
  doc?: string;
}

/** An `enum` declaration. */
export interface EnumModel {
  name: string;
  doc?: string;
  /** Members in declaration order. */
  members: EnumMemberModel[];
}

/** A `command`, `query` or `event`. */
export interface MessageModel {
  name: string;
  kind: "command" | "query" | "event";
  doc?: string;
  /** Marked `idempotent`: clients may retry it. Never true for events. */
  idempotent: boolean;
  fields: FieldModel[];
  /** `-> T`: the reply type. Always present for queries, never for events, optional for commands. */
  result?: TypeUse;
  /**
   * The service that answers this command or query (exactly one, the checker guarantees it). Absent
   * for events.
   */
  handledBy?: string;
  /**
   * `durable event`: stored in a JetStream stream and delivered at least once, with the stream
   * settings resolved (per-event settings over the `nats { }` defaults over the built-in defaults).
   * Absent for every other message.
   */
  durable?: DurableModel;
}

/** The stream settings of a durable event, every default applied. */
export interface DurableModel {
  /**
   * How long the stream keeps an event (`retain 7d`), in milliseconds.
   * @default 604800000 (7 days)
   */
  retentionMs: number;
  /**
   * Deliveries of one event to one consuming service before it is dead-lettered (`deliveries 5`).
   * @default 5
   */
  maxDeliver: number;
  /**
   * Stream replicas (`replicas 3`): at most the NATS node count.
   * @default 3 when the cluster has at least 3 nodes, else 1
   */
  replicas: number;
  /**
   * Window in which a second publish with the same message id is dropped (`dedup 2m`), in
   * milliseconds.
   * @default 120000 (2 minutes)
   */
  dedupWindowMs: number;
}

/** `nats { ... }`: the NATS cluster the topology runs on. */
export interface NatsModel {
  /**
   * Number of NATS servers in the emitted infrastructure (routes form a full mesh).
   * @default 1
   */
  nodes: number;
  /** `url "nats://..."`: connect to an existing cluster instead of emitting one. */
  url?: string;
  /**
   * `tls off` turns it off: the emitted servers take TLS for clients and routes, and the services
   * trust the CA. Without effect with {@link url} (its scheme decides).
   * @default true
   */
  tls: boolean;
}

/** `redis { ... }`: the Redis deployment used for leases, fencing tokens and saga state. */
export interface RedisModel {
  /** @default "standalone" */
  mode: "standalone" | "sentinel" | "cluster";
  /**
   * Number of Redis servers: 1 for standalone; at least 3 for sentinel (one primary, the others
   * replicas, each watched by a sentinel); at least 6 for cluster (3 primaries and their replicas).
   * @default 1 (standalone), 3 (sentinel), 6 (cluster)
   */
  nodes: number;
  /** `url "redis://..."`: connect to an existing deployment instead of emitting one. */
  url?: string;
  /** Sentinel mode only: the name of the monitored primary. */
  master?: string;
  /**
   * `tls off` turns it off: the emitted servers and sentinels take TLS only, replicate (and gossip)
   * over TLS, and the services trust the CA. Without effect with {@link url} (its scheme decides).
   * @default true
   */
  tls: boolean;
}

/** One `handles` entry: a command or query this service answers. */
export interface HandlerModel {
  /** The command or query name. */
  message: string;
  /**
   * The NATS queue group the replicas share, so exactly one instance answers each request.
   * @default the service name
   */
  queue: string;
  /**
   * Set when the command starts a saga this service runs (`saga S { on Command }`): the request is
   * answered by starting the saga.
   */
  saga?: string;
}

/** One `on` entry: an event this service consumes. */
export interface SubscriptionModel {
  event: string;
  /**
   * `group`: one instance of the service receives each event (queue group named after the
   * service); `broadcast`: every instance receives it.
   * @default "group"
   */
  delivery: "broadcast" | "group";
}

/** One `every` entry: a job the leader runs once per tick, cluster-wide. */
export interface ScheduleModel {
  job: string;
  intervalMs: number;
}

/** `resources { cpu "500m" memory "256Mi" }`: Kubernetes-style quantities, as written. */
export interface ResourcesModel {
  cpu?: string;
  memory?: string;
}

/** A `service` declaration with its defaults applied. */
export interface ServiceModel {
  name: string;
  doc?: string;
  /**
   * `p2p`: every replica serves (load-balanced by queue groups). `leader`: one replica, elected on a
   * Redis lease, serves; the others stand by. In leader mode only the leader subscribes, so queue
   * names and broadcast delivery make no difference there (the checker warns about them).
   * @default "p2p"
   */
  mode: "p2p" | "leader";
  /** @default 1 */
  replicas: number;
  /**
   * Leader mode only: the lease TTL in milliseconds; absent in p2p mode.
   * @default 10000 (in leader mode)
   */
  leaseMs?: number;
  /** Default deadline of the service's handlers, in milliseconds. */
  timeoutMs?: number;
  /** Container image for compose and Kubernetes. */
  image?: string;
  /** HTTP port for health, readiness and metrics. */
  port?: number;
  /** Path of the handler module, relative to the topology file. */
  handler?: string;
  /** Environment variables, sorted by name. */
  env: Record<string, string>;
  resources?: ResourcesModel;
  handles: HandlerModel[];
  subscriptions: SubscriptionModel[];
  /** Events the service may emit. */
  emits: string[];
  /** Commands and queries the service may send. */
  sends: string[];
  /** Sagas the service runs (on its leader). */
  runs: string[];
  schedules: ScheduleModel[];
  /**
   * `uses redis`: the service keeps its own data in Redis, under its hash tag
   * (`{catga:<topology>:<service>}`), and gets the Redis address and a Redis ACL user of its own in
   * every emitted file. Leader-mode services use Redis anyway (leases, sagas, jobs); see
   * {@link serviceUsesRedis}.
   * @default false
   */
  usesRedis: boolean;
}

/** Whether a service connects to Redis: it says `uses redis`, or it runs in leader mode. */
export function serviceUsesRedis(service: Pick<ServiceModel, "mode" | "usesRedis">): boolean {
  return service.usesRedis || service.mode === "leader";
}

/** What starts a saga: an event it listens to, or a command its runner answers. */
export interface SagaTriggerModel {
  kind: "event" | "command";
  name: string;
}

/** One saga step: a command, and how to undo it. */
export interface SagaStepModel {
  command: string;
  /** The command that undoes this step when a later step fails. Absent when irreversible. */
  compensate?: string;
  /** Marked `irreversible`: nothing undoes it. Exactly one of `compensate` and this is set. */
  irreversible: boolean;
  /** Deadline of the step in milliseconds; absent means the default of the command. */
  timeoutMs?: number;
}

/** A `saga` declaration. */
export interface SagaModel {
  name: string;
  doc?: string;
  trigger: SagaTriggerModel;
  steps: SagaStepModel[];
  /** The leader-mode service that runs the saga. */
  runBy: string;
}

/** A whole topology, resolved. */
export interface TopologyModel {
  /** The `topology` name. */
  name: string;
  /** The file the model was compiled from, as given to the compiler. */
  source: string;
  doc?: string;
  nats: NatsModel;
  redis: RedisModel;
  types: TypeModel[];
  enums: EnumModel[];
  /** Commands, queries and events in declaration order. */
  messages: MessageModel[];
  services: ServiceModel[];
  sagas: SagaModel[];
}
