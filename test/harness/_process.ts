/**
 * Shared plumbing of the server harnesses: free ports, temp folders, spawned servers that never
 * outlive the test process, and waiting for readiness.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A TCP port that was free a moment ago, below the kernel's ephemeral range (Linux: 32768–60999).
 * A port the OS picks with `listen(0)` comes from that range, the same range every outgoing
 * connection takes its local port from: between this check and the server's bind, one of the
 * hundreds of client connections a test run opens could take it ("address already in use", seen
 * in a full run). Ports from 20000 to 32767 are only ever taken by a listener. Never 4222 or 6379:
 * the machine's own NATS and Redis run there, and tests must not touch them.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_768);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.unref();
      server.once("error", () => resolve(false));
      server.listen(candidate, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    // Redis Cluster also opens port + 10000 (its bus): it must be free too.
    if (free && (await busFree(candidate + 10_000))) return candidate;
  }
}

/** Whether a listener can bind `port` on loopback now. */
function busFree(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A fresh temp folder, removed by the returned function. */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `catga-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A spawned server process with its own process group, so signals reach it and only it. */
export interface ServerProcess {
  readonly pid: number;
  /** Output so far (stdout and stderr), for error messages. */
  output(): string;
  /** Sends a signal to the process group. Ignores a process that is already gone. */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
  /** Whether the process has exited. */
  readonly exited: boolean;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  // A crashed or interrupted test run must not leave servers behind.
  for (const child of live) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** Spawns `command` detached (own process group), capturing output. */
export function spawnServer(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ServerProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.on("exit", () => {
      exited = true;
      live.delete(child);
      resolve();
    });
    child.on("error", (error) => {
      out += `\nspawn error: ${error.message}`;
      exited = true;
      live.delete(child);
      resolve();
    });
  });
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  live.add(child);
  const signal = (sig: NodeJS.Signals) => {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  return {
    get pid() {
      return child.pid ?? -1;
    },
    output: () => out,
    signal,
    kill: async () => {
      signal("SIGKILL");
      await exit;
    },
    get exited() {
      return exited;
    },
  };
}

/**
 * Polls `probe` until it resolves true, or throws after `timeoutMs` with `describe()` in the message
 * (the server's output, usually), so a server that fails to start says why.
 */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; describe?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
  const detail = options.describe?.() ?? (lastError instanceof Error ? lastError.message : "");
  throw new Error(`timed out waiting for ${what}${detail ? `:\n${detail}` : ""}`);
}
