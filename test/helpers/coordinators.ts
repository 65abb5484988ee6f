/**
 * The saga coordinator as `catga run` processes, for the tests that run it out of process
 * (test/integration/saga.integration.test.ts, test/chaos/durable-saga.integration.test.ts), and the
 * reading of saga records and the in-process coordinator shared with
 * test/fixtures/durable-events-conformance.ts and test/unit/saga-memory.test.ts.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { decodeRecord, type SagaRecord, sagaKeys } from "../../runtime/_saga-store.js";
import { type Bus, connectNats } from "../../runtime/bus.js";
import type { CoordinationBackend } from "../../runtime/coordination/backend.js";
import { RedisCoordination } from "../../runtime/coordination/redis-coordination.js";
import { type Heartbeat, type Host, startHost } from "../../runtime/host.js";
import { leaderGate } from "../../runtime/leadership.js";
import type { Transport } from "../../runtime/transport/types.js";
import type { Wiring } from "../../runtime/wiring.js";
import {
  coordinatorDefinition,
  type Effects,
  redisEffects,
  type StepHandlerOptions,
  stepDefinitions,
} from "../fixtures/saga.js";
import { freePort, type ServerProcess, waitFor } from "../harness/_process.js";
import { REPO_ROOT, spawnCatga } from "../harness/catga.js";

/** The statuses a saga does not leave. */
export const FINAL = ["completed", "compensated", "failed"];

/** A heartbeat as last received, with when (epoch ms). */
export type SeenHeartbeat = Heartbeat & { seen: number };

export interface CoordinatorOptions {
  /** The wiring file the processes load (the saga fixture's topology, `sagademo`). */
  wiringPath: string;
  redisUrl: string;
  /** A leader's heartbeat older than this, ms, no longer names a leader. */
  freshMs: number;
  /** How long {@link Coordinators.waitForLeader} waits, ms. */
  leaderTimeoutMs: number;
}

/**
 * Coordinator instances (`catga run --service coordinator` with the handlers of
 * test/fixtures/saga.ts) and the heartbeats they publish. `T` is what a test keeps per instance
 * besides its process and health port (the chaos test: which NATS node it is connected to).
 */
export class Coordinators<T extends object = object> {
  readonly beats = new Map<string, SeenHeartbeat>();
  readonly instances = new Map<string, { proc: ServerProcess; port: number } & T>();

  constructor(private readonly options: CoordinatorOptions) {}

  /** Records every coordinator heartbeat `bus` receives in {@link beats}. */
  track(bus: Bus): void {
    bus.transport.subscribe("sagademo._catga.heartbeat.>", {}, (msg) => {
      const beat = JSON.parse(new TextDecoder().decode(msg.data)) as Heartbeat;
      this.beats.set(beat.instance, { ...beat, seen: Date.now() });
    });
  }

