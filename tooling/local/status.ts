/**
 * `catga status`: services, instances, roles, the leader and its fencing token (from heartbeats),
 * the NATS servers and their routes (from their monitoring endpoints), and Redis (each node's role
 * from `INFO replication`, or the cluster's state from `CLUSTER INFO`).
 */
import { readFileSync } from "node:fs";
import type { Role } from "@catga/runtime";
import {
  createRedis,
  type DurableReport,
  durableReport,
  natsTransport,
  parseRedisConfig,
  parseWiring,
  RedisCoordination,
  type SagaCounts,
  sagaStatus,
} from "@catga/runtime";
import { OPS_USER } from "../../compiler/emit/_names.js";
import { sleep } from "./_process.js";
import { HeartbeatBoard, type InstanceBeat, watchHeartbeats } from "./heartbeats.js";
import { askAs, natsRoutes, type RedisLogin, redisOpsEnv } from "./infra.js";
import { type LocalState, natsLogin } from "./state.js";

/** One instance in the status. */
export interface InstanceStatus {
  id: string;
  role: Role;
  /** Present for instances of the local cluster (from `.catga/`) and in every heartbeat. */
  pid?: number;
  /** Messages it answered or handled without an error, since it started. */
  handled: number;
  /** Messages whose handler failed or that failed their schema (the heartbeat's `errors`). */
  failed: number;
  /** Of the failed: payloads that failed their schema (the heartbeat's `invalid`). */
  invalid: number;
  /** Messages being handled at its last heartbeat. */
  inFlight: number;
  /** Handled plus failed per second between its last two heartbeats; `null` when only one was heard. */
  rate: number | null;
  /** Milliseconds since its last heartbeat arrived. */
  lastSeenMs: number;
}

/** One service in the status. */
export interface ServiceStatus {
  name: string;
  mode: "p2p" | "leader";
  /** Instances the local cluster runs (after `scale`); without `.catga/`, instances heard. */
  replicas: number;
  /**
   * Leader mode: the instance leading now and its term's fencing token (decimal); `null` when none
   * leads or no claim has evidence. A heartbeat's claim counts only when the lease in Redis names
   * the same instance and token (when Redis answers), and only from an instance the local cluster
   * started (when there is a local state); among what is left, the highest token wins.
   */
  leader: { instance: string; fencingToken: string } | null;
  /** The sums over its instances heard: handled, failed, invalid. */
  handled: number;
  failed: number;
  invalid: number;
  /** The sum of its instances' rates; `null` when none is known. */
  rate: number | null;
  instances: InstanceStatus[];
}

/** One Redis process in the status. */
export interface RedisNodeStatus {
  /** `host:port` */
  address: string;
  /** The name `catga up` gave it; absent for an external Redis. */
  name?: string;
  /** What it is now: after a failover a former replica reports `primary`. */
  role: "primary" | "replica" | "sentinel" | "unreachable";
  /** A replica's primary, or the primary a sentinel names (`host:port`). */
  primary?: string;
  /** Redis Cluster only: `ok` or `fail` from `CLUSTER INFO`. */
  clusterState?: string;
}

/** What `catga status --json` prints. */
export interface StatusReport {
  services: ServiceStatus[];
  /** Messages on heartbeat subjects that were dropped: malformed, or naming another service than their subject. */
  invalidHeartbeats: number;
  nats: { servers: { url: string; routes: number | null }[] };
  /** `null` when the topology uses no Redis (or it is unknown: status from a NATS URL only). */
  redis: { mode: "standalone" | "sentinel" | "cluster"; nodes: RedisNodeStatus[] } | null;
  /**
   * Per saga: unfinished ones by status and how many ended in each final status (from the saga
   * store in Redis). Present only for the local cluster of a topology that declares sagas.
   */
  sagas?: Record<string, SagaCounts>;
  /**
   * Durable events: each stream (messages, bytes) and each durable consumer (pending, waiting for
   * ack, redelivered, dead letters). Present only for the local cluster of a topology with durable
   * events.
   */
  durable?: DurableReport;
}

