import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { checkSource } from "../../compiler/check/index.js";
import {
  composeCertificateNames,
  composeCpus,
  composeMemory,
  emitCompose,
} from "../../compiler/emit/compose.js";
import { emitNats } from "../../compiler/emit/nats.js";
import type { TopologyModel } from "../../compiler/model.js";

const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));
const SCHEMA_FILE = fileURLToPath(new URL("../schemas/compose-spec.json", import.meta.url));

/** The compose specification's JSON schema (draft-07), vendored: see test/schemas/README.md. */
const validateCompose = (() => {
  const { $schema: _draft, ...schema } = JSON.parse(readFileSync(SCHEMA_FILE, "utf8"));
  // The schema names draft-07 by its https URL, which ajv does not register; draft-07 is ajv's
  // default, so the declaration is dropped. Union types are how the spec is written (strings or
  // numbers), not a mistake of ours.
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strictTypes: false });
  return ajv.compile(schema);
})();

interface Service {
  image: string;
  build?: { context: string; dockerfile: string; additional_contexts?: Record<string, string> };
  command: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  deploy?: {
    replicas: number;
    resources?: { limits: Record<string, string>; reservations: Record<string, string> };
  };
  healthcheck?: { test: string[] | string };
  restart?: string;
  volumes?: string[];
  ports?: unknown[];
  stop_grace_period?: string;
  read_only?: boolean;
  tmpfs?: string[];
  cap_drop?: string[];
  security_opt?: string[];
}

interface Compose {
  name: string;
  services: Record<string, Service>;
}

function modelOf(source: string, file = "t.catga"): TopologyModel {
  const { value, diagnostics } = checkSource(source, file);
  if (value === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return value;
}

function exampleModel(name: string): TopologyModel {
  const file = join(EXAMPLES, name, `${name}.catga`);
  return modelOf(readFileSync(file, "utf8"), file);
}

function files(model: TopologyModel, sourceName = `${model.name}.catga`): Record<string, string> {
  return Object.fromEntries(emitCompose(model, { sourceName }).map((f) => [f.path, f.content]));
}

function compose(model: TopologyModel): Compose {
  return parse(files(model)["docker-compose.yml"]!) as Compose;
}

const EXAMPLE_NAMES = readdirSync(EXAMPLES).sort();

/** Every `${VAR…}` reference in a text (compose's `$$` escapes excluded). */
function referencedVars(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/(\$*)\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) {
    // An odd number of `$` before `{` means the last one is a real reference.
    if (m[1]!.length % 2 === 0) out.add(m[2]!);
  }
  return [...out].sort();
}

