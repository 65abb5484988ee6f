/**
 * The canonical formatter: one layout for every `.catga` file, so diffs show changes of meaning and
 * never changes of taste. The layout is a function of the AST and the comments; the only things
 * taken from the source layout are single blank lines the author put between items (see below) and
 * which comment trails which line.
 *
 * Layout rules:
 *
 * - 2-space indentation, LF line endings, no trailing spaces, one trailing newline (an empty file
 *   stays empty). Literals print exactly as written, so string escapes and duration units are kept.
 * - Declarations print in source order, separated by one blank line. Two declarations that each
 *   print on one line, with no comment or doc comment on the second, stay on consecutive lines
 *   when the source had no blank line between them (`nats { … }` directly above `redis { … }`).
 * - `topology name` is one line. `nats`, `redis`, `env`, `resources` and `enum` blocks print on one
 *   line (`nats { nodes 3, mode x }`, entries joined by ", ") when nothing inside carries a comment
 *   and the line fits in 100 columns; otherwise one entry per line, without commas.
 * - `type` and messages print on one line (`idempotent command A { a: string } -> R`) when they have
 *   at most 3 fields, no comment inside and the line fits in 100 columns; otherwise one field per
 *   line without commas, with ` -> Result` after the closing `}`. An empty block is `{}`. Stream
 *   settings of a durable event follow on the same line in source order, one space apart
 *   (`durable event A { a: string } retain 30d deliveries 10`).
 * - `service` and `saga` bodies print one item per line in source order (an empty one is `{}`).
 * - Inside multi-line blocks a blank line between two entries is kept (at most one), never right
 *   after `{` or right before `}`.
 *
 * Comment rules (every comment of the input appears exactly once in the output; its text is kept,
 * except that line endings become LF and trailing whitespace on each of its lines is dropped):
 *
 * - A doc comment (`///` run) attached to a node prints directly above it, at its indentation.
 * - A comment that starts on the line where a node ends, after it, trails that node: it prints after
 *   the node's last line, two spaces after it. `///` comments never trail: printed after code they
 *   could attach to the next line, so they go on their own line like leading comments.
 * - Any other comment between nodes leads the next node of the same block (printed above it and
 *   above its doc comment), or the block's closing `}` when no node follows (printed before the `}`,
 *   one level deeper), or the end of the file.
 * - A comment inside a node but outside its block (between `type` and its name, between the names
 *   of a `handles` list, between `}` and `-> Result` or a stream setting) has no place in the canonical layout: it moves
 *   above the node, after the node's other leading comments.
 * - A block that holds any comment or doc comment is multi-line.
 * - A `///` line printed directly above a node's doc comment is separated from it by a blank line,
 *   so that two doc comments never merge into one.
 * - A `///` comment that documented nothing and ends up directly above a node without a doc comment
 *   becomes that node's doc comment (no blank line is printed between them, so formatting again
 *   changes nothing). This only happens when the source has a `///` inside a node or after code on
 *   the same line, which the parser may also join with a `///` line above it.
 */
import type {
  BlockItem,
  Comment,
  Declaration,
  EnumMember,
  Field,
  SagaItem,
  ServiceItem,
  Setting,
  Span,
  TypeRef,
  Value,
} from "./ast.js";
import { hasErrors, type Result } from "./diagnostics.js";
import { parse } from "./source.js";

/** Lines longer than this never print in a one-line form. */
const LINE_WIDTH = 100;

/** Types and messages with more fields than this are multi-line even when they would fit. */
const MAX_ONE_LINE_FIELDS = 3;

const INDENT = "  ";

/** The characters the lexer skips as whitespace (see `WhiteSpace` in tokens.ts). */
const WHITESPACE = new Set([" ", "\t", "\r", "\n", "\f", "\v", "\u00a0", "\ufeff"]);

/** Two line breaks with nothing but whitespace between them, once line endings are LF: a blank line. */
const BLANK_LINE = /\n[^\S\n]*\n/;

/**
 * Formats a `.catga` source text in the canonical layout (rules at the top of dsl/format.ts).
 *
 * Input with syntax errors is never formatted: the result is then `value: undefined` with the
 * parser's diagnostics, so a caller can never write back a file that lost text. Never throws.
 *
 * @param source - the text of the file.
 * @param file - the file name used in diagnostics.
 * @returns the canonical text, or `undefined` when the source has errors; formatting the canonical
 *   text again returns it unchanged.
 */
