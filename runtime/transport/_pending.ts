/**
 * The requests a connection waits on, found by the token of their reply subject.
 *
 * Not a `Map` keyed by token, though that is the obvious shape. A Map that takes a new key and drops
 * an old one per request replaces its hash table every few hundred requests, and V8 allocates the
 * new table in the generation the old one is in, and leaves the old one holding the entries it
 * had. Once a table is in the old generation (moved there by any full collection while requests
 * were in flight, such as the one V8 runs after a process has been idle for some seconds), every
 * later table is allocated there too, and each replaced table, dead but not yet collected, still
 * points to requests long answered: the young-generation collector counts them as alive, copies
 * and promotes them. That lasts as long as the process: about 1.5 MB promoted per collection
 * instead of 3 KB, each collection 3-5x dearer, and 15-60 % more CPU per request in the caller
 * (docs/benchmarks.md, "After an idle").
 *
 * Here a request takes a numbered slot in an array, and a freed slot goes back on a free list. The
 * array is replaced only when it grows (doubling, a handful of times in a process's life), and a
 * freed slot is emptied in place, so nothing dead goes on pointing to answered requests.
 *
 * The slot's number leads the token (`<slot base 36>-<unique rest>`), and a reply is taken only
 * when its whole token is the one its slot's request has: a late reply, or a forged one, finds
 * either an empty slot or a newer request with another token. A request whose reply echoes its id
 * (wire version 5) has the slot alone as its token (`<slot base 36>`), the same for every request
 * in that slot: then the echo, which `take`'s `accept` checks, tells a late reply from this one.
 */

/** What a slot holds: anything with the token its reply must carry. */
export interface Waiting {
  readonly token: string;
}

export class PendingRequests<T extends Waiting> {
  readonly #slots: (T | undefined)[] = [];
  readonly #free: number[] = [];
  #size = 0;

  /** How many requests wait. */
  get size(): number {
    return this.#size;
  }

  /**
   * Reserves a slot and stores what `make` builds for it; `make` gets the token's slot prefix
   * (`<slot base 36>-`), to which it appends the unique rest of the token (or which, without its
   * dash, is the whole token of a request whose reply echoes its id).
   */
  add(make: (prefix: string) => T): T {
    const slot = this.#free.pop() ?? this.#slots.length;
    const entry = make(`${slot.toString(36)}-`);
    this.#slots[slot] = entry;
    this.#size++;
    return entry;
  }

  /**
   * Removes and returns the request waiting for `token`, or undefined when none does, or when
   * `accept` refuses it (the request then goes on waiting). `accept` gets `arg` too, so a caller
   * on a hot path can pass one function made once instead of a closure per reply.
   */
  take<A>(token: string, accept?: (entry: T, arg: A) => boolean, arg?: A): T | undefined {
    const dash = token.indexOf("-");
    const end = dash < 0 ? token.length : dash;
    // A slot number has at most 6 base-36 digits; anything else is not one of our tokens (and
    // whatever parseInt makes of it, the whole token must still match its slot's).
    if (end < 1 || end > 6) return undefined;
    const slot = Number.parseInt(dash < 0 ? token : token.slice(0, dash), 36);
    const entry = this.#slots[slot];
    if (entry === undefined || entry.token !== token) return undefined;
    if (accept !== undefined && !accept(entry, arg as A)) return undefined;
    this.#release(slot);
    return entry;
  }

  /** Removes the request waiting for `token`, if one does. */
  delete(token: string): void {
    this.take(token);
  }

  /** The waiting requests, in slot order. Removing the current one while iterating is allowed. */
  *values(): IterableIterator<T> {
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) {
      const entry = slots[i];
      if (entry !== undefined) yield entry;
    }
  }

  /** Forgets every waiting request. */
  clear(): void {
    this.#slots.length = 0;
    this.#free.length = 0;
    this.#size = 0;
  }

  #release(slot: number): void {
    this.#slots[slot] = undefined;
    this.#free.push(slot);
    this.#size--;
  }
}
