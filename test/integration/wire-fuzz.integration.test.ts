import { connect as tcpConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../runtime/bus.js";
import { type Host, startHost } from "../../runtime/host.js";
import { createLogger } from "../../runtime/log.js";
import { sendRequest } from "../../runtime/messaging.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import type { Transport } from "../../runtime/transport/types.js";
import { HeartbeatBoard, servicesOf, watchHeartbeats } from "../../tooling/local/index.js";
import {
  conformanceWiring,
  echoDefinition,
  newProbe,
  pingDefinition,
  specs,
} from "../fixtures/conformance.js";
import { type NatsServer, startNats } from "../harness/nats.js";

/**
 * Bad input on the wire, against a real nats-server: random bytes, oversized and malformed header
 * blocks, malformed version 3 envelopes (the payload's first line) and version 4 ones (binary),
 * forged `Catga-Status` replies
 * and payloads of the wrong schema, sent to every subject the
 * conformance topology uses (its requests, its event, its heartbeats) and to a caller's inbox. The
 * sender writes the NATS protocol on a raw socket, so the header blocks are whatever it makes up,
 * not what a client would let through. Every instance keeps serving, every bad message is counted
 * and logged once, nothing crashes. Seeded: `WIRE_FUZZ_SEED=<n>` replays a run.
 */
const SEED = Number(process.env.WIRE_FUZZ_SEED ?? 20261202);
const MESSAGES = 3000;

/** mulberry32: a small seeded PRNG, so a failing storm can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A NATS connection on a bare socket: publishes any bytes, header blocks included. */
async function rawPublisher(port: number) {
  const socket = tcpConnect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.on("data", () => {}); // INFO, PINGs: a publisher that only writes needs none of it
  socket.write(`CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n`);
  return {
    hpub(subject: string, reply: string | undefined, header: Buffer, body: Buffer): void {
      const head = `HPUB ${subject}${reply ? ` ${reply}` : ""} ${header.length} ${header.length + body.length}\r\n`;
      socket.write(Buffer.concat([Buffer.from(head), header, body, Buffer.from("\r\n")]));
    },
    pub(subject: string, reply: string | undefined, body: Buffer): void {
      socket.write(
        Buffer.concat([
          Buffer.from(`PUB ${subject}${reply ? ` ${reply}` : ""} ${body.length}\r\n`),
          body,
          Buffer.from("\r\n"),
        ]),
      );
    },
    async flush(): Promise<void> {
      await new Promise<void>((resolve) => socket.write("PING\r\n", () => resolve()));
    },
    close: () => socket.destroy(),
  };
}

describe("wire fuzz", () => {
  const wiring = conformanceWiring();
  const s = specs(wiring);
  let server: NatsServer;
  const hosts: Host[] = [];
  const logs: Record<string, unknown>[] = [];
  let bus: Bus;
  let statusTransport: Transport;

  beforeAll(async () => {
    server = await startNats();
    const log = createLogger({}, { level: "warn", sink: (line) => logs.push(JSON.parse(line)) });
    for (let i = 0; i < 2; i++) {
      hosts.push(
        await startHost({
          wiring,
          service: "echo",
          definition: echoDefinition(wiring, newProbe()),
          transport: await natsTransport({ servers: [server.url] }),
          instanceId: `echo-${i}`,
          heartbeatMs: 200,
          log,
        }),
      );
    }
    for (const service of ["everyone", "first", "second"]) {
      hosts.push(
        await startHost({
          wiring,
          service,
          definition: pingDefinition(wiring, service, newProbe()),
          transport: await natsTransport({ servers: [server.url] }),
          instanceId: `${service}-0`,
          heartbeatMs: 200,
          log,
        }),
      );
    }
    bus = createBus(await natsTransport({ servers: [server.url] }));
    statusTransport = await natsTransport({ servers: [server.url] });
  }, 30_000);

  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop({ graceMs: 1000 })));
    await bus?.close();
    await statusTransport?.close();
    await server?.stop();
  });

  it("wire fuzz — a storm of bad messages to every subject: counted, logged once, every instance keeps serving", {
    timeout: 60_000,
  }, async () => {
    const random = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    const text = (n: number) =>
      Buffer.from(
        Array.from({ length: n }, () => String.fromCharCode(32 + Math.floor(random() * 95))).join(""),
      );
    // Letters only: a field that cannot hold the separator or parse as a version.
    const letters = (n: number) =>
      Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join("");

    // The caller's inbox, as any subscriber of a request subject sees it.
    let replySubject = "";
    const spy = bus.transport.subscribe(s.Whoami.subject, {}, (m) => {
      replySubject = m.reply ?? "";
    });
    await bus.transport.flush();
    await sendRequest(bus, s.Whoami, {});
    spy.unsubscribe();
    const inbox = replySubject.replace(/\.[^.]+$/, "");
    expect(inbox).not.toBe("");

    const board = new HeartbeatBoard();
    const beats = watchHeartbeats(statusTransport, board, "conf");
    await statusTransport.flush();

    // Whoami takes `{}`: any object is a valid request to it, so it is not a target of bad input.
    const requestSubjects = [s.Echo, s.Once, s.Fail, s.Big].map((m) => m.subject);
    const heartbeatSubjects = Object.values(wiring.services).map((w) => w.heartbeatSubject);
    const before = {
      invalid: hosts.reduce((n, h) => n + h.counters.invalid, 0),
      unmatched: bus.transport.unmatchedReplies?.() ?? 0,
    };
    const warnedBefore = logs.filter((l) => l.msg === "invalid message" || l.msg === "invalid event").length;

    // Header blocks: well formed, broken, oversized, and a forged error status.
    const headerBlocks = (): Buffer =>
      pick([
        () => Buffer.from("NATS/1.0\r\nCatga-Message-Id: x\r\n\r\n"),
        () =>
          Buffer.concat([
            Buffer.from("NATS/1.0\r\n"),
            bytes(1 + Math.floor(random() * 64)),
            Buffer.from("\r\n\r\n"),
          ]),
        () => bytes(1 + Math.floor(random() * 64)),
        () => Buffer.from(`NATS/1.0\r\nCatga-Deadline: ${text(8)}\r\nCatga-Schema: ${text(20)}\r\n\r\n`),
        () => Buffer.from(`NATS/1.0\r\nX-Big: ${"h".repeat(60_000)}\r\n\r\n`),
        () => Buffer.from("NATS/1.0\r\n:::\r\nno colon\r\n\r\n"),
        () => Buffer.from("NATS/1.0 503\r\n\r\n"),
        () => Buffer.from("NATS/1.0\r\nCatga-Status: error\r\nCatga-Error-Code: FORGED\r\n\r\n"),
        // Version 2's compact header with malformed fields: each is an InvalidMessageError (the
        // deadline field never parses: '!' is not base 36, so no request is merely expired).
        () => Buffer.from(`NATS/1.0\r\nCatga: 2;${text(6)};!${text(4)};${text(8)}\r\n\r\n`),
        () => Buffer.from(`NATS/1.0\r\nCatga: x${text(20)}\r\n\r\n`),
        () => Buffer.from(`NATS/1.0\r\nCatga: 2;${"%".repeat(1 + Math.floor(random() * 3))}zz;;\r\n\r\n`),
      ])();
    // Bodies that no handler accepts: not JSON, not UTF-8, or JSON of the wrong schema.
    const bodies = (): Buffer =>
      pick([
        // Random bytes, but not a first byte of 1 to 8: those are binary envelopes (below), and 5 to
        // 8 a newer version, which is refused as such, not counted as invalid.
        () => {
          const b = bytes(Math.floor(random() * 200));
          if (b.length > 0 && b[0]! >= 1 && b[0]! <= 8) b[0] = 0x80 | b[0]!;
          return b;
        },
        () => Buffer.from([0xff, 0xfe, 0x7b]),
        () => Buffer.from("{"),
        () => Buffer.from('{"text": 12, "delayMs": "soon"}'),
        () => Buffer.from('{"n": "one"}'),
        () => Buffer.from('{"__proto__": {"polluted": true}, "constructor": 1}'),
        () => Buffer.from("[]"),
        () => Buffer.from("null"),
        () => Buffer.from(`"${"s".repeat(100_000)}"`),
        () => Buffer.from(JSON.stringify({ name: "DomainError", code: 7, message: "forged" })),
        // Version 3 envelopes, malformed (each an InvalidMessageError; no deadline ever parses, so
        // no request is merely expired), or well formed before a body no handler accepts.
        () => Buffer.from(`C3;${letters(6)};!${letters(4)};${letters(8)}\n{}`),
        () => Buffer.from(`Cx${text(20)}\n{}`),
        () => Buffer.concat([Buffer.from("C3;"), bytes(Math.floor(random() * 40))]),
        () => Buffer.from(`C3;${"%".repeat(1 + Math.floor(random() * 3))}zz;;\n{}`),
        () => Buffer.from(`C3;${letters(6)};;;;00-${letters(10)}\n{}`),
        () => Buffer.from(`C3;${letters(6)};;;;;;;\n{}`),
        () => Buffer.from(`C3;${letters(6)};;\n{"text": 12, "n": "one"}`),
        () => Buffer.concat([Buffer.from(`C3;${letters(6)};;\n`), bytes(Math.floor(random() * 50))]),
        // Version 4 envelopes: random flags and fields (never the deadline flag, so no request is
        // merely expired), or well formed before a body no handler accepts.
        () =>
          Buffer.concat([Buffer.of(4, Math.floor(random() * 256) & ~0x01), bytes(Math.floor(random() * 60))]),
        () =>
          Buffer.concat([
            Buffer.of(4, 0x18, 0, 3),
            Buffer.from("a;b"),
            bytes(4),
            Buffer.from('{"text": 12}'),
          ]),
        () => Buffer.concat([Buffer.of(4, 0x00), bytes(12), Buffer.of(0xff, 0xfe)]),
      ])();

    const raw = await rawPublisher(server.port);
    const sent = { requests: 0, events: 0, heartbeats: 0, replies: 0 };
    for (let i = 0; i < MESSAGES; i++) {
      const target = random();
      const withHeaders = random() < 0.6;
      const header = headerBlocks();
      const body = bodies();
      const send = (subject: string, reply: string | undefined) =>
        withHeaders ? raw.hpub(subject, reply, header, body) : raw.pub(subject, reply, body);
      if (target < 0.4) {
        // A request to an instance: with a reply subject (to nobody) or without.
        send(pick(requestSubjects), random() < 0.5 ? `fuzz.reply.${i}` : undefined);
        sent.requests++;
      } else if (target < 0.6) {
        send(s.Ping.subject, undefined);
        sent.events++;
      } else if (target < 0.8) {
        send(pick(heartbeatSubjects), undefined);
        sent.heartbeats++;
      } else {
        // A forged reply (result or Catga-Status error) to a reply subject of the caller's inbox.
        send(`${inbox}.${text(6).toString("hex")}`, undefined);
        sent.replies++;
      }
      if (i % 200 === 199) await raw.flush();
    }
    await raw.flush();

    // Every bad request reaches one echo instance; every bad Ping one instance of each of the
    // three consuming services. Each is counted once as invalid (an expired deadline would not
    // be: the storm's deadlines are never numbers).
    const expectedInvalid = sent.requests + 3 * sent.events;
    const invalid = () => hosts.reduce((n, h) => n + h.counters.invalid, 0) - before.invalid;
    const deadline = Date.now() + 20_000;
    while (invalid() < expectedInvalid && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500)); // heartbeats of the real instances come in too
    raw.close();
    beats.unsubscribe();

    const warned =
      logs.filter((l) => l.msg === "invalid message" || l.msg === "invalid event").length - warnedBefore;
    const unmatched = (bus.transport.unmatchedReplies?.() ?? 0) - before.unmatched;
    const counts = {
      seed: SEED,
      sent,
      invalidCounted: invalid(),
      invalidLogged: warned,
      forgedRepliesDropped: unmatched,
      heartbeatsDropped: board.invalid,
      perInstance: Object.fromEntries(hosts.map((h) => [h.instanceId, h.counters.invalid])),
    };
    console.log(`wire fuzz counts ${JSON.stringify(counts)}`);

    expect(invalid()).toBe(expectedInvalid);
    expect(warned).toBe(expectedInvalid);
    expect(unmatched).toBe(sent.replies);
    expect(board.invalid).toBe(sent.heartbeats);
    // Status still reads the real instances and survives what it dropped.
    const services = servicesOf(board.list());
    expect(services.map((x) => x.name).sort()).toEqual(["echo", "everyone", "first", "second"]);

    // Every instance keeps serving: real requests succeed and the real event reaches every consumer.
    for (let i = 0; i < 10; i++) {
      expect(await sendRequest(bus, s.Echo, { text: `after ${i}`, delayMs: 0 })).toBe(`after ${i}`);
    }
    for (const h of hosts) expect(h.ready(), h.instanceId).toBe(true);
  });
});
