/**
 * Durable events, the parts that are the same for every consumer: which streams and consumers an
 * instance reconciles at start, the message id of an event emitted while handling a message, and
 * what happens to a delivery once its handling has settled (ack, redelivery with backoff, or a dead
 * letter). The host and the saga runner compose these; the transport's {@link DurableStreams} does
 * the storing.
 *
 * Dead-lettering is the runtime's, not the server's: the consumer is created without a server-side
 * delivery limit, and the runtime moves a message to the dead-letter stream itself once its handler
 * has failed `maxDeliver` times (or at once when it arrives more often than that: an instance died
 * while handling it, every time). A server-side limit would stop deliveries silently, leaving the
 * message in the stream where nobody lists or replays it.
 */
import { createHash } from "node:crypto";
import { wireOf } from "./_wire.js";
import { CatgaError, InvalidMessageError } from "./errors.js";
import type { Logger } from "./log.js";
import type { DurableMessage, DurableStreams, Headers } from "./transport/types.js";
import type { Wiring } from "./wiring.js";

/** Headers a dead letter carries besides the original message's own. */
export const DEAD = {
  /** The consuming service whose handler gave up. */
  service: "Catga-Dead-Service",
  /** The durable consumer it came through (a saga trigger has its own; a broadcast: the service). */
  consumer: "Catga-Dead-Consumer",
  /** The event's subject and stream, and its sequence there. */
  subject: "Catga-Dead-Subject",
  stream: "Catga-Dead-Stream",
  seq: "Catga-Dead-Seq",
  /** Deliveries made, and the last error (code: message). */
  deliveries: "Catga-Dead-Deliveries",
  reason: "Catga-Dead-Reason",
  /** On a replayed event: the only consumer that handles it (see `consumer`); every other one skips it. */
  replayFor: "Catga-Replay-For",
} as const;

/** Backoff of redeliveries after a failed handler. */
export interface RedeliveryPolicy {
  /**
   * Delay before the second delivery; doubles per delivery up to {@link maxMs}, with jitter.
   * @default 1000
   */
  baseMs?: number;
  /** @default 30000 */
  maxMs?: number;
}

