import { type CheckCache, checkParsed, repairFile } from "../../compiler/check/index.js";
import {
  type CatgaFile,
  type Declaration,
  type Diagnostic,
  type DocComment,
  type Identifier,
  type MessageDecl,
  parse,
  type SagaDecl,
  type ServiceDecl,
  type Span,
} from "../../dsl/index.js";
import type { IncrementalParser } from "./_incremental.js";

/** What a name in the shared namespace denotes (the checker's kinds), or a service. */
export type NameKind = "type" | "enum" | "command" | "query" | "event" | "saga" | "service";

/**
 * How a name is used where it is written: its declaration, or the place that refers to it. The
 * place decides which declarations fit there (completion) and how a use reads in a hover.
 */
export type Role =
  | "declaration"
  | "type"
  | "handles"
  | "on"
  | "emits"
  | "sends"
  | "runs"
  | "trigger"
  | "step"
  | "compensate";

/** One written name that denotes a declaration: the declaration itself or a reference to it. */
export interface Occurrence {
  name: string;
  span: Span;
  role: Role;
  /** The namespace: services have their own; everything else shares one. */
  namespace: "shared" | "service";
  /** The declaration or saga/service whose body holds the occurrence (for hovers and grouping). */
  owner: Declaration | undefined;
}

/** A declared name and its declaration, first one of each name (later ones are C2002). */
export type Declared =
  | { kind: "type" | "enum"; decl: Declaration & { kind: "Type" | "Enum" } }
  | { kind: "command" | "query" | "event"; decl: MessageDecl }
  | { kind: "saga"; decl: SagaDecl }
  | { kind: "service"; decl: ServiceDecl };

/**
 * Everything the server knows about one version of one document: the repaired AST, the checker's
 * diagnostics, and an index of every name that denotes a declaration. Built once per version and
 * read by every request on that version.
 */
export interface Analysis {
  uri: string;
  version: number;
  text: string;
  /** The AST after the checker's repair: no missing names or lists, whatever the syntax errors. */
  file: CatgaFile;
  /** Exactly what `catgac check` reports for this text. */
  diagnostics: Diagnostic[];
  /** True when the text has syntax errors (C1xxx): the AST then holds only what could be read. */
  syntaxErrors: boolean;
  /** How long parsing, checking and repairing this version took. */
  timings: Timings;
  /** Occurrences sorted by start offset (indexed when first read). */
  readonly occurrences: Occurrence[];
  /** The first declaration of each shared name (indexed when first read). */
  readonly shared: Map<string, Declared>;
  /** The first declaration of each service name (indexed when first read). */
  readonly services: Map<string, Declared & { kind: "service" }>;
}

/** What one document keeps between versions so that an edit re-does only what it touched. */
export interface Reuse {
  /** Re-parses only the declarations an edit touched. */
  parser: IncrementalParser;
  /** Re-checks only the declarations an edit touched (and, when names change, what reads them). */
  cache: CheckCache;
}

/** How long each step of one analysis took, in milliseconds: for the benchmark's breakdown. */
export interface Timings {
  parse: number;
  check: number;
  repair: number;
}

/**
 * Parses and checks one document; indexes its names only when a request first reads the index
 * (publishing diagnostics after an edit never does). Never throws: the parser and the checker never
 * do.
 */
export function analyze(uri: string, version: number, text: string, reuse?: Reuse): Analysis {
  const t0 = performance.now();
  const parsed = reuse ? reuse.parser.parse(text) : parse(text, uri);
  const t1 = performance.now();
  // Only the diagnostics: the model (what `catgac build` emits from) is not needed while editing.
  const { diagnostics } = checkParsed(parsed, { model: false, ...(reuse ? { cache: reuse.cache } : {}) });
  const t2 = performance.now();
  // With the cache, the check's repair of each declaration is reused here, not done again.
  const file = repairFile(parsed.value, reuse?.cache);
  const t3 = performance.now();
  const syntaxErrors = diagnostics.some((d) => d.code.startsWith("C1"));
  let index: Index | undefined;
  const indexed = (): Index => {
    index ??= indexOf(file);
    return index;
  };
  return {
    uri,
    version,
    text,
    file,
    diagnostics,
    syntaxErrors,
    timings: { parse: t1 - t0, check: t2 - t1, repair: t3 - t2 },
    get occurrences() {
      return indexed().occurrences;
    },
    get shared() {
      return indexed().shared;
    },
    get services() {
      return indexed().services;
    },
  };
}

interface Index {
  occurrences: Occurrence[];
  shared: Map<string, Declared>;
  services: Map<string, Declared & { kind: "service" }>;
}

