/**
 * A fast writer of block YAML that produces exactly the bytes of the `yaml` package's
 * `stringify(value, { version, lineWidth: 0, … })`, the writer compose and cdk8s use.
 *
 * Why: the package builds a node tree for every document and formats it through a general
 * stringifier (comments, anchors, flow styles, folding); on a topology of 1,000 services that was
 * most of the time of `catgac build`. The manifests use a small part of YAML: block maps and
 * sequences of plain data. This writer covers that part and hands anything else back to the
 * package, so the output never depends on which path wrote it:
 *
 * - structure (indentation, `- ` items, `key: value`, `{}`/`[]` for empty collections) is written
 *   here, following the package's block layout (two-space indent, sequences indented in maps);
 * - a single-line string is written plain when the package would write it plain — the same
 *   indicator and document-marker tests, and the schema's own tag tests for strings that would read
 *   back as another type (`"no"` in YAML 1.1, `"1.0"`) — and otherwise quoted: double-quoted as
 *   JSON when that needs no escape (the package's own choice then), else by the package, once per
 *   distinct string;
 * - a multi-line string value is a literal block scalar (`|` or `|-`), the package's choice with
 *   `lineWidth: 0`, in the common shapes (no leading space or newline, at most one trailing
 *   newline);
 * - integers are written as JSON writes them (the package's number format); other numbers and
 *   booleans are formatted by the package, once per distinct value.
 *
 * Anything else (null, undefined, non-plain objects, keys or strings outside the shapes above, a
 * shared object where the package would write an alias) makes the whole document fall back to the
 * package. test/unit/yaml-writer.test.ts checks the fast path against the package, byte for byte.
 */
import {
  type CreateNodeOptions,
  Document,
  type DocumentOptions,
  stringify,
  type ToStringOptions,
} from "yaml";

/** The `yaml` options this writer reproduces. */
export interface BlockYamlOptions {
  /** YAML version of the output: `1.1` quotes `yes`/`no`/`on`/`off` and the like. */
  version: "1.1" | "1.2";
  /**
   * The package's `aliasDuplicateObjects`: when true an object met twice is written as an alias;
   * this writer falls back to the package for such a document instead.
   * @default true (the package's default)
   */
  aliasDuplicateObjects?: boolean;
  /** The package's `keepUndefined` (passed through to the fallback; undefined values always fall back). */
  keepUndefined?: boolean;
}

/**
 * The strings that start lines at one depth: its indentation, a new line, a new sequence item, and
 * the map entries met at that depth.
 */
interface Layout {
  indent: string;
  newline: string;
  item: string;
  entries: Map<string, Entry>;
}

/**
 * How a map entry starts: as the first line of its map or after a new line, followed by a scalar
 * (`key: `) or by a collection on the next line (`key:` and the nested indentation).
 */
interface Entry {
  first: string;
  next: string;
  firstOpen: string;
  nextOpen: string;
}

/** Thrown inside the writer when a value is outside its fast path: the document falls back. */
class Unsupported extends Error {}

const UNSUPPORTED = new Unsupported();