/** The delay before delivery `deliveryCount + 1`: exponential, with equal jitter (half fixed, half random). */
export function redeliveryDelay(deliveryCount: number, policy: RedeliveryPolicy = {}): number {
  const base = policy.baseMs ?? 1000;
  const max = policy.maxMs ?? 30_000;
  const full = Math.min(max, base * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(full / 2 + (Math.random() * full) / 2);
}

/**
 * The message id of the `n`th event (counting from 0) named `event` emitted while handling the
 * message `parentId`. Derived, not drawn: a retry of the same request (same message id) that emits
 * the same events again publishes them with the same ids, so the stream's dedup window keeps each
 * once. A handler that emits in a different order on a retry gets different ids (a documented limit).
 */
export function derivedEventId(parentId: string, event: string, n: number): string {
  return createHash("sha256").update(`${parentId}\n${event}\n${n}`).digest("base64url").slice(0, 27);
}

/** The streams and consumers one instance of `service` reconciles before it serves. */
export interface DurablePlan {
  streams: { name: string; subjects: string[]; maxAgeMs: number; replicas: number; dedupWindowMs: number }[];
  consumers: { stream: string; name: string; filterSubject: string; ackWaitMs: number }[];
}

/**
 * What `service` needs: the stream of every durable event it emits or consumes, the dead-letter
 * stream when it consumes one, and its own durable consumers. Publishers reconcile the streams too,
 * so the order in which services start does not matter.
 */
export function durablePlan(wiring: Wiring, service: string): DurablePlan {
  const ws = wiring.services[service];
  const plan: DurablePlan = { streams: [], consumers: [] };
  if (ws === undefined) return plan;
  const events = new Set<string>(ws.emits);
  for (const s of ws.subscriptions) if (s.durable !== undefined) events.add(s.event);
  const triggers = ws.sagas.map((g) => wiring.sagas[g]?.trigger).filter((t) => t?.durable !== undefined);
  for (const t of triggers) events.add(t!.name);
  for (const event of [...events].sort()) {
    const m = wiring.messages[event];
    if (m?.durable === undefined) continue;
    plan.streams.push({
      name: m.durable.stream,
      subjects: [m.subject],
      maxAgeMs: m.durable.retentionMs,
      replicas: m.durable.replicas,
      dedupWindowMs: m.durable.dedupWindowMs,
    });
  }
  const consumes = triggers.length > 0 || ws.subscriptions.some((s) => s.durable !== undefined);
  if (consumes && wiring.deadLetters !== undefined) {
    const d = wiring.deadLetters;
    plan.streams.push({
      name: d.stream,
      subjects: [d.subjects],
      maxAgeMs: d.retentionMs,
      replicas: d.replicas,
      dedupWindowMs: 120_000,
    });
  }
  for (const s of ws.subscriptions) {
    if (s.durable?.consumer === undefined) continue;
    plan.consumers.push({
      stream: s.durable.stream,
      name: s.durable.consumer,
      filterSubject: s.subject,
      ackWaitMs: s.durable.ackWaitMs,
    });
  }
  for (const saga of ws.sagas) {
    const trigger = wiring.sagas[saga]?.trigger;
    const subject = trigger === undefined ? undefined : wiring.messages[trigger.name]?.subject;
    if (trigger?.durable?.consumer === undefined || subject === undefined) continue;
    plan.consumers.push({
      stream: trigger.durable.stream,
      name: trigger.durable.consumer,
      filterSubject: subject,
      ackWaitMs: trigger.durable.ackWaitMs,
    });
  }
  return plan;
}

/**
 * Creates or updates everything in the plan. A stream or consumer the server cannot change in place
 * rejects with `StreamConfigConflictError`: start-up stops there, nothing is recreated.
 */
export async function reconcile(streams: DurableStreams, plan: DurablePlan): Promise<void> {
  for (const s of plan.streams) await streams.ensureStream(s);
  // No server-side delivery limit: the runtime dead-letters (see the file comment).
  for (const c of plan.consumers) await streams.ensureConsumer({ ...c, maxDeliver: -1 });
}

/** Everything {@link settle} needs besides the message and the outcome. */
export interface SettleContext {
  streams: DurableStreams;
  service: string;
  /** The durable consumer name, or the service for a broadcast follower. */
  consumer: string;
  /** Deliveries before a failing message is dead-lettered. */
  maxDeliver: number;
  deadLetterSubject: string;
  redelivery?: RedeliveryPolicy;
  log: Logger;
}

/** How the handling of one delivery ended. */
export type Outcome =
  | { ok: true }
  /** Not this instance's to finish (its term or its life is ending): deliver again at once, elsewhere. */
  | { ok: false; retry: "now"; error: unknown }
  | { ok: false; retry?: undefined; error: unknown };

/**
 * Settles a delivery: acknowledges a success; a failure is delivered again after a backoff, or,
 * once it has failed `maxDeliver` times (or is malformed, which no retry can fix), published to the
 * dead-letter subject and then terminated. A dead letter that cannot be stored is not terminated: it
 * is delivered again later, so nothing is lost to a dead-letter stream that is briefly unavailable.
 */
export function settle(msg: DurableMessage, outcome: Outcome, c: SettleContext): Promise<void> | undefined {
  if (outcome.ok) {
    msg.ack();
    return undefined;
  }
  if (outcome.retry === "now") {
    msg.nak();
    return undefined;
  }
  const error = outcome.error;
  const poison = error instanceof InvalidMessageError;
  if (!poison && msg.deliveryCount < c.maxDeliver) {
    msg.nak(redeliveryDelay(msg.deliveryCount, c.redelivery));
    return undefined;
  }
  return deadLetter(msg, reasonOf(error), c);
}

/** The reason a delivery is dead-lettered before its handler runs: it came too often already. */
export function overDelivered(msg: DurableMessage, maxDeliver: number): boolean {
  return msg.deliveryCount > maxDeliver;
}

/** Moves a delivery to the dead letters, then terminates it; on failure, redelivers it later. */
export async function deadLetter(msg: DurableMessage, reason: string, c: SettleContext): Promise<void> {
  const headers: Headers = {
    ...msg.headers,
    [DEAD.service]: c.service,
    [DEAD.consumer]: c.consumer,
    [DEAD.subject]: msg.subject,
    [DEAD.stream]: msg.stream,
    [DEAD.seq]: String(msg.seq),
    [DEAD.deliveries]: String(msg.deliveryCount),
    [DEAD.reason]: reason.length > 500 ? `${reason.slice(0, 497)}...` : reason,
  };
  delete headers[DEAD.replayFor];
  try {
    await c.streams.publish(c.deadLetterSubject, msg.data, {
      // One dead letter per message and consumer, even if two instances give up on it at once.
      messageId: `dead-${c.consumer}-${msg.stream}-${msg.seq}`,
      headers,
    });
  } catch (error) {
    c.log.error("cannot store a dead letter; the event will be delivered again", {
      subject: msg.subject,
      seq: msg.seq,
      error,
    });
    msg.nak(redeliveryDelay(msg.deliveryCount, c.redelivery));
    return;
  }
  msg.term();
  c.log.warn("event dead-lettered", {
    subject: msg.subject,
    seq: msg.seq,
    deliveries: msg.deliveryCount,
    messageId: wireOf(msg).messageId,
    reason,
    deadLetterSubject: c.deadLetterSubject,
  });
}

function reasonOf(error: unknown): string {
  if (error instanceof CatgaError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
