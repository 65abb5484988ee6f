import type {
  Declaration,
  Field,
  MessageDecl,
  SagaDecl,
  ServiceDecl,
  Setting,
  Span,
  TypeRef,
} from "../../dsl/index.js";
import {
  type Analysis,
  type Declared,
  declarationAround,
  declarationOf,
  type Occurrence,
  occurrenceAt,
} from "./_analysis.js";
import {
  type Block,
  DECLARATIONS,
  SAGA_ITEMS,
  SERVICE_ITEMS,
  STEP_WORDS,
  settingWord,
} from "./_vocabulary.js";

/** A hover: markdown and the span it is about. */
export interface HoverInfo {
  markdown: string;
  span: Span;
}

/** What to show for the word at `offset`: a name, a setting key or value, or a keyword. */
export function hoverAt(analysis: Analysis, offset: number): HoverInfo | undefined {
  const occurrence = occurrenceAt(analysis, offset);
  if (occurrence) {
    const declared = declarationOf(analysis, occurrence);
    if (declared) return { markdown: describe(analysis, declared), span: occurrence.span };
    return undefined;
  }
  return settingHover(analysis, offset) ?? keywordHover(analysis, offset);
}

/** The markdown of a declaration: its signature, doc comment and who uses it. */
export function describe(analysis: Analysis, declared: Declared): string {
  const parts: string[] = [];
  switch (declared.kind) {
    case "type":
    case "enum": {
      const decl = declared.decl;
      parts.push(
        fence(
          decl.kind === "Type"
            ? `type ${decl.name.text} ${fieldsText(decl.fields)}`
            : `enum ${decl.name.text} { ${decl.members.map((m) => m.name.text).join(", ")} }`,
        ),
      );
      if (decl.doc) parts.push(decl.doc.text);
      const users = usersOf(analysis, decl.name.text, ["type"]);
      if (users.length > 0) parts.push(`Used by ${users.join(", ")}.`);
      break;
    }
    case "command":
    case "query":
    case "event": {
      const decl = declared.decl;
      parts.push(fence(messageSignature(decl)));
      if (decl.doc) parts.push(decl.doc.text);
      parts.push(...messageUses(analysis, decl));
      break;
    }
    case "saga":
      parts.push(fence(sagaText(declared.decl)));
      if (declared.decl.doc) parts.push(declared.decl.doc.text);
      parts.push(...listOf("Run by", servicesWith(analysis, declared.decl.name.text, "runs")));
      break;
    case "service":
      parts.push(fence(`service ${declared.decl.name.text}`));
      if (declared.decl.doc) parts.push(declared.decl.doc.text);
      parts.push(serviceFacts(declared.decl));
      break;
  }
  return parts.filter((p) => p !== "").join("\n\n");
}

function fence(code: string): string {
  return `\`\`\`catga\n${code}\n\`\`\``;
}

export function typeText(t: TypeRef): string {
  return `${t.name.text}${"[]".repeat(t.listDepth)}${t.optional ? "?" : ""}`;
}

function fieldsText(fields: readonly Field[]): string {
  if (fields.length === 0) return "{}";
  return `{\n${fields.map((f) => `  ${f.name.text}: ${typeText(f.type)}`).join("\n")}\n}`;
}

export function messageSignature(decl: MessageDecl): string {
  const modifiers = `${decl.idempotent ? "idempotent " : ""}${decl.durable ? "durable " : ""}`;
  const result = decl.result ? ` -> ${typeText(decl.result)}` : "";
  return `${modifiers}${decl.messageKind} ${decl.name.text} ${fieldsText(decl.fields)}${result}`;
}

function sagaText(decl: SagaDecl): string {
  const lines = decl.items.map((item) =>
    item.kind === "SagaOn"
      ? `  on ${item.name.text}`
      : `  step ${item.command.text}${item.compensate ? ` compensate ${item.compensate.text}` : ""}${
          item.irreversible ? " irreversible" : ""
        }${item.timeout ? ` timeout ${item.timeout.text}` : ""}`,
  );
  return `saga ${decl.name.text} {\n${lines.join("\n")}\n}`;
}

