import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/check/index.js";
import { type DiffCode, diffSources, isBreaking } from "../../compiler/diff/index.js";
import { emitAll } from "../../compiler/emit/index.js";
import { buildWiring } from "../../compiler/emit/wiring.js";
import { createBus } from "../../runtime/bus.js";
import { startHost } from "../../runtime/host.js";
import {
  type EventSpec,
  InvalidMessageError,
  type RequestSpec,
  type ServiceDefinition,
} from "../../runtime/index.js";
import { createLogger } from "../../runtime/log.js";
import { publishEvent, sendRequest } from "../../runtime/messaging.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import type { Wiring } from "../../runtime/wiring.js";
import { type NatsServer, startNats } from "../harness/nats.js";

/** What the wire carries of a schema id (`Put@2ba721f0e85ab441` → `2ba721f0`, docs/runtime.md "The wire"). */
const wireSchema = (schemaId: string) => schemaId.slice(schemaId.indexOf("@") + 1, schemaId.indexOf("@") + 9);

/**
 * The runtime agrees with the diff: an old and a new version of one service run on one real
 * nats-server, each with the code `catgac build` generates for it, and each version calls the
 * other (old client → new replica, new client → old replica). For every case the diff's verdict is
 * checked against what happens on the wire: a safe change flows both ways; a wire-breaking change
 * fails in the direction the rule names, with an `InvalidMessageError` for the field the diff
 * points at, and the receiving replica logs both schema ids (its own and the sender's). In no case
 * does a receiver see a value other than the one sent: every field it declares arrives as written.
 */

const BASE = `topology rt

type Item { sku: string, qty: int }

command Put { id: string, items: Item[], note: string? } -> string

service store {
  handles Put
}
`;

type Payload = Record<string, unknown>;

/** What happens when one version calls the other. */
type Outcome = "ok" | { part: "request" | "result"; path: string };

interface Case {
  name: string;
  /** The rule the diff must report for old → new. */
  code: DiffCode;
  edits: [string, string][];
  /** What an old client sends, and what a new one sends. */
  oldSends: Payload;
  newSends: Payload;
  oldToNew: Outcome;
  newToOld: Outcome;
}

const item = (qty: unknown) => ({ sku: "s-1", qty });

const CASES: Case[] = [
  {
    name: "an optional field added",
    code: "D1050",
    edits: [["note: string? }", "note: string?, tag: string? }"]],
    oldSends: { id: "a", items: [item(2)], note: "old" },
    newSends: { id: "b", items: [item(3)], note: "new", tag: "t" },
    oldToNew: "ok",
    newToOld: "ok",
  },
  {
    name: "int widened to float",
    code: "D1051",
    edits: [["qty: int", "qty: float"]],
    oldSends: { id: "a", items: [item(2)] },
    newSends: { id: "b", items: [item(3)] },
    oldToNew: "ok",
    newToOld: "ok",
  },
  {
    name: "a field made optional",
    code: "D1051",
    edits: [["{ id: string,", "{ id: string?,"]],
    oldSends: { id: "a", items: [item(2)] },
    newSends: { id: "b", items: [item(3)] },
    oldToNew: "ok",
    newToOld: "ok",
  },
  {
    name: "a doc comment changed",
    code: "D1056",
    edits: [["command Put", "/// Stores items.\ncommand Put"]],
    oldSends: { id: "a", items: [item(2)] },
    newSends: { id: "b", items: [item(3)], note: "n" },
    oldToNew: "ok",
    newToOld: "ok",
  },
  {
    name: "a required field added",
    code: "D1005",
    edits: [["note: string? }", "note: string?, by: string }"]],
    oldSends: { id: "a", items: [item(2)] },
    newSends: { id: "b", items: [item(3)], by: "me" },
    oldToNew: { part: "request", path: "by" },
    newToOld: "ok",
  },
  {
    name: "a required field removed",
    code: "D1001",
    edits: [["{ id: string, items", "{ items"]],
    oldSends: { id: "a", items: [item(2)] },
    newSends: { items: [item(3)] },
    oldToNew: "ok",
    newToOld: { part: "request", path: "id" },
  },
  {
    name: "a field renamed",
    code: "D1002",
    edits: [["{ id: string,", "{ key: string,"]],
    oldSends: { id: "a", items: [item(2)] },
    newSends: { key: "b", items: [item(3)] },
    oldToNew: { part: "request", path: "key" },
    newToOld: { part: "request", path: "id" },
  },
  {
    name: "a field type changed",
    code: "D1003",
    edits: [["qty: int", "qty: string"]],
    oldSends: { id: "a", items: [item(2)] },
    newSends: { id: "b", items: [item("3")] },
    oldToNew: { part: "request", path: "items.0.qty" },
    newToOld: { part: "request", path: "items.0.qty" },
  },
  {
    name: "an optional field made required",
    code: "D1004",
    edits: [["note: string?", "note: string"]],
    oldSends: { id: "a", items: [item(2)] },
    newSends: { id: "b", items: [item(3)], note: "n" },
    oldToNew: { part: "request", path: "note" },
    newToOld: "ok",
  },
  {
    name: "the result type changed",
    code: "D1006",
    edits: [["-> string", "-> int"]],
    oldSends: { id: "a", items: [item(2)] },
    newSends: { id: "b", items: [item(3)] },
    oldToNew: { part: "result", path: "" },
    newToOld: { part: "result", path: "" },
  },
];

