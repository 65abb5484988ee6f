import type { Msg } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { envelope4, replyEcho } from "../../runtime/_wire.js";
import { TimeoutError } from "../../runtime/errors.js";
import { natsTransport } from "../../runtime/transport/nats.js";
import { natsWithClients } from "../harness/nats-clients.js";

/**
 * The NATS transport's requests share one inbox, and every request has a reply subject of its own
 * (a counter and random bits): a reply reaches only the request it was addressed to, so a late
 * reply, or the real reply after a forged one was taken, cannot reach a newer request. (Reply
 * subjects used to be reused once answered, which a forged reply turned into cross-talk.) The
 * responder here is the plain client, so replies can be held back, sent late or forged.
 */
describe("nats transport requests", () => {
  const c = natsWithClients();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const text = (data: Uint8Array) => decoder.decode(data);

  /** A plain-client responder on `subject` that echoes and records each request's reply subject. */
  async function echoRecording(subject: string, replySubjects: string[]) {
    const sub = c.nc.subscribe(subject, {
      callback: (_e, msg) => {
        replySubjects.push(msg.reply ?? "");
        msg.respond(msg.data);
      },
    });
    await c.nc.flush();
    return sub;
  }

  it("nats requests — every request has a reply subject of its own", async () => {
    const replySubjects: string[] = [];
    const sub = await echoRecording("r.echo", replySubjects);
    for (let i = 0; i < 20; i++) {
      const reply = await c.transport.request("r.echo", encoder.encode(`m${i}`), { timeoutMs: 2000 });
      expect(text(reply.data)).toBe(`m${i}`);
    }
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        c.transport.request("r.echo", encoder.encode(`p${i}`), { timeoutMs: 2000 }),
      ),
    );
    expect(replies.map((r) => text(r.data))).toEqual(Array.from({ length: 10 }, (_, i) => `p${i}`));
    expect(new Set(replySubjects).size).toBe(30);
    sub.unsubscribe();
  });

  it("nats requests — the real reply after a forged one is dropped and counted, never given to a newer request", async () => {
    // Without NATS users anyone may answer: a forger that hears the request answers first, and the
    // real responder's reply comes later, while a newer request waits. That reply must not be
    // taken for the newer request's (with reused reply subjects it was: `invalid result of …`).
    const forger = c.nc.subscribe("r.forged", {
      callback: (_e, msg) => {
        msg.respond(encoder.encode("forged"));
      },
    });
    const real = c.nc.subscribe("r.forged", {
      callback: (_e, msg) => {
        setTimeout(() => msg.respond(encoder.encode("real-first")), 100);
      },
    });
    const slow = c.nc.subscribe("r.second", {
      callback: (_e, msg) => {
        setTimeout(() => msg.respond(encoder.encode("second")), 400);
      },
    });
    await c.nc.flush();
    const dropped = c.transport.unmatchedReplies?.() ?? 0;
    const first = await c.transport.request("r.forged", encoder.encode("1"), { timeoutMs: 2000 });
    expect(text(first.data)).toBe("forged"); // forging itself is stopped by NATS users (docs/runtime.md)
    const second = await c.transport.request("r.second", encoder.encode("2"), { timeoutMs: 2000 });
    expect(text(second.data)).toBe("second");
    expect(c.transport.unmatchedReplies?.()).toBe(dropped + 1);
    // A reply to a subject no request ever had is dropped and counted too.
    const inbox = (await echoSubject()).replace(/\.[^.]+$/, "");
    c.nc.publish(`${inbox}.0guessed`, encoder.encode("blind"));
    await c.nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(c.transport.unmatchedReplies?.()).toBe(dropped + 2);
    for (const sub of [forger, real, slow]) sub.unsubscribe();
  });

  /** The reply subject of one request, as a responder sees it. */
  async function echoSubject(): Promise<string> {
    const seen: string[] = [];
    const sub = await echoRecording("r.inbox", seen);
    await c.transport.request("r.inbox", encoder.encode("x"), { timeoutMs: 2000 });
    sub.unsubscribe();
    return seen[0]!;
  }

  it("nats requests — a late reply to a timed-out request never reaches a later request", async () => {
    const held: Msg[] = [];
    const sub = c.nc.subscribe("r.slow", {
      callback: (_e, msg) => {
        // The first request is held past its deadline; every later one is answered at once.
        if (text(msg.data) === "first") held.push(msg);
        else msg.respond(msg.data);
      },
    });
    await c.nc.flush();
    const first = c.transport.request("r.slow", encoder.encode("first"), { timeoutMs: 100 });
    await expect(first).rejects.toBeInstanceOf(TimeoutError);
    expect(held).toHaveLength(1);
    const lateSubject = held[0]!.reply;

    // Later requests, one at a time and together, while the late reply arrives in their midst.
    const later = Array.from({ length: 5 }, (_, i) =>
      c.transport.request("r.slow", encoder.encode(`later${i}`), { timeoutMs: 2000 }),
    );
    held[0]!.respond(encoder.encode("LATE"));
    await c.nc.flush();
    const after = await c.transport.request("r.slow", encoder.encode("after"), { timeoutMs: 2000 });
    expect((await Promise.all(later)).map((r) => text(r.data))).toEqual(
      Array.from({ length: 5 }, (_, i) => `later${i}`),
    );
    expect(text(after.data)).toBe("after");

    // The timed-out request's subject is retired: no later request was sent with it.
    const seen: string[] = [];
    const spy = await echoRecording("r.spy", seen);
    await Promise.all(
      Array.from({ length: 20 }, () =>
        c.transport.request("r.spy", encoder.encode("x"), { timeoutMs: 2000 }),
      ),
    );
    expect(seen).not.toContain(lateSubject);
    sub.unsubscribe();
    spy.unsubscribe();
  });

  it("nats requests — a request the client refuses leaves nothing waiting", async () => {
    // The client refuses the subject when it publishes, after the request was registered: the
    // request fails with the client's error at once, and nothing is left waiting to be swept into
    // a TimeoutError that nobody handles (the test run fails on an unhandled rejection).
    const refused = c.transport.request("not a subject", encoder.encode("x"), { timeoutMs: 50 });
    await expect(refused).rejects.toThrow(/illegal subject/);
    await new Promise((r) => setTimeout(r, 200));
  });
});

