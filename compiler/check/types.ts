import {
  type Diagnostic,
  diagnostic,
  type EnumDecl,
  type Field,
  type Identifier,
  type MessageDecl,
  type TypeDecl,
  type TypeRef,
} from "../../dsl/index.js";
import { BUILTIN_TYPES, type BuiltinType, type TypeUse } from "../model.js";
import type { CheckCache } from "./_cache.js";
import { type ReferenceRole, resolveReference, type SymbolKind, type SymbolTable } from "./symbols.js";

/** What the type pass learned, for the model builder. */
export interface TypeFacts {
  /** Every type reference that resolved, by node. */
  resolved: Map<TypeRef, TypeUse>;
}

const BUILTINS: ReadonlySet<string> = new Set(BUILTIN_TYPES);

const messageHint = (kind: SymbolKind | "service", name: string): string | undefined =>
  kind === "command" || kind === "query" || kind === "event"
    ? `messages cannot be nested: move the fields of '${name}' into a 'type' and use that here`
    : undefined;

/**
 * What other languages call the builtin types, for "did you mean": `integer` is four edits from
 * `int`, too far for a typo, but plainly meant as it. Keys are lower case (`Boolean`, `DateTime`
 * match too); `number` suggests `float`, the builtin that holds every JavaScript number.
 */
export const BUILTIN_ALIASES: Readonly<Record<string, BuiltinType>> = {
  integer: "int",
  long: "int",
  short: "int",
  int32: "int",
  int64: "int",
  i32: "int",
  i64: "int",
  bigint: "int",
  number: "float",
  double: "float",
  decimal: "float",
  real: "float",
  float32: "float",
  float64: "float",
  f64: "float",
  boolean: "bool",
  str: "string",
  text: "string",
  date: "timestamp",
  datetime: "timestamp",
  time: "timestamp",
  instant: "timestamp",
};

const FIELD_TYPE: ReferenceRole = {
  accepts: ["type", "enum"],
  noun: "type",
  takes: "a field's type must be a builtin type, a type or an enum",
  hint: messageHint,
  builtins: BUILTIN_TYPES,
  aliases: BUILTIN_ALIASES,
};

const RESULT_TYPE: ReferenceRole = {
  accepts: ["type", "enum"],
  noun: "type",
  takes: "a result must be a builtin type, a type or an enum",
  hint: messageHint,
  builtins: BUILTIN_TYPES,
  aliases: BUILTIN_ALIASES,
};

/** A required, single-valued field from one type to another: an edge of the containment graph. */
interface Containment {
  field: Field;
  owner: string;
  target: string;
}

/**
 * Checks types, enums and message shapes: field and result types resolve to builtins, types or
 * enums (C2001, C2003); fields and enum members are unique (C2004); queries have results and events
 * do not (C3015); events are not idempotent (C3016); types and enums are used (C3018); no type
 * contains itself through required fields (C3022).
 */
export function checkTypes(
  table: SymbolTable,
  out: Diagnostic[],
  cache?: CheckCache,
  /** Whether the model will be built: the map of resolved references is only read by the model builder. */
  model = true,
): TypeFacts {
  const resolved = new Map<TypeRef, TypeUse>();
  /** Type and enum names referenced from some other declaration. */
  const referenced = new Set<string>();
  const containment = new Map<string, Containment[]>();

  /** Adds what checking one declaration found to the whole check's findings, in declaration order. */
  const merge = (body: Body): void => {
    for (const d of body.diagnostics) out.push(d);
    for (const name of body.referenced) referenced.add(name);
    if (model) for (const [ref, use] of body.resolved) resolved.set(ref, use);
    for (const edge of body.containment) {
      const edges = containment.get(edge.owner) ?? [];
      edges.push(edge);
      containment.set(edge.owner, edges);
    }
  };
  /** A declaration's findings: reused from the cache while it and the namespace are unchanged. */
  const bodyOf = (decl: TypeDecl | MessageDecl, inGraph: boolean): Body => {
    const compute = () => (decl.kind === "Type" ? typeBody(decl, inGraph, table) : messageBody(decl, table));
    return cache === undefined ? compute() : cache.namedResult("types", decl, [inGraph], table, compute);
  };

  for (const type of table.types) {
    // Only the first declaration of a name takes part in the containment graph: the graph is keyed
    // by name, and a duplicate is an error of its own already.
    merge(bodyOf(type, table.symbols.get(type.name.text)?.decl === type));
  }

  for (const decl of table.enums) {
    const members = () => enumBody(decl);
    const found = cache === undefined ? members() : cache.ownResult("enum", decl, [], members);
    for (const d of found) out.push(d);
  }

  for (const message of table.messages) merge(bodyOf(message, false));

  for (const decl of [...table.types, ...table.enums]) {
    const name = decl.name.text;
    if (name === "" || referenced.has(name) || table.symbols.get(name)?.decl !== decl) continue;
    const what = decl.kind === "Type" ? "type" : "enum";
    out.push(
      diagnostic("C3018", decl.name.span, `${what} '${name}' is never used`, {
        hint: "use it in a field or a result, or remove it",
      }),
    );
  }

  reportInfiniteTypes(table, containment, out);
  return { resolved };
}

