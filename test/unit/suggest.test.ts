import { describe, expect, it } from "vitest";
import { closest as dslClosest } from "../../dsl/index.js";
import { closest as runtimeClosest } from "../../runtime/_suggest.js";

/**
 * "Did you mean" exists twice: dsl/suggest.ts (the compiler and the tooling) and runtime/_suggest.ts
 * (the runtime's command line, which may not import dsl/). The two must agree.
 */
describe("suggest", () => {
  const cases: [string, string[]][] = [
    ["sgas", ["run", "sagas", "dead-letters"]],
    ["stauts", ["up", "status", "kill", "scale", "down", "run", "sagas", "dead-letters"]],
    ["dead-leters", ["run", "sagas", "dead-letters"]],
    ["x", ["run", "sagas"]],
    ["ordr", ["order", "inventory", "payment"]],
    ["order-9", ["order-0", "order-1", "payment-0"]],
    ["Order", ["order", "ORDER"]],
    ["biuld", ["check", "fmt", "build", "help"]],
    ["", ["a"]],
    ["replay", ["replay"]],
    ["completely-different", ["run", "sagas"]],
  ];

  it("suggest — the runtime's copy agrees with the dsl's on every case", () => {
    for (const [word, candidates] of cases) {
      expect(runtimeClosest(word, candidates), word).toBe(dslClosest(word, candidates));
    }
  });

  it("suggest — typos are suggested, distant words are not", () => {
    expect(runtimeClosest("sgas", ["run", "sagas", "dead-letters"])).toBe("sagas");
    expect(runtimeClosest("stauts", ["status", "scale"])).toBe("status");
    expect(runtimeClosest("order-9", ["order-0", "order-1"])).toBe("order-0");
    expect(runtimeClosest("completely-different", ["run", "sagas"])).toBeUndefined();
  });
});
