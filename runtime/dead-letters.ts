/**
 * What operators ask of durable events: how full each stream is, how far behind each consumer is,
 * which events were dead-lettered and why, and putting a dead letter back in front of the one
 * service that gave up on it. Read through any connection's {@link DurableStreams}, so `catga
 * status`, `catga dead-letters` and tests share it.
 */
import { DEAD } from "./_durable.js";
import { own } from "./_own.js";
import { wireOf } from "./_wire.js";
import { CatgaError } from "./errors.js";
import type { DurableStreams, Headers, StoredMessage } from "./transport/types.js";
import type { Wiring } from "./wiring.js";

/** One stream in the status. */
export interface StreamReport {
  name: string;
  /** The durable event it stores; `null` for the dead-letter stream. */
  event: string | null;
  /** `null` when the stream does not exist (yet). */
  messages: number | null;
  bytes: number | null;
}

/** One durable consumer in the status. */
export interface ConsumerReport {
  stream: string;
  event: string;
  service: string;
  /** The durable consumer's name. */
  consumer: string;
  /** `null` when the consumer does not exist (yet). */
  pending: number | null;
  ackPending: number | null;
  redelivered: number | null;
  /** Dead letters of this service and event now in the dead-letter stream. */
  deadLetters: number;
}

/** What `catga status` shows of durable events. */
export interface DurableReport {
  streams: StreamReport[];
  consumers: ConsumerReport[];
}

/** A dead letter as listed. */
export interface DeadLetter {
  /** Its sequence in the dead-letter stream: what `replay` takes. */
  seq: number;
  service: string;
  /** The durable consumer that gave up (a saga trigger's own, or the service's). */
  consumer: string;
  event: string;
  /** Where it came from. */
  subject: string;
  stream: string;
  originalSeq: number;
  messageId: string;
  deliveries: number;
  reason: string;
  /** Epoch ms when it was dead-lettered. */
  at: number;
  /** The event's payload, as JSON text. */
  payload: string;
}

/** A dead letter to replay is not in the dead-letter stream (replayed already, or expired). */
export class DeadLetterNotFoundError extends CatgaError {
  override name = "DeadLetterNotFoundError";
  constructor(readonly seq: number) {
    super(`no dead letter with sequence ${seq} (replayed already, or past its retention)`, {
      code: "DEAD_LETTER_NOT_FOUND",
    });
  }
}

/** Streams and consumers of every durable event of the topology, with their dead letters counted. */
export async function durableReport(streams: DurableStreams, wiring: Wiring): Promise<DurableReport> {
  const report: DurableReport = { streams: [], consumers: [] };
  const letters = wiring.deadLetters === undefined ? [] : await listDeadLetters(streams, wiring);
  for (const [event, m] of Object.entries(wiring.messages)) {
    if (m.durable === undefined) continue;
    const state = await streams.streamState(m.durable.stream);
    report.streams.push({
      name: m.durable.stream,
      event,
      messages: state?.messages ?? null,
      bytes: state?.bytes ?? null,
    });
  }
  if (wiring.deadLetters !== undefined) {
    const state = await streams.streamState(wiring.deadLetters.stream);
    report.streams.push({
      name: wiring.deadLetters.stream,
      event: null,
      messages: state?.messages ?? null,
      bytes: state?.bytes ?? null,
    });
  }
  const consumers: { service: string; event: string; stream: string; consumer: string }[] = [];
  for (const [service, ws] of Object.entries(wiring.services)) {
    for (const s of ws.subscriptions) {
      if (s.durable?.consumer !== undefined) {
        consumers.push({ service, event: s.event, stream: s.durable.stream, consumer: s.durable.consumer });
      }
    }
    for (const saga of ws.sagas) {
      const t = wiring.sagas[saga]?.trigger;
      if (t?.durable?.consumer !== undefined) {
        consumers.push({ service, event: t.name, stream: t.durable.stream, consumer: t.durable.consumer });
      }
    }
  }
  for (const c of consumers) {
    const state = await streams.consumerState(c.stream, c.consumer);
    report.consumers.push({
      ...c,
      pending: state?.pending ?? null,
      ackPending: state?.ackPending ?? null,
      redelivered: state?.redelivered ?? null,
      deadLetters: letters.filter((l) => l.consumer === c.consumer && l.event === c.event).length,
    });
  }
  return report;
}

