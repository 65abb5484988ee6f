import {
  type CatgaFile,
  type Comment,
  type Declaration,
  MAX_SOURCE_BYTES,
  type Position,
  parse,
  type Result,
} from "../../dsl/index.js";

/**
 * A run of whole lines holding whole declarations, parsed on its own. The file is cut into
 * segments at the lines where declarations (or their `///` doc comments) start, which are exactly
 * where the parser itself cuts the token stream into declarations; so a segment parsed alone gives
 * the declarations, comments and (no) diagnostics that the whole file's parse gives for it.
 */
interface Segment {
  /** Where the segment starts: what every position inside it is relative to. */
  base: Base;
  /** Offset of the segment's first character (a line start). */
  start: number;
  /** Offset after its last character: the next segment's start, or the end of the file. */
  end: number;
  /** 1-based line of `start`. */
  line: number;
  declarations: Declaration[];
  comments: Comment[];
}

/**
 * Parses successive versions of one document, re-parsing only the segment an edit touches when
 * that is certain to give what a whole parse gives; otherwise (syntax errors before or after the
 * edit, a comment opened across segments, a `///` left dangling at a segment's end) it parses the
 * whole text. The equivalence is tested on random edits (test/unit/lsp-incremental.test.ts).
 *
 * Only files without syntax errors are kept as segments: that is the state a file is in most of
 * the time while someone edits it, and it makes "parsed alone" and "parsed in the file" agree.
 */
export class IncrementalParser {
  private text = "";
  private segments: Segment[] | undefined;
  private endOfFile: Position = { line: 1, column: 1, offset: 0 };

  /** How the last call parsed: for tests and the benchmark. */
  lastWasIncremental = false;

  constructor(private readonly file: string) {}

  parse(text: string): Result<CatgaFile> {
    const fast = this.segments === undefined ? undefined : this.reparse(text, this.segments);
    this.lastWasIncremental = fast !== undefined;
    if (fast) return fast;
    const full = parse(text, this.file);
    this.text = text;
    this.endOfFile = full.value.span.end;
    this.segments = full.diagnostics.length === 0 ? segmentsOf(text, full.value) : undefined;
    return full;
  }

  private reparse(text: string, segments: Segment[]): Result<CatgaFile> | undefined {
    const old = this.text;
    // Characters count at most 3 bytes each here (UTF-16 units of the BMP): a file that might be
    // over the limit is left to the whole parse, which reports it.
    if (text.length * 3 > MAX_SOURCE_BYTES || segments.length === 0) return undefined;
    let prefix = 0;
    const shortest = Math.min(old.length, text.length);
    while (prefix < shortest && old.charCodeAt(prefix) === text.charCodeAt(prefix)) prefix++;
    if (prefix === old.length && prefix === text.length) return this.assemble(segments);
    let suffix = 0;
    while (
      suffix < shortest - prefix &&
      old.charCodeAt(old.length - 1 - suffix) === text.charCodeAt(text.length - 1 - suffix)
    )
      suffix++;
    const oldEnd = old.length - suffix;
    // The segments the changed range [prefix, oldEnd) touches.
    let first = segments.findIndex((s) => s.end > prefix);
    if (first < 0) first = segments.length - 1;
    let last = first;
    while (last + 1 < segments.length && segments[last + 1]!.start < oldEnd) last++;
    const from = segments[first]!.start;
    const delta = text.length - old.length;
    const to = segments[last]!.end + delta;
    if (to < from) return undefined;
    const piece = text.slice(from, to);
    const parsed = parse(piece, this.file);
    if (parsed.diagnostics.length > 0 || danglingDoc(parsed.value)) return undefined;
    const line = segments[first]!.line;
    const lines = lineBreaks(piece) - lineBreaks(old.slice(from, segments[last]!.end));
    // The piece was parsed from offset 0, line 1: its positions become relative to its segment.
    const base: Base = { offset: from, lines: line - 1 };
    const live = new Map<Position, Position>();
    const fresh: Segment = {
      base,
      start: from,
      end: to,
      line,
      declarations: parsed.value.declarations.map((d) => relink(d, base, 0, 0, live)),
      comments: parsed.value.comments.map((c) => relink(c, base, 0, 0, live)),
    };
    // Later segments move by changing their base: every position in them follows, untouched.
    const after = segments.slice(last + 1);
    for (const s of after) {
      s.base.offset += delta;
      s.base.lines += lines;
      s.start += delta;
      s.end += delta;
      s.line += lines;
    }
    const next = [...segments.slice(0, first), fresh, ...after];
    // The piece starts at a line start, so columns never move: only offsets and line numbers do.
    this.endOfFile =
      after.length > 0
        ? shiftPosition(this.endOfFile, delta, lines)
        : shiftPosition(parsed.value.span.end, from, line - 1);
    this.text = text;
    this.segments = next;
    return this.assemble(next);
  }

