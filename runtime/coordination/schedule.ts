/**
 * Leader-only scheduled jobs (`every 30s sweepStaleOrders`): run at most once per tick,
 * cluster-wide, across leader changes.
 *
 * Time is cut into ticks numbered `floor(wallClock / intervalMs)` — numbers every instance computes
 * alike without talking to each other. Before running tick N, the leader claims it in the store
 * with one atomic step, "tick N with token T, if N is above the last claimed tick and T is the
 * current term": a new leader cannot run a tick the old one already ran, and a deposed leader
 * cannot claim anything at all. Within one process a run never overlaps the previous one: a tick
 * that comes while the job is still running is skipped (and counted), not queued.
 *
 * Semantics: at most once per tick. When a leader starts, it tries the current tick at once (so a
 * failover does not drop it if the old leader had not run it yet); earlier ticks missed during a
 * failover are not caught up but counted in {@link ScheduleStats.missed}. A tick whose claim
 * succeeded but whose term ended before the run started is not run by anyone.
 */
import { type Logger, silentLogger } from "../log.js";
import { Sleeper } from "./_timing.js";
import { assertScope, type CoordinationBackend } from "./backend.js";

/** One run of a scheduled job. */
export interface ScheduledRun {
  /** The job's name. */
  job: string;
  /** The tick number: `floor(time / intervalMs)`. */
  tick: number;
  /** The fencing token the tick was claimed with: use it for the run's fenced writes. */
  token: number;
  /** The leadership signal: aborts when the term ends, and the run should stop. */
  signal: AbortSignal;
}

/** Options of {@link runSchedule}. */
export interface ScheduleOptions {
  /** Where ticks are claimed. */
  backend: CoordinationBackend;
  /** The leader service's scope (hash tag); its term counter is what claims are checked against. */
  hashTag: string;
  /** The job's name, unique in the scope. */
  job: string;
  /** Tick length. */
  intervalMs: number;
  /** The current term's fencing token, or undefined when no longer leader (e.g. `() => elector.token`). */
  token: () => number | undefined;
  /** The term's signal: the schedule stops when it aborts. */
  signal: AbortSignal;
  /** The job. A thrown error is logged and counted; the schedule goes on. */
  run: (run: ScheduledRun) => Promise<void> | void;
  /**
   * Wall clock for tick numbers, in milliseconds. Wall clock, not monotonic: every instance must
   * number ticks alike.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Where failed runs and claims are logged.
   * @default silentLogger
   */
  logger?: Logger;
}

/** Counters of a schedule, for metrics. */
export interface ScheduleStats {
  /** Ticks claimed by this schedule. */
  claimed: number;
  /** Runs that completed. */
  ran: number;
  /** Runs that threw. */
  failed: number;
  /** Ticks skipped because the previous run was still in progress. */
  skippedOverlap: number;
  /** Claims refused: the tick was already claimed, or the token is no longer current. */
  refused: number;
  /** Ticks between the last claimed one and a newly claimed one that nobody ran (failover gaps). */
  missed: number;
  /** Claims that could not reach the store. */
  claimErrors: number;
}

/** A running schedule. */
export interface ScheduleHandle {
  /** Counters. */
  readonly stats: ScheduleStats;
  /**
   * Resolves when the schedule has stopped (its signal aborted) AND its last run has finished.
   * A host starting the next term's schedule in the same process awaits it first, so runs never
   * overlap across terms either.
   */
  readonly done: Promise<void>;
}

/**
 * Runs `job` once per tick while `signal` is not aborted. Call it when elected, with the term's
 * token getter and signal.
 */
export function runSchedule(options: ScheduleOptions): ScheduleHandle {
  assertScope(options.hashTag);
  if (!(options.intervalMs > 0))
    throw new RangeError(`schedule interval must be positive, got ${options.intervalMs}`);
  const now = options.now ?? Date.now;
  const log = (options.logger ?? silentLogger).child({ job: options.job });
  const { signal, intervalMs } = options;
  const stats: ScheduleStats = {
    claimed: 0,
    ran: 0,
    failed: 0,
    skippedOverlap: 0,
    refused: 0,
    missed: 0,
    claimErrors: 0,
  };
  const sleeper = new Sleeper();
  const onAbort = () => sleeper.wake();
  signal.addEventListener("abort", onAbort, { once: true });
  let running: Promise<void> | undefined;

  const start = (tick: number, token: number): void => {
    const settle = async () => {
      try {
        await options.run({ job: options.job, tick, token, signal });
        stats.ran++;
      } catch (error) {
        stats.failed++;
        log.error("scheduled job failed", { tick, error });
      } finally {
        running = undefined;
      }
    };
    running = settle();
  };

  const loop = async (): Promise<void> => {
    let tick = Math.floor(now() / intervalMs);
    while (!signal.aborted) {
      if (running !== undefined) {
        stats.skippedOverlap++;
      } else {
        const token = options.token();
        if (token === undefined) break;
        try {
          const claim = await options.backend.claimTick(options.hashTag, options.job, tick, token);
          if (!claim.claimed) {
            stats.refused++;
          } else {
            stats.claimed++;
            if (claim.last > 0) stats.missed += Math.max(0, tick - claim.last - 1);
            if (!signal.aborted) start(tick, token);
          }
        } catch (error) {
          stats.claimErrors++;
          log.warn("could not claim tick", { tick, error });
        }
      }
      // Sleep to the start of the next tick (a little past it, so the computed number is the new one).
      const next = Math.floor(now() / intervalMs) + 1;
      while (!signal.aborted && now() < next * intervalMs) await sleeper.sleep(next * intervalMs - now() + 1);
      tick = Math.floor(now() / intervalMs);
    }
    signal.removeEventListener("abort", onAbort);
    await running;
  };

  return { stats, done: loop() };
}
