/**
 * Process entry of `catga` as the `catga` package installs it: the runtime's commands (`run`,
 * `sagas`, `dead-letters`, by a normal import of the runtime's command line) plus the local
 * cluster, which is developer tooling and stays out of the deployable runtime.
 */
import { exitWhenDone, RUNTIME_COMMANDS, runCatga } from "@catga/runtime";
import { ADMIN_USER, OPS_USER } from "../../compiler/emit/_names.js";
import { closest } from "../../dsl/index.js";
import { LocalClusterError } from "../local/errors.js";
import { redisOpsEnv } from "../local/infra.js";
import { readState, statePaths } from "../local/state.js";
import { certs } from "./certs.js";
import { down, kill, scale, status } from "./cluster.js";
import { dashboard } from "./dashboard.js";
import { init } from "./init.js";
import { up } from "./up.js";

const HELP = `catga — run a Catga topology, locally or in production

Usage: catga <command> [options]

Commands:
  init       start a project of your own: package.json, tsconfig, a topology, handler modules
  run        run one instance of a service (what compose and Kubernetes start)
  up         run a topology locally: NATS, Redis and every replica as processes (--memory: in one process)
  status     services, instances, roles, leader and fencing token, NATS routes, Redis roles
  dashboard  the same, live, as a web page on 127.0.0.1 (read-only; 'catga up' serves one with actions)
  kill       end one instance of the local cluster (SIGKILL; --graceful: SIGTERM)
  scale      change a service's instance count: catga scale SERVICE=N
  down       drain and stop the local cluster, leaving no process behind
  sagas      sagas in flight (with their step), failed ones (with the error), counts per status
  dead-letters  durable events a service gave up on; 'dead-letters replay' puts them back
  certs      certificates (openssl) for a topology's compose deployment, which runs on TLS

Options:
  -h, --help       show help (also: catga <command> --help)
  -v, --version    print the version

Exit codes: 0 success, 1 failure, 2 usage or configuration error, 130 stopped by a second signal,
3 an internal error (a bug: please report it).
`;

/** The local cluster's commands, run here; the others are the runtime's ({@link RUNTIME_COMMANDS}). */
const TOOLING_COMMANDS = ["up", "status", "dashboard", "kill", "scale", "down"] as const;

/**
 * Runs `catga` with `argv`. The local cluster's commands run here; every other command is the
 * runtime's. An unexpected exception becomes one line and exit code 3, never a stack trace (set
 * CATGA_DEBUG=1 to see it).
 */
export function runCatgaTooling(argv: readonly string[]): void {
  const [command, ...rest] = argv;
  const io = {
    stdout: (t: string) => process.stdout.write(t),
    stderr: (t: string) => process.stderr.write(t),
  };
  switch (command) {
    case "-h":
    case "--help":
      io.stdout(HELP);
      return;
    case "init":
      exitWhenDone(init(rest, io), io);
      return;
    case "certs":
      exitWhenDone(certs(rest, io), io);
      return;
    case "dashboard":
      exitWhenDone(dashboard(rest, io), io);
      return;
    case "up":
    case "status":
    case "kill":
    case "scale":
    case "down": {
      const commands = { up, status, kill, scale, down };
      exitWhenDone(commands[command](rest, { ...io, tty: process.stdout.isTTY === true }), io);
      return;
    }
    case undefined:
      io.stderr(HELP);
      process.exitCode = 2;
      return;
    case "dead-letters":
      // The runtime knows nothing of `.catga/`: the local cluster started here is the default
      // target, given as the variables the runtime reads (flags and variables set still win).
      localClusterDefaults();
      runCatga(argv);
      return;
    case "sagas":
      try {
        sagasDefaults(rest);
      } catch (error) {
        io.stderr(`catga sagas: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = error instanceof LocalClusterError ? 2 : 1;
        return;
      }
      runCatga(argv);
      return;
    default:
      if (command.startsWith("-") || RUNTIME_COMMANDS.includes(command)) {
        runCatga(argv);
        return;
      }
      {
        const suggestion = closest(command, [...TOOLING_COMMANDS, ...RUNTIME_COMMANDS]);
        io.stderr(
          `catga: unknown command '${command}'${suggestion ? ` (did you mean '${suggestion}'?)` : ""}; run 'catga --help'\n`,
        );
        process.exitCode = 2;
      }
  }
}

/**
 * `catga sagas` beside a local cluster: its wiring and its Redis, found as `catga status` finds
 * them (`.catga/state.json` in the working directory), unless `--wiring`/`--redis` or the variables
 * name others. With no local cluster and nothing given, the same message as `catga status`.
 *
 * @throws LocalClusterError when nothing names a wiring and no local cluster runs here.
 */
function sagasDefaults(argv: readonly string[]): void {
  if (argv.some((a) => a === "-h" || a === "--help")) return;
  const given = (flag: string) => argv.some((a) => a === flag || a.startsWith(`${flag}=`));
  // An empty variable is an unset one, as the runtime reads it.
  const wiringGiven = given("--wiring") || Boolean(process.env.CATGA_WIRING);
  const redisGiven = given("--redis") || Boolean(process.env.CATGA_REDIS_URL || process.env.CATGA_REDIS_MODE);
  if (wiringGiven && redisGiven) return;
  const state = readState();
  if (state === undefined) {
    if (wiringGiven) return; // the runtime says what else is missing
    throw new LocalClusterError(
      `no local cluster in ${statePaths().dir}: start one with 'catga up FILE.catga', or pass --wiring FILE and --redis URL`,
    );
  }
  if (!wiringGiven) process.env.CATGA_WIRING = state.wiring;
  if (!redisGiven && state.redis !== undefined) {
    // The same Redis the instances use, read as `catga-ops` when it runs the ACL (as status reads it):
    // that user may read every saga record of the topology and change nothing.
    for (const [key, value] of Object.entries(redisOpsEnv(state.redis)))
      if (!process.env[key]) process.env[key] = value;
  }
}

/**
 * Sets CATGA_WIRING and CATGA_NATS_URLS from the local cluster of the working directory, if unset,
 * and its `admin` NATS user (the one whose grants read, remove and replay dead letters; `ops` when
 * the topology has no durable event, so no `admin`) unless CATGA_NATS_USER is set.
 */
function localClusterDefaults(): void {
  if (process.env.CATGA_WIRING !== undefined && process.env.CATGA_NATS_URLS !== undefined) return;
  const state = readState();
  if (state === undefined) return;
  process.env.CATGA_WIRING ??= state.wiring;
  process.env.CATGA_NATS_URLS ??= state.nats.urls.join(",");
  // `catga up --tls`: the servers' CA, unless the caller names one.
  if (state.tls !== undefined && !state.nats.external) process.env.CATGA_NATS_TLS_CA ??= state.tls.ca;
  if (process.env.CATGA_NATS_USER === undefined) {
    const login = state.nats.users?.[ADMIN_USER] !== undefined ? ADMIN_USER : OPS_USER;
    const password = state.nats.users?.[login];
    if (password !== undefined) {
      process.env.CATGA_NATS_USER = login;
      process.env.CATGA_NATS_PASSWORD = password;
    }
  }
}
