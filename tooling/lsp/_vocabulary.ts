// biome-ignore-all lint/suspicious/noTemplateCurlyInString: LSP snippets write placeholders as ${1:default}
/**
 * What the editor tells about the words of the language: setting keys per block with their values
 * and meanings (hover and completion), and the keywords that start items. The keys and values are
 * the checker's (compiler/check/settings.ts); a test compares them with the checker's verdicts so
 * the two cannot drift (test/unit/lsp-vocabulary.test.ts).
 */

/** A setting key: what it means and, for a word-valued setting, the words it takes. */
export interface SettingWord {
  key: string;
  meaning: string;
  /** The words the value may be, with what each means. */
  values?: Readonly<Record<string, string>>;
  /** What to insert after the key when completing it. */
  snippet?: string;
}

export type Block = "service" | "nats" | "redis" | "resources" | "stream";

const STREAM: SettingWord[] = [
  {
    key: "retain",
    meaning: "How long the stream keeps an event (1m to 365d; default 7d).",
    snippet: "retain ${1:7d}",
  },
  {
    key: "deliveries",
    meaning: "Attempts to deliver one event to one consuming service before it is dead-lettered (default 5).",
    snippet: "deliveries ${1:5}",
  },
  {
    key: "replicas",
    meaning:
      "NATS servers the stream is replicated on (1 to 5, at most the cluster's nodes; default 3 with 3 or more nodes, else 1).",
    snippet: "replicas ${1:3}",
  },
  {
    key: "dedup",
    meaning:
      "Window in which a re-published event with the same id is stored once (at least 1s; default 2m).",
    snippet: "dedup ${1:2m}",
  },
];

const TLS = { on: "TLS on the emitted servers (the default).", off: "No TLS on the emitted servers." };

/** The settings of each block. */
export const SETTINGS: Readonly<Record<Block, readonly SettingWord[]>> = {
  service: [
    {
      key: "mode",
      meaning:
        "How the replicas serve: `p2p` (every replica serves, the default) or `leader` (one at a time).",
      values: {
        p2p: "Every replica serves; NATS spreads requests over a queue group.",
        leader: "One replica serves at a time, holding a lease in Redis; the others stand by.",
      },
      snippet: "mode ${1|p2p,leader|}",
    },
    {
      key: "replicas",
      meaning: "How many instances of the service run (at least 1; default 1).",
      snippet: "replicas ${1:2}",
    },
    {
      key: "lease",
      meaning:
        "Leader mode only: how long the leader's lease lasts without renewal before a standby takes over (1s to 5m; default 10s).",
      snippet: "lease ${1:10s}",
    },
    {
      key: "image",
      meaning: "The container image of the service in compose and Kubernetes.",
      snippet: 'image "$1"',
    },
    {
      key: "port",
      meaning: "HTTP port of `/healthz`, `/readyz` and `/metrics` (1 to 65535).",
      snippet: "port ${1:8080}",
    },
    {
      key: "handler",
      meaning:
        "Module with the service's handlers, relative to the `.catga` file (default `services/<service>.ts`).",
      snippet: 'handler "${1:./services/name.ts}"',
    },
  ],
  nats: [
    {
      key: "nodes",
      meaning: "NATS servers in the emitted cluster (at least 1; default 1).",
      snippet: "nodes ${1:3}",
    },
    {
      key: "url",
      meaning: "Use an existing NATS (comma-separated nats:// or tls:// URLs) instead of emitting servers.",
      snippet: 'url "${1:nats://localhost:4222}"',
    },
    {
      key: "tls",
      meaning: "TLS of the emitted NATS servers (on unless turned off).",
      values: TLS,
      snippet: "tls ${1|on,off|}",
    },
    ...STREAM.map((s) => ({ ...s, meaning: `Default for every durable event: ${s.meaning}` })),
  ],
  redis: [
    {
      key: "mode",
      meaning:
        "How Redis runs: `standalone` (default), `sentinel` (a primary, replicas and sentinels) or `cluster` (sharded).",
      values: {
        standalone: "One Redis node.",
        sentinel: "A primary with replicas; sentinels promote a replica by majority vote (3 nodes or more).",
        cluster: "A Redis Cluster: 3 primaries, each with a replica (6 nodes or more).",
      },
      snippet: "mode ${1|standalone,sentinel,cluster|}",
    },
    {
      key: "nodes",
      meaning:
        "Redis nodes (standalone 1; sentinel at least 3, the default; cluster at least 6, the default).",
      snippet: "nodes ${1:3}",
    },
    {
      key: "url",
      meaning:
        "Use an existing Redis (comma-separated redis:// or rediss:// URLs) instead of emitting servers.",
      snippet: 'url "${1:redis://localhost:6379}"',
    },
    {
      key: "master",
      meaning: "Sentinel mode: the name of the primary the sentinels watch.",
      snippet: 'master "${1:catga}"',
    },
    {
      key: "tls",
      meaning: "TLS of the emitted Redis servers (on unless turned off).",
      values: TLS,
      snippet: "tls ${1|on,off|}",
    },
  ],
  resources: [
    {
      key: "cpu",
      meaning: 'CPU of each replica: cores like "1" or "0.5", or millicores like "500m".',
      snippet: 'cpu "${1:500m}"',
    },
    {
      key: "memory",
      meaning: 'Memory of each replica: bytes with a unit like "256Mi" or "1Gi".',
      snippet: 'memory "${1:256Mi}"',
    },
  ],
  stream: STREAM,
};

