import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../runtime/bus.js";
import { DEAD_LETTERS_HELP, deadLetters } from "../../runtime/cli/dead-letters.js";
import { DeadLetterNotFoundError, listDeadLetters } from "../../runtime/dead-letters.js";
import { type Host, startHost } from "../../runtime/host.js";
import { publishEvent } from "../../runtime/messaging.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import { durableDefinitions, durableMessages, durableWiring, Outcomes } from "../fixtures/durable.js";
import { freePort, tempDir, waitFor } from "../harness/_process.js";
import { runCatgaCli } from "../harness/catga.js";
import { startJetStream } from "../harness/jetstream.js";
import type { NatsServer } from "../harness/nats.js";

/**
 * `catga dead-letters`: usage errors exit 2 with one clear line; on a real nats-server with
 * JetStream, where a `sink` gave up on poison Ticks, it lists them (text, --json, --service),
 * replays one, several or all of them (each delivered to the sink again, gone from the list), and a
 * sequence that is not there exits 1 with DeadLetterNotFoundError's message.
 */
async function cli(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await deadLetters(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, env);
  return { code, stdout, stderr };
}

describe("catga dead-letters — usage", () => {
  it("dead-letters cli — --help prints the help on stdout, exit 0, through the catga binary too", async () => {
    const direct = await cli(["--help"]);
    expect(direct).toEqual({ code: 0, stdout: DEAD_LETTERS_HELP, stderr: "" });
    const dir = tempDir("dl-help");
    try {
      const r = await runCatgaCli(dir.path, ["dead-letters", "-h"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(DEAD_LETTERS_HELP);
      // The help names every option the command takes, and the exit codes.
      for (const option of ["--service S", "--all", "--json", "--nats URL", "--wiring FILE", "-h, --help"]) {
        expect(DEAD_LETTERS_HELP).toContain(option);
      }
      expect(DEAD_LETTERS_HELP).toContain("Exit 1: NATS unreachable or a dead letter not found");
      const top = await runCatgaCli(dir.path, ["--help"]);
      expect(top.stdout).toMatch(/dead-letters\s+durable events a service gave up on/);
    } finally {
      dir.remove();
    }
  }, 60_000);

  it.each([
    [["purge"], "unknown command 'purge'; run 'catga dead-letters --help'"],
    [["replay"], "give sequence numbers or --all (not both)"],
    [["replay", "3", "--all"], "give sequence numbers or --all (not both)"],
    [["--all"], "--all goes with 'replay'"],
    [["replay", "abc"], "a sequence is a positive integer, as listed"],
    [["replay", "0"], "a sequence is a positive integer, as listed"],
    [["replay", "1.5"], "a sequence is a positive integer, as listed"],
    [["--bogus"], "Unknown option '--bogus'"],
    [["--nats", "nats://127.0.0.1:1", "--wiring", "/nonexistent/wiring.json"], "cannot read the wiring"],
  ])("dead-letters cli — usage error %j: exit 2, one line on stderr", async (argv, message) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(message);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^catga dead-letters/);
  });

  it("dead-letters cli — no topology in the directory and no --nats/--wiring: exit 2, says what to pass", async () => {
    const dir = tempDir("dl-none");
    try {
      const r = await runCatgaCli(dir.path, ["dead-letters"], {
        CATGA_NATS_URLS: "",
        CATGA_WIRING: "",
      });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toBe(
        "catga dead-letters: no topology: run it with 'catga up' here, or pass --nats URL and --wiring FILE\n",
      );
    } finally {
      dir.remove();
    }
  }, 60_000);
});

