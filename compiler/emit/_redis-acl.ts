/**
 * The Redis ACL of a topology: which users exist on the emitted Redis servers and sentinels, what
 * each may run and which keys it may touch. One pure function of the model, so compose, Kubernetes,
 * `catga up` and the integration tests all start Redis with the same text.
 *
 * Users on the data nodes (`redis-server`):
 * - one per service that uses Redis (`uses redis`, or leader mode), named as the service, limited to
 *   its own keys `~{catga:<topology>:<service>}*` (its hash tag: every key the runtime writes for it
 *   — lease, term counter, fenced data and fences, schedule ticks, saga records — starts with it)
 *   and to sub-scopes `~{catga:<topology>:<service>:*}*` (a lock's own hash tag, e.g.
 *   `{catga:shop:order:lock:stock}`), with exactly the commands the runtime sends
 *   ({@link RUNTIME_COMMANDS}); a `uses redis` service also gets the ordinary data commands
 *   ({@link DATA_COMMANDS});
 * - `catga-replica`: what a replica needs to replicate from its primary (`masteruser`);
 * - `catga-sentinel`: what a sentinel needs on the servers it watches (`sentinel auth-user`), as
 *   the Redis documentation lists it ("ACL rules for Sentinel and Replicas");
 * - `catga-ops`: read-only access to the topology's keys, for `catga status` and `catga sagas`;
 * - `catga-admin`: everything, for the cluster creation, health checks and operators;
 * - `default`: off, so a client without credentials can do nothing.
 *
 * Users on the sentinels (sentinel mode): `catga-sentinel` (the sentinels among themselves:
 * `sentinel sentinel-user`), `catga-client` (services and tools asking for the primary) and
 * `catga-admin`; `default` off.
 *
 * Passwords are never part of the model: each user's password is an environment variable
 * ({@link RedisAclUser.passwordVar}) that the caller substitutes (a shell `$VAR`, or a value in a test).
 */
import { type RedisModel, type ServiceModel, serviceUsesRedis } from "../model.js";
import {
  REDIS_ADMIN_USER,
  REDIS_OPS_USER,
  REDIS_REPLICA_USER,
  REDIS_SENTINEL_CLIENT_USER,
  REDIS_SENTINEL_USER,
  redisBuiltInPasswordVar,
  redisHashTag,
  redisPasswordVar,
  redisUser,
} from "./_names.js";

/**
 * What the ACL depends on: the topology's name, the Redis mode and which services use Redis. A
 * `TopologyModel` is one; `catga up` builds one from wiring.json.
 */
export interface RedisAclTopology {
  name: string;
  redis: Pick<RedisModel, "mode">;
  services: readonly Pick<ServiceModel, "name" | "mode" | "usesRedis">[];
}

/** One ACL user: its name, where its password comes from, and its rules. */
export interface RedisAclUser {
  name: string;
  /** The environment variable holding the password. */
  passwordVar: string;
  /** What the user is for, one line (comments in `.env.example` and the Secret's instructions). */
  purpose: string;
  /** The ACL rules after `on >password`, in order (Redis applies them left to right). */
  rules: string[];
}

/**
 * Commands of the runtime on behalf of a service (runtime/coordination, runtime/saga): the Lua
 * scripts by EVALSHA, and EVAL on NOSCRIPT (the commands inside a script are checked too: GET, SET,
 * PEXPIRE, INCR, DEL, HSET, HDEL); lease reads (MULTI GET PTTL EXEC), term and data reads (GET,
 * HGETALL), WAIT after an acquire; the connection's own (PING, HELLO, CLIENT SETNAME, INFO and ROLE
 * for ioredis's ready and role checks); Cluster topology (CLUSTER SLOTS and SHARDS, ASKING).
 */
