/**
 * The JetStream grants of the emitted nats.conf, on a real nats-server with JetStream: each service
 * ensures and uses exactly its own streams and consumers, and is refused everything else. Uses the
 * raw `@nats-io/jetstream` client, connected as the runtime connects (its user, its own inbox prefix).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { connect, type NatsConnection, PermissionViolationError } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import {
  ADMIN_USER,
  deadLetterStream,
  deadLetterSubject,
  eventConsumer,
  eventStream,
  inboxPrefix,
  NATS_CLUSTER_PASSWORD_VAR,
  NATS_JS_LIMIT_VARS,
  NATS_JS_LIMITS,
  natsPasswordVar,
  natsRouteUrl,
  natsRouteVar,
  OPS_USER,
} from "../../compiler/emit/_names.js";
import { natsPermissions, natsServerConf } from "../../compiler/emit/nats.js";
import { buildWiring } from "../../compiler/emit/wiring.js";
import type { TopologyModel } from "../../compiler/model.js";
import { type NatsCluster, type NatsServer, startNats, startNatsCluster } from "../harness/nats.js";

const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

/** The shop as declared: `durable event OrderCreated`, the trigger of saga PlaceOrder. */
function durableShop(): TopologyModel {
  const file = join(EXAMPLES, "shop", "shop.catga");
  const { value, diagnostics } = checkSource(readFileSync(file, "utf8"), file);
  if (value === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  if (value.messages.find((m) => m.name === "OrderCreated")?.durable === undefined)
    throw new Error("the shop's OrderCreated is not durable");
  return value;
}

const shop = durableShop();
const STREAM = eventStream(shop.name, "OrderCreated");
const DEAD = deadLetterStream(shop.name);
const SUBJECT = "shop.event.OrderCreated";
/**
 * The coordinator's consumer of OrderCreated, as the runtime reads it from the wiring: the saga
 * PlaceOrder's own trigger consumer `coordinator-PlaceOrder`.
 */
const COORDINATOR = (() => {
  const consumer = buildWiring(shop, { sourceName: "shop.catga" }).sagas.PlaceOrder?.trigger.durable
    ?.consumer;
  if (consumer === undefined) throw new Error("the wiring has no durable consumer for PlaceOrder's trigger");
  return consumer;
})();

const env: Record<string, string> = {
  [NATS_CLUSTER_PASSWORD_VAR]: `r${randomBytes(16).toString("hex")}`,
  [NATS_JS_LIMIT_VARS.memory]: NATS_JS_LIMITS.memory,
  [NATS_JS_LIMIT_VARS.file]: "1G",
};
for (const user of Object.keys(natsPermissions(shop)))
  env[natsPasswordVar(user)] = `p${randomBytes(16).toString("hex")}`;

const connections: NatsConnection[] = [];
const folders: string[] = [];

function storeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "catga-js-store-"));
  folders.push(dir);
  return dir;
}

/** Connects as a user of the shop the way the runtime does (own inbox prefix), recording violations. */
async function login(url: string | string[], user: string) {
  const nc = await connect({
    servers: url,
    user,
    pass: env[natsPasswordVar(user)]!,
    inboxPrefix: inboxPrefix(shop.name, user),
    reconnect: false,
  });
  connections.push(nc);
  const violations: PermissionViolationError[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "error" && status.error instanceof PermissionViolationError)
        violations.push(status.error);
    }
  })();
  // A refused API request gets no answer: a short timeout keeps the refusals quick.
  const jsm = async (): Promise<JetStreamManager> => jetstreamManager(nc, { timeout: 2000 });
  return { nc, violations, jsm, js: jetstream(nc, { timeout: 2000 }) };
}

/** Creates or updates a stream, as every instance does at start. */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }) {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch (error) {
    if (!(error instanceof Error) || !/stream not found/.test(error.message)) throw error;
    await jsm.streams.add(config);
  }
}

const eventStreamConfig = (replicas: number) => ({
  name: STREAM,
  subjects: [SUBJECT],
  max_age: 604_800_000 * 1_000_000,
  duplicate_window: 120_000 * 1_000_000,
  num_replicas: replicas,
});
const deadStreamConfig = { name: DEAD, subjects: ["shop.dead.>"], num_replicas: 1 };