export function format(source: string, file: string): Result<string | undefined> {
  const parsed = parse(source, file);
  if (hasErrors(parsed.diagnostics)) return { value: undefined, diagnostics: parsed.diagnostics };
  const value = new Formatter(source, parsed.value.declarations, parsed.value.comments).print();
  return { value, diagnostics: parsed.diagnostics };
}

/** Every node that may carry a doc comment and is printed on lines of its own. */
type Entry = Declaration | Field | Setting | EnumMember | ServiceItem | SagaItem;

/** Entries without a block of their own: always one line. */
type Leaf = Exclude<Entry, Declaration | BlockItem>;

/** A node placed in the layout, with the comments that print around it. */
interface Slot {
  node: Entry;
  /** The `///` comments of the node's doc comment, in order. */
  doc: Comment[];
  /** Comments on their own lines before the node. */
  leading: Comment[];
  /** Comments from inside the node but outside its block; they print after `leading`. */
  hoisted: Comment[];
  /** Comments after the node on the line where it ends. */
  trailing: Comment[];
  /** The `{ … }` of nodes that have one. */
  body?: Body;
}

/** The inside of a `{ … }`, or the whole file. */
interface Body {
  /** Offset of the `{` (-1 for the file). */
  open: number;
  /** Offset of the `}` (the source length for the file). */
  close: number;
  slots: Slot[];
  /** Comments after the last node: before the `}`, or at the end of the file. */
  beforeClose: Comment[];
}

/** One printed element of a body: a comment on its own lines, or a node with its doc and trailers. */
type Unit =
  | { kind: "comment"; comment: Comment; hoisted: boolean; owner: Slot | undefined }
  | { kind: "slot"; slot: Slot; owner: Slot };

class Formatter {
  private readonly commentEnds = new Map<number, number>();
  private readonly root: Body;
  private readonly rendered = new Map<Slot, string[]>();

  constructor(
    private readonly source: string,
    declarations: readonly Declaration[],
    comments: readonly Comment[],
  ) {
    for (const c of comments) this.commentEnds.set(c.span.start.offset, c.span.end.offset);
    this.root = { open: -1, close: source.length, slots: [], beforeClose: [] };
    const attached = new Set<Comment>();
    this.root.slots = declarations.map((d) => this.slot(d, comments, attached));
    for (const c of comments) if (!attached.has(c)) this.place(c, this.root);
  }

  print(): string {
    const out: string[] = [];
    this.printBody(this.root, 0, out, true);
    return out.length === 0 ? "" : `${out.join("\n")}\n`;
  }

  // ----- building the layout tree -----

  private slot(node: Entry, comments: readonly Comment[], attached: Set<Comment>): Slot {
    const slot: Slot = { node, doc: [], leading: [], hoisted: [], trailing: [] };
    if (node.doc) {
      // The doc node only has the joined text; the tokens keep each line exactly as written.
      for (const c of commentsWithin(comments, node.doc.span)) {
        slot.doc.push(c);
        attached.add(c);
      }
    }
    const body = this.bodyOf(node, comments, attached);
    if (body) slot.body = body;
    return slot;
  }

  private bodyOf(node: Entry, comments: readonly Comment[], attached: Set<Comment>): Body | undefined {
    const child = (n: Entry): Slot => this.slot(n, comments, attached);
    switch (node.kind) {
      case "Infra":
        return this.body(node.keyword.end.offset, node.settings.map(child));
      case "Enum":
        return this.body(node.name.span.end.offset, node.members.map(child));
      case "Type":
      case "Message":
        return this.body(node.name.span.end.offset, node.fields.map(child));
      case "Service":
        return this.body(node.name.span.end.offset, node.items.map(child));
      case "Saga":
        return this.body(node.name.span.end.offset, node.items.map(child));
      case "Env":
      case "Resources":
        // The item starts with its keyword, `env` or `resources`: the kind's own length.
        return this.body(node.span.start.offset + node.kind.length, node.settings.map(child));
      default:
        return undefined;
    }
  }

