import {
  createTokenInstance,
  EmbeddedActionsParser,
  EOF,
  type IParserErrorMessageProvider,
  type IRecognitionException,
  type IToken,
  type TokenType,
  tokenMatcher,
} from "chevrotain";
import type {
  BlockItem,
  CatgaFile,
  Comment,
  Declaration,
  DocComment as DocNode,
  DurationLiteral,
  EnumMember,
  Field,
  Identifier as IdentNode,
  IntLiteral,
  Position,
  SagaItem,
  ServiceItem,
  Setting,
  Span,
  StringLiteral as StringNode,
  TypeRef,
  Value,
} from "./ast.js";
import { type Diagnostic, diagnostic, type Result } from "./diagnostics.js";
import { advance, tokenize, tokenSpan } from "./lexer.js";
import { closest } from "./suggest.js";
import * as T from "./tokens.js";

/** Syntax errors beyond this many are summarised in one C1008: the first ones are the useful ones. */
export const MAX_SYNTAX_ERRORS = 100;

/** In-repetition recoveries allowed per declaration; see the constructor of CatgaParser. */
const MAX_RECOVERIES_PER_DECLARATION = 50;

/**
 * Durations of intervals and deadlines (`every`, `timeout`) above this (a day) are certainly typos
 * and would overflow timers.
 */
const MAX_DURATION_MS = 24 * 60 * 60 * 1000;

/**
 * Durations in settings may be longer: a stream keeps events for days (`retain 30d`). Each setting
 * has its own bounds in the checker; this cap only keeps the arithmetic exact.
 */
const MAX_SETTING_DURATION_MS = 3650 * 24 * 60 * 60 * 1000;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected }) => `expected ${label(expected)}`,
  buildNotAllInputParsedMessage: () => "expected a new declaration",
  buildNoViableAltMessage: ({ expectedPathsPerAlt }) => `expected ${alternatives(expectedPathsPerAlt)}`,
  buildEarlyExitMessage: ({ expectedIterationPaths }) => `expected ${alternatives([expectedIterationPaths])}`,
};

function label(type: TokenType): string {
  return type.LABEL ?? type.name;
}

/** "'{' or a name": the first token of every viable path, deduplicated. */
function alternatives(paths: TokenType[][][]): string {
  const labels = [...new Set(paths.flat().map((path) => (path[0] ? label(path[0]) : "")))].filter(Boolean);
  if (labels.length <= 1) return labels[0] ?? "something else";
  if (labels.length > 6) return "a declaration or setting";
  return `${labels.slice(0, -1).join(", ")} or ${labels[labels.length - 1]}`;
}

/**
 * The .catga grammar. Rules are class properties (Chevrotain's embedded-actions style) and build
 * the AST directly; every construction sits in ACTION() because Chevrotain records the grammar by
 * running the rules once with placeholder tokens.
 *
 * The parser sees one top-level declaration at a time (see `parse` below), which is what makes
 * recovery good: a broken service never swallows the message declared after it.
 */
class CatgaParser extends EmbeddedActionsParser {
  file = "";
  docs = new Map<number, DocNode>();
  literalDiagnostics: Diagnostic[] = [];

  constructor() {
    super(T.ALL_TOKENS, { recoveryEnabled: true, errorMessageProvider: messages, maxLookahead: 2 });
    this.performSelfAnalysis();
    // Chevrotain re-enters a repetition recursively once per recovered error: thousands of stray
    // tokens in one declaration would take quadratic time and then exhaust the stack. Past a budget
    // per declaration, stop recovering inside repetitions; the declaration then fails as a whole and
    // `salvage` keeps what came before its first error. (attemptInRepetitionRecovery is an internal
    // of Chevrotain's Recoverable trait, installed per instance when recovery is enabled.)
    const self = this as unknown as { attemptInRepetitionRecovery: (...args: unknown[]) => void };
    const recover = self.attemptInRepetitionRecovery;
    self.attemptInRepetitionRecovery = (...args: unknown[]) => {
      if (++this.recoveries > MAX_RECOVERIES_PER_DECLARATION) return;
      recover.apply(this, args);
    };
  }

  /** Recoveries inside repetitions in the current declaration; reset by `parseSource` per declaration. */
  recoveries = 0;