/** Options of {@link collectStatus}. */
export interface CollectStatusOptions {
  /** The local cluster's state; without it, only what `natsUrls` tells. */
  state?: LocalState;
  /** NATS to listen on: `--nats URL`, or the local cluster's servers. */
  natsUrls: readonly string[];
  /**
   * How long to listen for heartbeats. Instances beat every 2 s, so 2.5 s hears each at least once.
   * @default 2500
   */
  listenMs?: number;
  /**
   * How long to listen at most, so that every instance heard is heard twice and its rate is known:
   * after `listenMs`, listening goes on until then or until each has two heartbeats.
   * @default 4500
   */
  rateMs?: number;
  /** An already-filled board (the live view has one): used instead of listening. */
  board?: HeartbeatBoard;
}

/** Builds the status report. */
export async function collectStatus(options: CollectStatusOptions): Promise<StatusReport> {
  let beats: InstanceBeat[];
  let invalidHeartbeats: number;
  const started = Date.now();
  if (options.board !== undefined) {
    beats = options.board.list(6000);
    invalidHeartbeats = options.board.invalid;
  } else {
    const board = new HeartbeatBoard();
    const transport = await natsTransport({
      servers: options.natsUrls,
      name: "catga status",
      connectTimeoutMs: 5000,
      // The local cluster's `ops` user: it may read heartbeats and stream state, and change nothing.
      ...natsLogin(options.state, OPS_USER),
    });
    try {
      const sub = watchHeartbeats(transport, board, options.state?.topology);
      const listenMs = options.listenMs ?? 2500;
      await sleep(listenMs);
      const until = started + Math.max(listenMs, options.rateMs ?? 4500);
      while (Date.now() < until && board.list().some((b) => b.heard < 2)) await sleep(100);
      sub.unsubscribe();
    } finally {
      await transport.close();
    }
    beats = board.list(Date.now() - started + 100);
    invalidHeartbeats = board.invalid;
  }
  const [nats, redis, sagas, durable, leases] = await Promise.all([
    natsStatus(options),
    redisStatus(options.state),
    sagaCounts(options.state),
    durableStatus(options),
    leaseHolders(options.state),
  ]);
  return {
    services: servicesOf(beats, options.state, modesOf(options.state), Date.now(), leases),
    invalidHeartbeats,
    nats,
    redis,
    ...(sagas !== undefined ? { sagas } : {}),
    ...(durable !== undefined ? { durable } : {}),
  };
}

/** Groups heartbeats by service; the local state adds pids, replica counts and silent services. */
export function servicesOf(
  beats: readonly InstanceBeat[],
  state?: LocalState,
  modes: Readonly<Record<string, "p2p" | "leader">> = {},
  now = Date.now(),
  leases?: Readonly<Record<string, { owner: string; token: number } | null>>,
): ServiceStatus[] {
  const byService = new Map<string, InstanceBeat[]>();
  for (const b of beats) byService.set(b.beat.service, [...(byService.get(b.beat.service) ?? []), b]);
  for (const name of Object.keys(state?.handlers ?? {})) if (!byService.has(name)) byService.set(name, []);
  return [...byService.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, list]) => {
      const recorded = state?.instances.filter((i) => i.service === name);
      // A heartbeat is a claim, not evidence: without NATS users anyone can publish one. Redis's
      // lease is the evidence when status can read it; the local state says which instances exist.
      const lease = leases !== undefined && Object.hasOwn(leases, name) ? leases[name] : undefined;
      const leaders = list
        .filter(
          (b) =>
            b.beat.role === "leader" &&
            b.beat.fencingToken !== undefined &&
            (recorded === undefined ||
              recorded.length === 0 ||
              recorded.some((i) => i.id === b.beat.instance)) &&
            (lease === undefined ||
              (lease !== null &&
                lease.owner === b.beat.instance &&
                String(lease.token) === b.beat.fencingToken)),
        )
        .sort((a, b) => (BigInt(b.beat.fencingToken!) > BigInt(a.beat.fencingToken!) ? 1 : -1));
      const leader = leaders[0];
      const instances: InstanceStatus[] = list.map((b) => {
        const pid = recorded?.find((i) => i.id === b.beat.instance)?.pid ?? b.beat.pid;
        const c = b.beat.counters;
        return {
          id: b.beat.instance,
          role: b.beat.role,
          ...(pid !== undefined ? { pid } : {}),
          handled: c.handled,
          failed: c.errors,
          invalid: c.invalid,
          inFlight: c.inFlight,
          rate: b.heard >= 2 ? round(b.rate) : null,
          lastSeenMs: Math.max(0, now - b.receivedAt),
        };
      });
      const sum = (pick: (i: InstanceStatus) => number) => instances.reduce((n, i) => n + pick(i), 0);
      const rates = instances.flatMap((i) => (i.rate === null ? [] : [i.rate]));
      return {
        name,
        mode: list[0]?.beat.mode ?? modes[name] ?? "p2p",
        replicas: recorded?.length ?? list.length,
        leader: leader ? { instance: leader.beat.instance, fencingToken: leader.beat.fencingToken! } : null,
        handled: sum((i) => i.handled),
        failed: sum((i) => i.failed),
        invalid: sum((i) => i.invalid),
        rate: rates.length === 0 ? null : round(rates.reduce((a, b) => a + b, 0)),
        instances,
      };
    });
}

