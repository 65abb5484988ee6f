import { describe, expect, it } from "vitest";
import {
  asksEcho,
  childTraceparent,
  decode,
  decodeBody,
  ECHO_BYTES,
  echoes,
  encodeReply,
  envelope,
  envelope4,
  newMessageId,
  readWire,
  schemaHash,
  writeWire,
} from "../../runtime/_wire.js";
import { InvalidMessageError, WireVersionError } from "../../runtime/errors.js";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

describe("W3C traceparent", () => {
  it("starts a new sampled trace with fresh, distinct trace and span ids", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const [, traceId, spanId, flags] = TRACEPARENT.exec(childTraceparent()) ?? [];
      expect(flags).toBe("01");
      expect(traceId).not.toMatch(/^0+$/);
      expect(spanId).not.toMatch(/^0+$/);
      expect(traceId).not.toContain(spanId);
      seen.add(traceId!);
      seen.add(spanId!);
    }
    // 10,000 trace ids and 10,000 span ids, none drawn twice (the random pool moves on).
    expect(seen.size).toBe(20_000);
  });

  it("continues a parent's trace and flags with a new span", () => {
    const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    const child = childTraceparent(parent);
    const [, traceId, spanId, flags] = TRACEPARENT.exec(child) ?? [];
    expect(traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(flags).toBe("00");
    expect(spanId).not.toBe("b7ad6b7169203331");
  });

  it("starts a new trace when the parent is not a valid traceparent", () => {
    for (const bad of ["", "garbage", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]) {
      const child = childTraceparent(bad);
      expect(child).toMatch(TRACEPARENT);
      expect(child).not.toContain("0af7651916cd43dd8448eb211c80319c");
    }
  });
});

const text = (data: Uint8Array) => Buffer.from(data).toString("utf8");
const bytes = (s: string) => Buffer.from(s);
/** A message as readWire sees it: headers only, or a payload. */
const headersOnly = (headers: Record<string, string>) => ({ data: bytes("{}"), headers });
const payload = (s: string) => ({ data: bytes(s), headers: {} });