  declaration = this.RULE("declaration", (): Declaration | undefined =>
    this.OR<Declaration | undefined>([
      { ALT: () => this.SUBRULE(this.topology) },
      { ALT: () => this.SUBRULE(this.infra) },
      { ALT: () => this.SUBRULE(this.enumDecl) },
      { ALT: () => this.SUBRULE(this.typeDecl) },
      { ALT: () => this.SUBRULE(this.message) },
      { ALT: () => this.SUBRULE(this.service) },
      { ALT: () => this.SUBRULE(this.saga) },
    ]),
  );

  topology = this.RULE("topology", (): Declaration => {
    const start = this.CONSUME(T.Topology);
    const name = this.SUBRULE(this.name);
    return this.ACTION(() => ({ kind: "Topology", ...this.docAt(start), name, span: this.spanFrom(start) }));
  });

  infra = this.RULE("infra", (): Declaration => {
    const start = this.OR([{ ALT: () => this.CONSUME(T.Nats) }, { ALT: () => this.CONSUME(T.Redis) }]);
    const settings = this.SUBRULE(this.settingsBlock);
    return this.ACTION(() => ({
      kind: "Infra",
      ...this.docAt(start),
      target: tokenMatcher(start, T.Nats) ? "nats" : "redis",
      keyword: tokenSpan(start, this.file),
      settings,
      span: this.spanFrom(start),
    }));
  });

