import { describe, expect, it } from "vitest";
import { ConfigError, readRunConfig } from "../../runtime/config.js";

const base = { CATGA_WIRING: "wiring.json", CATGA_SERVICE: "order" };

describe("catga run configuration: the wire version", () => {
  it("is the runtime's default unless --wire-version or CATGA_WIRE_VERSION says 2, 3, 4 or 5; the flag wins", () => {
    expect(readRunConfig({}, base).wireVersion).toBeUndefined();
    expect(readRunConfig({}, { ...base, CATGA_WIRE_VERSION: "" }).wireVersion).toBeUndefined();
    expect(readRunConfig({}, { ...base, CATGA_WIRE_VERSION: "3" }).wireVersion).toBe(3);
    expect(readRunConfig({ "wire-version": "2" }, { ...base, CATGA_WIRE_VERSION: "3" }).wireVersion).toBe(2);
    expect(readRunConfig({ "wire-version": "4" }, base).wireVersion).toBe(4);
    expect(readRunConfig({}, { ...base, CATGA_WIRE_VERSION: "5" }).wireVersion).toBe(5);
  });

  it("anything else is a ConfigError naming the flag, the variable and the choices", () => {
    for (const bad of ["1", "6", "v3", "3.0", " 3"]) {
      expect(() => readRunConfig({}, { ...base, CATGA_WIRE_VERSION: bad }), bad).toThrow(ConfigError);
    }
    expect(() => readRunConfig({ "wire-version": "6" }, base)).toThrow(
      "--wire-version / CATGA_WIRE_VERSION is '6'; expected 5 (the default), or 4, 3 or 2 while replicas of an older build still run",
    );
  });
});
