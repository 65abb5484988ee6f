/**
 * `catga run`: one instance of one service — the command the emitted compose files and Kubernetes
 * manifests start. It reads the wiring, loads the service's handler module, connects to NATS (and
 * Redis in leader mode), starts the host, and drains on SIGTERM or SIGINT; a second signal exits at
 * once.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { Cluster, Redis } from "ioredis";
import { own } from "../_own.js";
import { didYouMean } from "../_suggest.js";
import { ConfigError, type RunFlags, readRunConfig } from "../config.js";
import type { CoordinationBackend } from "../coordination/backend.js";
import { createRedis } from "../coordination/redis-connection.js";
import { RedisCoordination } from "../coordination/redis-coordination.js";
import { type Host, type LeaderGate, startHost } from "../host.js";
import { leaderGate } from "../leadership.js";
import { createLogger, isLogLevel, LOG_LEVELS } from "../log.js";
import { natsTransport } from "../transport/nats.js";
import { parseWiring, type Wiring } from "../wiring.js";
import { loadHandlerModule } from "./handler-module.js";

export const RUN_HELP = `catga run — run one instance of a service

Usage: catga run --wiring FILE --service NAME [--handlers MODULE] [options]

Options (each also from an environment variable; flags win):
  --wiring FILE          wiring.json from 'catgac build'             CATGA_WIRING
  --service NAME         the service this instance runs               CATGA_SERVICE
  --handlers MODULE      module whose default export is the service's
                         definition (from its generated definer)      CATGA_HANDLERS
  --nats URLS            NATS servers, comma-separated                CATGA_NATS_URLS
  --nats-user USER       NATS user (password: CATGA_NATS_PASSWORD)    CATGA_NATS_USER
  --nats-creds FILE      NATS credentials file                        CATGA_NATS_CREDS
  --redis URL            Redis (leader mode)                          CATGA_REDIS_URL
  --instance-id ID       this instance's id (default host-pid)        CATGA_INSTANCE_ID
  --health-port PORT     /healthz /readyz /metrics                    CATGA_HEALTH_PORT
  --grace-ms MS          how long a graceful stop waits (10000)       CATGA_GRACE_MS
  --wire-version N       the wire version written: 5 (default), or 4,
                         3 or 2 while an older build still runs       CATGA_WIRE_VERSION
  -h, --help             show this help

Also read from the environment: CATGA_NATS_TOKEN, CATGA_NATS_TLS_CA/CERT/KEY, CATGA_REDIS_MODE
(standalone|sentinel|cluster), CATGA_REDIS_SENTINELS, CATGA_REDIS_MASTER, CATGA_REDIS_CLUSTER_NODES,
CATGA_REDIS_PASSWORD, CATGA_REDIS_TLS, CATGA_REDIS_TLS_CA/CERT/KEY/SERVERNAME, CATGA_LOG_LEVEL
(debug|info|warn|error, default info). Details: docs/runtime.md.

SIGTERM or SIGINT drains (readiness off, in-flight work finishes) and exits 0; a second signal
exits at once with 130. Exit 2: usage or configuration error.
`;

/** Runs `catga run` with `argv` (after `run`); resolves with the exit code once the instance stopped. */
export async function run(
  argv: readonly string[],
  io: { stdout(t: string): void; stderr(t: string): void },
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  let flags: RunFlags & { help?: boolean };
  try {
    flags = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        wiring: { type: "string" },
        service: { type: "string" },
        handlers: { type: "string" },
        "instance-id": { type: "string" },
        "health-port": { type: "string" },
        nats: { type: "string" },
        "nats-user": { type: "string" },
        "nats-creds": { type: "string" },
        redis: { type: "string" },
        "grace-ms": { type: "string" },
        "wire-version": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values as RunFlags & { help?: boolean };
  } catch (error) {
    io.stderr(`catga run: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (flags.help) {
    io.stdout(RUN_HELP);
    return 0;
  }
  let host: Host;
  let graceMs: number;
  let redis: Redis | Cluster | undefined;
  let electionRedis: Redis | Cluster | undefined;
  try {
    const preliminary = readRunConfig(flags, env);
    const wiring = await loadWiring(preliminary.wiringFile);
    const ws = own(wiring.services, preliminary.service);
    if (ws === undefined) {
      throw new ConfigError(
        `service '${preliminary.service}' is not in ${preliminary.wiringFile}${didYouMean(preliminary.service, Object.keys(wiring.services))}; it has ${Object.keys(wiring.services).join(", ")}`,
      );
    }
    const config = readRunConfig(flags, env, { healthPort: ws.healthPort });
    graceMs = config.graceMs;
    const level = env.CATGA_LOG_LEVEL || "info";
    if (!isLogLevel(level)) {
      throw new ConfigError(`CATGA_LOG_LEVEL is '${level}'; expected one of ${LOG_LEVELS.join(", ")}`);
    }
    const log = createLogger(
      { topology: wiring.topology, service: config.service, instance: config.instanceId },
      { level },
    );
    const definition = await loadHandlerModule(
      config.handlers ?? ws.handler,
      config.service,
      wiring.topology,
    );
    const transport = await natsTransport({
      servers: config.nats.servers,
      name: `${wiring.topology}/${config.service}/${config.instanceId}`,
      inboxPrefix: ws.inboxPrefix,
      connectTimeoutMs: 10_000,
      log,
      ...(config.nats.user !== undefined ? { user: config.nats.user } : {}),
      ...(config.nats.password !== undefined ? { password: config.nats.password } : {}),
      ...(config.nats.token !== undefined ? { token: config.nats.token } : {}),
      ...(config.nats.credsFile !== undefined ? { credsFile: config.nats.credsFile } : {}),
      ...(config.nats.tls !== undefined ? { tls: config.nats.tls } : {}),
    });
    let leader: LeaderGate | undefined;
    let coordination: CoordinationBackend | undefined;
    if (ws.mode === "leader") {
      if (config.redis === undefined) {
        throw new ConfigError(
          `service '${config.service}' runs in leader mode and needs Redis: set --redis URL or CATGA_REDIS_MODE and its address`,
        );
      }
      // Unreachable Redis at start is not fatal: the instance stays a standby (ready, not leading)
      // and the elector keeps trying; commands fail fast meanwhile, so nothing piles up. A TLS
      // failure arrives as a TlsError whose message names the server and the fix.
      redis = createRedis(config.redis, {
        onError: (error) => log.warn("redis error", { error: error.message }),
      });
      coordination = new RedisCoordination(redis);
      // The lease has a connection of its own: renewals must not queue behind the service's own
      // Redis work (saga state writes under load), or a busy leader misses its renewal deadline,
      // steps down, and its successor inherits the backlog.
      electionRedis = createRedis(config.redis);
      electionRedis.on("error", () => {}); // reported by the elector as renewal failures
      leader = leaderGate({
        backend: new RedisCoordination(electionRedis),
        service: ws,
        instanceId: config.instanceId,
        transport,
        log,
      });
    }
    host = await startHost({
      wiring,
      service: config.service,
      definition,
      transport,
      instanceId: config.instanceId,
      log,
      ...(config.healthPort !== undefined ? { healthPort: config.healthPort } : {}),
      ...(config.wireVersion !== undefined ? { wireVersion: config.wireVersion } : {}),
      ...(leader !== undefined ? { leader } : {}),
      ...(coordination !== undefined ? { coordination } : {}),
    });
  } catch (error) {
    io.stderr(`catga run: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  return await new Promise<number>((resolveExit) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        // The operator insists: stop now, even with work in flight.
        resolveExit(130);
        return;
      }
      io.stderr(`catga run: ${signal}: draining (send it again to exit at once)\n`);
      host.stop({ graceMs }).then(
        () => {
          redis?.disconnect();
          electionRedis?.disconnect();
          resolveExit(0);
        },
        (error: unknown) => {
          io.stderr(`catga run: drain failed: ${error instanceof Error ? error.message : String(error)}\n`);
          resolveExit(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

async function loadWiring(file: string): Promise<Wiring> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      `cannot read the wiring '${file}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `the wiring '${file}' is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return parseWiring(json, file);
}
