/**
 * What the instances of a topology say about themselves: their heartbeats (every 2 s on
 * `<topology>._catga.heartbeat.<service>`, see runtime/host.ts), kept per instance with a handling
 * rate computed from consecutive heartbeats. Both `catga status` and the live view of `catga up`
 * are built from this board.
 */
import type { Heartbeat, Transport } from "@catga/runtime";
import { z } from "zod";

/** The latest heartbeat of one instance, when it arrived, and how fast it handles messages. */
export interface InstanceBeat {
  beat: Heartbeat;
  /** Epoch ms of arrival (this machine's clock). */
  receivedAt: number;
  /**
   * Messages handled per second between its last two heartbeats, failed ones included (the
   * heartbeat's `handled` plus `errors`); 0 until there are two.
   */
  rate: number;
  /** How many of its heartbeats were heard: the rate is known from two on. */
  heard: number;
}

/** The heartbeat subject of every service of `topology`; with no topology, of every topology. */
export function heartbeatSubject(topology?: string): string {
  return topology === undefined ? "*._catga.heartbeat.>" : `${topology}._catga.heartbeat.>`;
}

const MAX_TOKEN = 2n ** 64n - 1n;
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const name = z.string().min(1).max(256);

/**
 * What a heartbeat must look like to be shown (runtime/host/_types.ts `Heartbeat`): anything on a
 * heartbeat subject is read as untrusted input, since without NATS users any process may publish
 * there. A fencing token is a decimal 64-bit counter, so a leader claim always compares.
 */
export const heartbeatSchema = z.object({
  topology: name,
  service: name,
  instance: name,
  role: z.enum(["peer", "leader", "standby"]),
  mode: z.enum(["p2p", "leader"]),
  pid: z.number().int().nonnegative(),
  fencingToken: z
    .string()
    // One check, not regex then refine: zod runs every check, and BigInt() throws on a non-number.
    .refine((t) => /^[1-9][0-9]{0,19}$/.test(t) && BigInt(t) <= MAX_TOKEN, "a decimal 64-bit fencing token")
    .optional(),
  counters: z.object({ handled: count, errors: count, invalid: count, inFlight: count }),
  ready: z.boolean(),
  at: z.number().int().nonnegative(),
});

/** Latest heartbeat per instance, fed by {@link watchHeartbeats}. */
export class HeartbeatBoard {
  readonly #beats = new Map<string, InstanceBeat>();
  #invalid = 0;

  /**
   * Messages on a heartbeat subject that were dropped: not JSON, not a {@link heartbeatSchema}
   * heartbeat, or a heartbeat for another service or topology than its subject names (with the
   * emitted NATS permissions only a service's own user may publish on its subject, so such a
   * heartbeat is forged).
   */
  get invalid(): number {
    return this.#invalid;
  }

  /**
   * Records one heartbeat, or counts it as invalid and drops it. `subject`, when given, must be the
   * heartbeat subject of the service and topology the heartbeat names.
   */
  add(input: unknown, receivedAt = Date.now(), subject?: string): boolean {
    const parsed = heartbeatSchema.safeParse(input);
    const beat = parsed.success ? (parsed.data as Heartbeat) : undefined;
    if (
      beat === undefined ||
      (subject !== undefined && subject !== `${beat.topology}._catga.heartbeat.${beat.service}`)
    ) {
      this.#invalid++;
      return false;
    }
    const key = `${beat.topology}/${beat.instance}`;
    const previous = this.#beats.get(key);
    if (previous !== undefined && previous.beat.service !== beat.service) {
      // One instance id cannot move between services: the newcomer is forged (or misconfigured).
      this.#invalid++;
      return false;
    }
    let rate = previous?.rate ?? 0;
    if (previous !== undefined && beat.at > previous.beat.at) {
      const processed = (c: Heartbeat["counters"]) => c.handled + c.errors;
      const delta = processed(beat.counters) - processed(previous.beat.counters);
      rate = Math.max(0, (delta * 1000) / (beat.at - previous.beat.at));
    }
    const heard =
      previous !== undefined && beat.at > previous.beat.at ? previous.heard + 1 : (previous?.heard ?? 1);
    this.#beats.set(key, { beat, receivedAt, rate, heard });
    return true;
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
  const decoder = new TextDecoder("utf-8", { fatal: true });
  return transport.subscribe(heartbeatSubject(topology), {}, (msg) => {
    let input: unknown;
    try {
      input = JSON.parse(decoder.decode(msg.data));
    } catch {
      input = undefined; // not JSON: counted as invalid below
    }
    board.add(input, Date.now(), msg.subject);
  });
}
