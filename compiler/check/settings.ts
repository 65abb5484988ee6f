import {
  type BlockItem,
  type Diagnostic,
  diagnostic,
  type InfraDecl,
  type ServiceDecl,
  type Setting,
  type Span,
  type TimeoutItem,
} from "../../dsl/index.js";
import type { NatsModel, RedisModel, ResourcesModel } from "../model.js";
import { type BlockRule, type Checked, checkSettings, type Rule, type SettingsTable } from "./_table.js";
import { suggest } from "./_text.js";
import { checkKeys, duplicateKey, durationValue, intValue, stringValue, wordValue } from "./_values.js";

// Every setting of every block, described once: its kind (the reader), its default, and its rules
// with the code, message and hint of each violation. The functions below only apply the tables.

/** Lease bounds (C3007): shorter leases flap on a GC pause; longer ones leave a dead leader in place for minutes. */
export const LEASE_MIN_MS = 1_000;
export const LEASE_MAX_MS = 5 * 60_000;
/** Default lease TTL in leader mode. */
export const DEFAULT_LEASE_MS = 10_000;
/** Longest handler timeout (C3008): beyond an hour a request/reply is the wrong tool. */
export const TIMEOUT_MAX_MS = 60 * 60_000;

/** How long a stream keeps an event when nothing says otherwise: a week covers a long weekend's outage. */
export const DEFAULT_RETENTION_MS = 7 * 86_400_000;
/** Deliveries of one event to one consuming service before it is dead-lettered. */
export const DEFAULT_MAX_DELIVER = 5;
/** JetStream's own default duplicate window: a client's retries happen well within it. */
export const DEFAULT_DEDUP_WINDOW_MS = 2 * 60_000;
/**
 * Retention bounds (C3027): below a minute a consumer that restarts finds its events gone; above a
 * year a stream is an archive, which belongs in a database.
 */
export const RETENTION_MIN_MS = 60_000;
export const RETENTION_MAX_MS = 365 * 86_400_000;
/** Shortest dedup window (C3028): a retry after a lost acknowledgement takes about that long. */
export const DEDUP_MIN_MS = 1_000;
/** JetStream replicates a stream on at most 5 servers. */
export const MAX_STREAM_REPLICAS = 5;

/** The reader of a setting that takes one word of a fixed set (`mode leader`). */
const word =
  <const W extends string>(words: readonly W[]) =>
  (setting: Setting, out: Diagnostic[]) =>
    wordValue(setting, words, out);

const atLeastOneNode: Rule<number, unknown> = {
  broken: (n) => n < 1,
  message: "'nodes' must be at least 1",
  hint: "write 'nodes 1' or more",
};

/** A comma-separated list of URLs, each with one of `schemes` and something after it. */
const urls = (schemes: readonly string[]): Rule<string, unknown> => ({
  broken: (url) =>
    !url
      .split(",")
      .map((p) => p.trim())
      .every((p) => schemes.some((s) => p.startsWith(s) && p.length > s.length)),
  message: (url) => `'${url}' is not a valid URL here`,
  hint: `write one or more comma-separated URLs starting with ${schemes.join(" or ")}`,
});

/**
 * `tls on|off` of `nats { }` and `redis { }`: TLS of the emitted servers (on unless turned off).
 * With `url` the servers are not emitted and the URL's scheme decides (C3040).
 */
const tlsSetting = (schemes: string) => ({
  read: word(["on", "off"] as const),
  rules: [
    {
      code: "C3040" as const,
      broken: (_: "on" | "off", b: { url?: string }) => b.url !== undefined,
      message: "'tls' has no meaning with 'url': the servers are not emitted, and the URL's scheme decides",
      hint: `remove 'tls'; write ${schemes} URLs for TLS`,
    },
  ],
});

/** `nats { }`; its stream settings are in {@link STREAM}. */
const NATS: SettingsTable<{ nodes: number; url: string; tls: "on" | "off" }> = {
  nodes: { read: intValue, default: 1, rules: [atLeastOneNode] },
  url: { read: stringValue, rules: [urls(["nats://", "tls://"])] },
  tls: tlsSetting("tls://"),
};

const REDIS_MODES = ["standalone", "sentinel", "cluster"] as const;
type RedisMode = (typeof REDIS_MODES)[number];

