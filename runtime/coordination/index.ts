/**
 * Coordination of leader-mode services on Redis (or in memory): fenced leader election, standby
 * takeover, leader-only schedules, distributed locks and fenced writes. See docs/coordination.md.
 */
export {
  assertScope,
  type CoordinationBackend,
  coordinationKeys,
  type FenceResult,
  type LeaseHolder,
  lockScope,
  type TickClaim,
} from "./backend.js";
export {
  CoordinationUnavailableError,
  type LeadershipLossReason,
  LeadershipLostError,
  type LockLossReason,
  LockLostError,
  LockTimeoutError,
  RedisConfigError,
  RedisPermissionError,
  StaleTokenError,
} from "./errors.js";
export { FencedStore, type FencedStoreStats } from "./fenced-store.js";
export {
  type ElectorEvent,
  type ElectorState,
  type ElectorStats,
  LeaderElector,
  type LeaderElectorOptions,
} from "./leader-elector.js";
export { acquireLock, type Lock, type LockOptions } from "./lock.js";
export { MemoryCoordination, type MemoryCoordinationOptions } from "./memory-coordination.js";
export {
  backoffDelay,
  connectRedis,
  createRedis,
  describeRedis,
  parseRedisConfig,
  REDIS_ENV,
  type RedisAddress,
  type RedisCommonConfig,
  type RedisConfig,
  type RedisConnectionOptions,
  type RedisTlsOptions,
} from "./redis-connection.js";
export {
  RedisCoordination,
  type RedisCoordinationOptions,
  type RedisCoordinationStats,
} from "./redis-coordination.js";
export {
  runSchedule,
  type ScheduledRun,
  type ScheduleHandle,
  type ScheduleOptions,
  type ScheduleStats,
} from "./schedule.js";
