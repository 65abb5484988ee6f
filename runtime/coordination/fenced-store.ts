/**
 * Fenced writes: the data a leader (or lock holder) keeps in the store, written only under a
 * fencing token that is still current. This is what makes leadership a correctness guarantee and
 * not only an efficiency one: a leader paused longer than its lease (GC, SIGSTOP, a VM migration)
 * may wake up still believing it leads, and every write it then makes is rejected because a newer
 * term exists — even for keys the new leader has not written yet, since the check also compares
 * against the scope's term counter.
 *
 * Rejections THROW {@link StaleTokenError} rather than returning false: a writer that forgets to
 * check a boolean would carry on as if it had written, which is exactly the bug fencing exists to
 * prevent. The error means "you are no longer the leader: stop".
 */
import { assertScope, type CoordinationBackend, type FenceResult } from "./backend.js";
import { StaleTokenError } from "./errors.js";

/** Counters of a {@link FencedStore}, for metrics. */
export interface FencedStoreStats {
  /** Writes accepted. */
  accepted: number;
  /** Writes rejected for a stale token. */
  rejected: number;
}

/**
 * Fenced key-value and hash storage in one scope (a leader-mode service's hash tag, or a lock's).
 * Keys are stored as `<scope>:data:<key>`, their fences as `<scope>:fence:<key>`.
 */
export class FencedStore {
  /** Accepted and rejected writes. */
  readonly stats: FencedStoreStats = { accepted: 0, rejected: 0 };

  constructor(
    private readonly backend: CoordinationBackend,
    /** The scope, e.g. `{catga:shop:coordinator}`. */
    readonly hashTag: string,
  ) {
    assertScope(hashTag);
  }

  /**
   * Sets `key` to `value` under `token`.
   * @throws StaleTokenError when a newer term exists (or the token was never issued).
   * @throws CoordinationUnavailableError when the store cannot be reached; the write may or may
   *   not have happened, and a retry with the same token is safe.
   */
  async set(key: string, value: string, token: number): Promise<void> {
    this.check(key, token, await this.backend.fencedSet(this.hashTag, key, value, token));
  }

  /** Sets one field of the hash at `key` (e.g. one saga's step state) under `token`. Throws like {@link set}. */
  async hset(key: string, field: string, value: string, token: number): Promise<void> {
    this.check(key, token, await this.backend.fencedHset(this.hashTag, key, field, value, token));
  }

  /**
   * Sets the fields `set` and removes the fields `remove` of the hash at `key` in one atomic step
   * under `token`. Throws like {@link set}.
   */
  async hupdate(
    key: string,
    set: Readonly<Record<string, string>>,
    remove: readonly string[],
    token: number,
  ): Promise<void> {
    this.check(key, token, await this.backend.fencedHupdate(this.hashTag, key, set, remove, token));
  }

  /** Deletes `key` under `token`. Throws like {@link set}. */
  async delete(key: string, token: number): Promise<void> {
    this.check(key, token, await this.backend.fencedDelete(this.hashTag, key, token));
  }

  /** Reads `key` (null when absent). Reads are not fenced: anyone may read. */
  get(key: string): Promise<string | null> {
    return this.backend.get(this.hashTag, key);
  }

  /** Reads the hash at `key` (empty when absent). */
  hgetall(key: string): Promise<Record<string, string>> {
    return this.backend.hgetall(this.hashTag, key);
  }

  private check(key: string, token: number, result: FenceResult): void {
    if (result.ok) {
      this.stats.accepted++;
      return;
    }
    this.stats.rejected++;
    throw new StaleTokenError(key, token, result.highest);
  }
}
