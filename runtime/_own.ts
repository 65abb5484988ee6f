/**
 * Own-property lookups for records indexed by names that come from outside the code: a service
 * name from the environment, a message name from a subject or header, a key from a handler
 * definition. `record[name]` on a plain object finds `constructor`, `toString` or `__proto__` on
 * its prototype, so a lookup that should miss returns a function or an object instead. Private to
 * runtime/.
 */

/** `record[key]` when `key` is the record's own property; undefined otherwise. */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
