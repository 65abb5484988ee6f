import {
  CodeActionKind,
  CompletionItemKind,
  type Connection,
  DiagnosticSeverity,
  DocumentHighlightKind,
  type DocumentSymbol,
  FoldingRangeKind,
  InsertTextFormat,
  LSPErrorCodes,
  type Diagnostic as LspDiagnostic,
  MarkupKind,
  ResponseError,
  SemanticTokensBuilder,
  SymbolKind,
  TextDocumentSyncKind,
  TextDocuments,
  type TextEdit,
} from "vscode-languageserver/node.js";
import { TextDocument } from "vscode-languageserver-textdocument";
import { CheckCache } from "../../compiler/check/index.js";
import type { Diagnostic } from "../../dsl/index.js";
import {
  type Analysis,
  analyze,
  declarationOf,
  occurrenceAt,
  occurrencesOf,
  type Reuse,
  toRange,
} from "./_analysis.js";
import { completeAt, type Proposal } from "./_completion.js";
import {
  formatDocument,
  formatRange,
  prepareRename,
  type QuickFix,
  quickFixes,
  RenameRefused,
  rename,
  type TextChange,
} from "./_edits.js";
import { hoverAt } from "./_hover.js";
import { IncrementalParser } from "./_incremental.js";
import {
  folds,
  type OutlineNode,
  outline,
  semanticTokens,
  TOKEN_MODIFIERS,
  TOKEN_TYPES,
} from "./_outline.js";

/** The documents the server holds: their latest analysis and the last one without syntax errors. */
interface State {
  latest: Analysis | undefined;
  /** The last analysis whose text had no syntax errors: names to complete while a line is half typed. */
  lastGood: Analysis | undefined;
  /** Set while an analysis of a newer version is queued: edits arriving meanwhile share it. */
  scheduled: boolean;
  /** Re-parses and re-checks only what an edit touched, when that gives what doing it all gives. */
  reuse: Reuse;
  /** The last analysis that was published, with how long publishing took: for the benchmark. */
  published:
    | { version: number; timings: Analysis["timings"]; analyzeMs: number; serializeMs: number }
    | undefined;
}

/**
 * Serves one client on `connection` until it exits. Every handler is guarded: an unexpected
 * exception (a bug) is logged to the client and the request answers with nothing rather than
 * taking the server down, so a file that trips one feature keeps every other.
 */
