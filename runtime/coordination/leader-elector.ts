/**
 * Leader election over a {@link CoordinationBackend}: one leader per scope (per leader-mode
 * service), the other instances stand by and take over when its lease ends.
 *
 * The timing follows Kubernetes' leader election: a leader renews every `renewIntervalMs`, and
 * steps down on its own when no renew has succeeded for `renewDeadlineMs`, which is shorter than the
 * lease. The deadline is measured from when the last successful renew was SENT — the store set the
 * new expiry at some point after that, so `sentAt + leaseMs` is the earliest the lease can expire,
 * and `sentAt + renewDeadlineMs` leaves `leaseMs - renewDeadlineMs` of margin for timers firing late
 * and clocks running at slightly different rates. A slow reply never extends the term beyond what
 * the store granted. Every term carries a fencing token (a per-scope counter that only grows) so
 * that work a deposed leader still does is rejected by fenced writes.
 */
import { type Logger, silentLogger } from "../log.js";
import { jittered, monotonicNow, Sleeper } from "./_timing.js";
import { assertScope, type CoordinationBackend } from "./backend.js";
import { type LeadershipLossReason, LeadershipLostError } from "./errors.js";

/** Role of an elector. */
export type ElectorState = "standby" | "leader" | "stopped";

/** What an elector reports, as a discriminated union on `type`. */
export type ElectorEvent =
  | {
      type: "elected";
      /** The term's fencing token: pass it to fenced writes and schedule claims. */
      token: number;
      /** Aborts (with a {@link LeadershipLostError}) when this term ends. */
      signal: AbortSignal;
    }
  | {
      type: "demoted";
      /** The token of the term that ended. */
      token: number;
      reason: LeadershipLossReason;
    };

/** Options of {@link LeaderElector}. */
export interface LeaderElectorOptions {
  /** Where leases live: `RedisCoordination` or `MemoryCoordination`. */
  backend: CoordinationBackend;
  /** The service's scope, e.g. `{catga:shop:coordinator}` (the wiring's `leader.redisHashTag`). */
  hashTag: string;
  /** This instance's id, unique among the service's instances (a pod or process name). */
  instanceId: string;
  /** Lease TTL: how long the service may be without a leader after a crash. */
  leaseMs: number;
  /**
   * How often the leader renews.
   * @default leaseMs / 3
   */
  renewIntervalMs?: number;
  /**
   * The leader steps down when no renew sent within this time succeeded. Must be below `leaseMs`
   * (the step-down margin) and above `renewIntervalMs` (room for a failed renew to be retried).
   * @default leaseMs * 2 / 3
   */
  renewDeadlineMs?: number;
  /**
   * How often a standby tries to take the lease (and how soon a failed renew is retried).
   * @default min(1000, leaseMs / 4)
   */
  retryPeriodMs?: number;
  /**
   * Standby retries wait `retryPeriodMs` stretched by up to this fraction, at random, so standbys
   * do not hit the store in lockstep.
   * @default 0.2
   */
  jitter?: number;
  /**
   * Clock for deadlines, in milliseconds.
   * @default performance.now (monotonic)
   */
  now?: () => number;
  /**
   * Random numbers in [0, 1), for the jitter.
   * @default Math.random
   */
  random?: () => number;
  /**
   * Where state changes and store failures are logged.
   * @default silentLogger
   */
  logger?: Logger;
}

/** Counters of an elector, for metrics. */
export interface ElectorStats {
  /** Terms won. */
  elections: number;
  /** Terms ended, for any reason. */
  demotions: number;
  /** Acquire attempts that could not reach the store. */
  acquireErrors: number;
  /** Successful renews. */
  renewals: number;
  /** Renews that could not reach the store. */
  renewErrors: number;
}

interface Term {
  readonly token: number;
  readonly controller: AbortController;
  /** When the last renew (or the acquire) that succeeded was sent. */
  lastRenewSentAt: number;
  nextRenewAt: number;
  deadlineTimer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Elects one leader per scope among the instances that run an elector for it.
 *
 * ```ts
 * const elector = new LeaderElector({ backend, hashTag: "{catga:shop:coordinator}", instanceId, leaseMs: 10_000 });
 * elector.subscribe((e) => { if (e.type === "elected") startLeaderWork(e.token, e.signal); });
 * elector.start();
 * // on SIGTERM: hand over at once
 * await elector.stop({ release: true });
 * ```
 */
export class LeaderElector {
  /** Counters, for metrics. */
  readonly stats: ElectorStats = {
    elections: 0,
    demotions: 0,
    acquireErrors: 0,
    renewals: 0,
    renewErrors: 0,
  };
  private readonly backend: CoordinationBackend;
  private readonly scope: string;
  private readonly id: string;
  private readonly leaseMs: number;
  private readonly renewIntervalMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly jitter: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: Logger;
  private readonly listeners = new Set<(event: ElectorEvent) => void>();
  private readonly sleeper = new Sleeper();
  private current: ElectorState = "standby";
  private term: Term | undefined;
  private loopDone: Promise<void> | undefined;
  private poked = false;
  private holdOffUntil = 0;
  private releaseOnStop = true;
  private pendingRelease: Promise<void> | undefined;
  private failing = false;