/** Names of the declarations that refer to `name` in one of `roles`, deduplicated, in order. */
function usersOf(analysis: Analysis, name: string, roles: readonly Occurrence["role"][]): string[] {
  const users = new Set<string>();
  for (const o of analysis.occurrences) {
    if (o.name !== name || o.namespace !== "shared" || !roles.includes(o.role)) continue;
    const owner = o.owner;
    if (owner && "name" in owner) users.add(`\`${owner.name.text}\``);
  }
  return [...users];
}

function servicesWith(analysis: Analysis, name: string, role: Occurrence["role"]): string[] {
  return usersOf(analysis, name, [role]);
}

function listOf(label: string, names: readonly string[]): string[] {
  return names.length === 0 ? [] : [`${label} ${names.join(", ")}.`];
}

function messageUses(analysis: Analysis, decl: MessageDecl): string[] {
  const name = decl.name.text;
  if (decl.messageKind === "event") {
    const consumers: string[] = [];
    for (const service of analysis.file.declarations) {
      if (service.kind !== "Service") continue;
      for (const item of service.items) {
        if (item.kind === "On" && item.names.some((n) => n.text === name))
          consumers.push(`\`${service.name.text}\`${item.broadcast ? " (broadcast)" : ""}`);
      }
    }
    const out = [
      ...listOf("Emitted by", servicesWith(analysis, name, "emits")),
      ...listOf("Consumed by", consumers),
      ...listOf("Starts saga", usersOf(analysis, name, ["trigger"])),
    ];
    return out.length > 0 ? out : ["Neither emitted nor consumed by any service."];
  }
  const handlers: string[] = [];
  for (const service of analysis.file.declarations) {
    if (service.kind !== "Service") continue;
    const facts = settingsOf(service);
    for (const item of service.items) {
      if (item.kind !== "Handles" || !item.names.some((n) => n.text === name)) continue;
      const queue =
        facts.mode === "leader" ? "leader only" : `queue group \`${item.queue?.value ?? service.name.text}\``;
      handlers.push(`\`${service.name.text}\` (${queue})`);
    }
  }
  const out = [
    handlers.length > 0 ? `Handled by ${handlers.join(", ")}.` : "Not handled by any service.",
    ...listOf("Sent by", servicesWith(analysis, name, "sends")),
    ...listOf("Step of saga", usersOf(analysis, name, ["step"])),
    ...listOf("Compensates in saga", usersOf(analysis, name, ["compensate"])),
    ...listOf("Starts saga", usersOf(analysis, name, ["trigger"])),
  ];
  if (decl.result) out.unshift(`Result: \`${typeText(decl.result)}\`.`);
  return out;
}

interface ServiceFacts {
  mode: string;
  replicas: string;
  lease: string | undefined;
}

function settingsOf(service: ServiceDecl): ServiceFacts {
  const written = new Map<string, Setting>();
  for (const item of service.items) {
    if (item.kind === "ServiceSetting" && !written.has(item.setting.key.text))
      written.set(item.setting.key.text, item.setting);
  }
  const text = (key: string) => {
    const v = written.get(key)?.value;
    return v === undefined ? undefined : v.kind === "String" ? v.value : v.text;
  };
  const mode = text("mode") ?? "p2p";
  return {
    mode,
    replicas: text("replicas") ?? "1",
    lease: mode === "leader" ? (text("lease") ?? "10s (default)") : undefined,
  };
}

