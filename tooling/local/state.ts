/**
 * The state of a local cluster: `.catga/state.json` in the working directory, written by `catga up`
 * and updated by `kill` and `scale`, so every command finds the servers, their ports and every
 * instance's pid. `down` removes the whole `.catga/` folder (logs and server data included).
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { isAlive } from "./_process.js";
import { LocalClusterError } from "./errors.js";

/** The folder of the local cluster's state, logs and server data, relative to the working directory. */
export const STATE_DIR = ".catga";

const natsServerSchema = z.strictObject({
  name: z.string(),
  pid: z.number().int(),
  port: z.number().int(),
  clusterPort: z.number().int(),
  monitorPort: z.number().int(),
});

const redisNodeSchema = z.strictObject({
  name: z.string(),
  /** What it was started as; the current role (after a failover) is asked at `status`. */
  kind: z.enum(["standalone", "primary", "replica", "sentinel", "cluster"]),
  pid: z.number().int(),
  port: z.number().int(),
});

const instanceSchema = z.strictObject({
  /** `<service>-<n>`. */
  id: z.string(),
  service: z.string(),
  n: z.number().int().min(0),
  pid: z.number().int(),
  healthPort: z.number().int(),
});

/** `.catga/state.json`. */
export const stateSchema = z.strictObject({
  version: z.literal(1),
  topology: z.string(),
  /** The topology file (absolute). */
  file: z.string(),
  /** The built wiring (absolute). */
  wiring: z.string(),
  /** The pid of the `catga up` that shows the live view; absent once it exited (`--detach`). */
  supervisor: z.number().int().optional(),
  nats: z.strictObject({
    /** Client URLs of every server. */
    urls: z.array(z.string()),
    /** True when the wiring names an existing cluster (`nats { url }`): nothing was started. */
    external: z.boolean(),
    servers: z.array(natsServerSchema),
    /**
     * The password of each NATS user of the emitted `nats/nats.conf` (every service, `client`,
     * `ops`, `admin`), random per run; absent for an existing NATS (`nats { url }`), whose
     * credentials come from the caller's environment. The reason the state file is 0600.
     */
    users: z.record(z.string(), z.string()).optional(),
  }),
  /**
   * `catga up --tls`: NATS and Redis listen on TLS only, with certificates made for this run in
   * `.catga/tls/`; every tool and instance trusts `ca` (the CA certificate). Absent without `--tls`.
   */
  tls: z
    .strictObject({
      /** The CA certificate every client trusts (`.catga/tls/ca.crt`). */
      ca: z.string(),
      /** The servers' certificate and key (valid for 127.0.0.1 and localhost). */
      cert: z.string(),
      key: z.string(),
    })
    .optional(),
  /** Absent when no service uses Redis (leader mode or `uses redis`). */
  redis: z
    .strictObject({
      mode: z.enum(["standalone", "sentinel", "cluster"]),
      external: z.boolean(),
      /** The `CATGA_REDIS_*` variables every instance gets. */
      env: z.record(z.string(), z.string()),
      nodes: z.array(redisNodeSchema),
      /**
       * The password of each Redis ACL user of the emitted ACL, by its password variable
       * (`CATGA_REDIS_PASSWORD_ORDER`, `CATGA_REDIS_OPS_PASSWORD`, …), random per run; absent for
       * an existing Redis (`redis { url }`), whose credentials come from the caller's environment.
       */
      users: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  /** How to start `catga run`: the command and its first arguments. */
  launcher: z.array(z.string()).min(1),
  /** Handler module of each service (absolute). */
  handlers: z.record(z.string(), z.string()),
  instances: z.array(instanceSchema),
});

/** The parsed state file. */
export type LocalState = z.infer<typeof stateSchema>;

/** One instance as the state records it. */
export type LocalInstance = LocalState["instances"][number];

/** One NATS server as the state records it. */
export type LocalNatsServer = LocalState["nats"]["servers"][number];

/** One Redis process as the state records it. */
export type LocalRedisNode = NonNullable<LocalState["redis"]>["nodes"][number];

/** Paths under the state folder of the working directory `cwd`. */
export function statePaths(cwd: string = process.cwd()): { dir: string; file: string; logs: string } {
  const dir = resolve(cwd, STATE_DIR);
  return { dir, file: join(dir, "state.json"), logs: join(dir, "logs") };
}

/** Reads the state, or `undefined` when there is none. */
export function readState(cwd?: string): LocalState | undefined {
  const { file } = statePaths(cwd);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const parsed = stateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new LocalClusterError(
      `${file} is not a state file of this catga version; stop its processes and remove ${STATE_DIR}/`,
      { cause: parsed.error },
    );
  }
  return parsed.data;
}

/** Reads the state and fails with a helpful message when no cluster was started here. */
export function requireState(cwd?: string): LocalState {
  const state = readState(cwd);
  if (state === undefined) {
    throw new LocalClusterError(
      `no local cluster in ${statePaths(cwd).dir}: start one with 'catga up FILE.catga' (or pass --nats URL)`,
    );
  }
  return state;
}

/**
 * Writes the state atomically (a reader never sees half a file), readable by its owner only: it
 * holds the NATS users' passwords.
 */
export function writeState(state: LocalState, cwd?: string): void {
  const { dir, file } = statePaths(cwd);
  mkdirSync(dir, { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, file);
}

/**
 * Re-reads the state, applies `mutate` and writes it back, holding `.catga/state.lock` meanwhile, so
 * `catga kill`, `catga scale` and a running `catga up` that change the state at the same time do not
 * overwrite each other's changes (each works on the file as it is, not on the copy it read when it
 * started).
 *
 * @throws LocalClusterError when there is no state, or another live process holds the lock for
 *   longer than `waitMs`.
 */
export function updateState(
  mutate: (state: LocalState) => void,
  cwd?: string,
  options: { waitMs?: number } = {},
): LocalState {
  return withStateLock(
    () => {
      const state = requireState(cwd);
      mutate(state);
      writeState(state, cwd);
      return state;
    },
    cwd,
    options,
  );
}

/**
 * Runs `fn` while holding `.catga/state.lock` (created exclusively, holding the owner's pid). A lock
 * whose owner no longer runs (a command killed mid-update) is taken over. The critical sections are
 * a read and a write of a small file, so waiting blocks: these are one-shot CLI commands.
 */
export function withStateLock<T>(fn: () => T, cwd?: string, options: { waitMs?: number } = {}): T {
  const { dir } = statePaths(cwd);
  const lock = join(dir, "state.lock");
  mkdirSync(dir, { recursive: true });
  const deadline = Date.now() + (options.waitMs ?? 10_000);
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = lockHolder(lock);
    // A holder that no longer runs cannot release: take its lock over. (The file is re-read just
    // before, so a lock a live process took in the meantime is not removed.)
    if (holder !== undefined && !isAlive(holder) && lockHolder(lock) === holder) {
      rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new LocalClusterError(
        `${lock} is held by process ${holder ?? "(unknown)"}: another catga command is changing the cluster; try again when it is done`,
      );
    }
    Atomics.wait(PAUSE, 0, 0, 20);
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

function lockHolder(lock: string): number | undefined {
  try {
    const pid = Number(readFileSync(lock, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How a tool logs in to the local cluster's NATS as `user` (`ops` for status and the live view,
 * `admin` for dead letters, `client` for a client script): the user, its password and the inbox
 * prefix its grants allow (`_INBOX.<topology>.<user>`). Empty when the cluster has no users (an
 * existing NATS: the caller's own credentials apply).
 */
export function natsLogin(
  state: LocalState | undefined,
  user: string,
): { user?: string; password?: string; inboxPrefix?: string; tls?: { caFile: string } } {
  const password = state?.nats.users?.[user];
  if (state === undefined || password === undefined) return {};
  return {
    user,
    password,
    inboxPrefix: `_INBOX.${state.topology}.${user}`,
    // `catga up --tls`: the servers present a certificate of this run's CA.
    ...(state.tls !== undefined && !state.nats.external ? { tls: { caFile: state.tls.ca } } : {}),
  };
}

/** Removes the whole state folder; with `keepLogs`, everything but `logs/`. */
export function removeState(cwd?: string, options: { keepLogs?: boolean } = {}): void {
  const { dir, logs } = statePaths(cwd);
  if (!options.keepLogs || !existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  // After a failed start: the error printed points into logs/, so only the rest goes.
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (path !== logs) rmSync(path, { recursive: true, force: true });
  }
}

/** Every pid the state records: servers, instances and the supervising `catga up`. */
export function recordedPids(state: LocalState): { infra: number[]; instances: number[] } {
  return {
    infra: [...state.nats.servers.map((s) => s.pid), ...(state.redis?.nodes.map((n) => n.pid) ?? [])],
    instances: state.instances.map((i) => i.pid),
  };
}

/** Whether anything the state records still runs. */
export function anythingAlive(state: LocalState): boolean {
  const { infra, instances } = recordedPids(state);
  return [...infra, ...instances].some(isAlive);
}
