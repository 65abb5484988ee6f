import { Socket } from "node:net";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsTransport, WRITE_BATCH_BYTES } from "../../runtime/transport/nats.js";
import type { Transport } from "../../runtime/transport/types.js";
import { type NatsServer, startNats } from "../harness/nats.js";

/**
 * What one turn of the event loop's publishes become on the socket (docs/runtime.md, "Writes"):
 * nats.js collects them and writes them at the end of the turn, or at once when they reach its
 * `pendingLimit`, which Catga's transport sets to {@link WRITE_BATCH_BYTES}. With nats.js's own
 * 32 KiB a turn of 32-60 KiB went out as two writes, and nats-server spent more per message on
 * them (docs/benchmarks.md). The socket's writes are recorded by wrapping `Socket.prototype.write`
 * while the turn runs; the server and the client are real.
 */
describe("nats transport writes", () => {
  let server: NatsServer;
  let transport: Transport;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNats();
    transport = await natsTransport({ servers: [server.url] });
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await transport?.close();
    await nc?.close();
    await server?.stop();
  });

  /** Publishes `count` events of `size` bytes in one turn; the sizes of the writes the turn made. */
  async function oneTurn(subject: string, count: number, size: number): Promise<number[]> {
    const writes: number[] = [];
    const write = Socket.prototype.write;
    Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
      if (this.remotePort === server.port && chunk instanceof Uint8Array) writes.push(chunk.length);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof write;
    try {
      const data = new Uint8Array(size).fill(0x61);
      for (let i = 0; i < count; i++) transport.publish(subject, data);
      // The client writes what is left at the end of the turn, in a microtask.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      Socket.prototype.write = write;
    }
    return writes;
  }

  /** Counts what the plain client receives on `subject`; subscribed before the turn. */
  async function received(subject: string): Promise<() => number> {
    let n = 0;
    nc.subscribe(subject, {
      callback: () => {
        n++;
      },
    });
    await nc.flush();
    return () => n;
  }

  // A frame here is `PUB w.one 80\r\n`, 80 bytes and `\r\n`: 96 bytes.
  const FRAME = 96;

  it("nats writes — a turn of publishes between 32 KiB and the batch size goes to the socket in one write", async () => {
    const count = 500; // 48,000 bytes: nats.js's own limit wrote 32,832 and then 15,168
    const got = await received("w.one");
    const writes = await oneTurn("w.one", count, 80);
    expect(writes).toEqual([count * FRAME]);
    await expect.poll(got, { timeout: 10_000 }).toBe(count);
  });

  it("nats writes — a larger turn goes in writes nats-server reads at once (at most 64 KiB), each but the last at the batch size", async () => {
    const count = 1500; // 144,000 bytes
    const got = await received("w.two");
    const writes = await oneTurn("w.two", count, 80);
    const batch = Math.ceil(WRITE_BATCH_BYTES / FRAME) * FRAME;
    expect(writes).toEqual([batch, batch, count * FRAME - 2 * batch]);
    for (const w of writes) expect(w).toBeLessThanOrEqual(64 * 1024);
    await expect.poll(got, { timeout: 10_000 }).toBe(count);
  });
});
