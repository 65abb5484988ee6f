import { closest, type Span } from "../../dsl/index.js";

/** "an event", "a command": the article matters in every "'X' is …" message. */
export function withArticle(noun: string): string {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

/** "'a'", "'a' and 'b'", "'a', 'b' and 'c'" (or "or" instead of "and"). */
export function quoteList(names: readonly string[], conjunction: "and" | "or" = "and"): string {
  const quoted = names.map((n) => `'${n}'`);
  if (quoted.length <= 1) return quoted[0] ?? "";
  return `${quoted.slice(0, -1).join(", ")} ${conjunction} ${quoted[quoted.length - 1]}`;
}

/** A zero-width span at the very start of a file, for findings about the file as a whole. */
export function fileStart(file: string): Span {
  const at = { line: 1, column: 1, offset: 0 };
  return { file, start: at, end: at };
}

/**
 * `closest` over candidates of a plausible length only. Edit distance is at least the difference
 * in length, and `closest` accepts about one edit per three characters, so longer or shorter names
 * can never win; skipping them keeps a typo in a 5,000-service file from costing 5,000 full
 * distance computations.
 */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const plausible: string[] = [];
  for (const c of candidates) {
    const limit = Math.max(1, Math.floor(Math.max(word.length, c.length) / 3));
    if (Math.abs(c.length - word.length) <= limit) plausible.push(c);
  }
  return closest(word, plausible);
}

/** The "did you mean" hint for a suggestion, or nothing. */
export function didYouMean(suggestion: string | undefined): { hint?: string } {
  return suggestion === undefined ? {} : { hint: `did you mean '${suggestion}'?` };
}
