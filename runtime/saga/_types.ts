/**
 * The public shapes of a saga runner: its options, what `start` resolves with, its counters and
 * the runner itself. Kept apart from `startSagaRunner` so every part can name them.
 */
import type { RedeliveryPolicy } from "../_durable.js";
import type { ServiceDefinition } from "../api.js";
import type { Bus } from "../bus.js";
import type { CoordinationBackend } from "../coordination/backend.js";
import type { Logger } from "../log.js";
import type { Registry } from "../metrics.js";
import type { Wiring } from "../wiring.js";

/** Retry timing of saga steps and compensations (see runtime/_retry.ts for the policy). */
export interface SagaRetryPolicy {
  /**
   * Each attempt of a step waits at most this share of the step's timeout for a reply, so an
   * attempt that went to an instance that died is retried on another within the step's timeout.
   * @default 1/3
   */
  attemptShare?: number;
  /**
   * Shortest wait of one attempt, in milliseconds.
   * @default 100
   */
  minAttemptMs?: number;
  /**
   * First backoff before a retry; doubles per retry up to {@link maxBackoffMs}, with full jitter.
   * @default 50
   */
  baseBackoffMs?: number;
  /** @default 1000 */
  maxBackoffMs?: number;
}

/** Options of {@link startSagaRunner}. */
export interface SagaRunnerOptions {
  wiring: Wiring;
  /** The leader-mode service that runs the sagas (`runs` in the topology). */
  service: string;
  /** The service's definition: its `sagas` hold the mappings. */
  definition: ServiceDefinition;
  /** Sends the step commands; its transport carries the trigger subscriptions and replies. */
  bus: Bus;
  /** Where saga state lives (RedisCoordination or MemoryCoordination). */
  backend: CoordinationBackend;
  /** The service's hash tag (`leader.redisHashTag` in the wiring). */
  hashTag: string;
  /** The current term's fencing token: every write carries it. */
  token: number;
  /** Aborts when the term ends (demotion, shutdown): the runner stops advancing at once. */
  signal: AbortSignal;
  log?: Logger;
  /** Where `catga_sagas_*` metrics are counted (the host's registry). */
  metrics?: Registry;
  /**
   * Resumes only after this settles: the previous term's runner in the same process, so two local
   * loops never drive one saga.
   * @default nothing to wait for
   */
  after?: Promise<unknown>;
  /**
   * Subscribe to the saga triggers (events, and the commands that start sagas) on the bus's
   * transport. Without it, sagas start only through {@link SagaRunner.start}.
   * @default true
   */
  subscribe?: boolean;
  /** @default see {@link SagaRetryPolicy} */
  retry?: SagaRetryPolicy;
  /**
   * How long records of completed and compensated sagas are kept (they answer a redelivered
   * trigger with "already started"), in milliseconds. Failed sagas are kept until an operator
   * removes them.
   * @default 86_400_000 (24 h)
   */
  retentionMs?: number;
  /**
   * Backoff of a durable trigger given back after its saga could not start (the store failed).
   * @default { baseMs: 1000, maxMs: 30000 }
   */
  redelivery?: RedeliveryPolicy;
}

/** What {@link SagaRunner.start} resolves with. */
export interface SagaStarted {
  sagaId: string;
  /** The saga's first state. */
  state: unknown;
  /** Command triggers: the reply built by the definition's `reply` (JSON); else undefined. */
  reply: unknown;
  /** The trigger had started this saga before (a redelivery or a retry with the same message id). */
  duplicate: boolean;
}

/** Counters of one runner (one term). */
export interface SagaRunnerStats {
  /** Sagas started by a trigger in this term. */
  started: number;
  /** Unfinished sagas picked up from the store at the start of the term. */
  resumed: number;
  /** Triggers that had started their saga already. */
  duplicates: number;
  completed: number;
  compensated: number;
  failed: number;
  /** Step and compensation attempts retried after a transient failure. */
  retries: number;
  /** Writes rejected because a newer term exists (each one stops this runner). */
  staleWrites: number;
}

/** A saga runner for one leadership term. */
export interface SagaRunner {
  readonly stats: SagaRunnerStats;
  /** Resolves once unfinished sagas are resumed and the triggers subscribed. */
  readonly ready: Promise<void>;
  /** Resolves when the runner has stopped (term over, or {@link stop}) and every saga loop has exited. */
  readonly done: Promise<void>;
  /**
   * Starts saga `saga` for a trigger: persists its first state and drives it in the background.
   * A trigger with a message id seen before returns the existing saga (`duplicate: true`).
   *
   * Resolves only once the saga's record is persisted in the store (with its entry in the open
   * index, so the next leader resumes it); a duplicate resolves once the first start's record is.
   * So a trigger that must not be lost (a durable event or command) can be acknowledged when this
   * resolves, and redelivered when it rejects: a redelivery maps to the same saga id.
   *
   * @throws InvalidMessageError when the trigger payload fails its schema.
   * @throws NotLeaderError when the term is over.
   */
  start(
    saga: string,
    payload: unknown,
    trigger?: { messageId?: string; correlationId?: string },
  ): Promise<SagaStarted>;
  /** Sagas this runner is driving now. */
  inFlight(): number;
  /** Resolves when no saga is being driven (tests and benchmarks). */
  idle(): Promise<void>;
  /** Stops advancing, drains the trigger subscriptions and waits for every saga loop to exit. */
  stop(): Promise<void>;
}