/** The variables `.env.example` lists (`NAME=` lines). */
/** Every variable .env.example lists: required ones as `NAME=`, optional ones as `# NAME=`. */
function listedVars(envExample: string): string[] {
  return envExample
    .split("\n")
    .filter((line) => /^(# )?[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => line.slice(line.startsWith("# ") ? 2 : 0, line.indexOf("=")))
    .sort();
}

/** A health check's command line, from compose's list form (`CMD`, …) or its string form. */
function healthLine(check: { test: string[] | string }): string {
  return typeof check.test === "string" ? check.test : check.test.join(" ");
}

/** A compose interpolation, `${inner}`, spelled so that no literal in this file looks like one. */
function ref(inner: string): string {
  return `${DOLLAR}{${inner}}`;
}

/** A required variable as the emitter writes it. */
function required(variable: string): string {
  return ref(`${variable}:?set ${variable} in .env`);
}

const DOLLAR = "$";

const SECRET_REF = /^\$\{[A-Z_][A-Z0-9_]*(:\?[^}]*|:-)\}$/;

describe("compose", () => {
  it("compose — every example's docker-compose.yml validates against the compose specification schema", () => {
    expect(EXAMPLE_NAMES.length).toBeGreaterThanOrEqual(4);
    for (const name of EXAMPLE_NAMES) {
      const doc = compose(exampleModel(name));
      const ok = validateCompose(doc);
      expect({ name, errors: validateCompose.errors ?? null }).toEqual({ name, errors: null });
      expect(ok).toBe(true);
    }
  });

  it("compose — the schema check rejects a malformed file (the validation is not vacuous)", () => {
    const doc = compose(exampleModel("shop")) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    doc.services.order!.depends_on = { "nats-0": {} };
    expect(validateCompose(doc)).toBe(false);
    const doc2 = compose(exampleModel("shop")) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    doc2.services.order!.replica_count = 5;
    expect(validateCompose(doc2)).toBe(false);
  });

  it("compose — headers name the source file, not its path", () => {
    const out = files(exampleModel("shop"));
    for (const path of ["docker-compose.yml", ".env.example", "Dockerfile"]) {
      expect(out[path]!.split("\n")[0]).toBe("# Generated by catgac from shop.catga — do not edit");
    }
    expect(Object.keys(out).sort()).toEqual([".env.example", "Dockerfile", "docker-compose.yml"]);
  });

  it("compose — shop: a 3-node NATS cluster, Redis primary + 2 replicas + 3 sentinels, replicas per service", () => {
    const doc = compose(exampleModel("shop"));
    const names = Object.keys(doc.services);
    expect(names).toEqual([
      "nats-0",
      "nats-1",
      "nats-2",
      "redis-0",
      "redis-1",
      "redis-2",
      "sentinel-0",
      "sentinel-1",
      "sentinel-2",
      "order",
      "inventory",
      "payment",
      "notifier",
      "coordinator",
    ]);
    expect(doc.services.order?.deploy?.replicas).toBe(5);
    expect(doc.services.coordinator?.deploy?.replicas).toBe(3);
    expect(doc.services.notifier?.deploy?.replicas).toBe(3);

    // Replicas follow the primary; the primary follows nobody.
    expect(doc.services["redis-0"]?.command.join(" ")).not.toContain("--replicaof");
    for (const r of ["redis-1", "redis-2"]) {
      expect(doc.services[r]!.command.join(" ")).toContain("--replicaof redis-0 6379");
    }
    // Every data node writes the emitted ACL from its environment and starts with it; replicas
    // replicate as catga-replica; health checks log in as catga-admin (REDISCLI_AUTH).
    for (const r of ["redis-0", "redis-1", "redis-2"]) {
      const script = doc.services[r]!.command.join(" ");
      expect(script).toContain('"user default off resetkeys resetchannels -@all"');
      expect(script).toContain(
        '"user coordinator on >$$CATGA_REDIS_PASSWORD_COORDINATOR resetkeys ~{catga:shop:coordinator}*',
      );
      expect(script).toContain('"masteruser catga-replica" "masterauth $$CATGA_REDIS_REPLICA_PASSWORD"');
      expect(script).toContain("exec redis-server /tmp/auth.conf --port 0 --tls-port 6379 ");
      expect(doc.services[r]!.healthcheck!.test).toEqual([
        "CMD",
        "redis-cli",
        "--user",
        "catga-admin",
        "--tls",
        "--cacert",
        "/etc/redis/certs/ca.crt",
        "ping",
      ]);
    }
    // Sentinels generate a writable config that monitors the primary with quorum 2.
    const script = doc.services["sentinel-0"]!.command.join(" ");
    expect(script).toContain("sentinel resolve-hostnames yes");
    expect(script).toContain("sentinel monitor catga redis-0 6379 2");
    expect(script).toContain("exec redis-sentinel /tmp/sentinel.conf");
    expect(script).toContain(
      '"sentinel auth-user catga catga-sentinel" "sentinel auth-pass catga $$CATGA_REDIS_SENTINEL_PEER_PASSWORD"',
    );
    expect(script).toContain('"sentinel sentinel-user catga-sentinel"');
    expect(script).toContain('"user catga-client on >$$CATGA_REDIS_SENTINEL_CLIENT_PASSWORD');

    // Only the leader-mode coordinator gets Redis; everyone gets every NATS URL.
    const coordinator = doc.services.coordinator!.environment!;
    expect(coordinator.CATGA_REDIS_MODE).toBe("sentinel");
    expect(coordinator.CATGA_REDIS_SENTINELS).toBe("sentinel-0:26379,sentinel-1:26379,sentinel-2:26379");
    expect(coordinator.CATGA_REDIS_MASTER).toBe("catga");
    expect(coordinator.CATGA_REDIS_USER).toBe("coordinator");
    expect(coordinator.CATGA_REDIS_PASSWORD).toBe(
      ref("CATGA_REDIS_PASSWORD_COORDINATOR:?set CATGA_REDIS_PASSWORD_COORDINATOR in .env"),
    );
    expect(coordinator.CATGA_REDIS_SENTINEL_USER).toBe("catga-client");
    expect(doc.services.notifier!.environment!.CATGA_REDIS_MODE).toBeUndefined();
    expect(Object.keys(doc.services.coordinator!.depends_on!)).toEqual([
      "nats-0",
      "nats-1",
      "nats-2",
      "sentinel-0",
      "sentinel-1",
      "sentinel-2",
    ]);
    const order = doc.services.order!.environment!;
    // order says `uses redis`: it gets Redis with a user of its own; the notifier gets no Redis.
    expect(order.CATGA_REDIS_MODE).toBe("sentinel");
    expect(order.CATGA_REDIS_USER).toBe("order");
    expect(order.CATGA_REDIS_PASSWORD).toBe(required("CATGA_REDIS_PASSWORD_ORDER"));
    expect(doc.services.notifier!.environment!.CATGA_REDIS_MODE).toBeUndefined();
    expect(order.CATGA_NATS_URLS).toBe("nats://nats-0:4222,nats://nats-1:4222,nats://nats-2:4222");
    expect(order.CATGA_NATS_USER).toBe("order");
    expect(order.CATGA_SERVICE).toBe("order");
    expect(order.CATGA_TOPOLOGY).toBe("shop");
    expect(order.CATGA_HEALTH_PORT).toBe("8080");
    expect(order.CATGA_HANDLERS).toBe("/app/services/order.ts");
    expect(order.CATGA_NATS_PASSWORD).toBe(required("CATGA_NATS_PASSWORD_ORDER"));
    expect(doc.services.order!.command).toEqual([
      "catga",
      "run",
      "--wiring",
      "/etc/catga/wiring.json",
      "--service",
      "order",
    ]);
    expect(doc.services.order!.volumes).toEqual([
      "./wiring.json:/etc/catga/wiring.json:ro",
      "./certs/ca.crt:/etc/catga-tls/ca.crt:ro",
    ]);
    // It waits for NATS and, as it uses Redis, for the sentinels that tell it the primary.
    expect(doc.services.order!.depends_on).toEqual({
      "nats-0": { condition: "service_healthy" },
      "nats-1": { condition: "service_healthy" },
      "nats-2": { condition: "service_healthy" },
      "sentinel-0": { condition: "service_healthy" },
      "sentinel-1": { condition: "service_healthy" },
      "sentinel-2": { condition: "service_healthy" },
    });
    expect(healthLine(doc.services.order!.healthcheck!)).toContain("http://127.0.0.1:8080/readyz");
    // The string form: podman-compose 1.0.3 breaks list-form tests of services with replicas.
    expect(typeof doc.services.order!.healthcheck!.test).toBe("string");
    expect(doc.services.order!.image).toBe("catga-shop:latest");
    expect(doc.services.order!.build?.dockerfile).toBe("Dockerfile");
  });

  it("compose — only the first NATS node is published, on the loopback interface", () => {
    const doc = compose(exampleModel("shop"));
    expect(doc.services["nats-0"]!.ports).toEqual([
      { target: 4222, published: ref("CATGA_NATS_HOST_PORT:-4222"), host_ip: "127.0.0.1", protocol: "tcp" },
    ]);
    expect(doc.services["nats-1"]!.ports).toBeUndefined();
    expect(doc.services["nats-0"]!.command).toEqual(["nats-server", "-c", "/etc/nats/nats-tls.conf"]);
    expect(doc.services["nats-0"]!.environment!.NATS_SERVER_NAME).toBe("nats-0");
    expect(doc.services["nats-2"]!.environment!.NATS_SERVER_NAME).toBe("nats-2");
    // Route URLs carry the route password as a reference, never a value.
    expect(doc.services["nats-1"]!.environment!.CATGA_NATS_ROUTE_2).toBe(
      `nats://route:${required("CATGA_NATS_CLUSTER_PASSWORD")}@nats-2:6222`,
    );
  });

  it("compose — every $VAR nats.conf reads is set in every NATS container", () => {
    for (const name of EXAMPLE_NAMES) {
      const model = exampleModel(name);
      const conf = emitNats(model, { sourceName: `${name}.catga` })[0]?.content;
      const doc = compose(model);
      const natsNodes = Object.keys(doc.services).filter((s) => s.startsWith("nats-"));
      if (conf === undefined) {
        expect(natsNodes).toEqual([]);
        continue;
      }
      const settings = conf
        .split("\n")
        .filter((line) => !line.trimStart().startsWith("#"))
        .join("\n");
      // Quoted strings are subjects (`"$JS.API.INFO"`), not variable references.
      const vars = [
        ...new Set([...settings.replace(/"[^"]*"/g, "").matchAll(/\$([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!)),
      ].sort();
      expect(vars.length).toBeGreaterThan(0);
      for (const node of natsNodes) {
        expect(Object.keys(doc.services[node]!.environment!).sort()).toEqual(vars);
      }
    }
  });

  it("compose — pipeline: no leader, so no Redis at all", () => {
    const doc = compose(exampleModel("pipeline"));
    expect(Object.keys(doc.services)).toEqual(["nats-0", "ingest", "stats", "alerter"]);
    for (const s of Object.values(doc.services)) {
      expect(Object.keys(s.environment ?? {}).filter((k) => k.includes("REDIS"))).toEqual([]);
    }
    expect(doc.services.ingest?.deploy?.replicas).toBe(4);
    // A single NATS server has no routes, so no route password.
    expect(doc.services["nats-0"]!.environment!.CATGA_NATS_CLUSTER_PASSWORD).toBeUndefined();
    expect(files(exampleModel("pipeline"))[".env.example"]).not.toContain("REDIS");
  });

  it("compose — ledger: external NATS and Redis, no servers, services get the URLs", () => {
    const doc = compose(exampleModel("ledger"));
    expect(Object.keys(doc.services)).toEqual(["accounts", "transfers", "audit"]);
    for (const s of Object.values(doc.services)) {
      expect(s.environment!.CATGA_NATS_URLS).toBe("nats://nats-a.internal:4222,nats://nats-b.internal:4222");
      expect(s.depends_on).toBeUndefined();
    }
    const transfers = doc.services.transfers!.environment!;
    expect(transfers.CATGA_REDIS_MODE).toBe("standalone");
    expect(transfers.CATGA_REDIS_URL).toBe("redis://redis.internal:6379");
    expect(transfers.CATGA_REDIS_PASSWORD).toBe(ref("CATGA_REDIS_PASSWORD:-"));
    // accounts (p2p, no `uses redis`) gets no Redis at all.
    expect(doc.services.accounts!.environment!.CATGA_REDIS_URL).toBeUndefined();
  });

  it("compose — scheduler: a 6-node Redis Cluster and an init job the leaders wait for", () => {
    const doc = compose(exampleModel("scheduler"));
    expect(Object.keys(doc.services)).toEqual([
      "nats-0",
      "nats-1",
      "nats-2",
      "redis-0",
      "redis-1",
      "redis-2",
      "redis-3",
      "redis-4",
      "redis-5",
      "redis-cluster-init",
      "billing",
      "collector",
      "reports",
      "reminder",
    ]);
    for (let i = 0; i < 6; i++) {
      const cmd = doc.services[`redis-${i}`]!.command;
      expect(cmd.join(" ")).toContain("--cluster-enabled yes");
      expect(doc.services[`redis-${i}`]!.healthcheck!.test).toEqual([
        "CMD",
        "redis-cli",
        "--user",
        "catga-admin",
        "--tls",
        "--cacert",
        "/etc/redis/certs/ca.crt",
        "ping",
      ]);
    }
    const init = doc.services["redis-cluster-init"]!;
    expect(init.restart).toBe("no");
    expect(init.command.join(" ")).toContain("--cluster create");
    expect(init.command.join(" ")).toContain("--cluster-replicas 1 --cluster-yes");
    expect(Object.keys(init.depends_on!)).toEqual([
      "redis-0",
      "redis-1",
      "redis-2",
      "redis-3",
      "redis-4",
      "redis-5",
    ]);
    expect(doc.services.billing!.depends_on!["redis-cluster-init"]).toEqual({
      condition: "service_completed_successfully",
    });
    expect(doc.services.billing!.environment!.CATGA_REDIS_CLUSTER_NODES).toBe(
      "redis-0:6379,redis-1:6379,redis-2:6379,redis-3:6379,redis-4:6379,redis-5:6379",
    );
    // The peer-mode reminder does not use Redis: no address, no user, no wait for the cluster.
    expect(doc.services.reminder!.environment!.CATGA_REDIS_MODE).toBeUndefined();
    expect(doc.services.reminder!.depends_on!["redis-cluster-init"]).toBeUndefined();
  });

  it("compose — scheduler: a declared image, port, env and resources are used; no build for it", () => {
    const billing = compose(exampleModel("scheduler")).services.billing!;
    expect(billing.image).toBe("ghcr.io/acme/billing:2.3.1");
    expect(billing.build).toBeUndefined();
    expect(billing.environment!.CATGA_HANDLERS).toBeUndefined();
    expect(billing.environment!.CATGA_HEALTH_PORT).toBe("9100");
    expect(billing.environment!.LOG_LEVEL).toBe("info");
    expect(billing.environment!.CURRENCY).toBe("EUR");
    expect(healthLine(billing.healthcheck!)).toContain("http://127.0.0.1:9100/readyz");
    expect(billing.deploy).toEqual({
      replicas: 3,
      resources: { limits: { cpus: "0.25", memory: "256M" }, reservations: { cpus: "0.25", memory: "256M" } },
    });
    expect(files(exampleModel("scheduler")).Dockerfile).toContain("EXPOSE 8080\n");
  });

  it("compose — no literal password: every secret is a compose variable reference", () => {
    for (const name of EXAMPLE_NAMES) {
      const doc = compose(exampleModel(name));
      for (const [service, s] of Object.entries(doc.services)) {
        for (const [key, value] of Object.entries(s.environment ?? {})) {
          if (/PASSWORD|AUTH|SECRET|TOKEN/.test(key) && key !== "NATS_SERVER_NAME") {
            expect({ service, key, value }).toEqual({
              service,
              key,
              value: expect.stringMatching(SECRET_REF),
            });
          }
          if (/_ROUTE_/.test(key))
            expect(value).toMatch(/^nats:\/\/route:\$\{[A-Z_]+:\?[^}]*\}@[a-z0-9-]+:6222$/);
        }
        const cmd = s.command ?? [];
        cmd.forEach((arg, i) => {
          if (arg === "--requirepass" || arg === "--masterauth") expect(cmd[i + 1]).toMatch(SECRET_REF);
          // Inside shell scripts passwords come from the container's environment, never inline.
          if (/auth-pass/.test(arg))
            expect(arg).toMatch(/auth-pass \S+ \$\$CATGA_REDIS_SENTINEL_PEER_PASSWORD"/);
          // Every ACL user's password is a reference to the container's environment.
          for (const m of arg.matchAll(/ on >(\S+)/g)) expect(m[1]).toMatch(/^\$\$CATGA_REDIS_[A-Z_]+$/);
          for (const m of arg.matchAll(/(masterauth|sentinel-pass) (\S+)"/g))
            expect(m[2]).toMatch(/^\$\$CATGA_REDIS_[A-Z_]+$/);
        });
      }
      for (const line of files(exampleModel(name))[".env.example"]!.split("\n")) {
        if (/^[A-Z_][A-Z0-9_]*=/.test(line)) expect(line).toMatch(/=$/);
      }
    }
  });

  it("compose — .env.example lists exactly the variables docker-compose.yml references", () => {
    for (const name of EXAMPLE_NAMES) {
      const out = files(exampleModel(name));
      const used = referencedVars(out["docker-compose.yml"]!);
      expect(used.length).toBeGreaterThan(0);
      expect({ name, vars: listedVars(out[".env.example"]!) }).toEqual({ name, vars: used });
    }
  });

  it("compose — the same model gives the same bytes", () => {
    for (const name of EXAMPLE_NAMES) {
      const a = emitCompose(exampleModel(name), { sourceName: `${name}.catga` });
      const b = emitCompose(exampleModel(name), { sourceName: `${name}.catga` });
      expect(b).toEqual(a);
    }
  });

  it("compose — declared env values are literal: `$` is escaped from compose interpolation", () => {
    const model = modelOf(`topology t
service api { replicas 1  env { PRICE "$5", HOME_REF "\${HOME}" } }
`);
    const out = files(model);
    const env = compose(model).services.api!.environment!;
    expect(env.PRICE).toBe("$$5");
    expect(env.HOME_REF).toBe("$${HOME}");
    expect(referencedVars(out["docker-compose.yml"]!)).not.toContain("HOME");
  });

  it("compose — standalone Redis: one `redis` server with a required password", () => {
    const model = modelOf(`topology t
redis { mode standalone }
service boss { mode leader  replicas 2 }
`);
    const doc = compose(model);
    expect(Object.keys(doc.services)).toEqual(["nats-0", "redis", "boss"]);
    const script = doc.services.redis!.command.join(" ");
    expect(script).toContain('"aclfile /tmp/users.acl"');
    expect(script).toContain('"user default off resetkeys resetchannels -@all"');
    expect(script).not.toContain("requirepass");
    expect(Object.keys(doc.services.redis!.environment!)).toEqual([
      "CATGA_REDIS_ADMIN_PASSWORD",
      "CATGA_REDIS_OPS_PASSWORD",
      "CATGA_REDIS_PASSWORD_BOSS",
      "CATGA_REDIS_REPLICA_PASSWORD",
      "REDISCLI_AUTH",
    ]);
    expect(doc.services.boss!.environment!.CATGA_REDIS_URL).toBe("rediss://redis:6379");
    expect(doc.services.boss!.depends_on!.redis).toEqual({ condition: "service_healthy" });
    expect(validateCompose(doc)).toBe(true);
  });

  it("compose — `uses redis`: a p2p service gets Redis (and Redis is emitted) with its own user; others get none", () => {
    const model = modelOf(`topology t
command Put { id: string }
command Get { id: string }
service store { handles Put  uses redis }
service api { handles Get }
`);
    const doc = compose(model);
    expect(Object.keys(doc.services)).toEqual(["nats-0", "redis", "store", "api"]);
    const store = doc.services.store!.environment!;
    // Redis takes TLS by default even when no service runs in leader mode.
    expect(store.CATGA_REDIS_URL).toBe("rediss://redis:6379");
    expect(store.CATGA_REDIS_TLS_CA).toBe("/etc/catga-tls/ca.crt");
    expect(doc.services.redis!.command.join(" ")).toContain("--tls-port 6379");
    expect(store.CATGA_REDIS_USER).toBe("store");
    expect(store.CATGA_REDIS_PASSWORD).toBe(required("CATGA_REDIS_PASSWORD_STORE"));
    expect(doc.services.store!.depends_on!.redis).toEqual({ condition: "service_healthy" });
    expect(doc.services.api!.environment!.CATGA_REDIS_URL).toBeUndefined();
    expect(doc.services.api!.depends_on!.redis).toBeUndefined();
    const script = doc.services.redis!.command.join(" ");
    expect(script).toContain("~{catga:t:store}* ~{catga:t:store:*}*");
    expect(script).toContain("+@read +@write +@scripting +@transaction -@dangerous -@admin");
    expect(validateCompose(doc)).toBe(true);
  });

  it("compose — a service whose name is taken gives way with the topology prefix", () => {
    const model = modelOf(`topology t
service Redis { mode leader  replicas 2 }
service tRedis { replicas 1 }
`);
    const doc = compose(model);
    expect(Object.keys(doc.services)).toEqual(["nats-0", "redis", "t-redis", "t-t-redis"]);
    expect(doc.services["t-redis"]!.environment!.CATGA_SERVICE).toBe("Redis");
    expect(doc.services["t-t-redis"]!.environment!.CATGA_SERVICE).toBe("tRedis");
  });

  it("compose — CPU quantities become compose's decimal CPUs", () => {
    expect(composeCpus("250m")).toBe("0.25");
    expect(composeCpus("500m")).toBe("0.5");
    expect(composeCpus("1500m")).toBe("1.5");
    expect(composeCpus("1000m")).toBe("1");
    expect(composeCpus("5m")).toBe("0.005");
    expect(composeCpus("2")).toBe("2");
    expect(composeCpus("0.5")).toBe("0.5");
    expect(composeCpus("1.50")).toBe("1.5");
    expect(() => composeCpus("1.5m")).toThrow(/CPU quantity/);
  });

  it("compose — memory quantities become exact Docker (binary) sizes", () => {
    expect(composeMemory("256Mi")).toBe("256M");
    expect(composeMemory("1Gi")).toBe("1G");
    expect(composeMemory("1.5Gi")).toBe("1536M");
    expect(composeMemory("512Ki")).toBe("512k");
    expect(composeMemory("2Ti")).toBe("2T");
    // Decimal units are not Docker's: 1M = 1 000 000 bytes = 976.5625 KiB.
    expect(composeMemory("1M")).toBe("1000000b");
    expect(composeMemory("512M")).toBe("500000k");
    expect(composeMemory("1G")).toBe("1000000000b");
    expect(composeMemory("1024")).toBe("1k");
    expect(composeMemory("100")).toBe("100b");
    // A fraction of a byte rounds up.
    expect(composeMemory("0.5")).toBe("1b");
    expect(() => composeMemory("12 MB")).toThrow(/memory quantity/);
  });

  it("compose — Dockerfile: node:20-slim, the app context, catga on PATH, health ports exposed", () => {
    const dockerfile = files(exampleModel("shop")).Dockerfile!;
    expect(dockerfile).toContain("\nARG NODE_IMAGE=node:20-slim\nFROM ${NODE_IMAGE} AS project\n");
    expect(dockerfile).toContain("\nCOPY --from=app . /project\n");
    expect(dockerfile).toContain("\nFROM ${NODE_IMAGE}\nWORKDIR /app\n");
    expect(dockerfile).toContain("\nCOPY --from=project /project /app\n");
    expect(dockerfile).toContain("npm ci --omit=dev");
    expect(dockerfile).toContain("\nENV PATH=/app/node_modules/.bin:$PATH\n");
    expect(dockerfile).toContain("\nEXPOSE 8080\n");
    expect(dockerfile).toContain("\nUSER node\n");
    expect(dockerfile.trimEnd().split("\n").at(-1)).toBe(
      'CMD ["catga", "run", "--wiring", "/etc/catga/wiring.json"]',
    );
  });

  it("compose — Dockerfile: the image gets the generated client the handlers import, never the certificates or .env", () => {
    // Found running the shop under podman: the old advice (a .dockerignore listing out/) left
    // out/shop/client.ts behind, and every service failed with "Cannot find module".
    const dockerfile = files(exampleModel("shop")).Dockerfile!;
    expect(dockerfile).not.toMatch(/dockerignore[^\n]*\bout\b/);
    expect(dockerfile).toContain("test -f out/shop/client.ts ||");
    expect(dockerfile).toContain("Run catgac build shop.catga there first");
    // Dropped in the first stage: no layer of the final image holds them (podman ignores a
    // .dockerignore of a named context, so the Dockerfile cannot rely on one).
    expect(dockerfile).toContain("rm -rf node_modules .catga out/shop/certs out/shop/.env");
    const stages = dockerfile.split(/\nFROM /);
    expect(stages).toHaveLength(3);
    expect(stages[2]).not.toContain("--from=app");
  });

  it("compose — the base images are overridable from .env, with the official images as defaults", () => {
    const out = files(exampleModel("shop"));
    const doc = compose(exampleModel("shop"));
    expect(doc.services["nats-0"]!.image).toBe(`${DOLLAR}{CATGA_NATS_IMAGE:-nats:2.10.29-alpine}`);
    expect(doc.services["redis-0"]!.image).toBe(`${DOLLAR}{CATGA_REDIS_IMAGE:-redis:7.4.6-alpine}`);
    expect(doc.services["sentinel-0"]!.image).toBe(`${DOLLAR}{CATGA_REDIS_IMAGE:-redis:7.4.6-alpine}`);
    expect((doc.services.order!.build as { args?: Record<string, string> }).args).toEqual({
      NODE_IMAGE: `${DOLLAR}{CATGA_NODE_IMAGE:-node:20-slim}`,
    });
    for (const v of ["CATGA_NODE_IMAGE", "CATGA_NATS_IMAGE", "CATGA_REDIS_IMAGE"])
      expect(out[".env.example"]).toContain(`\n# ${v}=\n`);
  });

  it("compose — .env.example: optional variables are commented out, so every compose gives their defaults", () => {
    // podman-compose 1.0.3 substitutes an empty value for `${VAR:-default}` when VAR is set but
    // empty; an empty JetStream limit started NATS with no storage at all.
    const env = files(exampleModel("shop"))[".env.example"]!;
    const entries = env.split("\n").filter((l) => /^(# )?[A-Z_]+=/.test(l));
    expect(entries.length).toBeGreaterThan(10);
    const blocks = env.split("\n\n").slice(1);
    for (const block of blocks) {
      const [comment, entry] = block.trim().split("\n");
      expect(entry, comment).toMatch(
        comment!.startsWith("# Optional:") ? /^# [A-Z_0-9]+=$/ : /^[A-Z_0-9]+=$/,
      );
    }
  });

  it("compose — every container's stop grace outlasts the runtime's drain; services drop privileges", () => {
    for (const name of EXAMPLE_NAMES) {
      const model = exampleModel(name);
      const file = compose(model);
      for (const [host, service] of Object.entries(file.services)) {
        // Docker's default is 10 s, the runtime's drain grace alone: services get 10 + 20 s, NATS
        // and Redis Kubernetes's 30 s.
        expect(service.stop_grace_period, `${name}: ${host}`).toBe("30s");
      }
      for (const s of model.services) {
        const svc = Object.values(file.services).find((x) => x.environment?.CATGA_SERVICE === s.name)!;
        expect(svc.read_only, s.name).toBe(true);
        expect(svc.tmpfs).toEqual(["/tmp"]);
        expect(svc.cap_drop).toEqual(["ALL"]);
        expect(svc.security_opt).toEqual(["no-new-privileges:true"]);
      }
    }
    const longer = modelOf(
      readFileSync(join(EXAMPLES, "shop", "shop.catga"), "utf8").replace(
        "service order {",
        'service order {\n  env { CATGA_GRACE_MS "45000" }',
      ),
    );
    expect(compose(longer).services.order!.stop_grace_period).toBe("65s");
  });

  it("compose — the sourceName, not the model's path, appears in the output", () => {
    const model = exampleModel("shop");
    const a = files(model, "shop.catga");
    for (const content of Object.values(a)) expect(content).not.toContain(EXAMPLES);
    expect(basename(model.source)).toBe("shop.catga");
  });
});

describe("compose — durable events (JetStream)", () => {
  /** The shop as declared: `durable event OrderCreated`. */
  function durableShop(): TopologyModel {
    const model = exampleModel("shop");
    expect(model.messages.find((m) => m.name === "OrderCreated")?.durable).toBeDefined();
    return model;
  }

  it("compose — each NATS node keeps its JetStream store on its own named volume, with overridable limits", () => {
    const doc = compose(durableShop()) as Compose & { volumes?: Record<string, unknown> };
    expect(validateCompose(doc)).toBe(true);
    expect(doc.volumes).toEqual({ "nats-0-data": {}, "nats-1-data": {}, "nats-2-data": {} });
    for (const i of [0, 1, 2]) {
      const node = doc.services[`nats-${i}`]!;
      expect(node.volumes).toEqual([
        "./nats/nats.conf:/etc/nats/nats.conf:ro",
        "./nats/nats-tls.conf:/etc/nats/nats-tls.conf:ro",
        "./certs/nats.crt:/etc/nats/certs/tls.crt:ro",
        "./certs/nats.key:/etc/nats/certs/tls.key:ro",
        "./certs/ca.crt:/etc/nats/certs/ca.crt:ro",
        `nats-${i}-data:/data`,
      ]);
      expect(node.environment!.CATGA_NATS_JS_MAX_MEMORY).toBe(`${DOLLAR}{CATGA_NATS_JS_MAX_MEMORY:-256M}`);
      expect(node.environment!.CATGA_NATS_JS_MAX_FILE).toBe(`${DOLLAR}{CATGA_NATS_JS_MAX_FILE:-8G}`);
      expect(node.environment!.CATGA_NATS_PASSWORD_ADMIN).toMatch(SECRET_REF);
    }
  });

  it("compose — .env.example lists the admin password (required) and the JetStream limits (optional)", () => {
    const env = files(durableShop())[".env.example"]!;
    expect(env).toContain("# Required: NATS password of user admin:");
    expect(env).toContain("\nCATGA_NATS_PASSWORD_ADMIN=\n");
    expect(env).toContain("# Optional: JetStream memory limit");
    expect(env).toContain("\n# CATGA_NATS_JS_MAX_FILE=\n");
  });

  it("compose — without a durable event: no volume, no limit, no admin", () => {
    const file = join(EXAMPLES, "shop", "shop.catga");
    const source = readFileSync(file, "utf8");
    expect(source).toContain("durable event OrderCreated");
    const plain = modelOf(source.replace("durable event OrderCreated", "event OrderCreated"), file);
    const doc = compose(plain) as Compose & { volumes?: unknown };
    expect(doc.volumes).toBeUndefined();
    expect(doc.services["nats-0"]!.volumes).toEqual([
      "./nats/nats.conf:/etc/nats/nats.conf:ro",
      "./nats/nats-tls.conf:/etc/nats/nats-tls.conf:ro",
      "./certs/nats.crt:/etc/nats/certs/tls.crt:ro",
      "./certs/nats.key:/etc/nats/certs/tls.key:ro",
      "./certs/ca.crt:/etc/nats/certs/ca.crt:ro",
    ]);
    expect(files(plain)[".env.example"]).not.toMatch(/JS_MAX|PASSWORD_ADMIN/);
  });

  it("compose — with an external NATS, no JetStream volume is emitted (its operators own the server)", () => {
    const model = durableShop();
    model.nats = { ...model.nats, url: "nats://nats.example:4222" };
    const doc = compose(model) as Compose & { volumes?: unknown };
    expect(doc.volumes).toBeUndefined();
    expect(validateCompose(doc)).toBe(true);
  });
});

describe("compose tls", () => {
  const leader = "command Tick {}\nservice boss { mode leader  replicas 2  handles Tick }\n";

  it("compose tls — on by default: NATS runs nats-tls.conf, Redis and sentinels take TLS only, services trust the CA", () => {
    const model = modelOf(`topology t\nnats { nodes 2 }\nredis { mode sentinel }\n${leader}`);
    const doc = compose(model);
    expect(doc.services["nats-1"]!.command).toEqual(["nats-server", "-c", "/etc/nats/nats-tls.conf"]);
    // The server's start script (it writes the ACL first): TLS only, the plain port closed.
    const redis = (doc.services["redis-1"]!.command as string[]).join(" ");
    expect(redis).toContain("exec redis-server /tmp/auth.conf --port 0 --tls-port 6379 ");
    expect(redis).toContain("--tls-replication yes");
    const sentinel = (doc.services["sentinel-0"]!.command as string[]).join(" ");
    expect(sentinel).toContain(`printf '%s\\n' "port 0" "tls-port 26379" `);
    expect(sentinel).toContain('"tls-replication yes"');
    expect(doc.services["sentinel-0"]!.healthcheck!.test).toEqual([
      "CMD",
      "redis-cli",
      "--user",
      "catga-admin",
      "--tls",
      "--cacert",
      "/etc/redis/certs/ca.crt",
      "-p",
      "26379",
      "ping",
    ]);
    expect(doc.services.boss!.environment!.CATGA_NATS_TLS_CA).toBe("/etc/catga-tls/ca.crt");
    expect(doc.services.boss!.environment!.CATGA_REDIS_TLS_CA).toBe("/etc/catga-tls/ca.crt");
    expect(validateCompose(doc)).toBe(true);
    expect(composeCertificateNames(model)).toEqual({
      nats: ["nats-0", "nats-1", "localhost", "127.0.0.1"],
      redis: [
        "redis-0",
        "redis-1",
        "redis-2",
        "sentinel-0",
        "sentinel-1",
        "sentinel-2",
        "localhost",
        "127.0.0.1",
      ],
    });
  });

  it("compose tls — cluster mode: the bus on TLS and the init creates the cluster over TLS", () => {
    const doc = compose(modelOf(`topology t\nredis { mode cluster }\n${leader}`));
    expect((doc.services["redis-0"]!.command as string[]).join(" ")).toContain("--tls-cluster yes");
    expect((doc.services["redis-cluster-init"]!.command as string[]).join(" ")).toContain(
      "redis-cli --user catga-admin --tls --cacert /etc/redis/certs/ca.crt --cluster create",
    );
  });

  it("compose tls — `tls off` in nats and redis emits what it did before TLS: no certificates, no TLS variables", () => {
    const model = modelOf(`topology t\nnats { nodes 2  tls off }\nredis { tls off }\n${leader}`);
    const all = files(model);
    expect(Object.keys(all)).toEqual(["docker-compose.yml", ".env.example", "Dockerfile"]);
    expect(all["docker-compose.yml"]).not.toMatch(/tls|certs/i);
    const doc = compose(model);
    expect(doc.services["nats-0"]!.command).toEqual(["nats-server", "-c", "/etc/nats/nats.conf"]);
    expect(doc.services.boss!.environment!.CATGA_REDIS_URL).toBe("redis://redis:6379");
    expect(emitNats(model, { sourceName: "t.catga" }).map((f) => f.path)).toEqual(["nats/nats.conf"]);
    expect(composeCertificateNames(model)).toEqual({});
  });

  it("compose tls — external servers: the URL's scheme decides, no certificates mounted", () => {
    const doc = compose(
      modelOf(`topology t\nnats { url "tls://n:4222" }\nredis { url "rediss://r:6380" }\n${leader}`),
    );
    expect(doc.services.boss!.environment!.CATGA_REDIS_TLS).toBe("true");
    expect(doc.services.boss!.environment!.CATGA_NATS_TLS_CA).toBeUndefined();
    expect(doc.services.boss!.volumes).toEqual(["./wiring.json:/etc/catga/wiring.json:ro"]);
  });
});