/** A rate as printed: one decimal. */
function round(rate: number): number {
  return Math.round(rate * 10) / 10;
}

/**
 * The lease holder of each leader-mode service, from Redis (`null`: nobody holds it), when the local
 * cluster has Redis and it answers; undefined otherwise (status then goes by heartbeats alone).
 */
export async function leaseHolders(
  state: LocalState | undefined,
): Promise<Record<string, { owner: string; token: number } | null> | undefined> {
  if (state?.redis === undefined) return undefined;
  let client: ReturnType<typeof createRedis> | undefined;
  try {
    const wiring = parseWiring(JSON.parse(readFileSync(state.wiring, "utf8")), state.wiring);
    const leaderServices = Object.entries(wiring.services).filter(([, s]) => s.leader !== undefined);
    if (leaderServices.length === 0) return undefined;
    client = createRedis(parseRedisConfig(redisOpsEnv(state.redis)), { connectTimeoutMs: 2000 });
    const c = client;
    await new Promise<void>((resolve, reject) => {
      if (c.status === "ready") resolve();
      c.once("ready", () => resolve());
      setTimeout(() => reject(new Error("redis not ready")), 3000).unref();
    });
    const coordination = new RedisCoordination(c);
    const holders: Record<string, { owner: string; token: number } | null> = {};
    for (const [name, s] of leaderServices) {
      const h = await coordination.holder(s.leader!.redisHashTag);
      holders[name] = h === null ? null : { owner: h.owner, token: h.token };
    }
    return holders;
  } catch {
    return undefined;
  } finally {
    client?.disconnect();
  }
}

/** Saga counts from the store, when the topology has sagas and Redis answers. */
async function sagaCounts(state: LocalState | undefined): Promise<Record<string, SagaCounts> | undefined> {
  if (state?.redis === undefined) return undefined;
  let client: ReturnType<typeof createRedis> | undefined;
  try {
    const wiring = parseWiring(JSON.parse(readFileSync(state.wiring, "utf8")), state.wiring);
    if (Object.keys(wiring.sagas).length === 0) return undefined;
    client = createRedis(parseRedisConfig(redisOpsEnv(state.redis)), { connectTimeoutMs: 2000 });
    const c = client;
    // Commands fail fast while disconnected: wait for the connection first.
    await new Promise<void>((resolve, reject) => {
      if (c.status === "ready") resolve();
      c.once("ready", () => resolve());
      setTimeout(() => reject(new Error("redis not ready")), 3000).unref();
    });
    return (await sagaStatus(new RedisCoordination(c), wiring)).counts;
  } catch {
    return undefined;
  } finally {
    client?.disconnect();
  }
}

/** Streams and consumers of the durable events, when the topology has some and NATS answers. */
async function durableStatus(options: CollectStatusOptions): Promise<DurableReport | undefined> {
  if (options.state === undefined) return undefined;
  let wiring: ReturnType<typeof parseWiring>;
  try {
    wiring = parseWiring(JSON.parse(readFileSync(options.state.wiring, "utf8")), options.state.wiring);
  } catch {
    return undefined;
  }
  if (!Object.values(wiring.messages).some((m) => m.durable !== undefined)) return undefined;
  let transport: Awaited<ReturnType<typeof natsTransport>> | undefined;
  try {
    transport = await natsTransport({
      servers: options.natsUrls,
      name: "catga status",
      connectTimeoutMs: 3000,
      ...natsLogin(options.state, OPS_USER),
    });
    return await durableReport(transport.streams(), wiring);
  } catch {
    return undefined;
  } finally {
    await transport?.close();
  }
}

