/**
 * The local cluster behind `catga up`, `status`, `kill`, `scale` and `down`: infrastructure and
 * replicas as local processes, the state in `.catga/`, heartbeats, the status report and the live
 * view. The in-memory runner (`startMemoryTopology`) is the runtime's: runtime/memory-topology.ts.
 */
export {
  BuildFailedError,
  buildTopology,
  defaultOut,
  killInstance,
  type LocalOptions,
  type StartLocalClusterOptions,
  scaleService,
  startInstances,
  startLocalCluster,
  stopLocalCluster,
} from "./cluster.js";
export { LocalClusterError, MissingBinaryError, StartInterruptedError } from "./errors.js";
export { HeartbeatBoard, heartbeatSubject, type InstanceBeat, watchHeartbeats } from "./heartbeats.js";
export {
  checkBinaries,
  externalRedisEnv,
  type InfraContext,
  natsRoutes,
  startNatsInfra,
  startRedisInfra,
} from "./infra.js";
export { type CommandLine, type Launchers, launchers } from "./launcher.js";
export { type LiveViewInput, LiveViewPainter, renderLiveView } from "./live-view.js";
export {
  type LocalInstance,
  type LocalNatsServer,
  type LocalRedisNode,
  type LocalState,
  readState,
  STATE_DIR,
  statePaths,
  stateSchema,
} from "./state.js";
export {
  type CollectStatusOptions,
  collectStatus,
  formatStatus,
  type InstanceStatus,
  type RedisNodeStatus,
  type ServiceStatus,
  type StatusReport,
  servicesOf,
} from "./status.js";
