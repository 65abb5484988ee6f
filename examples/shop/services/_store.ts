/**
 * The shop's data: orders, stock, payments. In Redis when the instance is given one (the same
 * `CATGA_REDIS_*` variables as the runtime: `CATGA_REDIS_URL`, or `CATGA_REDIS_MODE` with sentinels
 * or cluster nodes), so every process of every service sees the same data; otherwise in this
 * process's memory, which is right for `catga up --memory` and `npm run demo` (every instance in
 * one process) and wrong for several processes (each would have its own shop).
 *
 * Each service keeps its data under its own hash tag (`keyTag` in _catalog.ts) and touches no other
 * service's keys: under per-service Redis users, another service's keys answer `NOPERM`. What one
 * service must know of another's data (an order's items, its total) travels in the messages.
 *
 * Every write that could be repeated (a retried request, a step a new leader runs again) is made
 * idempotent by a key: the request's message id, or the order id.
 */
import { createRedis, type Logger, parseRedisConfig } from "@catga/runtime";

/** The few operations the shop needs, with the same meaning in memory and on Redis. */
export interface Kv {
  readonly kind: "memory" | "redis";
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  /** Sets `key` when absent; resolves with `null` when it did, or with the value already there. */
  setIfAbsent(key: string, value: string): Promise<string | null>;
  /** Sets `key` to `value` only if it holds `expected` now (one atomic step). */
  compareAndSet(key: string, expected: string, value: string): Promise<boolean>;
  incrBy(key: string, by: number): Promise<number>;
  /** A sorted set: add or move `member` to `score`. */
  zadd(key: string, score: number, member: string): Promise<void>;
  zrem(key: string, member: string): Promise<void>;
  /** Members with a score at most `max`, lowest first, at most `limit` of them. */
  zrangeUpTo(key: string, max: number, limit: number): Promise<string[]>;
  /** Closes the connection, if any. */
  close(): Promise<void>;
}

/** In this process. JavaScript's single thread makes each operation atomic. */
export function memoryKv(): Kv {
  const strings = new Map<string, string>();
  const sorted = new Map<string, Map<string, number>>();
  return {
    kind: "memory",
    get: async (key) => strings.get(key) ?? null,
    set: async (key, value) => {
      strings.set(key, value);
    },
    setIfAbsent: async (key, value) => {
      const existing = strings.get(key);
      if (existing !== undefined) return existing;
      strings.set(key, value);
      return null;
    },
    compareAndSet: async (key, expected, value) => {
      if (strings.get(key) !== expected) return false;
      strings.set(key, value);
      return true;
    },
    incrBy: async (key, by) => {
      const next = Number(strings.get(key) ?? "0") + by;
      strings.set(key, String(next));
      return next;
    },
    zadd: async (key, score, member) => {
      const set = sorted.get(key) ?? new Map<string, number>();
      set.set(member, score);
      sorted.set(key, set);
    },
    zrem: async (key, member) => {
      sorted.get(key)?.delete(member);
    },
    zrangeUpTo: async (key, max, limit) =>
      [...(sorted.get(key) ?? new Map<string, number>()).entries()]
        .filter(([, score]) => score <= max)
        .sort((a, b) => a[1] - b[1])
        .slice(0, limit)
        .map(([member]) => member),
    close: async () => {},
  };
}

// Compare-and-set has no single Redis command; a script is one atomic step on the server.
const CAS = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0`;

/** On Redis (standalone, Sentinel or Cluster: every operation touches one key). */
export function redisKv(client: ReturnType<typeof createRedis>): Kv {
  let ready: Promise<void> | undefined;
  // The runtime's client fails commands fast while disconnected instead of queueing them; the first
  // command of a new process waits for the connection once instead of failing.
  const connected = () => {
    ready ??= new Promise<void>((resolve, reject) => {
      if (client.status === "ready") return resolve();
      const timer = setTimeout(() => {
        ready = undefined;
        reject(new Error("the shop's Redis is not reachable (waited 10 s)"));
      }, 10_000);
      timer.unref();
      client.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return ready;
  };
  const run = async <T>(op: () => Promise<T>): Promise<T> => {
    await connected();
    return op();
  };
  return {
    kind: "redis",
    get: (key) => run(() => client.get(key)),
    set: (key, value) => run(async () => void (await client.set(key, value))),
    setIfAbsent: (key, value) =>
      run(async () => {
        if ((await client.set(key, value, "NX")) === "OK") return null;
        // Set by someone else a moment ago; keys here are never deleted, so it is still there.
        return (await client.get(key)) ?? "";
      }),
    compareAndSet: (key, expected, value) =>
      run(async () => (await client.eval(CAS, 1, key, expected, value)) === 1),
    incrBy: (key, by) => run(() => client.incrby(key, by)),
    zadd: (key, score, member) => run(async () => void (await client.zadd(key, score, member))),
    zrem: (key, member) => run(async () => void (await client.zrem(key, member))),
    zrangeUpTo: (key, max, limit) => run(() => client.zrangebyscore(key, "-inf", max, "LIMIT", 0, limit)),
    close: async () => {
      client.disconnect();
    },
  };
}

let shared: Kv | undefined;
let view: ((service: string, kv: Kv) => Kv) | undefined;
const views = new Map<string, Kv>();

/** Who asks for the store: a handler's context (its service, its logger). */
export interface StoreUser {
  readonly service: string;
  readonly log?: Logger;
}

/**
 * The store as `user`'s service sees it, made on first use: Redis when `CATGA_REDIS_URL` or
 * `CATGA_REDIS_MODE` is set, memory otherwise. One connection per process, whatever the services.
 */
export function store(user: StoreUser): Kv {
  if (shared === undefined) {
    const env = process.env;
    if (env.CATGA_REDIS_URL || env.CATGA_REDIS_MODE) {
      shared = redisKv(createRedis(parseRedisConfig(env)));
      user.log?.info("shop data in Redis");
    } else {
      shared = memoryKv();
      user.log?.info(
        "shop data in this process's memory (set CATGA_REDIS_URL to share it between processes)",
      );
    }
  }
  if (view === undefined) return shared;
  let kv = views.get(user.service);
  if (kv === undefined) {
    kv = view(user.service, shared);
    views.set(user.service, kv);
  }
  return kv;
}

/**
 * Replaces the store of this process (tests, demos). `perService`, when given, wraps it once per
 * service: a test records which service touched which key through it.
 */
export function useStore(kv: Kv, perService?: (service: string, kv: Kv) => Kv): void {
  shared = kv;
  view = perService;
  views.clear();
}