/** Fewest Redis nodes per mode, and why: the hint of C2008. */
const REDIS_MIN_NODES: Record<RedisMode, { nodes: number; why: string }> = {
  standalone: { nodes: 1, why: "" },
  sentinel: {
    nodes: 3,
    why: "sentinels promote a replica by majority vote; with fewer than 3 nodes, losing one leaves no majority",
  },
  cluster: { nodes: 6, why: "a Redis Cluster needs 3 primaries, each with a replica to fail over to" },
};

/** `redis { }`: `nodes` and `master` follow the mode. */
const REDIS: SettingsTable<{
  mode: RedisMode;
  nodes: number;
  url: string;
  master: string;
  tls: "on" | "off";
}> = {
  mode: { read: word(REDIS_MODES), default: "standalone" },
  nodes: {
    read: intValue,
    rules: [
      atLeastOneNode,
      {
        broken: (n, r) => r.mode === "standalone" && n > 1,
        message: (n) => `standalone Redis runs one node, not ${n}`,
        hint: "use 'mode sentinel' for a primary with replicas, or 'mode cluster' to shard",
      },
      {
        broken: (n, r) => r.mode !== undefined && n < REDIS_MIN_NODES[r.mode].nodes,
        message: (n, r) => `Redis ${r.mode} needs at least ${REDIS_MIN_NODES[r.mode!].nodes} nodes, not ${n}`,
        hint: (_, r) => `${REDIS_MIN_NODES[r.mode!].why}: write 'nodes ${REDIS_MIN_NODES[r.mode!].nodes}'`,
      },
    ],
  },
  url: { read: stringValue, rules: [urls(["redis://", "rediss://"])] },
  master: {
    read: stringValue,
    rules: [
      {
        broken: (_, r) => r.mode !== undefined && r.mode !== "sentinel",
        message: (_, r) =>
          `'master' names the primary watched by sentinels; it has no meaning in ${r.mode} mode`,
        hint: "remove it, or write 'mode sentinel'",
      },
      {
        broken: (m) => m === "",
        message: "'master' cannot be empty",
        hint: 'name the primary, e.g. master "catga"',
      },
    ],
  },
  tls: tlsSetting("rediss://"),
};

const SERVICE_MODES = ["p2p", "leader"] as const;

type ServiceValues = {
  mode: (typeof SERVICE_MODES)[number];
  replicas: number;
  lease: number;
  image: string;
  port: number;
  handler: string;
};

/** A service's settings; `where` names the service in messages. */
const SERVICE: SettingsTable<ServiceValues, { where: string }> = {
  mode: { read: word(SERVICE_MODES), default: "p2p" },
  replicas: {
    read: intValue,
    default: 1,
    rules: [
      {
        code: "C3004",
        broken: (n) => n < 1,
        message: (n, s) => `${s.where} needs at least 1 replica, not ${n}`,
        hint: "write 'replicas 1' or more; to stop a service, remove it from the topology",
      },
    ],
  },
  lease: {
    read: durationValue,
    written: [
      {
        code: "C3006",
        at: "key",
        broken: (_, s) => s.mode === "p2p",
        message: (_, s) => `'lease' applies only to leader mode, but ${s.where} is p2p`,
        hint: "remove 'lease', or write 'mode leader' if one replica at a time should serve",
      },
    ],
    rules: [
      {
        code: "C3007",
        broken: (ms) => ms < LEASE_MIN_MS || ms > LEASE_MAX_MS,
        message: (_, __, s) => `lease ${s.value.text} is outside the allowed 1s to 5m`,
        hint: (ms) =>
          ms < LEASE_MIN_MS
            ? "shorter leases expire on a GC pause or a slow Redis round trip: use at least 1s (10s is the default)"
            : "a dead leader keeps its lease until it expires, so nobody serves that long: use at most 5m",
      },
    ],
  },
  image: {
    read: stringValue,
    rules: [
      {
        broken: (v) => v === "" || /\s/.test(v),
        message: (v) => `'${v}' is not a container image`,
        hint: 'write an image reference like "ghcr.io/acme/order:1.2"',
      },
    ],
  },
  port: {
    read: intValue,
    rules: [
      {
        broken: (n) => n < 1 || n > 65535,
        message: (n) => `port ${n} is outside 1 to 65535`,
        hint: "use a TCP port such as 8080",
      },
    ],
  },
  handler: {
    read: stringValue,
    rules: [
      {
        broken: (v) => v === "",
        message: "'handler' cannot be empty",
        hint: 'write a module path like "./services/order.ts"',
      },
    ],
  },
};
const SERVICE_KEYS = Object.keys(SERVICE);

