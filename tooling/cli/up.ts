/**
 * `catga up`: compile a topology, start its infrastructure and every replica as local processes,
 * and show a live view from the heartbeats until Ctrl-C, which drains and stops everything. With
 * `--detach` it starts, writes `.catga/`, prints a summary and exits; with `--memory` it runs the
 * whole topology in this process on the in-memory transport and coordination, with no servers.
 */
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Heartbeat, LogLevel, ServiceDefinition, Transport } from "@catga/runtime";
import {
  ConfigError,
  createLogger,
  DefinitionMismatchError,
  InvalidWiringError,
  isLogLevel,
  LOG_LEVELS,
  loadHandlerModule,
  natsTransport,
} from "@catga/runtime";
import { CLIENT_USER, OPS_USER } from "../../compiler/emit/_names.js";
import { CertificateToolError } from "../certs/index.js";
import { type DashboardServer, startDashboard } from "../dashboard/index.js";
import { sleep } from "../local/_process.js";
import {
  BuildFailedError,
  buildTopology,
  defaultOut,
  startLocalCluster,
  stopLocalCluster,
} from "../local/cluster.js";
import { LocalClusterError, MissingBinaryError, StartInterruptedError } from "../local/errors.js";
import { HeartbeatBoard, watchHeartbeats } from "../local/heartbeats.js";
import { LiveViewPainter, renderLiveView } from "../local/live-view.js";
import { formatLogLine } from "../local/log-lines.js";
import { type LocalState, natsLogin, readState, statePaths } from "../local/state.js";
import { listenForStopSignals, type StopSignals, signalExitCode } from "./_signals.js";

/** The text of `catga up --help`. */
export const UP_HELP = `catga up — run a topology locally

Usage: catga up FILE.catga [--detach] [--memory] [--tls] [--out DIR] [--log-level LEVEL]
                [--dashboard-port N] [--no-dashboard]

Compiles FILE (catgac build), starts a NATS cluster and Redis as local processes on free ports
(nats-server and redis-server from PATH), then every replica of every service as its own
'catga run' process with its handler module (services/<service>.ts beside FILE unless the topology
says otherwise), and shows a live view of the instances. Ctrl-C (or SIGTERM, or closing the terminal) drains and stops everything;
during start-up it stops what was started so far.
State (ports, pids, logs) is kept in .catga/ in the working directory for 'catga status', 'kill',
'scale' and 'down'.

Options:
  --detach         start, print a summary and exit; the cluster keeps running ('catga down' stops it)
  --memory         everything in this process: in-memory transport and coordination, no servers
  --tls            NATS and Redis on TLS only, with a CA and server certificate made for this run
                   in .catga/tls/ (openssl from PATH); instances and catga commands trust that CA
  --out DIR        build output folder (default out/<name>, as catgac build)
  --log-level L    debug, info (default), warn or error: with --memory, the instances' log lines
                   printed here (each with its instance); otherwise what they write to .catga/logs/
  --dashboard-port N  the live dashboard's port on 127.0.0.1 (default: any free port; its URL is
                   printed); it shows the topology and the state, and kills and scales
  --no-dashboard   serve no dashboard (the terminal view only)
  -h, --help       show this help

Exit codes: 0 stopped cleanly (or started, with --detach); 1 the topology has errors or an instance
failed to start; 2 usage error, missing binary (nats-server, redis-server, openssl), a handler module that is
missing, throws while loading or exports another service's definition, or a cluster already runs
here; 130 a second Ctrl-C cut the drain short, or a signal stopped the start-up (128 + the signal's
number: 130 SIGINT, 143 SIGTERM, 129 SIGHUP); 3 an internal error (a bug: please report it).
`;

interface Io {
  stdout(t: string): void;
  stderr(t: string): void;
  /** Whether stdout is a terminal (the live view is then redrawn in place). */
  tty?: boolean;
}

