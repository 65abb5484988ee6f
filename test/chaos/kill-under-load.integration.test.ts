import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../runtime/bus.js";
import { CatgaError, TimeoutError } from "../../runtime/errors.js";
import { sendRequest } from "../../runtime/messaging.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import { conformanceWiring, specs } from "../fixtures/conformance.js";
import { freePort, type ServerProcess, tempDir, waitFor } from "../harness/_process.js";
import { spawnCatga } from "../harness/catga.js";
import { type NatsServer, startNats } from "../harness/nats.js";

/**
 * Real instances (`catga run`, one process each) behind one queue group; one of them is killed with
 * SIGKILL while requests flow. Nothing may hang: every request ends with a reply or a typed error
 * within its deadline, and idempotent requests (retried on another instance) all succeed.
 */
const wiring = conformanceWiring();
const s = specs(wiring);
const ROOT = new URL("../..", import.meta.url).pathname;

describe("chaos — SIGKILL of one of 5 instances under load", () => {
  let nats: NatsServer;
  let dir: ReturnType<typeof tempDir>;
  const instances: { proc: ServerProcess; healthPort: number }[] = [];
  let bus: Bus;

  beforeAll(async () => {
    nats = await startNats();
    dir = tempDir("chaos");
    const wiringFile = join(dir.path, "wiring.json");
    writeFileSync(wiringFile, JSON.stringify(wiring));
    for (let i = 0; i < 5; i++) {
      const healthPort = await freePort();
      const proc = spawnCatga(["run", "--service", "echo"], {
        CATGA_WIRING: wiringFile,
        CATGA_HANDLERS: join(ROOT, "test/fixtures/conformance-echo.ts"),
        CATGA_NATS_URLS: nats.url,
        CATGA_INSTANCE_ID: `echo-${i}`,
        CATGA_HEALTH_PORT: String(healthPort),
      });
      instances.push({ proc, healthPort });
    }
    for (const { proc, healthPort } of instances) {
      await waitFor(
        `instance on ${healthPort} to be ready`,
        async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok,
        { timeoutMs: 30_000, intervalMs: 100, describe: () => proc.output() },
      );
    }
    bus = createBus(await natsTransport({ servers: [nats.url] }));
  }, 60_000);

  afterAll(async () => {
    await bus?.close();
    await Promise.all(instances.map((i) => i.proc.kill()));
    await nats?.stop();
    dir?.remove();
  });

  async function load(spec: typeof s.Echo, count: number, killAfter: number | undefined) {
    const outcomes: { ok: boolean; error?: unknown; ms: number }[] = [];
    let next = 0;
    const timeoutMs = 1500;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        if (i === killAfter) {
          const victim = instances.find((x) => !x.proc.exited);
          victim?.proc.signal("SIGKILL");
        }
        const started = performance.now();
        try {
          await sendRequest(bus, spec, { text: `r${i}`, delayMs: 5 }, { timeoutMs });
          outcomes.push({ ok: true, ms: performance.now() - started });
        } catch (error) {
          outcomes.push({ ok: false, error, ms: performance.now() - started });
        }
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    return { outcomes, timeoutMs };
  }

  it("chaos — non-idempotent requests end with a reply or a typed error within the deadline", async () => {
    const { outcomes, timeoutMs } = await load(s.Once, 3000, 1000);
    expect(outcomes).toHaveLength(3000);
    const failures = outcomes.filter((o) => !o.ok);
    for (const f of failures) expect(f.error).toBeInstanceOf(CatgaError);
    // A deadline is a promise: nobody waits much longer than it (event-loop slack allowed).
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(timeoutMs + 500);
    const timeouts = failures.filter((f) => f.error instanceof TimeoutError).length;
    console.log(
      `once: ${outcomes.length - failures.length} ok, ${failures.length} typed errors (${timeouts} timeouts)`,
    );
    // Requests that were in flight on the killed instance can only time out; everything else succeeds.
    expect(failures.length).toBeLessThan(200);
  }, 60_000);

  it("chaos — idempotent requests all succeed when another instance is killed", async () => {
    const { outcomes } = await load(s.Echo, 3000, 1000);
    const failures = outcomes.filter((o) => !o.ok);
    console.log(
      `echo: ${outcomes.length - failures.length} ok, ${failures.length} failed, retries ${bus.stats.retries}`,
    );
    expect(failures.map((f) => String(f.error))).toEqual([]);
    // Only the two instances this file killed are gone; if another died, its output says why.
    const gone = instances.filter((i) => i.proc.exited);
    expect(
      gone,
      gone.map((i) => `--- instance on ${i.healthPort}:\n${i.proc.output()}`).join("\n"),
    ).toHaveLength(2);
  }, 60_000);

  it("chaos — SIGTERM drains: the instance exits 0 and no request fails", async () => {
    const alive = instances.filter((i) => !i.proc.exited);
    const victim = alive[0]!;
    const pending = load(s.Once, 1000, undefined);
    await new Promise((r) => setTimeout(r, 100));
    victim.proc.signal("SIGTERM");
    const { outcomes } = await pending;
    await waitFor("the drained instance to exit", async () => victim.proc.exited, { timeoutMs: 15_000 });
    expect(outcomes.filter((o) => !o.ok).map((o) => String(o.error))).toEqual([]);
    expect(victim.proc.output()).toContain('"msg":"stopped"');
  }, 60_000);
});