  constructor(options: LeaderElectorOptions) {
    assertScope(options.hashTag);
    this.backend = options.backend;
    this.scope = options.hashTag;
    this.id = options.instanceId;
    this.leaseMs = options.leaseMs;
    this.renewIntervalMs = options.renewIntervalMs ?? options.leaseMs / 3;
    this.renewDeadlineMs = options.renewDeadlineMs ?? (options.leaseMs * 2) / 3;
    this.retryPeriodMs = options.retryPeriodMs ?? Math.min(1000, options.leaseMs / 4);
    this.jitter = options.jitter ?? 0.2;
    this.now = options.now ?? monotonicNow;
    this.random = options.random ?? Math.random;
    this.log = (options.logger ?? silentLogger).child({ scope: this.scope, instance: this.id });
    if (!(this.leaseMs > 0)) throw new RangeError(`leaseMs must be positive, got ${this.leaseMs}`);
    if (!(this.renewDeadlineMs < this.leaseMs)) {
      throw new RangeError(
        `renewDeadlineMs (${this.renewDeadlineMs}) must be below leaseMs (${this.leaseMs}): the leader must step down before its lease can expire`,
      );
    }
    if (!(this.renewIntervalMs > 0 && this.renewIntervalMs < this.renewDeadlineMs)) {
      throw new RangeError(
        `renewIntervalMs (${this.renewIntervalMs}) must be positive and below renewDeadlineMs (${this.renewDeadlineMs})`,
      );
    }
    if (!(this.retryPeriodMs > 0))
      throw new RangeError(`retryPeriodMs must be positive, got ${this.retryPeriodMs}`);
  }

  /** The current role. Reading it enforces the renew deadline even if its timer has not run yet. */
  get state(): ElectorState {
    this.enforceDeadline();
    return this.current;
  }

  /** The fencing token of the current term; undefined unless leader. */
  get token(): number | undefined {
    this.enforceDeadline();
    return this.term?.token;
  }

  /** The current term's AbortSignal; undefined unless leader. */
  get signal(): AbortSignal | undefined {
    this.enforceDeadline();
    return this.term?.controller.signal;
  }

