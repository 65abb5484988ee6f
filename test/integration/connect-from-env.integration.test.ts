import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { natsPasswordVar } from "../../compiler/emit/_names.js";
import { natsPermissions } from "../../compiler/emit/nats.js";
import type { Bus } from "../../runtime/bus.js";
import { ConfigError } from "../../runtime/config.js";
import { clientNatsOptions } from "../../runtime/connect.js";
import type { Host } from "../../runtime/host.js";
import { startHost } from "../../runtime/host.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import type { Wiring } from "../../runtime/wiring.js";
import { buildTopology } from "../../tooling/local/cluster.js";
import { connectUpfix, type UpfixClient } from "../fixtures/up/generated/client.js";
import worker from "../fixtures/up/services/worker.js";
import { tempDir } from "../harness/_process.js";
import { type NatsServer, startNats } from "../harness/nats.js";

/**
 * One way to connect (issue 14): the generated `connectUpfix()` without a bus finds NATS from the
 * variables the emitted files define, or from the local cluster's `.catga/state.json`, and logs in
 * as the `client` user with its inbox prefix. Against a real nats-server running the EMITTED
 * nats.conf (users and permissions), a request through it is answered: the reply inbox is one the
 * `client` user may subscribe to, so there is no permissions violation (with the default `_INBOX`
 * prefix the same request gets no reply, checked too).
 *
 * The topology is the `catga up` fixture with a single NATS node (its emitted config then has no
 * routes to fill in); the client and the worker's handlers are the fixture's generated code.
 */
const ROOT = new URL("../..", import.meta.url).pathname;
const FIXTURE = join(ROOT, "test/fixtures/up");

