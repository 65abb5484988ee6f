import { BUILTIN_TYPES } from "../../compiler/model.js";
import { type Analysis, type Declared, declarationAround, type NameKind } from "./_analysis.js";
import { describe } from "./_hover.js";
import {
  type Block,
  DECLARATIONS,
  SAGA_ITEMS,
  SERVICE_ITEMS,
  SETTINGS,
  type SettingWord,
  STEP_WORDS,
} from "./_vocabulary.js";

/** One proposal; `kind` is mapped to the LSP's CompletionItemKind by the server. */
export interface Proposal {
  label: string;
  kind: "keyword" | "setting" | "value" | NameKind | "builtin";
  detail?: string;
  /** Markdown: the declaration's signature and `///` doc, or a setting's meaning. */
  documentation?: string;
  /** A snippet (LSP snippet syntax) to insert instead of the label. */
  snippet?: string;
}

/**
 * What may be written at `offset`: the place is read from the text of the line before the cursor
 * (so it works while the line is still being typed and does not parse) and from the declaration
 * around the cursor. The names offered come from `names` (the current analysis, or the last one
 * without syntax errors when the current one lost declarations).
 */
export function completeAt(analysis: Analysis, offset: number, names: Analysis = analysis): Proposal[] {
  const text = analysis.text;
  const lineStart = Math.max(text.lastIndexOf("\n", offset - 1) + 1, 0);
  const before = text.slice(lineStart, offset);
  if (/\/\/|"[^"]*$/.test(before)) return []; // in a comment or a string
  const decl = declarationAround(analysis, offset);
  const declared = (kinds: readonly NameKind[]) => namesOf(names, kinds);

  // A field's type, a result type: after ':' or '->'.
  if (
    /(:|->)\s*\w*$/.test(before) &&
    (decl?.kind === "Type" || decl?.kind === "Message" || decl === undefined)
  ) {
    return [
      ...BUILTIN_TYPES.map((t): Proposal => ({ label: t, kind: "builtin", detail: "builtin type" })),
      ...declared(["type", "enum"]),
    ];
  }
  if (decl?.kind === "Service") {
    const inBlock = blockBefore(text, decl.span.start.offset, offset);
    if (inBlock === "resources") return settingKeys(before, SETTINGS.resources);
    if (inBlock === "env") return [];
    const item = /^\s*(handles|on|emits|sends|runs|uses)\s+(?:\w+\s*,\s*)*\w*$/.exec(before)?.[1];
    if (item === "handles" || item === "sends") return declared(["command", "query"]);
    if (item === "on" || item === "emits") return declared(["event"]);
    if (item === "runs") return declared(["saga"]);
    if (item === "uses")
      return [{ label: "redis", kind: "value", documentation: "The service keeps its own data in Redis." }];
    if (/^\s*on\s+[\w,\s]*\w\s+\w*$/.test(before))
      return [{ label: "broadcast", kind: "keyword", documentation: "Every replica sees each event." }];
    if (/^\s*handles\s+[\w,\s]*\w\s+\w*$/.test(before))
      return [
        {
          label: "queue",
          kind: "keyword",
          documentation: "A named NATS queue group.",
          snippet: 'queue "$1"',
        },
      ];
    const value = settingValue(before, SETTINGS.service);
    if (value) return value;
    if (/^\s*\w*$/.test(before)) return settingKeys(before, [...SETTINGS.service, ...SERVICE_ITEMS]);
    return [];
  }
  if (decl?.kind === "Saga") {
    if (/^\s*on\s+\w*$/.test(before)) return declared(["event", "command"]);
    if (/^\s*step\s+\w*$/.test(before)) return declared(["command"]);
    if (/^\s*step\s+\w+\s+compensate\s+\w*$/.test(before)) return declared(["command"]);
    if (/^\s*step\s+\w+\s+\w*$/.test(before)) return words(STEP_WORDS, "keyword");
    if (/^\s*step\s+\w+\s+(compensate\s+\w+|irreversible)\s+\w*$/.test(before))
      return words([STEP_WORDS[2]!], "keyword");
    if (/^\s*\w*$/.test(before)) return words(SAGA_ITEMS, "keyword");
    return [];
  }
  if (decl?.kind === "Infra") {
    const table = SETTINGS[decl.target];
    return settingValue(before, table) ?? (/(^|[{,])\s*\w*$/.test(before) ? settingKeys(before, table) : []);
  }
  if (decl?.kind === "Message" && /}\s*(\w+\s+\w+\s+)*\w*$/.test(text.slice(decl.span.start.offset, offset)))
    return settingKeys(before, SETTINGS.stream);
  if (decl === undefined && /^\s*\w*$/.test(before)) return words(DECLARATIONS, "keyword");
  return [];
}

/** Proposals for the declared names of `kinds`, documented with their signature and doc comment. */
function namesOf(analysis: Analysis, kinds: readonly NameKind[]): Proposal[] {
  const out: Proposal[] = [];
  for (const [name, declared] of analysis.shared) {
    if (!kinds.includes(declared.kind)) continue;
    out.push({
      label: name,
      kind: declared.kind,
      detail: declared.kind,
      documentation: describeSafely(analysis, declared),
    });
  }
  return out;
}

function describeSafely(analysis: Analysis, declared: Declared): string {
  return describe(analysis, declared);
}

function words(table: readonly SettingWord[], kind: Proposal["kind"]): Proposal[] {
  return table.map((w) => ({
    label: w.key,
    kind,
    documentation: w.meaning,
    ...(w.snippet !== undefined ? { snippet: w.snippet } : {}),
  }));
}

function settingKeys(_before: string, table: readonly SettingWord[]): Proposal[] {
  return words(table, "setting");
}

/** After `key ` of a word-valued setting: its words. */
function settingValue(before: string, table: readonly SettingWord[]): Proposal[] | undefined {
  const key = /(?:^|[{,\s])(\w+)\s+\w*$/.exec(before)?.[1];
  const word = table.find((w) => w.key === key);
  if (!word?.values) return undefined;
  return Object.entries(word.values).map(([label, meaning]) => ({
    label,
    kind: "value",
    documentation: meaning,
  }));
}

/** Whether the cursor sits inside an `env { }` or `resources { }` block of a service. */
function blockBefore(text: string, from: number, offset: number): "env" | "resources" | undefined {
  const body = text.slice(from, offset);
  const open = /\b(env|resources)\s*\{[^}]*$/.exec(body);
  return open ? (open[1] as "env" | "resources") : undefined;
}

export type { Block };
