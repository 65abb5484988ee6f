/**
 * Spawning and observing `_elector-child.ts` processes: each is one instance that the tests can
 * SIGKILL, SIGSTOP and SIGCONT, and whose JSON-line reports they read back.
 */
import { fileURLToPath } from "node:url";
import { type ServerProcess, spawnServer, waitFor } from "../harness/_process.js";
import type { ChildConfig, ChildReport } from "./_elector-child.js";

const SCRIPT = fileURLToPath(new URL("./_elector-child.ts", import.meta.url));

/** One child instance. */
export interface Child {
  readonly id: string;
  readonly process: ServerProcess;
  /** Every report so far (also after the process died). */
  reports(): ChildReport[];
  /** Whether its last election report says leader (and it is alive). */
  isLeader(): boolean;
  /** The token of its last `elected` report. */
  lastToken(): number | undefined;
}

/** The CATGA_REDIS_* variables of a deployment. */
export type RedisEnv = Record<string, string>;

/** Starts a child with `config`, connected per `redisEnv`. */
export function spawnChild(redisEnv: RedisEnv, config: ChildConfig): Child {
  const env: NodeJS.ProcessEnv = { ...process.env, CATGA_CHILD: JSON.stringify(config) };
  for (const key of Object.keys(env)) if (key.startsWith("CATGA_REDIS_")) delete env[key];
  Object.assign(env, redisEnv);
  const proc = spawnServer(process.execPath, ["--import", "tsx", SCRIPT], { env });
  let parsed: ChildReport[] = [];
  let consumed = 0;
  const reports = (): ChildReport[] => {
    const out = proc.output();
    const end = out.lastIndexOf("\n") + 1;
    if (end > consumed) {
      const fresh = out
        .slice(consumed, end)
        .split("\n")
        .filter((line) => line.startsWith('{"type"'))
        .map((line) => JSON.parse(line) as ChildReport);
      parsed = parsed.concat(fresh);
      consumed = end;
    }
    return parsed;
  };
  const lastElection = () =>
    reports()
      .filter((r) => r.type === "elected" || r.type === "demoted")
      .at(-1);
  return {
    id: config.instanceId,
    process: proc,
    reports,
    isLeader: () => !proc.exited && lastElection()?.type === "elected",
    lastToken: () => {
      const last = reports()
        .filter((r) => r.type === "elected")
        .at(-1);
      return last?.type === "elected" ? last.token : undefined;
    },
  };
}

/** Polls until `probe` holds; fails with `what` and the children's output otherwise. */
export async function until(
  what: string,
  probe: () => boolean | Promise<boolean>,
  children: readonly Child[] = [],
  timeoutMs = 20_000,
): Promise<void> {
  await waitFor(what, async () => probe(), {
    timeoutMs,
    intervalMs: 25,
    describe: () => children.map((c) => `--- ${c.id}\n${c.process.output().slice(-2000)}`).join("\n"),
  });
}

/** Elected reports of all children, oldest first. */
export function elections(children: readonly Child[]): { id: string; token: number; at: number }[] {
  return children
    .flatMap((c) =>
      c.reports().flatMap((r) => (r.type === "elected" ? [{ id: c.id, token: r.token, at: r.at }] : [])),
    )
    .sort((a, b) => a.at - b.at);
}
