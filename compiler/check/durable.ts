import { type Diagnostic, diagnostic, type MessageDecl, type Setting, type Span } from "../../dsl/index.js";
import type { DurableModel, NatsModel } from "../model.js";
import { suggest } from "./_text.js";
import { checkKeys, durationValue, intValue } from "./_values.js";
import type { SymbolTable } from "./symbols.js";

/**
 * Stream settings of durable events: written in the `nats { }` block as defaults for every durable
 * event, or after the body of one durable event (`durable event A { … } retain 30d`) for it alone.
 */
export const STREAM_KEYS = ["retain", "deliveries", "replicas", "dedup"] as const;

/** How long a stream keeps an event when nothing says otherwise: a week covers a long weekend's outage. */
export const DEFAULT_RETENTION_MS = 7 * 86_400_000;
/** Deliveries of one event to one consuming service before it is dead-lettered. */
export const DEFAULT_MAX_DELIVER = 5;
/** JetStream's own default duplicate window: a client's retries happen well within it. */
export const DEFAULT_DEDUP_WINDOW_MS = 2 * 60_000;
/**
 * Retention bounds (C3027): below a minute a consumer that restarts finds its events gone; above a
 * year a stream is an archive, which belongs in a database.
 */
export const RETENTION_MIN_MS = 60_000;
export const RETENTION_MAX_MS = 365 * 86_400_000;
/** Shortest dedup window (C3028): a retry after a lost acknowledgement takes about that long. */
export const DEDUP_MIN_MS = 1_000;
/** JetStream replicates a stream on at most 5 servers. */
export const MAX_STREAM_REPLICAS = 5;

/** The names people reach for first, from JetStream's own vocabulary: "did you mean" hints. */
const ALIASES: Record<string, (typeof STREAM_KEYS)[number]> = {
  retention: "retain",
  maxAge: "retain",
  ttl: "retain",
  maxDeliver: "deliveries",
  maxDeliveries: "deliveries",
  retries: "deliveries",
  attempts: "deliveries",
  streamReplicas: "replicas",
  replication: "replicas",
  duplicateWindow: "dedup",
  dedupWindow: "dedup",
  duplicates: "dedup",
};

/** "Did you mean" for an unknown stream setting: a JetStream word first, then the closest key. */
export function suggestStreamKey(key: string, others: readonly string[] = []): string | undefined {
  return ALIASES[key] ?? suggest(key, [...STREAM_KEYS, ...others]);
}

/** One written stream setting, valid on its own. */
interface Written {
  value: number;
  setting: Setting;
}

type StreamSettings = Partial<Record<(typeof STREAM_KEYS)[number], Written>>;

/**
 * Checks durable events and their stream settings, and resolves every durable event's settings
 * (per event over the `nats` defaults over the built-in defaults).
 *
 * Reports `durable` on a command or query (C3025), stream settings on a message that is not a
 * durable event (C3026), retention out of bounds (C3027), a dedup window out of bounds or longer
 * than the retention (C3028), fewer than one delivery (C3029), stream replicas above JetStream's 5
 * or the NATS node count (C3030), and stream defaults in `nats` with no durable event (C3031).
 * Unknown keys (C2007), repeated keys (C2004) and values of the wrong kind (C2008) are reported as in
 * every other settings block.
 *
 * @param defaults The stream settings found in the `nats` block (keys already checked there).
 */
export function checkDurable(
  table: SymbolTable,
  nats: NatsModel,
  defaults: ReadonlyMap<string, Setting>,
  out: Diagnostic[],
): Map<string, DurableModel> {
  const reported = new Set<string>();
  const report = (d: Diagnostic) => {
    const key = `${d.code}@${d.span.start.offset}`;
    if (reported.has(key)) return;
    reported.add(key);
    out.push(d);
  };
  const base = readStreamSettings(defaults, nats, "'nats'", report);

  const durable = new Map<string, DurableModel>();
  const durableEvents: MessageDecl[] = [];
  for (const message of table.messages) {
    const name = message.name.text;
    const kind = message.messageKind;
    if (message.durable && kind !== "event") {
      report(
        diagnostic("C3025", message.durable, `${kind} '${name}' cannot be durable`, {
          hint: `'durable' stores events in a stream; ${kind === "query" ? "a query" : "a command"} is answered while its caller waits, so there is nothing to store: remove it${kind === "command" ? " (mark the command 'idempotent' so clients may retry it)" : ""}`,
        }),
      );
    }
    if (message.settings.length > 0 && !(message.durable && kind === "event")) {
      // A durable command is reported once, as C3025: its settings are part of the same slip.
      if (!message.durable) {
        const first = message.settings[0]!;
        const last = message.settings[message.settings.length - 1]!;
        const span: Span = { file: first.span.file, start: first.span.start, end: last.span.end };
        report(
          diagnostic(
            "C3026",
            span,
            `stream settings on ${kind} '${name}', which is not durable: only a durable event has a stream`,
            {
              hint:
                kind === "event"
                  ? `write 'durable event ${name}' to store it, or remove the settings`
                  : "remove the settings",
            },
          ),
        );
      }
      continue;
    }
    if (!message.durable || kind !== "event") continue;
    durableEvents.push(message);
    const found = checkKeys(message.settings, STREAM_KEYS, `event '${name}'`, out, (s) =>
      suggestStreamKey(s.key.text),
    );
    const own = readStreamSettings(found, nats, `event '${name}'`, report);
    const pick = (key: (typeof STREAM_KEYS)[number]) => own[key] ?? base[key];
    const retain = pick("retain");
    const dedup = pick("dedup");
    const retentionMs = retain?.value ?? DEFAULT_RETENTION_MS;
    const dedupWindowMs = dedup?.value ?? DEFAULT_DEDUP_WINDOW_MS;
    if (dedupWindowMs > retentionMs) {
      // At the written one of the two, the event's own first: that is the line to change.
      const at = own.dedup ?? own.retain ?? dedup ?? retain;
      if (at) {
        const dedupText = dedup ? dedup.setting.value.text : "2m, the default";
        const retainText = retain ? retain.setting.value.text : "7d, the default";
        report(
          diagnostic(
            "C3028",
            at.setting.value.span,
            `the dedup window of event '${name}' (${dedupText}) is longer than its retention (${retainText})`,
            {
              hint: `JetStream needs the dedup window within the retention: write 'dedup ${retainText.split(" ")[0]}' or less, or retain longer`,
            },
          ),
        );
      }
    }
    durable.set(name, {
      retentionMs,
      maxDeliver: pick("deliveries")?.value ?? DEFAULT_MAX_DELIVER,
      replicas: pick("replicas")?.value ?? (nats.nodes >= 3 ? 3 : 1),
      dedupWindowMs,
    });
  }

  if (durableEvents.length === 0 && defaults.size > 0) {
    const settings = [...defaults.values()].sort((a, b) => a.span.start.offset - b.span.start.offset);
    const first = settings[0]!;
    report(
      diagnostic(
        "C3031",
        first.key.span,
        `stream settings in 'nats' (${settings.map((s) => `'${s.key.text}'`).join(", ")}) apply to no event: none is durable`,
        {
          hint: "write 'durable event <Name>' for events that must survive a crash, or remove the settings",
        },
      ),
    );
  }
  return durable;
}

