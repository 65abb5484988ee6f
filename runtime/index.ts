/**
 * `@catga/runtime`: what generated code and handler modules import. Named exports only; each file
 * of the runtime says what it owns.
 */
export type {
  Awaitable,
  CallOptions,
  ClientOptions,
  Emitter,
  EventHandler,
  EventHandlerDefinition,
  EventInfo,
  EventSpec,
  HandlerContext,
  HostContext,
  IrreversibleSagaStep,
  JobDefinition,
  LeaderServiceContext,
  Leadership,
  Logger,
  MessageBus,
  MessageSpec,
  PublishOptions,
  RequestHandlerDefinition,
  RequestSpec,
  SagaDefinition,
  SagaInfo,
  SagaStep,
  SagaStepDefinition,
  Schema,
  SchemaIssue,
  Sender,
  ServiceContext,
  ServiceDefinition,
  SubscribeOptions,
  Subscription,
} from "./api.js";
export {
  type Bus,
  type BusOptions,
  type BusStats,
  connectNats,
  createBus,
  memoryBus,
  type RetryPolicy,
} from "./bus.js";
// The `catga` command line (run, sagas, dead-letters), for the tooling's `catga`, which adds the
// local cluster's commands to it.
export { exitWhenDone, RUNTIME_COMMANDS, runCatga } from "./cli/bin.js";
export { definerName, HandlerModuleError, loadHandlerModule } from "./cli/handler-module.js";
export { ConfigError, type RunConfig, readRunConfig } from "./config.js";
export {
  CLIENT_NATS_USER,
  type ClientNatsOptions,
  type ConnectFromEnvOptions,
  clientNatsOptions,
  connectFromEnv,
  type EnvClientOptions,
} from "./connect.js";
export {
  acquireLock,
  CoordinationUnavailableError,
  connectRedis,
  createRedis,
  FencedStore,
  LeaderElector,
  LeadershipLostError,
  type Lock,
  LockLostError,
  type LockOptions,
  LockTimeoutError,
  MemoryCoordination,
  parseRedisConfig,
  type RedisConfig,
  RedisConfigError,
  RedisCoordination,
  RedisPermissionError,
  type RedisTlsOptions,
  runSchedule,
  StaleTokenError,
} from "./coordination/index.js";
export {
  type ConsumerReport,
  DeadLetterNotFoundError,
  type DurableReport,
  durableReport,
  type StreamReport,
} from "./dead-letters.js";
export {
  CatgaError,
  DomainError,
  ERROR_CODES,
  fromWireError,
  InvalidMessageError,
  type MessageIssue,
  NoRespondersError,
  NotLeaderError,
  PayloadTooLargeError,
  StreamConfigConflictError,
  StreamPublishError,
  TimeoutError,
  TlsError,
  type TlsFailure,
  toWireError,
  type WireError,
  WireVersionError,
} from "./errors.js";
export {
  DefinitionMismatchError,
  type Heartbeat,
  type Host,
  type HostCounters,
  type HostOptions,
  type LeaderGate,
  type Role,
  startHost,
} from "./host.js";
export { type ElectedGate, type LeaderGateOptions, leaderGate } from "./leadership.js";
export {
  createLogger,
  isLogLevel,
  LOG_LEVELS,
  type LoggerOptions,
  type LogLevel,
  silentLogger,
} from "./log.js";
export {
  type MemoryInstance,
  type MemoryTopology,
  type MemoryTopologyOptions,
  startMemoryTopology,
  UnknownInstanceError,
  UnknownServiceError,
} from "./memory-topology.js";
export {
  eventSpec,
  parseMessage,
  publishEvent,
  requester,
  requestSpec,
  sendRequest,
  subscribeEvent,
  subscriber,
} from "./messaging.js";
export { Registry } from "./metrics.js";
export {
  type SagaCounts,
  type SagaErrorRecord,
  type SagaRecord,
  type SagaRetryPolicy,
  type SagaRunner,
  type SagaRunnerOptions,
  type SagaRunnerStats,
  type SagaStarted,
  type SagaStatus,
  type SagaStatusEntry,
  type SagaStatusReport,
  sagaId,
  sagaKeys,
  sagaStatus,
  startSagaRunner,
  stepKey,
} from "./saga.js";
export {
  commandSaga,
  eventHandler,
  eventSaga,
  irreversibleSagaStep,
  requestHandler,
  sagaStep,
  scheduledJob,
} from "./service-definition.js";
export { DEFAULT_MAX_PAYLOAD, MemoryHub, memoryTransport } from "./transport/memory.js";
export { type NatsConnectOptions, natsTransport } from "./transport/nats.js";
export type {
  ConsumerConfig,
  ConsumerState,
  DurableMessage,
  DurableStreams,
  DurableSubscription,
  Headers,
  IncomingMessage,
  StoredMessage,
  StreamConfig,
  StreamState,
  Transport,
  TransportSubscription,
} from "./transport/types.js";
export {
  InvalidWiringError,
  parseWiring,
  WIRING_VERSION,
  type Wiring,
  type WiringService,
  wiringSchema,
} from "./wiring.js";
