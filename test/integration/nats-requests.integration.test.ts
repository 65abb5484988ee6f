import type { Msg } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { TimeoutError } from "../../runtime/errors.js";
import { natsWithClients } from "../harness/nats-clients.js";

/**
 * The NATS transport's requests share one inbox, and every request has a reply subject of its own
 * (its slot, a counter and random bits): a reply reaches only the request it was addressed to, so a late
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
