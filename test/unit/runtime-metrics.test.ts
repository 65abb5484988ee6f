import { describe, expect, it } from "vitest";
import { createLogger } from "../../runtime/log.js";
import { Registry } from "../../runtime/metrics.js";

describe("metrics", () => {
  it("metrics — renders counters, gauges and cumulative histogram buckets in the text format", () => {
    const r = new Registry();
    const handled = r.counter("catga_handled_total", "Messages handled.");
    const inFlight = r.gauge("catga_in_flight", "Messages being handled.");
    const duration = r.histogram("catga_duration_seconds", "Handling time.", [0.1, 1]);
    handled.inc({ message: "B" });
    handled.inc({ message: "A" }, 2);
    inFlight.inc({ message: "A" });
    duration.observe({ message: "A" }, 0.05);
    duration.observe({ message: "A" }, 0.5);
    duration.observe({ message: "A" }, 3);
    expect(r.render()).toBe(
      [
        "# HELP catga_duration_seconds Handling time.",
        "# TYPE catga_duration_seconds histogram",
        'catga_duration_seconds_bucket{le="0.1",message="A"} 1',
        'catga_duration_seconds_bucket{le="1",message="A"} 2',
        'catga_duration_seconds_bucket{le="+Inf",message="A"} 3',
        'catga_duration_seconds_sum{message="A"} 3.55',
        'catga_duration_seconds_count{message="A"} 3',
        "# HELP catga_handled_total Messages handled.",
        "# TYPE catga_handled_total counter",
        'catga_handled_total{message="A"} 2',
        'catga_handled_total{message="B"} 1',
        "# HELP catga_in_flight Messages being handled.",
        "# TYPE catga_in_flight gauge",
        'catga_in_flight{message="A"} 1',
        "",
      ].join("\n"),
    );
    expect(handled.get({ message: "A" })).toBe(2);
    expect(duration.count({ message: "A" })).toBe(3);
  });

  it("metrics — a bound series counts into the labelled series and appears only once used", () => {
    const r = new Registry();
    const handled = r.counter("h_total", "h");
    const inFlight = r.gauge("f", "f");
    const duration = r.histogram("d_seconds", "d", [1]);
    const boundHandled = handled.series({ message: "A", outcome: "ok" });
    const boundFlight = inFlight.series({ message: "A" });
    const boundDuration = duration.series({ message: "A" });
    expect(r.render()).not.toContain("{");
    handled.inc({ outcome: "ok", message: "A" });
    boundHandled.inc();
    boundHandled.inc(3);
    boundFlight.inc();
    boundFlight.inc();
    boundFlight.dec();
    boundDuration.observe(0.5);
    boundDuration.observe(2);
    expect(handled.get({ message: "A", outcome: "ok" })).toBe(5);
    expect(inFlight.get({ message: "A" })).toBe(1);
    expect(duration.count({ message: "A" })).toBe(2);
    expect(r.render()).toContain('d_seconds_bucket{le="1",message="A"} 1');
    boundFlight.set(7);
    expect(inFlight.get({ message: "A" })).toBe(7);
  });

  it("metrics — escapes label values and refuses a name reused with another type", () => {
    const r = new Registry();
    r.counter("x_total", "x").inc({ v: 'a"b\\c\nd' });
    expect(r.render()).toContain('x_total{v="a\\"b\\\\c\\nd"} 1');
    expect(() => r.gauge("x_total", "again")).toThrow(/already a counter/);
  });
});

describe("log", () => {
  it("log — writes one JSON line with bound fields, expanded errors and no crash on cycles", () => {
    const lines: string[] = [];
    const log = createLogger(
      { service: "order" },
      { sink: (l) => lines.push(l), now: () => 0, level: "info" },
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    log
      .child({ instance: "i1" })
      .warn("slow", { error: Object.assign(new Error("boom"), { code: "E1" }), cyclic, n: 1n });
    log.debug("dropped");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      time: "1970-01-01T00:00:00.000Z",
      level: "warn",
      msg: "slow",
      service: "order",
      instance: "i1",
      error: {
        name: "Error",
        message: "boom",
        code: "E1",
        stack: expect.stringContaining("runtime-metrics.test.ts"),
      },
      cyclic: { self: "[circular]" },
      n: "1",
    });
  });
});

describe("errors", () => {
  it("errors — a DomainError from another copy of the runtime still travels as a DomainError", async () => {
    const { toWireError, fromWireError, DomainError } = await import("../../runtime/errors.js");
    class ForeignDomainError extends Error {
      override name = "DomainError";
      constructor(
        readonly code: string,
        message: string,
        readonly details?: unknown,
      ) {
        super(message);
      }
    }
    const wire = toWireError(new ForeignDomainError("PAYMENT_DECLINED", "card declined", { limit: 1000 }));
    expect(wire).toEqual({
      name: "DomainError",
      code: "PAYMENT_DECLINED",
      message: "card declined",
      details: { limit: 1000 },
    });
    expect(fromWireError(wire)).toBeInstanceOf(DomainError);
    expect(toWireError(new Error("boom"))).toEqual({ name: "CatgaError", code: "INTERNAL", message: "boom" });
  });
});
