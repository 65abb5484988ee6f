import type { Msg } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { envelope4, newMessageId } from "../../runtime/_wire.js";
import { TimeoutError } from "../../runtime/errors.js";
import { natsWithClients } from "../harness/nats-clients.js";

/**
 * The NATS transport's requests share one inbox, and every request has a reply subject of its own
 * (its slot, a counter and random bits): a reply reaches only the request it was addressed to, so a late
 * reply, or the real reply after a forged one was taken, cannot reach a newer request. (Reply
 * subjects used to be reused once answered, which a forged reply turned into cross-talk.) A request
 * of wire version 5 instead has its slot as its reply subject, reused by the slot's next request,
 * and takes only a reply that echoes its id. The responder here is the plain client, so replies can
 * be held back, sent late or forged.
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

  /** A version 5 request (an id the bus would draw, asking for an echo) carrying `text`. */
  const v5 = (value: string) =>
    envelope4(value, newMessageId(), Date.now() + 5000, "R@00000000", undefined, undefined, true);
  /** What a Catga responder answers to a version 5 request, by hand: 05, its 12 id bytes, the body. */
  const echoed = (request: Uint8Array, body: Uint8Array) =>
    Buffer.concat([Buffer.of(5), request.subarray(2, 14), body]);
  /** The JSON body of a version 5 request: its text. */
  const bodyOf = (request: Uint8Array) => JSON.parse(text(request.subarray(24))) as string;

  it("nats requests — version 5: a request's slot is its reply subject, reused by the next request, and the body is handed on without the echo", async () => {
    const replySubjects: string[] = [];
    const sub = c.nc.subscribe("r5.echo", {
      callback: (_e, msg) => {
        replySubjects.push(msg.reply ?? "");
        msg.respond(echoed(msg.data, encoder.encode(JSON.stringify(bodyOf(msg.data)))));
      },
    });
    await c.nc.flush();
    for (let i = 0; i < 20; i++) {
      const reply = await c.transport.request("r5.echo", v5(`m${i}`), { timeoutMs: 2000, echo: true });
      expect(JSON.parse(text(reply.data))).toBe(`m${i}`);
    }
    // One after another: one slot, one subject (nats-server's subject-match cache hits).
    expect(new Set(replySubjects).size).toBe(1);
    expect(replySubjects[0]).toMatch(/^_INBOX\.[A-Za-z0-9]+\.[0-9a-z]+$/);
    const together = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        c.transport.request("r5.echo", v5(`p${i}`), { timeoutMs: 2000, echo: true }),
      ),
    );
    expect(together.map((r) => JSON.parse(text(r.data)))).toEqual(
      Array.from({ length: 10 }, (_, i) => `p${i}`),
    );
    // Ten at once take ten slots, and the first of them is the slot used before.
    expect(new Set(replySubjects.slice(20)).size).toBe(10);
    expect(replySubjects.slice(20)).toContain(replySubjects[0]);
    sub.unsubscribe();
  });

  it("nats requests — version 5: the late reply of a timed-out request, on the subject its slot's next request has, is dropped and counted", async () => {
    const held: Msg[] = [];
    const subjects: string[] = [];
    const sub = c.nc.subscribe("r5.slow", {
      callback: (_e, msg) => {
        subjects.push(msg.reply ?? "");
        if (bodyOf(msg.data) === "first") held.push(msg);
        else setTimeout(() => msg.respond(echoed(msg.data, encoder.encode(`"${bodyOf(msg.data)}"`))), 150);
      },
    });
    await c.nc.flush();
    const first = c.transport.request("r5.slow", v5("first"), { timeoutMs: 100, echo: true });
    await expect(first).rejects.toBeInstanceOf(TimeoutError);
    const dropped = c.transport.unmatchedReplies?.() ?? 0;
    // The next request takes the freed slot, so it has the timed-out request's subject.
    const next = c.transport.request("r5.slow", v5("next"), { timeoutMs: 2000, echo: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(subjects).toHaveLength(2);
    expect(subjects[1]).toBe(subjects[0]);
    // The late reply arrives while the next request waits on that subject: not taken.
    held[0]!.respond(echoed(held[0]!.data, encoder.encode('"LATE"')));
    await c.nc.flush();
    expect(JSON.parse(text((await next).data))).toBe("next");
    expect(c.transport.unmatchedReplies?.()).toBe(dropped + 1);
    sub.unsubscribe();
  });

  it("nats requests — version 5: a reply without the request's echo (forged, or from a build before version 5) is dropped, and the real one is taken", async () => {
    const forger = c.nc.subscribe("r5.forged", {
      callback: (_e, msg) => {
        msg.respond(encoder.encode('"forged"'));
        // And one echoing another request's id.
        msg.respond(echoed(v5("other"), encoder.encode('"other"')));
      },
    });
    const real = c.nc.subscribe("r5.forged", {
      callback: (_e, msg) => {
        setTimeout(() => msg.respond(echoed(msg.data, encoder.encode('"real"'))), 100);
      },
    });
    await c.nc.flush();
    const dropped = c.transport.unmatchedReplies?.() ?? 0;
    const reply = await c.transport.request("r5.forged", v5("x"), { timeoutMs: 2000, echo: true });
    expect(JSON.parse(text(reply.data))).toBe("real");
    expect(c.transport.unmatchedReplies?.()).toBe(dropped + 2);
    forger.unsubscribe();
    real.unsubscribe();
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
