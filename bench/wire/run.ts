/**
 * The price of the wire's headers alone (`npm run bench:wire`): one process publishes messages
 * through Catga's NATS transport to a subscription of its own on one nats-server, and the
 * subscriber reads their metadata as an instance does (`readWire`, which reads wire version 1's
 * headers too) and parses the JSON body. Five variants differ only in where the metadata goes:
 * nowhere, wire version 1's four headers (a UUID message id, a new W3C traceparent, the decimal
 * deadline, the full schema id: what Catga sent before 2026-12-02), version 2's one `Catga` header,
 * version 3's envelope line before the JSON in the payload (no headers) and version 4's binary
 * envelope in its place. They take turns in
 * blocks (`--blocks` of each, `--messages` per block), so a busy moment of a shared machine lands
 * on all of them; the table shows the medians of the blocks: this process's CPU and nats-server's
 * per message, and the bytes the metadata adds.
 *
 *   npm run bench:wire -- [--blocks 7] [--messages 20000]
 */
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import {
  childTraceparent,
  decodeBody,
  envelope,
  envelope4,
  newMessageId,
  readWire,
  writeWire,
} from "../../runtime/_wire.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import type { Headers } from "../../runtime/transport/types.js";
import { startNats } from "../../test/harness/nats.js";
import { machine, median, serverCpu, table } from "../_shared/orchestrator.js";

const { values } = parseArgs({
  options: { blocks: { type: "string", default: "7" }, messages: { type: "string", default: "20000" } },
});
const BLOCKS = Number(values.blocks);
const MESSAGES = Number(values.messages);
const SCHEMA = "Echo@621f076764e32737";
const VALUE = { text: "hello", n: 42 };
const BODY = Buffer.from(JSON.stringify(VALUE));

type Variant = "none" | "v1" | "v2" | "v3" | "v4";
type Message = { data: Uint8Array; headers: Headers | undefined };
const VARIANTS: Record<Variant, () => Message> = {
  none: () => ({ data: Buffer.from(JSON.stringify(VALUE)), headers: undefined }),
  v1: () => ({
    data: Buffer.from(JSON.stringify(VALUE)),
    headers: {
      "Catga-Message-Id": randomUUID(),
      traceparent: childTraceparent(),
      "Catga-Deadline": String(Date.now() + 5000),
      "Catga-Schema": SCHEMA,
    },
  }),
  v2: () => {
    const h: Headers = {};
    writeWire(h, newMessageId(), Date.now() + 5000, SCHEMA, undefined);
    return { data: Buffer.from(JSON.stringify(VALUE)), headers: h };
  },
  v3: () => ({
    data: envelope(VALUE, newMessageId(), Date.now() + 5000, SCHEMA, undefined, undefined),
    headers: undefined,
  }),
  v4: () => ({
    data: envelope4(VALUE, newMessageId(), Date.now() + 5000, SCHEMA, undefined, undefined),
    headers: undefined,
  }),
};

/**
 * The bytes the metadata adds: `NATS/1.0`, a `Name: value` line per header and the blank line, as
 * the transport writes them; or the envelope line in the payload.
 */
function metadataBytes(m: Message): number {
  const extra = m.data.length - BODY.length;
  if (m.headers === undefined) return extra;
  let text = "NATS/1.0\r\n";
  for (const k in m.headers) text += `${k}: ${m.headers[k]}\r\n`;
  return extra + Buffer.byteLength(`${text}\r\n`);
}

const LABELS: Record<Variant, string> = {
  none: "none (raw)",
  v1: "wire v1: four headers",
  v2: "wire v2: one Catga header",
  v3: "wire v3: envelope line in the payload",
  v4: "wire v4: binary envelope in the payload",
};

const nats = await startNats();
const loadBefore = loadavg()[0]!;
const pub = await natsTransport({ servers: [nats.url] });
const sub = await natsTransport({ servers: [nats.url] });
let received = 0;
let deadlines = 0;
let done: (() => void) | undefined;
sub.subscribe("bench.wire", {}, (msg) => {
  // What an instance reads of every request: the metadata and the body.
  const wire = readWire(msg, "Echo", "request");
  if (wire.deadline > 0) deadlines++;
  decodeBody(msg.data, wire, "Echo", "request");
  if (++received === MESSAGES) done?.();
});
await sub.flush();

const samples: Record<Variant, { cpu: number[]; server: number[] }> = {
  none: { cpu: [], server: [] },
  v1: { cpu: [], server: [] },
  v2: { cpu: [], server: [] },
  v3: { cpu: [], server: [] },
  v4: { cpu: [], server: [] },
};
try {
  for (let block = -1; block < BLOCKS; block++) {
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      received = 0;
      const finished = new Promise<void>((resolve) => {
        done = resolve;
      });
      const cpu0 = process.cpuUsage();
      const server0 = serverCpu(nats.pid) ?? 0;
      for (let i = 0; i < MESSAGES; i++) {
        const m = VARIANTS[variant]();
        pub.publish("bench.wire", m.data, m.headers);
        // Bounded ahead of the subscriber, as a flow-controlled publisher would be.
        if (i % 1000 === 999) await pub.flush();
      }
      await finished;
      const cpu = process.cpuUsage(cpu0);
      const server = (serverCpu(nats.pid) ?? 0) - server0;
      // The first block of each warms up the JIT and the connections: not counted.
      if (block >= 0) {
        samples[variant].cpu.push((cpu.user + cpu.system) / MESSAGES);
        samples[variant].server.push(server / MESSAGES);
      }
    }
  }
} finally {
  await pub.close();
  await sub.close();
  await nats.stop();
}

const m = machine();
console.log(
  `${m.cpu}, ${m.cores} cores, Node ${m.node}, nats-server ${m.natsServer}; ` +
    `load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after; ` +
    `${BLOCKS} blocks of ${MESSAGES} messages per variant, taking turns`,
);
const none = median(samples.none.cpu) + median(samples.none.server);
console.log(
  table(
    [
      "metadata",
      "bytes added",
      "process µs/msg (publish + deliver + read)",
      "nats-server µs/msg",
      "total µs/msg",
      "total − none",
    ],
    (Object.keys(VARIANTS) as Variant[]).map((v) => {
      const total = median(samples[v].cpu) + median(samples[v].server);
      return [
        LABELS[v],
        String(metadataBytes(VARIANTS[v]())),
        median(samples[v].cpu).toFixed(2),
        median(samples[v].server).toFixed(2),
        total.toFixed(2),
        v === "none" ? "" : (total - none).toFixed(2),
      ];
    }),
    [false, true, true, true, true, true],
  ),
);
if (deadlines === 0) throw new Error("no deadline was read: the variants did not carry their headers");
