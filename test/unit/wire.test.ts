import { describe, expect, it } from "vitest";
import { childTraceparent, newMessageId, readWire, schemaHash, writeWire } from "../../runtime/_wire.js";
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
    expect(readWire(h, "Tick", "event")).toEqual({
      version: 2,
      messageId: "a;b%c",
      correlationId: "x;y",
      deadline: 0,
      schema: "6a1a7c42",
    });
  });

  it("reads version 1 headers and plain messages", () => {
    expect(
      readWire(
        {
          "Catga-Message-Id": "m-1",
          "Catga-Correlation-Id": "c-1",
          "Catga-Deadline": "4102444800000",
          "Catga-Schema": "Echo@621f076764e32737",
        },
        "Echo",
        "request",
      ),
    ).toEqual({
      version: 1,
      messageId: "m-1",
      correlationId: "c-1",
      deadline: 4102444800000,
      schema: "621f0767",
    });
    expect(readWire({}, "Echo", "request")).toMatchObject({ version: 0, messageId: "", deadline: 0 });
  });

  it("refuses a newer version and malformed fields with typed errors", () => {
    expect(() => readWire({ Catga: "3;x;;" }, "Echo", "request")).toThrow(WireVersionError);
    for (const bad of ["", "2", "2;x", "2;x;;;c;d", "2;x;Z;", "2;x;;ABC", "2;%zz;;", "two;x;;"]) {
      expect(() => readWire({ Catga: bad }, "Echo", "request")).toThrow(InvalidMessageError);
    }
    expect(() => readWire({ Catga: "2;x;;" }, "Echo", "request")).not.toThrow();
  });

  it("message ids are 16 base64url characters, all distinct; schema hashes 8 hex digits", () => {
    const ids = new Set(Array.from({ length: 20_000 }, () => newMessageId()));
    expect(ids.size).toBe(20_000);
    for (const id of [...ids].slice(0, 100)) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(schemaHash("Echo@621f076764e32737")).toBe("621f0767");
  });
});
