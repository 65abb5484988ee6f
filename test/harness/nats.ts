/**
 * Real `nats-server` processes for integration tests: single servers and full-mesh clusters on free
 * loopback ports, each in its own temporary folder, stopped (process group and folder) by `stop()`.
 *
 * The machines also run a NATS of their own on 4222: a server started here never listens on the
 * default ports, because the client, cluster and monitoring ports given on the command line
 * override whatever the config file says (`-a`, `-p`, `-m`, `--cluster` win over `listen`, `http`
 * and `cluster.listen`). So a test can run an emitted config unchanged.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./_process.js";

/** Options of {@link startNats}. */
export interface StartNatsOptions {
  /** Text of a nats-server config file, written to the server's temporary folder. None: defaults. */
  config?: string;
  /** Environment of the server on top of this process's (passwords the config references). */
  env?: Record<string, string>;
  /** Client port. @default a free port */
  port?: number;
  /** Monitoring (HTTP) port, used for the readiness check. @default a free port */
  monitorPort?: number;
  /**
   * The route port. Without `config`, the server is started with `--cluster
   * nats://127.0.0.1:<clusterPort>`. With a `config`, the config must listen there itself: the
   * `--cluster` flag would silently drop the config's cluster authorization (nats-server clears the
   * route credentials when the flag's URL carries none), so the harness does not pass it.
   */
  clusterPort?: number;
  /** The server's name; also exported as `NATS_SERVER_NAME` for configs that reference it. @default "test-<port>" */
  serverName?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** How long to wait for `/healthz` to answer. @default 10000 */
  readyTimeoutMs?: number;
}

/** A running nats-server. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  monitorPort: number;
  /** The route port, when the server was started with one. */
  clusterPort?: number;
  serverName: string;
  /** The server's process id (benchmarks read its CPU time from /proc). */
  pid: number;
  /** The server's temporary folder (config and log). */
  dir: string;
  /** The server log so far (stdout and stderr), for failure messages. */
  log(): Promise<string>;
  /** Stops the server (its whole process group) and deletes its folder. Idempotent. */
  stop(): Promise<void>;
}

export { freePort };

const running = new Set<ChildProcess>();
// A crashed test run must not leave servers behind: kill what is still running on exit.
process.once("exit", () => {
  for (const child of running) killGroup(child, "SIGKILL");
});

/**
 * Starts a nats-server on free loopback ports and resolves once its monitoring endpoint `/healthz`
 * answers 200.
 *
 * @throws Error when `nats-server` is not on PATH, exits early or is not ready in time; the message
 *   carries the server log.
 */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  const port = options.port ?? (await freePort());
  const monitorPort = options.monitorPort ?? (await freePort());
  const serverName = options.serverName ?? `test-${port}`;
  const dir = await mkdtemp(join(tmpdir(), "catga-nats-"));
  const logFile = join(dir, "server.log");
  const args = ["-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort), "-n", serverName];
  if (options.config !== undefined) {
    const configFile = join(dir, "nats.conf");
    await writeFile(configFile, options.config);
    args.push("-c", configFile);
  }
  if (options.clusterPort !== undefined && options.config === undefined) {
    args.push("--cluster", `nats://127.0.0.1:${options.clusterPort}`);
  }
  args.push("-l", logFile, ...(options.args ?? []));

  const child = spawn("nats-server", args, {
    cwd: dir,
    detached: true, // own process group, so stop() can kill it and anything it started
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NATS_SERVER_NAME: serverName, ...options.env },
  });
  running.add(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      running.delete(child);
      resolve();
    });
  });
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));

  const log = async (): Promise<string> => {
    const file = await readFile(logFile, "utf8").catch(() => "");
    return `${stderr}${file}`;
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 3000);
      await exit;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  for (;;) {
    const failure = await Promise.race([
      spawnError.then((e) => `could not start nats-server (is it on PATH?): ${e.message}`),
      exit.then(() => "nats-server exited during start-up"),
      healthy(monitorPort).then((ok) => (ok ? null : undefined)),
    ]);
    if (failure === null) break;
    if (typeof failure === "string" || Date.now() > deadline) {
      const text = await log();
      await stop();
      throw new Error(
        `${failure ?? `nats-server not ready on port ${port} after ${options.readyTimeoutMs ?? 10_000} ms`}; ` +
          `arguments: ${args.join(" ")}\n${text}`,
      );
    }
    await sleep(50);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorPort,
    ...(options.clusterPort === undefined ? {} : { clusterPort: options.clusterPort }),
    serverName,
    pid: child.pid ?? -1,
    dir,
    log,
    stop,
  };
}

