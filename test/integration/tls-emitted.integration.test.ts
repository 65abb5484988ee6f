import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import {
  NATS_CLUSTER_PASSWORD_VAR,
  natsPasswordVar,
  natsRouteUrl,
  natsRouteVar,
} from "../../compiler/emit/_names.js";
import { tlsFilesIn } from "../../compiler/emit/_tls.js";
import { natsPermissions, natsServerConf, natsTlsConf } from "../../compiler/emit/nats.js";
import { TlsError } from "../../runtime/errors.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import { makeTestCertificates, type TestCertificates } from "../harness/certs.js";
import { type NatsCluster, startNatsCluster } from "../harness/nats.js";

/**
 * The emitted `nats/nats-tls.conf` (TLS for clients and routes on top of the emitted nats.conf) run
 * by three real nats-servers with certificates in the emitted layout (tls.crt, tls.key, ca.crt): the
 * routes form over TLS, a service user with the CA reaches a service on another node, and a client
 * without the CA gets a TlsError. The Redis side runs the emitted arguments through the harness
 * (test/harness/redis.ts uses redisTlsArgs and sentinelTlsLines): tls.integration.test.ts.
 */
const SHOP = fileURLToPath(new URL("../../examples/shop/shop.catga", import.meta.url));
const shop = (() => {
  // OrderCreated as a plain event: the JetStream store of the durable one lives in /data.
  const source = readFileSync(SHOP, "utf8").replace("durable event OrderCreated", "event OrderCreated");
  const { value, diagnostics } = checkSource(source, SHOP);
  if (value === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return value;
})();

let certs: TestCertificates;
let cluster: NatsCluster;
const env: Record<string, string> = { [NATS_CLUSTER_PASSWORD_VAR]: `r${randomBytes(12).toString("hex")}` };
for (const user of Object.keys(natsPermissions(shop)))
  env[natsPasswordVar(user)] = `p${randomBytes(12).toString("hex")}`;

beforeAll(async () => {
  certs = await makeTestCertificates();
  // The emitted layout: one folder with tls.crt, tls.key and ca.crt.
  const dir = join(certs.dir, "nats");
  mkdirSync(dir);
  const files = tlsFilesIn(dir);
  copyFileSync(certs.server.cert, files.cert);
  copyFileSync(certs.server.key, files.key);
  copyFileSync(certs.ca, files.ca);
  cluster = await startNatsCluster(3, {
    config: (routes, clusterPort) => {
      // The harness writes the config it is given as nats.conf in a folder of its own under the
      // same temporary root: the emitted nats.conf goes next to the certificates, included by a
      // path relative to that folder, as nats-server resolves includes.
      const base = join(dir, `base-${clusterPort}.conf`);
      writeFileSync(
        base,
        natsServerConf(shop, { sourceName: "shop.catga", routes, ports: { cluster: clusterPort } }),
      );
      return natsTlsConf(shop, {
        sourceName: "shop.catga",
        routes,
        ports: { cluster: clusterPort },
        certDir: dir,
        include: join("..", basename(certs.dir), "nats", basename(base)),
      });
    },
    env: (ports) => ({
      ...env,
      ...Object.fromEntries(
        ports.map((p, i) => [natsRouteVar(i), natsRouteUrl("127.0.0.1", env[NATS_CLUSTER_PASSWORD_VAR]!, p)]),
      ),
    }),
  });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  certs?.remove();
});

describe("tls emitted — nats-tls.conf", () => {
  it("tls emitted — three nodes route over TLS with the emitted config", async () => {
    for (const s of cluster.servers) {
      const varz = (await (await fetch(`http://127.0.0.1:${s.monitorPort}/varz`)).json()) as {
        tls_required?: boolean;
        cluster?: { tls_required?: boolean };
      };
      expect(varz.tls_required).toBe(true);
      expect(varz.cluster?.tls_required).toBe(true);
    }
  });

  it("tls emitted — a service user with the CA (coordinator) sends a command answered on another node (inventory)", async () => {
    const login = (service: string, url: string) =>
      natsTransport({
        servers: [url],
        user: service,
        password: env[natsPasswordVar(service)]!,
        inboxPrefix: `_INBOX.shop.${service}`,
        tls: { caFile: certs.ca },
        connectTimeoutMs: 10_000,
      });
    const order = await login("coordinator", cluster.urls[0]!);
    const inventory = await login("inventory", cluster.urls[2]!);
    try {
      inventory.subscribe("shop.cmd.ReserveStock", { queue: "inventory" }, (msg) => {
        if (msg.reply !== undefined) inventory.publish(msg.reply, new TextEncoder().encode("true"));
      });
      await inventory.flush();
      let answer = "";
      for (let i = 0; i < 30 && answer === ""; i++) {
        try {
          const reply = await order.request("shop.cmd.ReserveStock", new TextEncoder().encode("{}"), {
            timeoutMs: 500,
          });
          answer = new TextDecoder().decode(reply.data);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(answer).toBe("true");
    } finally {
      await Promise.all([order.close(), inventory.close()]);
    }
  });

  it("tls emitted — a service without the CA gets a TlsError at once", async () => {
    const error = await natsTransport({
      servers: [cluster.urls[1]!],
      user: "order",
      password: env[natsPasswordVar("order")]!,
      connectTimeoutMs: 10_000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TlsError);
  });
});
