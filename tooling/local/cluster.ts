/**
 * The local cluster: compile a topology, start its infrastructure and every replica as its own
 * `catga run` process, and kill, scale and stop them later from the state in `.catga/`.
 *
 * Replicas are named `<service>-<n>` (n from 0). Each gets the NATS URLs and its service's NATS user
 * and password, the Redis variables (for leader mode), its own free health port and its handler
 * module: the wiring's `handler` (by convention `services/<service>.ts`) resolved against the folder
 * of the topology file.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseWiring, type Wiring } from "@catga/runtime";
import { main as catgac } from "../../compiler/cli/catgac.js";
import {
  natsUser,
  REDIS_SENTINEL_CLIENT_USER,
  redisBuiltInPasswordVar,
  redisPasswordVar,
  redisUser,
} from "../../compiler/emit/_names.js";
import { LOCAL_NAMES, type TlsFilePaths } from "../../compiler/emit/_tls.js";
import { closest } from "../../dsl/index.js";
import { makeCertificates } from "../certs/index.js";
import {
  freePort,
  isAlive,
  SpawnGuard,
  signalGroup,
  spawnDetached,
  stopProcesses,
  tail,
  waitUntil,
} from "./_process.js";
import { LocalClusterError, StartInterruptedError } from "./errors.js";
import { checkBinaries, startNatsInfra, startRedisInfra } from "./infra.js";
import { type CommandLine, launchers } from "./launcher.js";
import {
  anythingAlive,
  type LocalInstance,
  type LocalState,
  readState,
  recordedPids,
  removeState,
  requireState,
  statePaths,
  updateState,
  writeState,
} from "./state.js";

/** Options shared by the commands that operate on the cluster of a working directory. */
export interface LocalOptions {
  /** The working directory whose `.catga/` holds the state. @default process.cwd() */
  cwd?: string;
  /** Progress lines for the user. @default none */
  progress?: (line: string) => void;
}

/** Options of {@link startLocalCluster}. */
export interface StartLocalClusterOptions extends LocalOptions {
  /** The `.catga` file. */
  file: string;
  /** Build output folder. @default `out/<file name without .catga>` in the working directory, as `catgac build` */
  out?: string;
  /** Environment of every process started. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** The pid recorded as the supervisor (the `catga up` showing the live view). @default none (detached) */
  supervisor?: number;
  /**
   * How long to wait for each instance to report ready on /readyz.
   * @default 90000 (a loaded two-core machine starts a dozen TypeScript processes slowly)
   */
  readyTimeoutMs?: number;
  /**
   * Aborting it (with the signal's name as the reason) stops the start at once: every process
   * started so far is stopped, also one whose spawn was under way, and the state removed, before
   * {@link StartInterruptedError} is thrown. @default never aborted
   */
  signal?: AbortSignal;
  /**
   * Run NATS and Redis on TLS only, with a CA and a server certificate (127.0.0.1, localhost) made
   * for this run in `.catga/tls/` (openssl). @default false
   */
  tls?: boolean;
}

/** `catgac build` failed: its output says why. */
export class BuildFailedError extends Error {
  override name = "BuildFailedError";
  constructor(
    readonly output: string,
    readonly exitCode: number,
  ) {
    super(`catgac build failed (exit ${exitCode}):\n${output.trimEnd()}`);
  }
}

/**
 * Compiles `file` into `out` as `catgac build` does (the same command, run in this process) and
 * reads the wiring it wrote. Relative paths are resolved against `cwd`.
 *
 * @throws BuildFailedError with catgac's output when the topology has errors.
 */
export async function buildTopology(
  file: string,
  out: string,
  options: { cwd?: string } = {},
): Promise<{ wiring: Wiring; wiringFile: string }> {
  const cwd = options.cwd ?? process.cwd();
  const outDir = resolve(cwd, out);
  let output = "";
  const collect = (text: string) => {
    output += text;
  };
  const code = await catgac(["build", resolve(cwd, file), "--out", outDir], {
    stdout: collect,
    stderr: collect,
    color: false,
  });
  if (code !== 0) throw new BuildFailedError(output, code);
  const wiringFile = join(outDir, "wiring.json");
  return { wiring: parseWiring(JSON.parse(readFileSync(wiringFile, "utf8")), wiringFile), wiringFile };
}