/** Across a service's settings: a leader needs a standby. Replicas left invalid are reported once, as C3004. */
const LEADER_NEEDS_STANDBY: BlockRule<Checked<ServiceValues, { where: string }>> = {
  code: "C3005",
  at: ["replicas", "mode"],
  broken: (s) => s.mode === "leader" && s.replicas === 1,
  message: (s) => `${s.where} runs in leader mode with a single replica: nothing stands by`,
  hint: "when the leader dies nobody takes over until it restarts: write 'replicas 2' or more",
};

/** A service's `timeout 5s` item, checked as a setting. */
const TIMEOUT: SettingsTable<{ timeout: number }> = {
  timeout: {
    read: durationValue,
    rules: [
      {
        code: "C3008",
        broken: (ms) => ms === 0 || ms > TIMEOUT_MAX_MS,
        message: (_, __, s) => `timeout ${s.value.text} is not a usable deadline`,
        hint: (ms) =>
          ms === 0
            ? "every request would fail at once: use a positive duration like 5s"
            : "use at most 1h; longer work belongs in a saga or a scheduled job",
      },
    ],
  },
};

/** A string matching a Kubernetes quantity. */
const quantity = (pattern: RegExp, what: string, hint: string): Rule<string, unknown> => ({
  broken: (v) => !pattern.test(v),
  message: (v) => `'${v}' is not a ${what} quantity`,
  hint,
});

/** `resources { }` of a service, as Kubernetes writes quantities. */
const RESOURCES: SettingsTable<ResourcesModel> = {
  // Cores ("1", "0.5") or millicores ("500m").
  cpu: {
    read: stringValue,
    rules: [
      quantity(/^(\d+(\.\d+)?|\d+m)$/, "CPU", 'write cores like "1" or "0.5", or millicores like "500m"'),
    ],
  },
  // Bytes with an optional decimal or binary suffix.
  memory: {
    read: stringValue,
    rules: [
      quantity(
        /^\d+(\.\d+)?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/,
        "memory",
        'write bytes with a unit like "256Mi" or "1Gi"',
      ),
    ],
  },
};

type StreamValues = { retain: number; deliveries: number; replicas: number; dedup: number };

/**
 * Stream settings of durable events: written in the `nats { }` block as defaults for every durable
 * event, or after the body of one durable event (`durable event A { … } retain 30d`) for it alone.
 * `where` names the block; `nodes` is the most servers a stream can be replicated on.
 */
const STREAM: SettingsTable<StreamValues, { where: string; nodes: number }> = {
  retain: {
    read: durationValue,
    rules: [
      {
        code: "C3027",
        broken: (ms) => ms < RETENTION_MIN_MS || ms > RETENTION_MAX_MS,
        message: (_, b, s) => `retention ${s.value.text} in ${b.where} is outside 1m to 365d`,
        hint: (ms) =>
          ms < RETENTION_MIN_MS
            ? "a consumer restarting would find its events gone: keep them at least 1m (7d is the default)"
            : "a stream is not an archive: keep events at most 365d, and store history in a database",
      },
    ],
  },
  deliveries: {
    read: intValue,
    rules: [
      {
        code: "C3029",
        broken: (n) => n < 1,
        message: (n, b) => `'deliveries ${n}' in ${b.where} would never deliver an event`,
        hint: "deliveries counts attempts before an event is dead-lettered: write 'deliveries 1' or more (5 is the default)",
      },
    ],
  },
  replicas: {
    read: intValue,
    rules: [
      {
        code: "C3030",
        broken: (n) => n < 1,
        message: (n, b) => `a stream needs at least 1 replica, not ${n} (in ${b.where})`,
        hint: "write 'replicas 1' or more",
      },
      {
        code: "C3030",
        broken: (n) => n > MAX_STREAM_REPLICAS,
        message: (n, b) =>
          `JetStream replicates a stream on at most ${MAX_STREAM_REPLICAS} servers, not ${n} (in ${b.where})`,
        hint: (_, b) => `write 'replicas ${b.nodes}' or less; 3 survives the loss of one server`,
      },
      {
        code: "C3030",
        broken: (n, b) => n > b.nodes,
        message: (n, b) =>
          `${n} stream replicas need ${n} NATS servers, but the cluster has ${b.nodes} (in ${b.where})`,
        hint: (n, b) => `write 'replicas ${b.nodes}' or less, or 'nodes ${n}' in the nats block`,
      },
    ],
  },
  dedup: {
    read: durationValue,
    rules: [
      {
        code: "C3028",
        broken: (ms) => ms < DEDUP_MIN_MS,
        message: (_, b, s) => `dedup window ${s.value.text} in ${b.where} is shorter than 1s`,
        hint: "a client retrying a publish whose acknowledgement was lost would store the event twice: use at least 1s (2m is the default)",
      },
    ],
  },
};
/** The stream settings' keys, in the order hints list them. */
export const STREAM_KEYS = Object.keys(STREAM) as (keyof StreamValues)[];

