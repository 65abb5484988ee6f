import { connect as tcpConnect } from "node:net";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Bus, createBus } from "../../runtime/bus.js";
import { type Host, startHost } from "../../runtime/host.js";
import { createLogger } from "../../runtime/log.js";
import { eventSpec, requestSpec, sendRequest } from "../../runtime/messaging.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import {
  conformanceWiring,
  echoDefinition,
  newProbe,
  pingDefinition,
  specs,
} from "../fixtures/conformance.js";
import { type NatsServer, startNats } from "../harness/nats.js";

/**
 * The wire as it travels (docs/runtime.md, "The wire"): the exact bytes of a request and an event,
 * pinned in version 4 (the binary envelope, the default) and version 3 (the text line, with
 * `wireVersion: 3`), no header block in either; a plain NATS client
 * (the raw `@nats-io/transport-node` client, no Catga code) calling a Catga service with and
 * without the envelope built by hand as docs/runtime.md shows; and events with a malformed envelope
 * or header or of a newer version, refused while the instance keeps serving.
 */

/** A raw protocol subscriber: every frame nats-server delivers on `subject`, as bytes. */
async function rawSubscriber(port: number, subject: string) {
  const socket = tcpConnect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let buffer = Buffer.alloc(0);
  const frames: Buffer[] = [];
  let pong: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const eol = buffer.indexOf("\r\n");
      if (eol < 0) return;
      const line = buffer.subarray(0, eol).toString();
      if (line.startsWith("HMSG ") || line.startsWith("MSG ")) {
        const total = Number(line.split(" ").at(-1));
        if (buffer.length < eol + 2 + total + 2) return;
        frames.push(buffer.subarray(0, eol + 2 + total + 2));
        buffer = buffer.subarray(eol + 2 + total + 2);
        continue;
      }
      if (line === "PONG") pong?.();
      if (line === "PING") socket.write("PONG\r\n");
      buffer = buffer.subarray(eol + 2);
    }
  });
  socket.write(`CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\nSUB ${subject} 1\r\n`);
  const ping = () =>
    new Promise<void>((resolve) => {
      pong = resolve;
      socket.write("PING\r\n");
    });
  await ping();
  return {
    frames,
    /** Resolves once the server has delivered everything published before it was called. */
    async next(): Promise<string> {
      for (let i = 0; i < 100 && frames.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      const frame = frames.shift();
      if (frame === undefined) throw new Error("no frame delivered");
      return frame.toString("latin1");
    },
    close: () => socket.destroy(),
  };
}

