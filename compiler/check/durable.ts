import { type Diagnostic, diagnostic, type MessageDecl, type Setting, type Span } from "../../dsl/index.js";
import type { DurableModel, NatsModel } from "../model.js";
import { checkKeys } from "./_values.js";
import {
  DEFAULT_DEDUP_WINDOW_MS,
  DEFAULT_MAX_DELIVER,
  DEFAULT_RETENTION_MS,
  dedupWithinRetention,
  readStreamSettings,
  STREAM_KEYS,
  suggestStreamKey,
} from "./settings.js";
import type { SymbolTable } from "./symbols.js";

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
  const streamSettings = (found: ReadonlyMap<string, Setting>, where: string) => {
    const sink: Diagnostic[] = [];
    const read = readStreamSettings(found, nats, where, sink);
    for (const d of sink) report(d);
    return read;
  };
  const base = streamSettings(defaults, "'nats'");

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
    const own = streamSettings(found, `event '${name}'`);
    const pick = (key: (typeof STREAM_KEYS)[number]) => own[key] ?? base[key];
    const beyond = dedupWithinRetention(name, own, base);
    if (beyond) report(beyond);
    durable.set(name, {
      retentionMs: pick("retain")?.value ?? DEFAULT_RETENTION_MS,
      maxDeliver: pick("deliveries")?.value ?? DEFAULT_MAX_DELIVER,
      replicas: pick("replicas")?.value ?? (nats.nodes >= 3 ? 3 : 1),
      dedupWindowMs: pick("dedup")?.value ?? DEFAULT_DEDUP_WINDOW_MS,
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
