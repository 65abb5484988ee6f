import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import {
  CLIENT_USER,
  inboxPrefix,
  NATS_CLUSTER_PASSWORD_VAR,
  natsPasswordVar,
} from "../../compiler/emit/_names.js";
import { natsPermissions, natsServerConf } from "../../compiler/emit/nats.js";
import { buildWiring } from "../../compiler/emit/wiring.js";
import { type Bus, connectNats } from "../../runtime/bus.js";
import { sendRequest } from "../../runtime/messaging.js";
import { CONFORMANCE_CATGA, specs } from "../fixtures/conformance.js";
import { freePort, type ServerProcess, tempDir, waitFor } from "../harness/_process.js";
import { spawnCatga } from "../harness/catga.js";
import { type NatsServer, startNats } from "../harness/nats.js";

/**
 * The emitted pieces together, as a deployment runs them: nats-server with the emitted config (one
 * user per service), `catga run` logging in as its service's user with its own inbox prefix, and an
 * application using the `client` user. Requests flow; an instance logged in as a user without the
 * grants for its subjects never serves them.
 */
const ROOT = new URL("../..", import.meta.url).pathname;
const model = checkSource(CONFORMANCE_CATGA, "conf.catga").value!;
const wiring = buildWiring(model, { sourceName: "conf.catga" });
const s = specs(wiring);

const passwords: Record<string, string> = {
  [NATS_CLUSTER_PASSWORD_VAR]: `r${randomBytes(12).toString("hex")}`,
};
for (const user of Object.keys(natsPermissions(model)))
  passwords[natsPasswordVar(user)] = `p${randomBytes(12).toString("hex")}`;

describe("catga run with the emitted NATS permissions", () => {
  let nats: NatsServer;
  let dir: ReturnType<typeof tempDir>;
  let wiringFile: string;
  const procs: ServerProcess[] = [];
  let bus: Bus;

  function instance(service: string, user: string, healthPort: number): ServerProcess {
    const proc = spawnCatga(["run", "--service", service, "--nats-user", user], {
      CATGA_WIRING: wiringFile,
      CATGA_HANDLERS: join(ROOT, "test/fixtures/conformance-echo.ts"),
      CATGA_NATS_URLS: nats.url,
      CATGA_NATS_PASSWORD: passwords[natsPasswordVar(user)],
      CATGA_HEALTH_PORT: String(healthPort),
    });
    procs.push(proc);
    return proc;
  }

  beforeAll(async () => {
    nats = await startNats({
      config: natsServerConf(model, { sourceName: "conf.catga", routes: [] }),
      env: passwords,
    });
    dir = tempDir("least-privilege");
    wiringFile = join(dir.path, "wiring.json");
    writeFileSync(wiringFile, JSON.stringify(wiring));
    bus = await connectNats({
      servers: [nats.url],
      user: CLIENT_USER,
      password: passwords[natsPasswordVar(CLIENT_USER)],
      inboxPrefix: inboxPrefix("conf", CLIENT_USER),
    });
  }, 30_000);

  afterAll(async () => {
    await bus?.close();
    await Promise.all(procs.map((p) => p.kill()));
    await nats?.stop();
    dir?.remove();
  });

  it("run — an instance logged in as its own service user serves the client user's requests", async () => {
    const port = await freePort();
    const proc = instance("echo", "echo", port);
    await waitFor("echo to be ready", async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 100,
      describe: () => proc.output(),
    });
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => sendRequest(bus, s.Echo, { text: `t${i}`, delayMs: 0 })),
    );
    expect(replies).toEqual(Array.from({ length: 50 }, (_, i) => `t${i}`));
    await proc.kill();
  }, 60_000);

  it("run — an instance logged in as another service's user cannot take the subjects", async () => {
    const port = await freePort();
    // 'first' may subscribe only to Ping: the server refuses its subscriptions to echo's commands.
    const proc = instance("echo", "first", port);
    await waitFor("the impostor to start", async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 100,
      describe: () => proc.output(),
    });
    await new Promise((r) => setTimeout(r, 300));
    const error = await sendRequest(bus, s.Once, { text: "x", delayMs: 0 }, { timeoutMs: 1000 }).catch(
      (e: unknown) => e,
    );
    expect((error as Error).name).toBe("NoRespondersError");
    await waitFor(
      "the permission violation in the log",
      async () => /Permissions Violation|permission/i.test(proc.output()),
      {
        timeoutMs: 5000,
        describe: () => proc.output(),
      },
    );
    await proc.kill();
  }, 60_000);
});