describe("connect<Topology>() — from the environment or the local cluster", () => {
  let dir: ReturnType<typeof tempDir>;
  let server: NatsServer;
  let host: Host;
  let passwords: Record<string, string>;
  const clients: UpfixClient[] = [];

  beforeAll(async () => {
    dir = tempDir("connect");
    const source = readFileSync(join(FIXTURE, "upfix.catga"), "utf8").replace(
      "nats { nodes 3 }",
      "nats { nodes 1 }",
    );
    const file = join(dir.path, "upfix.catga");
    writeFileSync(file, source);
    const { wiring } = await buildTopology(file, join(dir.path, "out"));
    const { value: model } = checkSource(source, file);
    passwords = Object.fromEntries(
      Object.keys(natsPermissions(model!)).map((user) => [user, `p${randomBytes(12).toString("hex")}`]),
    );
    server = await startNats({
      config: readFileSync(join(dir.path, "out/nats/nats.conf"), "utf8"),
      env: Object.fromEntries(Object.entries(passwords).map(([u, p]) => [natsPasswordVar(u), p])),
    });
    host = await startWorker(wiring);
  }, 60_000);

  async function startWorker(wiring: Wiring): Promise<Host> {
    return await startHost({
      wiring,
      service: "worker",
      definition: worker,
      instanceId: "worker-0",
      transport: await natsTransport({
        servers: [server.url],
        user: "worker",
        password: passwords.worker!,
        inboxPrefix: wiring.services.worker!.inboxPrefix,
      }),
    });
  }

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.bus.close()));
    await host?.stop();
    await server?.stop();
    dir?.remove();
  });

  it("connect — from CATGA_NATS_URLS and the client password as the emitted .env names it: a request is answered", async () => {
    const upfix = await connectUpfix({
      env: { CATGA_NATS_URLS: server.url, [natsPasswordVar("client")]: passwords.client },
      cwd: dir.path, // no .catga/ here or above: the variables decide
      timeoutMs: 3000,
    });
    clients.push(upfix);
    expect(await upfix.work({ n: 1 })).toEqual({ instance: "worker-0", token: "" });
    // A second request on the same connection: the inbox subscription was not refused.
    expect(await upfix.work({ n: 2 })).toEqual({ instance: "worker-0", token: "" });
  });

  it("connect — with the default _INBOX prefix the client user gets no reply (why the prefix matters)", async () => {
    const upfix = await connectUpfix({
      env: {
        CATGA_NATS_URLS: server.url,
        CATGA_NATS_USER: "client",
        CATGA_NATS_PASSWORD: passwords.client,
        CATGA_NATS_INBOX_PREFIX: "_INBOX",
      },
      cwd: dir.path,
      timeoutMs: 1000,
    });
    clients.push(upfix);
    await expect(upfix.work({ n: 3 })).rejects.toThrow();
  });

  it("connect — beside a local cluster: .catga/state.json in a parent folder gives the URLs and the client password", async () => {
    const cluster = join(dir.path, "cluster");
    mkdirSync(join(cluster, ".catga"), { recursive: true });
    mkdirSync(join(cluster, "scripts"), { recursive: true });
    writeFileSync(
      join(cluster, ".catga/state.json"),
      JSON.stringify({
        topology: "upfix",
        nats: { urls: [server.url], users: { client: passwords.client } },
      }),
    );
    const upfix = await connectUpfix({ env: {}, cwd: join(cluster, "scripts"), timeoutMs: 3000 });
    clients.push(upfix);
    expect(await upfix.work({ n: 4 })).toEqual({ instance: "worker-0", token: "" });
  });

  it("connect — a bus given is used as before, and the client does not connect by itself", () => {
    const bus = { request: async () => ({ instance: "x", token: "t" }) } as unknown as Bus;
    const upfix = connectUpfix(bus);
    expect(upfix.bus).toBe(bus);
  });

  it("connect — nothing configured, or another topology's cluster: ConfigError saying what to set", () => {
    expect(() => clientNatsOptions({ topology: "upfix", env: {}, cwd: "/" })).toThrow(ConfigError);
    expect(() => clientNatsOptions({ topology: "upfix", env: {}, cwd: "/" })).toThrow(/CATGA_NATS_URLS/);
    const other = join(dir.path, "other");
    mkdirSync(join(other, ".catga"), { recursive: true });
    writeFileSync(
      join(other, ".catga/state.json"),
      JSON.stringify({ topology: "shop", nats: { urls: ["nats://x"] } }),
    );
    expect(() => clientNatsOptions({ topology: "upfix", env: {}, cwd: other })).toThrow(
      /runs topology 'shop'/,
    );
  });

  it("connect — the variables: user, password, token, creds, TLS files and the inbox prefix, as catga run reads them", () => {
    const { nats, from } = clientNatsOptions({
      topology: "shop",
      env: {
        CATGA_NATS_URLS: "nats://a:4222, nats://b:4222",
        CATGA_NATS_USER: "reporter",
        CATGA_NATS_PASSWORD_REPORTER: "pw",
        CATGA_NATS_CREDS: "/run/secrets/client.creds",
        CATGA_NATS_TLS_CA: "/tls/ca.pem",
        CATGA_NATS_TLS_CERT: "/tls/cert.pem",
        CATGA_NATS_TLS_KEY: "/tls/key.pem",
      },
    });
    expect(from).toBe("environment");
    expect(nats).toEqual({
      servers: ["nats://a:4222", "nats://b:4222"],
      name: "shop/client",
      user: "reporter",
      password: "pw",
      credsFile: "/run/secrets/client.creds",
      tls: { caFile: "/tls/ca.pem", certFile: "/tls/cert.pem", keyFile: "/tls/key.pem" },
      inboxPrefix: "_INBOX.shop.reporter",
      connectTimeoutMs: 5000,
    });
  });

  it("connect — a local cluster of catga up --tls: the state's CA is trusted, CATGA_NATS_TLS_CA wins over it", () => {
    const cluster = join(dir.path, "tls-cluster");
    mkdirSync(join(cluster, ".catga"), { recursive: true });
    writeFileSync(
      join(cluster, ".catga/state.json"),
      JSON.stringify({
        topology: "upfix",
        nats: { urls: ["nats://127.0.0.1:4999"], users: { client: "pc" } },
        tls: { ca: "/here/.catga/tls/ca.crt", cert: "/here/.catga/tls/server.crt", key: "/k" },
      }),
    );
    expect(clientNatsOptions({ topology: "upfix", env: {}, cwd: cluster }).nats).toMatchObject({
      servers: ["nats://127.0.0.1:4999"],
      user: "client",
      password: "pc",
      tls: { caFile: "/here/.catga/tls/ca.crt" },
    });
    expect(
      clientNatsOptions({ topology: "upfix", env: { CATGA_NATS_TLS_CA: "/mine.pem" }, cwd: cluster }).nats
        .tls,
    ).toEqual({ caFile: "/mine.pem" });
    // Without --tls the state has no `tls`, and the options none.
    writeFileSync(
      join(cluster, ".catga/state.json"),
      JSON.stringify({ topology: "upfix", nats: { urls: ["nats://127.0.0.1:4999"] } }),
    );
    expect(clientNatsOptions({ topology: "upfix", env: {}, cwd: cluster }).nats.tls).toBeUndefined();
  });
});
