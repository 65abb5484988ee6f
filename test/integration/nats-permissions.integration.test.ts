import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection, PermissionViolationError } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import {
  CLIENT_USER,
  inboxPrefix,
  leaderSubject,
  NATS_CLUSTER_PASSWORD_VAR,
  NATS_JS_LIMIT_VARS,
  NATS_JS_LIMITS,
  natsPasswordVar,
  natsRouteUrl,
  natsRouteVar,
  OPS_USER,
} from "../../compiler/emit/_names.js";
import { emitNats, natsPermissions, natsServerConf } from "../../compiler/emit/nats.js";
import type { TopologyModel } from "../../compiler/model.js";
import {
  freePort,
  type NatsCluster,
  type NatsServer,
  routeCount,
  startNats,
  startNatsCluster,
} from "../harness/nats.js";

const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

function example(name: string): TopologyModel {
  const file = join(EXAMPLES, name, `${name}.catga`);
  const { value, diagnostics } = checkSource(readFileSync(file, "utf8"), file);
  if (value === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return value;
}

/**
 * The shop with OrderCreated a plain event: this file tests the core NATS grants (the JetStream ones
 * of the shop as declared, `durable event OrderCreated`, are in nats-jetstream-permissions).
 */
const shop = (() => {
  const file = join(EXAMPLES, "shop", "shop.catga");
  const source = readFileSync(file, "utf8");
  if (!source.includes("durable event OrderCreated"))
    throw new Error("the shop's OrderCreated is not durable");
  const { value, diagnostics } = checkSource(
    source.replace("durable event OrderCreated", "event OrderCreated"),
    file,
  );
  if (value === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return value;
})();

/** Fresh random passwords for every user of a model (letters and digits, starting with a letter, as documented). */
function passwordsOf(model: TopologyModel): Record<string, string> {
  const env: Record<string, string> = {
    [NATS_CLUSTER_PASSWORD_VAR]: `r${randomBytes(16).toString("hex")}`,
    // Read by the jetstream block of a topology with a durable event (the `-t` check below).
    [NATS_JS_LIMIT_VARS.memory]: NATS_JS_LIMITS.memory,
    [NATS_JS_LIMIT_VARS.file]: NATS_JS_LIMITS.file,
  };
  for (const user of Object.keys(natsPermissions(model)))
    env[natsPasswordVar(user)] = `p${randomBytes(16).toString("hex")}`;
  return env;
}

const env = passwordsOf(shop);

/** The route variables of nats.conf: route i, with the route credentials, to a loopback port. */
function routeEnv(clusterPorts: number[], password: string): Record<string, string> {
  return Object.fromEntries(
    clusterPorts.map((port, i) => [natsRouteVar(i), natsRouteUrl("127.0.0.1", password, port)]),
  );
}
const connections: NatsConnection[] = [];

/** Connects as a user of the shop with its password and its own inbox prefix, recording server errors. */
async function login(url: string, user: string, options: { inbox?: string } = {}) {
  const nc = await connect({
    servers: url,
    user,
    pass: env[natsPasswordVar(user)]!,
    inboxPrefix: options.inbox ?? inboxPrefix(shop.name, user),
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
  return { nc, violations };
}

/** Waits until `found()` holds, or fails after `ms`. */
async function eventually(found: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!found()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Collects what a subscription receives. */
function collect(nc: NatsConnection, subject: string, queue?: string): string[] {
  const got: string[] = [];
  nc.subscribe(subject, {
    ...(queue === undefined ? {} : { queue }),
    callback: (err, msg) => {
      if (err === null) got.push(msg.string());
    },
  });
  return got;
}

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
});

describe("nats permissions — one server running the emitted config", () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNats({ config: natsServerConf(shop, { sourceName: "shop.catga", routes: [] }), env });
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("nats permissions — order subscribes to its commands in its queue group and publishes OrderCreated", async () => {
    const order = await login(server.url, "order");
    const notifier = await login(server.url, "notifier");
    const commands = collect(order.nc, "shop.cmd.CreateOrder", "order-service-workers");
    const events = collect(notifier.nc, "shop.event.OrderCreated");
    await order.nc.flush();
    await notifier.nc.flush();

    const client = await login(server.url, CLIENT_USER);
    client.nc.publish("shop.cmd.CreateOrder", "c1");
    order.nc.publish("shop.event.OrderCreated", "e1");
    await client.nc.flush();
    await order.nc.flush();
    await eventually(() => commands.length === 1 && events.length === 1, "the command and the event");
    expect(commands).toEqual(["c1"]);
    expect(events).toEqual(["e1"]);
    expect(order.violations).toEqual([]);
    expect(notifier.violations).toEqual([]);
    expect(client.violations).toEqual([]);
  });

  it("nats permissions — order may not publish a command it did not declare", async () => {
    const payment = await login(server.url, "payment");
    const charges = collect(payment.nc, "shop.cmd.ChargePayment", "payment");
    await payment.nc.flush();
    const order = await login(server.url, "order");
    order.nc.publish("shop.cmd.ChargePayment", "sneaky");
    await order.nc.flush();
    await eventually(() => order.violations.length > 0, "a publish violation");
    expect(order.violations[0]?.operation).toBe("publish");
    expect(order.violations[0]?.subject).toBe("shop.cmd.ChargePayment");
    // And the message went nowhere: a legitimate charge sent afterwards is the only one received.
    const client = await login(server.url, CLIENT_USER);
    client.nc.publish("shop.cmd.ChargePayment", "legit");
    await client.nc.flush();
    await eventually(() => charges.length > 0, "the legitimate charge");
    expect(charges).toEqual(["legit"]);
  });

  it("nats permissions — order may not subscribe to another user's inbox", async () => {
    const order = await login(server.url, "order");
    const sub = order.nc.subscribe(`${inboxPrefix(shop.name, CLIENT_USER)}.>`);
    const closed = await sub.closed;
    expect(closed).toBeInstanceOf(PermissionViolationError);
    expect((closed as PermissionViolationError).operation).toBe("subscription");
  });

  it("nats permissions — request/reply between client and order through the client's own inbox", async () => {
    const order = await login(server.url, "order");
    order.nc.subscribe("shop.query.GetOrder", {
      queue: "order-service-workers",
      callback: (err, msg) => {
        if (err === null) msg.respond(`order ${msg.string()}`);
      },
    });
    await order.nc.flush();
    const client = await login(server.url, CLIENT_USER);
    const reply = await client.nc.request("shop.query.GetOrder", "o-1", { timeout: 3000 });
    expect(reply.string()).toBe("order o-1");
    expect(reply.subject.startsWith(`${inboxPrefix(shop.name, CLIENT_USER)}.`)).toBe(true);
    expect(client.violations).toEqual([]);
    expect(order.violations).toEqual([]);
  });

  it("nats permissions — a client using the default inbox prefix gets no reply", async () => {
    const client = await login(server.url, CLIENT_USER, { inbox: "_INBOX" });
    await expect(client.nc.request("shop.query.GetOrder", "o-2", { timeout: 1000 })).rejects.toThrow();
    await eventually(
      () => client.violations.some((v) => v.operation === "subscription"),
      "the inbox violation",
    );
  });

  it("nats permissions — the notifier may not publish events", async () => {
    const client = await login(server.url, CLIENT_USER);
    const events = collect(client.nc, "shop.event.OrderCreated");
    await client.nc.flush();
    const notifier = await login(server.url, "notifier");
    notifier.nc.publish("shop.event.OrderCreated", "forged");
    await notifier.nc.flush();
    await eventually(() => notifier.violations.length > 0, "a publish violation");
    expect(notifier.violations[0]?.subject).toBe("shop.event.OrderCreated");
    const order = await login(server.url, "order");
    order.nc.publish("shop.event.OrderCreated", "real");
    await order.nc.flush();
    await eventually(() => events.length > 0, "the real event");
    expect(events).toEqual(["real"]);
  });

  it("nats permissions — a leader's release reaches its standbys; ops reads control subjects only", async () => {
    const subject = leaderSubject(shop.name, "coordinator");
    const standby = await login(server.url, "coordinator");
    const released = collect(standby.nc, subject);
    const ops = await login(server.url, OPS_USER);
    const control = collect(ops.nc, `${shop.name}._catga.>`);
    await standby.nc.flush();
    await ops.nc.flush();
    const leader = await login(server.url, "coordinator");
    leader.nc.publish(subject, "bye");
    leader.nc.publish("shop._catga.heartbeat.coordinator", "alive");
    await leader.nc.flush();
    await eventually(() => released.length === 1 && control.length === 2, "release and heartbeat");
    expect(leader.violations).toEqual([]);
    ops.nc.publish("shop.cmd.CreateOrder", "x");
    await ops.nc.flush();
    await eventually(() => ops.violations.length > 0, "the ops publish violation");
    expect(ops.violations[0]?.operation).toBe("publish");
  });

  it("nats permissions — a wrong password and an unknown user are rejected", async () => {
    await expect(
      connect({ servers: server.url, user: "order", pass: "wrong", reconnect: false }),
    ).rejects.toThrow(/Authorization Violation/i);
    await expect(
      connect({
        servers: server.url,
        user: "intruder",
        pass: env[natsPasswordVar("order")]!,
        reconnect: false,
      }),
    ).rejects.toThrow(/Authorization Violation/i);
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow(
      /Authorization Violation/i,
    );
  });
});

describe("nats permissions — three nodes routed by the emitted config", () => {
  let cluster: NatsCluster;

  beforeAll(async () => {
    cluster = await startNatsCluster(3, {
      config: (routes, cluster) =>
        natsServerConf(shop, { sourceName: "shop.catga", routes, ports: { cluster } }),
      env: (clusterPorts) => ({ ...env, ...routeEnv(clusterPorts, env[NATS_CLUSTER_PASSWORD_VAR]!) }),
    });
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("nats permissions — an event published on node A reaches a subscriber on node C", async () => {
    const [a, , c] = cluster.servers;
    const notifier = await login(c!.url, "notifier");
    const events = collect(notifier.nc, "shop.event.OrderCreated");
    await notifier.nc.flush();
    const order = await login(a!.url, "order");
    // Interest travels over the routes asynchronously: publish until it has arrived.
    const deadline = Date.now() + 5000;
    while (events.length === 0 && Date.now() < deadline) {
      order.nc.publish("shop.event.OrderCreated", "across");
      await order.nc.flush();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(events[0]).toBe("across");
    expect(order.violations).toEqual([]);
  });

  it("nats permissions — request on node A answered on node C, reply back through the routes", async () => {
    const [a, , c] = cluster.servers;
    const order = await login(c!.url, "order");
    order.nc.subscribe("shop.cmd.CreateOrder", {
      queue: "order-service-workers",
      callback: (err, msg) => {
        if (err === null) msg.respond("created");
      },
    });
    await order.nc.flush();
    const client = await login(a!.url, CLIENT_USER);
    const deadline = Date.now() + 5000;
    let reply: string | undefined;
    while (reply === undefined) {
      try {
        reply = (await client.nc.request("shop.cmd.CreateOrder", "{}", { timeout: 500 })).string();
      } catch (error) {
        // No responders until the queue subscription has propagated to node A.
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    expect(reply).toBe("created");
  });

  it("nats permissions — a server with the wrong route password cannot join", async () => {
    const [a] = cluster.servers;
    const clusterPort = await freePort();
    const intruder = await startNats({
      config: natsServerConf(shop, {
        sourceName: "shop.catga",
        routes: [`nats://127.0.0.1:${a!.clusterPort}`],
        ports: { cluster: clusterPort },
      }),
      clusterPort,
      env: { ...env, [NATS_CLUSTER_PASSWORD_VAR]: "rwrong", ...routeEnv([a!.clusterPort!], "rwrong") },
    });
    try {
      // Give the intruder time to dial (it retries every second) and be refused.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(await routeCount(intruder.monitorPort)).toBe(0);
      expect(await routeCount(a!.monitorPort)).toBe(2);
      expect(await intruder.log()).toMatch(/Authorization Violation/i);
    } finally {
      await intruder.stop();
    }
  });
});

describe("nats config — nats-server accepts every emitted config", () => {
  it("nats config — `nats-server -t` parses the config of every example that runs its own NATS", () => {
    const dir = mkdtempSync(join(tmpdir(), "catga-nats-conf-"));
    try {
      let checked = 0;
      for (const name of readdirSync(EXAMPLES).sort()) {
        const model = example(name);
        for (const file of emitNats(model, { sourceName: `${name}.catga` })) {
          // nats-tls.conf includes this one and names certificate files under /etc/nats/certs: a
          // real cluster runs it in tls-emitted.integration.test.ts.
          if (file.path !== "nats/nats.conf") continue;
          const path = join(dir, `${name}.conf`);
          writeFileSync(path, file.content);
          const result = spawnSync("nats-server", ["-t", "-c", path], {
            env: {
              ...process.env,
              ...passwordsOf(model),
              ...routeEnv(
                Array.from({ length: model.nats.nodes }, (_, i) => 6222 + i),
                "rsecret",
              ),
              NATS_SERVER_NAME: "check",
            },
            encoding: "utf8",
          });
          expect(result.status, `${name}: ${result.stdout}${result.stderr}`).toBe(0);
          checked++;
        }
      }
      expect(checked).toBe(3);
      // And a missing password is an error, not an open door.
      const path = join(dir, "shop.conf");
      const result = spawnSync("nats-server", ["-t", "-c", path], {
        env: {
          ...process.env,
          ...passwordsOf(example("shop")), // shop.conf above is the shop as declared
          ...routeEnv([6222, 6223, 6224], "rsecret"),
          [natsPasswordVar("order")]: undefined,
          NATS_SERVER_NAME: "check",
        },
        encoding: "utf8",
      });
      expect(result.status).not.toBe(0);
      expect(`${result.stdout}${result.stderr}`).toContain(natsPasswordVar("order"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
