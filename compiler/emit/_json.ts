/**
 * JSON with sorted object keys, two-space indentation and a trailing newline: the same value always
 * gives the same bytes, whatever order its properties were created in. Array order is kept (it is
 * meaningful: saga steps, fields). `undefined` properties are dropped, as JSON.stringify does.
 */
export function stableJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of sortedKeys(value)) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Longest key list sorted in place by insertion: beyond it, the built-in sort is faster. */
const INSERTION_SORT_MAX = 16;

/**
 * The own keys of an object in `Array.prototype.sort` order (UTF-16 code units). Most objects of a
 * wiring have a handful of keys, and the built-in sort allocates a work array per call, which made
 * sorting most of the cost of `stableJson` on a large wiring.
 */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  if (keys.length > INSERTION_SORT_MAX) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > key; j--) keys[j + 1] = keys[j] as string;
    keys[j + 1] = key;
  }
  return keys;
}
