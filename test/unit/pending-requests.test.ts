import { describe, expect, it } from "vitest";
import { PendingRequests } from "../../runtime/transport/_pending.js";

interface Entry {
  token: string;
  n: number;
}

const table = () => new PendingRequests<Entry>();
let unique = 0;
const add = (t: PendingRequests<Entry>, n: number) =>
  t.add((prefix) => ({ token: `${prefix}u${unique++}`, n }));

describe("pending requests (the NATS transport's reply table)", () => {
  it("takes a request once, by its whole token", () => {
    const t = table();
    const a = add(t, 1);
    const b = add(t, 2);
    expect(a.token).toMatch(/^0-/);
    expect(b.token).toMatch(/^1-/);
    expect(t.size).toBe(2);
    expect(t.take(a.token)).toBe(a);
    expect(t.take(a.token)).toBeUndefined();
    expect(t.size).toBe(1);
    expect(t.take(b.token)).toBe(b);
    expect(t.size).toBe(0);
  });

  it("reuses a freed slot, and a reply to the slot's earlier request (late or after a forged one) finds nothing", () => {
    const t = table();
    const first = add(t, 1);
    expect(t.take(first.token)).toBe(first);
    const second = add(t, 2);
    expect(second.token.split("-")[0]).toBe(first.token.split("-")[0]);
    expect(second.token).not.toBe(first.token);
    expect(t.take(first.token)).toBeUndefined();
    expect(t.size).toBe(1);
    expect(t.take(second.token)).toBe(second);
  });

  it("refuses tokens that are not its own without touching a waiting request", () => {
    const t = table();
    const a = add(t, 1);
    const slot = a.token.split("-")[0]!;
    for (const token of [
      "",
      "-",
      "-u0",
      "0",
      "nodash",
      `${slot}-`,
      `${slot}-forged`,
      `${slot}x-${a.token.slice(2)}`,
      "zzzzzzz-u0",
      "99-u0",
      "1e3-x",
      a.token.toUpperCase(),
      `${a.token}.more`,
    ]) {
      expect(t.take(token)).toBeUndefined();
    }
    expect(t.size).toBe(1);
    expect(t.take(a.token)).toBe(a);
  });

  it("lists what waits in slot order, allows removal while listing, and clears", () => {
    const t = table();
    const entries = Array.from({ length: 10 }, (_, i) => add(t, i));
    for (const e of entries.filter((e) => e.n % 3 === 0)) t.delete(e.token);
    const seen: number[] = [];
    for (const e of t.values()) {
      seen.push(e.n);
      if (e.n % 2 === 0) t.delete(e.token);
    }
    expect(seen).toEqual([1, 2, 4, 5, 7, 8]);
    expect([...t.values()].map((e) => e.n)).toEqual([1, 5, 7]);
    expect(t.size).toBe(3);
    t.clear();
    expect(t.size).toBe(0);
    expect([...t.values()]).toEqual([]);
    expect(add(t, 99).token).toMatch(/^0-/);
  });

  it("a version 5 request's token is its slot alone; `accept` decides, and a refused reply leaves the request waiting", () => {
    const t = table();
    const a = t.add((prefix) => ({ token: prefix.slice(0, -1), n: 1 }));
    const b = add(t, 2);
    expect(a.token).toBe("0");
    expect(b.token).toMatch(/^1-/);
    // The slot's number alone does not take b (its token has a unique rest), nor a slot's prefix a.
    expect(t.take("1")).toBeUndefined();
    expect(t.take("0-")).toBeUndefined();
    // A reply the check refuses (another request's echo) takes nothing.
    expect(t.take("0", () => false)).toBeUndefined();
    expect(t.size).toBe(2);
    expect(t.take("0", (e) => e.n === 1)).toBe(a);
    expect(t.take("0")).toBeUndefined();
    // The slot's next request has the same token.
    expect(t.add((prefix) => ({ token: prefix.slice(0, -1), n: 3 })).token).toBe("0");
    expect(t.take("zzzzzzz")).toBeUndefined();
  });

  it("keeps thousands in flight, and a slot is never held by two requests", () => {
    const t = table();
    const live = new Map<string, Entry>();
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 50_000; i++) {
      if (live.size < 3000 && (live.size === 0 || rand() < 0.55)) {
        const e = add(t, i);
        expect(live.has(e.token)).toBe(false);
        live.set(e.token, e);
      } else {
        const keys = [...live.keys()];
        const token = keys[Math.floor(rand() * keys.length)]!;
        expect(t.take(token)).toBe(live.get(token));
        live.delete(token);
      }
      if (i % 5000 === 0) {
        const slots = [...t.values()].map((e) => e.token.split("-")[0]);
        expect(new Set(slots).size).toBe(slots.length);
        expect(t.size).toBe(live.size);
      }
    }
    expect(new Set([...t.values()].map((e) => e.token))).toEqual(new Set(live.keys()));
  });
});