  /**
   * The AST has no spans for braces, so they are found in the text: `{` is the first token after
   * the header, `}` the first token after the last entry and its optional comma.
   */
  private body(headerEnd: number, slots: Slot[]): Body {
    const open = this.nextToken(headerEnd);
    const last = slots[slots.length - 1];
    let close = this.nextToken(last ? last.node.span.end.offset : open + 1);
    if (this.source[close] === ",") close = this.nextToken(close + 1);
    return { open, close, slots, beforeClose: [] };
  }

  /** Offset of the first character at or after `from` that is neither whitespace nor a comment. */
  private nextToken(from: number): number {
    let i = from;
    while (i < this.source.length) {
      const commentEnd = this.commentEnds.get(i);
      if (commentEnd !== undefined) i = commentEnd;
      else if (WHITESPACE.has(this.source[i]!)) i++;
      else return i;
    }
    return i;
  }

  /** Decides where a comment that is not part of a doc comment prints (rules at the top). */
  private place(comment: Comment, body: Body): void {
    const at = comment.span.start.offset;
    const { slots } = body;
    const k = lastStartingAtOrBefore(slots, at);
    const before = slots[k];
    if (before && at < before.node.span.end.offset) {
      const inner = before.body;
      if (inner && inner.open < at && at < inner.close) this.place(comment, inner);
      else before.hoisted.push(comment);
      return;
    }
    if (before && comment.style !== "doc" && before.node.span.end.line === comment.span.start.line) {
      before.trailing.push(comment);
      return;
    }
    const after = slots[k + 1];
    if (after) after.leading.push(comment);
    else body.beforeClose.push(comment);
  }

  // ----- printing -----

  private printBody(body: Body, indent: number, out: string[], topLevel: boolean): void {
    const units: Unit[] = [];
    for (const slot of body.slots) {
      for (const comment of slot.leading)
        units.push({ kind: "comment", comment, hoisted: false, owner: slot });
      for (const comment of slot.hoisted)
        units.push({ kind: "comment", comment, hoisted: true, owner: slot });
      units.push({ kind: "slot", slot, owner: slot });
    }
    for (const comment of body.beforeClose)
      units.push({ kind: "comment", comment, hoisted: false, owner: undefined });

    let previous: Unit | undefined;
    for (const unit of units) {
      if (previous && this.blankBetween(previous, unit, topLevel)) out.push("");
      if (unit.kind === "comment") pushText(out, indent, normalizeComment(unit.comment.text));
      else this.printSlot(unit.slot, indent, out);
      previous = unit;
    }
  }

  private blankBetween(previous: Unit, unit: Unit, topLevel: boolean): boolean {
    const newGroup = unit.owner !== undefined && unit.owner !== previous.owner;
    if (topLevel && newGroup) return !this.staysAdjacent(previous, unit);
    if (unit.kind === "slot" && previous.kind === "comment" && previous.comment.style === "doc") {
      // With a doc comment, a blank line keeps the two `///` runs from merging into one. Without,
      // the `///` line becomes the node's doc comment once printed above it, blank line or not; no
      // blank line means formatting the output again prints it the same way.
      return unit.slot.doc.length > 0;
    }
    const hoisted = (u: Unit): boolean => u.kind === "comment" && u.hoisted;
    if (!newGroup && (hoisted(previous) || hoisted(unit))) return false;
    // A hoisted comment has no place in the source between the nodes: use where its node starts.
    const start = hoisted(unit) && unit.owner ? slotStart(unit.owner) : unitStart(unit);
    return this.sourceHasBlankLine(unitEnd(previous), start);
  }

  /** Two one-line declarations written on consecutive lines stay on consecutive lines. */
  private staysAdjacent(previous: Unit, unit: Unit): boolean {
    return (
      previous.kind === "slot" &&
      unit.kind === "slot" &&
      unit.slot.doc.length === 0 &&
      this.render(previous.slot, 0).length === 1 &&
      this.render(unit.slot, 0).length === 1 &&
      !this.sourceHasBlankLine(unitEnd(previous), unitStart(unit))
    );
  }

  private sourceHasBlankLine(from: number, to: number): boolean {
    // CRLF and CR become LF first: a regular expression would read "\r\n" as two line breaks.
    return from < to && BLANK_LINE.test(this.source.slice(from, to).replace(/\r\n?/g, "\n"));
  }