  private assemble(segments: Segment[]): Result<CatgaFile> {
    const declarations: Declaration[] = [];
    const comments: Comment[] = [];
    for (const s of segments) {
      for (const d of s.declarations) declarations.push(d);
      for (const c of s.comments) comments.push(c);
    }
    const span = { file: this.file, start: { line: 1, column: 1, offset: 0 }, end: this.endOfFile };
    return { value: { kind: "File", declarations, comments, span }, diagnostics: [] };
  }
}

/** Line breaks as the lexer counts them: `\r\n`, `\n` and a lone `\r` are one each. */
function lineBreaks(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) n++;
  }
  return n;
}

/**
 * A `///` comment after the last declaration of a piece: in the whole file it may be the doc
 * comment of the next segment's first declaration, which a piece parsed alone cannot know.
 */
function danglingDoc(file: CatgaFile): boolean {
  const last = file.declarations[file.declarations.length - 1];
  const after = last === undefined ? -1 : last.span.end.offset;
  return file.comments.some((c) => c.style === "doc" && c.span.start.offset >= after);
}

/** Segments of a file that parsed without diagnostics. */
function segmentsOf(text: string, file: CatgaFile): Segment[] {
  const starts: { offset: number; line: number }[] = [{ offset: 0, line: 1 }];
  let previousEnd = 0;
  for (const decl of file.declarations) {
    const first = decl.doc?.span.start ?? decl.span.start;
    const lineStart =
      Math.max(text.lastIndexOf("\n", first.offset - 1), text.lastIndexOf("\r", first.offset - 1)) + 1;
    const blankBefore = /^[ \t]*$/.test(text.slice(lineStart, first.offset));
    if (blankBefore && lineStart >= previousEnd && lineStart > starts[starts.length - 1]!.offset)
      starts.push({ offset: lineStart, line: first.line });
    previousEnd = decl.span.end.offset;
  }
  const segments: Segment[] = starts.map((s, i) => ({
    base: { offset: s.offset, lines: s.line - 1 },
    start: s.offset,
    end: starts[i + 1]?.offset ?? text.length,
    line: s.line,
    declarations: [],
    comments: [],
  }));
  let k = 0;
  for (const decl of file.declarations) {
    while (k + 1 < segments.length && segments[k + 1]!.start <= decl.span.start.offset) k++;
    segments[k]!.declarations.push(decl);
  }
  k = 0;
  for (const comment of file.comments) {
    while (k + 1 < segments.length && segments[k + 1]!.start <= comment.span.start.offset) k++;
    segments[k]!.comments.push(comment);
  }
  // Positions of a whole parse are absolute: make them relative to their segment's base.
  const live = new Map<Position, Position>();
  for (const segment of segments) {
    const { offset, lines } = segment.base;
    segment.declarations = segment.declarations.map((d) => relink(d, segment.base, offset, lines, live));
    segment.comments = segment.comments.map((c) => relink(c, segment.base, offset, lines, live));
  }
  return segments;
}

/** The start of a segment, shared by every position in it; moved when an edit before it changes length. */
interface Base {
  offset: number;
  lines: number;
}

/**
 * A position that reads as a plain `{ line, column, offset }` (enumerable getters, so it compares
 * and prints like one) but is stored relative to its segment's base: moving a segment moves all of
 * its positions at once, instead of copying its whole AST.
 */
function livePosition(base: Base, line: number, column: number, offset: number): Position {
  const position = {} as Position;
  Object.defineProperties(position, {
    line: { get: () => base.lines + line, enumerable: true },
    column: { value: column, enumerable: true },
    offset: { get: () => base.offset + offset, enumerable: true },
  });
  return position;
}

/**
 * Copies an AST node with every position made live relative to `base` (`offset` and `lines` are
 * what its positions already include). Positions shared by two spans stay shared (`live`).
 */
function relink<T>(node: T, base: Base, offset: number, lines: number, live: Map<Position, Position>): T {
  if (Array.isArray(node)) return node.map((n) => relink(n, base, offset, lines, live)) as T;
  if (node === null || typeof node !== "object") return node;
  const record = node as Record<string, unknown>;
  if (
    typeof record.offset === "number" &&
    typeof record.line === "number" &&
    typeof record.column === "number"
  ) {
    const p = record as unknown as Position;
    let found = live.get(p);
    if (!found) {
      found = livePosition(base, p.line - lines, p.column, p.offset - offset);
      live.set(p, found);
    }
    return found as T;
  }
  const out: Record<string, unknown> = {};
  for (const key in record) out[key] = relink(record[key], base, offset, lines, live);
  return out as T;
}

function shiftPosition(p: Position, offset: number, lines: number): Position {
  return { line: p.line + lines, column: p.column, offset: p.offset + offset };
}