/** Runs `catga up` with `argv` (after `up`); resolves with the exit code. */
export async function up(argv: readonly string[], io: Io): Promise<number> {
  let values: {
    detach?: boolean;
    memory?: boolean;
    tls?: boolean;
    out?: string;
    help?: boolean;
    "log-level"?: string;
    "dashboard-port"?: string;
    "no-dashboard"?: boolean;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        detach: { type: "boolean" },
        memory: { type: "boolean" },
        tls: { type: "boolean" },
        out: { type: "string" },
        "log-level": { type: "string" },
        "dashboard-port": { type: "string" },
        "no-dashboard": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    io.stderr(`catga up: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(UP_HELP);
    return 0;
  }
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) {
    io.stderr("catga up: expected exactly one FILE.catga; run 'catga up --help'\n");
    return 2;
  }
  const level = values["log-level"] ?? "info";
  if (!isLogLevel(level)) {
    io.stderr(`catga up: --log-level is '${level}'; expected one of ${LOG_LEVELS.join(", ")}\n`);
    return 2;
  }
  if (values.memory && values.detach) {
    io.stderr("catga up: --memory runs the topology inside this process, so it cannot --detach\n");
    return 2;
  }
  const dashboardPort = values["dashboard-port"] === undefined ? 0 : Number(values["dashboard-port"]);
  if (!Number.isInteger(dashboardPort) || dashboardPort < 0 || dashboardPort > 65_535) {
    io.stderr(
      `catga up: --dashboard-port is '${values["dashboard-port"]}'; expected a port number (0: any free one)\n`,
    );
    return 2;
  }
  if (values["no-dashboard"] && values["dashboard-port"] !== undefined) {
    io.stderr("catga up: --no-dashboard and --dashboard-port contradict each other\n");
    return 2;
  }
  if ((values.memory || values.detach) && values["dashboard-port"] !== undefined) {
    io.stderr(
      `catga up: --${values.memory ? "memory" : "detach"} serves no dashboard (run 'catga dashboard' beside a detached cluster)\n`,
    );
    return 2;
  }
  if (values.memory && values.tls) {
    io.stderr("catga up: --memory runs no servers, so there is nothing to put on --tls\n");
    return 2;
  }
  // From here on a signal stops whatever has been started (tooling/cli/_signals.ts).
  const stop = listenForStopSignals();
  try {
    if (values.memory) return await upInMemory(file, values.out, io, level, stop);
    const dashboard = values["no-dashboard"] ? undefined : { port: dashboardPort };
    return await upOnServers(file, values, io, level, stop, dashboard);
  } finally {
    stop.dispose();
  }
}

/** `catga up` with servers: start (a signal stops the start), then --detach's summary or the live view. */
async function upOnServers(
  file: string,
  values: { detach?: boolean; tls?: boolean; out?: string; "log-level"?: string },
  io: Io,
  level: LogLevel,
  stop: StopSignals,
  dashboard: { port: number } | undefined,
): Promise<number> {
  const progress = (line: string) => io.stderr(`catga up: ${line}\n`);
  let state: LocalState;
  try {
    state = await startLocalCluster({
      file,
      ...(values.out !== undefined ? { out: values.out } : {}),
      progress,
      ...(values.detach ? {} : { supervisor: process.pid }),
      ...(values.tls ? { tls: true } : {}),
      ...(values["log-level"] !== undefined ? { env: { ...process.env, CATGA_LOG_LEVEL: level } } : {}),
      signal: stop.signal,
    });
  } catch (error) {
    return failure(error, io);
  }
  if (values.detach) {
    io.stdout(summary(state));
    return 0;
  }
  return await liveView(state, io, stop, dashboard);
}

/** One line and the exit code for a failed start. */
function failure(error: unknown, io: Io): number {
  if (error instanceof StartInterruptedError) {
    io.stderr(`catga up: ${error.message}; no process left\n`);
    return signalExitCode(error.signal);
  }
  if (error instanceof BuildFailedError) {
    io.stderr(`${error.output.trimEnd()}\ncatga up: the topology has errors; nothing was started\n`);
    return 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr(`catga up: ${message}\n`);
  if (
    error instanceof MissingBinaryError ||
    error instanceof CertificateToolError || // --tls without openssl
    error instanceof LocalClusterError ||
    error instanceof InvalidWiringError ||
    error instanceof ConfigError || // a handler module that is missing, throws or exports the wrong thing
    error instanceof DefinitionMismatchError
  ) {
    return 2;
  }
  return 1;
}

/** What `--detach` prints: where everything runs and how to reach it. */
function summary(state: LocalState): string {
  const lines = [`${state.topology} is running (state in ${statePaths().dir})`];
  lines.push(`  nats     ${state.nats.urls.join(",")}${state.nats.external ? " (external)" : ""}`);
  lines.push(...clientLines(state));
  if (state.redis !== undefined) {
    const where = Object.entries(state.redis.env)
      .filter(([k]) => k !== "CATGA_REDIS_MODE")
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    lines.push(`  redis    ${state.redis.mode}${state.redis.external ? " (external)" : ""}: ${where}`);
  }
  const byService = new Map<string, string[]>();
  for (const i of state.instances)
    byService.set(i.service, [...(byService.get(i.service) ?? []), `${i.id} (pid ${i.pid})`]);
  for (const [service, ids] of byService) lines.push(`  ${service.padEnd(8)} ${ids.join(", ")}`);
  lines.push("catga status shows roles and load; catga kill / scale / down operate on it");
  return `${lines.join("\n")}\n`;
}

/**
 * How a client script connects to the local cluster: NATS users are on, as in the deployments, so
 * it logs in as `client` with this run's password and the inbox prefix that user may subscribe to.
 * Nothing for an existing NATS (its credentials are the caller's).
 */
export function clientLines(state: LocalState): string[] {
  const login = natsLogin(state, CLIENT_USER);
  if (login.password === undefined) return [];
  const tls = login.tls !== undefined ? `, tls: { caFile: ${JSON.stringify(login.tls.caFile)} }` : "";
  return [
    `  client   user ${login.user}, password ${login.password} (this run's; all in .catga/state.json)${login.tls !== undefined ? `; TLS: trust the CA ${login.tls.caFile}` : ""}`,
    `           connectNats({ servers: ${JSON.stringify(state.nats.urls.join(","))}, user: "${login.user}", password: "${login.password}", inboxPrefix: "${login.inboxPrefix}"${tls} })`,
    `           or, from this folder or below, await connect${state.topology.charAt(0).toUpperCase()}${state.topology.slice(1)}() (reads .catga/state.json)`,
  ];
}

/** The foreground mode: redraw the view every second until Ctrl-C (or `catga down` elsewhere). */
async function liveView(
  state: LocalState,
  io: Io,
  stop: StopSignals,
  dashboardOptions: { port: number } | undefined,
): Promise<number> {
  const board = new HeartbeatBoard();
  let transport: Transport | undefined;
  try {
    transport = await natsTransport({
      servers: state.nats.urls,
      name: "catga up",
      connectTimeoutMs: 5000,
      // Heartbeats are for the `ops` user: a service's own user may not read another's.
      ...natsLogin(state, OPS_USER),
    });
    watchHeartbeats(transport, board, state.topology);
  } catch (error) {
    io.stderr(
      `catga up: cannot watch heartbeats: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  }
  // The dashboard shares the view's board, and acts through catga kill's and catga scale's code.
  let dashboard: DashboardServer | undefined;
  if (dashboardOptions !== undefined) {
    try {
      dashboard = await startDashboard({
        board,
        natsUrls: state.nats.urls,
        state,
        actions: true,
        port: dashboardOptions.port,
      });
    } catch (error) {
      io.stderr(
        `catga up: cannot serve the dashboard: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    }
  }
  // Printed once, above the view (which redraws only its own lines).
  const client = clientLines(state);
  if (dashboard !== undefined) client.push(`  dashboard ${dashboard.url} (127.0.0.1 only)`);
  if (client.length > 0) io.stdout(`${client.join("\n")}\n`);
  const painter = new LiveViewPainter(io.stdout, io.tty ?? false);
  const subtitle = `${state.nats.urls.length} NATS${state.redis ? `, redis ${state.redis.mode}` : ""} — Ctrl-C stops everything`;
  let stopping: Promise<number> | undefined;
  const stopAll = (): Promise<number> => {
    stopping ??= (async () => {
      painter.reset();
      io.stderr("catga up: draining and stopping everything (Ctrl-C again to kill at once)\n");
      await dashboard?.close().catch(() => {});
      await transport?.close().catch(() => {});
      try {
        await stopLocalCluster({ progress: (line) => io.stderr(`catga up: ${line}\n`) });
        io.stderr("catga up: stopped; no process left\n");
        return 0;
      } catch (error) {
        io.stderr(`catga up: ${error instanceof Error ? error.message : String(error)}\n`);
        return 1;
      }
    })();
    return stopping;
  };
  return await new Promise<number>((resolveExit) => {
    let signals = 0;
    const onSignal = () => {
      signals++;
      if (signals === 1) {
        void stopAll().then(resolveExit);
        return;
      }
      // The operator insists: kill what still runs, without a drain.
      void dashboard?.close().catch(() => {});
      void stopLocalCluster({ graceMs: 0 })
        .catch(() => undefined)
        .then(() => resolveExit(130));
    };
    stop.handle(onSignal);
    const tick = async () => {
      while (stopping === undefined) {
        const current = readState();
        if (current === undefined) {
          // `catga down` ran in another terminal: it stopped everything already.
          await transport?.close().catch(() => {});
          await dashboard?.close().catch(() => {});
          io.stderr("catga up: the cluster was stopped (catga down)\n");
          resolveExit(0);
          return;
        }
        painter.paint(
          renderLiveView({
            topology: state.topology,
            beats: board.list(),
            expected: current.instances,
            subtitle,
          }),
        );
        await sleep(1000);
      }
    };
    void tick();
  });
}

/** `--memory`: the whole topology in this process (startMemoryTopology), with the same live view. */
async function upInMemory(
  file: string,
  out: string | undefined,
  io: Io,
  level: LogLevel,
  stop: StopSignals,
): Promise<number> {
  const { startMemoryTopology } = await import("@catga/runtime");
  let wiring: Awaited<ReturnType<typeof buildTopology>>["wiring"];
  const definitions: Record<string, ServiceDefinition> = {};
  try {
    io.stderr(`catga up: building ${file}\n`);
    ({ wiring } = await buildTopology(resolve(file), resolve(out ?? defaultOut(file))));
    for (const [name, s] of Object.entries(wiring.services)) {
      definitions[name] = await loadHandlerModule(
        resolve(dirname(resolve(file)), s.handler),
        name,
        wiring.topology,
      );
    }
    // Nothing runs yet: a signal so far needs no stopping.
    if (stop.signal.aborted) throw new StartInterruptedError(String(stop.signal.reason), 0);
  } catch (error) {
    return failure(error, io);
  }
  const painter = new LiveViewPainter(io.stdout, io.tty ?? false);
  // No log files in memory: the instances' lines (each naming its instance) are printed here,
  // above the live view.
  const log = createLogger(
    {},
    { level, sink: (line) => painter.interject(() => io.stderr(`${formatLogLine(line)}\n`)) },
  );
  let topology: Awaited<ReturnType<typeof startMemoryTopology>>;
  try {
    topology = await startMemoryTopology({ wiring, definitions, log });
  } catch (error) {
    return failure(error, io);
  }
  io.stderr(`catga up: ${topology.instances().length} instances running in this process (no servers)\n`);
  const board = new HeartbeatBoard();
  const seen = new Map<string, number>();
  return await new Promise<number>((resolveExit) => {
    let stopping = false;
    const onSignal = () => {
      if (stopping) {
        resolveExit(130);
        return;
      }
      stopping = true;
      io.stderr("catga up: draining and stopping every instance\n");
      topology.stop().then(
        () => resolveExit(0),
        () => resolveExit(1),
      );
    };
    // A signal while the instances started is handed over now, and stops them.
    stop.handle(onSignal);
    void (async () => {
      while (!stopping) {
        for (const beat of topology.heartbeats() as Heartbeat[]) {
          // Only a new heartbeat counts as one: the topology keeps the last of stopped instances too.
          if (seen.get(beat.instance) !== beat.at) board.add(beat, beat.at);
          seen.set(beat.instance, beat.at);
        }
        const expected = topology.instances().map((i) => ({ id: i.id, service: i.service }));
        painter.paint(
          renderLiveView({
            topology: wiring.topology,
            beats: board.list(),
            expected,
            subtitle: "in memory — Ctrl-C stops",
          }),
        );
        await sleep(1000);
      }
    })();
  });
}