function indexOf(file: CatgaFile): Index {
  const shared = new Map<string, Declared>();
  const services = new Map<string, Declared & { kind: "service" }>();
  const occurrences: Occurrence[] = [];
  const add = (id: Identifier, role: Role, owner: Declaration | undefined, namespace = "shared" as const) => {
    if (id.text !== "") occurrences.push({ name: id.text, span: id.span, role, namespace, owner });
  };
  for (const decl of file.declarations) {
    switch (decl.kind) {
      case "Type":
      case "Enum": {
        const kind = decl.kind === "Type" ? "type" : "enum";
        if (decl.name.text !== "" && !shared.has(decl.name.text)) shared.set(decl.name.text, { kind, decl });
        add(decl.name, "declaration", decl);
        if (decl.kind === "Type") for (const f of decl.fields) add(f.type.name, "type", decl);
        break;
      }
      case "Message":
        if (decl.name.text !== "" && !shared.has(decl.name.text))
          shared.set(decl.name.text, { kind: decl.messageKind, decl });
        add(decl.name, "declaration", decl);
        for (const f of decl.fields) add(f.type.name, "type", decl);
        if (decl.result) add(decl.result.name, "type", decl);
        break;
      case "Saga":
        if (decl.name.text !== "" && !shared.has(decl.name.text))
          shared.set(decl.name.text, { kind: "saga", decl });
        add(decl.name, "declaration", decl);
        for (const item of decl.items) {
          if (item.kind === "SagaOn") add(item.name, "trigger", decl);
          else {
            add(item.command, "step", decl);
            if (item.compensate) add(item.compensate, "compensate", decl);
          }
        }
        break;
      case "Service":
        if (decl.name.text !== "" && !services.has(decl.name.text))
          services.set(decl.name.text, { kind: "service", decl });
        if (decl.name.text !== "")
          occurrences.push({
            name: decl.name.text,
            span: decl.name.span,
            role: "declaration",
            namespace: "service",
            owner: decl,
          });
        for (const item of decl.items) {
          const role = ITEM_ROLES[item.kind as keyof typeof ITEM_ROLES];
          if (role !== undefined && "names" in item) for (const id of item.names) add(id, role, decl);
        }
        break;
      default:
        break;
    }
  }
  occurrences.sort((a, b) => a.span.start.offset - b.span.start.offset);
  return { occurrences, shared, services };
}

const ITEM_ROLES = {
  Handles: "handles",
  On: "on",
  Emits: "emits",
  Sends: "sends",
  Runs: "runs",
} as const satisfies Record<string, Role>;

/** The occurrence whose name contains `offset` (its end included, so a cursor after a name finds it). */
export function occurrenceAt(analysis: Analysis, offset: number): Occurrence | undefined {
  const list = analysis.occurrences;
  let lo = 0;
  let hi = list.length - 1;
  // Binary search for the last occurrence starting at or before offset.
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.span.start.offset <= offset) lo = mid + 1;
    else hi = mid - 1;
  }
  const candidate = list[hi];
  if (candidate && offset <= candidate.span.end.offset) return candidate;
  return undefined;
}

/** Every occurrence of the declaration `occurrence` denotes, declaration included, in source order. */
export function occurrencesOf(analysis: Analysis, occurrence: Occurrence): Occurrence[] {
  return analysis.occurrences.filter(
    (o) => o.name === occurrence.name && o.namespace === occurrence.namespace,
  );
}

/** The declaration an occurrence denotes, if it is declared. */
export function declarationOf(analysis: Analysis, occurrence: Occurrence): Declared | undefined {
  return occurrence.namespace === "service"
    ? analysis.services.get(occurrence.name)
    : analysis.shared.get(occurrence.name);
}

/** The `///` doc comment of a declaration. */
export function docOf(decl: { doc?: DocComment }): string | undefined {
  return decl.doc?.text;
}

/** The top-level declaration whose text holds `offset`: from its start to the next one's start. */
export function declarationAround(analysis: Analysis, offset: number): Declaration | undefined {
  let found: Declaration | undefined;
  for (const decl of analysis.file.declarations) {
    if (decl.span.start.offset > offset) break;
    found = decl;
  }
  if (found === undefined) return undefined;
  // After a closed declaration's `}` the cursor is at the top level again.
  const end = found.span.end.offset;
  const closed = analysis.text[end - 1] === "}";
  return closed && offset >= end ? undefined : found;
}

/** An LSP range (0-based lines and UTF-16 columns) from a span (1-based). */
export function toRange(span: Span): {
  start: { line: number; character: number };
  end: { line: number; character: number };
} {
  return {
    start: { line: span.start.line - 1, character: span.start.column - 1 },
    end: { line: span.end.line - 1, character: span.end.column - 1 },
  };
}
