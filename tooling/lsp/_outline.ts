import type { Declaration, Setting, Span } from "../../dsl/index.js";
import type { Analysis } from "./_analysis.js";

/** A node of the outline; `kind` is mapped to the LSP's SymbolKind by the server. */
export interface OutlineNode {
  name: string;
  detail: string;
  kind:
    | "topology"
    | "infra"
    | "enum"
    | "member"
    | "type"
    | "field"
    | "message"
    | "service"
    | "item"
    | "saga"
    | "setting";
  /** The whole construct. */
  span: Span;
  /** The name. */
  selection: Span;
  children: OutlineNode[];
}

/** The outline of a file: declarations with their fields, members, items and settings. */
export function outline(analysis: Analysis): OutlineNode[] {
  return analysis.file.declarations.map(declarationNode);
}

function node(
  name: string,
  detail: string,
  kind: OutlineNode["kind"],
  span: Span,
  selection: Span,
  children: OutlineNode[] = [],
): OutlineNode {
  // Editors reject a selection outside the range; recovery can leave a zero-width name elsewhere.
  const inside =
    selection.start.offset >= span.start.offset && selection.end.offset <= span.end.offset ? selection : span;
  return { name: name === "" ? "(unnamed)" : name, detail, kind, span, selection: inside, children };
}

function settingNode(s: Setting): OutlineNode {
  const value =
    s.value.kind === "String" ? s.value.text : s.value.kind === "Identifier" ? s.value.text : s.value.text;
  return node(s.key.text, value, "setting", s.span, s.key.span);
}

function declarationNode(decl: Declaration): OutlineNode {
  switch (decl.kind) {
    case "Topology":
      return node(decl.name.text, "topology", "topology", decl.span, decl.name.span);
    case "Infra":
      return node(decl.target, "", "infra", decl.span, decl.keyword, decl.settings.map(settingNode));
    case "Enum":
      return node(
        decl.name.text,
        "enum",
        "enum",
        decl.span,
        decl.name.span,
        decl.members.map((m) => node(m.name.text, "", "member", m.span, m.name.span)),
      );
    case "Type":
    case "Message":
      return node(
        decl.name.text,
        decl.kind === "Type" ? "type" : decl.messageKind,
        decl.kind === "Type" ? "type" : "message",
        decl.span,
        decl.name.span,
        [
          ...decl.fields.map((f) =>
            node(
              f.name.text,
              `${f.type.name.text}${"[]".repeat(f.type.listDepth)}${f.type.optional ? "?" : ""}`,
              "field",
              f.span,
              f.name.span,
            ),
          ),
          ...(decl.kind === "Message" ? decl.settings.map(settingNode) : []),
        ],
      );
    case "Service":
      return node(
        decl.name.text,
        "service",
        "service",
        decl.span,
        decl.name.span,
        decl.items.map((item) => {
          switch (item.kind) {
            case "ServiceSetting":
              return settingNode(item.setting);
            case "Every":
              return node(`every ${item.interval.text}`, item.job.text, "item", item.span, item.job.span);
            case "Timeout":
              return node("timeout", item.duration.text, "item", item.span, item.span);
            case "Env":
            case "Resources":
              return node(
                item.kind.toLowerCase(),
                "",
                "item",
                item.span,
                item.span,
                item.settings.map(settingNode),
              );
            default:
              return node(
                item.kind === "On" ? "on" : item.kind.toLowerCase(),
                item.names.map((n) => n.text).join(", "),
                "item",
                item.span,
                item.span,
              );
          }
        }),
      );
    case "Saga":
      return node(
        decl.name.text,
        "saga",
        "saga",
        decl.span,
        decl.name.span,
        decl.items.map((item) =>
          item.kind === "SagaOn"
            ? node("on", item.name.text, "item", item.span, item.name.span)
            : node(
                `step ${item.command.text}`,
                item.compensate
                  ? `compensate ${item.compensate.text}`
                  : item.irreversible
                    ? "irreversible"
                    : "",
                "item",
                item.span,
                item.command.span,
              ),
        ),
      );
  }
}

/** A foldable run of lines (0-based), optionally a comment. */
export interface Fold {
  startLine: number;
  endLine: number;
  comment: boolean;
}

/** Multi-line declarations and blocks, block comments and runs of line comments. */
export function folds(analysis: Analysis): Fold[] {
  const out: Fold[] = [];
  const add = (span: Span, comment = false) => {
    if (span.end.line > span.start.line)
      out.push({ startLine: span.start.line - 1, endLine: span.end.line - 1, comment });
  };
  for (const decl of analysis.file.declarations) {
    add(decl.span);
    if (decl.doc) add(decl.doc.span, true);
    if (decl.kind === "Service")
      for (const item of decl.items) if (item.kind === "Env" || item.kind === "Resources") add(item.span);
  }
  let run: { start: number; end: number } | undefined;
  const flush = () => {
    if (run && run.end > run.start)
      out.push({ startLine: run.start - 1, endLine: run.end - 1, comment: true });
    run = undefined;
  };
  for (const c of analysis.file.comments) {
    if (c.style === "block") {
      flush();
      add(c.span, true);
      continue;
    }
    if (c.style === "doc") continue; // folded with their declaration
    if (run && c.span.start.line === run.end + 1) run.end = c.span.start.line;
    else {
      flush();
      run = { start: c.span.start.line, end: c.span.start.line };
    }
  }
  flush();
  return out;
}

