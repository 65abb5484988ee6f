/**
 * What the instances of a topology say about themselves: their heartbeats (every 2 s on
 * `<topology>._catga.heartbeat.<service>`, see runtime/host.ts), kept per instance with a handling
 * rate computed from consecutive heartbeats. Both `catga status` and the live view of `catga up`
 * are built from this board.
 */
import type { Heartbeat, Transport } from "@catga/runtime";

/** The latest heartbeat of one instance, when it arrived, and how fast it handles messages. */
export interface InstanceBeat {
  beat: Heartbeat;
  /** Epoch ms of arrival (this machine's clock). */
  receivedAt: number;
  /** Messages handled per second between its last two heartbeats; 0 until there are two. */
  rate: number;
}

/** The heartbeat subject of every service of `topology`; with no topology, of every topology. */
export function heartbeatSubject(topology?: string): string {
  return topology === undefined ? "*._catga.heartbeat.>" : `${topology}._catga.heartbeat.>`;
}

/** Latest heartbeat per instance, fed by {@link watchHeartbeats}. */
export class HeartbeatBoard {
  readonly #beats = new Map<string, InstanceBeat>();

  /** Records one heartbeat (ignores what does not look like one). */
  add(beat: Heartbeat, receivedAt = Date.now()): void {
    if (typeof beat?.instance !== "string" || typeof beat.service !== "string") return;
    const key = `${beat.topology}/${beat.instance}`;
    const previous = this.#beats.get(key);
    let rate = previous?.rate ?? 0;
    if (previous !== undefined && beat.at > previous.beat.at) {
      const delta = beat.counters.handled - previous.beat.counters.handled;
      rate = Math.max(0, (delta * 1000) / (beat.at - previous.beat.at));
    }
    this.#beats.set(key, { beat, receivedAt, rate });
  }

  /** Forgets an instance (it was killed or scaled away). */
  forget(instance: string): void {
    for (const [key, b] of this.#beats) if (b.beat.instance === instance) this.#beats.delete(key);
  }

  /** Every instance heard within `maxAgeMs`, sorted by service and instance (numbers in order). */
  list(maxAgeMs = Number.POSITIVE_INFINITY, now = Date.now()): InstanceBeat[] {
    return [...this.#beats.values()]
      .filter((b) => now - b.receivedAt <= maxAgeMs)
      .sort(
        (a, b) =>
          a.beat.service.localeCompare(b.beat.service) ||
          a.beat.instance.localeCompare(b.beat.instance, "en", { numeric: true }),
      );
  }
}

/** Subscribes `board` to the heartbeats of `topology` (of every topology when absent). */
export function watchHeartbeats(
  transport: Transport,
  board: HeartbeatBoard,
  topology?: string,
): { unsubscribe(): void } {
  const decoder = new TextDecoder();
  return transport.subscribe(heartbeatSubject(topology), {}, (msg) => {
    try {
      board.add(JSON.parse(decoder.decode(msg.data)) as Heartbeat);
    } catch {
      // not a heartbeat: someone else publishes under the control prefix
    }
  });
}