/** Items of a service that start with a keyword, with what they do. */
export const SERVICE_ITEMS: readonly SettingWord[] = [
  {
    key: "handles",
    meaning: "Commands and queries this service answers (each has exactly one handling service).",
    snippet: "handles $1",
  },
  {
    key: "on",
    meaning: "Events this service consumes (`broadcast`: every replica sees each event).",
    snippet: "on $1",
  },
  { key: "emits", meaning: "Events this service publishes.", snippet: "emits $1" },
  { key: "sends", meaning: "Commands and queries this service sends to others.", snippet: "sends $1" },
  { key: "runs", meaning: "Sagas this service runs (leader mode).", snippet: "runs $1" },
  { key: "uses", meaning: "Stores the service keeps its own data in: `redis`.", snippet: "uses redis" },
  {
    key: "every",
    meaning: "A scheduled job: `every 30s jobName` (leader mode).",
    snippet: "every ${1:30s} ${2:job}",
  },
  {
    key: "timeout",
    meaning: "Default deadline of the service's handlers (up to 1h).",
    snippet: "timeout ${1:5s}",
  },
  {
    key: "env",
    meaning: 'Environment variables of every replica: `env { KEY "value" }`.',
    snippet: "env { $1 }",
  },
  {
    key: "resources",
    meaning: 'CPU and memory of every replica: `resources { cpu "500m" memory "256Mi" }`.',
    snippet: "resources { $1 }",
  },
];

/** Items of a saga. */
export const SAGA_ITEMS: readonly SettingWord[] = [
  { key: "on", meaning: "The event or command that starts the saga.", snippet: "on $1" },
  {
    key: "step",
    meaning: "A command the saga sends, with the command that undoes it (`compensate`) or `irreversible`.",
    snippet: "step ${1:Command} compensate ${2:Undo}",
  },
];

/** What may follow `step X`. */
export const STEP_WORDS: readonly SettingWord[] = [
  { key: "compensate", meaning: "The command that undoes this step when a later step fails." },
  { key: "irreversible", meaning: "This step cannot be undone: later steps that fail leave it done." },
  { key: "timeout", meaning: "How long the saga waits for this step's reply." },
];

/** Words that start a top-level declaration. */
export const DECLARATIONS: readonly SettingWord[] = [
  {
    key: "topology",
    meaning: "The name of the system this file describes (one per file).",
    snippet: "topology ${1:name}",
  },
  {
    key: "nats",
    meaning: "The NATS cluster: nodes, url, tls, and stream defaults of durable events.",
    snippet: "nats { $1 }",
  },
  { key: "redis", meaning: "The Redis deployment: mode, nodes, url, master, tls.", snippet: "redis { $1 }" },
  { key: "enum", meaning: "A closed set of names.", snippet: "enum ${1:Name} { $2 }" },
  { key: "type", meaning: "A record of fields.", snippet: "type ${1:Name} { $2 }" },
  {
    key: "command",
    meaning: "A request that changes state, answered by one service.",
    snippet: "command ${1:Name} { $2 }",
  },
  {
    key: "query",
    meaning: "A request that only reads, answered by one service; it has a result.",
    snippet: "query ${1:Name} { $2 } -> ${3:Result}",
  },
  {
    key: "event",
    meaning: "A fact one service publishes and others consume.",
    snippet: "event ${1:Name} { $2 }",
  },
  { key: "idempotent", meaning: "Clients may retry this command or query." },
  {
    key: "durable",
    meaning: "The event is stored in a JetStream stream and survives a crash of its consumers.",
  },
  {
    key: "service",
    meaning: "A deployable service: what it handles, consumes, emits and how it runs.",
    snippet: "service ${1:name} {\n  $2\n}",
  },
  {
    key: "saga",
    meaning: "A sequence of commands with compensations, run by a leader service.",
    snippet: "saga ${1:Name} {\n  on ${2:Event}\n  $3\n}",
  },
];

/** Keys of `env { }` are free: any environment variable name. */
export function settingWord(block: Block, key: string): SettingWord | undefined {
  return SETTINGS[block].find((s) => s.key === key);
}
