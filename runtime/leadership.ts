/**
 * Leadership of a leader-mode instance: a {@link LeaderElector} on a coordination backend (Redis or
 * in memory) adapted to the host's {@link LeaderGate}, plus the hand-over announcement over the
 * message bus. A leader that stops gracefully releases its lease and announces it on the service's
 * release subject; standbys hearing it try at once instead of waiting for their next retry, which
 * turns a hand-over from "up to a retry period" into tens of milliseconds.
 */
import type { CoordinationBackend } from "./coordination/backend.js";
import { LeaderElector, type LeaderElectorOptions } from "./coordination/leader-elector.js";
import type { LeaderGate } from "./host.js";
import type { Logger } from "./log.js";
import type { Transport } from "./transport/types.js";
import type { WiringService } from "./wiring.js";

/** Options of {@link leaderGate}. */
export interface LeaderGateOptions {
  backend: CoordinationBackend;
  /** The service's wiring (leader mode): lease, hash tag and release subject. */
  service: WiringService;
  instanceId: string;
  /** Carries the release announcement; standbys listen on it. */
  transport: Transport;
  log?: Logger;
  /** Overrides of the elector's timing (tests, benchmarks). */
  timing?: Pick<LeaderElectorOptions, "renewIntervalMs" | "renewDeadlineMs" | "retryPeriodMs">;
}

/** A leader gate with its elector, for metrics and status. */
export interface ElectedGate extends LeaderGate {
  readonly elector: LeaderElector;
}

/**
 * Creates the gate. Nothing happens until the host calls `start`.
 *
 * @throws TypeError when the service is not in leader mode.
 */
export function leaderGate(options: LeaderGateOptions): ElectedGate {
  const leader = options.service.leader;
  if (leader === undefined) throw new TypeError("leaderGate needs a leader-mode service");
  const elector = new LeaderElector({
    backend: options.backend,
    hashTag: leader.redisHashTag,
    instanceId: options.instanceId,
    leaseMs: leader.leaseMs,
    ...(options.log ? { logger: options.log } : {}),
    ...options.timing,
  });
  const encoder = new TextEncoder();
  let unsubscribe: (() => void) | undefined;
  let announcements: { unsubscribe(): void } | undefined;
  return {
    elector,
    start(events) {
      unsubscribe = elector.subscribe((e) => {
        if (e.type === "elected") events.onElected({ fencingToken: BigInt(e.token), signal: e.signal });
        else events.onDemoted(e.reason);
      });
      announcements = options.transport.subscribe(leader.releaseSubject, {}, (msg) => {
        const from = new TextDecoder().decode(msg.data);
        if (from !== options.instanceId) elector.tryNow();
      });
      elector.start();
    },
    async stop({ release }) {
      const wasLeader = elector.state === "leader";
      await elector.stop({ release });
      unsubscribe?.();
      announcements?.unsubscribe();
      if (release && wasLeader) {
        try {
          options.transport.publish(leader.releaseSubject, encoder.encode(options.instanceId));
          await options.transport.flush();
        } catch (error) {
          // Standbys still take over at their next retry; the announcement only makes it immediate.
          options.log?.warn("could not announce the release", { error });
        }
      }
    },
  };
}
