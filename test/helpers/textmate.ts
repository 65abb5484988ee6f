import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import oniguruma from "vscode-oniguruma";
import textmate from "vscode-textmate";

/**
 * Tokenizes `.catga` text with the extension's TextMate grammar through the engine VS Code itself
 * uses (vscode-textmate on the Oniguruma regex library compiled to WebAssembly), so a test sees the
 * scopes an editor would show.
 */

const GRAMMAR = fileURLToPath(
  new URL("../../editors/vscode/syntaxes/catga.tmLanguage.json", import.meta.url),
);

/** One token of one line: its text, 1-based position and scope stack without the root scope. */
export interface ScopedToken {
  line: number;
  column: number;
  text: string;
  scopes: string[];
}

let grammar: Promise<textmate.IGrammar> | undefined;

async function load(): Promise<textmate.IGrammar> {
  const require = createRequire(import.meta.url);
  const wasm = readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === "source.catga" ? textmate.parseRawGrammar(readFileSync(GRAMMAR, "utf8"), GRAMMAR) : null,
  });
  const loaded = await registry.loadGrammar("source.catga");
  if (!loaded) throw new Error(`could not load the grammar ${GRAMMAR}`);
  return loaded;
}

/** The grammar, loaded once per test file. */
export function catgaGrammar(): Promise<textmate.IGrammar> {
  grammar ??= load();
  return grammar;
}

/** Every token of `source`, line by line, carrying the rule stack from one line to the next. */
export async function tokenizeCatga(source: string): Promise<ScopedToken[]> {
  const g = await catgaGrammar();
  const tokens: ScopedToken[] = [];
  let stack = textmate.INITIAL;
  source.split(/\r\n|\r|\n/).forEach((text, index) => {
    const result = g.tokenizeLine(text, stack);
    for (const token of result.tokens) {
      tokens.push({
        line: index + 1,
        column: token.startIndex + 1,
        text: text.slice(token.startIndex, token.endIndex),
        scopes: token.scopes.filter((scope) => scope !== "source.catga"),
      });
    }
    stack = result.ruleStack;
  });
  return tokens;
}

/**
 * The golden text of a tokenization: one line per token that is not blank, `line:col "text" scopes`,
 * so a diff points at the exact token whose scope changed.
 */
export function renderScopes(tokens: readonly ScopedToken[]): string {
  return tokens
    .filter((token) => token.text.trim() !== "")
    .map((token) => `${token.line}:${token.column} ${JSON.stringify(token.text)} ${token.scopes.join(" ")}`)
    .join("\n")
    .concat("\n");
}

/** Every fenced ```catga block of a markdown text, with the 1-based line its code starts on. */
export function catgaSnippets(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  let open: { line: number; body: string[] } | undefined;
  for (const [i, line] of markdown.split("\n").entries()) {
    if (open === undefined) {
      if (/^```catga\s*$/.test(line)) open = { line: i + 2, body: [] };
    } else if (/^```\s*$/.test(line)) {
      blocks.push({ line: open.line, code: open.body.join("\n") });
      open = undefined;
    } else {
      open.body.push(line);
    }
  }
  return blocks;
}
