/**
 * `catga` run from source as a separate process, the way tests and benchmarks start real instances
 * (`catga run`) that they can SIGKILL, SIGSTOP or SIGTERM.
 */
import { join } from "node:path";
import { type ServerProcess, spawnServer } from "./_process.js";

/** The repository root: the working directory of every spawned instance. */
export const REPO_ROOT = new URL("../..", import.meta.url).pathname;

/**
 * Spawns `catga <args>` from source (through tsx) in its own process group, with `env` on top of
 * this process's environment.
 */
export function spawnCatga(args: readonly string[], env: NodeJS.ProcessEnv): ServerProcess {
  return spawnServer(
    process.execPath,
    ["--import", "tsx", join(REPO_ROOT, "test/fixtures/run-catga.ts"), ...args],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
    },
  );
}