  enumDecl = this.RULE("enumDecl", (): Declaration => {
    const start = this.CONSUME(T.Enum);
    const name = this.SUBRULE(this.name);
    const members: EnumMember[] = [];
    this.CONSUME(T.LCurly);
    this.MANY(() => {
      const first = this.LA(1);
      const member = this.SUBRULE2(this.name);
      this.ACTION(() =>
        members.push({ kind: "EnumMember", ...this.docAt(first), name: member, span: member.span }),
      );
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RCurly);
    return this.ACTION(() => ({
      kind: "Enum",
      ...this.docAt(start),
      name,
      members,
      span: this.spanFrom(start),
    }));
  });

  typeDecl = this.RULE("typeDecl", (): Declaration => {
    const start = this.CONSUME(T.Type);
    const name = this.SUBRULE(this.name);
    const fields = this.SUBRULE(this.fields);
    return this.ACTION(() => ({
      kind: "Type",
      ...this.docAt(start),
      name,
      fields,
      span: this.spanFrom(start),
    }));
  });

  message = this.RULE("message", (): Declaration => {
    const start = this.LA(1);
    const idempotent = this.OPTION(() => this.CONSUME(T.Idempotent));
    const durable = this.OPTION3(() => this.CONSUME(T.Durable));
    const keyword = this.OR([
      { ALT: () => this.CONSUME(T.Command) },
      { ALT: () => this.CONSUME(T.Query) },
      { ALT: () => this.CONSUME(T.Event) },
    ]);
    const name = this.SUBRULE(this.name);
    const fields = this.SUBRULE(this.fields);
    const result = this.OPTION2(() => {
      this.CONSUME(T.Arrow);
      return this.SUBRULE(this.typeRef);
    });
    // Stream settings after the body (`} retain 30d`): keys are plain identifiers, never keywords,
    // so the next declaration (`service …`) can never be read as one.
    const settings: Setting[] = [];
    this.MANY(() => {
      const key = this.CONSUME(T.Identifier);
      const value = this.SUBRULE(this.value);
      this.ACTION(() =>
        settings.push({
          kind: "Setting",
          key: this.identifier(key),
          value,
          span: this.spanFrom(key),
        }),
      );
    });
    return this.ACTION(() => {
      const messageKind = tokenMatcher(keyword, T.Query)
        ? "query"
        : tokenMatcher(keyword, T.Event)
          ? "event"
          : "command";
      return {
        kind: "Message",
        ...this.docAt(start),
        messageKind,
        ...(idempotent ? { idempotent: tokenSpan(idempotent, this.file) } : {}),
        ...(durable ? { durable: tokenSpan(durable, this.file) } : {}),
        name,
        fields,
        ...(result ? { result } : {}),
        settings,
        span: this.spanFrom(start),
      };
    });
  });

  fields = this.RULE(
    "fields",
    (): Field[] => {
      const fields: Field[] = [];
      this.CONSUME(T.LCurly);
      this.MANY(() => {
        const first = this.LA(1);
        const name = this.SUBRULE(this.name);
        this.CONSUME(T.Colon);
        const type = this.SUBRULE(this.typeRef);
        this.ACTION(() => {
          if (type)
            fields.push({ kind: "Field", ...this.docAt(first), name, type, span: this.spanFrom(first) });
        });
        this.OPTION(() => this.CONSUME(T.Comma));
      });
      this.CONSUME(T.RCurly);
      return fields;
    },
    { recoveryValueFunc: () => [] },
  );

  typeRef = this.RULE(
    "typeRef",
    (): TypeRef => {
      const first = this.LA(1);
      const name = this.SUBRULE(this.name);
      let listDepth = 0;
      this.MANY(() => {
        this.CONSUME(T.LBracket);
        this.CONSUME(T.RBracket);
        listDepth++;
      });
      const optional = this.OPTION(() => this.CONSUME(T.Question)) !== undefined;
      return this.ACTION(() => ({ kind: "TypeRef", name, listDepth, optional, span: this.spanFrom(first) }));
    },
    {
      recoveryValueFunc: (): TypeRef => {
        const name = this.placeholderName();
        return { kind: "TypeRef", name, listDepth: 0, optional: false, span: name.span };
      },
    },
  );

  service = this.RULE("service", (): Declaration => {
    const start = this.CONSUME(T.Service);
    const name = this.SUBRULE(this.name);
    const items: ServiceItem[] = [];
    this.CONSUME(T.LCurly);
    this.MANY(() => {
      const item = this.SUBRULE(this.serviceItem);
      this.ACTION(() => item && items.push(item));
    });
    this.CONSUME(T.RCurly);
    return this.ACTION(() => ({
      kind: "Service",
      ...this.docAt(start),
      name,
      items,
      span: this.spanFrom(start),
    }));
  });

  serviceItem = this.RULE("serviceItem", (): ServiceItem | undefined => {
    const first = this.LA(1);
    return this.OR<ServiceItem | undefined>([
      {
        ALT: () => {
          this.CONSUME(T.Handles);
          const names = this.SUBRULE(this.nameList);
          const queue = this.OPTION(() => {
            this.CONSUME(T.Queue);
            return this.SUBRULE(this.string);
          });
          return this.ACTION(() => ({
            kind: "Handles",
            ...this.docAt(first),
            names,
            ...(queue ? { queue } : {}),
            span: this.spanFrom(first),
          }));
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.On);
          const names = this.SUBRULE2(this.nameList);
          const broadcast = this.OPTION2(() => this.CONSUME(T.Broadcast));
          return this.ACTION(() => ({
            kind: "On",
            ...this.docAt(first),
            names,
            ...(broadcast ? { broadcast: tokenSpan(broadcast, this.file) } : {}),
            span: this.spanFrom(first),
          }));
        },
      },
      {
        ALT: () => {
          const keyword = this.OR2([
            { ALT: () => this.CONSUME(T.Emits) },
            { ALT: () => this.CONSUME(T.Sends) },
            { ALT: () => this.CONSUME(T.Runs) },
          ]);
          const names = this.SUBRULE3(this.nameList);
          return this.ACTION(() => ({
            kind: tokenMatcher(keyword, T.Emits)
              ? "Emits"
              : tokenMatcher(keyword, T.Sends)
                ? "Sends"
                : "Runs",
            ...this.docAt(first),
            names,
            span: this.spanFrom(first),
          }));
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Uses);
          const names = this.SUBRULE4(this.nameList);
          return this.ACTION(() => ({
            kind: "Uses",
            ...this.docAt(first),
            names,
            span: this.spanFrom(first),
          }));
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Every);
          const interval = this.SUBRULE(this.duration);
          const job = this.SUBRULE(this.name);
          return this.ACTION(() => ({
            kind: "Every",
            ...this.docAt(first),
            interval,
            job,
            span: this.spanFrom(first),
          }));
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Timeout);
          const duration = this.SUBRULE2(this.duration);
          return this.ACTION(() => ({
            kind: "Timeout",
            ...this.docAt(first),
            duration,
            span: this.spanFrom(first),
          }));
        },
      },
      {
        ALT: () => {
          const keyword = this.OR3([
            { ALT: () => this.CONSUME(T.Env) },
            { ALT: () => this.CONSUME(T.Resources) },
          ]);
          const settings = this.SUBRULE(this.settingsBlock);
          return this.ACTION(
            (): BlockItem => ({
              kind: tokenMatcher(keyword, T.Env) ? "Env" : "Resources",
              ...this.docAt(first),
              settings,
              span: this.spanFrom(first),
            }),
          );
        },
      },
      {
        ALT: () => {
          const key = this.CONSUME(T.Identifier);
          const value = this.SUBRULE(this.value);
          return this.ACTION(() => {
            const setting: Setting = {
              kind: "Setting",
              key: this.identifier(key),
              value,
              span: this.spanFrom(first),
            };
            return { kind: "ServiceSetting", ...this.docAt(first), setting, span: setting.span };
          });
        },
      },
    ]);
  });

  saga = this.RULE("saga", (): Declaration => {
    const start = this.CONSUME(T.Saga);
    const name = this.SUBRULE(this.name);
    const items: SagaItem[] = [];
    this.CONSUME(T.LCurly);
    this.MANY(() => {
      const item = this.SUBRULE(this.sagaItem);
      this.ACTION(() => item && items.push(item));
    });
    this.CONSUME(T.RCurly);
    return this.ACTION(() => ({
      kind: "Saga",
      ...this.docAt(start),
      name,
      items,
      span: this.spanFrom(start),
    }));
  });

  sagaItem = this.RULE("sagaItem", (): SagaItem | undefined => {
    const first = this.LA(1);
    return this.OR<SagaItem | undefined>([
      {
        ALT: () => {
          this.CONSUME(T.On);
          const name = this.SUBRULE(this.name);
          return this.ACTION(() => ({
            kind: "SagaOn",
            ...this.docAt(first),
            name,
            span: this.spanFrom(first),
          }));
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Step);
          const command = this.SUBRULE2(this.name);
          let compensate: IdentNode | undefined;
          let irreversible: IToken | undefined;
          this.OPTION(() =>
            this.OR2([
              {
                ALT: () => {
                  this.CONSUME(T.Compensate);
                  compensate = this.SUBRULE3(this.name);
                },
              },
              { ALT: () => (irreversible = this.CONSUME(T.Irreversible)) },
            ]),
          );
          const timeout = this.OPTION2(() => {
            this.CONSUME(T.Timeout);
            return this.SUBRULE(this.duration);
          });
          return this.ACTION(() => ({
            kind: "SagaStep",
            ...this.docAt(first),
            command,
            ...(compensate ? { compensate } : {}),
            ...(irreversible ? { irreversible: tokenSpan(irreversible, this.file) } : {}),
            ...(timeout ? { timeout } : {}),
            span: this.spanFrom(first),
          }));
        },
      },
    ]);
  });

  settingsBlock = this.RULE(
    "settingsBlock",
    (): Setting[] => {
      const settings: Setting[] = [];
      this.CONSUME(T.LCurly);
      this.MANY(() => {
        const first = this.LA(1);
        const key = this.SUBRULE(this.name);
        const value = this.SUBRULE(this.value);
        this.ACTION(() => {
          if (value)
            settings.push({ kind: "Setting", ...this.docAt(first), key, value, span: this.spanFrom(first) });
        });
        this.OPTION(() => this.CONSUME(T.Comma));
      });
      this.CONSUME(T.RCurly);
      return settings;
    },
    { recoveryValueFunc: () => [] },
  );

  value = this.RULE(
    "value",
    (): Value =>
      this.OR<Value>([
        { ALT: () => this.SUBRULE(this.duration, { ARGS: [MAX_SETTING_DURATION_MS] }) },
        { ALT: () => this.SUBRULE(this.int) },
        { ALT: () => this.SUBRULE(this.string) },
        { ALT: () => this.SUBRULE(this.name) },
      ]),
    { recoveryValueFunc: () => this.placeholderName() },
  );

  nameList = this.RULE(
    "nameList",
    (): IdentNode[] => {
      const names: IdentNode[] = [this.SUBRULE(this.name)];
      this.MANY(() => {
        this.CONSUME(T.Comma);
        names.push(this.SUBRULE2(this.name));
      });
      return names;
    },
    { recoveryValueFunc: () => [] },
  );

  name = this.RULE("name", (): IdentNode => this.identifier(this.CONSUME(T.Name)), {
    recoveryValueFunc: () => this.placeholderName(),
  });

  duration = this.RULE(
    "duration",
    (max: number = MAX_DURATION_MS): DurationLiteral => {
      const token = this.CONSUME(T.Duration);
      return this.ACTION(() => this.durationLiteral(token, max));
    },
    {
      recoveryValueFunc: (): DurationLiteral => ({
        kind: "Duration",
        ms: 0,
        text: "",
        span: this.spanAfterPrevious(),
      }),
    },
  );

  int = this.RULE(
    "int",
    (): IntLiteral => {
      const token = this.CONSUME(T.Int);
      return this.ACTION(() => this.intLiteral(token));
    },
    {
      recoveryValueFunc: (): IntLiteral => ({
        kind: "Int",
        value: 0,
        text: "",
        span: this.spanAfterPrevious(),
      }),
    },
  );

  string = this.RULE(
    "string",
    (): StringNode => {
      const token = this.CONSUME(T.StringLiteral);
      return this.ACTION(() => this.stringLiteral(token));
    },
    {
      recoveryValueFunc: (): StringNode => ({
        kind: "String",
        value: "",
        text: '""',
        span: this.spanAfterPrevious(),
      }),
    },
  );

  // ----- helpers: only ever called inside ACTION, never while Chevrotain records the grammar -----

  /**
   * What a sub-rule returns when Chevrotain had to skip it during recovery: an empty name at the
   * point of the error, so the AST keeps every property its types promise.
   */
  placeholderName(): IdentNode {
    return { kind: "Identifier", text: "", span: this.spanAfterPrevious() };
  }

  identifier(token: IToken): IdentNode {
    const inserted = token.isInsertedInRecovery === true || Number.isNaN(token.startOffset);
    return {
      kind: "Identifier",
      text: inserted ? "" : token.image,
      span: inserted ? this.spanAfterPrevious() : tokenSpan(token, this.file),
    };
  }

  durationLiteral(token: IToken, max: number): DurationLiteral {
    const span = this.tokenOrHere(token);
    const match = /^(\d+)(ms|s|m|h|d)$/.exec(token.image);
    let ms = Number.NaN;
    if (match) ms = Number(match[1]) * UNIT_MS[match[2]!]!;
    if (!match || !Number.isSafeInteger(ms) || ms > max) {
      if (!token.isInsertedInRecovery)
        this.literalDiagnostics.push(badNumber(token.image, span, "duration", max));
      ms = 0;
    }
    return { kind: "Duration", ms, text: token.image, span };
  }

  intLiteral(token: IToken): IntLiteral {
    const span = this.tokenOrHere(token);
    let value = /^\d+$/.test(token.image) ? Number(token.image) : Number.NaN;
    if (!Number.isSafeInteger(value)) {
      if (!token.isInsertedInRecovery) this.literalDiagnostics.push(badNumber(token.image, span, "number"));
      value = 0;
    }
    return { kind: "Int", value, text: token.image, span };
  }

  stringLiteral(token: IToken): StringNode {
    const span = this.tokenOrHere(token);
    const closed = token.tokenType === T.StringLiteral;
    const { value, error } = unescapeString(token.image.slice(1, closed ? -1 : undefined));
    if (error !== undefined && !token.isInsertedInRecovery) {
      this.literalDiagnostics.push(
        diagnostic("C1007", span, `invalid escape '${error}' in string`, {
          hint: 'strings support \\" \\\\ \\n \\t and \\uXXXX',
        }),
      );
    }
    return { kind: "String", value, text: token.isInsertedInRecovery ? '""' : token.image, span };
  }

  docAt(token: IToken): { doc?: DocNode } {
    const doc = this.docs.get(token.startOffset);
    return doc ? { doc } : {};
  }

  /** From `start` to the last consumed token. */
  spanFrom(start: IToken): Span {
    const from = this.tokenOrHere(start);
    const last = this.LA(0);
    if (!last || Number.isNaN(last.startOffset) || last.startOffset < from.start.offset) return from;
    return { file: this.file, start: from.start, end: tokenSpan(last, this.file).end };
  }

  tokenOrHere(token: IToken): Span {
    return Number.isNaN(token.startOffset) || token.isInsertedInRecovery
      ? this.spanAfterPrevious()
      : tokenSpan(token, this.file);
  }

  /** A zero-width span right after the last consumed token: where an inserted token would be. */
  spanAfterPrevious(): Span {
    const last = this.LA(0);
    const at: Position =
      last && !Number.isNaN(last.startOffset)
        ? tokenSpan(last, this.file).end
        : { line: 1, column: 1, offset: 0 };
    return { file: this.file, start: at, end: at };
  }
}

