/**
 * The live dashboard: a local web page with the topology's picture (the build's `topology.svg`)
 * and the state `catga status` reports, pushed every second. `catga up` serves it with kill and
 * scale (it owns the processes); `catga dashboard` serves it read-only for any running topology.
 */
import { dirname } from "node:path";
import { killInstance, scaleService } from "../local/cluster.js";
import type { HeartbeatBoard } from "../local/heartbeats.js";
import { type LocalState, readState } from "../local/state.js";
import { collectStatus } from "../local/status.js";
import { type DashboardServer, startDashboardServer } from "./server.js";

export {
  type DashboardActions,
  type DashboardServer,
  type DashboardServerOptions,
  type DashboardSnapshot,
  startDashboardServer,
} from "./server.js";

/** Options of {@link startDashboard}. */
export interface StartDashboardOptions {
  /** The heartbeats heard so far, kept up to date by the caller's subscription. */
  board: HeartbeatBoard;
  /** NATS of the topology (`--nats`, or the local cluster's servers). */
  natsUrls: readonly string[];
  /**
   * The local cluster (`.catga/`): re-read on every collection, so kills and scales from any
   * terminal show. @default none: what the heartbeats and NATS tell (`catga dashboard --nats`)
   */
  state?: LocalState;
  /** Offer kill and scale through the same functions as `catga kill` and `catga scale`. @default false */
  actions?: boolean;
  /** Where `topology.svg` is read. @default the folder of the local cluster's wiring.json */
  outDir?: string;
  /** The topology's name. @default the local cluster's */
  topology?: string;
  /** @default 0 (any free port) */
  port?: number;
  /** The working directory whose `.catga/` holds the state. @default process.cwd() */
  cwd?: string;
}

/** Starts the dashboard of a topology on 127.0.0.1. */
export async function startDashboard(options: StartDashboardOptions): Promise<DashboardServer> {
  const { board, state } = options;
  const cwd = options.cwd ?? process.cwd();
  const outDir = options.outDir ?? (state !== undefined ? dirname(state.wiring) : undefined);
  return await startDashboardServer({
    topology: options.topology ?? state?.topology ?? null,
    ...(outDir !== undefined ? { outDir } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    // The same collector as `catga status`, fed by the board instead of listening each time.
    collect: async () => {
      const current = state === undefined ? undefined : (readState(cwd) ?? state);
      return await collectStatus({
        natsUrls: options.natsUrls,
        board,
        ...(current !== undefined ? { state: current } : {}),
      });
    },
    ...(options.actions
      ? {
          actions: {
            kill: async (id, graceful) => {
              const instance = await killInstance(id, { graceful, cwd });
              board.forget(instance.id);
              return `${graceful ? "drained" : "killed"} ${instance.id} (pid ${instance.pid})`;
            },
            scale: async (service, replicas) => {
              const result = await scaleService(service, replicas, { cwd });
              for (const id of result.stopped) board.forget(id);
              if (result.started.length > 0) return `started ${result.started.join(", ")}`;
              if (result.stopped.length > 0) return `drained ${result.stopped.join(", ")}`;
              return `${service} already has ${replicas} instance(s)`;
            },
          },
        }
      : {}),
  });
}
