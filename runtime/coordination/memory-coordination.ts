/**
 * {@link CoordinationBackend} in process memory, for the in-memory mode (`catga up --memory`, one
 * process, several instances) and unit tests. Same semantics as the Redis scripts: leases expire by
 * the injected clock, tokens come from a per-scope counter that never decreases, fences and tick
 * claims are checked and written in one synchronous step (JavaScript's single thread plays the part
 * of Lua's atomicity).
 */
import {
  assertScope,
  type CoordinationBackend,
  type FenceResult,
  coordinationKeys as k,
  type LeaseHolder,
  type TickClaim,
} from "./backend.js";
import { CoordinationUnavailableError } from "./errors.js";

/** Options of {@link MemoryCoordination}. */
export interface MemoryCoordinationOptions {
  /**
   * The clock leases expire by, in milliseconds.
   * @default Date.now
   */
  now?: () => number;
}

interface Lease {
  owner: string;
  token: number;
  expiresAt: number;
}

/** Coordination in memory. */
export class MemoryCoordination implements CoordinationBackend {
  private readonly now: () => number;
  private readonly leases = new Map<string, Lease>();
  private readonly terms = new Map<string, number>();
  private readonly strings = new Map<string, string>();
  private readonly hashes = new Map<string, Map<string, string>>();
  private readonly fences = new Map<string, number>();
  private readonly ticks = new Map<string, number>();
  private offline = false;

  constructor(options: MemoryCoordinationOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Simulates an unreachable store: while set, every operation rejects with
   * `CoordinationUnavailableError`, as the Redis backend does when disconnected. Time keeps running,
   * so leases still expire.
   */
  setUnavailable(unavailable: boolean): void {
    this.offline = unavailable;
  }

  async acquire(scope: string, owner: string, ttlMs: number): Promise<number | null> {
    this.enter("acquire", scope);
    const lease = this.live(scope);
    if (lease) {
      if (lease.owner !== owner) return null;
      lease.expiresAt = this.now() + ttlMs;
      return lease.token;
    }
    const token = (this.terms.get(scope) ?? 0) + 1;
    this.terms.set(scope, token);
    this.leases.set(scope, { owner, token, expiresAt: this.now() + ttlMs });
    return token;
  }

  async renew(scope: string, owner: string, token: number, ttlMs: number): Promise<boolean> {
    this.enter("renew", scope);
    const lease = this.live(scope);
    if (!lease || lease.owner !== owner || lease.token !== token) return false;
    lease.expiresAt = this.now() + ttlMs;
    return true;
  }

  async release(scope: string, owner: string, token: number): Promise<boolean> {
    this.enter("release", scope);
    const lease = this.live(scope);
    if (!lease || lease.owner !== owner || lease.token !== token) return false;
    this.leases.delete(scope);
    return true;
  }

  async holder(scope: string): Promise<LeaseHolder | null> {
    this.enter("holder", scope);
    const lease = this.live(scope);
    return lease ? { owner: lease.owner, token: lease.token, ttlMs: lease.expiresAt - this.now() } : null;
  }

  async currentTerm(scope: string): Promise<number> {
    this.enter("currentTerm", scope);
    return this.terms.get(scope) ?? 0;
  }

  async fencedSet(scope: string, key: string, value: string, token: number): Promise<FenceResult> {
    this.enter("fencedSet", scope);
    const result = this.fence(scope, key, token);
    if (result.ok) {
      this.hashes.delete(k.data(scope, key));
      this.strings.set(k.data(scope, key), value);
    }
    return result;
  }

  async fencedHset(
    scope: string,
    key: string,
    field: string,
    value: string,
    token: number,
  ): Promise<FenceResult> {
    this.enter("fencedHset", scope);
    const result = this.fence(scope, key, token);
    if (result.ok) {
      const data = k.data(scope, key);
      this.strings.delete(data);
      const hash = this.hashes.get(data) ?? new Map<string, string>();
      hash.set(field, value);
      this.hashes.set(data, hash);
    }
    return result;
  }

  async fencedHupdate(
    scope: string,
    key: string,
    set: Readonly<Record<string, string>>,
    remove: readonly string[],
    token: number,
  ): Promise<FenceResult> {
    this.enter("fencedHupdate", scope);
    const result = this.fence(scope, key, token);
    if (result.ok) {
      const data = k.data(scope, key);
      this.strings.delete(data);
      const hash = this.hashes.get(data) ?? new Map<string, string>();
      for (const [field, value] of Object.entries(set)) hash.set(field, value);
      for (const field of remove) hash.delete(field);
      // As in Redis: a hash without fields does not exist.
      if (hash.size === 0) this.hashes.delete(data);
      else this.hashes.set(data, hash);
    }
    return result;
  }

  async fencedDelete(scope: string, key: string, token: number): Promise<FenceResult> {
    this.enter("fencedDelete", scope);
    const result = this.fence(scope, key, token);
    if (result.ok) {
      this.strings.delete(k.data(scope, key));
      this.hashes.delete(k.data(scope, key));
    }
    return result;
  }

  async get(scope: string, key: string): Promise<string | null> {
    this.enter("get", scope);
    return this.strings.get(k.data(scope, key)) ?? null;
  }

  async hgetall(scope: string, key: string): Promise<Record<string, string>> {
    this.enter("hgetall", scope);
    return Object.fromEntries(this.hashes.get(k.data(scope, key)) ?? []);
  }

  async claimTick(scope: string, job: string, tick: number, token: number): Promise<TickClaim> {
    this.enter("claimTick", scope);
    const key = k.tick(scope, job);
    const last = this.ticks.get(key) ?? 0;
    if (token !== (this.terms.get(scope) ?? 0) || tick <= last) return { claimed: false, last };
    this.ticks.set(key, tick);
    return { claimed: true, last };
  }

  /** The same rule as the Lua FENCE_CHECK: see `CoordinationBackend.fencedSet`. */
  private fence(scope: string, key: string, token: number): FenceResult {
    const term = this.terms.get(scope) ?? 0;
    const fenceKey = k.fence(scope, key);
    const seen = this.fences.get(fenceKey) ?? 0;
    if (token < term || token < seen || token > term) return { ok: false, highest: Math.max(term, seen) };
    this.fences.set(fenceKey, token);
    return { ok: true };
  }

  private live(scope: string): Lease | undefined {
    const lease = this.leases.get(scope);
    if (lease && lease.expiresAt <= this.now()) {
      this.leases.delete(scope);
      return undefined;
    }
    return lease;
  }

  private enter(operation: string, scope: string): void {
    assertScope(scope);
    if (this.offline)
      throw new CoordinationUnavailableError(`${operation} ${scope}`, { cause: new Error("offline") });
  }
}