function badNumber(
  text: string,
  span: Span,
  what: "duration" | "number",
  maxMs: number = MAX_DURATION_MS,
): Diagnostic {
  if (/^\d+\.\d*/.test(text)) {
    return diagnostic("C1007", span, `'${text}' is not a valid ${what}: fractions are not supported`, {
      hint: what === "duration" ? "use a smaller unit, e.g. 1500ms instead of 1.5s" : "use a whole number",
    });
  }
  const unit = /^\d+([A-Za-z_]\w*)$/.exec(text)?.[1];
  if (unit !== undefined && UNIT_MS[unit] === undefined) {
    const suggestion = closest(unit, Object.keys(UNIT_MS));
    return diagnostic("C1007", span, `'${text}' is not a valid ${what}: unknown unit '${unit}'`, {
      hint: `durations use ms, s, m, h or d${suggestion ? `; did you mean '${text.replace(unit, suggestion)}'?` : ""}`,
    });
  }
  return diagnostic("C1007", span, `'${text}' is too large`, {
    hint:
      what === "duration"
        ? `durations go up to ${maxMs === MAX_DURATION_MS ? "24h" : `${maxMs / UNIT_MS.d!}d`} here`
        : `numbers go up to ${Number.MAX_SAFE_INTEGER}`,
  });
}

