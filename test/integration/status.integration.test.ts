import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBus } from "../../runtime/bus.js";
import { type Host, startHost } from "../../runtime/host.js";
import { sendRequest } from "../../runtime/messaging.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import { collectStatus, formatStatus } from "../../tooling/local/status.js";
import { conformanceWiring, echoDefinition, newProbe, specs } from "../fixtures/conformance.js";
import { type NatsServer, startNats } from "../harness/nats.js";

/**
 * `catga status` on a real NATS: what the heartbeats say about load reaches the report, failures
 * included (they were sent but never shown), with a rate per instance and per service.
 */
const wiring = conformanceWiring();
const s = specs(wiring);

describe("status", () => {
  let nats: NatsServer;
  let host: Host;
  beforeAll(async () => {
    nats = await startNats();
    host = await startHost({
      wiring,
      service: "echo",
      definition: echoDefinition(wiring, newProbe()),
      transport: await natsTransport({ servers: [nats.url], name: "status-echo" }),
      instanceId: "echo-0",
      heartbeatMs: 400,
    });
  }, 30_000);
  afterAll(async () => {
    await host?.stop();
    await nats?.stop();
  });

  it("status — handled, failed and rate per instance and per service, from the heartbeats", async () => {
    const bus = createBus(await natsTransport({ servers: [nats.url], name: "status-client" }));
    try {
      for (let i = 0; i < 3; i++) await sendRequest(bus, s.Echo, { text: `t${i}`, delayMs: 0 });
      for (let i = 0; i < 2; i++) await sendRequest(bus, s.Fail, { code: "NO" }).catch(() => undefined);
      // Load while status listens, so the rate between two heartbeats is above zero.
      let stop = false;
      const load = (async () => {
        while (!stop) await sendRequest(bus, s.Echo, { text: "x", delayMs: 0 });
      })();
      const report = await collectStatus({ natsUrls: [nats.url], listenMs: 1000, rateMs: 2000 });
      stop = true;
      await load;
      const echo = report.services.find((x) => x.name === "echo");
      expect(echo).toBeDefined();
      const [instance] = echo!.instances;
      expect(instance).toMatchObject({ id: "echo-0", failed: 2, invalid: 0 });
      expect(instance!.handled).toBeGreaterThanOrEqual(3);
      expect(instance!.rate).toBeGreaterThan(0);
      expect(echo).toMatchObject({ handled: instance!.handled, failed: 2, invalid: 0, rate: instance!.rate });
      const text = formatStatus(report);
      expect(text).toMatch(/^echo {2}p2p, 1\/1 heard; handled \d+, failed 2, \d+\.\d\/s$/m);
      expect(text).toMatch(/echo-0 .* failed\s+2\s+\d+\.\d\/s/);
    } finally {
      await bus.close();
    }
  }, 60_000);
});
