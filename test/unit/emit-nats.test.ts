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