export const RUNTIME_COMMANDS: readonly string[] = [
  "+ping",
  "+hello",
  "+client|setname",
  "+client|getname",
  "+info",
  "+role",
  "+get",
  "+set",
  "+del",
  "+incr",
  "+pexpire",
  "+pttl",
  "+hset",
  "+hdel",
  "+hgetall",
  "+multi",
  "+exec",
  "+discard",
  "+wait",
  "+eval",
  "+evalsha",
  "+cluster|slots",
  "+cluster|shards",
  "+cluster|info",
  "+asking",
];

/**
 * The ordinary data commands of a `uses redis` service, on its own keys only: reads, writes,
 * scripts and transactions. Taken away again: everything `@dangerous` or `@admin` (FLUSHALL, KEYS,
 * CONFIG, DEBUG, MIGRATE…), commands that see or reach beyond the granted keys (SCAN and RANDOMKEY
 * list other services' key names; MOVE and SELECT leave the database), and commands that change
 * what other users run (FUNCTION libraries and SCRIPT FLUSH/KILL are server-wide). Pub/sub is not
 * granted: services talk over NATS.
 */
export const DATA_COMMANDS: readonly string[] = [
  "+@read",
  "+@write",
  "+@scripting",
  "+@transaction",
  "-@dangerous",
  "-@admin",
  "-scan",
  "-randomkey",
  "-move",
  "-select",
  "-function",
  "-script|flush",
  "-script|kill",
];

/** Replication from the primary (Redis docs, "ACL rules for Sentinel and Replicas"). */
const REPLICA_RULES = ["resetkeys", "resetchannels", "-@all", "+psync", "+replconf", "+ping"];

/** What a sentinel runs on the servers it watches (the same documentation). */
const SENTINEL_RULES = [
  "resetkeys",
  "allchannels",
  "-@all",
  "+multi",
  "+slaveof",
  "+replicaof",
  "+ping",
  "+exec",
  "+subscribe",
  "+config|rewrite",
  "+role",
  "+publish",
  "+info",
  "+client|setname",
  "+client|kill",
  "+script|kill",
];

/** What a client asks a sentinel: the primary's address, the other sentinels, failover news. */
const SENTINEL_CLIENT_RULES = [
  "resetkeys",
  "allchannels",
  "-@all",
  "+ping",
  "+hello",
  "+client|setname",
  "+info",
  "+role",
  "+subscribe",
  "+psubscribe",
  "+unsubscribe",
  "+punsubscribe",
  "+sentinel|get-master-addr-by-name",
  "+sentinel|sentinels",
  "+sentinel|replicas",
  "+sentinel|slaves",
  "+sentinel|master",
  "+sentinel|masters",
];

/** The key pattern of a hash tag and of scopes under it: `~{catga:shop:order}*`, `~{catga:shop:order:*}*`. */
function ownKeys(tag: string): string[] {
  return [`~${tag}*`, `~${tag.slice(0, -1)}:*}*`];
}

/** The users of the data nodes, in a fixed order: services in declaration order, then the built-ins. */
export function redisAclUsers(model: RedisAclTopology): RedisAclUser[] {
  const users: RedisAclUser[] = [];
  for (const s of model.services) {
    if (!serviceUsesRedis(s)) continue;
    users.push({
      name: redisUser(s.name),
      passwordVar: redisPasswordVar(s.name),
      purpose: `service ${s.name}`,
      rules: [
        "resetkeys",
        ...ownKeys(redisHashTag(model.name, s.name)),
        "resetchannels",
        "-@all",
        ...RUNTIME_COMMANDS,
        ...(s.usesRedis ? DATA_COMMANDS : []),
      ],
    });
  }
  users.push(
    {
      name: REDIS_OPS_USER,
      passwordVar: redisBuiltInPasswordVar(REDIS_OPS_USER),
      purpose: "operators' tools (catga status, catga sagas): reads the topology's keys",
      rules: [
        "resetkeys",
        `%R~{catga:${model.name}:*}*`,
        "resetchannels",
        "-@all",
        "+ping",
        "+hello",
        "+client|setname",
        "+info",
        "+role",
        "+multi",
        "+exec",
        "+discard",
        "+get",
        "+pttl",
        "+ttl",
        "+exists",
        "+type",
        "+hget",
        "+hgetall",
        "+hlen",
        "+cluster|slots",
        "+cluster|shards",
        "+cluster|info",
        "+asking",
      ],
    },
    {
      name: REDIS_REPLICA_USER,
      passwordVar: redisBuiltInPasswordVar(REDIS_REPLICA_USER),
      purpose: "replicas replicating from their primary (masteruser)",
      rules: REPLICA_RULES,
    },
  );
  if (model.redis.mode === "sentinel") {
    users.push({
      name: REDIS_SENTINEL_USER,
      passwordVar: redisBuiltInPasswordVar(REDIS_SENTINEL_USER),
      purpose: "sentinels watching the servers and talking to each other",
      rules: SENTINEL_RULES,
    });
  }
  users.push(adminUser());
  return users;
}

