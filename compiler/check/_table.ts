import { type Diagnostic, type DiagnosticCode, diagnostic, type Setting } from "../../dsl/index.js";

/** A message or hint: fixed, or written from the value, the block's values and the setting as written. */
type Text<T, B> = string | ((value: T, block: B, setting: Setting) => string);

/** One rule of a setting: when `broken` holds, `code` is reported, underlining `at`. */
export interface Rule<T, B> {
  /** @default "C2008" */
  code?: DiagnosticCode;
  /** The part of the setting underlined. @default "value" */
  at?: "key" | "value" | "setting";
  broken: (value: T, block: B) => boolean;
  message: Text<T, B>;
  hint: Text<T, B>;
}

/** How one setting is read and checked. */
export interface SettingSpec<T, B> {
  /** Reads the value, reporting one of the wrong kind (C2008): `intValue`, `durationValue`, … */
  read: (setting: Setting, out: Diagnostic[]) => T | undefined;
  /** The value when the setting is not written; rules do not apply to it. */
  default?: T;
  /** Rules on a value of the right kind, in order: the first broken one is reported and the value dropped. */
  rules?: readonly Rule<T, B>[];
  /** Rules on the setting being written at all, whatever its value: reported, and the value kept. */
  written?: readonly Rule<undefined, B>[];
}

/**
 * The settings of one block by key, checked in this order: a rule sees, in its `block` argument, the
 * context `C` and the values of the keys before it (a default when not written, undefined when
 * invalid, so rules depending on an invalid value are skipped rather than reported twice).
 */
export type SettingsTable<V, C = object> = {
  readonly [K in keyof V]-?: SettingSpec<NonNullable<V[K]>, Partial<V> & C>;
};

/** A rule across settings of one block, underlining the first written of `at`. */
export interface BlockRule<B> {
  code: DiagnosticCode;
  at: readonly string[];
  broken: (block: B) => boolean;
  message: (block: B) => string;
  hint: string;
}

/** The values of a block after {@link checkSettings}: context, defaults and the valid written values. */
export type Checked<V, C = object> = Partial<V> & C;

/**
 * Checks the values of one block of settings against its table: the kind of each (C2008 from its
 * reader), then its rules, then the block's rules across settings. Keys are checked beforehand by
 * `checkKeys`, which gives `found`.
 */
export function checkSettings<V, C>(
  found: ReadonlyMap<string, Setting>,
  table: SettingsTable<V, C>,
  context: C,
  out: Diagnostic[],
  across: readonly BlockRule<Checked<V, C>>[] = [],
): Checked<V, C> {
  const block = { ...context } as Checked<V, C>;
  const values = block as Record<string, unknown>;
  for (const [key, spec] of Object.entries(table) as [string, SettingSpec<unknown, Checked<V, C>>][]) {
    const setting = found.get(key);
    if (setting === undefined) {
      if (spec.default !== undefined) values[key] = spec.default;
      continue;
    }
    const value = spec.read(setting, out);
    for (const rule of spec.written ?? []) {
      if (rule.broken(undefined, block)) out.push(finding(rule, undefined, block, setting));
    }
    if (value === undefined) continue;
    const broken = spec.rules?.find((rule) => rule.broken(value, block));
    if (broken) out.push(finding(broken, value, block, setting));
    else values[key] = value;
  }
  for (const rule of across) {
    const at = rule.at.map((key) => found.get(key)).find((s) => s !== undefined);
    if (at && rule.broken(block)) {
      out.push(diagnostic(rule.code, at.span, rule.message(block), { hint: rule.hint }));
    }
  }
  return block;
}

function finding<T, B>(rule: Rule<T, B>, value: T, block: B, setting: Setting): Diagnostic {
  const text = (t: Text<T, B>) => (typeof t === "string" ? t : t(value, block, setting));
  const span =
    rule.at === "key" ? setting.key.span : rule.at === "setting" ? setting.span : setting.value.span;
  return diagnostic(rule.code ?? "C2008", span, text(rule.message), { hint: text(rule.hint) });
}
