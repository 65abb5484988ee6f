/**
 * Process plumbing of the local cluster: free ports, spawning servers and instances that outlive
 * `catga up --detach`, finding out whether a recorded pid still runs, and stopping process groups.
 *
 * Every process is started detached, in a process group of its own, with its output going to a log
 * file under `.catga/logs/`: a pipe to the starting process would break (SIGPIPE) once `catga up
 * --detach` exits, and a Ctrl-C in the terminal must reach `catga up` only, which then drains the
 * instances before it stops the servers they need.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { spawn } from "node:child_process";
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { dirname } from "node:path";
import { StartInterruptedError } from "./errors.js";

/**
 * Spawns made while {@link SpawnGuard.run} runs belong to that guard: once its signal aborts, no
 * new process is spawned, and one whose spawn was under way is stopped as soon as it has a pid.
 * (Carried by async context so the abort reaches every spawn of a start — servers and instances —
 * without threading a signal through each function on the way.)
 */
export class SpawnGuard {
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Processes whose spawn was under way at the abort, and which were stopped. */
  stoppedLate = 0;
  constructor(readonly signal: AbortSignal | undefined) {}

  /** Runs `fn` with this guard in scope. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return guards.run(this, fn);
  }

  /** Resolves once no spawn of this guard is under way (each one aborted is stopped by then). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** @internal */
  track<T>(spawning: Promise<T>): Promise<T> {
    this.inFlight.add(spawning);
    void spawning.then(
      () => this.inFlight.delete(spawning),
      () => this.inFlight.delete(spawning),
    );
    return spawning;
  }
}

const guards = new AsyncLocalStorage<SpawnGuard>();

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). Never 4222, 6222, 8222,
 * 6379 or 26379: a NATS or Redis of the machine may run there, and `up` must not collide with it.
 * Stays below 55000 because a Redis Cluster node also opens its port + 10000.
 */
export async function freePort(taken: ReadonlySet<number> = new Set()): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.on("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
      });
    });
    if (port > 0 && port < 55_000 && !RESERVED.has(port) && !taken.has(port)) return port;
  }
}

const RESERVED = new Set([4222, 6222, 8222, 6379, 26379]);

/** Starts `command` in its own process group, output appended to `logFile`; resolves with its pid. */
export function spawnDetached(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; logFile: string },
): Promise<number> {
  const guard = guards.getStore();
  const signal = guard?.signal;
  if (signal?.aborted) return Promise.reject(new StartInterruptedError(String(signal.reason), 0));
  const spawning = spawnNow(command, args, options).then(async (pid) => {
    if (!signal?.aborted || guard === undefined) return pid;
    guard.stoppedLate++;
    await stopProcesses([pid], 0);
    throw new StartInterruptedError(String(signal.reason), 0);
  });
  return guard === undefined ? spawning : guard.track(spawning);
}

function spawnNow(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; logFile: string },
): Promise<number> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const fd = openSync(options.logFile, "a");
  try {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    return new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => {
        child.unref();
        resolve(child.pid!);
      });
    });
  } finally {
    closeSync(fd);
  }
}

/** Whether the process `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // An exited child of ours stays as a zombie until reaped: it runs nothing, so it is not alive.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/** Sends `signal` to the process group led by `pid` (and to `pid` itself); ignores one that is gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops processes: SIGTERM to each group, then SIGKILL to what still runs after `graceMs`.
 * Resolves once none of them runs.
 */
export async function stopProcesses(pids: readonly number[], graceMs: number): Promise<void> {
  for (const pid of pids) signalGroup(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids) if (isAlive(pid)) signalGroup(pid, "SIGKILL");
  const hard = Date.now() + 5000;
  while (pids.some(isAlive) && Date.now() < hard) await sleep(20);
}

/** Polls `probe` until it is true; throws after `timeoutMs` with what `describe` says. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean> | boolean,
  options: { timeoutMs: number; intervalMs?: number; describe?: () => string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch {
      // not yet
    }
    await sleep(options.intervalMs ?? 100);
  }
  const detail = options.describe?.();
  throw new Error(
    `timed out after ${options.timeoutMs} ms waiting for ${what}${detail ? `\n${detail}` : ""}`,
  );
}

/** The last `lines` lines of a log file ("" when it cannot be read). */
export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** Whether `command` is an executable on PATH. */
export function onPath(command: string, path = process.env.PATH ?? ""): string | undefined {
  for (const folder of path.split(":")) {
    if (folder === "") continue;
    const candidate = `${folder}/${command}`;
    try {
      // X_OK: an executable file, as spawn would need it.
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