/** The users of the sentinels (sentinel mode only; empty otherwise). */
export function sentinelAclUsers(model: RedisAclTopology): RedisAclUser[] {
  if (model.redis.mode !== "sentinel") return [];
  return [
    {
      name: REDIS_SENTINEL_USER,
      passwordVar: redisBuiltInPasswordVar(REDIS_SENTINEL_USER),
      purpose: "sentinels watching the servers and talking to each other",
      rules: ["resetkeys", "allchannels", "+@all"],
    },
    {
      name: REDIS_SENTINEL_CLIENT_USER,
      passwordVar: redisBuiltInPasswordVar(REDIS_SENTINEL_CLIENT_USER),
      purpose: "services and tools asking the sentinels for the primary",
      rules: SENTINEL_CLIENT_RULES,
    },
    adminUser(),
  ];
}

function adminUser(): RedisAclUser {
  return {
    name: REDIS_ADMIN_USER,
    passwordVar: redisBuiltInPasswordVar(REDIS_ADMIN_USER),
    purpose: "cluster creation, health checks and operators: every command and key",
    rules: ["~*", "&*", "+@all"],
  };
}

/** Every user whose password a deployment of the topology needs, data nodes and sentinels, each once. */
export function allRedisAclUsers(model: RedisAclTopology): RedisAclUser[] {
  const seen = new Set<string>();
  const out: RedisAclUser[] = [];
  for (const u of [...redisAclUsers(model), ...sentinelAclUsers(model)]) {
    if (seen.has(u.passwordVar)) continue;
    seen.add(u.passwordVar);
    out.push(u);
  }
  return out;
}

/**
 * ACL lines (`user <name> on ><password> <rules…>`), `default` first and off. `password` gives
 * the text after `>` for a user: a shell reference like `$CATGA_REDIS_PASSWORD_ORDER` in an emitted
 * start script, the real password in a test. Passwords must contain no white space (the generated
 * ones are hex).
 */
export function redisAclLines(
  users: readonly RedisAclUser[],
  password: (user: RedisAclUser) => string,
): string[] {
  return [
    "user default off resetkeys resetchannels -@all",
    ...users.map((u) => `user ${u.name} on >${password(u)} ${u.rules.join(" ")}`),
  ];
}

/** A user's password from a table by variable name (tests, `catga up`); throws when it is missing. */
export function passwordFrom(passwords: Readonly<Record<string, string>>): (user: RedisAclUser) => string {
  return (u) => passwordOf(passwords, u);
}

/** A user's password as a shell reference `$VAR`: for emitted start scripts. */
export const passwordReference = (user: RedisAclUser): string => `$${user.passwordVar}`;

/**
 * The authentication lines of a sentinel's config, after its `sentinel monitor <master> …`: the
 * sentinels' own users (`default` off), the user it logs in to the data nodes as, and the one it
 * logs in to the other sentinels as.
 */