/** Each service's mode from the local cluster's wiring, for services no instance of which is heard. */
function modesOf(state: LocalState | undefined): Record<string, "p2p" | "leader"> {
  if (state === undefined) return {};
  try {
    const wiring = JSON.parse(readFileSync(state.wiring, "utf8")) as {
      services: Record<string, { mode: "p2p" | "leader" }>;
    };
    return Object.fromEntries(Object.entries(wiring.services).map(([name, s]) => [name, s.mode]));
  } catch {
    return {};
  }
}

async function natsStatus(options: CollectStatusOptions): Promise<StatusReport["nats"]> {
  const servers = options.state?.nats.servers ?? [];
  if (servers.length > 0) {
    return {
      servers: await Promise.all(
        servers.map(async (s) => ({
          url: `nats://127.0.0.1:${s.port}`,
          routes: (await natsRoutes(s.monitorPort)) ?? null,
        })),
      ),
    };
  }
  // An external cluster: its monitoring port is not known; 8222 is the NATS default (and what the
  // emitted compose and Kubernetes files use), so try it.
  return {
    servers: await Promise.all(
      options.natsUrls.map(async (url) => {
        const host = hostOf(url);
        return { url, routes: host === undefined ? null : ((await natsRoutes(8222, host)) ?? null) };
      }),
    ),
  };
}

async function redisStatus(state: LocalState | undefined): Promise<StatusReport["redis"]> {
  const redis = state?.redis;
  if (redis === undefined) return null;
  const targets: { address: string; name?: string; sentinel: boolean }[] =
    redis.nodes.length > 0
      ? redis.nodes.map((n) => ({
          address: `127.0.0.1:${n.port}`,
          name: n.name,
          sentinel: n.kind === "sentinel",
        }))
      : externalTargets(redis.env);
  const master = redis.env.CATGA_REDIS_MASTER ?? "catga";
  // A local Redis runs the emitted ACL: data nodes are read as catga-ops, sentinels as catga-client.
  const ops = redisOpsEnv(redis);
  // `catga up --tls`: every node and sentinel presents a certificate of this run's CA.
  const tlsCa = ops.CATGA_REDIS_TLS_CA !== undefined ? { tlsCa: ops.CATGA_REDIS_TLS_CA } : {};
  const dataLogin: RedisLogin | undefined =
    ops.CATGA_REDIS_USER !== undefined
      ? { username: ops.CATGA_REDIS_USER, password: ops.CATGA_REDIS_PASSWORD ?? "", ...tlsCa }
      : undefined;
  const sentinelLogin: RedisLogin | undefined =
    ops.CATGA_REDIS_SENTINEL_USER !== undefined
      ? {
          username: ops.CATGA_REDIS_SENTINEL_USER,
          password: ops.CATGA_REDIS_SENTINEL_PASSWORD ?? "",
          ...tlsCa,
        }
      : undefined;
  const nodes = await Promise.all(
    targets.map(async (t): Promise<RedisNodeStatus> => {
      const base = { address: t.address, ...(t.name !== undefined ? { name: t.name } : {}) };
      try {
        if (t.sentinel) {
          const answer = (await askAs(
            sentinelLogin,
            t.address,
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            master,
          )) as string[] | null;
          return { ...base, role: "sentinel", ...(answer ? { primary: `${answer[0]}:${answer[1]}` } : {}) };
        }
        const info = String(await askAs(dataLogin, t.address, "INFO", "replication"));
        const role = /role:(\w+)/.exec(info)?.[1] === "master" ? "primary" : "replica";
        const host = /master_host:(\S+)/.exec(info)?.[1];
        const port = /master_port:(\d+)/.exec(info)?.[1];
        const status: RedisNodeStatus = {
          ...base,
          role,
          ...(host && port ? { primary: `${host}:${port}` } : {}),
        };
        if (redis.mode === "cluster") {
          status.clusterState =
            /cluster_state:(\w+)/.exec(String(await askAs(dataLogin, t.address, "CLUSTER", "INFO")))?.[1] ??
            "unknown";
        }
        return status;
      } catch {
        return { ...base, role: "unreachable" };
      }
    }),
  );
  return { mode: redis.mode, nodes };
}

