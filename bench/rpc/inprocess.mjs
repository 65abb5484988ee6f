/**
 * The runtime's own work per message, in one process and without NATS: what bench/rpc's Catga
 * contender does per request or event apart from the NATS client and the server (issue 16). A stub
 * transport answers a request at once with the echo's reply (caller), or deliveries are made by
 * hand to a service host whose replies are dropped (echo, sink). Prints µs per message, three
 * times after a warm-up.
 *
 *   node --import tsx bench/rpc/inprocess.mjs caller|echo|sink
 *
 * Needs the generated bench code in out/bench-rpc (any bench/rpc/run.ts run writes it) and
 * `npm run build`. To measure another build, point RT at its runtime/dist/index.js and OUT at its
 * out/bench-rpc: `RT=../base/runtime/dist/index.js OUT=../base/out/bench-rpc node --import tsx …`.
 * The echo and sink figures include building each delivered message (about 0.5 µs).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = resolve(import.meta.dirname, "../..");
const RT = process.env.RT ? pathToFileURL(resolve(process.env.RT)).href : "catga/runtime";
const OUT = resolve(process.env.OUT ?? `${ROOT}/out/bench-rpc`);
const runtime = await import(RT);
const generated = await import(pathToFileURL(`${OUT}/client.ts`).href);
const kind = process.argv[2] ?? "caller";

const REPLY = Buffer.from(JSON.stringify({ text: "hello", n: 42 }));
const handlers = new Map();
const stub = {
  kind: "nats",
  request: (subject) => Promise.resolve({ data: REPLY, headers: {}, subject }),
  publish() {},
  subscribe(subject, _options, handler) {
    handlers.set(subject, handler);
    return { unsubscribe() {}, drain: async () => {} };
  },
  flush: async () => {},
  drain: async () => {},
  close: async () => {},
  isConnected: () => true,
  maxPayload: () => 1 << 20,
  streams() {
    throw new Error("no streams here");
  },
  unmatchedReplies: () => 0,
};

let run;
let stop = async () => {};
if (kind === "caller") {
  const bus = runtime.createBus(stub);
  const payload = { text: "hello", n: 42 };
  // 100 loops, as bench/rpc's caller at c=100.
  run = async (n) => {
    const t = performance.now();
    let left = n;
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (left-- > 0) await runtime.sendRequest(bus, generated.messages.Echo, payload, {});
      }),
    );
    return ((performance.now() - t) * 1000) / n;
  };
} else {
  const wiring = runtime.parseWiring(JSON.parse(readFileSync(`${OUT}/wiring.json`, "utf8")));
  const echo = kind === "echo";
  const definition = echo
    ? generated.defineEcho({ handlers: { echo: (input) => input } })
    : generated.defineSink({ events: { tick: () => {} } });
  const host = await runtime.startHost({
    wiring,
    service: echo ? "echo" : "sink",
    definition,
    transport: stub,
  });
  stop = () => host.stop({ graceMs: 10 });
  const subject = echo ? "bench.query.Echo" : "bench.event.Tick";
  const deliver = handlers.get(subject);
  run = async (n) => {
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      const line = echo
        ? `C3;AbCdEfGhIjKlMnOp;${(Date.now() + 5000).toString(36)};621f0767`
        : "C3;AbCdEfGhIjKlMnOp;;6a1a7c42";
      const data = Buffer.from(`${line}\n{"text":"hello","n":42}`);
      deliver({ data, reply: echo ? "_INBOX.bench.1" : undefined, subject, headers: {} });
    }
    return ((performance.now() - t) * 1000) / n;
  };
}
await run(200_000);
for (let i = 0; i < 3; i++) console.log(`${kind}: ${(await run(500_000)).toFixed(2)} µs/message`);
await stop();
process.exit(0);