/** One written stream setting, valid on its own. */
export interface Written {
  value: number;
  setting: Setting;
}

/** The valid stream settings written in one block. */
export type StreamSettings = Partial<Record<keyof StreamValues, Written>>;

/** Checks the values of one block of stream settings, each on its own. */
export function readStreamSettings(
  found: ReadonlyMap<string, Setting>,
  nats: NatsModel,
  where: string,
  out: Diagnostic[],
): StreamSettings {
  // With `url`, the cluster is someone else's and its size unknown: only JetStream's limit holds.
  const nodes = Math.min(MAX_STREAM_REPLICAS, nats.url === undefined ? nats.nodes : MAX_STREAM_REPLICAS);
  const values = checkSettings(found, STREAM, { where, nodes }, out);
  const result: StreamSettings = {};
  for (const key of STREAM_KEYS) {
    const value = values[key];
    if (value !== undefined) result[key] = { value, setting: found.get(key)! };
  }
  return result;
}

/**
 * Across stream settings and their levels (C3028): JetStream needs the dedup window within the
 * retention, each resolved per event (its own over the `nats` defaults over the built-in defaults).
 * Reported at the written one of the two, the event's own first: that is the line to change.
 */
export function dedupWithinRetention(
  event: string,
  own: StreamSettings,
  base: StreamSettings,
): Diagnostic | undefined {
  const retain = own.retain ?? base.retain;
  const dedup = own.dedup ?? base.dedup;
  if ((dedup?.value ?? DEFAULT_DEDUP_WINDOW_MS) <= (retain?.value ?? DEFAULT_RETENTION_MS)) return undefined;
  const at = own.dedup ?? own.retain ?? dedup ?? retain;
  if (!at) return undefined;
  const dedupText = dedup ? dedup.setting.value.text : "2m, the default";
  const retainText = retain ? retain.setting.value.text : "7d, the default";
  return diagnostic(
    "C3028",
    at.setting.value.span,
    `the dedup window of event '${event}' (${dedupText}) is longer than its retention (${retainText})`,
    {
      hint: `JetStream needs the dedup window within the retention: write 'dedup ${retainText.split(" ")[0]}' or less, or retain longer`,
    },
  );
}

/** The names people reach for first, from JetStream's own vocabulary: "did you mean" hints. */
const STREAM_ALIASES: Record<string, keyof StreamValues> = {
  retention: "retain",
  maxAge: "retain",
  ttl: "retain",
  maxDeliver: "deliveries",
  maxDeliveries: "deliveries",
  retries: "deliveries",
  attempts: "deliveries",
  streamReplicas: "replicas",
  replication: "replicas",
  duplicateWindow: "dedup",
  dedupWindow: "dedup",
  duplicates: "dedup",
};

/** "Did you mean" for an unknown stream setting: a JetStream word first, then the closest key. */
export function suggestStreamKey(key: string, others: readonly string[] = []): string | undefined {
  return STREAM_ALIASES[key] ?? suggest(key, [...STREAM_KEYS, ...others]);
}

