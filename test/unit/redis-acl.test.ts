import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { ENV, redisHashTag } from "../../compiler/emit/_names.js";
import {
  allRedisAclUsers,
  redisAclTemplate,
  redisAclUsers,
  sentinelAclUsers,
} from "../../compiler/emit/_redis-acl.js";
import { coordinationKeys } from "../../runtime/coordination/backend.js";

/** The shop's shape with its data services saying `uses redis` (what the lead adds to the example). */
const SHOP = `topology shop
redis { mode sentinel nodes 3 }
event OrderCreated { orderId: string }
command CreateOrder { id: string }
command ReserveStock { orderId: string }
command ReleaseStock { orderId: string }
command ChargePayment { orderId: string }
command RefundPayment { orderId: string }
service order { handles CreateOrder  emits OrderCreated  uses redis }
service inventory { handles ReserveStock, ReleaseStock  uses redis }
service payment { handles ChargePayment, RefundPayment  uses redis }
service notifier { on OrderCreated }
service coordinator { mode leader  replicas 3  runs PlaceOrder  every 30s sweep }
saga PlaceOrder {
  on OrderCreated
  step ReserveStock compensate ReleaseStock
  step ChargePayment compensate RefundPayment
}
`;

function model(text: string) {
  const { value, diagnostics } = checkSource(text, "shop.catga");
  if (value === undefined) throw new Error(diagnostics.map((d) => d.message).join("\n"));
  return value;
}

describe("Redis ACL model", () => {
  const shop = model(SHOP);

  it("acl — one user per Redis-using service, then ops, replica, sentinel and admin; default off", () => {
    expect(redisAclUsers(shop).map((u) => u.name)).toEqual([
      "order",
      "inventory",
      "payment",
      "coordinator",
      "catga-ops",
      "catga-replica",
      "catga-sentinel",
      "catga-admin",
    ]);
    expect(redisAclTemplate(redisAclUsers(shop))[0]).toBe("user default off resetkeys resetchannels -@all");
    expect(sentinelAclUsers(shop).map((u) => u.name)).toEqual([
      "catga-sentinel",
      "catga-client",
      "catga-admin",
    ]);
    // Standalone and Cluster have no sentinels and no sentinel user.
    const standalone = model(SHOP.replace("redis { mode sentinel nodes 3 }", ""));
    expect(redisAclUsers(standalone).map((u) => u.name)).not.toContain("catga-sentinel");
    expect(sentinelAclUsers(standalone)).toEqual([]);
  });

  it("acl — a service's keys are exactly its hash tag and scopes under it: every runtime key of the service matches", () => {
    const coordinator = redisAclUsers(shop).find((u) => u.name === "coordinator")!;
    const tag = redisHashTag("shop", "coordinator");
    const patterns = coordinator.rules.filter((r) => r.startsWith("~")).map((r) => r.slice(1));
    expect(patterns).toEqual([`${tag}*`, "{catga:shop:coordinator:*}*"]);
    const glob = (p: string) => new RegExp(`^${p.replace(/[{}]/g, "\\$&").replace(/\*/g, ".*")}$`);
    const keys = [
      coordinationKeys.lease(tag),
      coordinationKeys.token(tag),
      coordinationKeys.data(tag, "saga:1"),
      coordinationKeys.fence(tag, "saga:1"),
      coordinationKeys.tick(tag, "sweep"),
      coordinationKeys.lease("{catga:shop:coordinator:lock:x}"),
    ];
    for (const key of keys)
      expect(
        patterns.some((p) => glob(p).test(key)),
        key,
      ).toBe(true);
    for (const other of ["{catga:shop:coordinatorX}:lease", "{catga:shop:order}:x", "{catga:lock:x}:lease"])
      expect(
        patterns.some((p) => glob(p).test(other)),
        other,
      ).toBe(false);
  });

  it("acl — data commands only for `uses redis`; never @dangerous, SCAN or FUNCTION", () => {
    const users = Object.fromEntries(redisAclUsers(shop).map((u) => [u.name, u.rules]));
    expect(users.order).toContain("+@write");
    expect(users.coordinator).not.toContain("+@write");
    for (const rules of [users.order!, users.inventory!]) {
      const at = (r: string) => rules.indexOf(r);
      expect(at("-@dangerous")).toBeGreaterThan(at("+@write"));
      expect(rules).toEqual(expect.arrayContaining(["-scan", "-function", "-select", "-move"]));
    }
    expect(users["catga-ops"]).toContain("%R~{catga:shop:*}*");
  });

  it("acl — password variables are distinct, none is a runtime variable, and the text is deterministic", () => {
    const vars = allRedisAclUsers(shop).map((u) => u.passwordVar);
    expect(new Set(vars).size).toBe(vars.length);
    for (const v of vars) expect(Object.values(ENV)).not.toContain(v);
    // A service called like a built-in's token still gets a variable of its own.
    const clash = model(`${SHOP}\nservice ops_password { mode leader replicas 2 }\n`);
    const clashVars = allRedisAclUsers(clash).map((u) => u.passwordVar);
    expect(new Set(clashVars).size).toBe(clashVars.length);
    expect(redisAclTemplate(redisAclUsers(shop))).toEqual(redisAclTemplate(redisAclUsers(model(SHOP))));
  });
});