/** One built version: its wiring and the generated message descriptors and service definer. */
interface Version {
  wiring: Wiring;
  put: RequestSpec<Payload, unknown>;
  define(handler: (input: Payload) => unknown): ServiceDefinition;
}

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
let genDir: string;
let server: NatsServer;

/**
 * Builds a version as `catgac build` does and imports its generated code. The folder sits under
 * out/ (ignored by git) so the generated files resolve `zod` from this repository.
 */
async function build(source: string, folder: string): Promise<Version> {
  const { value: model, diagnostics } = checkSource(source, "rt.catga");
  if (model === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  const dir = join(genDir, folder);
  mkdirSync(dir, { recursive: true });
  for (const f of emitAll(model, { sourceName: "rt.catga" })) {
    if (f.path.endsWith(".ts")) writeFileSync(join(dir, f.path), f.content);
  }
  const messages = (await import(pathToFileURL(join(dir, "messages.ts")).href)) as {
    messages: { Put: RequestSpec<Payload, unknown> };
  };
  const services = (await import(pathToFileURL(join(dir, "services.ts")).href)) as {
    defineStore(d: { handlers: { put(input: Payload): unknown } }): ServiceDefinition;
  };
  return {
    wiring: buildWiring(model, { sourceName: "rt.catga" }),
    put: messages.messages.Put,
    define: (handler) => services.defineStore({ handlers: { put: handler } }),
  };
}

/** What one call did: the reply or the error, what the replica saw, and what it logged. */
interface Call {
  reply?: unknown;
  error?: unknown;
  seen: Payload[];
  logs: Record<string, unknown>[];
}

/** A replica of `server` runs `replica`; a client of `client` sends `input`. */
async function call(replica: Version, client: Version, input: Payload, tag: string): Promise<Call> {
  const seen: Payload[] = [];
  const logs: Record<string, unknown>[] = [];
  const resultIsInt = replica.wiring.messages.Put!.result?.name === "int";
  const host = await startHost({
    wiring: replica.wiring,
    service: "store",
    definition: replica.define((received) => {
      seen.push(received);
      return resultIsInt ? (received.items as unknown[]).length : JSON.stringify(received);
    }),
    transport: await natsTransport({ servers: [server.url] }),
    instanceId: `store-${tag}`,
    heartbeatMs: 1000,
    log: createLogger({}, { level: "warn", sink: (line) => logs.push(JSON.parse(line)) }),
  });
  const bus = createBus(await natsTransport({ servers: [server.url] }));
  try {
    const reply = await sendRequest(bus, client.put, input, { timeoutMs: 10_000 });
    return { reply, seen, logs };
  } catch (error) {
    return { error, seen, logs };
  } finally {
    await bus.close();
    await host.stop({ graceMs: 500 });
  }
}

/** Every field the receiver declares arrives as the sender wrote it; the others are dropped. */
function asReceived(sent: Payload, receiver: Version): Payload {
  const declared = new Set(receiver.wiring.messages.Put!.fields.map((f) => f.name));
  return Object.fromEntries(Object.entries(sent).filter(([k]) => declared.has(k)));
}

function expectOutcome(c: Call, outcome: Outcome, sent: Payload, sender: Version, receiver: Version): void {
  const senderId = sender.wiring.messages.Put!.schemaId;
  const receiverId = receiver.wiring.messages.Put!.schemaId;
  if (outcome === "ok") {
    expect(c.error).toBeUndefined();
    expect(c.seen).toEqual([asReceived(sent, receiver)]);
    expect(c.reply).toBe(JSON.stringify(asReceived(sent, receiver)));
    return;
  }
  expect(c.error).toBeInstanceOf(InvalidMessageError);
  const error = c.error as InvalidMessageError;
  expect(error.messageName).toBe("Put");
  expect(error.part).toBe(outcome.part);
  expect(error.issues.map((i) => i.path)).toContain(outcome.path);
  if (outcome.part === "request") {
    // The replica rejected it before the handler ran, and says which two schemas met.
    expect(c.seen).toEqual([]);
    const logged = c.logs.find((l) => l.msg === "invalid message");
    expect(logged).toMatchObject({ message: "Put", schema: receiverId, senderSchema: wireSchema(senderId) });
  } else {
    // The handler ran on what was sent; the caller rejected the reply of the other result type.
    expect(c.seen).toEqual([asReceived(sent, receiver)]);
  }
}

beforeAll(async () => {
  mkdirSync(join(ROOT, "out"), { recursive: true });
  genDir = mkdtempSync(join(ROOT, "out", "diff-runtime-"));
  server = await startNats();
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (genDir) rmSync(genDir, { recursive: true, force: true });
});

describe("diff — the runtime agrees", () => {
  for (const [index, c] of CASES.entries()) {
    it(`diff runtime — ${c.code} ${c.name}: ${c.oldToNew === "ok" && c.newToOld === "ok" ? "flows both ways" : "fails as predicted"}`, {
      timeout: 120_000,
    }, async () => {
      let next = BASE;
      for (const [from, to] of c.edits) {
        expect(next).toContain(from);
        next = next.replace(from, to);
      }
      const diff = diffSources({ source: BASE, file: "old.catga" }, { source: next, file: "new.catga" });
      const finding = diff.findings.find((f) => f.code === c.code);
      expect(finding).toBeDefined();
      const breaking = diff.findings.some((f) => isBreaking(f.class));
      // Safe by the diff ⇔ flows both ways on the wire (with the values in use).
      expect(breaking).toBe(c.oldToNew !== "ok" || c.newToOld !== "ok");

      const oldV = await build(BASE, `${index}-old`);
      const newV = await build(next, `${index}-new`);
      const sameShape = c.code === "D1056";
      expect(oldV.wiring.messages.Put!.schemaId === newV.wiring.messages.Put!.schemaId).toBe(sameShape);

      expectOutcome(await call(newV, oldV, c.oldSends, `${index}-a`), c.oldToNew, c.oldSends, oldV, newV);
      expectOutcome(await call(oldV, newV, c.newSends, `${index}-b`), c.newToOld, c.newSends, newV, oldV);
    });
  }

  it("diff runtime — a widening is safe for the values in use; a value only the new type allows is rejected loudly by an old replica", {
    timeout: 120_000,
  }, async () => {
    const next = BASE.replace("qty: int", "qty: float");
    const oldV = await build(BASE, "widen-old");
    const newV = await build(next, "widen-new");
    const sent = { id: "c", items: [item(2.5)] };
    const c = await call(oldV, newV, sent, "widen");
    expectOutcome(c, { part: "request", path: "items.0.qty" }, sent, newV, oldV);
  });
});

const EVENTS = `topology rtev

event Done { id: string, n: int }

service src {
  emits Done
}

service sink {
  on Done
}
`;

/** One built version of the event topology. */
interface EventVersion {
  wiring: Wiring;
  done: EventSpec<Payload>;
  define(handler: (event: Payload) => void): ServiceDefinition;
}

async function buildEvents(source: string, folder: string): Promise<EventVersion> {
  const { value: model, diagnostics } = checkSource(source, "rtev.catga");
  if (model === undefined) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  const dir = join(genDir, folder);
  mkdirSync(dir, { recursive: true });
  for (const f of emitAll(model, { sourceName: "rtev.catga" })) {
    if (f.path.endsWith(".ts")) writeFileSync(join(dir, f.path), f.content);
  }
  const messages = (await import(pathToFileURL(join(dir, "messages.ts")).href)) as {
    messages: { Done: EventSpec<Payload> };
  };
  const services = (await import(pathToFileURL(join(dir, "services.ts")).href)) as {
    defineSink(d: { events: { done(event: Payload): void } }): ServiceDefinition;
  };
  return {
    wiring: buildWiring(model, { sourceName: "rtev.catga" }),
    done: messages.messages.Done,
    define: (handler) => services.defineSink({ events: { done: handler } }),
  };
}

/** A `sink` replica of `consumer` receives `event` as an emitter of `emitter` publishes it. */
async function deliver(consumer: EventVersion, emitter: EventVersion, event: Payload, tag: string) {
  const seen: Payload[] = [];
  const logs: Record<string, unknown>[] = [];
  const host = await startHost({
    wiring: consumer.wiring,
    service: "sink",
    definition: consumer.define((received) => {
      seen.push(received);
    }),
    transport: await natsTransport({ servers: [server.url] }),
    instanceId: `sink-${tag}`,
    heartbeatMs: 1000,
    log: createLogger({}, { level: "warn", sink: (line) => logs.push(JSON.parse(line)) }),
  });
  const bus = createBus(await natsTransport({ servers: [server.url] }));
  try {
    await publishEvent(bus, emitter.done, event);
    const until = Date.now() + 10_000;
    while (seen.length === 0 && !logs.some((l) => l.msg === "invalid event") && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return { seen, logs };
  } finally {
    await bus.close();
    await host.stop({ graceMs: 500 });
  }
}

describe("diff — the runtime agrees for events", () => {
  it("diff runtime — D1050 an optional field added to an event: delivered both ways, each declared field as sent", {
    timeout: 120_000,
  }, async () => {
    const next = EVENTS.replace("n: int }", "n: int, why: string? }");
    expect(
      diffSources({ source: EVENTS, file: "a" }, { source: next, file: "b" }).findings.map((f) => f.code),
    ).toEqual(["D1050"]);
    const oldV = await buildEvents(EVENTS, "ev-safe-old");
    const newV = await buildEvents(next, "ev-safe-new");
    expect((await deliver(newV, oldV, { id: "a", n: 1 }, "s1")).seen).toEqual([{ id: "a", n: 1 }]);
    expect((await deliver(oldV, newV, { id: "b", n: 2, why: "w" }, "s2")).seen).toEqual([{ id: "b", n: 2 }]);
  });

  it("diff runtime — D1005 a required field added to an event: a new consumer rejects what an old emitter sends and logs both schema ids", {
    timeout: 120_000,
  }, async () => {
    const next = EVENTS.replace("n: int }", "n: int, by: string }");
    const findings = diffSources({ source: EVENTS, file: "a" }, { source: next, file: "b" }).findings;
    expect(findings.map((f) => [f.code, f.class])).toEqual([["D1005", "wire"]]);
    const oldV = await buildEvents(EVENTS, "ev-wire-old");
    const newV = await buildEvents(next, "ev-wire-new");
    const rejected = await deliver(newV, oldV, { id: "a", n: 1 }, "w1");
    expect(rejected.seen).toEqual([]);
    const logged = rejected.logs.find((l) => l.msg === "invalid event") as { error?: { message?: string } };
    expect(logged).toMatchObject({
      message: "Done",
      schema: newV.wiring.messages.Done!.schemaId,
      senderSchema: wireSchema(oldV.wiring.messages.Done!.schemaId),
    });
    expect(JSON.stringify(logged.error)).toContain("by");
    expect((await deliver(oldV, newV, { id: "b", n: 2, by: "me" }, "w2")).seen).toEqual([{ id: "b", n: 2 }]);
  });
});