/** Options of {@link startNatsCluster}. */
export interface StartNatsClusterOptions {
  /**
   * The config of each node, given the route URLs of all nodes (each node gets the same list,
   * itself included, as emitted configs do) and the route port the node must listen on (in the
   * config: see {@link StartNatsOptions.clusterPort}). None: a minimal cluster block.
   */
  config?: (routes: string[], clusterPort: number) => string;
  /**
   * Environment of every server (passwords), or a function of the route ports of all nodes (for
   * configs that read route URLs from the environment).
   */
  env?: Record<string, string> | ((clusterPorts: number[]) => Record<string, string>);
  /** How long to wait for the full mesh of routes. @default 10000 */
  readyTimeoutMs?: number;
}

/** A running cluster of nats-servers. */
export interface NatsCluster {
  servers: NatsServer[];
  /** Client URLs of every server. */
  urls: string[];
  /** Stops every server. */
  stop(): Promise<void>;
}

/**
 * Starts `n` nats-servers that route to each other (full mesh) and resolves once every server has
 * a route to each of the others (`/routez`).
 */
export async function startNatsCluster(
  n: number,
  options: StartNatsClusterOptions = {},
): Promise<NatsCluster> {
  const clusterPorts: number[] = [];
  while (clusterPorts.length < n) {
    const port = await freePort();
    if (!clusterPorts.includes(port)) clusterPorts.push(port);
  }
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`);
  const configOf =
    options.config ??
    ((all: string[], clusterPort: number): string =>
      `cluster {\n  name: "test"\n  listen: "127.0.0.1:${clusterPort}"\n  routes = [\n${all.map((r) => `    "${r}"`).join("\n")}\n  ]\n}\n`);
  const env = typeof options.env === "function" ? options.env(clusterPorts) : options.env;
  const started = await Promise.allSettled(
    clusterPorts.map((clusterPort, i) =>
      startNats({
        config: configOf(routes, clusterPort),
        clusterPort,
        serverName: `node-${i}`,
        ...(env === undefined ? {} : { env }),
      }),
    ),
  );
  const servers = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const failed = started.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await stop();
    throw failed.reason;
  }
  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  for (;;) {
    const counts = await Promise.all(servers.map((s) => routeCount(s.monitorPort)));
    if (counts.every((c) => c >= n - 1)) break;
    if (Date.now() > deadline) {
      const logs = await Promise.all(servers.map(async (s) => `--- ${s.serverName}\n${await s.log()}`));
      await stop();
      throw new Error(
        `NATS cluster of ${n} did not form: routes per node ${counts.join(", ")}\n${logs.join("\n")}`,
      );
    }
    await sleep(50);
  }
  return { servers, urls: servers.map((s) => s.url), stop };
}

/** The number of routes a server has, from its monitoring endpoint (0 when it does not answer). */
export async function routeCount(monitorPort: number): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${monitorPort}/routez`);
    if (!response.ok) return 0;
    const body = (await response.json()) as { num_routes?: number };
    return body.num_routes ?? 0;
  } catch {
    return 0;
  }
}

async function healthy(monitorPort: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, {
      signal: AbortSignal.timeout(1000),
    });
    return response.ok;
  } catch {
    return false;
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