/** The resolved `nats` and `redis` blocks. */
export interface InfraFacts {
  nats: NatsModel;
  redis: RedisModel;
  /** Stream settings of the `nats` block (defaults of durable events), by key: checked later. */
  streamDefaults: Map<string, Setting>;
}

/**
 * Checks the `nats` and `redis` blocks: known keys (C2007), each once (C2004), values of the right
 * kind and range (C2008). Returns them with their defaults applied. The stream settings of the
 * `nats` block are only collected here; `checkDurable` checks their values.
 */
export function checkInfra(
  nats: InfraDecl | undefined,
  redis: InfraDecl | undefined,
  out: Diagnostic[],
): InfraFacts {
  const natsModel: NatsModel = { nodes: 1, tls: true };
  const streamDefaults = new Map<string, Setting>();
  if (nats) {
    const natsKeys = Object.keys(NATS);
    const found = checkKeys(nats.settings, [...natsKeys, ...STREAM_KEYS], "'nats'", out, (s) =>
      suggestStreamKey(s.key.text, natsKeys),
    );
    for (const key of STREAM_KEYS) {
      const setting = found.get(key);
      if (setting) streamDefaults.set(key, setting);
    }
    const values = checkSettings(found, NATS, {}, out);
    natsModel.nodes = values.nodes ?? 1;
    if (values.url !== undefined) natsModel.url = values.url;
    if (values.tls === "off") natsModel.tls = false;
  }

  const redisModel: RedisModel = { mode: "standalone", nodes: 1, tls: true };
  if (redis) {
    const found = checkKeys(redis.settings, Object.keys(REDIS), "'redis'", out);
    const { mode, nodes, url, master, tls } = checkSettings(found, REDIS, {}, out);
    if (tls === "off") redisModel.tls = false;
    if (mode !== undefined) redisModel.mode = mode;
    redisModel.nodes = nodes ?? (mode === undefined ? 1 : REDIS_MIN_NODES[mode].nodes);
    if (url !== undefined) redisModel.url = url;
    if (master !== undefined) redisModel.master = master;
  }
  return { nats: natsModel, redis: redisModel, streamDefaults };
}

/** A service's configuration, resolved, with where each part was written (for later rules). */
export interface ServiceSettings {
  /** Undefined when the written mode is invalid (reported): mode-dependent rules are then skipped. */
  mode: "p2p" | "leader" | undefined;
  modeSetting?: Setting;
  /** @default 1 */
  replicas: number;
  replicasSetting?: Setting;
  /** The written lease; the model applies the default. */
  leaseMs?: number;
  timeoutMs?: number;
  image?: string;
  port?: number;
  handler?: string;
  env: Record<string, string>;
  resources?: ResourcesModel;
}

/**
 * Checks the settings of one service: keys known and set once (C2007, C2004), values of the right
 * kind and range (C2008), replicas (C3004), a leader without standby (C3005), a lease only in leader
 * mode (C3006) and within bounds (C3007), and the handler timeout (C3008).
 */
export function checkServiceSettings(service: ServiceDecl, out: Diagnostic[]): ServiceSettings {
  const where = `service '${service.name.text}'`;
  const { settings, timeout, envBlocks, resourceBlocks } = serviceItems(service, where, out);

  const found = checkKeys(settings, SERVICE_KEYS, where, out, suggestServiceKey, SERVICE_SETTINGS);
  const values = checkSettings(found, SERVICE, { where }, out, [LEADER_NEEDS_STANDBY]);
  const result: ServiceSettings = { mode: values.mode, replicas: values.replicas ?? 1, env: {} };
  const modeSetting = found.get("mode");
  if (modeSetting) result.modeSetting = modeSetting;
  const replicasSetting = found.get("replicas");
  if (replicasSetting) result.replicasSetting = replicasSetting;
  if (values.lease !== undefined) result.leaseMs = values.lease;
  if (values.image !== undefined) result.image = values.image;
  if (values.port !== undefined) result.port = values.port;
  if (values.handler !== undefined) result.handler = values.handler;

  if (timeout) {
    const setting: Setting = {
      kind: "Setting",
      key: { kind: "Identifier", text: "timeout", span: timeout.span },
      value: timeout.duration,
      span: timeout.span,
    };
    const ms = checkSettings(new Map([["timeout", setting]]), TIMEOUT, {}, out).timeout;
    if (ms !== undefined) result.timeoutMs = ms;
  }

  for (const block of envBlocks) {
    const seen = new Map<string, Setting>();
    const env: Record<string, string> = {};
    for (const setting of block.settings) {
      const key = setting.key.text;
      if (key === "") continue;
      const first = seen.get(key);
      if (first) {
        out.push(duplicateKey(setting, first, `the env of ${where}`));
        continue;
      }
      seen.set(key, setting);
      const v = stringValue(setting, out);
      if (v !== undefined) env[key] = v;
    }
    // Sorted so the model, and every manifest built from it, is byte-stable.
    for (const key of Object.keys(env).sort()) result.env[key] = env[key]!;
  }

  for (const block of resourceBlocks) {
    const resources = checkKeys(block.settings, Object.keys(RESOURCES), `the resources of ${where}`, out);
    const { cpu, memory } = checkSettings(resources, RESOURCES, {}, out);
    result.resources = {};
    if (cpu !== undefined) result.resources.cpu = cpu;
    if (memory !== undefined) result.resources.memory = memory;
  }

  return result;
}

