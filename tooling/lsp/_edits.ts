import { BUILTIN_TYPES } from "../../compiler/model.js";
import { type Diagnostic, format, parse, type Span } from "../../dsl/index.js";
import { type Analysis, analyze, declarationOf, occurrenceAt, occurrencesOf } from "./_analysis.js";
import { DECLARATIONS, SAGA_ITEMS, SERVICE_ITEMS, STEP_WORDS } from "./_vocabulary.js";

/** A replacement of the text between two offsets. */
export interface TextChange {
  start: number;
  end: number;
  newText: string;
}

/** Why a rename is refused: shown to the user as it is. */
export class RenameRefused extends Error {
  override name = "RenameRefused";
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Keywords that would change how a line reads if a name became one of them. */
const KEYWORDS = new Set(
  [...DECLARATIONS, ...SERVICE_ITEMS, ...SAGA_ITEMS, ...STEP_WORDS]
    .map((w) => w.key)
    .concat(["queue", "broadcast"]),
);

/** The name under `offset` that can be renamed, and its span; refuses builtins and unknown names. */
export function prepareRename(analysis: Analysis, offset: number): { span: Span; name: string } {
  const occurrence = occurrenceAt(analysis, offset);
  if (!occurrence)
    throw new RenameRefused("only declared names (types, enums, messages, sagas, services) can be renamed");
  if (!declarationOf(analysis, occurrence)) {
    throw new RenameRefused(
      (BUILTIN_TYPES as readonly string[]).includes(occurrence.name)
        ? `'${occurrence.name}' is a builtin type`
        : `'${occurrence.name}' is not declared in this file`,
    );
  }
  return { span: occurrence.span, name: occurrence.name };
}

/**
 * Renames the name under `offset` everywhere in the file. Refuses, with the reason, a name that is
 * not a name, a keyword or builtin type, one already declared in the same namespace, or one the
 * checker rejects where the old name was accepted (a reserved service name, two services deployed
 * under one name).
 */
export function rename(analysis: Analysis, offset: number, newName: string): TextChange[] {
  const { name } = prepareRename(analysis, offset);
  const occurrence = occurrenceAt(analysis, offset)!;
  if (newName === name) return [];
  if (!NAME.test(newName))
    throw new RenameRefused(
      `'${newName}' is not a valid name: names start with a letter or '_' and use letters, digits and '_'`,
    );
  if (KEYWORDS.has(newName)) throw new RenameRefused(`'${newName}' is a keyword of the language`);
  if ((BUILTIN_TYPES as readonly string[]).includes(newName))
    throw new RenameRefused(`'${newName}' is a builtin type`);
  const clash =
    occurrence.namespace === "service" ? analysis.services.get(newName) : analysis.shared.get(newName);
  if (clash) {
    throw new RenameRefused(
      `'${newName}' is already declared as ${clash.kind === "enum" || clash.kind === "event" ? "an" : "a"} ${clash.kind} at line ${clash.decl.span.start.line}`,
    );
  }
  const changes = occurrencesOf(analysis, occurrence).map((o) => ({
    start: o.span.start.offset,
    end: o.span.end.offset,
    newText: newName,
  }));
  // What the checker says about the renamed file decides the rest: no finding may appear that the
  // rename caused (C3023 reserved names, C3024 deployment clashes…).
  const after = analyze(analysis.uri, analysis.version, applyChanges(analysis.text, changes));
  const before = countByCode(analysis.diagnostics);
  const added = after.diagnostics.find((d) => {
    const left = before.get(d.code) ?? 0;
    before.set(d.code, left - 1);
    return left <= 0 && d.severity === "error";
  });
  if (added) throw new RenameRefused(`renaming to '${newName}' would cause ${added.code}: ${added.message}`);
  return changes;
}

function countByCode(diagnostics: readonly Diagnostic[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const d of diagnostics) counts.set(d.code, (counts.get(d.code) ?? 0) + 1);
  return counts;
}

/** Applies non-overlapping changes to a text. */
export function applyChanges(text: string, changes: readonly TextChange[]): string {
  const sorted = [...changes].sort((a, b) => b.start - a.start);
  let out = text;
  for (const c of sorted) out = out.slice(0, c.start) + c.newText + out.slice(c.end);
  return out;
}

/**
 * The formatter's result as one change covering only what differs (so the cursor and folds outside
 * it stay put); nothing when the file has syntax errors, which the formatter refuses to touch.
 */
export function formatDocument(analysis: Analysis): TextChange[] {
  const formatted = format(analysis.text, analysis.uri).value;
  if (formatted === undefined || formatted === analysis.text) return [];
  return [minimalChange(analysis.text, formatted)];
}

function minimalChange(before: string, after: string): TextChange {
  let start = 0;
  const max = Math.min(before.length, after.length);
  while (start < max && before.charCodeAt(start) === after.charCodeAt(start)) start++;
  let end = 0;
  while (
    end < max - start &&
    before.charCodeAt(before.length - 1 - end) === after.charCodeAt(after.length - 1 - end)
  )
    end++;
  return { start, end: before.length - end, newText: after.slice(start, after.length - end) };
}

/**
 * Formats the declarations that intersect `[from, to)`: each is replaced by its formatted text, and
 * what lies between declarations is left alone. Nothing when the file has syntax errors.
 */
export function formatRange(analysis: Analysis, from: number, to: number): TextChange[] {
  const formatted = format(analysis.text, analysis.uri).value;
  if (formatted === undefined) return [];
  const original = parse(analysis.text, analysis.uri).value.declarations;
  const after = parse(formatted, analysis.uri).value.declarations;
  // The formatter keeps declarations in order, one for one; anything else means the mapping is unsafe.
  if (after.length !== original.length) return formatDocument(analysis);
  const changes: TextChange[] = [];
  for (let i = 0; i < original.length; i++) {
    const o = original[i]!;
    const a = after[i]!;
    const oStart = o.doc?.span.start.offset ?? o.span.start.offset;
    if (o.span.end.offset <= from || oStart >= to) continue;
    const aStart = a.doc?.span.start.offset ?? a.span.start.offset;
    const newText = formatted.slice(aStart, a.span.end.offset);
    if (analysis.text.slice(oStart, o.span.end.offset) !== newText)
      changes.push({ start: oStart, end: o.span.end.offset, newText });
  }
  return changes;
}

/** A quick fix: a title and the changes it makes. */
export interface QuickFix {
  title: string;
  diagnostic: Diagnostic;
  changes: TextChange[];
  preferred: boolean;
}

/**
 * The fixes that are certain: the "did you mean" of every diagnostic that has one, quotes around a
 * word value, a modifier that is not allowed where it is, and a handler for an unhandled message.
 */
export function quickFixes(analysis: Analysis, diagnostics: readonly Diagnostic[]): QuickFix[] {
  const fixes: QuickFix[] = [];
  for (const d of diagnostics) {
    const hint = d.hint ?? "";
    const meant = /did you mean '([^']+)'\?/.exec(hint)?.[1];
    const at = { start: d.span.start.offset, end: d.span.end.offset };
    if (meant !== undefined && at.end > at.start) {
      fixes.push({
        title: `Change to '${meant}'`,
        diagnostic: d,
        changes: [{ ...at, newText: meant }],
        preferred: true,
      });
      continue;
    }
    const unquoted = /^remove the quotes: \S+ (\S+)$/.exec(hint)?.[1];
    if (unquoted !== undefined) {
      fixes.push({
        title: `Write ${unquoted} without quotes`,
        diagnostic: d,
        changes: [{ ...at, newText: unquoted }],
        preferred: true,
      });
      continue;
    }
    if (d.code === "C3016" || d.code === "C3025") {
      // The span is the modifier itself (`idempotent`, `durable`): remove it and the space after it.
      let end = at.end;
      while (analysis.text[end] === " " || analysis.text[end] === "\t") end++;
      const word = analysis.text.slice(at.start, at.end);
      fixes.push({
        title: `Remove '${word}'`,
        diagnostic: d,
        changes: [{ start: at.start, end, newText: "" }],
        preferred: true,
      });
      continue;
    }
    if (d.code === "C3001") {
      const fix = handlerFix(analysis, d);
      if (fix) fixes.push(fix);
    }
  }
  return fixes;
}

