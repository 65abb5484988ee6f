import type {
  CatgaFile,
  Declaration,
  DurationLiteral,
  Field,
  Identifier,
  SagaItem,
  ServiceItem,
  Setting,
  Span,
  TypeRef,
  Value,
} from "../../dsl/index.js";
import type { CheckCache } from "./_cache.js";

/**
 * Makes a parsed file match its types before checking. After a syntax error, Chevrotain's
 * recovery can leave a node's child undefined (a sub-rule that re-synchronised returns nothing)
 * where the AST type promises one. Rather than guard every property access in every rule, the
 * checker repairs the file once: a missing name becomes an empty identifier (which every check
 * skips as "already reported"), a missing list becomes empty, a missing value a placeholder.
 *
 * Copy-on-write: a well-formed file (the usual case) is returned as is, without allocation beyond
 * the walk, and the caller's AST is never mutated.
 */
export function repairFile(file: CatgaFile, cache?: CheckCache): CatgaFile {
  return cache === undefined ? repairAll(file) : cache.repaired(file, () => repairAll(file, cache));
}

function repairAll(file: CatgaFile, cache?: CheckCache): CatgaFile {
  const declarations = list(file.declarations, (d) =>
    cache === undefined
      ? repairDeclaration(d)
      : cache.ownResult("repair", d, NO_DEPS, () => repairDeclaration(d)),
  );
  return declarations === file.declarations ? file : { ...file, declarations };
}

const NO_DEPS: readonly unknown[] = [];

/** Maps a possibly missing array; returns the same array when nothing changed. */
function list<T>(items: readonly T[] | undefined, fix: (item: T) => T | undefined): T[] {
  if (!Array.isArray(items)) return [];
  let changed = false;
  const out: T[] = [];
  for (const item of items) {
    const fixed = item === undefined || item === null ? undefined : fix(item);
    if (fixed === undefined || fixed !== item) changed = true;
    if (fixed !== undefined) out.push(fixed);
  }
  return changed ? out : (items as T[]);
}

function id(node: Identifier | undefined, at: Span): Identifier {
  if (node !== undefined && node !== null && typeof node.text === "string" && node.span !== undefined)
    return node;
  return { kind: "Identifier", text: "", span: zeroWidth(node?.span ?? at) };
}

function zeroWidth(span: Span): Span {
  return { file: span.file, start: span.start, end: span.start };
}

function duration(node: DurationLiteral | undefined, at: Span): DurationLiteral {
  if (node !== undefined && node !== null && node.span !== undefined) return node;
  // Empty text never parses as a duration, so value checks treat it as a placeholder.
  return { kind: "Duration", ms: 0, text: "", span: zeroWidth(at) };
}

function value(node: Value | undefined, at: Span): Value {
  if (node !== undefined && node !== null && node.span !== undefined) return node;
  return id(undefined, at);
}

function typeRef(node: TypeRef | undefined, at: Span): TypeRef {
  if (node === undefined || node === null) {
    return { kind: "TypeRef", name: id(undefined, at), listDepth: 0, optional: false, span: zeroWidth(at) };
  }
  const name = id(node.name, node.span ?? at);
  return name === node.name ? node : { ...node, name };
}

function setting(node: Setting): Setting {
  const key = id(node.key, node.span);
  const v = value(node.value, node.span);
  return key === node.key && v === node.value ? node : { ...node, key, value: v };
}

function field(node: Field): Field {
  const name = id(node.name, node.span);
  const type = typeRef(node.type, node.span);
  return name === node.name && type === node.type ? node : { ...node, name, type };
}

function names(nodes: Identifier[] | undefined, at: Span): Identifier[] {
  return list(nodes, (n) => id(n, at));
}

function serviceItem(item: ServiceItem): ServiceItem {
  switch (item.kind) {
    case "Handles":
    case "On":
    case "Emits":
    case "Sends":
    case "Runs":
    case "Uses": {
      const fixed = names(item.names, item.span);
      return fixed === item.names ? item : { ...item, names: fixed };
    }
    case "Every": {
      const interval = duration(item.interval, item.span);
      const job = id(item.job, item.span);
      return interval === item.interval && job === item.job ? item : { ...item, interval, job };
    }
    case "Timeout": {
      const fixed = duration(item.duration, item.span);
      return fixed === item.duration ? item : { ...item, duration: fixed };
    }
    case "Env":
    case "Resources": {
      const settings = list(item.settings, setting);
      return settings === item.settings ? item : { ...item, settings };
    }
    case "ServiceSetting": {
      const fixed = item.setting === undefined ? undefined : setting(item.setting);
      if (fixed === item.setting && fixed !== undefined) return item;
      return {
        ...item,
        setting: fixed ?? {
          kind: "Setting",
          key: id(undefined, item.span),
          value: id(undefined, item.span),
          span: item.span,
        },
      };
    }
  }
}

function sagaItem(item: SagaItem): SagaItem {
  if (item.kind === "SagaOn") {
    const name = id(item.name, item.span);
    return name === item.name ? item : { ...item, name };
  }
  const command = id(item.command, item.span);
  const compensate =
    "compensate" in item && item.compensate !== undefined ? id(item.compensate, item.span) : undefined;
  const timeout =
    "timeout" in item && item.timeout !== undefined ? duration(item.timeout, item.span) : undefined;
  if (command === item.command && compensate === item.compensate && timeout === item.timeout) return item;
  const { compensate: _c, timeout: _t, ...rest } = item;
  return {
    ...rest,
    command,
    ...(compensate !== undefined ? { compensate } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
  };
}

function repairDeclaration(decl: Declaration): Declaration | undefined {
  if (decl.span === undefined) return undefined;
  switch (decl.kind) {
    case "Topology": {
      const name = id(decl.name, decl.span);
      return name === decl.name ? decl : { ...decl, name };
    }
    case "Infra": {
      const settings = list(decl.settings, setting);
      return settings === decl.settings ? decl : { ...decl, settings };
    }
    case "Enum": {
      const name = id(decl.name, decl.span);
      const members = list(decl.members, (m) => {
        const n = id(m.name, m.span ?? decl.span);
        return n === m.name ? m : { ...m, name: n };
      });
      return name === decl.name && members === decl.members ? decl : { ...decl, name, members };
    }
    case "Type": {
      const name = id(decl.name, decl.span);
      const fields = list(decl.fields, field);
      return name === decl.name && fields === decl.fields ? decl : { ...decl, name, fields };
    }
    case "Message": {
      const name = id(decl.name, decl.span);
      const fields = list(decl.fields, field);
      const result = decl.result === undefined ? undefined : typeRef(decl.result, decl.span);
      const settings = list(decl.settings, setting);
      if (
        name === decl.name &&
        fields === decl.fields &&
        result === decl.result &&
        settings === decl.settings
      )
        return decl;
      const { result: _r, ...rest } = decl;
      return { ...rest, name, fields, ...(result !== undefined ? { result } : {}), settings };
    }
    case "Service": {
      const name = id(decl.name, decl.span);
      const items = list(decl.items, serviceItem);
      return name === decl.name && items === decl.items ? decl : { ...decl, name, items };
    }
    case "Saga": {
      const name = id(decl.name, decl.span);
      const items = list(decl.items, sagaItem);
      return name === decl.name && items === decl.items ? decl : { ...decl, name, items };
    }
    default:
      return undefined;
  }
}
