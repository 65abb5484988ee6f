/**
 * `catga status`, `kill`, `scale` and `down`: the commands that operate on a running topology,
 * the local cluster of the working directory (`.catga/`) or, for `status`, any NATS.
 */
import { parseArgs } from "node:util";
import { isAlive } from "../local/_process.js";
import { killInstance, scaleService, stopLocalCluster } from "../local/cluster.js";
import { LocalClusterError } from "../local/errors.js";
import { readState, requireState } from "../local/state.js";
import { collectStatus, formatStatus } from "../local/status.js";

interface Io {
  stdout(t: string): void;
  stderr(t: string): void;
}

/** The text of `catga status --help`. */
export const STATUS_HELP = `catga status — what runs, who leads, how loaded

Usage: catga status [--json] [--nats URL]

Listens to the instances' heartbeats for 2.5 s (up to 4.5 s, until each was heard twice) and prints
every service and instance with its role (peer, leader, standby), the leader and its fencing token,
messages handled and failed, the rate, and the age of the last heartbeat; then the NATS servers with their routes and Redis with each node's role (or the cluster
state). Without --nats: the local cluster started here by 'catga up' (.catga/).

Options:
  --json           print one JSON object (shape: docs/local.md)
  --nats URL       any NATS (comma-separated URLs) instead of the local cluster
  -h, --help       show this help
`;

/** The text of `catga kill --help`. */
export const KILL_HELP = `catga kill — end one instance of the local cluster

Usage: catga kill INSTANCE [--graceful]

SIGKILL by default (a crash: a leader's lease runs out before a standby takes over); with
--graceful SIGTERM (a drain: a leader releases its lease and a standby takes over at once).
INSTANCE is <service>-<n>, as 'catga status' lists them.
`;

/** The text of `catga scale --help`. */
export const SCALE_HELP = `catga scale — change the number of instances of a service

Usage: catga scale SERVICE=N

Starts new instances (numbered after the highest) and waits until they are ready, or drains the
highest-numbered ones (SIGTERM, SIGKILL after 15 s).
`;

/** The text of `catga down --help`. */
export const DOWN_HELP = `catga down — stop the local cluster

Usage: catga down

Drains every instance (SIGTERM, SIGKILL after 15 s), then stops the NATS and Redis servers, checks
that no process is left and removes .catga/.
`;

/** Turns an error into one line and the exit code: 2 for a cluster that is not as needed, else 1. */
function fail(command: string, error: unknown, io: Io): number {
  io.stderr(`catga ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
  return error instanceof LocalClusterError ? 2 : 1;
}

function parse(
  command: string,
  argv: readonly string[],
  options: Record<string, { type: "boolean" | "string"; short?: string }>,
  io: Io,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } | undefined {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: true, options });
  } catch (error) {
    io.stderr(`catga ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
    return undefined;
  }
}

/** `catga status`. */
export async function status(argv: readonly string[], io: Io): Promise<number> {
  const args = parse(
    "status",
    argv,
    { json: { type: "boolean" }, nats: { type: "string" }, help: { type: "boolean", short: "h" } },
    io,
  );
  if (args === undefined) return 2;
  if (args.values.help) {
    io.stdout(STATUS_HELP);
    return 0;
  }
  if (args.positionals.length > 0) {
    io.stderr("catga status: takes no arguments; run 'catga status --help'\n");
    return 2;
  }
  try {
    const natsFlag = args.values.nats as string | undefined;
    const state = natsFlag === undefined ? requireState() : undefined;
    const natsUrls = natsFlag?.split(",").map((u) => u.trim()) ?? state!.nats.urls;
    const report = await collectStatus({ natsUrls, ...(state !== undefined ? { state } : {}) });
    io.stdout(
      args.values.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report, state?.topology),
    );
    return 0;
  } catch (error) {
    return fail("status", error, io);
  }
}

/** `catga kill`. */
export async function kill(argv: readonly string[], io: Io): Promise<number> {
  const args = parse(
    "kill",
    argv,
    { graceful: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    io,
  );
  if (args === undefined) return 2;
  if (args.values.help) {
    io.stdout(KILL_HELP);
    return 0;
  }
  const [id, ...extra] = args.positionals;
  if (id === undefined || extra.length > 0) {
    io.stderr("catga kill: expected one INSTANCE (e.g. order-0); run 'catga kill --help'\n");
    return 2;
  }
  try {
    const graceful = args.values.graceful === true;
    const instance = await killInstance(id, { graceful });
    io.stdout(`${graceful ? "drained" : "killed"} ${instance.id} (pid ${instance.pid})\n`);
    return 0;
  } catch (error) {
    return fail("kill", error, io);
  }
}

/** `catga scale`. */
export async function scale(argv: readonly string[], io: Io): Promise<number> {
  const args = parse("scale", argv, { help: { type: "boolean", short: "h" } }, io);
  if (args === undefined) return 2;
  if (args.values.help) {
    io.stdout(SCALE_HELP);
    return 0;
  }
  const match =
    args.positionals.length === 1 ? /^([A-Za-z_][A-Za-z0-9_]*)=(\d+)$/.exec(args.positionals[0]!) : null;
  if (match === null) {
    io.stderr("catga scale: expected SERVICE=N (e.g. order=7); run 'catga scale --help'\n");
    return 2;
  }
  try {
    const result = await scaleService(match[1]!, Number(match[2]), {
      progress: (line) => io.stderr(`catga scale: ${line}\n`),
    });
    if (result.started.length > 0) io.stdout(`started ${result.started.join(", ")}\n`);
    else if (result.stopped.length > 0) io.stdout(`drained ${result.stopped.join(", ")}\n`);
    else io.stdout(`${match[1]} already has ${match[2]} instance(s)\n`);
    return 0;
  } catch (error) {
    return fail("scale", error, io);
  }
}

/** `catga down`. */
export async function down(argv: readonly string[], io: Io): Promise<number> {
  const args = parse("down", argv, { help: { type: "boolean", short: "h" } }, io);
  if (args === undefined) return 2;
  if (args.values.help) {
    io.stdout(DOWN_HELP);
    return 0;
  }
  try {
    const supervisor = readState()?.supervisor;
    const result = await stopLocalCluster({ progress: (line) => io.stderr(`catga down: ${line}\n`) });
    if (result === undefined) {
      io.stdout("no local cluster here; nothing to stop\n");
      return 0;
    }
    io.stdout(`stopped ${result.topology}: ${result.pids.length} processes, none left\n`);
    if (supervisor !== undefined && isAlive(supervisor)) {
      // The 'catga up' showing the live view notices that the state is gone and exits on its own.
      io.stderr(`catga down: the 'catga up' in the foreground (pid ${supervisor}) exits too\n`);
    }
    return 0;
  } catch (error) {
    return fail("down", error, io);
  }
}
