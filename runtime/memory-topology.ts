/**
 * A whole topology in one process, with no servers: every replica of every service is a service
 * host on its own in-memory connection to one {@link MemoryHub} (NATS semantics: queue groups,
 * broadcast, no-responders), and leader-mode services elect their leader on one
 * {@link MemoryCoordination} (Redis semantics: leases, fencing tokens, tick claims). This is what
 * `npm run demo` and `catga up --memory` run, and what tests use to run a topology without
 * processes.
 *
 * Instances are named `<service>-<n>`, numbered from 0 in start order; a number is never reused,
 * because an instance id is a lease owner: a new instance reusing a crashed one's id would inherit
 * its unexpired lease instead of waiting for it, which is not what a new process would do.
 */
import type { ServiceDefinition } from "./api.js";
import { type Bus, createBus } from "./bus.js";
import { MemoryCoordination } from "./coordination/memory-coordination.js";
import { CatgaError } from "./errors.js";
import { DefinitionMismatchError, type Heartbeat, type Host, type Role, startHost } from "./host.js";
import { leaderGate } from "./leadership.js";
import { type Logger, silentLogger } from "./log.js";
import { MemoryHub, memoryTransport } from "./transport/memory.js";
import type { Transport } from "./transport/types.js";
import type { Wiring, WiringService } from "./wiring.js";

/** Options of {@link startMemoryTopology}. */
export interface MemoryTopologyOptions {
  /** The topology's wiring (`wiring.json` from `catgac build`, parsed with `parseWiring`). */
  wiring: Wiring;
  /** Each service's definition (the default export of its handler module), by service name. */
  definitions: Readonly<Record<string, ServiceDefinition>>;
  /**
   * Replicas per service, overriding the wiring's.
   * @default each service's `replicas` from the wiring
   */
  replicas?: Readonly<Record<string, number>>;
  /**
   * Where the instances log (each line carries its service and instance).
   * @default silentLogger
   */
  log?: Logger;
  /**
   * The lease of every leader-mode service, overriding the topology's `lease` (tests and demos that
   * want a crash failover in less than the declared lease).
   * @default each service's lease from the wiring
   */
  leaseMs?: number;
  /**
   * Heartbeat period of every instance.
   * @default 1000
   */
  heartbeatMs?: number;
  /**
   * The coordination store. Pass your own to inspect it or to simulate an outage
   * (`setUnavailable`).
   * @default a new MemoryCoordination
   */
  coordination?: MemoryCoordination;
}

/** One running instance of a {@link MemoryTopology}. */
export interface MemoryInstance {
  /** `<service>-<n>`. */
  readonly id: string;
  readonly service: string;
  /** The role right now: `peer`, or `leader` / `standby` in leader mode. */
  readonly role: Role;
  readonly host: Host;
}

/** A topology running in this process. */
export interface MemoryTopology {
  /** The hub every instance and client is connected to. */
  readonly hub: MemoryHub;
  /** Where leader-mode services hold their leases and schedules claim their ticks. */
  readonly coordination: MemoryCoordination;
  /** The running instances, by service in wiring order, then by number. */
  instances(): MemoryInstance[];
  /**
   * Ends one instance. By default a crash (as SIGKILL): it stops answering at once and a leader
   * keeps its lease until it expires, so a standby takes over only then. With `graceful` (as
   * SIGTERM): it drains, and a leader releases its lease so a standby takes over at once.
   *
   * @throws UnknownInstanceError when no running instance has this id.
   */
  kill(id: string, options?: { graceful?: boolean }): Promise<void>;
  /**
   * Runs `n` instances of `service`: starts new ones (with new numbers) or stops the newest
   * gracefully.
   *
   * @throws UnknownServiceError when the topology has no such service.
   * @throws RangeError when `n` is not a non-negative integer.
   */
  scale(service: string, n: number): Promise<void>;
  /**
   * A client bus on the hub (reply inboxes under `_INBOX.<topology>.client`, as the emitted NATS
   * permissions give applications): pass it to the generated client, `connectShop(topology.bus())`.
   * The same bus on every call; {@link stop} closes it.
   */
  bus(): Bus;
  /**
   * The latest heartbeat of every instance that ever sent one, by service then instance id,
   * including instances that have stopped or crashed since (their heartbeat only grows older).
   */
  heartbeats(): Heartbeat[];
  /** Stops every instance gracefully and closes the client bus. */
  stop(): Promise<void>;
}

/** No running instance has the id given to {@link MemoryTopology.kill}. */
export class UnknownInstanceError extends CatgaError {
  override name = "UnknownInstanceError";
  constructor(
    readonly instance: string,
    readonly running: readonly string[],
  ) {
    super(`no running instance '${instance}'; running: ${running.join(", ") || "none"}`, {
      code: "UNKNOWN_INSTANCE",
    });
  }
}

/** The topology has no service of the name given to {@link MemoryTopology.scale}. */
export class UnknownServiceError extends CatgaError {
  override name = "UnknownServiceError";
  constructor(
    readonly service: string,
    readonly services: readonly string[],
  ) {
    super(`the topology has no service '${service}'; it has ${services.join(", ")}`, {
      code: "UNKNOWN_SERVICE",
    });
  }
}

