import { describe, expect, it } from "vitest";
import { checkedService, DefinitionMismatchError } from "../../runtime/host/_definition.js";
import { conformanceWiring, echoDefinition, newProbe } from "../fixtures/conformance.js";

/**
 * Names from outside the code (a service name from the environment, a message name from a
 * subject) are looked up as own properties: `constructor`, `toString` or `__proto__` must miss,
 * not find a member of Object.prototype.
 */
describe("own-property lookups", () => {
  const wiring = conformanceWiring();
  const def = echoDefinition(wiring, newProbe());

  it("own lookups — a service named after an Object.prototype member is not in the wiring", () => {
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      expect(() => checkedService(wiring, name, def), name).toThrow(DefinitionMismatchError);
    }
  });

  it("own lookups — a handler inherited from a prototype is no handler", () => {
    const inherited = { ...def, handlers: Object.create(def.handlers) as typeof def.handlers };
    expect(() => checkedService(wiring, "echo", inherited)).toThrow(/no handler for Echo/);
    expect(checkedService(wiring, "echo", def).handles.length).toBeGreaterThan(0);
  });
});
