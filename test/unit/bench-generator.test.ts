import { describe, expect, it } from "vitest";
import { generateTopology } from "../../bench/compiler/generate.js";
import { checkSource } from "../../compiler/check/index.js";
import { parse } from "../../dsl/index.js";

describe("bench generator", () => {
  it("bench generator — 10 services parse and check with no diagnostics", () => {
    const text = generateTopology(10);
    expect(parse(text, "bench.catga").diagnostics).toEqual([]);
    const checked = checkSource(text, "bench.catga");
    expect(checked.diagnostics).toEqual([]);
    expect(checked.value?.services).toHaveLength(10);
    expect(checked.value?.services.filter((s) => s.mode === "leader")).toHaveLength(1);
    expect(checked.value?.sagas).toHaveLength(1);
  });

  it("bench generator — output is deterministic and grows with the size", () => {
    expect(generateTopology(12)).toBe(generateTopology(12));
    expect(generateTopology(40).length).toBeGreaterThan(3 * generateTopology(12).length);
  });

  it("bench generator — refuses sizes the saga wiring cannot fill", () => {
    expect(() => generateTopology(3)).toThrow(RangeError);
  });
});
