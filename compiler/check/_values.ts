import { type Diagnostic, diagnostic, type Setting, type Value } from "../../dsl/index.js";
import { didYouMean, quoteList, suggest } from "./_text.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const KIND_NAMES: Record<Value["kind"], string> = {
  Int: "a whole number",
  String: "a string",
  Duration: "a duration",
  Identifier: "a name",
};

/**
 * True when a value is a placeholder left by the parser: a token inserted by recovery, or a literal
 * the parser already reported as invalid (C1007) and replaced with 0. Checking such a value would
 * only repeat the syntax error as a confusing second finding ("replicas must be at least 1").
 */
export function isPlaceholder(value: Value): boolean {
  switch (value.kind) {
    case "Identifier":
      return value.text === "";
    case "String":
      return value.span.start.offset === value.span.end.offset;
    case "Int":
      return !/^\d+$/.test(value.text) || !Number.isSafeInteger(Number(value.text));
    case "Duration": {
      const match = /^(\d+)(ms|s|m|h|d)$/.exec(value.text);
      return match === null || Number(match[1]) * UNIT_MS[match[2]!]! !== value.ms;
    }
  }
}

/**
 * Reports duplicate keys (C2004) and unknown keys (C2007, with "did you mean") in one block of
 * settings, and returns the first setting of each known key.
 *
 * @param where How the block is named in messages: "'nats'", "service 'order'".
 * @param suggestFor The "did you mean" for an unknown key; by default the closest known key.
 * @param listed What the hint lists when nothing is close: every valid setting of the block,
 *   including those written as items of their own (a service's `timeout`, `env`, `resources`).
 */
export function checkKeys(
  settings: readonly Setting[],
  known: readonly string[],
  where: string,
  out: Diagnostic[],
  suggestFor: (setting: Setting) => string | undefined = (s) => suggest(s.key.text, known),
  listed: readonly string[] = known,
): Map<string, Setting> {
  const found = new Map<string, Setting>();
  for (const setting of settings) {
    const key = setting.key.text;
    if (key === "") continue;
    if (!known.includes(key)) {
      const hint = didYouMean(suggestFor(setting)).hint ?? `valid settings: ${listed.join(", ")}`;
      out.push(diagnostic("C2007", setting.key.span, `unknown setting '${key}' in ${where}`, { hint }));
      continue;
    }
    const first = found.get(key);
    if (first) {
      out.push(duplicateKey(setting, first, where));
      continue;
    }
    found.set(key, setting);
  }
  return found;
}

/** C2004 for a key set a second time, pointing at the first. */
export function duplicateKey(setting: Setting, first: Setting, where: string): Diagnostic {
  return diagnostic("C2004", setting.key.span, `'${setting.key.text}' is set twice in ${where}`, {
    hint: "keep one of them",
    related: [{ message: "first set here", span: first.key.span }],
  });
}

function wrongValue(setting: Setting, expected: Value["kind"], hint: string | undefined): Diagnostic {
  return diagnostic(
    "C2008",
    setting.value.span,
    `'${setting.key.text}' takes ${KIND_NAMES[expected]}, not ${KIND_NAMES[setting.value.kind]}`,
    hint === undefined ? {} : { hint },
  );
}

/** The value of a setting that takes a whole number, or undefined (reported) when it is not one. */
export function intValue(setting: Setting, out: Diagnostic[]): number | undefined {
  const value = setting.value;
  if (isPlaceholder(value)) return undefined;
  if (value.kind === "Int") return value.value;
  const hint =
    value.kind === "String" && /^\d+$/.test(value.value)
      ? `remove the quotes: ${setting.key.text} ${value.value}`
      : undefined;
  out.push(wrongValue(setting, "Int", hint));
  return undefined;
}

/** The value of a setting that takes a string, or undefined (reported) when it is not one. */
export function stringValue(setting: Setting, out: Diagnostic[]): string | undefined {
  const value = setting.value;
  if (isPlaceholder(value)) return undefined;
  if (value.kind === "String") return value.value;
  out.push(wrongValue(setting, "String", `quote it: ${setting.key.text} "${value.text}"`));
  return undefined;
}

/** The value in milliseconds of a setting that takes a duration, or undefined (reported). */
export function durationValue(setting: Setting, out: Diagnostic[]): number | undefined {
  const value = setting.value;
  if (isPlaceholder(value)) return undefined;
  if (value.kind === "Duration") return value.ms;
  const hint =
    value.kind === "Int"
      ? `add a unit: '${value.text}s', '${value.text}ms', '${value.text}m' or '${value.text}h'`
      : "write a duration like 250ms, 10s, 5m or 1h";
  out.push(wrongValue(setting, "Duration", hint));
  return undefined;
}

/** The value of a setting that takes one word of a fixed set (`mode leader`), or undefined (reported). */
export function wordValue<const W extends string>(
  setting: Setting,
  words: readonly W[],
  out: Diagnostic[],
): W | undefined {
  const value = setting.value;
  if (isPlaceholder(value)) return undefined;
  const text = value.kind === "String" ? value.value : value.text;
  const match = words.find((w) => w === text);
  if (value.kind === "Identifier" && match !== undefined) return match;
  if (match !== undefined) {
    out.push(wrongValue(setting, "Identifier", `remove the quotes: ${setting.key.text} ${match}`));
    return undefined;
  }
  out.push(
    diagnostic("C2008", value.span, `unknown ${setting.key.text} '${text}'`, {
      hint:
        didYouMean(suggest(text, words)).hint ?? `'${setting.key.text}' is one of ${quoteList(words, "or")}`,
    }),
  );
  return undefined;
}

/** C2008 with a free message, at the setting's value. */
export function invalidValue(setting: Setting, message: string, hint: string): Diagnostic {
  return diagnostic("C2008", setting.value.span, message, { hint });
}
