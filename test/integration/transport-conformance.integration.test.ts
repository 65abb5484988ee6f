import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readWire, type WireMeta } from "../../runtime/_wire.js";
import { type Bus, createBus } from "../../runtime/bus.js";
import {
  DomainError,
  fromWireError,
  InvalidMessageError,
  NoRespondersError,
  PayloadTooLargeError,
  TimeoutError,
  WireVersionError,
} from "../../runtime/errors.js";
import { type Host, startHost } from "../../runtime/host.js";
import { createLogger } from "../../runtime/log.js";
import { publishEvent, requestSpec, sendRequest } from "../../runtime/messaging.js";
import { MemoryHub, memoryTransport } from "../../runtime/transport/memory.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import type { IncomingMessage, Transport } from "../../runtime/transport/types.js";
import {
  conformanceWiring,
  echoDefinition,
  newProbe,
  type Probe,
  pingDefinition,
  specs,
} from "../fixtures/conformance.js";
import { type NatsServer, startNats } from "../harness/nats.js";

/**
 * One suite, two transports: the in-memory transport must behave like NATS (one instance per queue
 * group per message, every instance for broadcast, the same typed errors and headers), because the
 * demo and unit tests run on it and users deploy on NATS.
 */
interface Env {
  connect(): Promise<Transport>;
  /** The server's max_payload. */
  maxPayload: number;
}

const envs: { name: string; setup(): Promise<Env & { stop(): Promise<void> }> }[] = [
  {
    name: "memory",
    setup: async () => {
      const hub = new MemoryHub();
      return { connect: async () => memoryTransport(hub), maxPayload: hub.maxPayload, stop: async () => {} };
    },
  },
  {
    name: "nats",
    setup: async () => {
      const server: NatsServer = await startNats();
      return {
        connect: () => natsTransport({ servers: [server.url] }),
        maxPayload: 1024 * 1024,
        stop: () => server.stop(),
      };
    },
  },
];

const wiring = conformanceWiring();
const s = specs(wiring);

