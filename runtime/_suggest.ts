/**
 * "Did you mean" for the runtime's command line (`catga run --service`, `catga sagas`, unknown
 * commands): the closest candidate by edit distance, when close enough to be a plausible typo.
 *
 * The same algorithm as `closest` in dsl/suggest.ts, which the compiler and the tooling use. It is a
 * copy because the runtime is deployed alone and imports nothing from dsl/ (the dependency rule
 * "runtime-is-standalone"), while dsl/ may import nothing from the runtime ("dsl-is-the-bottom"):
 * no place both may import exists. test/unit/suggest.test.ts checks that the two agree.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const score = distance(word, candidate);
    if (score < bestScore || (score === bestScore && best !== undefined && candidate < best)) {
      best = candidate;
      bestScore = score;
    }
  }
  if (best === undefined) return undefined;
  // Roughly one edit per three characters, at least one: "sgas" -> "sagas", not "x" -> "run".
  const limit = Math.max(1, Math.floor(Math.max(word.length, best.length) / 3));
  return bestScore <= limit ? best : undefined;
}

/** `" (did you mean 'x'?)"` for the closest candidate, or an empty string: goes after the unknown word. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const suggestion = closest(word, candidates);
  return suggestion === undefined ? "" : ` (did you mean '${suggestion}'?)`;
}

/** Damerau-Levenshtein (optimal string alignment) distance with case-only changes costing 0.5. */
function distance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const ca = a[i - 1]!;
      const cb = b[j - 1]!;
      const cost = ca === cb ? 0 : ca.toLowerCase() === cb.toLowerCase() ? 0.5 : 1;
      let v = Math.min(
        d[(i - 1) * cols + j]! + 1,
        d[i * cols + j - 1]! + 1,
        d[(i - 1) * cols + j - 1]! + cost,
      );
      if (i > 1 && j > 1 && ca === b[j - 2] && a[i - 2] === cb)
        v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1]!;
}
