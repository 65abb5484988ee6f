/**
 * In-flight tracking and the instance's end: how many messages are being handled, whether the
 * instance is draining (no new deliveries) or has crashed (silent, replies go nowhere), and what a
 * draining stop waits on.
 */
import type { HostCounters } from "./_types.js";

/** The in-flight count and the drain and crash flags, shared by the parts of one host. */
export class Lifecycle {
  /** Set by stop() and crash(): no new subscriptions, not ready. */
  draining = false;
  /** Set by crash(): no heartbeat and no reply leaves the instance any more. */
  crashed = false;
  readonly counters: HostCounters;
  /** Called when the last in-flight message is done. */
  #idleWaiters: (() => void)[] = [];

  constructor(counters: HostCounters) {
    this.counters = counters;
  }

  // In-flight work is counted rather than kept as a set of promises: a drain waits for the count
  // to reach zero, which saves a set entry and a `finally` promise per message.

  /** A message is being handled. */
  begin(): void {
    this.counters.inFlight++;
  }

  /** A message is done (answered, failed or dropped). */
  end(): void {
    if (--this.counters.inFlight === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Resolves when nothing is in flight, or after `graceMs`, whichever comes first. */
  settle(graceMs: number): Promise<void> {
    const idle =
      this.counters.inFlight === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    return Promise.race([idle, grace]);
  }
}
