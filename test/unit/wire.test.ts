import { describe, expect, it } from "vitest";
import {
  childTraceparent,
  decode,
  decodeBody,
  envelope,
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
    expect(() => readWire(payload("C4;x;;\n{}"), "Echo", "request")).toThrow(WireVersionError);
    expect(() => readWire(payload("C12;x"), "Echo", "request")).toThrow(WireVersionError);
    for (const bad of [
      "C",
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
    expect(() => readWire(headersOnly({ Catga: "4;x;;" }), "Echo", "request")).toThrow(WireVersionError);
    for (const bad of ["", "2", "3;x;;", "2;x", "2;x;;;c;d", "2;x;Z;", "2;x;;ABC", "2;%zz;;", "two;x;;"]) {
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