interface Running {
  id: string;
  service: string;
  number: number;
  host: Host;
}

/**
 * Starts every replica of every service of `wiring` in this process and resolves once all are
 * started (p2p instances subscribed; leader-mode instances campaigning: one of them becomes leader
 * within moments, the first to reach the store).
 *
 * @throws DefinitionMismatchError when a service has no definition or its definition does not fit
 *   the wiring; instances already started are stopped first.
 */
export async function startMemoryTopology(options: MemoryTopologyOptions): Promise<MemoryTopology> {
  const { wiring, definitions } = options;
  const log = options.log ?? silentLogger;
  const services = Object.keys(wiring.services);
  for (const service of services) {
    if (definitions[service] === undefined) {
      throw new DefinitionMismatchError(service, [
        "no definition was given (the handler module's default export)",
      ]);
    }
  }
  for (const service of Object.keys(options.replicas ?? {})) {
    if (!services.includes(service)) throw new UnknownServiceError(service, services);
  }
  const hub = new MemoryHub();
  const coordination = options.coordination ?? new MemoryCoordination();
  const running: Running[] = [];
  const nextNumber = new Map<string, number>();
  const latest = new Map<string, Heartbeat>();
  const decoder = new TextDecoder();

  // Heartbeats are watched on a connection of their own, as `catga status` does over NATS.
  const monitor = memoryTransport(hub, { inboxPrefix: `_INBOX.${wiring.topology}.ops` });
  monitor.subscribe(`${wiring.controlPrefix}.heartbeat.>`, {}, (msg) => {
    try {
      const beat = JSON.parse(decoder.decode(msg.data)) as Heartbeat;
      latest.set(beat.instance, beat);
    } catch {
      // Not a heartbeat of ours: nothing to record.
    }
  });
  let client: Bus | undefined;

  async function startInstance(service: string): Promise<void> {
    const ws = wiring.services[service] as WiringService;
    const number = nextNumber.get(service) ?? 0;
    nextNumber.set(service, number + 1);
    const id = `${service}-${number}`;
    const transport: Transport = memoryTransport(hub, { inboxPrefix: ws.inboxPrefix });
    const leader =
      ws.mode === "leader"
        ? leaderGate({
            backend: coordination,
            service:
              options.leaseMs !== undefined && ws.leader
                ? { ...ws, leader: { ...ws.leader, leaseMs: options.leaseMs } }
                : ws,
            instanceId: id,
            transport,
            log: log.child({ service, instance: id }),
          })
        : undefined;
    const host = await startHost({
      wiring,
      service,
      definition: definitions[service] as ServiceDefinition,
      transport,
      instanceId: id,
      log,
      heartbeatMs: options.heartbeatMs ?? 1000,
      ...(leader ? { leader, coordination } : {}),
    });
    running.push({ id, service, number, host });
  }

  async function stopAll(): Promise<void> {
    const all = running.splice(0);
    await Promise.all(all.map((r) => r.host.stop()));
  }

  try {
    for (const service of services) {
      const n = options.replicas?.[service] ?? (wiring.services[service] as WiringService).replicas;
      for (let i = 0; i < n; i++) await startInstance(service);
    }
  } catch (error) {
    await stopAll();
    await monitor.close();
    throw error;
  }

  const order = (r: Running) => services.indexOf(r.service);
  return {
    hub,
    coordination,
    instances: () =>
      [...running]
        .sort((a, b) => order(a) - order(b) || a.number - b.number)
        .map((r) => ({ id: r.id, service: r.service, role: r.host.role, host: r.host })),
    async kill(id, { graceful = false } = {}) {
      const index = running.findIndex((r) => r.id === id);
      const target = running[index];
      if (target === undefined) {
        throw new UnknownInstanceError(
          id,
          running.map((r) => r.id),
        );
      }
      running.splice(index, 1);
      if (graceful) await target.host.stop();
      else await target.host.crash();
    },
    async scale(service, n) {
      if (!services.includes(service)) throw new UnknownServiceError(service, services);
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`replicas must be an integer ≥ 0, got ${n}`);
      const mine = running.filter((r) => r.service === service).sort((a, b) => a.number - b.number);
      for (let i = mine.length; i < n; i++) await startInstance(service);
      const surplus = mine.slice(n);
      for (const r of surplus) running.splice(running.indexOf(r), 1);
      await Promise.all(surplus.map((r) => r.host.stop()));
    },
    bus() {
      client ??= createBus(memoryTransport(hub, { inboxPrefix: `_INBOX.${wiring.topology}.client` }), {
        log,
      });
      return client;
    },
    heartbeats: () =>
      [...latest.values()].sort(
        (a, b) =>
          services.indexOf(a.service) - services.indexOf(b.service) ||
          a.instance.localeCompare(b.instance, "en", { numeric: true }),
      ),
    async stop() {
      await client?.close();
      await stopAll();
      await monitor.drain();
    },
  };
}
