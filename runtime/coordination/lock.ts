/**
 * Distributed locks for any service (P2P or leader): a lease like the leader's, taken per
 * acquisition, extended automatically while held, and released by compare-and-delete. Each
 * acquisition gets a fencing token from the lock's own counter; a `FencedStore` on the lock's hash
 * tag turns "one holder at a time" from a timing assumption into a checked fact, because a holder
 * paused past its TTL is rejected by the fence however long it sleeps.
 */
import { randomUUID } from "node:crypto";
import { type Logger, silentLogger } from "../log.js";
import { jittered, monotonicNow, Sleeper } from "./_timing.js";
import { assertScope, type CoordinationBackend, lockScope } from "./backend.js";
import { type LockLossReason, LockLostError, LockTimeoutError } from "./errors.js";

/** Options of {@link acquireLock}. */
export interface LockOptions {
  /** Lock TTL: how long the lock stays taken after its holder dies. */
  ttlMs: number;
  /** The acquiring instance's id (shown as the owner, with a per-acquisition nonce). */
  instanceId: string;
  /**
   * `false`: one attempt, null if taken. `{ timeoutMs }`: retry until acquired or throw
   * {@link LockTimeoutError} after `timeoutMs`; `retryMs` is the pause between attempts.
   * @default false
   */
  wait?: false | { timeoutMs: number /** @default min(100, ttlMs / 4) */; retryMs?: number };
  /**
   * The lock's scope (Redis hash tag). Give the service's hash tag to keep the lock in the same
   * Cluster slot as data it guards.
   * @default `{catga:lock:<name>}`
   */
  hashTag?: string;
  /**
   * How often the holder extends the lock.
   * @default ttlMs / 3
   */
  extendIntervalMs?: number;
  /**
   * The hold ends (signal aborts) when no extension sent within this time succeeded; below `ttlMs`
   * so the holder stops before the lock can expire under it.
   * @default ttlMs * 2 / 3
   */
  deadlineMs?: number;
  /**
   * Clock for deadlines.
   * @default performance.now (monotonic)
   */
  now?: () => number;
  /**
   * Random numbers in [0, 1), for the retry jitter.
   * @default Math.random
   */
  random?: () => number;
  /**
   * Where lost holds are logged.
   * @default silentLogger
   */
  logger?: Logger;
}

/** A held lock. */
export interface Lock {
  /** The lock's name. */
  readonly name: string;
  /** The lock's scope (hash tag): pass it to a `FencedStore` guarding the lock's data. */
  readonly hashTag: string;
  /** This acquisition's fencing token: higher than every earlier acquisition's. */
  readonly token: number;
  /** Aborts (with a {@link LockLostError}) when the hold ends, for any reason. */
  readonly signal: AbortSignal;
  /** Whether the hold is still on (the extension deadline is checked on read). */
  readonly held: boolean;
  /** Ends the hold and deletes the lock if still ours in the store; resolves whether it was. */
  release(): Promise<boolean>;
}

/**
 * Acquires lock `name`.
 *
 * @returns the lock, or null when `wait` is false and the lock is taken.
 * @throws LockTimeoutError when waiting and the lock stays taken past `wait.timeoutMs` (its
 *   `cause` is the last store error, if the store was unreachable).
 * @throws CoordinationUnavailableError when not waiting and the store cannot be reached.
 */
