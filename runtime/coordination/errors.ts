/**
 * Errors of the coordination library. Each is a named class with `name`, `cause` and a stable
 * `code`, extending the runtime's {@link CatgaError} like every error the runtime throws, so a host
 * can tell a misconfiguration (fix the environment) from an unreachable Redis (wait and retry) from
 * a fencing rejection (this instance is no longer the leader: stop the work), and a reply carries
 * the code rather than `INTERNAL`.
 */
import { CatgaError } from "../errors.js";

/** `CATGA_REDIS_*` (or a {@link RedisConfig}) is missing or malformed. Fix the environment; retrying will not help. */
export class RedisConfigError extends CatgaError {
  override name = "RedisConfigError";
  constructor(
    message: string,
    /** The environment variable at fault, when there is one. */
    readonly variable?: string,
    options?: { cause?: unknown },
  ) {
    super(message, { code: "REDIS_CONFIG", cause: options?.cause });
  }
}

/**
 * A coordination command could not reach Redis (disconnected, timed out, failing over). Commands
 * fail fast instead of queueing, so a leader learns in time that it cannot renew; the cause is the
 * client's error.
 */
export class CoordinationUnavailableError extends CatgaError {
  override name = "CoordinationUnavailableError";
  constructor(
    /** What was attempted, e.g. `acquire {catga:shop:coordinator}`. */
    readonly operation: string,
    options?: { cause?: unknown; message?: string; code?: string },
  ) {
    const detail = (options?.cause as { message?: unknown } | undefined)?.message;
    super(
      options?.message ??
        `coordination store unavailable during ${operation}${typeof detail === "string" ? `: ${detail}` : ""} ` +
          "(check that Redis is reachable; the caller retries)",
      { code: options?.code ?? "COORDINATION_UNAVAILABLE", cause: options?.cause },
    );
  }
}

/**
 * Redis refused a coordination command with `NOPERM`: the ACL user the instance logs in as may not
 * run that command or touch that key. A configuration problem (wrong `CATGA_REDIS_USER`, or an ACL
 * that is not the one catgac emitted for this topology), reported with the user, the operation and
 * its scope; retrying does not help, but it is still an unavailable store to the callers (a leader
 * that cannot renew steps down), so it extends {@link CoordinationUnavailableError}.
 */
export class RedisPermissionError extends CoordinationUnavailableError {
  override name = "RedisPermissionError";
  constructor(
    operation: string,
    /** The ACL user of the connection (`default` when none was configured). */
    readonly user: string,
    options?: { cause?: unknown },
  ) {
    const detail = (options?.cause as { message?: unknown } | undefined)?.message;
    super(operation, {
      ...options,
      code: "REDIS_NOPERM",
      message:
        `Redis user '${user}' is not allowed to ${operation}${typeof detail === "string" ? ` (${detail})` : ""}: ` +
        "each service's Redis user may touch only its own keys ({catga:<topology>:<service>}…) with the " +
        "commands the runtime uses; check CATGA_REDIS_USER and that Redis runs the ACL catgac emitted",
    });
  }
}

/** Whether an error from the Redis client is a `NOPERM` reply (also from inside a script). */
export function isNoPermission(error: unknown): boolean {
  const message = (error as { message?: unknown } | undefined)?.message;
  return typeof message === "string" && message.includes("NOPERM");
}

/**
 * A fenced write was rejected: its fencing token is lower than the highest token the key has seen
 * or than the service's current term, so a newer leader (or lock holder) exists. The writer is
 * stale and must stop the work it is doing; retrying with the same token can never succeed.
 */
export class StaleTokenError extends CatgaError {
  override name = "StaleTokenError";
  constructor(
    /** The data key (without the hash tag). */
    readonly key: string,
    /** The token the write carried. */
    readonly token: number,
    /** The highest token known to the store for that key or scope, which beat {@link token}. */
    readonly highest: number,
    options?: { cause?: unknown },
  ) {
    super(
      `fenced write to '${key}' with token ${token} rejected: the store has seen token ${highest} ` +
        "(a newer leader or lock holder exists; stop this work)",
      { code: "STALE_TOKEN", cause: options?.cause },
    );
  }
}

/** {@link acquireLock} with `wait: { timeoutMs }` did not get the lock in time. */
export class LockTimeoutError extends CatgaError {
  override name = "LockTimeoutError";
  constructor(
    /** The lock's name. */
    readonly lock: string,
    /** How long it waited. */
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`lock '${lock}' not acquired within ${timeoutMs} ms (another holder keeps it)`, {
      code: "LOCK_TIMEOUT",
      cause: options?.cause,
    });
  }
}

/** Why a term ended: see {@link LeadershipLostError}. */
export type LeadershipLossReason =
  /** A renew reached the store and was refused: the lease expired or another instance holds it. */
  | "renew-rejected"
  /** No renew succeeded within the renew deadline (store unreachable or slow): stepped down before the lease could expire. */
  | "renew-deadline"
  /** `stop()` was called. */
  | "stopped";

/**
 * The reason of a leadership (or lock) AbortSignal: the term is over. Work started under it must
 * stop; its fenced writes will be rejected once a newer term exists.
 */
export class LeadershipLostError extends CatgaError {
  override name = "LeadershipLostError";
  constructor(
    /** What ended the term. */
    readonly reason: LeadershipLossReason,
    /** The token of the term that ended. */
    readonly token: number,
    options?: { cause?: unknown },
  ) {
    super(`leadership with token ${token} lost: ${reason}`, {
      code: "LEADERSHIP_LOST",
      cause: options?.cause,
    });
  }
}

/** Why a lock's hold ended: see {@link LockLostError}. */
export type LockLossReason =
  /** An extension reached the store and was refused: the lock expired or another holder has it. */
  | "extend-rejected"
  /** No extension succeeded within the deadline (store unreachable or slow). */
  | "extend-deadline"
  /** `release()` was called. */
  | "released";

/** The reason of a lock's AbortSignal: the hold is over and work under it must stop. */
export class LockLostError extends CatgaError {
  override name = "LockLostError";
  constructor(
    /** The lock's name. */
    readonly lock: string,
    /** What ended the hold. */
    readonly reason: LockLossReason,
    /** The fencing token of the hold that ended. */
    readonly token: number,
    options?: { cause?: unknown },
  ) {
    super(`lock '${lock}' with token ${token} lost: ${reason}`, { code: "LOCK_LOST", cause: options?.cause });
  }
}