describe("catga dead-letters on a nats-server with JetStream", () => {
  const wiring = durableWiring(1);
  const m = durableMessages(wiring);
  const o = new Outcomes();
  let nats: NatsServer;
  let dir: ReturnType<typeof tempDir>;
  let wiringFile: string;
  let sink: Host;
  let client: Bus;
  const target = () => ["--nats", nats.url, "--wiring", wiringFile];
  const sinkEffects = (n: number) => o.effects.get("sink")?.get(n) ?? 0;
  const letters = () => listDeadLetters(client.transport.streams(), wiring);

  beforeAll(async () => {
    nats = await startJetStream();
    dir = tempDir("dl-cli");
    wiringFile = join(dir.path, "wiring.json");
    writeFileSync(wiringFile, JSON.stringify(wiring));
    sink = await startHost({
      wiring,
      service: "sink",
      definition: durableDefinitions(wiring, o).sink!,
      transport: await natsTransport({ servers: [nats.url], name: "sink-0" }),
      instanceId: "sink-0",
      durableRedelivery: { baseMs: 20, maxMs: 50 },
    });
    client = createBus(await natsTransport({ servers: [nats.url], name: "client" }));
    for (const n of [1, 2, 3, 4]) {
      await publishEvent(client, m.Tick, { n, failTimes: -1 }, { messageId: `poison-${n}` });
    }
    await waitFor("4 dead letters", async () => (await letters()).length === 4, { timeoutMs: 30_000 });
  }, 90_000);

  afterAll(async () => {
    await sink?.stop({ graceMs: 100 });
    await client?.close();
    await nats?.stop();
    dir?.remove();
  });

  it("dead-letters cli — lists the dead letters as a table, oldest first, with deliveries and the reason", async () => {
    const r = await cli(target());
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^SEQ\s+SERVICE\s+EVENT\s+MESSAGE ID\s+DELIVERIES\s+DEAD SINCE\s+REASON$/);
    expect(lines).toHaveLength(5);
    const max = wiring.messages.Tick!.durable!.maxDeliver;
    const rows = lines.slice(1).map((line) => {
      // The sink dead-lettered them in the order their last delivery failed, not in publish order.
      const match = line.match(
        new RegExp(
          `^(\\d+)\\s+sink\\s+Tick\\s+poison-(\\d)\\s+${max}\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+.*tick (\\d) fails on delivery ${max}$`,
        ),
      );
      expect(match, line).not.toBeNull();
      expect(match![3]).toBe(match![2]);
      return { seq: Number(match![1]), n: Number(match![2]) };
    });
    expect(rows.map((r) => r.n).sort()).toEqual([1, 2, 3, 4]);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((r) => r.seq).sort((a, b) => a - b));
  });

  it("dead-letters cli — --json and --service: the listed objects; another service has none", async () => {
    const json = await cli([...target(), "--json", "--service", "sink"]);
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout);
    expect(listed).toEqual(await letters());
    expect(listed.map((l: { messageId: string }) => l.messageId).sort()).toEqual([
      "poison-1",
      "poison-2",
      "poison-3",
      "poison-4",
    ]);
    const one = listed.find((l: { messageId: string }) => l.messageId === "poison-1");
    expect(one).toMatchObject({
      service: "sink",
      consumer: "sink",
      event: "Tick",
      subject: wiring.messages.Tick!.subject,
      stream: wiring.messages.Tick!.durable!.stream,
      payload: JSON.stringify({ n: 1, failTimes: -1 }),
    });
    const other = await cli([...target(), "--json", "--service", "watcher"]);
    expect(JSON.parse(other.stdout)).toEqual([]);
    const text = await cli([...target(), "--service", "watcher"]);
    expect(text.stdout).toBe("no dead letters\n");
    // The environment names the target as well as the flags do.
    const viaEnv = await cli(["--json"], { CATGA_NATS_URLS: nats.url, CATGA_WIRING: wiringFile });
    expect(JSON.parse(viaEnv.stdout)).toEqual(listed);
  });

  it("dead-letters cli — replay SEQ: exit 0, delivered to the sink again, gone from the list", async () => {
    o.healed = true; // the bug behind the poison Ticks is fixed
    const [first, ...rest] = await letters();
    const n = Number(first!.messageId.slice("poison-".length));
    const r = await cli([...target(), "replay", String(first!.seq)]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`replayed ${first!.seq}: Tick for sink (${first!.messageId})\n`);
    await waitFor(`${first!.messageId} handled`, async () => sinkEffects(n) === 1);
    expect(await letters()).toEqual(rest);
  });

  it("dead-letters cli — a missing sequence: exit 1 with DeadLetterNotFoundError's message; those before it are replayed and reported", async () => {
    const [second, ...rest] = await letters();
    const n = Number(second!.messageId.slice("poison-".length));
    const missing = await cli([...target(), "replay", "999999"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toBe(`catga dead-letters: ${new DeadLetterNotFoundError(999999).message}\n`);

    const partial = await cli([...target(), "replay", String(second!.seq), "999999"]);
    expect(partial.code).toBe(1);
    expect(partial.stdout).toBe(`replayed ${second!.seq}: Tick for sink (${second!.messageId})\n`);
    expect(partial.stderr).toBe(`catga dead-letters: ${new DeadLetterNotFoundError(999999).message}\n`);
    await waitFor(`${second!.messageId} handled`, async () => sinkEffects(n) === 1);
    expect(await letters()).toEqual(rest);
    // Replayed already: the same sequence is not there any more.
    const again = await cli([...target(), "replay", String(second!.seq)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(new DeadLetterNotFoundError(second!.seq).message);
  });

  it("dead-letters cli — replay --all: every dead letter replayed (JSON), delivered, the list empty", async () => {
    const before = await letters();
    expect(before).toHaveLength(2);
    const r = await cli([...target(), "replay", "--all", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(before);
    await waitFor("every poison Tick handled", async () => [1, 2, 3, 4].every((n) => sinkEffects(n) === 1));
    expect(await letters()).toEqual([]);
    const list = await cli(target());
    expect(list.stdout).toBe("no dead letters\n");
    const none = await cli([...target(), "replay", "--all"]);
    expect(none).toEqual({ code: 0, stdout: "no dead letter to replay\n", stderr: "" });
    // Each was delivered again exactly once more, as a first delivery of the replayed message.
    for (const n of [1, 2, 3, 4]) expect(o.effects.get("sink")?.get(n)).toBe(1);
  });

  it("dead-letters cli — NATS unreachable: exit 1 after its 5 s connect timeout, says so", async () => {
    const started = Date.now();
    const r = await cli(["--nats", `nats://127.0.0.1:${await freePort()}`, "--wiring", wiringFile]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^catga dead-letters: cannot reach NATS: /);
  }, 20_000);
});