export function sentinelAuthLines(
  model: RedisAclTopology,
  master: string,
  password: (user: RedisAclUser) => string,
): string[] {
  const sentinel = sentinelAclUsers(model).find((u) => u.name === REDIS_SENTINEL_USER)!;
  return [
    ...redisAclLines(sentinelAclUsers(model), password),
    `sentinel auth-user ${master} ${REDIS_SENTINEL_USER}`,
    `sentinel auth-pass ${master} ${password(sentinel)}`,
    `sentinel sentinel-user ${REDIS_SENTINEL_USER}`,
    `sentinel sentinel-pass ${password(sentinel)}`,
  ];
}

/** The user a replica replicates as (`masteruser`) and its password variable (`masterauth`). */
export function replicaUser(model: RedisAclTopology): RedisAclUser {
  return redisAclUsers(model).find((u) => u.name === REDIS_REPLICA_USER)!;
}

/** The admin user (health checks, cluster creation) and its password variable. */
export function adminAclUser(): RedisAclUser {
  return adminUser();
}

/** The ACL file of the data nodes with the given passwords (by variable name): what tests and `catga up` load. */
export function redisAclFile(model: RedisAclTopology, passwords: Readonly<Record<string, string>>): string {
  return `${redisAclLines(redisAclUsers(model), passwordFrom(passwords)).join("\n")}\n`;
}

function passwordOf(passwords: Readonly<Record<string, string>>, u: RedisAclUser): string {
  const p = passwords[u.passwordVar];
  if (p === undefined || p === "" || /\s/.test(p)) {
    throw new Error(`no usable password for Redis user ${u.name} in ${u.passwordVar}`);
  }
  return p;
}

/**
 * A shell command writing `lines` to `file`, each `$VAR` left for the shell to expand from the
 * container's environment: `printf '%s\n' "line" … > file`. `dollar` is how a `$` is written for
 * the file the script goes into (`$$` in compose, where `$` is interpolation).
 */
export function shellWriteLines(lines: readonly string[], file: string, dollar = "$"): string {
  const quoted = lines.map((l) => `"${l.replace(/\$/g, () => dollar)}"`);
  return `printf '%s\\n' ${quoted.join(" ")} > ${file}`;
}

/** ACL lines with `$VAR` where each password goes: for emitted start scripts. */
export function redisAclTemplate(users: readonly RedisAclUser[]): string[] {
  return redisAclLines(users, passwordReference);
}

/** Where emitted Redis containers write their ACL file and auth config at start (a tmpfs or emptyDir). */
export const REDIS_ACL_FILE = "/tmp/users.acl";
/** The config file holding `aclfile` and the replication credentials, passed first to redis-server. */
export const REDIS_AUTH_CONF = "/tmp/auth.conf";

/**
 * Shell commands that write a data node's ACL file and auth config from the environment: the ACL
 * of {@link redisAclUsers} and `aclfile`, `masteruser`, `masterauth` (every node may become or
 * follow a primary, so each carries the replication credentials). Start redis-server with
 * {@link REDIS_AUTH_CONF} as its config file. `dollar` writes a `$` (`$$` in compose).
 */
export function redisAuthScript(model: RedisAclTopology, dollar = "$"): string {
  const replica = replicaUser(model);
  return [
    shellWriteLines(redisAclTemplate(redisAclUsers(model)), REDIS_ACL_FILE, dollar),
    shellWriteLines(
      [`aclfile ${REDIS_ACL_FILE}`, `masteruser ${replica.name}`, `masterauth ${passwordReference(replica)}`],
      REDIS_AUTH_CONF,
      dollar,
    ),
  ].join(" && ");
}

/** The password variables a data node's start script reads, sorted. */
export function redisServerPasswordVars(model: RedisAclTopology): string[] {
  return redisAclUsers(model)
    .map((u) => u.passwordVar)
    .sort();
}

/** The password variables a sentinel's start script reads, sorted. */
export function sentinelPasswordVars(model: RedisAclTopology): string[] {
  return sentinelAclUsers(model)
    .map((u) => u.passwordVar)
    .sort();
}
