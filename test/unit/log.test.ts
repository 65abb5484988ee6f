import { describe, expect, it } from "vitest";
import { z } from "zod";
import { checkSource } from "../../compiler/check/index.js";
import { buildWiring } from "../../compiler/emit/wiring.js";
import {
  CatgaError,
  createLogger,
  requestHandler,
  type ServiceDefinition,
  sendRequest,
  startMemoryTopology,
} from "../../runtime/index.js";
import { describeError } from "../../runtime/log.js";
import { commandOf } from "../helpers/specs.js";

/**
 * Logs keep what a developer needs to find a failure: a handler's thrown error reaches the caller
 * as its message only (docs/runtime.md, "Errors"), so the instance log carries the stack.
 */
describe("log — errors", () => {
  it("log — an error field carries name, message, code, stack and cause", () => {
    const lines: string[] = [];
    const log = createLogger({ service: "s" }, { sink: (l) => lines.push(l), now: () => 0 });
    const cause = new Error("disk full");
    const error = Object.assign(new Error("cannot save", { cause }), { code: "SAVE" });
    log.error("handler failed", { error });
    const record = JSON.parse(lines[0]!) as { error: Record<string, unknown> };
    expect(record.error.name).toBe("Error");
    expect(record.error.message).toBe("cannot save");
    expect(record.error.code).toBe("SAVE");
    expect(record.error.stack).toContain("log.test.ts");
    expect((record.error.cause as Record<string, unknown>).message).toBe("disk full");
    expect((record.error.cause as Record<string, unknown>).stack).toContain("log.test.ts");
  });

  it("log — a cause chain that loops ends instead of recursing forever", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    (a as { cause?: unknown }).cause = b;
    let depth = 0;
    for (let f = describeError(a); f.cause !== undefined; f = f.cause as Record<string, unknown>) depth++;
    expect(depth).toBe(5);
  });

  it("log — a handler's thrown error is logged with its stack by the instance that ran it", async () => {
    const { value, diagnostics } = checkSource(
      "topology logs\ncommand Boom { n: int } -> string\nservice svc { handles Boom }\n",
      "logs.catga",
    );
    if (value === undefined) throw new Error(diagnostics.map((d) => d.message).join("\n"));
    const wiring = buildWiring(value, { sourceName: "logs.catga" });
    const Boom = commandOf(wiring, "Boom", z.object({ n: z.number().int() }), z.string());
    const impl = {
      boom(): string {
        throw new TypeError("boom in the handler");
      },
    };
    const definition: ServiceDefinition = {
      topology: "logs",
      service: "svc",
      mode: "p2p",
      emits: {},
      sends: {},
      handlers: { Boom: requestHandler(Boom, impl, "boom") },
      events: {},
      jobs: {},
      sagas: {},
    };
    const lines: string[] = [];
    const topology = await startMemoryTopology({
      wiring,
      definitions: { svc: definition },
      log: createLogger({}, { sink: (l) => lines.push(l) }),
    });
    try {
      const failure = await sendRequest(topology.bus(), Boom, { n: 1 }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(CatgaError);
      expect((failure as CatgaError).message).toContain("boom in the handler");
      const logged = lines
        .map((l) => JSON.parse(l) as { msg: string; instance?: string; error?: { stack?: string } })
        .find((r) => r.msg === "handler failed");
      expect(logged?.instance).toBe("svc-0");
      expect(logged?.error?.stack).toMatch(/TypeError: boom in the handler\n\s+at .*log\.test\.ts/);
    } finally {
      await topology.stop();
    }
  });
});
