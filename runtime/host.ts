/**
 * The service host, from its usual import path: see ./host/index.ts for what it does and how its
 * parts fit together.
 */
export {
  DefinitionMismatchError,
  type Heartbeat,
  type Host,
  type HostCounters,
  type HostOptions,
  type LeaderGate,
  type Role,
  startHost,
} from "./host/index.js";