function unescapeString(body: string): { value: string; error?: string } {
  let error: string | undefined;
  const value = body.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (all, esc: string) => {
    if (esc.length === 5) return String.fromCharCode(Number.parseInt(esc.slice(1), 16));
    switch (esc) {
      case '"':
        return '"';
      case "\\":
        return "\\";
      case "n":
        return "\n";
      case "t":
        return "\t";
      default:
        error ??= all;
        return all;
    }
  });
  return error === undefined ? { value } : { value, error };
}

/** One parser instance per process: Chevrotain's self-analysis is the expensive part. */
let shared: CatgaParser | undefined;
function parser(): CatgaParser {
  shared ??= new CatgaParser();
  return shared;
}

const DECLARATION_KEYWORD_SET = new Set(T.DECLARATION_KEYWORDS);
const DECLARATION_WORDS = T.DECLARATION_KEYWORDS.map((t) => String(t.LABEL).slice(1, -1));

/**
 * Parses one file's text. Never throws; the AST holds every declaration that could be read.
 *
 * The token stream is cut into top-level declarations before parsing: at brace depth 0 at every
 * declaration keyword, and inside braces at a declaration keyword that starts a line and is
 * followed by a name on the same line (so a missing `}` costs one error, not the rest of the file).
 * Each piece is then parsed with Chevrotain's in-rule recovery.
 */