/**
 * Requests whose replies echo their message id (wire version 4: `RequestOptions.echo`, what every
 * bus of the default version asks for): the transport gives a reply subject to a later request
 * once the last one on it was answered or given up, and on a reused subject takes only the reply
 * that names its request. The responder is the plain client, echoing as a Catga host does
 * (`replyEcho`), or not at all, as a responder of an older build would.
 */
describe("nats transport requests with reply echo (version 4)", () => {
  const c = natsWithClients();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  /** Where the JSON starts in {@link request}'s envelope: 04, flags, 12 id bytes, hash, deadline. */
  const BODY = 24;
  const request = (id: string, value: unknown) =>
    envelope4(value, id, Date.now() + 60_000, "Echo@621f076764e32737", undefined, undefined);
  const ids = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => `${tag}${String(i).padStart(3, "0")}`.padEnd(16, "A"));

  /** A responder on `subject` answering each request with its JSON, after the echo of its id. */
  async function echoing(subject: string, seen: string[], hold?: (msg: Msg) => boolean) {
    const sub = c.nc.subscribe(subject, {
      callback: (_e, msg) => {
        seen.push(msg.reply ?? "");
        if (hold?.(msg)) return;
        msg.respond(replyEcho(msg.data, msg.data.subarray(BODY)));
      },
    });
    await c.nc.flush();
    return sub;
  }

  it("nats requests (echo) — a reply subject is reused once answered, and the body comes without the echo", async () => {
    const seen: string[] = [];
    const sub = await echoing("e.echo", seen);
    for (const [i, id] of ids(20, "s").entries()) {
      const reply = await c.transport.request("e.echo", request(id, { i }), { timeoutMs: 2000, echo: true });
      expect(JSON.parse(decoder.decode(reply.data))).toEqual({ i });
    }
    expect(new Set(seen).size).toBe(1);
    const replies = await Promise.all(
      ids(10, "p").map((id, i) =>
        c.transport.request("e.echo", request(id, { i }), { timeoutMs: 2000, echo: true }),
      ),
    );
    expect(replies.map((r) => JSON.parse(decoder.decode(r.data)))).toEqual(
      Array.from({ length: 10 }, (_, i) => ({ i })),
    );
    // Ten in flight at once need ten subjects, and the one already used is among them.
    expect(new Set(seen).size).toBe(10);
    sub.unsubscribe();
  });

  it("nats requests (echo) — on a reused subject, a late reply, a forged one and one naming another request are dropped and counted; the request's own reply is taken", async () => {
    const seen: string[] = [];
    const held: Msg[] = [];
    const sub = await echoing("e.slow", seen, (msg) => {
      held.push(msg);
      return true;
    });
    const [a, b] = ids(2, "late");
    const first = c.transport.request("e.slow", request(a!, "A"), { timeoutMs: 100, echo: true });
    await expect(first).rejects.toBeInstanceOf(TimeoutError);
    const second = c.transport.request("e.slow", request(b!, "B"), { timeoutMs: 2000, echo: true });
    await c.nc.flush();
    for (let i = 0; i < 50 && held.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    // The timed-out request's subject went to the next request.
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(seen[0]);
    const dropped = c.transport.unmatchedReplies?.() ?? 0;
    const [late, real] = held as [Msg, Msg];
    late.respond(replyEcho(late.data, encoder.encode('"LATE"'))); // names the first request
    c.nc.publish(real.reply!, encoder.encode('"forged, no echo"'));
    c.nc.publish(real.reply!, replyEcho(request("forgedforgedAAAA", 0), encoder.encode('"forged"')));
    await c.nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(c.transport.unmatchedReplies?.()).toBe(dropped + 3);
    real.respond(replyEcho(real.data, encoder.encode('"B"')));
    expect(decoder.decode((await second).data)).toBe('"B"');
    sub.unsubscribe();
  });

  it("nats requests (echo) — a reply without an echo is taken on a fresh subject, and the connection then gives every request a subject of its own", async () => {
    // A responder that does not echo (an older build's): its replies carry no request id.
    const transport = await natsTransport({ servers: [c.server.url] });
    const seen: string[] = [];
    const sub = c.nc.subscribe("e.plain", {
      callback: (_e, msg) => {
        seen.push(msg.reply ?? "");
        msg.respond(msg.data.subarray(BODY));
      },
    });
    await c.nc.flush();
    for (const [i, id] of ids(5, "o").entries()) {
      const reply = await transport.request("e.plain", request(id, { i }), { timeoutMs: 2000, echo: true });
      expect(JSON.parse(decoder.decode(reply.data))).toEqual({ i });
    }
    expect(new Set(seen).size).toBe(5);
    expect(transport.unmatchedReplies?.()).toBe(0);
    sub.unsubscribe();
    await transport.close();
  });
});