/** Reads and checks the values of one block of stream settings, each on its own. */
function readStreamSettings(
  found: ReadonlyMap<string, Setting>,
  nats: NatsModel,
  where: string,
  report: (d: Diagnostic) => void,
): StreamSettings {
  const result: StreamSettings = {};
  const sink: Diagnostic[] = [];

  const retain = found.get("retain");
  if (retain) {
    const ms = durationValue(retain, sink);
    if (ms !== undefined && (ms < RETENTION_MIN_MS || ms > RETENTION_MAX_MS)) {
      report(
        diagnostic(
          "C3027",
          retain.value.span,
          `retention ${retain.value.text} in ${where} is outside 1m to 365d`,
          {
            hint:
              ms < RETENTION_MIN_MS
                ? "a consumer restarting would find its events gone: keep them at least 1m (7d is the default)"
                : "a stream is not an archive: keep events at most 365d, and store history in a database",
          },
        ),
      );
    } else if (ms !== undefined) result.retain = { value: ms, setting: retain };
  }

  const dedup = found.get("dedup");
  if (dedup) {
    const ms = durationValue(dedup, sink);
    if (ms !== undefined && ms < DEDUP_MIN_MS) {
      report(
        diagnostic(
          "C3028",
          dedup.value.span,
          `dedup window ${dedup.value.text} in ${where} is shorter than 1s`,
          {
            hint: "a client retrying a publish whose acknowledgement was lost would store the event twice: use at least 1s (2m is the default)",
          },
        ),
      );
    } else if (ms !== undefined) result.dedup = { value: ms, setting: dedup };
  }

  const deliveries = found.get("deliveries");
  if (deliveries) {
    const n = intValue(deliveries, sink);
    if (n !== undefined && n < 1) {
      report(
        diagnostic(
          "C3029",
          deliveries.value.span,
          `'deliveries ${n}' in ${where} would never deliver an event`,
          {
            hint: "deliveries counts attempts before an event is dead-lettered: write 'deliveries 1' or more (5 is the default)",
          },
        ),
      );
    } else if (n !== undefined) result.deliveries = { value: n, setting: deliveries };
  }

  const replicas = found.get("replicas");
  if (replicas) {
    const n = intValue(replicas, sink);
    // With `url`, the cluster is someone else's and its size unknown: only JetStream's limit holds.
    const nodes = nats.url === undefined ? nats.nodes : MAX_STREAM_REPLICAS;
    const max = Math.min(MAX_STREAM_REPLICAS, nodes);
    if (n !== undefined && (n < 1 || n > max)) {
      report(
        diagnostic(
          "C3030",
          replicas.value.span,
          n < 1
            ? `a stream needs at least 1 replica, not ${n} (in ${where})`
            : n > MAX_STREAM_REPLICAS
              ? `JetStream replicates a stream on at most ${MAX_STREAM_REPLICAS} servers, not ${n} (in ${where})`
              : `${n} stream replicas need ${n} NATS servers, but the cluster has ${nodes} (in ${where})`,
          {
            hint:
              n < 1
                ? "write 'replicas 1' or more"
                : n > MAX_STREAM_REPLICAS
                  ? `write 'replicas ${max}' or less; 3 survives the loss of one server`
                  : `write 'replicas ${max}' or less, or 'nodes ${n}' in the nats block`,
          },
        ),
      );
    } else if (n !== undefined) result.replicas = { value: n, setting: replicas };
  }
  for (const d of sink) report(d);
  return result;
}