/**
 * The dead letters in the stream, oldest first, optionally of one service.
 *
 * @param options.limit at most this many (the oldest). @default 10000
 */
export async function listDeadLetters(
  streams: DurableStreams,
  wiring: Wiring,
  options: { service?: string; limit?: number } = {},
): Promise<DeadLetter[]> {
  const d = wiring.deadLetters;
  if (d === undefined) return [];
  const state = await streams.streamState(d.stream);
  if (state === undefined || state.messages === 0) return [];
  const limit = options.limit ?? 10_000;
  const out: DeadLetter[] = [];
  let from = state.firstSeq;
  while (from <= state.lastSeq && out.length < limit) {
    const batch = await streams.read(d.stream, { fromSeq: from, limit: 256 });
    if (batch.length === 0) break;
    for (const m of batch) {
      const letter = toDeadLetter(m, wiring);
      if (options.service === undefined || letter.service === options.service) out.push(letter);
      if (out.length >= limit) break;
    }
    from = batch[batch.length - 1]!.seq + 1;
  }
  return out;
}

/**
 * Replays a dead letter: publishes the original event again on its subject, marked for the one
 * consumer that dead-lettered it (every other consumer skips it), then removes it from the
 * dead-letter stream. The event keeps its Catga message id, so a handler that deduplicates on it
 * sees the same id as in the failed deliveries.
 *
 * @throws DeadLetterNotFoundError when no dead letter has this sequence.
 */
export async function replayDeadLetter(
  streams: DurableStreams,
  wiring: Wiring,
  seq: number,
): Promise<DeadLetter> {
  const d = wiring.deadLetters;
  if (d === undefined) throw new DeadLetterNotFoundError(seq);
  const [m] = await streams.read(d.stream, { fromSeq: seq, limit: 1 });
  if (m === undefined || m.seq !== seq) throw new DeadLetterNotFoundError(seq);
  const letter = toDeadLetter(m, wiring);
  const headers: Headers = {};
  for (const [k, v] of Object.entries(m.headers)) if (!k.startsWith("Catga-Dead-")) headers[k] = v;
  headers[DEAD.replayFor] = letter.consumer;
  await streams.publish(letter.subject, m.data, {
    // A new stream message (the original is still within dedup, or was removed), once per replay.
    messageId: `replay-${d.stream}-${m.seq}`,
    headers,
  });
  await streams.remove(d.stream, m.seq);
  return letter;
}

function toDeadLetter(m: StoredMessage, wiring: Wiring): DeadLetter {
  const h = m.headers;
  const wire = wireOf(m);
  const parts = m.subject.split(".");
  const service = h[DEAD.service] ?? parts[parts.length - 2] ?? "?";
  const event = parts[parts.length - 1] ?? "?";
  const subject = h[DEAD.subject] ?? own(wiring.messages, event)?.subject ?? "";
  return {
    seq: m.seq,
    service,
    consumer: h[DEAD.consumer] ?? service,
    event,
    subject,
    stream: h[DEAD.stream] ?? "",
    originalSeq: Number(h[DEAD.seq] ?? 0),
    messageId: wire.messageId,
    deliveries: Number(h[DEAD.deliveries] ?? 0),
    reason: h[DEAD.reason] ?? "",
    at: m.time,
    // The JSON body, without the version 3 envelope before it (the ids are fields of their own).
    payload: Buffer.from(m.data.subarray(wire.body)).toString("utf8"),
  };
}