function externalTargets(env: Record<string, string>): { address: string; sentinel: boolean }[] {
  if (env.CATGA_REDIS_SENTINELS) {
    return env.CATGA_REDIS_SENTINELS.split(",").map((address) => ({ address, sentinel: true }));
  }
  if (env.CATGA_REDIS_CLUSTER_NODES) {
    return env.CATGA_REDIS_CLUSTER_NODES.split(",").map((address) => ({ address, sentinel: false }));
  }
  if (env.CATGA_REDIS_URL) {
    const u = new URL(env.CATGA_REDIS_URL);
    return [{ address: `${u.hostname}:${u.port || 6379}`, sentinel: false }];
  }
  return [];
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname || undefined;
  } catch {
    return undefined;
  }
}

/** The status as text: one block per service, then NATS and Redis. */
export function formatStatus(report: StatusReport, topology?: string): string {
  const lines: string[] = [];
  if (topology !== undefined) lines.push(`topology ${topology}`);
  const rate = (r: number | null) => (r === null ? "-" : r.toFixed(1));
  const failed = (n: number, invalid: number) => `${n}${invalid > 0 ? ` (${invalid} invalid)` : ""}`;
  for (const s of report.services) {
    const leader = s.leader ? `, leader ${s.leader.instance} (token ${s.leader.fencingToken})` : "";
    const noLeader = s.mode === "leader" && s.leader === null ? ", NO LEADER" : "";
    const load = `handled ${s.handled}, failed ${failed(s.failed, s.invalid)}, ${rate(s.rate)}/s`;
    lines.push(
      `${s.name}  ${s.mode}, ${s.instances.length}/${s.replicas} heard${leader}${noLeader}; ${load}`,
    );
    for (const i of s.instances) {
      lines.push(
        `  ${i.id.padEnd(16)} ${i.role.padEnd(8)} pid ${String(i.pid ?? "-").padEnd(8)} handled ${String(i.handled).padStart(8)}  failed ${failed(i.failed, i.invalid).padStart(6)}  ${rate(i.rate).padStart(7)}/s  seen ${(i.lastSeenMs / 1000).toFixed(1)}s ago`,
      );
    }
  }
  if (report.invalidHeartbeats > 0) lines.push(`invalid heartbeats dropped: ${report.invalidHeartbeats}`);
  lines.push("nats");
  for (const s of report.nats.servers) lines.push(`  ${s.url}  routes ${s.routes ?? "unknown"}`);
  if (report.redis !== null) {
    lines.push(`redis ${report.redis.mode}`);
    for (const n of report.redis.nodes) {
      const extra = [
        n.primary ? `primary ${n.primary}` : "",
        n.clusterState ? `cluster_state:${n.clusterState}` : "",
      ].filter(Boolean);
      lines.push(
        `  ${(n.name ?? n.address).padEnd(12)} ${n.address.padEnd(16)} ${n.role}${extra.length ? `  ${extra.join(", ")}` : ""}`,
      );
    }
  }
  for (const st of report.durable?.streams ?? []) {
    lines.push(
      `stream ${st.name}  ${st.messages === null ? "missing" : `messages ${st.messages}, bytes ${st.bytes}`}`,
    );
  }
  for (const c of report.durable?.consumers ?? []) {
    const numbers =
      c.pending === null
        ? "missing"
        : `pending ${c.pending}, waiting for ack ${c.ackPending}, redelivered ${c.redelivered}`;
    lines.push(`consumer ${c.consumer} on ${c.event}  ${numbers}, dead letters ${c.deadLetters}`);
  }
  for (const [name, c] of Object.entries(report.sagas ?? {})) {
    lines.push(
      `saga ${name}  running ${c.running}, compensating ${c.compensating}, completed ${c.completed}, compensated ${c.compensated}, failed ${c.failed}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
