import { createToken, Lexer, type TokenType } from "chevrotain";

/**
 * Token vocabulary of the .catga language. Labels are what syntax errors print, so they are written
 * for users ("a duration like 10s"), not for grammar authors.
 */

/** Anything that may serve as a name: identifiers and every keyword (so a field may be called `type`). */
export const Name = createToken({ name: "Name", pattern: Lexer.NA, label: "a name" });

export const Identifier = createToken({
  name: "Identifier",
  pattern: /[A-Za-z_][A-Za-z0-9_]*/,
  categories: [Name],
  label: "a name",
});

const keyword = (word: string): TokenType =>
  createToken({
    name: word[0]!.toUpperCase() + word.slice(1),
    pattern: new RegExp(word),
    longer_alt: Identifier,
    categories: [Name],
    label: `'${word}'`,
  });

export const Topology = keyword("topology");
export const Nats = keyword("nats");
export const Redis = keyword("redis");
export const Enum = keyword("enum");
export const Type = keyword("type");
export const Command = keyword("command");
export const Query = keyword("query");
export const Event = keyword("event");
export const Service = keyword("service");
export const Saga = keyword("saga");
export const Idempotent = keyword("idempotent");
export const Durable = keyword("durable");
export const Handles = keyword("handles");
export const Queue = keyword("queue");
export const On = keyword("on");
export const Broadcast = keyword("broadcast");
export const Emits = keyword("emits");
export const Sends = keyword("sends");
export const Runs = keyword("runs");
export const Uses = keyword("uses");
export const Every = keyword("every");
export const Env = keyword("env");
export const Resources = keyword("resources");
export const Step = keyword("step");
export const Compensate = keyword("compensate");
export const Irreversible = keyword("irreversible");
export const Timeout = keyword("timeout");

/** Keywords that start a top-level declaration: the parser resynchronises on them. */
export const DECLARATION_KEYWORDS: readonly TokenType[] = [
  Topology,
  Nats,
  Redis,
  Enum,
  Type,
  Command,
  Query,
  Event,
  Service,
  Saga,
  Idempotent,
  Durable,
];

const KEYWORDS: readonly TokenType[] = [
  ...DECLARATION_KEYWORDS,
  Handles,
  Queue,
  On,
  Broadcast,
  Emits,
  Sends,
  Runs,
  Uses,
  Every,
  Env,
  Resources,
  Step,
  Compensate,
  Irreversible,
  Timeout,
];

/** Every keyword's spelling, for "did you mean" on misspelt keywords. */
export const KEYWORD_WORDS: readonly string[] = KEYWORDS.map((t) => String(t.LABEL).slice(1, -1));

export const Int = createToken({ name: "Int", pattern: /\d+/, label: "a whole number" });
export const Duration = createToken({
  name: "Duration",
  pattern: /\d+(?:ms|s|m|h|d)/,
  label: "a duration like 10s",
});
/**
 * A number glued to letters or with a fraction (`10x`, `1.5s`, `3sec`). It belongs to both number
 * categories so the parser accepts it where a number is expected and the literal check reports one
 * precise error instead of a cascade of syntax errors.
 */
export const BadNumber = createToken({
  name: "BadNumber",
  pattern: /\d+(?:\.\d*)?[A-Za-z_][A-Za-z0-9_]*|\d+\.\d*/,
  categories: [Int, Duration],
  label: "a number",
});
Duration.LONGER_ALT = BadNumber;
Int.LONGER_ALT = BadNumber;

export const StringLiteral = createToken({
  name: "StringLiteral",
  pattern: /"(?:[^"\\\r\n]|\\.)*"/,
  label: "a string",
});
/**
 * A string with no closing quote on its line. The lexer reports it (C1002) and the parser accepts it
 * as a string, so one missing quote is one error, not a cascade.
 */
export const UnterminatedString = createToken({
  name: "UnterminatedString",
  pattern: /"(?:[^"\\\r\n]|\\.)*\\?/,
  categories: [StringLiteral],
  label: "a string",
});

export const DocComment = createToken({ name: "DocComment", pattern: /\/\/\/[^\r\n]*/, group: "comments" });
export const LineComment = createToken({ name: "LineComment", pattern: /\/\/[^\r\n]*/, group: "comments" });
export const BlockComment = createToken({
  name: "BlockComment",
  pattern: /\/\*[\s\S]*?\*\//,
  group: "comments",
  line_breaks: true,
});
export const UnterminatedComment = createToken({
  name: "UnterminatedComment",
  pattern: /\/\*[\s\S]*/,
  group: "invalid",
  line_breaks: true,
});

export const WhiteSpace = createToken({
  name: "WhiteSpace",
  pattern: /[ \t\r\n\f\v\u00a0\ufeff]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});

export const Arrow = createToken({ name: "Arrow", pattern: /->/, label: "'->'" });
export const LCurly = createToken({ name: "LCurly", pattern: /\{/, label: "'{'" });
export const RCurly = createToken({ name: "RCurly", pattern: /\}/, label: "'}'" });
export const LBracket = createToken({ name: "LBracket", pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: "RBracket", pattern: /\]/, label: "']'" });
export const Question = createToken({ name: "Question", pattern: /\?/, label: "'?'" });
export const Comma = createToken({ name: "Comma", pattern: /,/, label: "','" });
export const Colon = createToken({ name: "Colon", pattern: /:/, label: "':'" });

/** Order matters: comments before anything starting with '/', keywords before Identifier. */
export const ALL_TOKENS: TokenType[] = [
  WhiteSpace,
  DocComment,
  LineComment,
  BlockComment,
  UnterminatedComment,
  StringLiteral,
  UnterminatedString,
  Duration,
  BadNumber,
  Int,
  Arrow,
  LCurly,
  RCurly,
  LBracket,
  RBracket,
  Question,
  Comma,
  Colon,
  ...KEYWORDS,
  Identifier,
  Name,
];