describe("wire version 3 envelope", () => {
  it("writes `C3;<id>;<deadline base 36>;<schema hash>[;<correlation id>[;<traceparent>]]\\n<JSON>`, byte for byte", () => {
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const value = { text: "hello", n: 42 };
    const request = envelope(
      value,
      "AAECAwQFBgcICQoL",
      Date.UTC(2100, 0, 1),
      "Echo@621f076764e32737",
      "c-1",
      undefined,
    );
    expect(text(request)).toBe('C3;AAECAwQFBgcICQoL;1gcmxpmo0;621f0767;c-1\n{"text":"hello","n":42}');
    expect(request.length).toBe(43 + 23);
    // An event: no deadline; a message that starts its chain: no correlation id.
    const event = envelope(
      value,
      "AAECAwQFBgcICQoL",
      undefined,
      "Tick@6a1a7c42c8a1250e",
      "AAECAwQFBgcICQoL",
      undefined,
    );
    expect(text(event)).toBe('C3;AAECAwQFBgcICQoL;;6a1a7c42\n{"text":"hello","n":42}');
    expect(event.length).toBe(30 + 23);
    // A trace to continue without a correlation id: the correlation field stays, empty.
    expect(text(envelope(value, "AAECAwQFBgcICQoL", undefined, "Tick@6a1a7c42c8a1250e", undefined, tp))).toBe(
      `C3;AAECAwQFBgcICQoL;;6a1a7c42;;${tp}\n{"text":"hello","n":42}`,
    );
    // Ids a caller chose may hold the separator or a line break: percent-encoded, read back as they were.
    const odd = envelope(null, "a;b%c\nd", undefined, "Tick@6a1a7c42c8a1250e", "x;y", tp);
    expect(text(odd)).toBe(`C3;a%3Bb%25c%0Ad;;6a1a7c42;x%3By;${tp}\nnull`);
    const read = readWire(payload(text(odd)), "Tick", "event");
    expect(read).toEqual({
      version: 3,
      messageId: "a;b%c\nd",
      correlationId: "x;y",
      deadline: 0,
      schema: "6a1a7c42",
      traceparent: tp,
      body: text(odd).indexOf("\n") + 1,
      json: "null",
    });
    expect(decode(odd, "Tick", "event", read.body)).toBeNull();
    expect(decodeBody(odd, read, "Tick", "event")).toBeNull();
    // The body after the envelope is the JSON the sender encoded.
    const r = readWire({ data: request, headers: {} }, "Echo", "request");
    expect(r).toMatchObject({ version: 3, deadline: Date.UTC(2100, 0, 1), correlationId: "c-1" });
    expect(decode(request, "Echo", "request", r.body)).toEqual(value);
    expect(decodeBody(request, r, "Echo", "request")).toEqual(value);
  });

  it("decodes a payload once: the body's text comes with the envelope, its offset counts bytes, not characters", () => {
    // Non-ASCII in an id and in the body: the byte offset of the body is not the character offset.
    const data = envelope(
      { text: "héllo ✓" },
      "idé",
      undefined,
      "Tick@6a1a7c42c8a1250e",
      undefined,
      undefined,
    );
    const read = readWire({ data, headers: {} }, "Tick", "event");
    expect(read.messageId).toBe("idé");
    expect(read.json).toBe('{"text":"héllo ✓"}');
    expect(read.body).toBe(data.indexOf(0x0a) + 1);
    expect(decode(data, "Tick", "event", read.body)).toEqual({ text: "héllo ✓" });
    expect(decodeBody(data, read, "Tick", "event")).toEqual({ text: "héllo ✓" });
    // A view that is not a Buffer reads the same.
    const view = new Uint8Array(data);
    expect(readWire({ data: view, headers: {} }, "Tick", "event")).toEqual(read);
    // A reply's JSON as nats.js delivers it, a view into a larger chunk, decodes from its own bytes.
    const chunk = Buffer.concat([
      Buffer.from('{"x":1}'),
      Buffer.from('{"text":"héllo ✓"}'),
      Buffer.from("}"),
    ]);
    expect(
      decode(new Uint8Array(chunk.buffer, chunk.byteOffset + 7, chunk.length - 8), "Tick", "event"),
    ).toEqual({
      text: "héllo ✓",
    });
    // A body that is not UTF-8: the envelope is still read, and the body fails as not valid JSON.
    const bad = Buffer.concat([Buffer.from("C3;id;;6a1a7c42\n"), Buffer.from([0x22, 0xff, 0x22])]);
    const r = readWire({ data: bad, headers: {} }, "Tick", "event");
    expect(r).toMatchObject({ messageId: "id", body: 16, json: undefined });
    expect(() => decodeBody(bad, r, "Tick", "event")).toThrow(/not valid JSON/);
    // Malformed JSON after a valid envelope: the same error as ever.
    const broken = Buffer.from("C3;id;;6a1a7c42\n{nope");
    expect(() =>
      decodeBody(broken, readWire({ data: broken, headers: {} }, "Tick", "event"), "Tick", "event"),
    ).toThrow(InvalidMessageError);
  });

  it("a payload that does not start with `C` is plain JSON: its headers are read (versions 2 and 1) or it has none", () => {
    expect(readWire(payload('{"a":1}'), "Echo", "request")).toMatchObject({ version: 0, body: 0 });
    // A JSON number is plain too: only `C`, which starts no JSON text, marks an envelope.
    expect(readWire(payload("3"), "Echo", "request")).toMatchObject({ version: 0 });
    expect(
      readWire(
        {
          data: bytes("{}"),
          headers: {
            Catga: "2;m-1;;621f0767",
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
          },
        },
        "Echo",
        "request",
      ),
    ).toMatchObject({ version: 2, messageId: "m-1", traceparent: expect.stringMatching(/^00-/), body: 0 });
    // An envelope wins over headers: a version 3 message's headers are not read.
    expect(
      readWire({ data: bytes("C3;m-3;;\n{}"), headers: { Catga: "2;m-2;;" } }, "Echo", "request"),
    ).toMatchObject({
      version: 3,
      messageId: "m-3",
    });
    // A relative deadline, for plain clients.
    const before = Date.now();
    expect(readWire(payload("C3;m;+5000;\n{}"), "Echo", "request").deadline).toBeGreaterThanOrEqual(
      before + 5000,
    );
  });

  it("refuses a newer version and malformed envelopes with typed errors", () => {
    expect(() => readWire(payload("C6;x;;\n{}"), "Echo", "request")).toThrow(WireVersionError);
    expect(() => readWire(payload("C12;x"), "Echo", "request")).toThrow(WireVersionError);
    for (const bad of [
      "C",
      // Versions 4 and 5 are binary: a text line claiming one is malformed.
      "C4;x;;\n{}",
      "C5;x;;\n{}",
      "C3",
      "C3;x;;",
      "C2;x;;\\n{}",
      "C3\n{}",
      "C3;x\n{}",
      "C3;x;;;c;00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01;more\n{}",
      "C3;x;Z;\n{}",
      "C3;x;;ABC\n{}",
      "C3;%zz;;\n{}",
      "C3;x;;;%zz\n{}",
      "C3;x;;;;not-a-traceparent\n{}",
      "Cthree;x;;\n{}",
      "Catga\n{}",
    ]) {
      expect(() => readWire(payload(bad), "Echo", "request"), bad).toThrow(InvalidMessageError);
    }
    const error = (() => {
      try {
        readWire(payload("C3;x;SOON;\n{}"), "Echo", "request");
      } catch (e) {
        return e as InvalidMessageError;
      }
    })();
    expect(error?.issues[0]?.path).toBe("(envelope: deadline)");
    expect(() => readWire({ data: Uint8Array.of(0x43, 0xff, 0x0a), headers: {} }, "Echo", "request")).toThrow(
      InvalidMessageError,
    );
    expect(() => readWire(payload("C3;x;;\n{}"), "Echo", "request")).not.toThrow();
  });
});

