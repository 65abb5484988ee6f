import { expect, it } from "vitest";
import {
  acquireLock,
  type CoordinationBackend,
  FencedStore,
  LockLostError,
  LockTimeoutError,
  StaleTokenError,
} from "../../runtime/coordination/index.js";

/**
 * The semantics every {@link CoordinationBackend} must have, run against the in-memory backend in
 * the unit tier and against real Redis (standalone and Cluster) in the integration tier, so the
 * in-memory mode cannot drift from production.
 */
export interface ConformanceTarget {
  /** The backend under test. */
  backend(): CoordinationBackend;
  /** Lets `ms` of lease time pass (a manual clock for memory, real time for Redis). */
  advance(ms: number): Promise<void>;
  /** A scope no other test uses. */
  scope(): string;
  /** Lease TTL to use: long enough that real servers do not expire it by accident. */
  ttlMs: number;
}

/** Registers the conformance tests, named `<label> — …`. */
export function coordinationConformance(label: string, target: () => ConformanceTarget): void {
  it(`${label} — the first acquire starts term 1, others are refused, the owner re-acquires its own term`, async () => {
    const t = target();
    const b = t.backend();
    const s = t.scope();
    expect(await b.currentTerm(s)).toBe(0);
    expect(await b.holder(s)).toBeNull();
    expect(await b.acquire(s, "a", t.ttlMs)).toBe(1);
    expect(await b.acquire(s, "b", t.ttlMs)).toBeNull();
    expect(await b.acquire(s, "a", t.ttlMs)).toBe(1);
    const holder = await b.holder(s);
    expect(holder?.owner).toBe("a");
    expect(holder?.token).toBe(1);
    expect(holder!.ttlMs).toBeGreaterThan(0);
    expect(holder!.ttlMs).toBeLessThanOrEqual(t.ttlMs);
    expect(await b.currentTerm(s)).toBe(1);
  });

  it(`${label} — renew needs the owner and the token; an owner with '|' in its id works`, async () => {
    const t = target();
    const b = t.backend();
    const s = t.scope();
    const token = (await b.acquire(s, "pod|a", t.ttlMs))!;
    expect(await b.renew(s, "pod|a", token, t.ttlMs)).toBe(true);
    expect(await b.renew(s, "pod|a", token + 1, t.ttlMs)).toBe(false);
    expect(await b.renew(s, "b", token, t.ttlMs)).toBe(false);
    expect((await b.holder(s))?.owner).toBe("pod|a");
  });

  it(`${label} — an expired lease goes to the next contender with a higher token; the old owner cannot renew`, async () => {
    const t = target();
    const b = t.backend();
    const s = t.scope();
    const first = (await b.acquire(s, "a", t.ttlMs))!;
    await t.advance(t.ttlMs + 50);
    expect(await b.holder(s)).toBeNull();
    const second = (await b.acquire(s, "b", t.ttlMs))!;
    expect(second).toBeGreaterThan(first);
    expect(await b.renew(s, "a", first, t.ttlMs)).toBe(false);
    expect(await b.release(s, "a", first)).toBe(false);
    expect((await b.holder(s))?.owner).toBe("b");
  });

  it(`${label} — release is compare-and-delete and tokens are never reused`, async () => {
    const t = target();
    const b = t.backend();
    const s = t.scope();
    const seen: number[] = [];
    for (const owner of ["a", "b", "a", "c"]) {
      const token = (await b.acquire(s, owner, t.ttlMs))!;
      seen.push(token);
      expect(await b.release(s, "someone-else", token)).toBe(false);
      expect(await b.release(s, owner, token + 1)).toBe(false);
      expect(await b.release(s, owner, token)).toBe(true);
      expect(await b.release(s, owner, token)).toBe(false);
    }
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it(`${label} — fenced writes: current term accepted, deposed term rejected even on keys the new leader never wrote`, async () => {
    const t = target();
    const b = t.backend();
    const s = t.scope();
    const old = (await b.acquire(s, "a", t.ttlMs))!;
    expect(await b.fencedSet(s, "k1", "v1", old)).toEqual({ ok: true });
    expect(await b.get(s, "k1")).toBe("v1");
    await b.release(s, "a", old);
    const fresh = (await b.acquire(s, "b", t.ttlMs))!;
    // k2 was never written by anyone: the term counter alone rejects the deposed leader.
    expect(await b.fencedSet(s, "k2", "stale", old)).toEqual({ ok: false, highest: fresh });
    expect(await b.fencedSet(s, "k1", "stale", old)).toEqual({ ok: false, highest: fresh });
    expect(await b.get(s, "k1")).toBe("v1");
    expect(await b.get(s, "k2")).toBeNull();
    expect(await b.fencedSet(s, "k1", "v2", fresh)).toEqual({ ok: true });
    expect(await b.get(s, "k1")).toBe("v2");
    // A token the store never issued (above the term counter) is refused too.
    expect(await b.fencedSet(s, "k1", "forged", fresh + 1)).toEqual({ ok: false, highest: fresh });
    expect(await b.get(s, "k1")).toBe("v2");
  });

  it(`${label} — fenced hash writes and deletes; a deleted key keeps its fence`, async () => {
    const t = target();
    const b = t.backend();
    const s = t.scope();
    const old = (await b.acquire(s, "a", t.ttlMs))!;
    expect(await b.fencedHset(s, "saga:1", "step", "1", old)).toEqual({ ok: true });
    expect(await b.fencedHset(s, "saga:1", "status", "running", old)).toEqual({ ok: true });
    expect(await b.hgetall(s, "saga:1")).toEqual({ step: "1", status: "running" });
    expect(await b.hgetall(s, "absent")).toEqual({});
    await b.release(s, "a", old);
    const fresh = (await b.acquire(s, "b", t.ttlMs))!;
    expect((await b.fencedHset(s, "saga:1", "step", "9", old)).ok).toBe(false);
    expect((await b.fencedDelete(s, "saga:1", old)).ok).toBe(false);
    expect(await b.fencedDelete(s, "saga:1", fresh)).toEqual({ ok: true });
    expect(await b.hgetall(s, "saga:1")).toEqual({});
    expect((await b.fencedHset(s, "saga:1", "step", "1", old)).ok).toBe(false);
    expect(await b.hgetall(s, "saga:1")).toEqual({});
  });

  it(`${label} — fenced hash updates set and remove fields in one step, fenced`, async () => {
    const t = target();
    const b = t.backend();
    const s = t.scope();
    const old = (await b.acquire(s, "a", t.ttlMs))!;
    expect(await b.fencedHupdate(s, "idx", { a: "1", b: "2", c: "3" }, [], old)).toEqual({ ok: true });
    expect(await b.fencedHupdate(s, "idx", { d: "4" }, ["a", "absent"], old)).toEqual({ ok: true });
    expect(await b.hgetall(s, "idx")).toEqual({ b: "2", c: "3", d: "4" });
    expect(await b.fencedHupdate(s, "idx", {}, ["b", "c", "d"], old)).toEqual({ ok: true });
    expect(await b.hgetall(s, "idx")).toEqual({});
    await b.release(s, "a", old);
    const fresh = (await b.acquire(s, "b", t.ttlMs))!;
    expect(await b.fencedHupdate(s, "idx", { x: "stale" }, [], old)).toEqual({ ok: false, highest: fresh });
    expect(await b.hgetall(s, "idx")).toEqual({});
    expect(await b.fencedHupdate(s, "idx", { x: "1" }, [], fresh)).toEqual({ ok: true });
    expect(await b.hgetall(s, "idx")).toEqual({ x: "1" });
  });

  it(`${label} — tick claims: increasing ticks only, current term only, with the gap reported`, async () => {
    const t = target();
    const b = t.backend();
    const s = t.scope();
    const first = (await b.acquire(s, "a", t.ttlMs))!;
    expect(await b.claimTick(s, "sweep", 10, first)).toEqual({ claimed: true, last: 0 });
    expect(await b.claimTick(s, "sweep", 10, first)).toEqual({ claimed: false, last: 10 });
    expect(await b.claimTick(s, "sweep", 9, first)).toEqual({ claimed: false, last: 10 });
    expect(await b.claimTick(s, "other", 10, first)).toEqual({ claimed: true, last: 0 });
    await b.release(s, "a", first);
    const second = (await b.acquire(s, "b", t.ttlMs))!;
    expect(await b.claimTick(s, "sweep", 11, first)).toEqual({ claimed: false, last: 10 });
    expect(await b.claimTick(s, "sweep", 14, second)).toEqual({ claimed: true, last: 10 });
  });

  it(`${label} — FencedStore throws StaleTokenError for a deposed leader and counts it`, async () => {
    const t = target();
    const b = t.backend();
    const s = t.scope();
    const store = new FencedStore(b, s);
    const old = (await b.acquire(s, "a", t.ttlMs))!;
    await store.set("x", "1", old);
    await store.hset("h", "f", "1", old);
    await b.release(s, "a", old);
    const fresh = (await b.acquire(s, "b", t.ttlMs))!;
    const error = await store.set("x", "2", old).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaleTokenError);
    expect(error).toMatchObject({ name: "StaleTokenError", key: "x", token: old, highest: fresh });
    await expect(store.delete("x", old)).rejects.toBeInstanceOf(StaleTokenError);
    await store.delete("x", fresh);
    expect(await store.get("x")).toBeNull();
    expect(await store.hgetall("h")).toEqual({ f: "1" });
    expect(store.stats).toEqual({ accepted: 3, rejected: 2 });
  });

  it(`${label} — locks: one holder, higher token per acquisition, timeout when waiting, signal on release`, async () => {
    const t = target();
    const b = t.backend();
    const name = `lock-${t.scope().slice(1, -1).replaceAll(":", "-")}`;
    const first = await acquireLock(b, name, { ttlMs: t.ttlMs, instanceId: "a" });
    expect(first).not.toBeNull();
    // The same instance acquiring again is a second holder, not a re-entry.
    expect(await acquireLock(b, name, { ttlMs: t.ttlMs, instanceId: "a" })).toBeNull();
    const timeout = await acquireLock(b, name, {
      ttlMs: t.ttlMs,
      instanceId: "b",
      wait: { timeoutMs: 150, retryMs: 20 },
    }).catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(LockTimeoutError);
    expect(first!.held).toBe(true);
    expect(await first!.release()).toBe(true);
    expect(first!.signal.aborted).toBe(true);
    expect(first!.signal.reason).toBeInstanceOf(LockLostError);
    const second = await acquireLock(b, name, { ttlMs: t.ttlMs, instanceId: "b", wait: { timeoutMs: 1000 } });
    expect(second!.token).toBeGreaterThan(first!.token);
    expect(await second!.release()).toBe(true);
  });
}
