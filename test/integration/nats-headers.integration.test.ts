import { type Msg, headers as natsHeaders } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import type { Headers, IncomingMessage } from "../../runtime/transport/types.js";
import { natsWithClients } from "../harness/nats-clients.js";

/**
 * The NATS transport writes and reads header blocks itself instead of through the client's headers
 * object (the client's was the largest cost of a request). These tests hold it to the client: what
 * it writes, the client reads back the same; what the client writes, it reads the same; and it
 * refuses what the client refuses.
 */
describe("nats transport headers", () => {
  const c = natsWithClients();

  // Each test uses its own subject and takes its first message.
  const next = <T>(subscribe: (deliver: (value: T) => void) => void): Promise<T> =>
    new Promise<T>((resolve) => subscribe(resolve));

  it("nats headers — what the transport writes, the client reads back unchanged", async () => {
    const sent: Headers = {
      Catga: "2;AAECAwQFBgcICQoL;1gcmxpmo0;621f0767;c-1",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "X-Custom": "  padded value  ",
      "X-Unicode": "größe ✓",
    };
    const got = next<Msg>((deliver) => {
      c.nc.subscribe("h.out", { callback: (_e, msg) => deliver(msg) });
    });
    await c.nc.flush();
    c.transport.publish("h.out", new TextEncoder().encode("{}"), sent);
    const msg = await got;
    const expected = natsHeaders();
    for (const [k, v] of Object.entries(sent)) expected.append(k, v);
    expect([...(msg.headers ?? [])]).toEqual([...expected]);
    expect(msg.headers?.get("X-Custom")).toBe("padded value");
    expect(msg.headers?.get("X-Unicode")).toBe("größe ✓");
  });

  it("nats headers — what the client writes, the transport reads as the client's first values", async () => {
    const h = natsHeaders();
    h.append("Catga", "2;m-1;1gcmxpmo0;");
    h.append("X-Repeated", "first");
    h.append("X-Repeated", "second");
    h.append("X-Spaces", "  around  ");
    h.append("X-Unicode", "größe ✓");
    h.append("constructor", "not a prototype");
    const got = next<IncomingMessage>((deliver) => {
      c.transport.subscribe("h.in", {}, (msg) => deliver(msg));
    });
    await c.transport.flush();
    c.nc.publish("h.in", "{}", { headers: h });
    const msg = await got;
    expect(msg.headers).toEqual({
      Catga: "2;m-1;1gcmxpmo0;",
      "X-Repeated": "first",
      "X-Spaces": "around",
      "X-Unicode": "größe ✓",
      constructor: "not a prototype",
    });
    expect(new TextDecoder().decode(msg.data)).toBe("{}");
  });

  it("nats headers — a message without headers has none", async () => {
    const got = next<IncomingMessage>((deliver) => {
      c.transport.subscribe("h.none", {}, (msg) => deliver(msg));
    });
    await c.transport.flush();
    c.nc.publish("h.none", "{}");
    expect((await got).headers).toEqual({});
  });

  it("nats headers — names and values the client refuses are refused", () => {
    const data = new Uint8Array();
    expect(() => c.transport.publish("h.bad", data, { "bad name": "v" })).toThrow(/not a valid header name/);
    expect(() => c.transport.publish("h.bad", data, { "Bad:Name": "v" })).toThrow(/not a valid header name/);
    expect(() => c.transport.publish("h.bad", data, { Good: "line\r\nbreak" })).toThrow(/cannot contain/);
    // A lone CR or LF too, in any header of the message, and on requests as on publishes.
    expect(() => c.transport.publish("h.bad", data, { Good: "line\nbreak" })).toThrow(/cannot contain/);
    expect(() => c.transport.publish("h.bad", data, { A: "fine", Good: "line\rbreak" })).toThrow(
      /cannot contain/,
    );
    expect(() => c.transport.publish("h.bad", data, { A: "x\n" })).toThrow(/cannot contain/);
    return expect(
      c.transport.request("h.bad", data, { headers: { A: "\r" }, timeoutMs: 100 }),
    ).rejects.toThrow(/cannot contain/);
  });

  it("nats headers — a name refused once is refused again (only names that passed are remembered)", () => {
    const data = new Uint8Array();
    expect(() => c.transport.publish("h.bad", data, { "bad name": "v" })).toThrow(/not a valid header name/);
    expect(() => c.transport.publish("h.bad", data, { "bad name": "v" })).toThrow(/not a valid header name/);
  });
});
