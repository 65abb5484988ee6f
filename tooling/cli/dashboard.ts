/**
 * `catga dashboard`: the live dashboard for any running topology, read-only. `catga up` serves the
 * same page with kill and scale, since it owns the processes; this command may watch a cluster it
 * did not start (`--nats`), so it offers no action at all.
 */
import { parseArgs } from "node:util";
import { natsTransport, type Transport } from "@catga/runtime";
import { OPS_USER } from "../../compiler/emit/_names.js";
import { startDashboard } from "../dashboard/index.js";
import { LocalClusterError } from "../local/errors.js";
import { HeartbeatBoard, watchHeartbeats } from "../local/heartbeats.js";
import { natsLogin, requireState } from "../local/state.js";
import { listenForStopSignals } from "./_signals.js";

interface Io {
  stdout(t: string): void;
  stderr(t: string): void;
}

/** The text of `catga dashboard --help`. */
export const DASHBOARD_HELP = `catga dashboard — a live web page of a running topology (read-only)

Usage: catga dashboard [--nats URL] [--port N] [--out DIR]

Serves a page on 127.0.0.1 (the URL is printed) with the topology's picture (topology.svg of the
build) and, updated every second, what 'catga status' reports: per service the instances, their
roles, the leader and its fencing token, handled and failed counts and rates; the NATS servers and
their routes; Redis's roles; saga counts and durable consumers. Without --nats: the local cluster
started here by 'catga up' (.catga/). Read-only: kill and scale are offered only by the dashboard
'catga up' serves, which owns the processes. Ctrl-C stops it.

Options:
  --nats URL       any NATS (comma-separated URLs) instead of the local cluster
  --port N         port on 127.0.0.1 (default: any free port)
  --out DIR        the build folder whose topology.svg is drawn (default: the local cluster's)
  -h, --help       show this help
`;

/** `catga dashboard`: resolves with the exit code once stopped by a signal. */
export async function dashboard(argv: readonly string[], io: Io): Promise<number> {
  let values: { nats?: string; port?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        nats: { type: "string" },
        port: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    io.stderr(`catga dashboard: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(DASHBOARD_HELP);
    return 0;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    io.stderr(`catga dashboard: --port is '${values.port}'; expected a port number (0: any free one)\n`);
    return 2;
  }
  const stop = listenForStopSignals();
  let transport: Transport | undefined;
  try {
    const state = values.nats === undefined ? requireState() : undefined;
    const natsUrls = values.nats?.split(",").map((u) => u.trim()) ?? state!.nats.urls;
    const board = new HeartbeatBoard();
    transport = await natsTransport({
      servers: natsUrls,
      name: "catga dashboard",
      connectTimeoutMs: 5000,
      // The local cluster's `ops` user reads heartbeats and stream state and changes nothing.
      ...natsLogin(state, OPS_USER),
    });
    watchHeartbeats(transport, board, state?.topology);
    const server = await startDashboard({
      board,
      natsUrls,
      ...(state !== undefined ? { state } : {}),
      ...(values.out !== undefined ? { outDir: values.out } : {}),
      port,
    });
    io.stdout(`catga dashboard: ${server.url} (127.0.0.1 only, read-only); Ctrl-C stops it\n`);
    await new Promise<void>((resolve) => stop.handle(() => resolve()));
    await server.close();
    return 0;
  } catch (error) {
    io.stderr(`catga dashboard: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof LocalClusterError ? 2 : 1;
  } finally {
    await transport?.close().catch(() => {});
    stop.dispose();
  }
}