export async function acquireLock(
  backend: CoordinationBackend,
  name: string,
  options: LockOptions,
): Promise<Lock | null> {
  const scope = options.hashTag ?? lockScope(name);
  assertScope(scope);
  const now = options.now ?? monotonicNow;
  const random = options.random ?? Math.random;
  const extendIntervalMs = options.extendIntervalMs ?? options.ttlMs / 3;
  const deadlineMs = options.deadlineMs ?? (options.ttlMs * 2) / 3;
  if (!(deadlineMs < options.ttlMs && extendIntervalMs > 0 && extendIntervalMs < deadlineMs)) {
    throw new RangeError(
      `lock '${name}': need 0 < extendIntervalMs (${extendIntervalMs}) < deadlineMs (${deadlineMs}) < ttlMs (${options.ttlMs})`,
    );
  }
  // A nonce per acquisition: two acquisitions by one instance are two different holders, and the
  // "already ours, extend it" path of acquire must never merge them.
  const owner = `${options.instanceId}:${randomUUID()}`;
  const wait = options.wait ?? false;
  const started = now();
  let lastError: unknown;
  for (;;) {
    const sentAt = now();
    let token: number | null = null;
    try {
      token = await backend.acquire(scope, owner, options.ttlMs);
    } catch (error) {
      if (wait === false) throw error;
      lastError = error;
    }
    if (token !== null) {
      return new HeldLock(backend, name, scope, owner, token, sentAt, {
        ttlMs: options.ttlMs,
        extendIntervalMs,
        deadlineMs,
        now,
        log: (options.logger ?? silentLogger).child({ lock: name, token }),
      });
    }
    if (wait === false) return null;
    const left = wait.timeoutMs - (now() - started);
    if (left <= 0) throw new LockTimeoutError(name, wait.timeoutMs, { cause: lastError });
    const pause = jittered(wait.retryMs ?? Math.min(100, options.ttlMs / 4), 0.2, random);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
  }
}

interface HoldTiming {
  ttlMs: number;
  extendIntervalMs: number;
  deadlineMs: number;
  now: () => number;
  log: Logger;
}

class HeldLock implements Lock {
  private readonly controller = new AbortController();
  private readonly sleeper = new Sleeper();
  private lastSentAt: number;
  private nextAt: number;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly loop: Promise<void>;

  constructor(
    private readonly backend: CoordinationBackend,
    readonly name: string,
    readonly hashTag: string,
    private readonly owner: string,
    readonly token: number,
    sentAt: number,
    private readonly timing: HoldTiming,
  ) {
    this.lastSentAt = sentAt;
    this.nextAt = sentAt + timing.extendIntervalMs;
    this.armDeadline();
    this.loop = this.extendLoop();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get held(): boolean {
    if (this.timing.now() >= this.lastSentAt + this.timing.deadlineMs) this.lose("extend-deadline");
    return !this.controller.signal.aborted;
  }

  async release(): Promise<boolean> {
    this.lose("released");
    await this.loop;
    // Even after a lost hold the lock may still be ours in the store (it was slow, not gone):
    // compare-and-delete frees it without any risk to a newer holder.
    try {
      return await this.backend.release(this.hashTag, this.owner, this.token);
    } catch (error) {
      this.timing.log.debug("release failed; the lock will expire on its own", { error });
      return false;
    }
  }

  private async extendLoop(): Promise<void> {
    const { now, extendIntervalMs, deadlineMs, ttlMs } = this.timing;
    while (!this.controller.signal.aborted) {
      const wait = this.nextAt - now();
      if (wait > 0) await this.sleeper.sleep(wait);
      if (this.controller.signal.aborted) return;
      const sentAt = now();
      let ok: boolean;
      try {
        ok = await this.backend.renew(this.hashTag, this.owner, this.token, ttlMs);
      } catch (error) {
        // Retry soon; the deadline timer ends the hold if the store stays away.
        this.timing.log.debug("lock extension failed; retrying", { error });
        this.nextAt = now() + Math.min(extendIntervalMs, (deadlineMs - extendIntervalMs) / 2);
        continue;
      }
      if (this.controller.signal.aborted) return;
      if (!ok) {
        this.lose("extend-rejected");
      } else if (now() >= sentAt + deadlineMs) {
        this.lose("extend-deadline");
      } else {
        this.lastSentAt = sentAt;
        this.nextAt = sentAt + extendIntervalMs;
        this.armDeadline();
      }
    }
  }

  private armDeadline(): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    const due = this.lastSentAt + this.timing.deadlineMs - this.timing.now();
    this.deadlineTimer = setTimeout(() => this.lose("extend-deadline"), Math.max(0, due));
  }

  private lose(reason: LockLossReason): void {
    if (this.controller.signal.aborted) return;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    if (reason !== "released") this.timing.log.warn("lock lost", { reason });
    this.controller.abort(new LockLostError(this.name, reason, this.token));
    this.sleeper.wake();
  }
}