/** docs/runtime.md, "Calling a Catga service from a plain NATS client": a plain subscriber's way to the JSON. */
// biome-ignore format: the lines as the docs show them
function plainBody(data: Uint8Array): Uint8Array {
  if (data[0] === 0x43) return data.subarray(data.indexOf(10) + 1); // version 3: the line
  if (data[0] !== 4) return data; // plain JSON
  const f = data[1]!;
  let at = 2;
  at += f & 0x08 ? 2 + ((data[at]! << 8) | data[at + 1]!) : 12; // the message id
  if (f & 0x10) at += 4; // schema hash
  if (f & 0x01) at += 6; // deadline
  if (f & 0x02) at += 2 + ((data[at]! << 8) | data[at + 1]!); // correlation id
  if (f & 0x04) at += 25; // trace context
  return data.subarray(at);
}

describe("wire version 4 binary envelope", () => {
  const value = { text: "hello", n: 42 };
  const hex = (data: Uint8Array) => Buffer.from(data).toString("hex");
  const read = (data: Uint8Array) => readWire({ data, headers: {} }, "Echo", "request");

  it("writes byte 4, the flags, the id, the schema hash, the deadline, the correlation id and the trace context, byte for byte", () => {
    const request = envelope4(
      value,
      "AAECAwQFBgcICQoL",
      Date.UTC(2100, 0, 1),
      "Echo@621f076764e32737",
      "c-1",
      undefined,
    );
    // 04 | flags 0x13 (schema, correlation, deadline) | 12 id bytes | 621f0767 | 6 deadline bytes | 0003 "c-1" | JSON
    expect(hex(request)).toBe(
      `0413000102030405060708090a0b621f0767${Date.UTC(2100, 0, 1).toString(16).padStart(12, "0")}0003632d31${Buffer.from(JSON.stringify(value)).toString("hex")}`,
    );
    expect(request.length).toBe(29 + 23);
    // A request that starts its chain: 24 bytes of envelope (version 3: 38).
    expect(
      envelope4(
        value,
        "AAECAwQFBgcICQoL",
        Date.UTC(2100, 0, 1),
        "Echo@621f076764e32737",
        "AAECAwQFBgcICQoL",
        undefined,
      ).length - 23,
    ).toBe(24);
    // An event: no deadline, no correlation id: 18 bytes (version 3: 30).
    const event = envelope4(
      value,
      "AAECAwQFBgcICQoL",
      undefined,
      "Tick@6a1a7c42c8a1250e",
      undefined,
      undefined,
    );
    expect(hex(event)).toBe(
      `0410000102030405060708090a0b6a1a7c42${Buffer.from(JSON.stringify(value)).toString("hex")}`,
    );
    // A caller's id as text (flag 0x08), and the trace context (flag 0x04) in 25 bytes.
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const traced = envelope4(null, "order-42", undefined, "Tick@6a1a7c42c8a1250e", undefined, tp);
    expect(hex(traced)).toBe(
      `041c00086f726465722d34326a1a7c420af7651916cd43dd8448eb211c80319cb7ad6b716920333101${Buffer.from("null").toString("hex")}`,
    );
    expect(read(traced)).toMatchObject({
      version: 4,
      messageId: "order-42",
      traceparent: tp,
      schema: "6a1a7c42",
    });
  });

  it("reads back what it wrote: ids drawn or chosen (any text), deadlines, correlation ids, trace context, bodies", () => {
    // A caller's 16-character id in the base64url alphabet travels as 12 bytes and reads back the
    // same; an empty id or correlation id (none given) reads back empty, as in version 3.
    const odd = [
      "x;100%",
      "é\n;",
      "a",
      "🙂".repeat(40),
      "AAECAwQFBgcICQo",
      "AAECAwQFBgcICQoL=",
      "order-0000000042",
      "",
    ];
    const tps = [
      undefined,
      childTraceparent(),
      childTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"),
    ];
    for (let i = 0; i < 2000; i++) {
      const id = i % 3 === 0 ? odd[i % odd.length]! : newMessageId();
      const correlation =
        i % 4 === 0 ? undefined : i % 4 === 1 ? id : i % 2 ? newMessageId() : odd[(i >> 2) % odd.length]!;
      const deadline = i % 5 === 0 ? undefined : Date.now() + i * 1000;
      const tp = tps[i % 3];
      const body = i % 7 === 0 ? "ü €\uFFFD" : { i, text: "x".repeat(i % 50) };
      const data = envelope4(body, id, deadline, "Echo@621f076764e32737", correlation, tp);
      expect(data[0]).toBe(4);
      const wire = read(data);
      expect(wire).toMatchObject({
        version: 4,
        messageId: id,
        correlationId: correlation === undefined || correlation === id ? "" : correlation,
        deadline: deadline ?? 0,
        schema: "621f0767",
        traceparent: tp ?? "",
      });
      expect(decodeBody(data, wire, "Echo", "request")).toEqual(body);
      // The body's offset counts bytes: a reader of the raw payload (dead letters) finds the JSON there.
      expect(JSON.parse(Buffer.from(data).subarray(wire.body).toString("utf8"))).toEqual(body);
      // And a plain subscriber finds it with docs/runtime.md's lines.
      expect(JSON.parse(Buffer.from(plainBody(data)).toString("utf8"))).toEqual(body);
      // As nats.js delivers a payload: a Uint8Array viewing part of a larger chunk, not a Buffer.
      // The id is made from the view's own bytes when first read, not from the chunk's start.
      const chunk = new Uint8Array(data.length + 9).fill(0xee);
      chunk.set(data, 5);
      const view = read(chunk.subarray(5, 5 + data.length));
      expect(view.messageId).toBe(id);
      expect([
        view.correlationId,
        view.deadline,
        view.schema,
        view.traceparent,
        view.body,
        view.json,
      ]).toEqual([wire.correlationId, wire.deadline, wire.schema, wire.traceparent, wire.body, wire.json]);
    }
  });

  it("refuses newer versions and malformed envelopes with typed errors, at every truncation", () => {
    for (const v of [6, 7, 8]) expect(() => read(Uint8Array.of(v, 0x10))).toThrow(WireVersionError);
    for (const v of [1, 2, 3]) expect(() => read(Uint8Array.of(v, 0x10))).toThrow(InvalidMessageError);
    const full = envelope4(
      value,
      "order;42",
      Date.now() + 5000,
      "Echo@621f076764e32737",
      "chain",
      childTraceparent(),
    );
    const head = full.length - 23;
    for (let n = 1; n < head; n++) {
      expect(() => read(full.subarray(0, n)), `cut at ${n}`).toThrow(InvalidMessageError);
    }
    const issue = (data: Uint8Array) => {
      try {
        read(data);
      } catch (e) {
        return (e as InvalidMessageError).issues[0]?.path;
      }
    };
    expect(issue(Uint8Array.of(4, 0x20))).toBe("(envelope: flags)");
    // The error quotes the envelope's own bytes, also when they are a view into a larger chunk.
    expect(() => read(Uint8Array.of(0xee, 4, 0x20, 0xee).subarray(1, 3))).toThrow('malformed: "0420"');
    expect(issue(Uint8Array.of(4, 0x08, 0))).toBe("(envelope: message id)");
    expect(issue(Uint8Array.of(4, 0x08, 0, 2, 0x61))).toBe("(envelope: message id)");
    expect(issue(Uint8Array.of(4, 0x08, 0, 1, 0xff))).toBe("(envelope: message id)");
    expect(issue(Uint8Array.of(4, 0x00, ...new Array(12).fill(0), 0x00))).toBeUndefined();
    // A body that is not UTF-8 is refused when decoded; a body holding a real U+FFFD is not.
    const notUtf8 = Buffer.concat([
      envelope4(undefined, newMessageId(), undefined, "E@00000000", undefined, undefined).subarray(0, 18),
      Buffer.of(0x22, 0xff, 0x22),
    ]);
    const wire = read(notUtf8);
    expect(() => decodeBody(notUtf8, wire, "Echo", "event")).toThrow(InvalidMessageError);
    const replacement = envelope4("\uFFFD", newMessageId(), undefined, "E@00000000", undefined, undefined);
    expect(decodeBody(replacement, read(replacement), "Echo", "event")).toBe("\uFFFD");
    // No JSON text starts with a byte below 9: a plain payload is never read as a binary envelope.
    for (const plain of ["{}", " {}", "\t[]", "\n1", '"x"', "null"])
      expect(read(bytes(plain)).version).toBe(0);
  });

  it("an id longer than 65,535 bytes, or a traceparent that is not version 00, is a TypeError at the sender", () => {
    expect(() => envelope4(value, "x".repeat(65_536), undefined, "E@00000000", undefined, undefined)).toThrow(
      TypeError,
    );
    expect(() => envelope4(value, newMessageId(), undefined, "E@00000000", undefined, "garbage")).toThrow(
      TypeError,
    );
  });
});