function serviceFacts(service: ServiceDecl): string {
  const facts = settingsOf(service);
  const lines = [`- mode: \`${facts.mode}\``, `- replicas: ${facts.replicas}`];
  if (facts.lease) lines.push(`- lease: ${facts.lease}`);
  const names = (kind: string) =>
    service.items.flatMap((i) =>
      i.kind === kind && "names" in i ? i.names.map((n) => `\`${n.text}\``) : [],
    );
  const queues = new Set<string>();
  for (const item of service.items)
    if (item.kind === "Handles" && facts.mode !== "leader")
      queues.add(item.queue?.value ?? service.name.text);
  if (queues.size > 0) lines.push(`- queue groups: ${[...queues].map((q) => `\`${q}\``).join(", ")}`);
  for (const [kind, label] of [
    ["Handles", "handles"],
    ["On", "consumes"],
    ["Emits", "emits"],
    ["Sends", "sends"],
    ["Runs", "runs"],
    ["Uses", "uses"],
  ] as const) {
    const list = names(kind);
    if (list.length > 0) lines.push(`- ${label}: ${list.join(", ")}`);
  }
  return lines.join("\n");
}

/** The block of settings a setting belongs to. */
function blockOf(decl: Declaration, setting: Setting): Block | undefined {
  if (decl.kind === "Infra") return decl.target;
  if (decl.kind === "Message") return "stream";
  if (decl.kind === "Service") {
    for (const item of decl.items) {
      if (item.kind === "ServiceSetting" && item.setting === setting) return "service";
      if (item.kind === "Resources" && item.settings.includes(setting)) return "resources";
    }
  }
  return undefined;
}

function settingsIn(decl: Declaration): Setting[] {
  switch (decl.kind) {
    case "Infra":
    case "Message":
      return decl.settings;
    case "Service":
      return decl.items.flatMap((i) =>
        i.kind === "ServiceSetting"
          ? [i.setting]
          : i.kind === "Resources" || i.kind === "Env"
            ? i.settings
            : [],
      );
    default:
      return [];
  }
}

const within = (span: Span, offset: number) => span.start.offset <= offset && offset <= span.end.offset;

function settingHover(analysis: Analysis, offset: number): HoverInfo | undefined {
  const decl = declarationAround(analysis, offset);
  if (!decl) return undefined;
  for (const setting of settingsIn(decl)) {
    if (!within(setting.span, offset)) continue;
    const block = blockOf(decl, setting);
    if (block === undefined) return undefined;
    const word = settingWord(block, setting.key.text);
    if (!word) return undefined;
    if (within(setting.key.span, offset))
      return { markdown: `**${word.key}**: ${word.meaning}`, span: setting.key.span };
    const value = setting.value;
    if (value.kind === "Identifier" && word.values?.[value.text] !== undefined)
      return { markdown: `**${word.key} ${value.text}**: ${word.values[value.text]}`, span: value.span };
    return { markdown: `**${word.key}**: ${word.meaning}`, span: setting.span };
  }
  return undefined;
}

/** Meanings of the keywords that start items and declarations, for a hover on the keyword itself. */
function keywordHover(analysis: Analysis, offset: number): HoverInfo | undefined {
  const match = wordAt(analysis.text, offset);
  if (!match) return undefined;
  const decl = declarationAround(analysis, offset);
  const table =
    decl?.kind === "Service" ? SERVICE_ITEMS : decl?.kind === "Saga" ? [...SAGA_ITEMS, ...STEP_WORDS] : [];
  const word = [...table, ...DECLARATIONS].find((w) => w.key === match.word);
  if (!word) return undefined;
  const span: Span = {
    file: analysis.uri,
    start: positionOf(analysis.text, match.start),
    end: positionOf(analysis.text, match.end),
  };
  return { markdown: `**${word.key}**: ${word.meaning}`, span };
}

/** The word (name characters) around `offset`. */
export function wordAt(
  text: string,
  offset: number,
): { word: string; start: number; end: number } | undefined {
  let start = offset;
  while (start > 0 && /\w/.test(text[start - 1]!)) start--;
  let end = offset;
  while (end < text.length && /\w/.test(text[end]!)) end++;
  if (start === end) return undefined;
  return { word: text.slice(start, end), start, end };
}

/** A 1-based position from an offset. */
export function positionOf(text: string, offset: number): { line: number; column: number; offset: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1, offset };
}
