import type { Msg } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { TimeoutError } from "../../runtime/errors.js";
import { natsWithClients } from "../harness/nats-clients.js";

/**
 * The NATS transport's requests share one inbox and reuse a reply subject once its reply has come
 * (nats-server caches subject matches; a new subject per request cost it about a third of its work
 * per request). Reuse must never hand a request someone else's reply: a token whose reply did not
 * come is retired. The responder here is the plain client, so replies can be held back and sent late.
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

  it("nats requests — a reply subject is used again once its reply has arrived", async () => {
    const replySubjects: string[] = [];
    const sub = await echoRecording("r.echo", replySubjects);
    for (let i = 0; i < 20; i++) {
      const reply = await c.transport.request("r.echo", encoder.encode(`m${i}`), { timeoutMs: 2000 });
      expect(text(reply.data)).toBe(`m${i}`);
    }
    // One request at a time: every one of them went out with the same reply subject.
    expect(new Set(replySubjects).size).toBe(1);
    // Ten at once need ten subjects, and each reply reaches its own request.
    replySubjects.length = 0;
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        c.transport.request("r.echo", encoder.encode(`p${i}`), { timeoutMs: 2000 }),
      ),
    );
    expect(replies.map((r) => text(r.data))).toEqual(Array.from({ length: 10 }, (_, i) => `p${i}`));
    expect(new Set(replySubjects).size).toBe(10);
    sub.unsubscribe();
  });

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