  /** Starts instance `id` connected to `natsUrl` and waits until it is ready. */
  async spawn(id: string, natsUrl: string, extra: T): Promise<void> {
    const port = await freePort();
    const proc = spawnCatga(["run", "--service", "coordinator"], {
      CATGA_WIRING: this.options.wiringPath,
      CATGA_HANDLERS: join(REPO_ROOT, "test/fixtures/saga.ts"),
      CATGA_NATS_URLS: natsUrl,
      CATGA_REDIS_URL: this.options.redisUrl,
      CATGA_INSTANCE_ID: id,
      CATGA_HEALTH_PORT: String(port),
    });
    this.instances.set(id, { proc, port, ...extra });
    await waitFor(`${id} to be ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 100,
      describe: () => proc.output(),
    });
  }

  /** The instances whose process has not exited. */
  alive(): string[] {
    return [...this.instances.entries()].filter(([, i]) => !i.proc.exited).map(([id]) => id);
  }

  /** Waits for a live instance's fresh heartbeat as leader (one that `other` accepts). */
  async waitForLeader(other: (b: Heartbeat) => boolean = () => true): Promise<SeenHeartbeat> {
    let found: SeenHeartbeat | undefined;
    await waitFor(
      "a leader",
      async () => {
        found = [...this.beats.values()].find(
          (b) =>
            this.alive().includes(b.instance) &&
            b.role === "leader" &&
            Date.now() - b.seen < this.options.freshMs &&
            other(b),
        );
        return found !== undefined;
      },
      { timeoutMs: this.options.leaderTimeoutMs, intervalMs: 5 },
    );
    return found!;
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.instances.values()].map((i) => i.proc.kill()));
  }
}

/** Reads a saga's record from the coordination store (undefined: never started). */
export const sagaRecords =
  (coordination: Pick<CoordinationBackend, "hgetall">, tag: string) =>
  async (id: string): Promise<SagaRecord | undefined> =>
    decodeRecord(id, await coordination.hgetall(tag, sagaKeys.record(id)));

/** Waits until every saga of `ids` has a record in a final status; fails with how many have not. */
export async function waitSagasEnded(
  record: (id: string) => Promise<SagaRecord | undefined>,
  ids: readonly string[],
  options: { timeoutMs: number; intervalMs: number },
): Promise<void> {
  let missing = 0;
  let unfinished = 0;
  await waitFor(
    `${ids.length} sagas to end`,
    async () => {
      const records = await Promise.all(ids.map(record));
      missing = records.filter((r) => r === undefined).length;
      unfinished = records.filter((r) => r !== undefined && !FINAL.includes(r.status)).length;
      return missing === 0 && unfinished === 0;
    },
    { ...options, describe: () => `${missing} never started, ${unfinished} unfinished` },
  );
}

/**
 * Starts a coordinator instance in this process on `transport`, competing for the lead through
 * `coordination` and retrying every 50 ms (a failover then takes little test time).
 */
export function startCoordinatorHost(
  wiring: Wiring,
  id: string,
  transport: Transport,
  coordination: CoordinationBackend,
): Promise<Host> {
  return startHost({
    wiring,
    service: "coordinator",
    definition: coordinatorDefinition(wiring),
    transport,
    instanceId: id,
    coordination,
    leader: leaderGate({
      backend: coordination,
      service: wiring.services.coordinator!,
      instanceId: id,
      transport,
      timing: { retryPeriodMs: 50 },
    }),
  });
}

/**
 * The saga topology deployed on real servers: the step services in this process (two instances
 * each: a step's retry may land on either) recording their effects in Redis, a client on NATS
 * that tracks the coordinators' heartbeats, and {@link Coordinators} for the test to spawn the
 * coordinator processes with.
 */
export interface SagaDeployment<T extends object> {
  client: Bus;
  coordination: RedisCoordination;
  effects: Effects;
  coordinators: Coordinators<T>;
  record: ReturnType<typeof sagaRecords>;
  /** Stops the step services, the client and the coordinator processes (not the servers). */
  stop(): Promise<void>;
}

export async function startSagaDeployment<T extends object>(options: {
  wiring: Wiring;
  /** A folder for the wiring file the coordinator processes load. */
  dir: string;
  /** The NATS servers of the client and the step services. */
  natsUrls: string[];
  redisUrl: string;
  /** The step handlers' options; the test may change them between cases. */
  steps: StepHandlerOptions;
  /** The client's connection name. */
  clientName?: string;
  freshMs: number;
  leaderTimeoutMs: number;
}): Promise<SagaDeployment<T>> {
  const { wiring } = options;
  const wiringPath = join(options.dir, "wiring.json");
  writeFileSync(wiringPath, JSON.stringify(wiring));
  const plain = new Redis(options.redisUrl);
  const store = new Redis(options.redisUrl);
  const coordination = new RedisCoordination(store);
  const effects = redisEffects(plain, "effects");
  const tag = wiring.services.coordinator!.leader!.redisHashTag;
  const coordinators = new Coordinators<T>({
    wiringPath,
    redisUrl: options.redisUrl,
    freshMs: options.freshMs,
    leaderTimeoutMs: options.leaderTimeoutMs,
  });
  const stepHosts: Host[] = [];
  let client: Bus | undefined;
  const stop = async () => {
    await Promise.all(stepHosts.map((h) => h.stop({ graceMs: 100 })));
    await client?.close();
    await coordinators.killAll();
    plain.disconnect();
    store.disconnect();
  };
  try {
    client = await connectNats({
      servers: options.natsUrls,
      ...(options.clientName !== undefined ? { name: options.clientName } : {}),
    });
    coordinators.track(client);
    for (const [service, definition] of Object.entries(stepDefinitions(wiring, effects, options.steps))) {
      for (let i = 0; i < 2; i++) {
        const bus = await connectNats({ servers: options.natsUrls });
        stepHosts.push(await startHost({ wiring, service, definition, transport: bus.transport }));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { client, coordination, effects, coordinators, record: sagaRecords(coordination, tag), stop };
}