  private printSlot(slot: Slot, indent: number, out: string[]): void {
    for (const line of slot.doc) pushText(out, indent, normalizeComment(line.text));
    out.push(...this.render(slot, indent));
    if (slot.trailing.length === 0) return;
    const [first = "", ...rest] = slot.trailing
      .map((c) => normalizeComment(c.text))
      .join(" ")
      .split("\n");
    out[out.length - 1] += `  ${first}`;
    out.push(...rest);
  }

  /**
   * The node's own lines, indented, without its doc and trailing comments. Cached because a
   * declaration is rendered once to decide on blank lines and once to print; a slot always prints
   * at the same indentation, so the slot alone is the key.
   */
  private render(slot: Slot, indent: number): string[] {
    let lines = this.rendered.get(slot);
    if (!lines) {
      lines = this.renderUncached(slot, indent);
      this.rendered.set(slot, lines);
    }
    return lines;
  }

  private renderUncached(slot: Slot, indent: number): string[] {
    const pad = INDENT.repeat(indent);
    const { node, body } = slot;
    switch (node.kind) {
      case "Topology":
        return [`${pad}topology ${node.name.text}`];
      case "Infra":
        return this.block(`${pad}${node.target}`, body, indent, oneLineEntries(body), "");
      case "Env":
        return this.block(`${pad}env`, body, indent, oneLineEntries(body), "");
      case "Resources":
        return this.block(`${pad}resources`, body, indent, oneLineEntries(body), "");
      case "Enum":
        return this.block(`${pad}enum ${node.name.text}`, body, indent, oneLineEntries(body), "");
      case "Type":
        return this.block(`${pad}type ${node.name.text}`, body, indent, oneLineFields(body), "");
      case "Message": {
        const modifiers = `${node.idempotent ? "idempotent " : ""}${node.durable ? "durable " : ""}`;
        const head = `${pad}${modifiers}${node.messageKind} ${node.name.text}`;
        const settings = node.settings.map((s) => ` ${leafText(s)}`).join("");
        const tail = `${node.result ? ` -> ${typeRef(node.result)}` : ""}${settings}`;
        return this.block(head, body, indent, oneLineFields(body), tail);
      }
      case "Service":
        return this.block(`${pad}service ${node.name.text}`, body, indent, undefined, "");
      case "Saga":
        return this.block(`${pad}saga ${node.name.text}`, body, indent, undefined, "");
      default:
        return [pad + leafText(node)];
    }
  }

  /**
   * A `head { … }tail` block: `{}` when empty, one line (entries joined by ", ") when `oneLine` is
   * given and the block has no comments and fits, otherwise one entry per line.
   */
  private block(
    head: string,
    body: Body | undefined,
    indent: number,
    oneLine: string[] | undefined,
    tail: string,
  ): string[] {
    if (!body || (body.slots.length === 0 && body.beforeClose.length === 0)) return [`${head} {}${tail}`];
    if (oneLine && !hasComments(body)) {
      const line = `${head} { ${oneLine.join(", ")} }${tail}`;
      if (width(line) <= LINE_WIDTH) return [line];
    }
    const lines = [`${head} {`];
    this.printBody(body, indent + 1, lines, false);
    lines.push(`${INDENT.repeat(indent)}}${tail}`);
    return lines;
  }
}

/** The one line of a leaf, without indentation. */
function leafText(node: Leaf): string {
  switch (node.kind) {
    case "Field":
      return `${node.name.text}: ${typeRef(node.type)}`;
    case "Setting":
      return `${node.key.text} ${valueText(node.value)}`;
    case "EnumMember":
      return node.name.text;
    case "ServiceSetting":
      return `${node.setting.key.text} ${valueText(node.setting.value)}`;
    case "Handles":
      return `handles ${names(node.names)}${node.queue ? ` queue ${node.queue.text}` : ""}`;
    case "On":
      return `on ${names(node.names)}${node.broadcast ? " broadcast" : ""}`;
    case "Emits":
      return `emits ${names(node.names)}`;
    case "Sends":
      return `sends ${names(node.names)}`;
    case "Runs":
      return `runs ${names(node.names)}`;
    case "Uses":
      return `uses ${names(node.names)}`;
    case "Every":
      return `every ${node.interval.text} ${node.job.text}`;
    case "Timeout":
      return `timeout ${node.duration.text}`;
    case "SagaOn":
      return `on ${node.name.text}`;
    case "SagaStep":
      return (
        `step ${node.command.text}` +
        (node.compensate ? ` compensate ${node.compensate.text}` : "") +
        (node.irreversible ? " irreversible" : "") +
        (node.timeout ? ` timeout ${node.timeout.text}` : "")
      );
  }
}

