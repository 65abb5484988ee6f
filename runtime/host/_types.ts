/**
 * The public shapes of a host: its options, what it reports and the handle a caller gets back.
 * Kept apart from `startHost` so every part of the host can name them without importing the entry.
 */

import type { RedeliveryPolicy } from "../_durable.js";
import type { WireVersion } from "../_wire.js";
import type { ServiceDefinition } from "../api.js";
import type { Bus } from "../bus.js";
import type { CoordinationBackend } from "../coordination/backend.js";
import type { Logger } from "../log.js";
import type { Registry } from "../metrics.js";
import type { SagaRunner } from "../saga.js";
import type { Transport } from "../transport/types.js";
import type { Wiring } from "../wiring.js";

/** The role an instance reports: a p2p peer, or the leader or a standby of a leader-mode service. */
export type Role = "peer" | "leader" | "standby";

/** A leadership term as the coordination layer hands it over: its token, and a signal that aborts when it ends. */
export interface Term {
  fencingToken: bigint;
  signal: AbortSignal;
}

/**
 * Leadership of a leader-mode service, as the host needs it: the coordination layer (a Redis lease
 * or its in-memory twin) calls `onElected` when this instance becomes leader and `onDemoted` when it
 * stops being one.
 */
export interface LeaderGate {
  start(events: {
    onElected(term: { fencingToken: bigint; signal: AbortSignal }): void;
    onDemoted(reason: string): void;
  }): void;
  /** Stops campaigning; with `release`, gives the lease up so a standby takes over at once. */
  stop(options: { release: boolean }): Promise<void>;
}

/** Options of {@link startHost}. */
export interface HostOptions {
  wiring: Wiring;
  service: string;
  definition: ServiceDefinition;
  transport: Transport;
  /** @default host name and process id */
  instanceId?: string;
  log?: Logger;
  /**
   * The wire version this instance writes (its requests and events; replies are the same in every
   * version): 3 while replicas of a build that cannot read version 4 still run, 2 while replicas of
   * a build before version 3 still run (docs/runtime.md, "Versions during a rollout").
   * @default 4
   */
  wireVersion?: WireVersion;
  /** Port of /healthz, /readyz and /metrics; `undefined` starts no HTTP server (embedded use). */
  healthPort?: number;
  /**
   * Heartbeat period in milliseconds.
   * @default 2000
   */
  heartbeatMs?: number;
  /** Required in leader mode: who decides when this instance leads. */
  leader?: LeaderGate;
  /**
   * Required for scheduled jobs (leader mode): where ticks are claimed, so each tick runs at most
   * once across the cluster, even across a change of leader.
   */
  coordination?: CoordinationBackend;
  /**
   * Backoff of a durable event's redeliveries after its handler failed (doubling from `baseMs`,
   * with jitter, up to `maxMs`).
   * @default { baseMs: 1000, maxMs: 30000 }
   */
  durableRedelivery?: RedeliveryPolicy;
}

/** Per-instance counters, as heartbeats and status report them. */
export interface HostCounters {
  handled: number;
  errors: number;
  invalid: number;
  inFlight: number;
}

/** The heartbeat an instance publishes on its service's heartbeat subject. */
export interface Heartbeat {
  topology: string;
  service: string;
  instance: string;
  role: Role;
  mode: "p2p" | "leader";
  pid: number;
  /** Leader only: the current term's fencing token, as a decimal string (it is a 64-bit counter). */
  fencingToken?: string;
  counters: HostCounters;
  ready: boolean;
  /** Epoch ms when sent. */
  at: number;
}

/** A running instance. */
export interface Host {
  readonly instanceId: string;
  readonly role: Role;
  readonly counters: HostCounters;
  readonly metrics: Registry;
  /** The bus this instance sends and emits through. */
  readonly bus: Bus;
  /** Leader of a service that runs sagas: the current term's saga runner. */
  readonly sagas: SagaRunner | undefined;
  ready(): boolean;
  /** The health server's port, when one was started. */
  readonly healthPort: number | undefined;
  /**
   * Graceful shutdown: readiness off, subscriptions drained, in-flight work awaited (at most
   * `graceMs`), leadership released, connection drained.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
  /**
   * Simulates a crash, as a SIGKILL would end a process (in-process topologies and tests): the
   * instance stops answering at once, its subscriptions vanish with its connection (nothing is
   * drained), work in flight is abandoned (its signal aborts and its replies go nowhere), and it
   * stops campaigning WITHOUT releasing its lease, so a standby takes over only once the lease has
   * run out, with a higher fencing token.
   */
  crash(): Promise<void>;
}