/** C3001: add `handles X` to the service the hint names, or a new service that handles it. */
function handlerFix(analysis: Analysis, d: Diagnostic): QuickFix | undefined {
  const message = /^(?:command|query) '(\w+)'/.exec(d.message)?.[1];
  if (message === undefined) return undefined;
  const named = /add 'handles \w+' to service '(\w+)'/.exec(d.hint ?? "")?.[1];
  const service = named === undefined ? undefined : analysis.services.get(named)?.decl;
  if (service) {
    // Before the closing brace of the service, on a line of its own, indented like its items.
    const close = service.span.end.offset - 1;
    if (analysis.text[close] === "}") {
      const lineStart = analysis.text.lastIndexOf("\n", close - 1) + 1;
      const onOwnLine = analysis.text.slice(lineStart, close).trim() === "";
      const insert = onOwnLine ? `  handles ${message}\n` : ` handles ${message} `;
      return {
        title: `Add 'handles ${message}' to service '${named}'`,
        diagnostic: d,
        changes: [
          { start: onOwnLine ? lineStart : close, end: onOwnLine ? lineStart : close, newText: insert },
        ],
        preferred: true,
      };
    }
  }
  let name = message[0]!.toLowerCase() + message.slice(1);
  for (let i = 2; analysis.services.has(name) || analysis.shared.has(name); i++)
    name = `${message[0]!.toLowerCase()}${message.slice(1)}${i}`;
  const end = analysis.text.length;
  const separator = analysis.text.endsWith("\n") ? "\n" : "\n\n";
  return {
    title: `Add service '${name}' that handles '${message}'`,
    diagnostic: d,
    changes: [{ start: end, end, newText: `${separator}service ${name} {\n  handles ${message}\n}\n` }],
    preferred: named === undefined,
  };
}