describe("wire version 5: a request that asks for an echoed reply", () => {
  const value = { text: "hello", n: 42 };
  const hex = (data: Uint8Array) => Buffer.from(data).toString("hex");
  const read = (data: Uint8Array) => readWire({ data, headers: {} }, "Echo", "request");
  const json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("hex");

  it("is version 4's layout with byte 5, on a request with a drawn id; the reply starts with 05 and the 12 id bytes", () => {
    const request = envelope4(
      value,
      "AAECAwQFBgcICQoL",
      Date.UTC(2100, 0, 1),
      "Echo@621f076764e32737",
      undefined,
      undefined,
      true,
    );
    // 05 | flags 0x11 (schema, deadline) | 12 id bytes | 621f0767 | 6 deadline bytes | JSON: 24 bytes, as version 4.
    expect(hex(request)).toBe(
      `0511000102030405060708090a0b621f0767${Date.UTC(2100, 0, 1).toString(16).padStart(12, "0")}${json(value)}`,
    );
    expect(asksEcho(request)).toBe(true);
    expect(read(request)).toMatchObject({ version: 5, messageId: "AAECAwQFBgcICQoL", schema: "621f0767" });
    expect(decodeBody(request, read(request), "Echo", "request")).toEqual(value);
    // The reply: 05, the request's 12 id bytes, the JSON (13 bytes in front of the body).
    const reply = encodeReply(request, { text: "hello", n: 43 });
    expect(ECHO_BYTES).toBe(13);
    expect(hex(reply)).toBe(`05000102030405060708090a0b${json({ text: "hello", n: 43 })}`);
    expect(echoes(reply, request)).toBe(true);
    expect(JSON.parse(Buffer.from(reply).subarray(ECHO_BYTES).toString("utf8"))).toEqual({
      text: "hello",
      n: 43,
    });
  });

  it("a caller's own id, an event, version 4 and a plain request ask for no echo; their replies are bare JSON", () => {
    // A caller's id may repeat, so its request stays version 4 (a reply subject of its own).
    const own = envelope4(
      value,
      "order-42",
      Date.now() + 5000,
      "Echo@621f076764e32737",
      undefined,
      undefined,
      true,
    );
    expect(own[0]).toBe(4);
    const v4 = envelope4(
      value,
      newMessageId(),
      Date.now() + 5000,
      "Echo@621f076764e32737",
      undefined,
      undefined,
    );
    expect(v4[0]).toBe(4);
    for (const request of [own, v4, bytes(JSON.stringify(value)), new Uint8Array(0)]) {
      expect(asksEcho(request)).toBe(false);
      expect(Buffer.from(encodeReply(request, value)).toString("utf8")).toBe(JSON.stringify(value));
    }
  });

  /** A version 5 request with a freshly drawn id. */
  const v5 = () =>
    envelope4(value, newMessageId(), Date.now() + 5000, "Echo@621f076764e32737", undefined, undefined, true);

  it("a reply echoes only its own request: another id, a bare body, a cut echo or a version 4 reply does not", () => {
    for (let i = 0; i < 500; i++) {
      const request = v5();
      const other = v5();
      const reply = encodeReply(request, { i });
      expect(echoes(reply, request)).toBe(true);
      expect(echoes(reply, other)).toBe(false);
      expect(echoes(encodeReply(other, { i }), request)).toBe(false);
      expect(echoes(bytes(JSON.stringify({ i })), request)).toBe(false);
      expect(echoes(reply.subarray(0, ECHO_BYTES - 1), request)).toBe(false);
      const v4 = Buffer.from(reply);
      v4[0] = 4;
      expect(echoes(v4, request)).toBe(false);
    }
  });

  it("a version 5 envelope with a text id is malformed; every truncation is a typed error", () => {
    const issue = (data: Uint8Array) => {
      try {
        read(data);
      } catch (e) {
        return (e as InvalidMessageError).issues[0]?.path;
      }
    };
    expect(issue(Uint8Array.of(5, 0x08, 0, 1, 0x61))).toBe("(envelope: flags)");
    expect(issue(Uint8Array.of(5, 0x20))).toBe("(envelope: flags)");
    const full = envelope4(
      value,
      newMessageId(),
      Date.now() + 5000,
      "Echo@621f076764e32737",
      "chain",
      childTraceparent(),
      true,
    );
    expect(full[0]).toBe(5);
    const head = full.length - 23;
    for (let n = 1; n < head; n++) {
      expect(() => read(full.subarray(0, n)), `cut at ${n}`).toThrow(InvalidMessageError);
    }
    expect(read(full)).toMatchObject({ version: 5, correlationId: "chain" });
  });
});