export function parseSource(source: string, file: string): Result<CatgaFile> {
  const lexed = tokenize(source, file);
  const p = parser();
  p.file = file;
  p.docs = attachDocs(lexed.commentTokens, lexed.tokens, lexed.comments);
  p.literalDiagnostics = [];
  const syntax: Diagnostic[] = [];
  const declarations: Declaration[] = [];
  const { tokens } = lexed;
  const endOfFile = advance({ line: 1, column: 1, offset: 0 }, source);

  for (const chunk of split(tokens)) {
    if (!chunk.declaration) {
      syntax.push(junk(chunk.tokens, file));
      continue;
    }
    if (chunk.unclosed > 0) syntax.push(unclosed(chunk, file));
    if (lexed.diagnostics.length + syntax.length > MAX_SYNTAX_ERRORS) break; // truncate() reports the rest
    p.input = chunk.unclosed > 0 ? [...chunk.tokens, ...closingBraces(chunk)] : chunk.tokens;
    let decl: Declaration | undefined;
    p.recoveries = 0;
    try {
      decl = p.declaration();
    } catch (error) {
      // Chevrotain re-enters a repetition once per recovered error, so thousands of stray tokens in
      // one declaration can exhaust the stack. The errors found so far are kept; the rest is skipped.
      if (!(error instanceof RangeError)) throw error;
    }
    const errors = p.errors;
    const after = chunk.next ? tokenSpan(chunk.next, file).start : endOfFile;
    for (const error of errors) syntax.push(syntaxError(error, file, after, chunk.next === undefined));
    if (!decl && errors.length > 0) decl = salvage(p, chunk, errors[0]!.token);
    if (decl) declarations.push(decl);
  }

  const all = [...lexed.diagnostics, ...syntax, ...p.literalDiagnostics];
  const diagnostics = all.length > MAX_SYNTAX_ERRORS ? truncate(all) : all;
  const span: Span = { file, start: { line: 1, column: 1, offset: 0 }, end: endOfFile };
  return { value: { kind: "File", declarations, comments: lexed.comments, span }, diagnostics };
}

