import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { natsPasswordVar } from "../../compiler/emit/_names.js";
import { emitNats, natsPermissions, natsServerConf } from "../../compiler/emit/nats.js";
import { buildWiring } from "../../compiler/emit/wiring.js";
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

/** The shop with OrderCreated a plain event: the permissions of core NATS alone. */
function plainShop(): TopologyModel {
  const file = join(EXAMPLES, "shop", "shop.catga");
  const source = readFileSync(file, "utf8");
  if (!source.includes("durable event OrderCreated"))
    throw new Error("the shop's OrderCreated is not durable");
  return modelOf(source.replace("durable event OrderCreated", "event OrderCreated"), file);
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
  it("nats — shop: one user per service plus client and ops (and admin with a durable event), sorted", () => {
    expect(Object.keys(natsPermissions(example("shop")))).toEqual([
      "admin",
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
    expect(natsPermissions(plainShop()).order).toEqual({
      publish: ["shop._catga.heartbeat.order", "shop.event.OrderCreated"],
      subscribe: [
        "_INBOX.shop.order.>",
        "shop.cmd.AcceptOrder",
        "shop.cmd.CancelOrder",
        "shop.cmd.CancelStaleOrders",
        "shop.cmd.ConfirmOrder",
        "shop.cmd.CreateOrder",
        "shop.query.GetOrder",
      ],
      allowResponses: true,
    });
  });

  it("nats — shop: the saga runner sends the steps and compensations and hears the trigger; its job sends CancelStaleOrders", () => {
    expect(natsPermissions(plainShop()).coordinator).toEqual({
      publish: [
        "shop._catga.heartbeat.coordinator",
        "shop._catga.leader.coordinator",
        "shop.cmd.AcceptOrder",
        "shop.cmd.CancelOrder",
        "shop.cmd.CancelStaleOrders",
        "shop.cmd.ChargePayment",
        "shop.cmd.ConfirmOrder",
        "shop.cmd.RefundPayment",
        "shop.cmd.ReleaseStock",
        "shop.cmd.ReserveStock",
      ],
      subscribe: ["_INBOX.shop.coordinator.>", "shop._catga.leader.coordinator", "shop.event.OrderCreated"],
      allowResponses: false,
    });
  });

  it("nats — shop: the notifier only listens; client and ops as documented", () => {
    const p = natsPermissions(plainShop());
    expect(p.notifier).toEqual({
      publish: ["shop._catga.heartbeat.notifier"],
      subscribe: ["_INBOX.shop.notifier.>", "shop.event.OrderCreated"],
      allowResponses: false,
    });
    expect(p.client).toEqual({
      publish: [
        "shop.cmd.AcceptOrder",
        "shop.cmd.CancelOrder",
        "shop.cmd.CancelStaleOrders",
        "shop.cmd.ChargePayment",
        "shop.cmd.ConfirmOrder",
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
      expect(files.map((f) => f.path)).toEqual(["nats/nats.conf", "nats/nats-tls.conf"]);
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
    const text = natsServerConf(plainShop(), { sourceName: "shop.catga", routes: [] });
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

/** The shop as declared: `durable event OrderCreated`. */
function durableShop(): TopologyModel {
  const model = example("shop");
  if (model.messages.find((m) => m.name === "OrderCreated")?.durable === undefined)
    throw new Error("the shop's OrderCreated is not durable");
  return model;
}

describe("nats — durable events (JetStream)", () => {
  const STREAM = "catga_shop_OrderCreated";

  it("nats — without a durable event: no jetstream block, no admin user, no $JS subject", () => {
    const text = natsServerConf(plainShop(), { sourceName: "shop.catga", routes: [] });
    expect(text).not.toContain("jetstream");
    expect(text).not.toContain("$JS");
    expect(Object.keys(natsPermissions(plainShop()))).not.toContain("admin");
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
      subscribe: [
        "_INBOX.shop.order.>",
        "shop.cmd.AcceptOrder",
        "shop.cmd.CancelOrder",
        "shop.cmd.CancelStaleOrders",
        "shop.cmd.ConfirmOrder",
        "shop.cmd.CreateOrder",
        "shop.query.GetOrder",
      ],
      allowResponses: true,
    });
  });

  it("nats — a saga trigger gets the saga's own durable consumer (as in the wiring), acks and dead letters, and no core subscription", () => {
    const coordinator = natsPermissions(durableShop()).coordinator!;
    expect(coordinator.publish.filter((s) => s.startsWith("$JS") || s.startsWith("shop.dead"))).toEqual([
      `$JS.ACK.${STREAM}.coordinator-PlaceOrder.>`,
      `$JS.API.CONSUMER.CREATE.${STREAM}.coordinator-PlaceOrder.shop.event.OrderCreated`,
      `$JS.API.CONSUMER.INFO.${STREAM}.coordinator-PlaceOrder`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAM}.coordinator-PlaceOrder`,
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
      `$JS.API.CONSUMER.*.${STREAM}.coordinator-PlaceOrder`,
      `$JS.API.CONSUMER.CREATE.${STREAM}.coordinator-PlaceOrder.>`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAM}.coordinator-PlaceOrder`,
    ]);
    expect(notifier.subscribe).toEqual(["_INBOX.shop.notifier.>"]);
    const text = natsServerConf(durableShop(), { sourceName: "shop.catga", routes: [] });
    expect(text).toContain(
      `          deny: [\n            "$JS.API.CONSUMER.*.${STREAM}.coordinator-PlaceOrder"\n`,
    );
  });

  it("nats — services without a durable event get no JetStream subject", () => {
    const perms = natsPermissions(durableShop());
    for (const user of ["inventory", "payment", "client"])
      expect(perms[user]!.publish.some((s) => s.startsWith("$JS"))).toBe(false);
  });

  it("nats — ops reads stream and consumer state; admin lists, reads and removes dead letters and replays", () => {
    const perms = natsPermissions(durableShop());
    expect(perms.ops!.publish).toEqual([
      `$JS.API.CONSUMER.INFO.${STREAM}.coordinator-PlaceOrder`,
      "$JS.API.INFO",
      `$JS.API.STREAM.INFO.${STREAM}`,
      "$JS.API.STREAM.INFO.catga_shop_dead",
    ]);
    expect(perms.admin).toEqual({
      publish: [
        `$JS.API.CONSUMER.INFO.${STREAM}.coordinator-PlaceOrder`,
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
    // The checker reserves `admin` in every topology (C3023); the emitter refuses it only where it
    // would clash, in case a model reaches it another way.
    const renamed = (model: TopologyModel): TopologyModel => ({
      ...model,
      services: model.services.map((s) => (s.name === "inventory" ? { ...s, name: "admin" } : s)),
    });
    expect(Object.keys(natsPermissions(renamed(plainShop())))).toContain("admin");
    expect(() => natsPermissions(renamed(durableShop()))).toThrow(/built-in NATS user admin/);
  });

  it("nats — durable config is deterministic", () => {
    const once = natsServerConf(durableShop(), { sourceName: "shop.catga", routes: ["nats://a:6222"] });
    const reordered = durableShop();
    reordered.services.reverse();
    reordered.messages.reverse();
    expect(natsServerConf(reordered, { sourceName: "shop.catga", routes: ["nats://a:6222"] })).toBe(once);
  });
});

/** A leader-mode `broadcast` of a durable event, a saga on it run by the same leader, a group and a p2p broadcast consumer. */
const LEADER_SAGA = `topology t

durable event Paid { id: string }
command Pay { id: string } -> string
command Ship { id: string }
command Unship { id: string }

service billing { handles Pay  emits Paid }
service shipping { handles Ship, Unship }
service ledger {
  mode leader
  replicas 2
  on Paid broadcast
  runs Fulfil
}
service audit { on Paid }
service screen { on Paid broadcast }

saga Fulfil {
  on Paid
  step Ship compensate Unship
}
`;

describe("nats — durable consumers match the wiring", () => {
  /** The concrete (not wildcard) durable consumers a user is granted something on, by stream. */
  function grantedConsumers(publish: string[]): string[] {
    const names = new Set<string>();
    for (const s of publish) {
      const m =
        /^\$JS\.API\.CONSUMER\.(?:INFO|MSG\.NEXT)\.([^.]+)\.([^.]+)$/.exec(s) ??
        /^\$JS\.API\.CONSUMER\.CREATE\.([^.]+)\.([^.]+)\./.exec(s) ??
        /^\$JS\.ACK\.([^.]+)\.([^.]+)\.>$/.exec(s);
      if (m !== null && m[2] !== "*") names.add(`${m[1]}/${m[2]}`);
    }
    return [...names].sort();
  }

  for (const [name, model] of [
    ["shop", () => example("shop")],
    ["leader broadcast + saga trigger", () => modelOf(LEADER_SAGA)],
  ] as const) {
    it(`nats — ${name}: every consumer in the wiring has exactly its grants, and no user more`, () => {
      const m = model();
      const wiring = buildWiring(m, { sourceName: "t.catga" });
      const perms = natsPermissions(m);
      const conf = natsServerConf(m, { sourceName: "t.catga", routes: [] });
      type Durable = NonNullable<(typeof wiring.sagas)[string]["trigger"]["durable"]>;
      const uses: { service: string; subject: string; durable: Durable }[] = [];
      for (const [service, s] of Object.entries(wiring.services))
        for (const sub of s.subscriptions)
          if (sub.durable) uses.push({ service, subject: sub.subject, durable: sub.durable });
      for (const g of Object.values(wiring.sagas)) {
        const event = wiring.messages[g.trigger.name];
        if (g.trigger.durable && event)
          uses.push({ service: g.runBy, subject: event.subject, durable: g.trigger.durable });
      }
      const named = uses.filter((u) => u.durable.consumer !== undefined);
      expect(named.length).toBeGreaterThan(0);
      const allConsumers = named.map((u) => `${u.durable.stream}/${u.durable.consumer}`).sort();
      for (const service of Object.keys(wiring.services)) {
        const p = perms[service]!;
        const mine = named.filter((u) => u.service === service);
        // Exactly its own consumers, none of anyone else's.
        expect(grantedConsumers(p.publish), service).toEqual(
          mine.map((u) => `${u.durable.stream}/${u.durable.consumer}`).sort(),
        );
        for (const u of mine) {
          const { stream, consumer } = u.durable;
          expect(
            p.publish.filter(
              (s) => s.includes(`.${stream}.${consumer}.`) || s.endsWith(`.${stream}.${consumer}`),
            ),
          ).toEqual([
            `$JS.ACK.${stream}.${consumer}.>`,
            `$JS.API.CONSUMER.CREATE.${stream}.${consumer}.${u.subject}`,
            `$JS.API.CONSUMER.INFO.${stream}.${consumer}`,
            `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
          ]);
          expect(conf).toContain(`"$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}"`);
        }
        for (const u of uses.filter((x) => x.service === service))
          expect(p.publish, service).toContain(u.durable.deadLetterSubject);
        // An ordered (p2p broadcast) consumer is denied every durable consumer of its stream.
        for (const u of uses.filter((x) => x.service === service && x.durable.consumer === undefined)) {
          for (const other of named.filter((x) => x.durable.stream === u.durable.stream))
            expect(p.publishDeny, service).toEqual(
              expect.arrayContaining([
                `$JS.API.CONSUMER.*.${other.durable.stream}.${other.durable.consumer}`,
                `$JS.API.CONSUMER.CREATE.${other.durable.stream}.${other.durable.consumer}.>`,
                `$JS.API.CONSUMER.MSG.NEXT.${other.durable.stream}.${other.durable.consumer}`,
              ]),
            );
        }
      }
      // ops and admin read the state of exactly these consumers.
      for (const user of ["ops", "admin"])
        expect(grantedConsumers(perms[user]!.publish), user).toEqual(allConsumers);
    });
  }

  it("nats — leader broadcast pulls the service's durable consumer; the saga its own", () => {
    const wiring = buildWiring(modelOf(LEADER_SAGA), { sourceName: "t.catga" });
    expect(wiring.services.ledger!.subscriptions[0]!.durable?.consumer).toBe("ledger");
    expect(wiring.sagas.Fulfil!.trigger.durable?.consumer).toBe("ledger-Fulfil");
    expect(wiring.services.screen!.subscriptions[0]!.durable?.consumer).toBeUndefined();
    const ledger = natsPermissions(modelOf(LEADER_SAGA)).ledger!;
    expect(ledger.publish.some((s) => s.includes(".*"))).toBe(false);
    expect(ledger.publishDeny).toBeUndefined();
    expect(ledger.subscribe).not.toContain("t.event.Paid");
  });
});