function typeRef(ref: TypeRef): string {
  return `${ref.name.text}${"[]".repeat(ref.listDepth)}${ref.optional ? "?" : ""}`;
}

/** Literals print as written: the token text keeps escapes and units. */
function valueText(value: Value): string {
  return value.text;
}

function names(list: readonly { text: string }[]): string {
  return list.map((n) => n.text).join(", ");
}

/** One-line texts of the entries of a settings block, an enum or a field block (all leaves). */
function oneLineEntries(body: Body | undefined): string[] | undefined {
  if (!body) return undefined;
  const texts: string[] = [];
  for (const slot of body.slots) {
    if (!isLeaf(slot.node)) return undefined;
    texts.push(leafText(slot.node));
  }
  return texts;
}

function isLeaf(node: Entry): node is Leaf {
  switch (node.kind) {
    case "Topology":
    case "Infra":
    case "Enum":
    case "Type":
    case "Message":
    case "Service":
    case "Saga":
    case "Env":
    case "Resources":
      return false;
    default:
      return true;
  }
}

/** One-line texts of a field block, or undefined when it has too many fields to be one line. */
function oneLineFields(body: Body | undefined): string[] | undefined {
  if (!body || body.slots.length > MAX_ONE_LINE_FIELDS) return undefined;
  return oneLineEntries(body);
}

function hasComments(body: Body): boolean {
  return (
    body.beforeClose.length > 0 ||
    body.slots.some(
      (s) => s.doc.length > 0 || s.leading.length > 0 || s.hoisted.length > 0 || s.trailing.length > 0,
    )
  );
}

/** Where a slot starts in the source: at its doc comment when it has one. */
function slotStart(slot: Slot): number {
  return slot.doc[0]?.span.start.offset ?? slot.node.span.start.offset;
}

function unitStart(unit: Unit): number {
  return unit.kind === "comment" ? unit.comment.span.start.offset : slotStart(unit.slot);
}

function unitEnd(unit: Unit): number {
  if (unit.kind === "comment") return unit.comment.span.end.offset;
  const last = unit.slot.trailing[unit.slot.trailing.length - 1];
  return last ? last.span.end.offset : unit.slot.node.span.end.offset;
}

/** Index of the last slot whose node starts at or before `offset`, or -1. Slots are in source order. */
function lastStartingAtOrBefore(slots: readonly Slot[], offset: number): number {
  let lo = 0;
  let hi = slots.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (slots[mid]!.node.span.start.offset <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The comments that start inside `span`, in order. Comments are in source order. */
function commentsWithin(comments: readonly Comment[], span: Span): Comment[] {
  let lo = 0;
  let hi = comments.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (comments[mid]!.span.start.offset < span.start.offset) lo = mid + 1;
    else hi = mid;
  }
  const within: Comment[] = [];
  for (let i = lo; i < comments.length && comments[i]!.span.start.offset < span.end.offset; i++)
    within.push(comments[i]!);
  return within;
}

/**
 * A comment's text as printed: LF line endings and no trailing whitespace on any line, so the
 * output has neither CR nor trailing spaces. Everything else is kept byte for byte.
 */
function normalizeComment(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => line.trimEnd())
    .join("\n");
}

/** Pushes possibly multi-line text: the first line indented, the others as written. */
function pushText(out: string[], indent: number, text: string): void {
  const [first = "", ...rest] = text.split("\n");
  out.push(INDENT.repeat(indent) + first, ...rest);
}

/** Width in code points, so a line with non-ASCII text in a string is not wrapped early. */
function width(line: string): number {
  let n = 0;
  for (const _ of line) n++;
  return n;
}