/** Characters the package always double-quotes (control characters, lone surrogates). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the package's own test, copied exactly.
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u{D800}-\u{DFFF}]/u;
/** The package's test for strings that cannot be plain (indicators, `: `, ` #`, trailing space…). */
const NOT_PLAIN = /^[\n\t ,[\]{}#&*!|>'"%@`]|^[?-]$|^[?-][ \t]|[\n:][ \t]|[ \t]\n|[\n\t ]#|[\n\t :]$/;
/** Lines starting a directive or a document marker: the package's layout then depends on depth. */
const DOCUMENT_MARKER = /^(%|---|\.\.\.)/m;
/** Longest implicit key; the package writes longer ones as explicit `? key`. */
const MAX_IMPLICIT_KEY = 1024;

interface TagTest {
  default?: unknown;
  tag: string;
  test?: RegExp;
}

/**
 * A writer for one set of options. Reuse it: it caches the formatting of strings and numbers the
 * package had to decide.
 */
export class BlockYamlWriter {
  private readonly options: Required<BlockYamlOptions>;
  private readonly packageOptions: DocumentOptions & CreateNodeOptions & ToStringOptions;
  /** The schema's tag tests for plain strings that would read back as another type. */
  private readonly otherTypes: RegExp[];
  private readonly values = new Map<string, string>();
  private readonly keys = new Map<string, string>();
  private readonly scalars = new Map<string, string>();
  private seen: Set<object> | undefined;
  /** Indentation strings by depth. */
  private readonly layouts: Layout[] = [];
  /** Documents handed to the package because they left the fast path (for tests and profiling). */
  fallbacks = 0;

  constructor(options: BlockYamlOptions) {
    this.options = { aliasDuplicateObjects: true, keepUndefined: false, ...options };
    this.packageOptions = {
      version: this.options.version,
      lineWidth: 0,
      aliasDuplicateObjects: this.options.aliasDuplicateObjects,
      keepUndefined: this.options.keepUndefined,
    };
    // The same tests the package's plain-string writer runs (`tags` and `compat` of the schema).
    const schema = new Document(null, { version: this.options.version }).schema as unknown as {
      tags: TagTest[];
      compat?: TagTest[] | null;
    };
    this.otherTypes = [...schema.tags, ...(schema.compat ?? [])]
      .filter((t) => t.default && t.tag !== "tag:yaml.org,2002:str" && t.test instanceof RegExp)
      .map((t) => t.test as RegExp);
  }

  /** One document, ending with a newline: `stringify(value, options)` of the `yaml` package. */
  document(value: unknown): string {
    const parts: string[] = [];
    this.write(value, parts);
    return parts.join("");
  }

  /**
   * Documents separated by `---` lines: what cdk8s's `Yaml.stringify(...values)` writes (each
   * document as {@link document} writes it, joined by `---\n`). Joined once: joining each document
   * first copied every byte of a large manifest twice.
   */
  documents(values: readonly unknown[]): string {
    const parts: string[] = [];
    for (let i = 0; i < values.length; i++) {
      if (i > 0) parts.push("---\n");
      this.write(values[i], parts);
    }
    return parts.join("");
  }

  /** Appends one document to `out`, through the package when it leaves the fast path. */
  private write(value: unknown, out: string[]): void {
    if (typeof value === "object" && value !== null) {
      const start = out.length;
      this.seen = this.options.aliasDuplicateObjects ? new Set() : undefined;
      try {
        this.collection(value, 0, out);
        out.push("\n");
        return;
      } catch (error) {
        if (!(error instanceof Unsupported)) throw error;
        out.length = start;
      } finally {
        this.seen = undefined;
      }
    }
    this.fallbacks++;
    out.push(stringify(value, this.packageOptions));
  }

  /**
   * A map or sequence whose first line is already positioned; later lines are indented `depth`
   * steps. Everything pushed is a cached or given string: building a new one per line kept hundreds
   * of thousands of small strings alive until the document was joined.
   */
  private collection(value: object, depth: number, out: string[]): void {
    if (this.seen !== undefined) {
      if (this.seen.has(value)) throw UNSUPPORTED;
      this.seen.add(value);
    }
    if (Array.isArray(value)) {
      if (value.length === 0) {
        out.push("[]");
        return;
      }
      const item = this.layout(depth).item;
      for (let i = 0; i < value.length; i++) {
        out.push(i === 0 ? "- " : item);
        this.node(value[i], depth + 1, out);
      }
      return;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw UNSUPPORTED;
    const keys = Object.keys(value);
    if (keys.length === 0) {
      out.push("{}");
      return;
    }
    const layout = this.layout(depth);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const item = (value as Record<string, unknown>)[key];
      const entry = layout.entries.get(key) ?? this.entry(layout, depth, key);
      if (typeof item === "object" && item !== null && !isEmpty(item)) {
        // A non-empty collection starts on the next line, one step in.
        out.push(i === 0 ? entry.firstOpen : entry.nextOpen);
        this.collection(item, depth + 1, out);
      } else {
        out.push(i === 0 ? entry.first : entry.next);
        this.node(item, depth + 1, out);
      }
    }
  }

  /** The indentation strings of nesting depth `depth`, made once per writer. */
  private layout(depth: number): Layout {
    let layout = this.layouts[depth];
    if (layout === undefined) {
      const indent = "  ".repeat(depth);
      layout = { indent, newline: `\n${indent}`, item: `\n${indent}- `, entries: new Map() };
      this.layouts[depth] = layout;
    }
    return layout;
  }

  /** The ways a map entry with `key` starts at `depth`, made once per key and depth. */
  private entry(layout: Layout, depth: number, key: string): Entry {
    const text = this.key(key);
    const open = `${text}:${this.layout(depth + 1).newline}`;
    const entry = {
      first: `${text}: `,
      next: `${layout.newline}${text}: `,
      firstOpen: open,
      nextOpen: `${layout.newline}${open}`,
    };
    layout.entries.set(key, entry);
    return entry;
  }

  /** A map value or sequence item; `depth` is the indentation of its nested lines. */
  private node(value: unknown, depth: number, out: string[]): void {
    if (typeof value === "string") out.push(this.string(value, depth));
    else if (typeof value === "object" && value !== null) this.collection(value, depth, out);
    else if (typeof value === "number" || typeof value === "boolean") out.push(this.scalar(value));
    else throw UNSUPPORTED;
  }

  private key(key: string): string {
    let text = this.keys.get(key);
    if (text === undefined) {
      if (key.includes("\n") || DOCUMENT_MARKER.test(key)) throw UNSUPPORTED;
      text = this.isPlain(key) ? key : this.fromPackage({ [key]: 0 }, "", ": 0");
      if (text.length > MAX_IMPLICIT_KEY) throw UNSUPPORTED;
      this.keys.set(key, text);
    }
    return text;
  }

  private string(value: string, depth: number): string {
    const cached = this.values.get(value);
    if (cached !== undefined) return cached;
    if (value.includes("\n")) return this.literalBlock(value, this.layout(depth).indent);
    if (DOCUMENT_MARKER.test(value)) throw UNSUPPORTED;
    const text = this.isPlain(value)
      ? value
      : (doubleQuoted(value) ?? this.fromPackage({ a: value }, "a: ", ""));
    this.values.set(value, text);
    return text;
  }

  /** A single-line string the package writes as it is. */
  private isPlain(value: string): boolean {
    if (CONTROL.test(value) || NOT_PLAIN.test(value)) return false;
    for (const test of this.otherTypes) if (test.test(value)) return false;
    return true;
  }

  /**
   * `|` (one final newline, kept) or `|-` (no final newline): the package's literal block with
   * `lineWidth: 0`. Blank lines inside stay empty; other lines are indented.
   */
  private literalBlock(value: string, indent: string): string {
    if (CONTROL.test(value)) throw UNSUPPORTED;
    const first = value.charCodeAt(0);
    // A leading space or newline needs an indentation indicator: left to the package.
    if (first === 32 || first === 10) throw UNSUPPORTED;
    const last = value.charCodeAt(value.length - 1);
    let body = value;
    let chomp = "-";
    if (last === 10) {
      // Exactly one final newline (clip); more, or spaces before it, are left to the package.
      const before = value.charCodeAt(value.length - 2);
      if (before === 10 || before === 32 || before === 9) throw UNSUPPORTED;
      body = value.slice(0, -1);
      chomp = "";
    } else if (last === 32 || last === 9) {
      throw UNSUPPORTED;
    }
    // The package indents after each run of newlines (`/\n+/g`); without blank lines that is after
    // each newline, which splitting and joining does several times faster (wiring.json is megabytes
    // in the Kubernetes ConfigMap). Not `replaceAll`: its result is a rope of every piece, which
    // joining the document then had to walk and flatten.
    const lines = body.split("\n");
    const indented = body.includes("\n\n")
      ? lines.map((line, i) => (i === 0 || line === "" ? line : `${indent}${line}`)).join("\n")
      : lines.join(`\n${indent}`);
    return `|${chomp}\n${indent}${indented}`;
  }

  /** Numbers and booleans, as the package formats them. */
  private scalar(value: number | boolean): string {
    // An integer is written as JSON writes it (the package's `stringifyNumber`); ports and replica
    // counts are mostly distinct, so asking the package once per value cost a document's worth.
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) return String(value);
    const id = Object.is(value, -0) ? "-0" : `${typeof value}:${value}`;
    let text = this.scalars.get(id);
    if (text === undefined) {
      text = this.fromPackage({ a: value }, "a: ", "");
      this.scalars.set(id, text);
    }
    return text;
  }

  /** The package's formatting of one scalar, cut out of a one-entry map. */
  private fromPackage(map: Record<string, unknown>, prefix: string, suffix: string): string {
    const text = stringify(map, this.packageOptions);
    const end = text.length - suffix.length - 1;
    if (!text.startsWith(prefix) || text.slice(end) !== `${suffix}\n`) throw UNSUPPORTED;
    const cut = text.slice(prefix.length, end);
    if (cut.includes("\n")) throw UNSUPPORTED;
    return cut;
  }
}

/**
 * A single-line string that cannot be plain, as the package quotes it when no escape is needed:
 * without `"` it picks double quotes, and its double-quoted form is the JSON string, which it only
 * rewrites around backslash escapes (and folds, which `lineWidth: 0` turns off). Undefined when the
 * string needs an escape or single quotes: the package decides those.
 */
function doubleQuoted(value: string): string | undefined {
  if (value.includes('"')) return undefined;
  const json = JSON.stringify(value);
  return json.includes("\\") ? undefined : json;
}

function isEmpty(value: object): boolean {
  return Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0;
}