/** Semantic token types, in the order of the legend the server announces. */
export const TOKEN_TYPES = [
  "namespace",
  "type",
  "enum",
  "enumMember",
  "struct",
  "event",
  "function",
  "method",
  "property",
  "parameter",
  "string",
  "number",
  "comment",
  "class",
] as const;
export const TOKEN_MODIFIERS = ["declaration", "documentation", "defaultLibrary"] as const;

export interface SemanticToken {
  line: number;
  character: number;
  length: number;
  type: (typeof TOKEN_TYPES)[number];
  modifiers: (typeof TOKEN_MODIFIERS)[number][];
}

const KIND_TOKEN: Record<string, SemanticToken["type"]> = {
  type: "struct",
  enum: "enum",
  command: "function",
  query: "method",
  event: "event",
  saga: "class",
  service: "namespace",
};

/**
 * Semantic tokens from the AST: every name coloured by what it denotes (a command, an event, a
 * type…), field names, setting keys, literals and comments. Keywords and punctuation are left to
 * the TextMate grammar, which already knows them.
 */
export function semanticTokens(analysis: Analysis): SemanticToken[] {
  const out: SemanticToken[] = [];
  const push = (span: Span, type: SemanticToken["type"], modifiers: SemanticToken["modifiers"] = []) => {
    // One-line tokens only: the LSP's encoding cannot express multi-line tokens everywhere.
    if (span.start.line !== span.end.line || span.end.offset <= span.start.offset) return;
    out.push({
      line: span.start.line - 1,
      character: span.start.column - 1,
      length: span.end.offset - span.start.offset,
      type,
      modifiers,
    });
  };
  for (const o of analysis.occurrences) {
    const declared = o.namespace === "service" ? analysis.services.get(o.name) : analysis.shared.get(o.name);
    const type = declared ? KIND_TOKEN[declared.kind] : o.role === "type" ? "type" : undefined;
    if (type === undefined) continue;
    const builtin = declared === undefined;
    push(o.span, type, [
      ...(o.role === "declaration" ? ["declaration" as const] : []),
      ...(builtin ? ["defaultLibrary" as const] : []),
    ]);
  }
  const setting = (s: Setting) => {
    push(s.key.span, "property");
    if (s.value.kind === "String") push(s.value.span, "string");
    else if (s.value.kind === "Int" || s.value.kind === "Duration") push(s.value.span, "number");
  };
  for (const decl of analysis.file.declarations) {
    switch (decl.kind) {
      case "Infra":
        decl.settings.forEach(setting);
        break;
      case "Enum":
        for (const m of decl.members) push(m.name.span, "enumMember", ["declaration"]);
        break;
      case "Type":
      case "Message":
        for (const f of decl.fields) push(f.name.span, "property", ["declaration"]);
        if (decl.kind === "Message") decl.settings.forEach(setting);
        break;
      case "Service":
        for (const item of decl.items) {
          if (item.kind === "ServiceSetting") setting(item.setting);
          else if (item.kind === "Env" || item.kind === "Resources") item.settings.forEach(setting);
          else if (item.kind === "Every") {
            push(item.interval.span, "number");
            push(item.job.span, "function", ["declaration"]);
          } else if (item.kind === "Timeout") push(item.duration.span, "number");
          else if (item.kind === "Handles" && item.queue) push(item.queue.span, "string");
        }
        break;
      case "Saga":
        for (const item of decl.items)
          if (item.kind === "SagaStep" && item.timeout) push(item.timeout.span, "number");
        break;
      default:
        break;
    }
  }
  for (const c of analysis.file.comments) {
    // A block comment spans lines: one token per line.
    const lines = c.text.split(/\r\n|\r|\n/);
    let line = c.span.start.line - 1;
    let character = c.span.start.column - 1;
    for (const text of lines) {
      if (text.length > 0)
        out.push({
          line,
          character,
          length: text.length,
          type: "comment",
          modifiers: c.style === "doc" ? ["documentation"] : [],
        });
      line++;
      character = 0;
    }
  }
  out.sort((a, b) => a.line - b.line || a.character - b.character);
  // Overlapping tokens are invalid: keep the first of any overlap.
  const kept: SemanticToken[] = [];
  for (const t of out) {
    const last = kept[kept.length - 1];
    if (last && last.line === t.line && last.character + last.length > t.character) continue;
    kept.push(t);
  }
  return kept;
}