for (const envDef of envs) {
  describe(`transport conformance (${envDef.name})`, () => {
    let env: Env & { stop(): Promise<void> };
    let hosts: Host[] = [];
    let clients: Bus[] = [];
    /** What the echo instances logged at warn and above. */
    const warnings: Record<string, unknown>[] = [];

    beforeAll(async () => {
      env = await envDef.setup();
    });
    afterAll(async () => {
      await env.stop();
    });

    async function echo(count: number): Promise<{ hosts: Host[]; probes: Probe[] }> {
      const probes: Probe[] = [];
      const started: Host[] = [];
      for (let i = 0; i < count; i++) {
        const probe = newProbe();
        probes.push(probe);
        started.push(
          await startHost({
            wiring,
            service: "echo",
            definition: echoDefinition(wiring, probe),
            transport: await env.connect(),
            instanceId: `echo-${i}`,
            log: createLogger({}, { level: "warn", sink: (line) => warnings.push(JSON.parse(line)) }),
          }),
        );
      }
      hosts.push(...started);
      return { hosts: started, probes };
    }

    async function pingers(service: string, count: number): Promise<Probe[]> {
      const probes: Probe[] = [];
      for (let i = 0; i < count; i++) {
        const probe = newProbe();
        probes.push(probe);
        hosts.push(
          await startHost({
            wiring,
            service,
            definition: pingDefinition(wiring, service, probe),
            transport: await env.connect(),
            instanceId: `${service}-${i}`,
          }),
        );
      }
      return probes;
    }

    async function client(options: { tracing?: boolean; wireVersion?: 2 | 3 | 4 } = {}): Promise<Bus> {
      const bus = createBus(await env.connect(), options);
      clients.push(bus);
      return bus;
    }

    async function cleanup(): Promise<void> {
      await Promise.all(hosts.map((h) => h.stop({ graceMs: 1000 })));
      await Promise.all(clients.map((c) => c.close()));
      hosts = [];
      clients = [];
    }

    it(`${envDef.name} — 5 instances in one queue group share 10,000 requests, each answered once`, async () => {
      const { probes } = await echo(5);
      const bus = await client();
      const total = 10_000;
      const replies: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < total) {
          const i = next++;
          replies[i] = await sendRequest(bus, s.Echo, { text: `r${i}`, delayMs: 0 });
        }
      };
      await Promise.all(Array.from({ length: 100 }, worker));
      await cleanup();
      expect(replies.filter((r, i) => r === `r${i}`)).toHaveLength(total);
      const counts = probes.map((p) => p.handled.length);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
      expect(new Set(probes.flatMap((p) => p.handled)).size).toBe(total);
      for (const c of counts) {
        expect(c).toBeGreaterThan(0);
        expect(c).toBeLessThanOrEqual((2 * total) / 5);
      }
      console.log(`${envDef.name}: requests per instance ${counts.join(", ")}`);
    }, 60_000);

    it(`${envDef.name} — broadcast reaches every instance once; group delivery one instance per service`, async () => {
      const everyone = await pingers("everyone", 3);
      const first = await pingers("first", 2);
      const second = await pingers("second", 2);
      const bus = await client();
      const n = 50;
      for (let i = 0; i < n; i++) await publishEvent(bus, s.Ping, { n: i });
      await bus.transport.flush();
      const all = [...everyone, ...first, ...second];
      const expected = everyone.length * n + 2 * n;
      const deadline = Date.now() + 10_000;
      while (all.reduce((a, p) => a + p.pings.length, 0) < expected && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 200)); // anything extra (a duplicate) would arrive now
      await cleanup();
      const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
      const range = Array.from({ length: n }, (_, i) => i);
      for (const p of everyone) expect(sorted(p.pings)).toEqual(range);
      expect(sorted(first.flatMap((p) => p.pings))).toEqual(range);
      expect(sorted(second.flatMap((p) => p.pings))).toEqual(range);
    }, 30_000);

    it(`${envDef.name} — a domain error arrives typed, with its code, message and details`, async () => {
      await echo(1);
      const bus = await client();
      const error = await sendRequest(bus, s.Fail, { code: "OUT_OF_STOCK" }).catch((e: unknown) => e);
      await cleanup();
      expect(error).toBeInstanceOf(DomainError);
      expect(error).toMatchObject({
        code: "OUT_OF_STOCK",
        message: "failed with OUT_OF_STOCK",
        details: { retry: false },
      });
    });

    it(`${envDef.name} — a slow handler gives TimeoutError at the deadline; the instance keeps serving`, async () => {
      await echo(1);
      const bus = await client();
      const started = performance.now();
      const error = await sendRequest(bus, s.Once, { text: "slow", delayMs: 1500 }, { timeoutMs: 300 }).catch(
        (e: unknown) => e,
      );
      const waited = performance.now() - started;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(waited).toBeGreaterThanOrEqual(290);
      expect(waited).toBeLessThan(1400);
      expect(await sendRequest(bus, s.Echo, { text: "after", delayMs: 0 })).toBe("after");
      await cleanup();
    });

    it(`${envDef.name} — a call whose deadline is shorter than its timeout times out at the deadline and names its timeout`, async () => {
      await echo(1);
      const bus = await client();
      const started = performance.now();
      // A handler's deadline passed on (InternalCallOptions.deadline): the one attempt waits what
      // is left of it, and its TimeoutError still names the call's timeout.
      const error = await bus
        .request(s.Once, { text: "slow", delayMs: 1500 }, { timeoutMs: 4000, deadline: Date.now() + 250 })
        .catch((e: unknown) => e);
      const waited = performance.now() - started;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({ subject: s.Once.subject, timeoutMs: 4000 });
      expect(waited).toBeGreaterThanOrEqual(240);
      expect(waited).toBeLessThan(1400);
      await cleanup();
    });

    it(`${envDef.name} — requestReading settles with what its reader makes of the reply, or with what the reader throws`, async () => {
      await echo(1);
      const bus = await client();
      const body = (text: string, delayMs = 0) => new TextEncoder().encode(JSON.stringify({ text, delayMs }));
      const args: unknown[] = [];
      const read = (reply: IncomingMessage, arg: { prefix: string }) => {
        args.push(arg);
        return `${arg.prefix}${new TextDecoder().decode(reply.data)}`;
      };
      const arg = { prefix: "read:" };
      expect(
        await bus.transport.requestReading(s.Echo.subject, body("one"), { timeoutMs: 2000 }, read, arg),
      ).toBe('read:"one"');
      expect(args).toEqual([arg]);
      expect(args[0]).toBe(arg);
      // A reader that throws rejects the request with its error; the next request is served.
      class Unreadable extends Error {}
      const thrown = new Unreadable("no");
      const refused = await bus.transport
        .requestReading(
          s.Echo.subject,
          body("two"),
          { timeoutMs: 2000 },
          () => {
            throw thrown;
          },
          undefined,
        )
        .catch((e: unknown) => e);
      expect(refused).toBe(thrown);
      expect(
        await bus.transport.requestReading(s.Echo.subject, body("three"), { timeoutMs: 2000 }, read, arg),
      ).toBe('read:"three"');
      // A reader is not called for a request that times out; its TimeoutError names namedTimeoutMs.
      const before = args.length;
      const late = await bus.transport
        .requestReading(
          s.Once.subject,
          body("slow", 1500),
          { timeoutMs: 200, namedTimeoutMs: 9000 },
          read,
          arg,
        )
        .catch((e: unknown) => e);
      expect(late).toBeInstanceOf(TimeoutError);
      expect(late).toMatchObject({ subject: s.Once.subject, timeoutMs: 9000 });
      await new Promise((r) => setTimeout(r, 1500)); // the late reply arrives, and is dropped
      expect(args.length).toBe(before);
      await cleanup();
    });

    it(`${envDef.name} — nobody serving gives NoRespondersError at once, not at the deadline`, async () => {
      const bus = await client();
      const nobody = requestSpec({ ...s.Once, subject: "conf.cmd.Nobody", timeoutMs: 5000 });
      const started = performance.now();
      const error = await sendRequest(bus, nobody, { text: "x", delayMs: 0 }).catch((e: unknown) => e);
      await cleanup();
      expect(error).toBeInstanceOf(NoRespondersError);
      expect(performance.now() - started).toBeLessThan(2500);
    });

    it(`${envDef.name} — an idempotent request is retried until an instance appears; others are not`, async () => {
      const bus = await client();
      const once = sendRequest(bus, s.Once, { text: "once", delayMs: 0 }).catch((e: unknown) => e);
      const retried = sendRequest(bus, s.Echo, { text: "retried", delayMs: 0 }, { timeoutMs: 2000 });
      expect(await once).toBeInstanceOf(NoRespondersError);
      await new Promise((r) => setTimeout(r, 200));
      await echo(1);
      expect(await retried).toBe("retried");
      expect(bus.stats.retries).toBeGreaterThan(0);
      await cleanup();
    });

    it(`${envDef.name} — invalid payloads are answered with InvalidMessageError and the instance keeps serving`, async () => {
      const {
        hosts: [host],
        probes,
      } = await echo(1);
      const bus = await client();
      const raw = async (data: string) => {
        const reply = await bus.transport.request(s.Echo.subject, new TextEncoder().encode(data), {
          timeoutMs: 2000,
        });
        return {
          status: reply.headers["Catga-Status"],
          body: JSON.parse(new TextDecoder().decode(reply.data)),
        };
      };
      const wrongType = await raw(JSON.stringify({ text: 5, delayMs: 0 }));
      expect(wrongType.status).toBe("error");
      expect(wrongType.body).toMatchObject({ name: "InvalidMessageError", code: "INVALID_MESSAGE" });
      expect(wrongType.body.invalid.issues[0].path).toBe("text");
      // The log says which schema the sender was built with when it is not the instance's (its
      // short hash), from a version 2 header as from a version 1 caller's full schema id.
      await bus.transport.request(s.Echo.subject, new TextEncoder().encode("{}"), {
        timeoutMs: 2000,
        headers: { Catga: "2;x;;00000000" },
      });
      expect(warnings.at(-1)).toMatchObject({
        msg: "invalid message",
        message: "Echo",
        schema: s.Echo.schemaId,
        senderSchema: "00000000",
      });
      await bus.transport.request(s.Echo.subject, new TextEncoder().encode("{}"), {
        timeoutMs: 2000,
        headers: { "Catga-Message-Id": "v1", "Catga-Schema": "Echo@1111111111111111" },
      });
      expect(warnings.at(-1)).toMatchObject({ msg: "invalid message", senderSchema: "11111111" });
      const notJson = await raw("{not json");
      expect(notJson.body).toMatchObject({ name: "InvalidMessageError" });
      // Through the client API the same error arrives typed:
      const viaBus = await bus
        .request(s.Echo, { text: 1, delayMs: "x" }, { timeoutMs: 2000 })
        .catch((e: unknown) => e);
      expect(viaBus).toBeInstanceOf(InvalidMessageError);
      expect((viaBus as InvalidMessageError).issues.map((i) => i.path).sort()).toEqual(["delayMs", "text"]);
      // The client validates before sending: this one never reaches the instance.
      const local = await sendRequest(bus, s.Echo, { text: 1 } as never).catch((e: unknown) => e);
      expect(local).toBeInstanceOf(InvalidMessageError);
      expect(await sendRequest(bus, s.Echo, { text: "still here", delayMs: 0 })).toBe("still here");
      expect(host!.counters.invalid).toBe(5);
      expect(host!.metrics.render()).toContain('catga_invalid_messages_total{message="Echo"} 5');
      expect(probes[0]!.handled).toHaveLength(1);
      await cleanup();
    });

    it(`${envDef.name} — oversized payloads fail with PayloadTooLargeError both ways; the instance keeps serving`, async () => {
      await echo(1);
      const bus = await client();
      const tooBig = env.maxPayload + 10;
      const request = await sendRequest(bus, s.Echo, { text: "y".repeat(tooBig), delayMs: 0 }).catch(
        (e: unknown) => e,
      );
      expect(request).toBeInstanceOf(PayloadTooLargeError);
      const reply = await sendRequest(bus, s.Big, { bytes: tooBig }).catch((e: unknown) => e);
      expect(reply).toBeInstanceOf(Error);
      expect((reply as { code?: string }).code).toBe("PAYLOAD_TOO_LARGE");
      // An error too large for the server is answered the same way, not left to the deadline.
      const started = Date.now();
      const error = await sendRequest(bus, s.Fail, { code: "HUGE" }, { timeoutMs: 3000 }).catch(
        (e: unknown) => e,
      );
      expect((error as { code?: string }).code).toBe("PAYLOAD_TOO_LARGE");
      expect(Date.now() - started).toBeLessThan(2000);
      expect(await sendRequest(bus, s.Echo, { text: "fine", delayMs: 0 })).toBe("fine");
      await cleanup();
    });

    it(`${envDef.name} — handlers see the caller's message id, correlation id and deadline; the envelope carries traceparent`, async () => {
      await echo(1);
      const bus = await client();
      const spy = bus.transport.subscribe(s.Whoami.subject, {}, (msg) =>
        seen.push({ headers: msg.headers, data: msg.data, wire: readWire(msg, "Whoami", "request") }),
      );
      const seen: { headers: Record<string, string>; data: Uint8Array; wire: WireMeta }[] = [];
      await bus.transport.flush();
      const before = Date.now();
      const who = await sendRequest(
        bus,
        s.Whoami,
        {},
        { messageId: "m-1", correlationId: "c-1", timeoutMs: 1500 },
      );
      expect(who).toMatchObject({ instance: "echo-0", messageId: "m-1", correlationId: "c-1" });
      expect(who.deadline).toBeGreaterThanOrEqual(before + 1500);
      expect(who.deadline).toBeLessThanOrEqual(Date.now() + 1500);
      // A message that starts its chain: the correlation id is its own id, and the header is left out.
      const first = await sendRequest(bus, s.Whoami, {}, { messageId: "m-2", timeoutMs: 1500 });
      expect(first).toMatchObject({ messageId: "m-2", correlationId: "m-2" });
      // Trace context travels only when there is a trace to continue (or the bus traces).
      const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      const traced = await sendRequest(bus, s.Whoami, {}, { messageId: "m-3", traceparent: parent });
      expect(traced).toMatchObject({ messageId: "m-3" });
      const tracing = await client({ tracing: true });
      await sendRequest(tracing, s.Whoami, {}, { messageId: "m-4" });
      spy.unsubscribe();
      // Version 4: no headers; the payload starts with the binary envelope (byte 4, the flags:
      // 0x01 deadline, 0x02 correlation id, 0x04 trace context, 0x08 an id as text, 0x10 schema).
      const hash = s.Whoami.schemaId.split("@")[1]!.slice(0, 8);
      for (const m of seen) expect(m.headers).toEqual({});
      expect(seen.map((m) => [m.data[0], m.data[1]])).toEqual([
        [4, 0x1b],
        [4, 0x19],
        [4, 0x1d],
        [4, 0x1d],
      ]);
      expect(seen[0]!.wire).toMatchObject({
        version: 4,
        messageId: "m-1",
        correlationId: "c-1",
        schema: hash,
      });
      expect(seen[0]!.wire.deadline).toBe(who.deadline);
      // A message that starts its chain leaves the correlation id out.
      expect(seen[1]!.wire).toMatchObject({ messageId: "m-2", correlationId: "", traceparent: "" });
      // With a trace: a child span of the caller's trace.
      expect(seen[2]!.wire.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
      expect(seen[2]!.wire.traceparent).not.toContain("b7ad6b7169203331");
      expect(seen[3]!.wire.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      // A result travels without headers; only error replies carry Catga-Status.
      const reply = await bus.transport.request(s.Whoami.subject, new TextEncoder().encode("{}"), {
        timeoutMs: 1500,
      });
      expect(reply.headers).toEqual({});
      await cleanup();
    });

    it(`${envDef.name} — version 2 and 1 callers and plain messages are served; a newer version or a malformed envelope or header is a typed error`, async () => {
      const {
        hosts: [host],
      } = await echo(1);
      const bus = await client();
      const ask = async (
        headers: Record<string, string> | undefined,
        payload: string | Uint8Array = "{}",
      ) => {
        const data = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
        const reply = await bus.transport.request(s.Whoami.subject, data, {
          timeoutMs: 2000,
          ...(headers ? { headers } : {}),
        });
        return {
          status: reply.headers["Catga-Status"],
          body: JSON.parse(new TextDecoder().decode(reply.data)),
        };
      };
      // A version 1 caller (a replica not yet upgraded): its ids and deadline are honoured.
      const deadline = Date.now() + 1234;
      const v1 = await ask({
        "Catga-Message-Id": "old-1",
        "Catga-Correlation-Id": "chain-1",
        "Catga-Deadline": String(deadline),
        "Catga-Schema": s.Whoami.schemaId,
      });
      expect(v1.body).toMatchObject({ messageId: "old-1", correlationId: "chain-1", deadline });
      // A plain NATS client without headers: a fresh id, the service's timeout.
      const plain = await ask(undefined);
      expect(plain.status).toBeUndefined();
      expect(plain.body.messageId).toMatch(/^[A-Za-z0-9_-]{16}$/);
      // A relative deadline (`+<ms>`), for plain clients; ids with `;` or `%` are percent-encoded.
      const before = Date.now();
      const relative = await ask({ Catga: "2;a%3Bb;+5000;" });
      expect(relative.body.messageId).toBe("a;b");
      expect(relative.body.deadline).toBeGreaterThanOrEqual(before + 5000);
      const odd = await sendRequest(bus, s.Whoami, {}, { messageId: "x;100%", correlationId: "c;1" });
      expect(odd).toMatchObject({ messageId: "x;100%", correlationId: "c;1" });
      // A version 2 caller (a replica of the previous build, or a bus told `wireVersion: 2` during
      // a rollout): one `Catga` header, the JSON payload.
      const v2 = await client({ wireVersion: 2 });
      const spy = v2.transport.subscribe(s.Whoami.subject, {}, (msg) => sent.push(msg.headers));
      const sent: Record<string, string>[] = [];
      await v2.transport.flush();
      const old = await sendRequest(v2, s.Whoami, {}, { messageId: "old-2", correlationId: "chain-2" });
      spy.unsubscribe();
      expect(old).toMatchObject({ messageId: "old-2", correlationId: "chain-2" });
      expect(sent[0]).toEqual({ Catga: expect.stringMatching(/^2;old-2;[0-9a-z]+;[0-9a-f]{8};chain-2$/) });
      // A plain client writing the envelope by hand: its own id and a relative deadline.
      const before3 = Date.now();
      const handmade = await ask(undefined, "C3;order-42;+5000;\n{}");
      expect(handmade.body).toMatchObject({ messageId: "order-42", correlationId: "order-42" });
      expect(handmade.body.deadline).toBeGreaterThanOrEqual(before3 + 5000);
      // A version 4 caller (a bus told `wireVersion: 4`): the binary envelope, its own id and a
      // caller's text ids, read back by the instance field for field.
      const v4bus = await client({ wireVersion: 4 });
      const seen: Uint8Array[] = [];
      const spy4 = v4bus.transport.subscribe(s.Whoami.subject, {}, (msg) => seen.push(msg.data));
      await v4bus.transport.flush();
      const binary = await sendRequest(v4bus, s.Whoami, {}, { messageId: "x;100% é", correlationId: "c;1" });
      const drawn = (await sendRequest(v4bus, s.Whoami, {}, {})) as {
        messageId: string;
        correlationId: string;
        deadline: number;
      };
      spy4.unsubscribe();
      expect(binary).toMatchObject({ messageId: "x;100% é", correlationId: "c;1" });
      expect(drawn.messageId).toMatch(/^[A-Za-z0-9_-]{16}$/);
      expect(drawn.correlationId).toBe(drawn.messageId);
      expect(drawn.deadline).toBeGreaterThan(Date.now());
      expect(seen.map((data) => data[0])).toEqual([4, 4]);
      // A newer wire version, in a binary envelope, a text one or a header: WireVersionError naming
      // both versions.
      const v6 = await ask(undefined, "C6;whatever\n{}");
      expect(v6.status).toBe("error");
      expect(v6.body).toMatchObject({ name: "WireVersionError", code: "WIRE_VERSION" });
      expect(v6.body.message).toMatch(
        /wire version 6; this instance speaks version 5 and reads versions 1 to 5/,
      );
      // At a caller it is rebuilt as the same class.
      const typed = fromWireError(v6.body);
      expect(typed).toBeInstanceOf(WireVersionError);
      expect(typed).toMatchObject({ got: 6, speaks: 5, messageName: "Whoami" });
      expect((await ask({ Catga: "6;whatever" })).body).toMatchObject({ name: "WireVersionError" });
      expect((await ask(undefined, Buffer.from([6, 0]))).body).toMatchObject({ name: "WireVersionError" });
      // Malformed envelope fields: InvalidMessageError naming the field.
      for (const [payload, field] of [
        ["C3;id;NOT-BASE36;\n{}", "deadline"],
        ["C3;id;;XYZ\n{}", "schema"],
        ["C3;id\n{}", "fields"],
        ["C3;id;;;c;00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01;x\n{}", "fields"],
        ["C3;%E0%A4%A;;\n{}", "message id"],
        ["C3;id;;;%zz\n{}", "correlation id"],
        ["C3;id;;;;00-nope\n{}", "traceparent"],
        ["C3;id;;{}", "line end"],
        ["C2;id;;\n{}", "version"],
        ["C4;id;;\n{}", "version"],
        ["Cv3;id;;\n{}", "version"],
      ] as const) {
        const bad = await ask(undefined, payload);
        expect(bad.status).toBe("error");
        expect(bad.body).toMatchObject({ name: "InvalidMessageError", code: "INVALID_MESSAGE" });
        expect(bad.body.invalid.issues[0].path).toBe(`(envelope: ${field})`);
      }
      // Malformed header fields: InvalidMessageError naming the field.
      for (const [header, field] of [
        ["2;id;NOT-BASE36;", "deadline"],
        ["2;id;;XYZ", "schema"],
        ["2;id", "fields"],
        ["2;id;;;c;extra", "fields"],
        ["2;%E0%A4%A;;", "message id"],
        ["2;id;;;%zz", "correlation id"],
        ["v2;id;;", "version"],
        ["3;id;;", "version"],
      ] as const) {
        const bad = await ask({ Catga: header });
        expect(bad.status).toBe("error");
        expect(bad.body).toMatchObject({ name: "InvalidMessageError", code: "INVALID_MESSAGE" });
        expect(bad.body.invalid.issues[0].path).toBe(`(header Catga: ${field})`);
      }
      expect(host!.counters.invalid).toBe(19);
      // The instance keeps serving.
      expect(await sendRequest(bus, s.Echo, { text: "still here", delayMs: 0 })).toBe("still here");
      await cleanup();
    });

    it(`${envDef.name} — drain: readiness goes off, in-flight requests still get their replies`, async () => {
      const {
        hosts: [host],
      } = await echo(1);
      const bus = await client();
      const slow = Array.from({ length: 5 }, (_, i) =>
        sendRequest(bus, s.Once, { text: `s${i}`, delayMs: 300 }),
      );
      await new Promise((r) => setTimeout(r, 100));
      expect(host!.ready()).toBe(true);
      const stopping = host!.stop({ graceMs: 5000 });
      expect(host!.ready()).toBe(false);
      expect(await Promise.all(slow)).toEqual(["s0", "s1", "s2", "s3", "s4"]);
      await stopping;
      hosts = hosts.filter((h) => h !== host);
      const after = await sendRequest(bus, s.Once, { text: "late", delayMs: 0 }).catch((e: unknown) => e);
      expect(after).toBeInstanceOf(NoRespondersError);
      await cleanup();
    });
  });
}
