import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { IToken } from "chevrotain";
import { describe, expect, it } from "vitest";
import { tokenize } from "../../dsl/lexer.js";
import * as T from "../../dsl/tokens.js";
import { catgaSnippets, renderScopes, type ScopedToken, tokenizeCatga } from "../helpers/textmate.js";

/**
 * Goldens of the TextMate grammar (editors/vscode/syntaxes/catga.tmLanguage.json): every example
 * `.catga` file and every ```catga snippet of the docs and README, tokenized by vscode-textmate on
 * Oniguruma as VS Code does, with the scope stack of each token written to
 * test/golden/grammar/<source>.scopes. Beside the goldens, every token of the real lexer (dsl/) must
 * get the matching kind of scope, and every character it rejects an invalid one, so the grammar
 * cannot drift from the lexer unnoticed.
 *
 * `UPDATE_GOLDENS=1 npx vitest run test/golden/grammar.golden.test.ts` rewrites the goldens; review the diff.
 */

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const GOLDEN = fileURLToPath(new URL("./grammar", import.meta.url));
const UPDATE = process.env.UPDATE_GOLDENS === "1";

interface Source {
  /** Golden path relative to test/golden/grammar, without `.scopes`. */
  name: string;
  /** The `.catga` texts, with the line of the containing file where each starts. */
  snippets: { line: number; code: string }[];
}

const examples: Source[] = readdirSync(join(REPO, "examples"), { recursive: true, encoding: "utf8" })
  .filter((path) => path.endsWith(".catga"))
  .sort()
  .map((path) => ({
    name: `examples/${path}`,
    snippets: [{ line: 1, code: readFileSync(join(REPO, "examples", path), "utf8") }],
  }));

const markdown: Source[] = [
  "README.md",
  ...readdirSync(join(REPO, "docs"))
    .filter((file) => file.endsWith(".md"))
    .sort()
    .map((file) => `docs/${file}`),
]
  .map((path) => ({ name: path, snippets: catgaSnippets(readFileSync(join(REPO, path), "utf8")) }))
  .filter((source) => source.snippets.length > 0);

async function render(source: Source): Promise<string> {
  const parts: string[] = [];
  for (const snippet of source.snippets) {
    const header = source.snippets.length > 1 || snippet.line > 1 ? `# ${source.name}:${snippet.line}\n` : "";
    parts.push(header + renderScopes(await tokenizeCatga(snippet.code)));
  }
  return parts.join("\n");
}

/** The grammar token under a lexer token's first character. */
function scopesAt(tokens: readonly ScopedToken[], token: IToken): string[] {
  const line = token.startLine ?? 1;
  const column = token.startColumn ?? 1;
  const hit = tokens.find((t) => t.line === line && t.column <= column && column < t.column + t.text.length);
  return hit?.scopes ?? [];
}

/** The scope a lexer token of this type must carry (a prefix of one of the grammar's scopes). */
function expectedScope(token: IToken): string | undefined {
  switch (token.tokenType) {
    case T.DocComment:
      return "comment.line.documentation";
    case T.LineComment:
      return "comment.line.double-slash";
    case T.BlockComment:
    case T.UnterminatedComment:
      return "comment.block";
    case T.StringLiteral:
    case T.UnterminatedString:
      return "string.quoted.double";
    case T.Duration:
      return "constant.numeric.duration";
    case T.Int:
      return "constant.numeric.integer";
    case T.BadNumber:
      return "invalid.illegal.numeric";
    case T.LCurly:
      return "punctuation.section.block.begin";
    case T.RCurly:
      return "punctuation.section.block.end";
    case T.Arrow:
      return "keyword.operator.arrow";
    case T.Question:
      return "keyword.operator.optional";
    case T.Comma:
      return "punctuation.separator.comma";
    default:
      return undefined;
  }
}

describe("grammar goldens", () => {
  it("grammar — has examples and doc snippets to tokenize", () => {
    expect(examples.length).toBeGreaterThan(0);
    expect(markdown.map((source) => source.name)).toEqual(
      expect.arrayContaining(["README.md", "docs/language.md", "docs/diagnostics.md"]),
    );
  });

  for (const source of [...examples, ...markdown]) {
    it(`grammar — ${source.name} tokenizes as its golden`, async () => {
      const file = join(GOLDEN, `${source.name}.scopes`);
      const actual = await render(source);
      if (UPDATE) {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, actual);
      }
      expect(existsSync(file), `${file} is missing: run with UPDATE_GOLDENS=1`).toBe(true);
      expect(actual).toBe(readFileSync(file, "utf8"));
    });

    it(`grammar — ${source.name}: every lexer token gets the scope of its kind`, async () => {
      const mismatches: string[] = [];
      for (const snippet of source.snippets) {
        const scoped = await tokenizeCatga(snippet.code);
        const lexed = tokenize(snippet.code, source.name);
        for (const token of [...lexed.tokens, ...lexed.commentTokens]) {
          const scopes = scopesAt(scoped, token);
          const where = `${source.name}:${snippet.line + (token.startLine ?? 1) - 1}:${token.startColumn}`;
          const expected = expectedScope(token);
          if (expected !== undefined) {
            if (!scopes.some((scope) => scope.startsWith(expected)))
              mismatches.push(`${where} ${token.image.slice(0, 30)}: expected ${expected}, got ${scopes.join(" ")}`);
          } else if (scopes.some((scope) => /^(?:comment|string|constant\.numeric)\./.test(scope))) {
            // A name or keyword must never be painted as a comment, string or number.
            mismatches.push(`${where} ${token.image}: a name, got ${scopes.join(" ")}`);
          }
        }
        // Characters the lexer rejects (C1001) are marked invalid, as the editor's squiggle will be.
        for (const d of lexed.diagnostics.filter((d) => d.code === "C1001")) {
          const { line, column } = d.span.start;
          const hit = scoped.find((t) => t.line === line && t.column <= column && column < t.column + t.text.length);
          if (!hit?.scopes.some((scope) => scope.startsWith("invalid.illegal")))
            mismatches.push(`${source.name}:${snippet.line + line - 1}:${column} C1001: got ${hit?.scopes.join(" ")}`);
        }
      }
      expect(mismatches).toEqual([]);
    });
  }

  for (const source of examples) {
    it(`grammar — ${source.name} (a valid file) has no invalid scope`, async () => {
      const tokens = await tokenizeCatga(source.snippets[0]!.code);
      expect(tokens.filter((t) => t.scopes.some((s) => s.startsWith("invalid.")))).toEqual([]);
    });
  }
});