/** What checking one type or message found: its diagnostics and the facts the whole check collects. */
interface Body {
  diagnostics: Diagnostic[];
  /** Type and enum names it references (or most likely meant), other than its own. */
  referenced: string[];
  resolved: [TypeRef, TypeUse][];
  containment: Containment[];
}

function emptyBody(): Body {
  return { diagnostics: [], referenced: [], resolved: [], containment: [] };
}

function resolveType(
  table: SymbolTable,
  ref: TypeRef,
  role: ReferenceRole,
  owner: Identifier,
  body: Body,
): TypeUse | undefined {
  const name = ref.name.text;
  if (BUILTINS.has(name)) {
    const use: TypeUse = {
      kind: "builtin",
      name: name as BuiltinType,
      listDepth: ref.listDepth,
      optional: ref.optional,
    };
    body.resolved.push([ref, use]);
    return use;
  }
  const symbol = resolveReference(table, ref.name, role, body.diagnostics, (guess) =>
    body.referenced.push(guess.decl.name.text),
  );
  if (symbol === undefined || (symbol.kind !== "type" && symbol.kind !== "enum")) return undefined;
  if (name !== owner.text) body.referenced.push(name);
  const use: TypeUse = { kind: symbol.kind, name, listDepth: ref.listDepth, optional: ref.optional };
  body.resolved.push([ref, use]);
  return use;
}

/** Unique field names (C2004) and field types that resolve; edges of the containment graph when `inGraph`. */
function checkFields(
  owner: TypeDecl | MessageDecl,
  what: string,
  inGraph: boolean,
  table: SymbolTable,
  body: Body,
): void {
  const seen = new Map<string, Field>();
  for (const field of owner.fields) {
    const name = field.name.text;
    if (name !== "") {
      const first = seen.get(name);
      if (first) {
        body.diagnostics.push(
          diagnostic(
            "C2004",
            field.name.span,
            `field '${name}' is declared twice in ${what} '${owner.name.text}'`,
            {
              hint: "rename or remove one of them",
              related: [{ message: "first declared here", span: first.name.span }],
            },
          ),
        );
      } else seen.set(name, field);
    }
    const use = resolveType(table, field.type, FIELD_TYPE, owner.name, body);
    if (inGraph && use?.kind === "type" && use.listDepth === 0 && !use.optional) {
      body.containment.push({ field, owner: owner.name.text, target: use.name });
    }
  }
}

function typeBody(decl: TypeDecl, inGraph: boolean, table: SymbolTable): Body {
  const body = emptyBody();
  checkFields(decl, "type", inGraph, table, body);
  return body;
}