export function serve(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  const states = new Map<string, State>();

  const state = (uri: string): State => {
    let s = states.get(uri);
    if (!s) {
      s = {
        latest: undefined,
        lastGood: undefined,
        scheduled: false,
        reuse: { parser: new IncrementalParser(uri), cache: new CheckCache() },
        published: undefined,
      };
      states.set(uri, s);
    }
    return s;
  };

  /** The analysis of the document's current version, made now if it is not there yet. */
  const current = (uri: string): Analysis | undefined => {
    const doc = documents.get(uri);
    const s = states.get(uri);
    if (!doc) return s?.latest;
    if (s?.latest?.version === doc.version) return s.latest;
    try {
      const st = state(uri);
      const analysis = analyze(uri, doc.version, doc.getText(), st.reuse);
      st.latest = analysis;
      if (!analysis.syntaxErrors) st.lastGood = analysis;
      return analysis;
    } catch (error) {
      report(error);
      // A request on a version that cannot be analysed answers from the last one that could.
      return s?.lastGood ?? s?.latest;
    }
  };

  const report = (error: unknown) => {
    connection.console.error(
      `catgac lsp: internal error (a bug, please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  };

  const guard =
    <P, R>(fallback: R, handler: (params: P) => R) =>
    (params: P): R => {
      try {
        return handler(params);
      } catch (error) {
        if (error instanceof ResponseError) throw error;
        report(error);
        return fallback;
      }
    };

  const publish = (uri: string) => {
    const s = state(uri);
    s.scheduled = false;
    const t0 = performance.now();
    const analysis = current(uri);
    if (!analysis || !documents.get(uri)) return;
    const t1 = performance.now();
    const diagnostics = analysis.diagnostics.map((d) => toLspDiagnostic(d));
    s.published = {
      version: analysis.version,
      timings: analysis.timings,
      analyzeMs: t1 - t0,
      serializeMs: performance.now() - t1,
    };
    void connection.sendDiagnostics({ uri, version: analysis.version, diagnostics });
  };

  documents.onDidChangeContent((change) => {
    const s = state(change.document.uri);
    if (s.scheduled) return;
    s.scheduled = true;
    // Edits that arrive before this runs (fast typing) are analysed once, at their latest version.
    setImmediate(() => {
      try {
        publish(change.document.uri);
      } catch (error) {
        report(error);
      }
    });
  });
  documents.onDidClose((event) => {
    states.delete(event.document.uri);
    void connection.sendDiagnostics({ uri: event.document.uri, diagnostics: [] });
  });

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
      hoverProvider: true,
      definitionProvider: true,
      referencesProvider: true,
      documentHighlightProvider: true,
      renameProvider: { prepareProvider: true },
      completionProvider: { triggerCharacters: [" ", ":", ","] },
      documentSymbolProvider: true,
      foldingRangeProvider: true,
      semanticTokensProvider: {
        legend: { tokenTypes: [...TOKEN_TYPES], tokenModifiers: [...TOKEN_MODIFIERS] },
        full: true,
      },
      documentFormattingProvider: true,
      documentRangeFormattingProvider: true,
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
    },
    serverInfo: { name: "catgac lsp", version: "0.1.0" },
  }));

  const at = (uri: string, position: { line: number; character: number }) => {
    const doc = documents.get(uri);
    const analysis = current(uri);
    if (!doc || !analysis) return undefined;
    return { doc, analysis, offset: doc.offsetAt(position) };
  };

  connection.onHover(
    guard(null, (p) => {
      const c = at(p.textDocument.uri, p.position);
      const info = c && hoverAt(c.analysis, c.offset);
      if (!info) return null;
      return { contents: { kind: MarkupKind.Markdown, value: info.markdown }, range: toRange(info.span) };
    }),
  );

  connection.onDefinition(
    guard(null, (p) => {
      const c = at(p.textDocument.uri, p.position);
      const occurrence = c && occurrenceAt(c.analysis, c.offset);
      const declared = c && occurrence && declarationOf(c.analysis, occurrence);
      if (!declared) return null;
      return { uri: p.textDocument.uri, range: toRange(declared.decl.name.span) };
    }),
  );

  connection.onReferences(
    guard(null, (p) => {
      const c = at(p.textDocument.uri, p.position);
      const occurrence = c && occurrenceAt(c.analysis, c.offset);
      if (!c || !occurrence) return null;
      return occurrencesOf(c.analysis, occurrence)
        .filter((o) => p.context.includeDeclaration || o.role !== "declaration")
        .map((o) => ({ uri: p.textDocument.uri, range: toRange(o.span) }));
    }),
  );

  connection.onDocumentHighlight(
    guard(null, (p) => {
      const c = at(p.textDocument.uri, p.position);
      const occurrence = c && occurrenceAt(c.analysis, c.offset);
      if (!c || !occurrence) return null;
      return occurrencesOf(c.analysis, occurrence).map((o) => ({
        range: toRange(o.span),
        kind: o.role === "declaration" ? DocumentHighlightKind.Write : DocumentHighlightKind.Read,
      }));
    }),
  );

  connection.onPrepareRename((p) => {
    const c = at(p.textDocument.uri, p.position);
    if (!c) return null;
    try {
      const { span, name } = prepareRename(c.analysis, c.offset);
      return { range: toRange(span), placeholder: name };
    } catch (error) {
      throw refusal(error);
    }
  });

  connection.onRenameRequest((p) => {
    const c = at(p.textDocument.uri, p.position);
    if (!c) return null;
    try {
      return { changes: { [p.textDocument.uri]: toEdits(c.doc, rename(c.analysis, c.offset, p.newName)) } };
    } catch (error) {
      throw refusal(error);
    }
  });

  const refusal = (error: unknown): ResponseError<void> => {
    if (error instanceof RenameRefused) return new ResponseError(LSPErrorCodes.RequestFailed, error.message);
    report(error);
    return new ResponseError(LSPErrorCodes.RequestFailed, "catgac lsp: internal error, see the server log");
  };

  connection.onCompletion(
    guard(null, (p) => {
      const c = at(p.textDocument.uri, p.position);
      if (!c) return null;
      const s = states.get(p.textDocument.uri);
      // While the file does not parse, names come from the last version that did, when it knew more.
      const names =
        c.analysis.syntaxErrors && s?.lastGood && s.lastGood.shared.size > c.analysis.shared.size
          ? s.lastGood
          : c.analysis;
      return completeAt(c.analysis, c.offset, names).map(toCompletionItem);
    }),
  );

  connection.onDocumentSymbol(
    guard(null, (p) => {
      const analysis = current(p.textDocument.uri);
      return analysis ? outline(analysis).map(toDocumentSymbol) : null;
    }),
  );

  connection.onFoldingRanges(
    guard(null, (p) => {
      const analysis = current(p.textDocument.uri);
      return analysis
        ? folds(analysis).map((f) => ({
            startLine: f.startLine,
            endLine: f.endLine,
            ...(f.comment ? { kind: FoldingRangeKind.Comment } : {}),
          }))
        : null;
    }),
  );

  connection.languages.semanticTokens.on(
    guard({ data: [] }, (p) => {
      const analysis = current(p.textDocument.uri);
      const builder = new SemanticTokensBuilder();
      if (!analysis) return builder.build();
      for (const t of semanticTokens(analysis)) {
        const modifiers = t.modifiers.reduce((bits, m) => bits | (1 << TOKEN_MODIFIERS.indexOf(m)), 0);
        builder.push(t.line, t.character, t.length, TOKEN_TYPES.indexOf(t.type), modifiers);
      }
      return builder.build();
    }),
  );

  connection.onDocumentFormatting(
    guard(null, (p) => {
      const doc = documents.get(p.textDocument.uri);
      const analysis = current(p.textDocument.uri);
      return doc && analysis ? toEdits(doc, formatDocument(analysis)) : null;
    }),
  );

  connection.onDocumentRangeFormatting(
    guard(null, (p) => {
      const doc = documents.get(p.textDocument.uri);
      const analysis = current(p.textDocument.uri);
      if (!doc || !analysis) return null;
      return toEdits(doc, formatRange(analysis, doc.offsetAt(p.range.start), doc.offsetAt(p.range.end)));
    }),
  );

  connection.onCodeAction(
    guard(null, (p) => {
      const doc = documents.get(p.textDocument.uri);
      const analysis = current(p.textDocument.uri);
      if (!doc || !analysis) return null;
      const from = doc.offsetAt(p.range.start);
      const to = doc.offsetAt(p.range.end);
      // The diagnostics under the range, as the server computed them for this version (the client's
      // copies may be of an older one).
      const here = analysis.diagnostics.filter((d) => d.span.start.offset <= to && d.span.end.offset >= from);
      return quickFixes(analysis, here).map((fix: QuickFix) => ({
        title: fix.title,
        kind: CodeActionKind.QuickFix,
        diagnostics: [toLspDiagnostic(fix.diagnostic)],
        isPreferred: fix.preferred,
        edit: { changes: { [p.textDocument.uri]: toEdits(doc, fix.changes) } },
      }));
    }),
  );

  if (process.env[STATS_ENV] === "1") {
    // For the benchmark only: where the time of the last publish went, and, with `collect`, the
    // memory in use after a full collection when the process runs with --expose-gc (RSS alone also
    // counts the heap V8 keeps reserved but empty, so it cannot tell retention from slack).
    connection.onRequest(STATS_REQUEST, (p: { uri: string; collect?: boolean }) => {
      const gc = p.collect === true ? (globalThis as { gc?: () => void }).gc : undefined;
      gc?.();
      const s = states.get(p.uri);
      return {
        published: s?.published ?? null,
        cache: s ? { ...s.reuse.cache.stats } : null,
        incremental: s?.reuse.parser.lastWasIncremental ?? null,
        collected: gc !== undefined,
        memory: process.memoryUsage(),
      };
    });
  }

  documents.listen(connection);
  connection.listen();
}

/** Set to "1" in the server's environment to answer {@link STATS_REQUEST} (the benchmark does). */
export const STATS_ENV = "CATGA_LSP_STATS";
/** The benchmark's request: timings of the last publish, cache counters and memory after a collection. */
export const STATS_REQUEST = "catga/stats";

/** A checker diagnostic as the LSP shows it: the hint on a line of its own, as `catgac check` prints it. */
export function toLspDiagnostic(d: Diagnostic): LspDiagnostic {
  const out: LspDiagnostic = {
    range: toRange(d.span),
    severity: d.severity === "error" ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: d.code,
    source: "catgac",
    message: d.hint === undefined ? d.message : `${d.message}\nhint: ${d.hint}`,
  };
  if (d.hint !== undefined) out.data = { hint: d.hint };
  if (d.related !== undefined) {
    out.relatedInformation = d.related.map((r) => ({
      location: { uri: r.span.file, range: toRange(r.span) },
      message: r.message,
    }));
  }
  return out;
}

function toEdits(doc: TextDocument, changes: readonly TextChange[]): TextEdit[] {
  return changes.map((c) => ({
    range: { start: doc.positionAt(c.start), end: doc.positionAt(c.end) },
    newText: c.newText,
  }));
}

const COMPLETION_KINDS: Record<Proposal["kind"], CompletionItemKind> = {
  keyword: CompletionItemKind.Keyword,
  setting: CompletionItemKind.Property,
  value: CompletionItemKind.Value,
  type: CompletionItemKind.Struct,
  enum: CompletionItemKind.Enum,
  command: CompletionItemKind.Function,
  query: CompletionItemKind.Method,
  event: CompletionItemKind.Event,
  saga: CompletionItemKind.Class,
  service: CompletionItemKind.Module,
  builtin: CompletionItemKind.TypeParameter,
};

function toCompletionItem(p: Proposal) {
  return {
    label: p.label,
    kind: COMPLETION_KINDS[p.kind],
    ...(p.detail !== undefined ? { detail: p.detail } : {}),
    ...(p.documentation !== undefined
      ? { documentation: { kind: MarkupKind.Markdown, value: p.documentation } }
      : {}),
    ...(p.snippet !== undefined ? { insertText: p.snippet, insertTextFormat: InsertTextFormat.Snippet } : {}),
  };
}

const SYMBOL_KINDS: Record<OutlineNode["kind"], SymbolKind> = {
  topology: SymbolKind.Package,
  infra: SymbolKind.Module,
  enum: SymbolKind.Enum,
  member: SymbolKind.EnumMember,
  type: SymbolKind.Struct,
  field: SymbolKind.Field,
  message: SymbolKind.Interface,
  service: SymbolKind.Module,
  item: SymbolKind.Property,
  saga: SymbolKind.Class,
  setting: SymbolKind.Property,
};

function toDocumentSymbol(node: OutlineNode): DocumentSymbol {
  return {
    name: node.name,
    detail: node.detail,
    kind: SYMBOL_KINDS[node.kind],
    range: toRange(node.span),
    selectionRange: toRange(node.selection),
    children: node.children.map(toDocumentSymbol),
  };
}
