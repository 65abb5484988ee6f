/**
 * The runtime's one retry policy. A call that may be retried gets a whole timeout (its deadline);
 * each attempt waits at most a share of it (at least a floor, never past the deadline), so an
 * attempt that went to an instance that died is retried on another in time; between attempts it
 * backs off exponentially with full jitter, and it gives up when the next attempt could not start
 * before the deadline. Callers keep their own defaults (documented with their options) and decide
 * which errors are worth a retry: the client retries only idempotent requests that timed out or had
 * no responder, a saga any failure but a refusal.
 */

/** The timing of retries, every field resolved. */
export interface RetryTiming {
  /** Each attempt waits at most this share of the whole timeout. */
  attemptShare: number;
  /** Shortest wait of one attempt, in milliseconds. */
  minAttemptMs: number;
  /** First backoff before a retry; doubles per retry up to {@link maxBackoffMs}, with full jitter. */
  baseBackoffMs: number;
  maxBackoffMs: number;
}

/** `options` with every field it leaves out taken from the caller's `defaults`. */
export function retryTiming(options: Partial<RetryTiming> | undefined, defaults: RetryTiming): RetryTiming {
  return {
    attemptShare: options?.attemptShare ?? defaults.attemptShare,
    minAttemptMs: options?.minAttemptMs ?? defaults.minAttemptMs,
    baseBackoffMs: options?.baseBackoffMs ?? defaults.baseBackoffMs,
    maxBackoffMs: options?.maxBackoffMs ?? defaults.maxBackoffMs,
  };
}

/** How long one attempt may wait for a reply, before the deadline is taken into account. */
export function attemptWaitMs(timing: RetryTiming, timeoutMs: number): number {
  return Math.max(timing.minAttemptMs, Math.round(timeoutMs * timing.attemptShare));
}

/** `base · 2^attempt`, capped at `max`: attempt 0 is the first retry. */
export function cappedExponential(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** attempt);
}

/**
 * The backoff before retry `attempt` (0 for the first): uniform between 0 and the capped
 * exponential ("full jitter"), so callers that failed together do not retry together.
 */
export function backoffMs(timing: RetryTiming, attempt: number): number {
  return Math.random() * cappedExponential(attempt, timing.baseBackoffMs, timing.maxBackoffMs);
}

/** Whether a retry after waiting `waitMs` would still start before `deadline` (epoch ms). */
export function retryFits(waitMs: number, deadline: number): boolean {
  return Date.now() + waitMs < deadline;
}