describe("wire version 2 header", () => {
  it("writes `2;<id>;<deadline base 36>;<schema hash>[;<correlation id>]`, byte for byte", () => {
    const h: Record<string, string> = {};
    writeWire(h, "AAECAwQFBgcICQoL", Date.UTC(2100, 0, 1), "Echo@621f076764e32737", "c-1");
    expect(h).toEqual({ Catga: "2;AAECAwQFBgcICQoL;1gcmxpmo0;621f0767;c-1" });
    // An event: no deadline; a message that starts its chain: no correlation id.
    writeWire(h, "AAECAwQFBgcICQoL", undefined, "Tick@6a1a7c42c8a1250e", "AAECAwQFBgcICQoL");
    expect(h).toEqual({ Catga: "2;AAECAwQFBgcICQoL;;6a1a7c42" });
    // Ids a caller chose may hold the separator: percent-encoded, and read back as they were.
    writeWire(h, "a;b%c", undefined, "Tick@6a1a7c42c8a1250e", "x;y");
    expect(h.Catga).toBe("2;a%3Bb%25c;;6a1a7c42;x%3By");
    expect(readWire(headersOnly(h), "Tick", "event")).toEqual({
      version: 2,
      messageId: "a;b%c",
      correlationId: "x;y",
      deadline: 0,
      schema: "6a1a7c42",
      traceparent: "",
      body: 0,
    });
  });

  it("reads version 1 headers and plain messages", () => {
    expect(
      readWire(
        headersOnly({
          "Catga-Message-Id": "m-1",
          "Catga-Correlation-Id": "c-1",
          "Catga-Deadline": "4102444800000",
          "Catga-Schema": "Echo@621f076764e32737",
        }),
        "Echo",
        "request",
      ),
    ).toEqual({
      version: 1,
      messageId: "m-1",
      correlationId: "c-1",
      deadline: 4102444800000,
      schema: "621f0767",
      traceparent: "",
      body: 0,
    });
    expect(readWire(headersOnly({}), "Echo", "request")).toMatchObject({
      version: 0,
      messageId: "",
      deadline: 0,
    });
  });

  it("refuses a newer version and malformed fields with typed errors", () => {
    expect(() => readWire(headersOnly({ Catga: "6;x;;" }), "Echo", "request")).toThrow(WireVersionError);
    for (const bad of [
      "",
      // Version 5 is binary: a header claiming it is malformed.
      "5;x;;",
      "2",
      "3;x;;",
      "4;x;;",
      "2;x",
      "2;x;;;c;d",
      "2;x;Z;",
      "2;x;;ABC",
      "2;%zz;;",
      "two;x;;",
    ]) {
      expect(() => readWire(headersOnly({ Catga: bad }), "Echo", "request")).toThrow(InvalidMessageError);
    }
    expect(() => readWire(headersOnly({ Catga: "2;x;;" }), "Echo", "request")).not.toThrow();
  });

  it("message ids are 16 base64url characters, all distinct; schema hashes 8 hex digits", () => {
    const ids = new Set(Array.from({ length: 20_000 }, () => newMessageId()));
    expect(ids.size).toBe(20_000);
    for (const id of [...ids].slice(0, 100)) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(schemaHash("Echo@621f076764e32737")).toBe("621f0767");
  });
});