function messageBody(message: MessageDecl, table: SymbolTable): Body {
  const body = emptyBody();
  const out = body.diagnostics;
  const kind = message.messageKind;
  checkFields(message, kind, false, table, body);
  if (message.result) resolveType(table, message.result, RESULT_TYPE, message.name, body);
  if (message.name.text === "") return body;
  if (kind === "query" && !message.result) {
    out.push(
      diagnostic("C3015", message.name.span, `query '${message.name.text}' has no result type`, {
        hint: "a query exists to answer: add '-> T' after its fields, e.g. '-> OrderResult?'",
      }),
    );
  }
  if (kind === "event" && message.result) {
    out.push(
      diagnostic("C3015", message.result.span, `event '${message.name.text}' cannot have a result`, {
        hint: "events are published, never answered: remove '-> …', or declare a command instead",
      }),
    );
  }
  if (kind === "event" && message.idempotent) {
    out.push(
      diagnostic("C3016", message.idempotent, `event '${message.name.text}' cannot be idempotent`, {
        hint: "'idempotent' lets clients retry commands and queries; events are never retried: remove it",
      }),
    );
  }
  return body;
}

/** Enum members listed twice (C2004). */
function enumBody(decl: EnumDecl): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Map<string, Identifier>();
  for (const member of decl.members) {
    const name = member.name.text;
    if (name === "") continue;
    const first = seen.get(name);
    if (first) {
      out.push(
        diagnostic("C2004", member.name.span, `member '${name}' appears twice in enum '${decl.name.text}'`, {
          hint: "remove the repeated member",
          related: [{ message: "first listed here", span: first.span }],
        }),
      );
    } else seen.set(name, member.name);
  }
  return out;
}

/**
 * C3022: a type that needs a value of itself, through fields that are neither optional nor lists,
 * has no finite value. Such types form strongly connected components of the containment graph (or
 * a component of one with a self-edge); each component is reported once, at its first type, with
 * one concrete cycle spelled out.
 */
function reportInfiniteTypes(table: SymbolTable, edges: Map<string, Containment[]>, out: Diagnostic[]): void {
  const order = new Map<string, number>();
  for (const type of table.types) if (!order.has(type.name.text)) order.set(type.name.text, order.size);
  for (const component of stronglyConnected([...edges.keys()], edges)) {
    const members = new Set(component);
    const first = component.reduce((a, b) => ((order.get(a) ?? 0) <= (order.get(b) ?? 0) ? a : b));
    const cycle = findCycle(first, members, edges);
    if (cycle === undefined) continue;
    const decl = table.symbols.get(first)?.decl;
    if (decl === undefined) continue;
    const path = [...cycle.map((e) => `${e.owner}.${e.field.name.text}`), first].join(" -> ");
    out.push(
      diagnostic(
        "C3022",
        decl.name.span,
        `type '${first}' contains itself through required fields: ${path}`,
        {
          hint: "no value of it could ever be built: make one of these fields optional ('?') or a list ('[]')",
          related: cycle.map((e) => ({
            message: `required field of type '${e.target}'`,
            span: e.field.span,
          })),
        },
      ),
    );
  }
}

/** Tarjan's algorithm, iterative so that a long chain of types cannot overflow the call stack. */
function stronglyConnected(nodes: readonly string[], edges: Map<string, Containment[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: Array<{ node: string; next: number }> = [{ node: root, next: 0 }];
    index.set(root, index.size);
    low.set(root, index.get(root)!);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const out = edges.get(frame.node) ?? [];
      if (frame.next < out.length) {
        const target = out[frame.next++]!.target;
        if (!index.has(target)) {
          index.set(target, index.size);
          low.set(target, index.get(target)!);
          stack.push(target);
          onStack.add(target);
          work.push({ node: target, next: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(target)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        components.push(component);
      }
    }
  }
  return components;
}

/** The shortest cycle from `start` back to itself inside one component, as the fields it follows. */
function findCycle(
  start: string,
  members: ReadonlySet<string>,
  edges: Map<string, Containment[]>,
): Containment[] | undefined {
  const via = new Map<string, Containment>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const edge of edges.get(node) ?? []) {
      if (!members.has(edge.target)) continue;
      if (edge.target === start) {
        const path = [edge];
        for (let at = node; at !== start; ) {
          const step = via.get(at)!;
          path.push(step);
          at = step.owner;
        }
        return path.reverse();
      }
      if (via.has(edge.target)) continue;
      via.set(edge.target, edge);
      queue.push(edge.target);
    }
  }
  return undefined;
}