interface Chunk {
  tokens: IToken[];
  /** False for tokens before the first declaration keyword. */
  declaration: boolean;
  /** The first token of the following chunk, if any. */
  next?: IToken;
  /** How many `{` are still open at the end of the chunk. */
  unclosed: number;
}

function split(tokens: IToken[]): Chunk[] {
  const chunks: Chunk[] = [];
  let current: IToken[] = [];
  let depth = 0;
  let currentIsDeclaration = false;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (startsDeclaration(tokens, i, depth)) {
      if (current.length > 0)
        chunks.push({ tokens: current, declaration: currentIsDeclaration, next: token, unclosed: depth });
      current = [];
      depth = 0;
      currentIsDeclaration = true;
    }
    if (tokenMatcher(token, T.LCurly)) depth++;
    else if (tokenMatcher(token, T.RCurly)) depth = Math.max(0, depth - 1);
    current.push(token);
  }
  if (current.length > 0)
    chunks.push({ tokens: current, declaration: currentIsDeclaration, unclosed: depth });
  return chunks;
}

function startsDeclaration(tokens: IToken[], i: number, depth: number): boolean {
  const token = tokens[i]!;
  if (!DECLARATION_KEYWORD_SET.has(token.tokenType)) return false;
  const previous = tokens[i - 1];
  // `idempotent command` and `durable event` are one declaration: the kind keyword must not cut it.
  if (previous && (tokenMatcher(previous, T.Idempotent) || tokenMatcher(previous, T.Durable))) return false;
  if (depth === 0) return true;
  const next = tokens[i + 1];
  const startsLine = !previous || (previous.endLine ?? 0) < (token.startLine ?? 0);
  const nameFollows = next !== undefined && next.startLine === token.startLine && tokenMatcher(next, T.Name);
  return startsLine && nameFollows;
}

/**
 * When Chevrotain cannot recover inside a declaration (typically at its last token, where there is
 * nothing left to resynchronise on, as in `command B {} ->`), parse the tokens before the first
 * error once more, closed with synthetic braces, so the checker still sees the declaration. The
 * errors of this second parse are dropped: the first parse reported the real ones.
 */
function salvage(p: CatgaParser, chunk: Chunk, at: IToken): Declaration | undefined {
  const cut =
    at.tokenType === EOF || Number.isNaN(at.startOffset) ? chunk.tokens.length : chunk.tokens.indexOf(at);
  const literals = p.literalDiagnostics.length;
  let decl: Declaration | undefined;
  // The token before the error is often the culprit too (`->` with no type): try a few shorter prefixes.
  for (let end = cut; end > 1 && end > cut - 3 && decl === undefined; end--) {
    const prefix = chunk.tokens.slice(0, end);
    let depth = 0;
    for (const token of prefix) {
      if (tokenMatcher(token, T.LCurly)) depth++;
      else if (tokenMatcher(token, T.RCurly)) depth = Math.max(0, depth - 1);
    }
    p.input = [...prefix, ...closingBraces({ tokens: prefix, declaration: true, unclosed: depth })];
    const attempt = p.declaration();
    if (p.errors.length === 0) decl = attempt;
  }
  p.literalDiagnostics.length = literals;
  return decl;
}

/** One error for a declaration whose `{` is never closed, placed right after its last token. */
function unclosed(chunk: Chunk, file: string): Diagnostic {
  const first = chunk.tokens[0]!;
  const at = tokenSpan(chunk.tokens[chunk.tokens.length - 1]!, file).end;
  return diagnostic(
    "C1004",
    { file, start: at, end: at },
    `expected '}' but found ${chunk.next ? `'${chunk.next.image}'` : "the end of the file"}`,
    { hint: `close the ${first.image} declaration that starts at line ${first.startLine}` },
  );
}

/**
 * Zero-width `}` tokens after the last real token of a chunk whose braces are unclosed. The chunk
 * is then parsed to the end, so its declaration is kept for the checker (the missing brace has
 * already been reported once by `unclosed`).
 */
function closingBraces(chunk: Chunk): IToken[] {
  const last = chunk.tokens[chunk.tokens.length - 1]!;
  const offset = (last.endOffset ?? last.startOffset) + 1;
  const line = last.endLine ?? 1;
  const column = (last.endColumn ?? 0) + 1;
  return Array.from({ length: chunk.unclosed }, () =>
    createTokenInstance(T.RCurly, "", offset, offset - 1, line, line, column, column - 1),
  );
}

