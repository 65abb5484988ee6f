/**
 * {@link CoordinationBackend} on Redis (standalone, Sentinel or Cluster) through the Lua scripts of
 * `_scripts.ts`. The client is the caller's: create it with `createRedis` so commands fail fast
 * while disconnected.
 */
import type { Cluster, Redis } from "ioredis";
import {
  ACQUIRE,
  CLAIM_TICK,
  FENCED_DELETE,
  FENCED_HSET,
  FENCED_HUPDATE,
  FENCED_SET,
  type LuaScript,
  RELEASE,
  RENEW,
  runScript,
} from "./_scripts.js";
import {
  assertScope,
  type CoordinationBackend,
  type FenceResult,
  coordinationKeys as k,
  type LeaseHolder,
  type TickClaim,
} from "./backend.js";
import { CoordinationUnavailableError, isNoPermission, RedisPermissionError } from "./errors.js";

/** Options of {@link RedisCoordination}. */
export interface RedisCoordinationOptions {
  /**
   * After a successful acquire, wait (Redis `WAIT`) until this many replicas have the new lease and
   * term counter, for at most `timeoutMs`. This narrows, but cannot close, the window in which a
   * Sentinel failover loses a freshly issued token (replication is asynchronous; see
   * docs/coordination.md). The acquire succeeds either way; a shortfall is counted in
   * {@link RedisCoordination.stats}. Ignored on a `Cluster` client, whose `WAIT` would reach an
   * arbitrary node rather than the one holding the scope's slot.
   * @default no WAIT
   */
  waitForReplicas?: { replicas: number; timeoutMs: number };
}

/** Counters of a {@link RedisCoordination}. */
export interface RedisCoordinationStats {
  /** Acquires followed by a WAIT. */
  waitedAcquires: number;
  /** Of those, how many were confirmed by fewer replicas than asked for within the timeout. */
  unreplicatedAcquires: number;
}

/** Coordination on Redis. */
export class RedisCoordination implements CoordinationBackend {
  /** Replication counters (see {@link RedisCoordinationOptions.waitForReplicas}). */
  readonly stats: RedisCoordinationStats = { waitedAcquires: 0, unreplicatedAcquires: 0 };
  private readonly waitForReplicas: { replicas: number; timeoutMs: number } | undefined;

  constructor(
    /** The client, from `createRedis`. Not closed by this class. */
    readonly client: Redis | Cluster,
    options: RedisCoordinationOptions = {},
  ) {
    this.waitForReplicas = options.waitForReplicas;
  }

  async acquire(scope: string, owner: string, ttlMs: number): Promise<number | null> {
    assertScope(scope);
    const token = await this.run(
      `acquire ${scope}`,
      ACQUIRE,
      [k.lease(scope), k.token(scope)],
      [owner, ttl(ttlMs)],
    );
    if (token === null) return null;
    const w = this.waitForReplicas;
    if (w !== undefined && w.replicas > 0 && !isCluster(this.client)) {
      this.stats.waitedAcquires++;
      try {
        const acked = await (this.client as Redis).wait(w.replicas, w.timeoutMs);
        if (acked < w.replicas) this.stats.unreplicatedAcquires++;
      } catch {
        // The lease is taken on the primary either way; a failed WAIT only means we know less.
        this.stats.unreplicatedAcquires++;
      }
    }
    return Number(token);
  }

  async renew(scope: string, owner: string, token: number, ttlMs: number): Promise<boolean> {
    assertScope(scope);
    return (await this.run(`renew ${scope}`, RENEW, [k.lease(scope)], [owner, token, ttl(ttlMs)])) === 1;
  }

  async release(scope: string, owner: string, token: number): Promise<boolean> {
    assertScope(scope);
    return (await this.run(`release ${scope}`, RELEASE, [k.lease(scope)], [owner, token])) === 1;
  }

  async holder(scope: string): Promise<LeaseHolder | null> {
    assertScope(scope);
    const [[, value], [, pttl]] = (await this.guard(`holder ${scope}`, () =>
      this.client.multi().get(k.lease(scope)).pttl(k.lease(scope)).exec(),
    )) as [[unknown, string | null], [unknown, number]];
    if (value === null) return null;
    const match = /^(.*)\|(\d+)$/.exec(value);
    if (!match) return null;
    return { owner: match[1]!, token: Number(match[2]), ttlMs: Math.max(0, Number(pttl)) };
  }

  async currentTerm(scope: string): Promise<number> {
    assertScope(scope);
    return Number((await this.guard(`currentTerm ${scope}`, () => this.client.get(k.token(scope)))) ?? 0);
  }

  fencedSet(scope: string, key: string, value: string, token: number): Promise<FenceResult> {
    return this.fenced(FENCED_SET, scope, key, [token, value]);
  }

  fencedHset(scope: string, key: string, field: string, value: string, token: number): Promise<FenceResult> {
    return this.fenced(FENCED_HSET, scope, key, [token, field, value]);
  }

  fencedHupdate(
    scope: string,
    key: string,
    set: Readonly<Record<string, string>>,
    remove: readonly string[],
    token: number,
  ): Promise<FenceResult> {
    const pairs = Object.entries(set);
    return this.fenced(FENCED_HUPDATE, scope, key, [token, pairs.length, ...pairs.flat(), ...remove]);
  }

  fencedDelete(scope: string, key: string, token: number): Promise<FenceResult> {
    return this.fenced(FENCED_DELETE, scope, key, [token]);
  }

  async get(scope: string, key: string): Promise<string | null> {
    assertScope(scope);
    return await this.guard(`get ${scope} ${key}`, () => this.client.get(k.data(scope, key)));
  }

  async hgetall(scope: string, key: string): Promise<Record<string, string>> {
    assertScope(scope);
    return await this.guard(`hgetall ${scope} ${key}`, () => this.client.hgetall(k.data(scope, key)));
  }

  async claimTick(scope: string, job: string, tick: number, token: number): Promise<TickClaim> {
    assertScope(scope);
    const [claimed, last] = (await this.run(
      `claimTick ${scope} ${job}`,
      CLAIM_TICK,
      [k.tick(scope, job), k.token(scope)],
      [tick, token],
    )) as [number, number];
    return { claimed: claimed === 1, last: Number(last) };
  }

  private async fenced(
    s: LuaScript,
    scope: string,
    key: string,
    args: readonly (string | number)[],
  ): Promise<FenceResult> {
    assertScope(scope);
    const [ok, highest] = (await this.run(
      `${s.name} ${scope} ${key}`,
      s,
      [k.data(scope, key), k.fence(scope, key), k.token(scope)],
      args,
    )) as [number, number];
    return ok === 1 ? { ok: true } : { ok: false, highest: Number(highest) };
  }

  private run(
    operation: string,
    s: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    return this.guard(operation, () => runScript(this.client, s, keys, args));
  }

  private async guard<T>(operation: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (error) {
      if (isNoPermission(error))
        throw new RedisPermissionError(operation, aclUser(this.client), { cause: error });
      throw new CoordinationUnavailableError(operation, { cause: error });
    }
  }
}

/** The ACL user a client logs in as, for error messages. */
function aclUser(client: Redis | Cluster): string {
  const options = client.options as { username?: string; redisOptions?: { username?: string } };
  return options.username ?? options.redisOptions?.username ?? "default";
}

function ttl(ms: number): number {
  if (!Number.isFinite(ms) || ms < 1) throw new RangeError(`lease TTL must be at least 1 ms, got ${ms}`);
  return Math.ceil(ms);
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}