/** Creates or updates the coordinator's durable consumer. */
async function ensureCoordinatorConsumer(jsm: JetStreamManager): Promise<void> {
  const config = {
    durable_name: COORDINATOR,
    filter_subject: SUBJECT,
    ack_policy: AckPolicy.Explicit,
    ack_wait: 30_000 * 1_000_000,
    max_deliver: 5,
  };
  try {
    await jsm.consumers.info(STREAM, COORDINATOR);
    await jsm.consumers.update(STREAM, COORDINATOR, { max_deliver: 5, ack_wait: config.ack_wait });
  } catch (error) {
    if (!(error instanceof Error) || !/consumer not found/.test(error.message)) throw error;
    await jsm.consumers.add(STREAM, config);
  }
}

/** Waits until `found()` holds, or fails after `ms`. */
async function eventually(found: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!found()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `op` fails, and the server reports a publish violation on exactly `subject`. */
async function refused(
  who: { violations: PermissionViolationError[] },
  subject: string,
  op: () => Promise<unknown>,
): Promise<void> {
  await expect(op()).rejects.toThrow();
  await eventually(
    () => who.violations.some((v) => v.operation === "publish" && v.subject === subject),
    `a publish violation on ${subject}`,
  );
}

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

describe("nats jetstream permissions — one server running the emitted config", () => {
  let server: NatsServer;

  beforeAll(async () => {
    const config = natsServerConf(shop, { sourceName: "shop.catga", routes: [], storeDir: storeDir() });
    server = await startNats({ config, env });
    // The stream and the coordinator's consumer, ensured by their own users as at start-up.
    const order = await login(server.url, "order");
    await ensureStream(await order.jsm(), eventStreamConfig(1));
    const coordinator = await login(server.url, "coordinator");
    const jsm = await coordinator.jsm();
    await ensureStream(jsm, eventStreamConfig(1));
    await ensureStream(jsm, deadStreamConfig);
    await ensureCoordinatorConsumer(jsm);
    expect(order.violations).toEqual([]);
    expect(coordinator.violations).toEqual([]);
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("nats jetstream — the emitter publishes its durable event and the stream acknowledges, once per message id", async () => {
    const order = await login(server.url, "order");
    await ensureStream(await order.jsm(), eventStreamConfig(1)); // idempotent: a second instance starting
    const first = await order.js.publish(SUBJECT, "e-1", { msgID: "m-dup" });
    const again = await order.js.publish(SUBJECT, "e-1", { msgID: "m-dup" });
    expect(first.stream).toBe(STREAM);
    expect(again).toMatchObject({ seq: first.seq, duplicate: true });
    expect(order.violations).toEqual([]);
  });

  it("nats jetstream — the consuming service ensures, pulls and acks its own consumer", async () => {
    const order = await login(server.url, "order");
    const coordinator = await login(server.url, "coordinator");
    await ensureCoordinatorConsumer(await coordinator.jsm()); // the update path this time
    await order.js.publish(SUBJECT, "e-2", { msgID: "m-2" });
    const consumer = await coordinator.js.consumers.get(STREAM, COORDINATOR);
    const seen: string[] = [];
    const messages = await consumer.consume({ max_messages: 10 });
    for await (const m of messages) {
      seen.push(m.string());
      await m.ackAck();
      if (m.string() === "e-2") break;
    }
    expect(seen).toContain("e-2");
    const info = await (await coordinator.jsm()).consumers.info(STREAM, COORDINATOR);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
    expect(coordinator.violations).toEqual([]);
  });

  it("nats jetstream — a broadcast consumer follows the stream with an ordered consumer", async () => {
    const notifier = await login(server.url, "notifier");
    await ensureStream(await notifier.jsm(), eventStreamConfig(1));
    await ensureStream(await notifier.jsm(), deadStreamConfig);
    // A single filter subject as a string: nats-server 2.9 takes `filter_subject`, not `filter_subjects`.
    const ordered = await notifier.js.consumers.get(STREAM, {
      filter_subjects: SUBJECT,
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await ordered.consume();
    const order = await login(server.url, "order");
    await order.js.publish(SUBJECT, "e-3", { msgID: "m-3" });
    for await (const m of messages) {
      expect(m.string()).toBe("e-3");
      break;
    }
    // After a gap the client deletes its ephemeral consumer and creates the next one: both allowed.
    const name = (await ordered.info(true)).name;
    expect(name).not.toBe(COORDINATOR);
    expect(await (await notifier.jsm()).consumers.delete(STREAM, name)).toBe(true);
    // And a handler giving up dead-letters the event under its own service's subject.
    const ack = await notifier.js.publish(deadLetterSubject(shop.name, "notifier", "OrderCreated"), "e-3", {
      msgID: "dead-notifier-3",
    });
    expect(ack.stream).toBe(DEAD);
    expect(notifier.violations).toEqual([]);
  });

  it("nats jetstream — a service may not pull another service's consumer", async () => {
    const notifier = await login(server.url, "notifier");
    const next = `$JS.API.CONSUMER.MSG.NEXT.${STREAM}.${COORDINATOR}`;
    await refused(notifier, next, () =>
      notifier.nc.request(next, JSON.stringify({ batch: 1, expires: 500_000_000 }), { timeout: 1000 }),
    );
    // Not by the client's route either: the info it starts with is refused.
    const info = `$JS.API.CONSUMER.INFO.${STREAM}.${COORDINATOR}`;
    await refused(notifier, info, () => notifier.js.consumers.get(STREAM, COORDINATOR));
    const order = await login(server.url, "order");
    await refused(order, next, () =>
      order.nc.request(next, JSON.stringify({ batch: 1, expires: 500_000_000 }), { timeout: 1000 }),
    );
  });

  it("nats jetstream — the saga trigger consumer is the wiring's coordinator-PlaceOrder; the coordinator may not pull a consumer that is not its own", async () => {
    expect(COORDINATOR).toBe("coordinator-PlaceOrder");
    const coordinator = await login(server.url, "coordinator");
    // Its service-named consumer is not in the wiring (the saga has its own), so it is not granted,
    // nor is another service's.
    for (const other of [eventConsumer("coordinator"), eventConsumer("notifier"), eventConsumer("order")]) {
      const next = `$JS.API.CONSUMER.MSG.NEXT.${STREAM}.${other}`;
      await refused(coordinator, next, () =>
        coordinator.nc.request(next, JSON.stringify({ batch: 1, expires: 500_000_000 }), { timeout: 1000 }),
      );
      await refused(coordinator, `$JS.API.CONSUMER.CREATE.${STREAM}.${other}.${SUBJECT}`, async () =>
        (await coordinator.jsm()).consumers.add(STREAM, {
          durable_name: other,
          filter_subject: SUBJECT,
          ack_policy: AckPolicy.Explicit,
        }),
      );
    }
    // The notifier may neither create nor pull the saga's consumer.
    const notifier = await login(server.url, "notifier");
    await refused(notifier, `$JS.API.CONSUMER.CREATE.${STREAM}.${COORDINATOR}.${SUBJECT}`, async () =>
      (await notifier.jsm()).consumers.add(STREAM, {
        durable_name: COORDINATOR,
        filter_subject: SUBJECT,
        ack_policy: AckPolicy.Explicit,
      }),
    );
    const next = `$JS.API.CONSUMER.MSG.NEXT.${STREAM}.${COORDINATOR}`;
    await refused(notifier, next, () =>
      notifier.nc.request(next, JSON.stringify({ batch: 1, expires: 500_000_000 }), { timeout: 1000 }),
    );
  });

  it("nats jetstream — a broadcast consumer may not take over, change or delete another service's durable consumer", async () => {
    const notifier = await login(server.url, "notifier");
    const jsm = await notifier.jsm();
    await refused(notifier, `$JS.API.CONSUMER.CREATE.${STREAM}.${COORDINATOR}.${SUBJECT}`, () =>
      jsm.consumers.add(STREAM, {
        durable_name: COORDINATOR,
        filter_subject: SUBJECT,
        ack_policy: AckPolicy.None,
      }),
    );
    await refused(notifier, `$JS.API.CONSUMER.DELETE.${STREAM}.${COORDINATOR}`, () =>
      jsm.consumers.delete(STREAM, COORDINATOR),
    );
    const coordinator = await login(server.url, "coordinator");
    const info = await (await coordinator.jsm()).consumers.info(STREAM, COORDINATOR);
    expect(info.config.ack_policy).toBe(AckPolicy.Explicit);
  });

  it("nats jetstream — a service may not ack on another service's consumer", async () => {
    const order = await login(server.url, "order");
    const coordinator = await login(server.url, "coordinator");
    const notifier = await login(server.url, "notifier");
    await order.js.publish(SUBJECT, "e-4", { msgID: "m-4" });
    const consumer = await coordinator.js.consumers.get(STREAM, COORDINATOR);
    // Earlier tests left events for the coordinator: take them until e-4.
    let m = await consumer.next({ expires: 5000 });
    while (m !== null && m.string() !== "e-4") {
      await m.ackAck();
      m = await consumer.next({ expires: 5000 });
    }
    expect(m?.string()).toBe("e-4");
    // The delivery's ack subject (the JsMsg type does not expose it; the implementation does).
    const ackSubject = (m as unknown as { reply: string }).reply;
    expect(ackSubject.startsWith(`$JS.ACK.${STREAM}.${COORDINATOR}.`)).toBe(true);
    notifier.nc.publish(ackSubject, "+ACK");
    await notifier.nc.flush();
    await eventually(() => notifier.violations.some((v) => v.subject === ackSubject), "the refused ack");
    const info = await (await coordinator.jsm()).consumers.info(STREAM, COORDINATOR);
    expect(info.num_ack_pending).toBe(1); // the stranger's ack went nowhere
    await m!.ackAck();
    expect(coordinator.violations).toEqual([]);
  });

  it("nats jetstream — a service may not publish to the stream of an event it does not emit", async () => {
    const payment = await login(server.url, "payment");
    const coordinator = await login(server.url, "coordinator");
    const before = (await (await coordinator.jsm()).streams.info(STREAM)).state.messages;
    await refused(payment, SUBJECT, () => payment.js.publish(SUBJECT, "forged", { msgID: "forged-1" }));
    const notifier = await login(server.url, "notifier");
    await refused(notifier, SUBJECT, () => notifier.js.publish(SUBJECT, "forged", { msgID: "forged-2" }));
    // Nor dead-letter under another service's name.
    const otherDead = deadLetterSubject(shop.name, "coordinator", "OrderCreated");
    await refused(notifier, otherDead, () => notifier.js.publish(otherDead, "forged", { msgID: "forged-3" }));
    expect((await (await coordinator.jsm()).streams.info(STREAM)).state.messages).toBe(before);
  });

  it("nats jetstream — a $JS.API subject outside a user's list is refused", async () => {
    const payment = await login(server.url, "payment");
    // payment has no durable event: no JetStream at all, not even account info.
    await refused(payment, "$JS.API.INFO", () => payment.jsm());
    const order = await login(server.url, "order");
    const jsm = await order.jsm();
    await refused(order, `$JS.API.STREAM.DELETE.${STREAM}`, () => jsm.streams.delete(STREAM));
    await refused(order, "$JS.API.STREAM.NAMES", () => jsm.streams.names().next());
    await refused(order, `$JS.API.STREAM.MSG.GET.${STREAM}`, () =>
      jsm.streams.getMessage(STREAM, { seq: 1 }),
    );
    await refused(order, `$JS.API.STREAM.CREATE.other`, () =>
      jsm.streams.add({ name: "other", subjects: ["x.>"] }),
    );
    const coordinator = await login(server.url, "coordinator");
    const cjsm = await coordinator.jsm();
    await refused(coordinator, `$JS.API.CONSUMER.DELETE.${STREAM}.${COORDINATOR}`, () =>
      cjsm.consumers.delete(STREAM, COORDINATOR),
    );
    await refused(coordinator, `$JS.API.STREAM.PURGE.${DEAD}`, () => cjsm.streams.purge(DEAD));
  });

  it("nats jetstream — the admin user lists streams and consumers, reads, removes and replays dead letters", async () => {
    const coordinator = await login(server.url, "coordinator");
    const dead = deadLetterSubject(shop.name, "coordinator", "OrderCreated");
    const stored = await coordinator.js.publish(dead, "poison", { msgID: "dead-coordinator-1" });

    const admin = await login(server.url, ADMIN_USER);
    const jsm = await admin.jsm();
    const names: string[] = [];
    for await (const name of jsm.streams.names()) names.push(name);
    expect(names).toEqual(expect.arrayContaining([STREAM, DEAD]));
    const consumers: string[] = [];
    for await (const ci of jsm.consumers.list(STREAM)) consumers.push(ci.name);
    expect(consumers).toContain(COORDINATOR);
    expect((await jsm.streams.info(DEAD)).state.messages).toBeGreaterThan(0);
    const letter = await jsm.streams.getMessage(DEAD, { seq: stored.seq });
    expect(letter?.subject).toBe(dead);
    expect(letter?.string()).toBe("poison");
    const replayed = await admin.js.publish(SUBJECT, "poison", { msgID: "replay-1" });
    expect(replayed.stream).toBe(STREAM);
    expect(await jsm.streams.deleteMessage(DEAD, stored.seq)).toBe(true);
    expect(admin.violations).toEqual([]);
    // The admin reads dead letters only, not the events themselves, and deletes nothing else.
    await refused(admin, `$JS.API.STREAM.MSG.GET.${STREAM}`, () =>
      jsm.streams.getMessage(STREAM, { seq: 1 }),
    );
    await refused(admin, `$JS.API.STREAM.DELETE.${DEAD}`, () => jsm.streams.delete(DEAD));
  });

  it("nats jetstream — ops reads stream and consumer state, and no dead letter", async () => {
    const ops = await login(server.url, OPS_USER);
    const jsm = await ops.jsm();
    expect((await jsm.streams.info(STREAM)).config.name).toBe(STREAM);
    expect((await jsm.consumers.info(STREAM, COORDINATOR)).name).toBe(COORDINATOR);
    expect(ops.violations).toEqual([]);
    await refused(ops, `$JS.API.STREAM.MSG.GET.${DEAD}`, () => jsm.streams.getMessage(DEAD, { seq: 1 }));
  });
});

describe("nats jetstream permissions — a 3-node cluster running the emitted config", () => {
  let cluster: NatsCluster;

  beforeAll(async () => {
    const stores = new Map<number, string>();
    cluster = await startNatsCluster(3, {
      config: (routes, clusterPort) => {
        if (!stores.has(clusterPort)) stores.set(clusterPort, storeDir());
        return natsServerConf(shop, {
          sourceName: "shop.catga",
          routes,
          ports: { cluster: clusterPort },
          storeDir: stores.get(clusterPort)!,
        });
      },
      env: (clusterPorts) => ({
        ...env,
        ...Object.fromEntries(
          clusterPorts.map((port, i) => [
            natsRouteVar(i),
            natsRouteUrl("127.0.0.1", env[NATS_CLUSTER_PASSWORD_VAR]!, port),
          ]),
        ),
      }),
    });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("nats jetstream — the nodes form a JetStream cluster: a replicas-3 stream stores and delivers", async () => {
    const order = await login(cluster.urls[0]!, "order");
    const coordinator = await login(cluster.urls[2]!, "coordinator");
    // The meta leader is elected a moment after the routes are up: the first create may find none.
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await ensureStream(await order.jsm(), eventStreamConfig(3));
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    const info = await (await order.jsm()).streams.info(STREAM);
    expect(info.cluster?.replicas?.length).toBe(2);
    await order.js.publish(SUBJECT, "c-1", { msgID: "c-1" });
    await ensureCoordinatorConsumer(await coordinator.jsm());
    const consumer = await coordinator.js.consumers.get(STREAM, COORDINATOR);
    const m = await consumer.next({ expires: 5000 });
    expect(m?.string()).toBe("c-1");
    await m!.ackAck();
    expect(order.violations).toEqual([]);
    expect(coordinator.violations).toEqual([]);
  }, 40_000);
});