/**
 * Sorts a service's items into its settings and its setting-like items (`timeout`, `env`,
 * `resources`), which follow the rule of settings: each at most once per service (C2004).
 */
function serviceItems(service: ServiceDecl, where: string, out: Diagnostic[]) {
  const settings: Setting[] = [];
  const blocks = new Map<string, Span>();
  let timeout: TimeoutItem | undefined;
  const envBlocks: BlockItem[] = [];
  const resourceBlocks: BlockItem[] = [];
  const once = (key: string, span: Span): boolean => {
    const first = blocks.get(key);
    if (first === undefined) {
      blocks.set(key, span);
      return true;
    }
    out.push(
      diagnostic("C2004", span, `'${key}' is set twice in ${where}`, {
        hint: "keep one of them",
        related: [{ message: "first set here", span: first }],
      }),
    );
    return false;
  };
  for (const item of service.items) {
    if (item.kind === "ServiceSetting") settings.push(item.setting);
    else if (item.kind === "Timeout" && once("timeout", item.span)) timeout = item;
    else if (item.kind === "Env" && once("env", item.span)) envBlocks.push(item);
    else if (item.kind === "Resources" && once("resources", item.span)) resourceBlocks.push(item);
  }
  return { settings, timeout, envBlocks, resourceBlocks };
}

/** Every setting a service takes, as the hint for an unknown one lists them: keys and setting-like items. */
const SERVICE_SETTINGS = [...SERVICE_KEYS, "timeout", "env", "resources"];

/** Keywords of service items: a misspelt `handle X` parses as a setting and should suggest `handles`. */
const SERVICE_KEYWORDS = [
  "handles",
  "on",
  "emits",
  "sends",
  "runs",
  "uses",
  "every",
  "timeout",
  "env",
  "resources",
];

/**
 * "Did you mean" for an unknown service setting. A line like `handle CreateOrder` parses as a setting
 * whose value is a name, which is how item keywords read (`handles X`, `runs S`), so for a name
 * value keywords come first; for a number or string (`replica 3`, `imgae "x"`) settings do.
 */
function suggestServiceKey(setting: Setting): string | undefined {
  const key = setting.key.text;
  const value = setting.value;
  const modeWord = value.kind === "Identifier" && (SERVICE_MODES as readonly string[]).includes(value.text);
  if (value.kind === "Identifier" && !modeWord)
    return suggest(key, SERVICE_KEYWORDS) ?? suggest(key, SERVICE_KEYS);
  return suggest(key, SERVICE_KEYS) ?? suggest(key, SERVICE_KEYWORDS);
}

/** NATS queue group names: no spaces, no wildcards. */
const QUEUE_NAME = /^[A-Za-z0-9_.-]+$/;

/** Checks a queue group name (C2008) and returns it when valid. */
export function checkQueueName(queue: { value: string; span: Span }, out: Diagnostic[]): string | undefined {
  if (QUEUE_NAME.test(queue.value)) return queue.value;
  out.push(
    diagnostic("C2008", queue.span, `'${queue.value}' is not a valid queue name`, {
      hint: "queue names use letters, digits, '.', '_' and '-', without spaces",
    }),
  );
  return undefined;
}