/** The default build folder of `file`: `out/<name>` (as `catgac build`, whose topology name is usually the file's). */
export function defaultOut(file: string): string {
  return join("out", basename(file).replace(/\.catga$/, ""));
}

/**
 * `catga up` without the live view: builds, starts the infrastructure and every replica, waits until
 * each replica is ready, and writes the state. On any failure everything started so far is stopped
 * and the state removed before the error is rethrown; so it is when `options.signal` aborts.
 *
 * @throws LocalClusterError when a cluster already runs in this working directory or a handler
 *   module is missing; MissingBinaryError when a server binary is not on PATH; BuildFailedError.
 */
export async function startLocalCluster(options: StartLocalClusterOptions): Promise<LocalState> {
  // After an abort no process is spawned any more, and one being spawned is stopped at once.
  const spawns = new SpawnGuard(options.signal);
  return await spawns.run(() => startInGuard(options, spawns));
}

async function startInGuard(options: StartLocalClusterOptions, spawns: SpawnGuard): Promise<LocalState> {
  const cwd = options.cwd ?? process.cwd();
  const progress = options.progress ?? (() => {});
  const abort = options.signal;
  // Until a step is done, the abort wins the race; the step itself is left to finish in the
  // background (it may still spawn a process, which `started` then stops at once).
  const step = <T>(work: Promise<T>): Promise<T> => untilAborted(work, abort);
  const previous = readState(cwd);
  if (previous !== undefined) {
    if (anythingAlive(previous)) {
      throw new LocalClusterError(
        `a local cluster of '${previous.topology}' already runs here (${statePaths(cwd).dir}): stop it with 'catga down'`,
      );
    }
  }
  // Left behind by a crash (nothing of it runs any more) or the logs of a failed start: replaced.
  removeState(cwd);
  const file = resolve(cwd, options.file);
  if (!existsSync(file)) throw new LocalClusterError(`cannot read '${options.file}': no such file`);
  const out = resolve(cwd, options.out ?? defaultOut(options.file));
  progress(`building ${options.file} into ${out}`);
  const env = options.env ?? process.env;
  const { wiring, wiringFile } = await step(buildTopology(file, out, { cwd }));
  checkBinaries(wiring, env.PATH ?? "");
  const handlers: Record<string, string> = {};
  for (const [name, service] of Object.entries(wiring.services)) {
    const module = resolve(dirname(file), service.handler);
    if (!existsSync(module)) {
      throw new LocalClusterError(
        `service '${name}' has no handler module: expected ${module} (the topology's 'handler', by default services/${name}.ts beside ${basename(file)})`,
      );
    }
    handlers[name] = module;
  }

  const paths = statePaths(cwd);
  mkdirSync(paths.logs, { recursive: true });
  const pids: number[] = [];
  try {
    const tls = options.tls ? await step(localCertificates(join(paths.dir, "tls"), progress)) : undefined;
    const infra = {
      dir: paths.dir,
      logs: paths.logs,
      started: (pid: number) => pids.push(pid),
      progress,
      env,
      ...(tls !== undefined ? { tls } : {}),
    };
    // The NATS config the build emitted next to the wiring: the one compose and Kubernetes run.
    const nats = await step(startNatsInfra(wiring, infra, join(dirname(wiringFile), "nats", "nats.conf")));
    const redis = await step(startRedisInfra(wiring, infra));
    const state: LocalState = {
      version: 1,
      topology: wiring.topology,
      file,
      wiring: wiringFile,
      ...(options.supervisor !== undefined ? { supervisor: options.supervisor } : {}),
      ...(tls !== undefined ? { tls } : {}),
      nats,
      ...(redis !== undefined ? { redis } : {}),
      launcher: [...launchers().catga],
      handlers,
      instances: [],
    };
    writeState(state, cwd);
    const all = Object.entries(wiring.services).flatMap(([service, s]) =>
      Array.from({ length: s.replicas }, (_, n) => ({ service, n })),
    );
    progress(`starting ${all.length} instances of ${Object.keys(wiring.services).length} services`);
    await step(
      startInstances(state, all, {
        cwd,
        env,
        onSpawn: (pid) => pids.push(pid),
        ...(abort !== undefined ? { signal: abort } : {}),
        ...(options.readyTimeoutMs !== undefined ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
      }),
    );
    return state;
  } catch (error) {
    await spawns.settled();
    const count = pids.length + spawns.stoppedLate;
    await stopProcesses(pids, 2000);
    if (abort?.aborted) {
      removeState(cwd);
      throw new StartInterruptedError(String(abort.reason), count);
    }
    removeState(cwd, { keepLogs: true }); // the error may point at a log: it stays until the next start
    throw error;
  }
}

/**
 * `catga up --tls`: a CA and one server certificate for 127.0.0.1 and localhost (NATS and Redis
 * alike) in `dir`, keys readable by their owner only. The CA's key is deleted once it signed: nothing
 * of this run needs another certificate, and a key nobody keeps cannot leak.
 */
async function localCertificates(dir: string, progress: (line: string) => void): Promise<TlsFilePaths> {
  const files = await makeCertificates({
    dir,
    certificates: [{ name: "server", kind: "server", altNames: [...LOCAL_NAMES] }],
  });
  const server = files.certificates.server!;
  chmodSync(server.key, 0o600);
  rmSync(files.caKey, { force: true });
  progress(`tls: CA and server certificate (127.0.0.1, localhost) in ${dir}`);
  return { ca: files.ca, cert: server.cert, key: server.key };
}

/**
 * `work`, or a rejection as soon as `signal` aborts (the work's own outcome is then ignored).
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  work.catch(() => {}); // it may fail after the abort; nobody waits for it then
  return new Promise<T>((resolveWork, reject) => {
    const onAbort = () => reject(new StartInterruptedError(String(signal.reason), 0));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolveWork, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Starts instances `<service>-<n>` of a running cluster, records them in the state (written after
 * each spawn, so a failure leaves nothing unrecorded) and waits until every one is ready.
 *
 * @throws Error with the instance's log when one exits or is not ready in time.
 */
export async function startInstances(
  state: LocalState,
  wanted: readonly { service: string; n: number }[],
  options: {
    cwd: string;
    env?: NodeJS.ProcessEnv;
    onSpawn?: (pid: number) => void;
    readyTimeoutMs?: number;
    /** Once aborted, no further instance is spawned. */
    signal?: AbortSignal;
  },
): Promise<LocalInstance[]> {
  const paths = statePaths(options.cwd);
  const taken = new Set(state.instances.map((i) => i.healthPort));
  const started: LocalInstance[] = [];
  for (const { service, n } of wanted) {
    if (options.signal?.aborted) throw new StartInterruptedError(String(options.signal.reason), 0);
    const id = `${service}-${n}`;
    const healthPort = await freePort(taken);
    taken.add(healthPort);
    const [exe, ...first] = state.launcher as unknown as CommandLine;
    const pid = await spawnDetached(exe, [...first, "run", "--wiring", state.wiring, "--service", service], {
      cwd: options.cwd,
      env: instanceEnv(state, service, id, healthPort, options.env ?? process.env),
      logFile: join(paths.logs, `${id}.log`),
    });
    options.onSpawn?.(pid);
    const instance: LocalInstance = { id, service, n, pid, healthPort };
    started.push(instance);
    state.instances.push(instance);
    // Recorded in the file as it is now: another command may have changed it since `state` was read.
    updateState((fresh) => {
      fresh.instances.push(instance);
    }, options.cwd);
  }
  await Promise.all(
    started.map((i) =>
      waitUntil(`instance ${i.id} to be ready`, () => ready(i), {
        timeoutMs: options.readyTimeoutMs ?? 90_000,
        intervalMs: 200,
        describe: () => `--- ${join(paths.logs, `${i.id}.log`)}\n${tail(join(paths.logs, `${i.id}.log`))}`,
      }).then(() => {
        if (!isAlive(i.pid)) {
          const log = join(paths.logs, `${i.id}.log`);
          throw new Error(`instance ${i.id} exited during start-up; its log (${log}):\n${tail(log)}`);
        }
      }),
    ),
  );
  return started;

  async function ready(i: LocalInstance): Promise<boolean> {
    // Exited: stop waiting at once (waitUntil takes a throw for "not yet"); the check after the
    // wait reports it with its log.
    if (!isAlive(i.pid)) return true;
    try {
      return (await fetch(`http://127.0.0.1:${i.healthPort}/readyz`, { signal: AbortSignal.timeout(1000) }))
        .ok;
    } catch {
      return false;
    }
  }
}

/**
 * The Redis variables of one instance. With the local Redis (which runs the emitted ACL) only a
 * service that uses Redis gets them, with its own ACL user and password (and the sentinels' client
 * login), as compose and Kubernetes give them; an external Redis is passed to every instance as
 * before, its credentials from the caller's environment.
 */
function localRedisEnv(state: LocalState, service: string): Record<string, string> {
  const redis = state.redis;
  if (redis === undefined) return {};
  if (redis.users === undefined) return { ...redis.env };
  const password = redis.users[redisPasswordVar(service)];
  if (password === undefined) return {};
  return {
    ...redis.env,
    CATGA_REDIS_USER: redisUser(service),
    CATGA_REDIS_PASSWORD: password,
    ...(redis.mode === "sentinel"
      ? {
          CATGA_REDIS_SENTINEL_USER: REDIS_SENTINEL_CLIENT_USER,
          CATGA_REDIS_SENTINEL_PASSWORD:
            redis.users[redisBuiltInPasswordVar(REDIS_SENTINEL_CLIENT_USER)] ?? "",
        }
      : {}),
  };
}

/** The environment of one instance: what `catga run` reads, on top of the caller's. */
function instanceEnv(
  state: LocalState,
  service: string,
  id: string,
  healthPort: number,
  base: NodeJS.ProcessEnv,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  // Variables of another deployment in the caller's shell must not leak into this one's instances;
  // credentials for an external NATS or Redis are the exception: they come only from there.
  for (const key of Object.keys(env)) {
    if (/^CATGA_(WIRING|SERVICE|HANDLERS|INSTANCE_ID|HEALTH_PORT|NATS_URLS)$/.test(key)) delete env[key];
    if (!state.nats.external && key.startsWith("CATGA_NATS_")) delete env[key];
    if (state.redis !== undefined && !state.redis.external && key.startsWith("CATGA_REDIS_")) delete env[key];
  }
  // The service's own NATS user, as compose and Kubernetes give it: its grants are the emitted ones.
  const user = natsUser(service);
  const password = state.nats.users?.[user];
  return {
    ...env,
    ...localRedisEnv(state, service),
    CATGA_NATS_URLS: state.nats.urls.join(","),
    ...(password !== undefined ? { CATGA_NATS_USER: user, CATGA_NATS_PASSWORD: password } : {}),
    // `catga up --tls`: the servers' CA (Redis's is among the Redis variables).
    ...(state.tls !== undefined && !state.nats.external ? { CATGA_NATS_TLS_CA: state.tls.ca } : {}),
    CATGA_HANDLERS: state.handlers[service],
    CATGA_INSTANCE_ID: id,
    CATGA_HEALTH_PORT: String(healthPort),
  };
}

/**
 * `catga kill`: SIGKILL (a crash) or, with `graceful`, SIGTERM (a drain) to one instance; resolves
 * once it exited, and removes it from the state.
 *
 * @throws LocalClusterError when the instance is not in the state.
 */
export async function killInstance(
  id: string,
  options: LocalOptions & { graceful?: boolean; graceMs?: number } = {},
): Promise<LocalInstance> {
  const cwd = options.cwd ?? process.cwd();
  const state = requireState(cwd);
  const instance = state.instances.find((i) => i.id === id);
  if (instance === undefined) {
    throw new LocalClusterError(
      `no instance '${id}' in the local cluster${didYouMean(
        id,
        state.instances.map((i) => i.id),
      )}; it has ${state.instances.map((i) => i.id).join(", ") || "none"}`,
    );
  }
  if (options.graceful) await stopProcesses([instance.pid], options.graceMs ?? 15_000);
  else signalGroup(instance.pid, "SIGKILL");
  await waitUntil(`${id} to exit`, () => !isAlive(instance.pid), { timeoutMs: 10_000, intervalMs: 20 });
  updateState((fresh) => {
    fresh.instances = fresh.instances.filter((i) => i.id !== id);
  }, cwd);
  return instance;
}

/**
 * `catga scale SERVICE=N`: starts instances numbered after the highest one, or drains the
 * highest-numbered ones (SIGTERM, SIGKILL after the grace), until the service has `replicas`.
 *
 * @throws LocalClusterError for an unknown service or a count below 0.
 */
export async function scaleService(
  service: string,
  replicas: number,
  options: LocalOptions & { env?: NodeJS.ProcessEnv; graceMs?: number; readyTimeoutMs?: number } = {},
): Promise<{ started: string[]; stopped: string[] }> {
  const cwd = options.cwd ?? process.cwd();
  const state = requireState(cwd);
  if (state.handlers[service] === undefined) {
    throw new LocalClusterError(
      `no service '${service}' in '${state.topology}'${didYouMean(service, Object.keys(state.handlers))}; it has ${Object.keys(state.handlers).join(", ")}`,
    );
  }
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new LocalClusterError(`cannot scale '${service}' to ${replicas}: expected a whole number ≥ 0`);
  }
  const current = state.instances.filter((i) => i.service === service).sort((a, b) => a.n - b.n);
  if (replicas > current.length) {
    let next = (current.at(-1)?.n ?? -1) + 1;
    const wanted = Array.from({ length: replicas - current.length }, () => ({ service, n: next++ }));
    options.progress?.(`starting ${wanted.map((w) => `${service}-${w.n}`).join(", ")}`);
    const started = await startInstances(state, wanted, {
      cwd,
      ...(options.env !== undefined ? { env: options.env } : {}),
      ...(options.readyTimeoutMs !== undefined ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
    });
    return { started: started.map((i) => i.id), stopped: [] };
  }
  const excess = current.slice(replicas);
  options.progress?.(`draining ${excess.map((i) => i.id).join(", ")}`);
  await stopProcesses(
    excess.map((i) => i.pid),
    options.graceMs ?? 15_000,
  );
  updateState((fresh) => {
    fresh.instances = fresh.instances.filter((i) => !excess.some((e) => e.id === i.id));
  }, cwd);
  return { started: [], stopped: excess.map((i) => i.id) };
}

/**
 * `catga down`: drains every instance (SIGTERM; SIGKILL after `graceMs`), then stops the servers the
 * same way, checks that nothing recorded still runs, and removes `.catga/`.
 *
 * @returns the pids that were stopped; `undefined` when no cluster runs here.
 */
export async function stopLocalCluster(
  options: LocalOptions & { graceMs?: number } = {},
): Promise<{ topology: string; pids: number[] } | undefined> {
  const cwd = options.cwd ?? process.cwd();
  const state = readState(cwd);
  if (state === undefined) return undefined;
  const { infra, instances } = recordedPids(state);
  options.progress?.(`draining ${instances.filter(isAlive).length} instances`);
  // Instances first: while they drain they still need NATS (to reply) and Redis (to release).
  await stopProcesses(instances, options.graceMs ?? 15_000);
  options.progress?.(`stopping ${infra.filter(isAlive).length} servers`);
  await stopProcesses(infra, 5000);
  const left = [...instances, ...infra].filter(isAlive);
  if (left.length > 0) {
    throw new LocalClusterError(`processes ${left.join(", ")} did not stop; ${statePaths(cwd).dir} is kept`);
  }
  removeState(cwd);
  return { topology: state.topology, pids: [...instances, ...infra] };
}

/** `" (did you mean 'x'?)"` for the closest of `candidates`, or an empty string. */
function didYouMean(word: string, candidates: readonly string[]): string {
  const suggestion = closest(word, candidates);
  return suggestion === undefined ? "" : ` (did you mean '${suggestion}'?)`;
}