/** Tokens that cannot start a declaration: one error for the whole run, with a keyword hint. */
function junk(tokens: IToken[], file: string): Diagnostic {
  const first = tokens[0]!;
  const span = tokenSpan(first, file);
  const suggestion = tokenMatcher(first, T.Identifier) ? closest(first.image, DECLARATION_WORDS) : undefined;
  return diagnostic("C1004", span, `expected a declaration but found '${first.image}'`, {
    hint: suggestion
      ? `did you mean '${suggestion}'?`
      : `a file is made of declarations: ${DECLARATION_WORDS.filter((w) => w !== "idempotent" && w !== "durable").join(", ")}`,
  });
}

function syntaxError(
  error: IRecognitionException,
  file: string,
  after: Position,
  lastInFile: boolean,
): Diagnostic {
  const token = error.token;
  // Synthetic closing braces (see closingBraces) have an empty image: they stand for the end.
  const atEnd = token.tokenType === EOF || Number.isNaN(token.startOffset) || token.image === "";
  const span: Span = atEnd ? { file, start: after, end: after } : tokenSpan(token, file);
  const found = atEnd ? (lastInFile ? "the end of the file" : "the next declaration") : `'${token.image}'`;
  let hint: string | undefined;
  if (!atEnd && tokenMatcher(token, T.Identifier)) {
    const suggestion = closest(token.image, T.KEYWORD_WORDS);
    if (suggestion) hint = `did you mean '${suggestion}'?`;
  }
  if (hint === undefined && !atEnd && tokenMatcher(token, T.Int) && /duration/.test(error.message)) {
    hint = `add a unit: '${token.image}s', '${token.image}ms', '${token.image}m' or '${token.image}h'`;
  }
  return diagnostic("C1004", span, `${error.message} but found ${found}`, hint ? { hint } : {});
}

function truncate(diagnostics: Diagnostic[]): Diagnostic[] {
  const sorted = [...diagnostics].sort((a, b) => a.span.start.offset - b.span.start.offset);
  const kept = sorted.slice(0, MAX_SYNTAX_ERRORS);
  const firstDropped = sorted[MAX_SYNTAX_ERRORS]!;
  kept.push(
    diagnostic(
      "C1008",
      firstDropped.span,
      `too many errors: ${sorted.length - MAX_SYNTAX_ERRORS} more not shown`,
      {
        hint: "fix the errors above first; later ones are often caused by earlier ones",
      },
    ),
  );
  return kept;
}

/**
 * Maps the start offset of each token that directly follows a run of `///` lines to that run, so a
 * declaration, field or item can find its doc comment by its first token.
 */
function attachDocs(commentTokens: IToken[], tokens: IToken[], comments: Comment[]): Map<number, DocNode> {
  const docs = new Map<number, DocNode>();
  let t = 0;
  for (let c = 0; c < commentTokens.length; c++) {
    const token = commentTokens[c]!;
    if (token.tokenType !== T.DocComment) continue;
    // Collect consecutive doc lines.
    let last = c;
    while (t < tokens.length && tokens[t]!.startOffset < token.startOffset) t++;
    // Consecutive `///` lines form one doc, unless code sits between them (`x: int /// b`).
    const codeAt = tokens[t]?.startOffset ?? Number.POSITIVE_INFINITY;
    while (
      last + 1 < commentTokens.length &&
      commentTokens[last + 1]!.tokenType === T.DocComment &&
      commentTokens[last + 1]!.startLine === (commentTokens[last]!.startLine ?? 0) + 1 &&
      commentTokens[last + 1]!.startOffset < codeAt
    )
      last++;
    const next = tokens[t];
    const lastToken = commentTokens[last]!;
    const nextComment = commentTokens[last + 1];
    const followsDirectly =
      next !== undefined &&
      next.startOffset > lastToken.startOffset &&
      (nextComment === undefined || nextComment.startOffset > next.startOffset);
    if (followsDirectly) {
      const lines = commentTokens.slice(c, last + 1).map((d) => d.image.slice(3).replace(/^ /, ""));
      const start = comments[c]!.span.start;
      const end = comments[last]!.span.end;
      docs.set(next.startOffset, {
        kind: "DocComment",
        text: lines.join("\n").trimEnd(),
        span: { file: comments[c]!.span.file, start, end },
      });
    }
    c = last;
  }
  return docs;
}