describe("wire format (version 4)", () => {
  let server: NatsServer;
  let bus: Bus;
  let nc: NatsConnection;
  const hosts: Host[] = [];
  const warnings: Record<string, unknown>[] = [];
  const wiring = conformanceWiring();
  const s = specs(wiring);

  /** A bus writing version 3, the text line (`wireVersion: 3`, during a rollout from a build that reads no version 4). */
  let bus3: Bus;

  beforeAll(async () => {
    server = await startNats();
    bus = createBus(await natsTransport({ servers: [server.url] }));
    bus3 = createBus(await natsTransport({ servers: [server.url] }), { wireVersion: 3 });
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    for (const h of hosts) await h.stop({ graceMs: 500 });
    await bus.close();
    await bus3.close();
    await nc.close();
    await server.stop();
  });

  const echoSpec = requestSpec({
    name: "Echo",
    kind: "command",
    subject: "golden.echo",
    schemaId: "Echo@621f076764e32737",
    idempotent: false,
    timeoutMs: 5000,
    request: z.object({ text: z.string(), n: z.number() }),
    result: z.unknown(),
  });
  const tickSpec = eventSpec({
    name: "Tick",
    kind: "event",
    subject: "golden.tick",
    schemaId: "Tick@6a1a7c42c8a1250e",
    payload: z.object({ text: z.string(), n: z.number() }),
  });

  it("wire format — a request and an event, byte for byte (version 4, the binary envelope)", async () => {
    const sub = await rawSubscriber(server.port, "golden.>");
    const deadline = Date.UTC(2100, 0, 1);
    void bus
      .request(
        echoSpec,
        { text: "hello", n: 42 },
        { messageId: "AAECAwQFBgcICQoL", correlationId: "c-1", timeoutMs: 1e13, deadline },
      )
      .catch(() => {});
    const bytes = (hex: string, text: string) => Buffer.from(hex, "hex").toString("latin1") + text;
    const json = '{"text":"hello","n":42}';
    const request = await sub.next();
    // 04, flags 0x13 (schema, deadline, correlation id), the 12 id bytes, the schema hash, the
    // deadline in 6 bytes, the correlation id with its length, the JSON: 29 + 23 bytes.
    expect(request.replace(/ _INBOX\.[A-Za-z0-9]+\.[0-9a-z]+-[0-9a-z]+[A-Za-z0-9_-]{8} /, " <reply> ")).toBe(
      `MSG golden.echo 1 <reply> 52\r\n${bytes("0413000102030405060708090a0b621f076703bb2cc3d8000003632d31", json)}\r\n`,
    );
    expect(deadline.toString(16)).toBe("3bb2cc3d800");
    // An event that starts its chain: 04, flags 0x10 (schema), the id, the hash: 18 + 23 bytes.
    await bus.publish(tickSpec, { text: "hello", n: 42 }, { messageId: "AAECAwQFBgcICQoL" });
    expect(await sub.next()).toBe(
      `MSG golden.tick 1 41\r\n${bytes("0410000102030405060708090a0b6a1a7c42", json)}\r\n`,
    );
    // With a trace to continue (flag 0x04): the trace id, a new span id, the flags, in 25 bytes.
    await bus.publish(
      tickSpec,
      { text: "hello", n: 42 },
      {
        messageId: "AAECAwQFBgcICQoL",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      },
    );
    const traced = Buffer.from(await sub.next(), "latin1");
    expect(traced.subarray(0, 22).toString("latin1")).toBe("MSG golden.tick 1 66\r\n");
    const envelope = traced.subarray(22, 22 + 43).toString("hex");
    expect(envelope.slice(0, 36)).toBe("0414000102030405060708090a0b6a1a7c42");
    expect(envelope.slice(36, 68)).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(envelope.slice(68, 84)).not.toBe("b7ad6b7169203331");
    expect(envelope.slice(84)).toBe("01");
    expect(traced.subarray(22 + 43).toString("latin1")).toBe(`${json}\r\n`);
    sub.close();
  });

  it("wire format — version 5 (the default): a request with a drawn id asks for an echo, the reply starts with 05 and its 12 id bytes, and the reply subject serves the next request", async () => {
    // Stopped at the end: the next test's probe expects its own echo instance to take every request.
    const host = await startHost({
      wiring,
      service: "echo",
      definition: echoDefinition(wiring, newProbe()),
      transport: await natsTransport({ servers: [server.url] }),
      instanceId: "echo-5",
    });
    const subject = wiring.messages.Echo!.subject;
    const requests = await rawSubscriber(server.port, subject);
    const replies = await rawSubscriber(server.port, "_INBOX.>");
    const input = { text: "hello", delayMs: 0 };
    const before = Date.now();
    expect(await sendRequest(bus, s.Echo, input)).toBe("hello");
    const frame = Buffer.from(await requests.next(), "latin1");
    // The reply subject is the caller's inbox and the request's slot alone (no unique rest).
    const head = /^MSG (\S+) 1 (_INBOX\.[A-Za-z0-9]+\.[0-9a-z]+) (\d+)\r\n/.exec(frame.toString("latin1"));
    expect(head?.[1]).toBe(subject);
    const inbox = head![2]!;
    const payload = frame.subarray(head![0].length, frame.length - 2);
    expect(payload.length).toBe(Number(head![3]));
    // 05, flags 0x11 (schema, deadline), the 12 id bytes, the schema hash, the deadline, the JSON: 24 bytes of envelope.
    expect(payload.subarray(0, 2).toString("hex")).toBe("0511");
    const id = payload.subarray(2, 14);
    expect(payload.subarray(14, 18).toString("hex")).toBe(s.Echo.schemaId.split("@")[1]!.slice(0, 8));
    const deadline = payload.readUIntBE(18, 6);
    expect(deadline).toBeGreaterThanOrEqual(before + s.Echo.timeoutMs);
    expect(deadline).toBeLessThanOrEqual(Date.now() + s.Echo.timeoutMs);
    expect(payload.subarray(24).toString("utf8")).toBe(JSON.stringify(input));
    // The reply: 05, the request's 12 id bytes, then the JSON result; no header block.
    expect(await replies.next()).toBe(`MSG ${inbox} 1 ${13 + 7}\r\n\x05${id.toString("latin1")}"hello"\r\n`);
    // The next request has the same reply subject, and another id.
    expect(await sendRequest(bus, s.Echo, { text: "again", delayMs: 0 })).toBe("again");
    const next = Buffer.from(await requests.next(), "latin1");
    expect(next.toString("latin1").startsWith(`MSG ${subject} 1 ${inbox} `)).toBe(true);
    expect(next.subarray(head![0].length + 2, head![0].length + 14).equals(id)).toBe(false);
    expect(await replies.next()).toMatch(new RegExp(`^MSG ${inbox.replace(/\./g, "\\.")} 1 20\r\n\x05`));
    requests.close();
    replies.close();
    await host.stop({ graceMs: 500 });
  });

  it("wire format — a request and an event, byte for byte (version 3, the text line, with wireVersion: 3)", async () => {
    const bus = bus3;
    const sub = await rawSubscriber(server.port, "golden.>");
    // A fixed id, correlation id and deadline (2100-01-01T00:00:00Z: the caller's own timeout is
    // longer, so this absolute deadline is the one sent).
    const deadline = Date.UTC(2100, 0, 1);
    void bus
      .request(
        echoSpec,
        { text: "hello", n: 42 },
        { messageId: "AAECAwQFBgcICQoL", correlationId: "c-1", timeoutMs: 1e13, deadline },
      )
      .catch(() => {});
    const request = await sub.next();
    // The reply subject is the caller's inbox and a fresh token: everything else is fixed.
    expect(request.replace(/ _INBOX\.[A-Za-z0-9]+\.[0-9a-z]+-[0-9a-z]+[A-Za-z0-9_-]{8} /, " <reply> ")).toBe(
      "MSG golden.echo 1 <reply> 66\r\n" +
        "C3;AAECAwQFBgcICQoL;1gcmxpmo0;621f0767;c-1\n" +
        '{"text":"hello","n":42}\r\n',
    );
    expect(deadline.toString(36)).toBe("1gcmxpmo0");
    await bus.publish(tickSpec, { text: "hello", n: 42 }, { messageId: "AAECAwQFBgcICQoL" });
    expect(await sub.next()).toBe(
      "MSG golden.tick 1 53\r\n" + "C3;AAECAwQFBgcICQoL;;6a1a7c42\n" + '{"text":"hello","n":42}\r\n',
    );
    // With a trace to continue, the correlation field (empty) and a child span follow (the span id
    // is new, so it is matched).
    await bus.publish(
      tickSpec,
      { text: "hello", n: 42 },
      {
        messageId: "AAECAwQFBgcICQoL",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      },
    );
    expect(await sub.next()).toMatch(
      /^MSG golden\.tick 1 110\r\nC3;AAECAwQFBgcICQoL;;6a1a7c42;;00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01\n\{"text":"hello","n":42\}\r\n$/,
    );
    sub.close();
  });

  it("wire format — a plain NATS client calls a Catga service and reads its replies, as docs/runtime.md shows", async () => {
    const probe = newProbe();
    hosts.push(
      await startHost({
        wiring,
        service: "echo",
        definition: echoDefinition(wiring, probe),
        transport: await natsTransport({ servers: [server.url] }),
        instanceId: "echo-0",
      }),
    );
    const subject = wiring.messages.Echo!.subject;
    const body = JSON.stringify({ text: "hi", delayMs: 0 });
    // No header at all: a fresh message id, the service's timeout.
    const bare = await nc.request(subject, body, { timeout: 2000 });
    expect(bare.headers).toBeUndefined();
    expect(bare.json()).toBe("hi");
    // The envelope built by hand: an id of the caller's choosing and a relative deadline (`+<ms>`).
    const reply = await nc.request(wiring.messages.Whoami!.subject, "C3;order-42;+5000;\n{}", {
      timeout: 2000,
    });
    expect(reply.headers).toBeUndefined();
    expect(reply.json()).toMatchObject({ messageId: "order-42", correlationId: "order-42" });
    // Version 2's header, as earlier releases documented it, still works.
    const h = natsHeaders();
    h.set("Catga", "2;order-43;+5000;");
    const old = await nc.request(wiring.messages.Whoami!.subject, "{}", { timeout: 2000, headers: h });
    expect(old.json()).toMatchObject({ messageId: "order-43" });
    // An error reply: `Catga-Status: error`, its code in a header, the error as JSON.
    const failed = await nc.request(wiring.messages.Fail!.subject, JSON.stringify({ code: "NOPE" }), {
      timeout: 2000,
    });
    expect(failed.headers?.get("Catga-Status")).toBe("error");
    expect(failed.headers?.get("Catga-Error-Code")).toBe("NOPE");
    expect(failed.json()).toMatchObject({ name: "DomainError", code: "NOPE", message: "failed with NOPE" });
    expect(probe.handled).toEqual([expect.stringMatching(/^[A-Za-z0-9_-]{16}$/)]);
  });

  it("wire format — events with a malformed envelope or header or of a newer version are refused, counted and logged; the instance keeps serving", async () => {
    const probe = newProbe();
    const host = await startHost({
      wiring,
      service: "first",
      definition: pingDefinition(wiring, "first", probe),
      transport: await natsTransport({ servers: [server.url] }),
      instanceId: "first-0",
      log: createLogger({}, { level: "warn", sink: (line) => warnings.push(JSON.parse(line)) }),
    });
    hosts.push(host);
    const subject = wiring.messages.Ping!.subject;
    const send = (value: string | undefined, n: number) => {
      const h = natsHeaders();
      if (value !== undefined) h.set("Catga", value);
      nc.publish(subject, JSON.stringify({ n }), value === undefined ? undefined : { headers: h });
    };
    const hash = s.Ping.schemaId.split("@")[1]!.slice(0, 8);
    send("6;future", 1);
    send("2;id;;NOT-HEX", 2);
    send("2;id;soon!;", 3);
    send(undefined, 4);
    send(`2;id;;${hash}`, 5);
    nc.publish(subject, `C6;future\n${JSON.stringify({ n: 6 })}`);
    nc.publish(subject, `C3;id;;NOT-HEX\n${JSON.stringify({ n: 7 })}`);
    nc.publish(subject, `C3;id;;${hash}\n${JSON.stringify({ n: 8 })}`);
    await nc.flush();
    for (let i = 0; i < 100 && probe.pings.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(probe.pings).toEqual([4, 5, 8]);
    expect(host.counters.invalid).toBe(3);
    expect(host.counters.errors).toBe(5);
    expect(warnings.map((w) => w.msg)).toEqual([
      "event of another wire version",
      "invalid event",
      "invalid event",
      "event of another wire version",
      "invalid event",
    ]);
    expect(warnings[0]).toMatchObject({ error: { name: "WireVersionError", code: "WIRE_VERSION" } });
    expect(warnings[0]?.error).toMatchObject({
      message: expect.stringMatching(
        /wire version 6; this instance speaks version 5 and reads versions 1 to 5/,
      ),
    });
    expect(warnings[4]?.error).toMatchObject({ message: expect.stringContaining("(envelope: schema)") });
  });
});
