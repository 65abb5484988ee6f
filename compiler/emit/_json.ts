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
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}
