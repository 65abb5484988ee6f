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
  /**
   * Every position in the segment's nodes, once each. Positions are plain objects, absolute like
   * a whole parse's; when an edit before the segment changes the length or the line count, these
   * are moved in place, so every node (and every diagnostic the checker cached on them) follows
   * without copying the AST.
   */
  positions: Position[];
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
 *
 * The ASTs it returns share the nodes of untouched segments with earlier versions, and their
 * positions are moved in place by later edits: an AST describes the latest text, not the one it
 * was parsed from. (Positions used to be getters relative to a segment base; plain objects moved
 * in place halved the live heap of the 1,000-service benchmark and the time to open it.)
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
    // A copy: the original may be the last node's end, which moves in place with its segment.
    this.endOfFile = { ...full.value.span.end };
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
    // The end of the piece, copied before its positions move: it may be the last node's own end.
    const pieceEnd = { ...parsed.value.span.end };
    const positions: Position[] = [];
    const owners = new Map<Position, number>();
    for (const d of parsed.value.declarations) adopt(d, 0, owners, positions);
    for (const c of parsed.value.comments) adopt(c, 0, owners, positions);
    // The piece was parsed from offset 0, line 1: its positions move to where it is in the file.
    move(positions, from, line - 1);
    const fresh: Segment = {
      positions,
      start: from,
      end: to,
      line,
      declarations: parsed.value.declarations,
      comments: parsed.value.comments,
    };
    // Later segments move in place; the piece starts at a line start, so columns never change.
    const after = segments.slice(last + 1);
    for (const s of after) {
      s.start += delta;
      s.end += delta;
      s.line += lines;
      move(s.positions, delta, lines);
    }
    const next = [...segments.slice(0, first), fresh, ...after];
    this.endOfFile =
      after.length > 0
        ? shiftPosition(this.endOfFile, delta, lines)
        : shiftPosition(pieceEnd, from, line - 1);
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
    const lineStart = lineStartOf(text, first.offset);
    const blankBefore = /^[ \t]*$/.test(text.slice(lineStart, first.offset));
    if (blankBefore && lineStart >= previousEnd && lineStart > starts[starts.length - 1]!.offset)
      starts.push({ offset: lineStart, line: first.line });
    previousEnd = decl.span.end.offset;
  }
  const segments: Segment[] = starts.map((s, i) => ({
    positions: [],
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
  const owners = new Map<Position, number>();
  segments.forEach((segment, i) => {
    for (const d of segment.declarations) adopt(d, i, owners, segment.positions);
    for (const c of segment.comments) adopt(c, i, owners, segment.positions);
  });
  return segments;
}

/**
 * The offset where the line holding `offset` starts. A backward scan to the nearest line break:
 * `lastIndexOf("\r")` in a file without any scanned back to its start for every declaration, which
 * made opening the 1,000-service benchmark file take seconds.
 */
function lineStartOf(text: string, offset: number): number {
  let i = offset - 1;
  while (i >= 0) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) break;
    i--;
  }
  return i + 1;
}

function isPosition(node: object): node is Position {
  const record = node as Record<string, unknown>;
  return (
    typeof record.offset === "number" && typeof record.line === "number" && typeof record.column === "number"
  );
}

/**
 * Collects the positions under `node` into segment `mine`'s list, once each (spans share
 * positions). A position that another segment already holds (the parser never shares one across
 * declarations, but nothing promises it) is replaced by a copy, so that moving one segment never
 * moves another's. Returns the node, or the copy that replaces it.
 */
function adopt(node: unknown, mine: number, owners: Map<Position, number>, positions: Position[]): unknown {
  if (node === null || typeof node !== "object") return node;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const child = node[i];
      const adopted = adopt(child, mine, owners, positions);
      if (adopted !== child) node[i] = adopted;
    }
    return node;
  }
  if (isPosition(node)) {
    const owner = owners.get(node);
    if (owner === mine) return node;
    const position =
      owner === undefined ? node : { line: node.line, column: node.column, offset: node.offset };
    owners.set(position, mine);
    positions.push(position);
    return position;
  }
  const record = node as Record<string, unknown>;
  for (const key in record) {
    const child = record[key];
    const adopted = adopt(child, mine, owners, positions);
    if (adopted !== child) record[key] = adopted;
  }
  return node;
}

/** Moves positions in place. */
function move(positions: readonly Position[], offset: number, lines: number): void {
  if (offset === 0 && lines === 0) return;
  for (const p of positions) {
    p.offset += offset;
    p.line += lines;
  }
}

function shiftPosition(p: Position, offset: number, lines: number): Position {
  return { line: p.line + lines, column: p.column, offset: p.offset + offset };
}
