import { describe, expect, it } from "vitest";
import { childTraceparent } from "../../runtime/_wire.js";

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
