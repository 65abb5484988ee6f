import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { natsPasswordVar } from "../../compiler/emit/_names.js";
import { emitNats, natsPermissions, natsServerConf } from "../../compiler/emit/nats.js";
import type { TopologyModel } from "../../compiler/model.js";

const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

function modelOf(source: string, file = "t.catga"): TopologyModel {
  const { value, diagnostics } = checkSource(source, file);
  if (value === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return value;
}

function example(name: string): TopologyModel {
  const file = join(EXAMPLES, name, `${name}.catga`);
  return modelOf(readFileSync(file, "utf8"), file);
}

const REFUND = `topology a

command StartRefund { orderId: string }
command RefundPayment { orderId: string }
command ReopenOrder { orderId: string }

service payment { handles RefundPayment }
service order { handles ReopenOrder }

service refunds {
  mode leader
  replicas 2
  runs Refund
}

saga Refund {
  on StartRefund
  step RefundPayment irreversible
  step ReopenOrder irreversible
}
`;

describe("nats permissions", () => {
  it("nats — shop: one user per service plus client and ops, sorted", () => {
    expect(Object.keys(natsPermissions(example("shop")))).toEqual([
      "client",
      "coordinator",
      "inventory",
      "notifier",
      "ops",
      "order",
      "payment",
    ]);
  });

  it("nats — shop: order handles its commands, emits OrderCreated and nothing else", () => {
    expect(natsPermissions(example("shop")).order).toEqual({
      publish: ["shop._catga.heartbeat.order", "shop.event.OrderCreated"],
      subscribe: ["_INBOX.shop.order.>", "shop.cmd.CreateOrder", "shop.query.GetOrder"],
      allowResponses: true,
    });
  });

  it("nats — shop: the saga runner sends the steps and compensations and hears the trigger", () => {
    expect(natsPermissions(example("shop")).coordinator).toEqual({
      publish: [
        "shop._catga.heartbeat.coordinator",
        "shop._catga.leader.coordinator",
        "shop.cmd.ChargePayment",
        "shop.cmd.RefundPayment",
        "shop.cmd.ReleaseStock",
        "shop.cmd.ReserveStock",
      ],
      subscribe: ["_INBOX.shop.coordinator.>", "shop._catga.leader.coordinator", "shop.event.OrderCreated"],
      allowResponses: false,
    });
  });

  it("nats — shop: the notifier only listens; client and ops as documented", () => {
    const p = natsPermissions(example("shop"));
    expect(p.notifier).toEqual({
      publish: ["shop._catga.heartbeat.notifier"],
      subscribe: ["_INBOX.shop.notifier.>", "shop.event.OrderCreated"],
      allowResponses: false,
    });
    expect(p.client).toEqual({
      publish: [
        "shop.cmd.ChargePayment",
        "shop.cmd.CreateOrder",
        "shop.cmd.RefundPayment",
        "shop.cmd.ReleaseStock",
        "shop.cmd.ReserveStock",
        "shop.query.GetOrder",
      ],
      subscribe: ["_INBOX.shop.client.>", "shop.event.OrderCreated"],
      allowResponses: false,
    });
    expect(p.ops).toEqual({
      publish: [],
      subscribe: ["_INBOX.shop.ops.>", "shop._catga.>"],
      allowResponses: false,
    });
  });

  it("nats — a saga started by a command: the runner answers it and sends the steps", () => {
    expect(natsPermissions(modelOf(REFUND)).refunds).toEqual({
      publish: [
        "a._catga.heartbeat.refunds",
        "a._catga.leader.refunds",
        "a.cmd.RefundPayment",
        "a.cmd.ReopenOrder",
      ],
      subscribe: ["_INBOX.a.refunds.>", "a._catga.leader.refunds", "a.cmd.StartRefund"],
      allowResponses: true,
    });
  });

  it("nats — scheduler: sends, events consumed and a saga on an emitted event", () => {
    const p = natsPermissions(example("scheduler"));
    expect(p.reminder?.publish).toEqual([
      "scheduler._catga.heartbeat.reminder",
      "scheduler.query.OpenInvoices",
    ]);
    expect(p.reports?.subscribe).toEqual([
      "_INBOX.scheduler.reports.>",
      "scheduler._catga.leader.reports",
      "scheduler.event.InvoiceIssued",
      "scheduler.event.InvoicePaid",
    ]);
    expect(p.reports?.allowResponses).toBe(false);
    expect(p.billing?.subscribe).toContain("scheduler.event.InvoiceIssued");
  });

  it("nats — a service named like a built-in user is refused rather than merged", () => {
    // The checker rejects such a topology (C3023); the emitter still refuses rather than merge grants
    // if a model ever reaches it another way.
    const model = modelOf("topology t\ncommand Go {}\nservice svc { handles Go }\n");
    const renamed = { ...model, services: model.services.map((s) => ({ ...s, name: "client" })) };
    expect(() => natsPermissions(renamed)).toThrow(/built-in NATS user client/);
  });
});

describe("nats config", () => {
  it("nats — every example builds; external NATS emits nothing", () => {
    const names = readdirSync(EXAMPLES).sort();
    expect(names.length).toBeGreaterThanOrEqual(4);
    for (const name of names) {
      const model = example(name);
      const files = emitNats(model, { sourceName: `${name}.catga` });
      if (model.nats.url !== undefined) {
        expect(files, name).toEqual([]);
        continue;
      }
      expect(files.map((f) => f.path)).toEqual(["nats/nats.conf"]);
      const text = files[0]!.content;
      expect(text.startsWith(`# Generated by catgac from ${name}.catga — do not edit\n`)).toBe(true);
      for (const user of Object.keys(natsPermissions(model))) {
        expect(text).toContain(`user: "${user}"\n      password: $${natsPasswordVar(user)}\n`);
      }
      // Brace balance: a cheap guard against a malformed block (the integration test runs the real parser).
      expect(text.split("{").length).toBe(text.split("}").length);
    }
    expect(names).toContain("ledger");
  });

  it("nats — shop: three routes to the compose hosts, route authentication, no cluster for one node", () => {
    const shop = emitNats(example("shop"), { sourceName: "shop.catga" })[0]!.content;
    // Route URLs carry the route credentials, so they come from the environment; comments say what each holds.
    expect(shop).toContain(
      "  routes = [\n    $CATGA_NATS_ROUTE_0\n    $CATGA_NATS_ROUTE_1\n    $CATGA_NATS_ROUTE_2\n  ]\n",
    );
    expect(shop).toContain("#   CATGA_NATS_ROUTE_2=nats://route:<CATGA_NATS_CLUSTER_PASSWORD>@nats-2:6222\n");
    expect(shop).toContain('    user: "route"\n    password: $CATGA_NATS_CLUSTER_PASSWORD\n');
    expect(shop).toContain("server_name: $NATS_SERVER_NAME\n");
    expect(shop).toContain('listen: "0.0.0.0:4222"\n');
    expect(shop).toContain("http: 8222\n");
    const pipeline = emitNats(example("pipeline"), { sourceName: "pipeline.catga" })[0]!.content;
    expect(pipeline).not.toContain("cluster {");
  });

  it("nats — a user that may publish nothing is denied everything, not left unrestricted", () => {
    // nats-server 2.9 reads `publish: []` as "no restriction", so an empty list must become a deny.
    const text = natsServerConf(example("shop"), { sourceName: "shop.catga", routes: [] });
    const ops = text.slice(text.indexOf('user: "ops"'));
    expect(ops.slice(0, ops.indexOf("subscribe"))).toContain('publish: { deny: [">"] }');
    expect(text).not.toMatch(/allow: \[\s*\]/);
  });

  it("nats — no literal password anywhere; every password is a variable reference", () => {
    for (const name of ["shop", "pipeline", "scheduler"]) {
      const text = emitNats(example(name), { sourceName: `${name}.catga` })[0]!.content;
      const passwords = text.match(/password: .*/g) ?? [];
      expect(passwords.length).toBeGreaterThan(2);
      for (const line of passwords)
        expect(line).toMatch(/^password: \$CATGA_NATS_(CLUSTER_)?PASSWORD(_[A-Z0-9_]+)?$/);
    }
  });

  it("nats — ports can be moved for servers sharing one host", () => {
    const text = natsServerConf(example("shop"), {
      sourceName: "shop.catga",
      routes: ["nats://127.0.0.1:7001"],
      ports: { client: 7000, cluster: 7001, monitor: 7002 },
    });
    expect(text).toContain('listen: "0.0.0.0:7000"\n');
    expect(text).toContain("http: 7002\n");
    expect(text).toContain('  listen: "0.0.0.0:7001"\n');
  });

  it("nats — deterministic: same bytes twice and whatever the order services are declared in", () => {
    const model = example("scheduler");
    const once = natsServerConf(model, { sourceName: "scheduler.catga", routes: ["nats://a:6222"] });
    const twice = natsServerConf(structuredClone(model), {
      sourceName: "scheduler.catga",
      routes: ["nats://a:6222"],
    });
    expect(twice).toBe(once);
    const reordered = {
      ...model,
      services: [...model.services].reverse(),
      messages: [...model.messages].reverse(),
    };
    expect(natsServerConf(reordered, { sourceName: "scheduler.catga", routes: ["nats://a:6222"] })).toBe(
      once,
    );
    expect(once).toContain("# Generated by catgac from scheduler.catga — do not edit");
    // The header names the file as given in the options, never the checkout path of the model.
    expect(once).not.toContain(model.source);
  });
});

/** The shop with OrderCreated durable, as the checker will resolve `durable event OrderCreated`. */
function durableShop(): TopologyModel {
  const model = example("shop");
  const event = model.messages.find((m) => m.name === "OrderCreated");
  if (event === undefined) throw new Error("the shop has no OrderCreated");
  event.durable = { retentionMs: 604_800_000, maxDeliver: 5, replicas: 3, dedupWindowMs: 120_000 };
  return model;
}

describe("nats — durable events (JetStream)", () => {
  const STREAM = "catga_shop_OrderCreated";

  it("nats — without a durable event: no jetstream block, no admin user, no $JS subject", () => {
    const text = natsServerConf(example("shop"), { sourceName: "shop.catga", routes: [] });
    expect(text).not.toContain("jetstream");
    expect(text).not.toContain("$JS");
    expect(Object.keys(natsPermissions(example("shop")))).not.toContain("admin");
  });

  it("nats — a durable event enables JetStream with the store directory and limits from the environment", () => {
    const text = natsServerConf(durableShop(), { sourceName: "shop.catga", routes: [] });
    expect(text).toContain(
      [
        "jetstream {",
        '  store_dir: "/data"',
        "  max_memory_store: $CATGA_NATS_JS_MAX_MEMORY",
        "  max_file_store: $CATGA_NATS_JS_MAX_FILE",
        "}",
      ].join("\n"),
    );
    expect(text).toContain("server_name: $NATS_SERVER_NAME\n");
    const tmp = natsServerConf(durableShop(), { sourceName: "shop.catga", routes: [], storeDir: "/tmp/x" });
    expect(tmp).toContain('  store_dir: "/tmp/x"\n');
  });

  it("nats — the emitter of a durable event ensures its stream and publishes its subject, nothing more", () => {
    expect(natsPermissions(durableShop()).order).toEqual({
      publish: [
        "$JS.API.INFO",
        `$JS.API.STREAM.CREATE.${STREAM}`,
        `$JS.API.STREAM.INFO.${STREAM}`,
        `$JS.API.STREAM.UPDATE.${STREAM}`,
        "shop._catga.heartbeat.order",
        "shop.event.OrderCreated",
      ],
      subscribe: ["_INBOX.shop.order.>", "shop.cmd.CreateOrder", "shop.query.GetOrder"],
      allowResponses: true,
    });
  });

  it("nats — a group consumer (the saga trigger) gets its own durable consumer, acks and dead letters, and no core subscription", () => {
    const coordinator = natsPermissions(durableShop()).coordinator!;
    expect(coordinator.publish.filter((s) => s.startsWith("$JS") || s.startsWith("shop.dead"))).toEqual([
      `$JS.ACK.${STREAM}.coordinator.>`,
      `$JS.API.CONSUMER.CREATE.${STREAM}.coordinator.shop.event.OrderCreated`,
      `$JS.API.CONSUMER.INFO.${STREAM}.coordinator`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAM}.coordinator`,
      "$JS.API.INFO",
      `$JS.API.STREAM.CREATE.${STREAM}`,
      "$JS.API.STREAM.CREATE.catga_shop_dead",
      `$JS.API.STREAM.INFO.${STREAM}`,
      "$JS.API.STREAM.INFO.catga_shop_dead",
      `$JS.API.STREAM.UPDATE.${STREAM}`,
      "$JS.API.STREAM.UPDATE.catga_shop_dead",
      "shop.dead.coordinator.OrderCreated",
    ]);
    expect(coordinator.subscribe).toEqual(["_INBOX.shop.coordinator.>", "shop._catga.leader.coordinator"]);
    expect(coordinator.publishDeny).toBeUndefined();
    expect(coordinator.publish.some((s) => s.endsWith(".>") && s.startsWith("$JS.API"))).toBe(false);
  });

  it("nats — a broadcast consumer may use ephemeral consumers, never another service's durable one", () => {
    const notifier = natsPermissions(durableShop()).notifier!;
    expect(notifier.publish).toEqual(
      expect.arrayContaining([
        `$JS.API.CONSUMER.CREATE.${STREAM}.*.shop.event.OrderCreated`,
        `$JS.API.CONSUMER.DELETE.${STREAM}.*`,
        `$JS.API.CONSUMER.INFO.${STREAM}.*`,
        `$JS.API.CONSUMER.MSG.NEXT.${STREAM}.*`,
        "shop.dead.notifier.OrderCreated",
      ]),
    );
    expect(notifier.publish.some((s) => s.startsWith("$JS.ACK"))).toBe(false);
    expect(notifier.publishDeny).toEqual([
      `$JS.API.CONSUMER.*.${STREAM}.coordinator`,
      `$JS.API.CONSUMER.CREATE.${STREAM}.coordinator.>`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAM}.coordinator`,
    ]);
    expect(notifier.subscribe).toEqual(["_INBOX.shop.notifier.>"]);
    const text = natsServerConf(durableShop(), { sourceName: "shop.catga", routes: [] });
    expect(text).toContain(`          deny: [\n            "$JS.API.CONSUMER.*.${STREAM}.coordinator"\n`);
  });

  it("nats — services without a durable event get no JetStream subject", () => {
    const perms = natsPermissions(durableShop());
    for (const user of ["inventory", "payment", "client"])
      expect(perms[user]!.publish.some((s) => s.startsWith("$JS"))).toBe(false);
  });

  it("nats — ops reads stream and consumer state; admin lists, reads and removes dead letters and replays", () => {
    const perms = natsPermissions(durableShop());
    expect(perms.ops!.publish).toEqual([
      `$JS.API.CONSUMER.INFO.${STREAM}.coordinator`,
      "$JS.API.INFO",
      `$JS.API.STREAM.INFO.${STREAM}`,
      "$JS.API.STREAM.INFO.catga_shop_dead",
    ]);
    expect(perms.admin).toEqual({
      publish: [
        `$JS.API.CONSUMER.INFO.${STREAM}.coordinator`,
        `$JS.API.CONSUMER.LIST.${STREAM}`,
        "$JS.API.CONSUMER.LIST.catga_shop_dead",
        `$JS.API.CONSUMER.NAMES.${STREAM}`,
        "$JS.API.CONSUMER.NAMES.catga_shop_dead",
        "$JS.API.INFO",
        `$JS.API.STREAM.INFO.${STREAM}`,
        "$JS.API.STREAM.INFO.catga_shop_dead",
        "$JS.API.STREAM.LIST",
        "$JS.API.STREAM.MSG.DELETE.catga_shop_dead",
        "$JS.API.STREAM.MSG.GET.catga_shop_dead",
        "$JS.API.STREAM.NAMES",
        "shop.event.OrderCreated",
      ],
      subscribe: ["_INBOX.shop.admin.>"],
      allowResponses: false,
    });
    const text = natsServerConf(durableShop(), { sourceName: "shop.catga", routes: [] });
    expect(text).toContain(`password: ${"$"}${natsPasswordVar("admin")}`);
  });

  it("nats — admin is a built-in user only with a durable event", () => {
    const source = readFileSync(join(EXAMPLES, "shop", "shop.catga"), "utf8").replace(
      "service inventory",
      "service admin { handles Ping }\ncommand Ping {}\nservice inventory",
    );
    const plain = modelOf(source);
    expect(Object.keys(natsPermissions(plain))).toContain("admin");
    const durable = modelOf(source);
    durable.messages.find((m) => m.name === "OrderCreated")!.durable = durableShop().messages.find(
      (m) => m.name === "OrderCreated",
    )!.durable!;
    expect(() => natsPermissions(durable)).toThrow(/built-in NATS user admin/);
  });

  it("nats — durable config is deterministic", () => {
    const once = natsServerConf(durableShop(), { sourceName: "shop.catga", routes: ["nats://a:6222"] });
    const reordered = durableShop();
    reordered.services.reverse();
    reordered.messages.reverse();
    expect(natsServerConf(reordered, { sourceName: "shop.catga", routes: ["nats://a:6222"] })).toBe(once);
  });
});
