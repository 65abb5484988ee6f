import { type IToken, Lexer } from "chevrotain";
import type { Comment, Position, Span } from "./ast.js";
import { type Diagnostic, diagnostic } from "./diagnostics.js";
import { ALL_TOKENS, BlockComment, DocComment, UnterminatedString } from "./tokens.js";

/** The Chevrotain lexer, built once: building it validates the token table, which is not free. */
const lexer = new Lexer(ALL_TOKENS, {
  positionTracking: "full",
  ensureOptimizations: false,
  // Reported as C1001 by tokenize(); Chevrotain's own message names internal token types.
  errorMessageProvider: {
    buildUnexpectedCharactersMessage: () => "",
    buildUnableToPopLexerModeMessage: () => "",
  },
});

export interface LexResult {
  /** Significant tokens, in order. */
  tokens: IToken[];
  /** Comments, in order, kept for doc comments and the formatter. */
  comments: Comment[];
  /** The raw comment tokens, for attaching `///` docs to declarations. */
  commentTokens: IToken[];
  diagnostics: Diagnostic[];
}

/** Splits source text into tokens. Never throws: bad characters and unclosed literals become diagnostics. */
export function tokenize(source: string, file: string): LexResult {
  const result = lexer.tokenize(source);
  const diagnostics: Diagnostic[] = [];
  for (const error of result.errors) {
    const start = { line: error.line ?? 1, column: error.column ?? 1, offset: error.offset };
    const text = source.slice(error.offset, error.offset + error.length);
    const span: Span = { file, start, end: advance(start, text) };
    const shown = [...text].slice(0, 20).join("");
    diagnostics.push(
      diagnostic(
        "C1001",
        span,
        `unexpected character${[...text].length > 1 ? "s" : ""} '${printable(shown)}'`,
        {
          hint: "names use letters, digits and '_'; strings use double quotes; comments start with '//'",
        },
      ),
    );
  }
  for (const token of result.groups.invalid ?? []) {
    const start = tokenSpan(token, file).start;
    diagnostics.push(
      diagnostic("C1003", { file, start, end: advance(start, "/*") }, "unterminated comment", {
        hint: "close the comment with '*/'",
      }),
    );
  }
  for (const token of result.tokens) {
    if (token.tokenType !== UnterminatedString) continue;
    diagnostics.push(
      diagnostic("C1002", tokenSpan(token, file), "unterminated string", {
        hint: "close the string with '\"' on the same line",
      }),
    );
  }
  const commentTokens = result.groups.comments ?? [];
  const comments: Comment[] = commentTokens.map((token) => ({
    kind: "Comment",
    style: token.tokenType === DocComment ? "doc" : token.tokenType === BlockComment ? "block" : "line",
    text: token.image,
    span: tokenSpan(token, file),
  }));
  return { tokens: result.tokens, comments, commentTokens, diagnostics };
}

/** The span of a token; end is exclusive. */
export function tokenSpan(token: IToken, file: string): Span {
  const start: Position = {
    line: token.startLine ?? 1,
    column: token.startColumn ?? 1,
    offset: token.startOffset,
  };
  const end: Position = {
    line: token.endLine ?? start.line,
    column: (token.endColumn ?? start.column) + 1,
    offset: (token.endOffset ?? token.startOffset) + 1,
  };
  return { file, start, end };
}

/** The position after `text` when it starts at `start`. */
export function advance(start: Position, text: string): Position {
  let { line, column } = start;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      column = 1;
    } else {
      column++;
    }
  }
  return { line, column, offset: start.offset + text.length };
}

/** Makes control characters visible in messages, so a NUL byte does not vanish from the terminal. */
function printable(text: string): string {
  let out = "";
  for (const c of text) {
    const code = c.codePointAt(0)!;
    out += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\u${code.toString(16).padStart(4, "0")}` : c;
  }
  return out;
}
