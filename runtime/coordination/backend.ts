/**
 * The storage contract of coordination: leases with fencing tokens, fenced writes and schedule tick
 * claims, each an atomic step. Two implementations keep the same semantics: `RedisCoordination`
 * (Lua scripts, for deployments) and `MemoryCoordination` (in-process maps, for the in-memory mode
 * and unit tests). The elector, the locks, the fenced store and the schedules use only this
 * interface, and one conformance suite runs against both.
 *
 * Every operation takes a `scope`: a Redis hash tag such as `{catga:shop:coordinator}` (one per
 * leader-mode service, given by the wiring as `leader.redisHashTag`) or `{catga:lock:<name>}` for
 * a lock. All keys of one scope share the tag, so every multi-key script runs on one Redis Cluster
 * slot.
 */

/** Who holds a lease, as stored. */
export interface LeaseHolder {
  /** The holder's owner id (an instance id; for locks, an instance id plus a per-acquisition nonce). */
  owner: string;
  /** The fencing token of the holder's term. */
  token: number;
  /** Time left before the lease expires, in milliseconds. */
  ttlMs: number;
}

/** Outcome of a fenced write: accepted, or rejected with the token that beat it. */
export type FenceResult =
  | { ok: true }
  | { ok: false /** The highest token the store knows for the key or scope. */; highest: number };

/** Outcome of a tick claim. */
export interface TickClaim {
  /** Whether this caller may run the tick. */
  claimed: boolean;
  /** The last tick claimed before this call (0 if none): the gap to `tick` counts missed ticks. */
  last: number;
}

/**
 * Atomic coordination steps. Methods reject with `CoordinationUnavailableError` when the store
 * cannot be reached; they never wait for it to come back (callers retry on their own schedule).
 */
export interface CoordinationBackend {
  /**
   * Takes the lease of `scope` for `owner` with a TTL. When the lease is free (absent or expired),
   * increments the scope's term counter and returns it: the new term's fencing token. When `owner`
   * already holds it, extends it and returns the same token (a restarted instance with the same id
   * resumes its term). Otherwise returns null.
   */
  acquire(scope: string, owner: string, ttlMs: number): Promise<number | null>;
  /** Extends the lease if `owner` holds it with `token`; false when it is lost (expired or taken). */
  renew(scope: string, owner: string, token: number, ttlMs: number): Promise<boolean>;
  /** Deletes the lease if `owner` holds it with `token` (compare-and-delete); false otherwise. */
  release(scope: string, owner: string, token: number): Promise<boolean>;
  /** The current lease holder, or null when the lease is free. */
  holder(scope: string): Promise<LeaseHolder | null>;
  /** The scope's term counter: the highest fencing token ever issued (0 before the first term). */
  currentTerm(scope: string): Promise<number>;
  /**
   * Writes `value` at data key `key` unless `token` is stale: lower than the highest token the key
   * has seen or than the scope's term counter, or higher than the term counter (a token the store
   * never issued, e.g. one lost in a failover). Accepted writes raise the key's fence to `token`.
   */
  fencedSet(scope: string, key: string, value: string, token: number): Promise<FenceResult>;
  /** Sets one field of the hash at data key `key`, fenced like {@link fencedSet}. */
  fencedHset(scope: string, key: string, field: string, value: string, token: number): Promise<FenceResult>;
  /**
   * Sets the fields `set` and removes the fields `remove` of the hash at data key `key` in one
   * atomic step, fenced like {@link fencedSet}: a saga's record changes several fields per
   * transition, and an index gains and loses members, without a reader ever seeing half of it.
   * Removing the last field deletes the key (as Redis does); its fence stays.
   */
  fencedHupdate(
    scope: string,
    key: string,
    set: Readonly<Record<string, string>>,
    remove: readonly string[],
    token: number,
  ): Promise<FenceResult>;
  /**
   * Deletes data key `key`, fenced like {@link fencedSet}. The key's fence stays, so a stale writer
   * cannot recreate the key afterwards.
   */
  fencedDelete(scope: string, key: string, token: number): Promise<FenceResult>;
  /** Reads a string data key (reads are not fenced). */
  get(scope: string, key: string): Promise<string | null>;
  /** Reads a hash data key (empty object when absent). */
  hgetall(scope: string, key: string): Promise<Record<string, string>>;
  /**
   * Claims tick `tick` of schedule `job` for the holder of `token`: succeeds only if `tick` is
   * greater than the last claimed tick and `token` equals the scope's term counter (only the
   * current term's leader may claim).
   */
  claimTick(scope: string, job: string, tick: number, token: number): Promise<TickClaim>;
}

/** Keys of one scope. Exported for documentation, tests and operators inspecting Redis. */
export const coordinationKeys = {
  /** The lease: `owner|token`, with a PX TTL. */
  lease: (scope: string): string => `${scope}:lease`,
  /** The term counter (INCR): the last fencing token issued. */
  token: (scope: string): string => `${scope}:token`,
  /** A fenced data key. */
  data: (scope: string, key: string): string => `${scope}:data:${key}`,
  /** The highest token accepted by writes to a data key. */
  fence: (scope: string, key: string): string => `${scope}:fence:${key}`,
  /** The last claimed tick of a schedule: `tick|token`. */
  tick: (scope: string, job: string): string => `${scope}:tick:${job}`,
} as const;

/** The scope of a lock named `name`, unless a hash tag is given. */
export function lockScope(name: string): string {
  return `{catga:lock:${name}}`;
}

/** Throws a TypeError unless `scope` is a Redis hash tag `{…}` (what Cluster routing needs). */
export function assertScope(scope: string): void {
  if (!/^\{[^{}]+\}$/.test(scope)) {
    throw new TypeError(
      `coordination scope must be a Redis hash tag like {catga:shop:coordinator}, got '${scope}'`,
    );
  }
}