  /** Calls `listener` on every event until the returned function is called. */
  subscribe(listener: (event: ElectorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts campaigning. Never throws for an unreachable store: it keeps retrying. */
  start(): void {
    if (this.loopDone !== undefined || this.current === "stopped") return;
    this.loopDone = this.loop();
  }

  /**
   * A standby tries to take the lease now instead of at its next retry: the host calls it when the
   * leader announces a release (over NATS), so hand-over does not wait for a retry period.
   */
  tryNow(): void {
    if (this.current !== "standby") return;
    this.poked = true;
    this.holdOffUntil = 0;
    this.sleeper.wake();
  }

  /**
   * Stops campaigning. A leader's term ends at once (its signal aborts, `demoted` with reason
   * `stopped`); with `release` (the default) the lease is deleted so a standby can take over
   * immediately (graceful hand-over); without it the lease runs out on its own.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (this.current === "stopped") {
      await this.loopDone;
      return;
    }
    this.releaseOnStop = options.release ?? true;
    const term = this.term;
    this.current = "stopped";
    if (term) this.endTerm(term, "stopped");
    this.sleeper.wake();
    // An acquire or renew in flight settles first (bounded by the client's command timeout), so a
    // lease it might still grant is released below and not left to expire.
    await this.loopDone;
    await this.pendingRelease;
    if (term && this.releaseOnStop) await this.releaseQuietly(term.token);
  }

  private async loop(): Promise<void> {
    while (this.current !== "stopped") {
      if (this.current === "standby") {
        await this.pendingRelease;
        const wait = this.holdOffUntil - this.now();
        if (wait > 0 && !this.poked) {
          await this.sleeper.sleep(wait);
          continue;
        }
        this.poked = false;
        await this.attempt();
        if (this.current === "standby" && !this.poked) {
          await this.sleeper.sleep(jittered(this.retryPeriodMs, this.jitter, this.random));
        }
      } else {
        const term = this.term!;
        const wait = term.nextRenewAt - this.now();
        if (wait > 0) await this.sleeper.sleep(wait);
        if (this.term === term && this.current === "leader" && this.now() >= term.nextRenewAt) {
          await this.renew(term);
        }
      }
    }
  }

  private async attempt(): Promise<void> {
    const sentAt = this.now();
    let token: number | null;
    try {
      token = await this.backend.acquire(this.scope, this.id, this.leaseMs);
    } catch (error) {
      this.stats.acquireErrors++;
      this.storeFailed("acquire failed; retrying", error);
      return;
    }
    this.storeRecovered();
    if (token === null) return;
    if (this.current === "stopped") {
      // stop() came while the acquire was in flight: do not keep a lease nobody will renew.
      if (this.releaseOnStop) await this.releaseQuietly(token);
      return;
    }
    if (this.now() >= sentAt + this.renewDeadlineMs) {
      // The reply took so long that the term would already be past its renew deadline.
      this.log.warn("acquire reply arrived after the renew deadline; not taking the term", { token });
      await this.releaseQuietly(token);
      return;
    }
    const term: Term = {
      token,
      controller: new AbortController(),
      lastRenewSentAt: sentAt,
      nextRenewAt: sentAt + this.renewIntervalMs,
      deadlineTimer: undefined,
    };
    this.term = term;
    this.current = "leader";
    this.armDeadline(term);
    this.stats.elections++;
    this.log.info("elected leader", { token });
    this.emit({ type: "elected", token, signal: term.controller.signal });
  }

  private async renew(term: Term): Promise<void> {
    const sentAt = this.now();
    let ok: boolean;
    try {
      ok = await this.backend.renew(this.scope, this.id, term.token, this.leaseMs);
    } catch (error) {
      if (this.term !== term) return;
      this.stats.renewErrors++;
      this.storeFailed("renew failed; retrying until the renew deadline", error);
      term.nextRenewAt = this.now() + Math.min(this.renewIntervalMs, this.retryPeriodMs);
      return;
    }
    this.storeRecovered();
    if (this.term !== term) return;
    if (!ok) {
      this.demote(term, "renew-rejected");
      return;
    }
    if (this.now() >= sentAt + this.renewDeadlineMs) {
      // Granted, but the reply came so late that the deadline counted from its sending has passed.
      this.demote(term, "renew-deadline");
      return;
    }
    this.stats.renewals++;
    term.lastRenewSentAt = sentAt;
    term.nextRenewAt = sentAt + this.renewIntervalMs;
    this.armDeadline(term);
  }

  private armDeadline(term: Term): void {
    if (term.deadlineTimer !== undefined) clearTimeout(term.deadlineTimer);
    const due = term.lastRenewSentAt + this.renewDeadlineMs - this.now();
    term.deadlineTimer = setTimeout(() => this.demote(term, "renew-deadline"), Math.max(0, due));
  }

  /** Timers can fire late (a blocked event loop, SIGSTOP); the deadline holds regardless. */
  private enforceDeadline(): void {
    const term = this.term;
    if (term && this.now() >= term.lastRenewSentAt + this.renewDeadlineMs)
      this.demote(term, "renew-deadline");
  }

  private demote(term: Term, reason: LeadershipLossReason): void {
    if (this.term !== term) return;
    this.current = "standby";
    this.endTerm(term, reason);
    // Give the others a retry period before campaigning again.
    this.holdOffUntil = this.now() + this.retryPeriodMs;
    if (reason === "renew-deadline") {
      // The lease may still be ours in the store (the store was slow, not gone): release it so a
      // standby need not wait for it to expire. Compare-and-delete, so it cannot hit a newer term.
      this.pendingRelease = this.releaseQuietly(term.token).finally(() => {
        this.pendingRelease = undefined;
      });
    }
    this.sleeper.wake();
  }

  private endTerm(term: Term, reason: LeadershipLossReason): void {
    if (term.deadlineTimer !== undefined) clearTimeout(term.deadlineTimer);
    this.term = undefined;
    this.stats.demotions++;
    const level = reason === "stopped" ? "info" : "warn";
    this.log[level]("leadership ended", { token: term.token, reason });
    term.controller.abort(new LeadershipLostError(reason, term.token));
    this.emit({ type: "demoted", token: term.token, reason });
  }

  private async releaseQuietly(token: number): Promise<void> {
    try {
      await this.backend.release(this.scope, this.id, token);
    } catch (error) {
      this.log.debug("release failed; the lease will expire on its own", { token, error });
    }
  }

  private emit(event: ElectorEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log.error("elector listener threw", { event: event.type, error });
      }
    }
  }

  // Log a store outage once when it starts and once when it ends, not on every retry.
  private storeFailed(msg: string, error: unknown): void {
    if (!this.failing) this.log.warn(msg, { error });
    else this.log.debug(msg, { error });
    this.failing = true;
  }

  private storeRecovered(): void {
    if (this.failing) this.log.info("coordination store reachable again");
    this.failing = false;
  }
}
