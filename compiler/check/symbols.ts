import {
  type CatgaFile,
  type Diagnostic,
  diagnostic,
  type EnumDecl,
  type Identifier,
  type InfraDecl,
  type MessageDecl,
  type RelatedInformation,
  type SagaDecl,
  type ServiceDecl,
  type TopologyDecl,
  type TypeDecl,
} from "../../dsl/index.js";
import { BUILTIN_TYPES } from "../model.js";
import { didYouMean, fileStart, suggest, withArticle } from "./_text.js";

/** What a name in the shared namespace of types, enums, messages and sagas can denote. */
export type SymbolKind = "type" | "enum" | "command" | "query" | "event" | "saga";

/** A declared name and its declaration. */
export type DeclSymbol =
  | { kind: "type"; decl: TypeDecl }
  | { kind: "enum"; decl: EnumDecl }
  | { kind: "command" | "query" | "event"; decl: MessageDecl }
  | { kind: "saga"; decl: SagaDecl };

/**
 * Every declaration of a file, sorted by kind, and the two namespaces: one shared by types, enums,
 * messages and sagas (they all become TypeScript names in one module), one for services (they become
 * deployments and subjects, never types).
 *
 * The lists hold every declaration, duplicates and nameless ones (left by syntax recovery) included,
 * so each one's body is still checked; the maps hold the first declaration of each name.
 */
export interface SymbolTable {
  file: string;
  /** The first `topology` declaration. */
  topology: TopologyDecl | undefined;
  /** The first `nats` block. */
  nats: InfraDecl | undefined;
  /** The first `redis` block. */
  redis: InfraDecl | undefined;
  types: TypeDecl[];
  enums: EnumDecl[];
  messages: MessageDecl[];
  sagas: SagaDecl[];
  services: ServiceDecl[];
  /** First declaration of each name in the shared namespace. */
  symbols: Map<string, DeclSymbol>;
  /** Names of the shared namespace declared more than once (already reported). */
  duplicated: Set<string>;
  /** Names per kind in declaration order: the candidates of "did you mean". */
  namesByKind: Record<SymbolKind, string[]>;
  /** First service of each name. */
  servicesByName: Map<string, ServiceDecl>;
  /**
   * While the check cache computes one declaration's result: the names {@link resolveReference}
   * looked up, and whether it looked at all names (an unknown name's "did you mean").
   */
  reads?: NameReads;
}

/** The names one computation resolved; see {@link SymbolTable.reads}. */
export interface NameReads {
  names: string[];
  /** An unknown name was resolved: its suggestion reads every name. */
  all: boolean;
}

const KIND_CODES: Record<SymbolKind, number> = { type: 1, enum: 2, command: 3, query: 4, event: 5, saga: 6 };

/**
 * Everything {@link resolveReference} learns about a name that it finds: its kind, whether it is
 * declared twice, whether a service has it. Two tables that agree on this for every name a
 * resolution looked up (and that did not look at all names) resolve it the same way.
 */
export function nameSignature(table: SymbolTable, name: string): number {
  const symbol = table.symbols.get(name);
  return (
    (symbol === undefined ? 0 : KIND_CODES[symbol.kind]) * 4 +
    (table.duplicated.has(name) ? 2 : 0) +
    (table.servicesByName.has(name) ? 1 : 0)
  );
}

/** Where a declaration was found, for duplicate reports. */
interface Site {
  what: string;
  name: Identifier;
}

/** Reported duplicates carry at most this many related sites: enough to find them all in practice. */
const MAX_RELATED = 20;

/**
 * Collects declarations into a {@link SymbolTable}, reporting duplicate names (C2002, at every
 * site), a missing `topology` (C2005) and extra ones (C2006).
 */
export function collectSymbols(file: CatgaFile, out: Diagnostic[]): SymbolTable {
  const table: SymbolTable = {
    file: file.span.file,
    topology: undefined,
    nats: undefined,
    redis: undefined,
    types: [],
    enums: [],
    messages: [],
    sagas: [],
    services: [],
    symbols: new Map(),
    duplicated: new Set(),
    namesByKind: { type: [], enum: [], command: [], query: [], event: [], saga: [] },
    servicesByName: new Map(),
  };
  const topologies: TopologyDecl[] = [];
  const infra: Record<"nats" | "redis", InfraDecl[]> = { nats: [], redis: [] };
  const shared = new Map<string, Site[]>();
  const services = new Map<string, Site[]>();

  const declare = (symbol: DeclSymbol): void => {
    const name = symbol.decl.name;
    if (name.text === "") return;
    const sites = shared.get(name.text);
    const site = { what: symbol.kind, name };
    if (sites) {
      sites.push(site);
      return;
    }
    shared.set(name.text, [site]);
    table.symbols.set(name.text, symbol);
    table.namesByKind[symbol.kind].push(name.text);
  };

  for (const decl of file.declarations) {
    switch (decl.kind) {
      case "Topology":
        topologies.push(decl);
        break;
      case "Infra":
        infra[decl.target].push(decl);
        break;
      case "Type":
        table.types.push(decl);
        declare({ kind: "type", decl });
        break;
      case "Enum":
        table.enums.push(decl);
        declare({ kind: "enum", decl });
        break;
      case "Message":
        table.messages.push(decl);
        declare({ kind: decl.messageKind, decl });
        break;
      case "Saga":
        table.sagas.push(decl);
        declare({ kind: "saga", decl });
        break;
      case "Service": {
        table.services.push(decl);
        if (decl.name.text === "") break;
        const sites = services.get(decl.name.text);
        if (sites) sites.push({ what: "service", name: decl.name });
        else {
          services.set(decl.name.text, [{ what: "service", name: decl.name }]);
          table.servicesByName.set(decl.name.text, decl);
        }
        break;
      }
    }
  }

  for (const [name, sites] of shared) {
    if (sites.length > 1) {
      table.duplicated.add(name);
      reportDuplicates(name, sites, out);
    }
    if ((BUILTIN_TYPES as readonly string[]).includes(name)) {
      for (const site of sites) {
        out.push(
          diagnostic("C2002", site.name.span, `'${name}' is a builtin type and cannot be declared again`, {
            hint: `choose another name, e.g. '${name[0]!.toUpperCase()}${name.slice(1)}Value'`,
          }),
        );
      }
    }
  }
  for (const [name, sites] of services) if (sites.length > 1) reportDuplicates(name, sites, out);

  table.topology = topologies[0];
  if (topologies.length === 0) {
    out.push(
      diagnostic("C2005", fileStart(table.file), "missing 'topology' declaration", {
        hint: "start the file with 'topology <name>', e.g. 'topology shop'",
      }),
    );
  } else if (topologies.length > 1) {
    for (const topology of topologies) {
      const others = topologies.filter((t) => t !== topology);
      out.push(
        diagnostic(
          "C2006",
          topology.span,
          "a file declares exactly one topology, but this one declares several",
          {
            hint: "keep one 'topology' line: one file describes one system",
            related: others
              .slice(0, MAX_RELATED)
              .map((t) => ({ message: "another topology here", span: t.span })),
          },
        ),
      );
    }
  }

  for (const target of ["nats", "redis"] as const) {
    const blocks = infra[target];
    table[target] = blocks[0];
    if (blocks.length < 2) continue;
    for (const block of blocks) {
      out.push(
        diagnostic("C2002", block.keyword, `'${target}' is configured more than once`, {
          hint: `merge the settings into one '${target} { ... }' block`,
          related: blocks
            .filter((b) => b !== block)
            .slice(0, MAX_RELATED)
            .map((b) => ({ message: `another '${target}' block here`, span: b.keyword })),
        }),
      );
    }
  }
  return table;
}

function reportDuplicates(name: string, sites: Site[], out: Diagnostic[]): void {
  for (const site of sites) {
    const related: RelatedInformation[] = [];
    for (const other of sites) {
      // Break, not continue: with a name declared 300,000 times, scanning every other site for
      // every site would be quadratic.
      if (related.length >= MAX_RELATED) break;
      if (other === site) continue;
      related.push({
        message: `'${name}' is also declared here as ${withArticle(other.what)}`,
        span: other.name.span,
      });
    }
    const namespace = site.what === "service" ? "services" : "types, enums, messages and sagas";
    out.push(
      diagnostic("C2002", site.name.span, `'${name}' is declared more than once`, {
        hint: `${namespace} share one namespace: rename or remove all but one`,
        related,
      }),
    );
  }
}

/** How a place in the language refers to declarations: what it accepts and how to explain a mismatch. */
export interface ReferenceRole {
  /** Kinds of declaration allowed here. */
  accepts: readonly SymbolKind[];
  /** What an unknown name is called: "unknown message 'X'". */
  noun: string;
  /** What the place takes, ending the wrong-kind message: "'handles' takes commands and queries". */
  takes: string;
  /** A hint for a name of the wrong kind, such as "use 'on X' to consume an event". */
  hint?: (kind: SymbolKind | "service", name: string) => string | undefined;
  /** Names that are valid here without a declaration (builtin types), also offered as suggestions. */
  builtins?: readonly string[];
  /**
   * Names from other languages for a builtin, keyed by the lower-case name (`integer` -> `int`):
   * too far from the builtin for edit distance, so named here and suggested first.
   */
  aliases?: Readonly<Record<string, string>>;
}

/**
 * Resolves a reference. Reports an unknown name (C2001) with a "did you mean" drawn from the names
 * of the right kind first, then from every name; reports a name of the wrong kind (C2003). Returns
 * the declaration only when it is of an accepted kind.
 *
 * Empty names come from tokens inserted by syntax recovery, already reported as syntax errors, and
 * are skipped silently; so are names declared twice (already reported, and their kind is ambiguous).
 *
 * @param guessed Called with the suggested declaration of an unknown name when it is of an accepted
 *   kind. A typo is most likely meant as its suggestion, so usage rules count it as used: one typo
 *   then yields one error, not also "never emitted" or "no handler" for the name it misspells.
 */
export function resolveReference(
  table: SymbolTable,
  id: Identifier,
  role: ReferenceRole,
  out: Diagnostic[],
  guessed?: (symbol: DeclSymbol) => void,
): DeclSymbol | undefined {
  const name = id.text;
  if (name === "") return undefined;
  table.reads?.names.push(name);
  const symbol = table.symbols.get(name);
  if (symbol !== undefined) {
    if (role.accepts.includes(symbol.kind)) return symbol;
    if (table.duplicated.has(name)) return undefined;
    out.push(wrongKind(id, symbol.kind, role));
    return undefined;
  }
  if (table.servicesByName.has(name)) {
    out.push(wrongKind(id, "service", role));
    return undefined;
  }
  if (table.reads !== undefined) table.reads.all = true;
  const ofKind: string[] = [...(role.builtins ?? [])];
  for (const kind of role.accepts) for (const n of table.namesByKind[kind]) ofKind.push(n);
  const lower = name.toLowerCase();
  // A declared `type Date` wins over the alias `date` -> `timestamp`: it differs only in case.
  const alias =
    role.aliases !== undefined &&
    Object.hasOwn(role.aliases, lower) &&
    !ofKind.some((n) => n.toLowerCase() === lower)
      ? role.aliases[lower]
      : undefined;
  const suggestion = alias ?? suggest(name, ofKind) ?? suggest(name, table.symbols.keys());
  const likely = suggestion === undefined ? undefined : table.symbols.get(suggestion);
  if (guessed && likely && role.accepts.includes(likely.kind)) guessed(likely);
  out.push(diagnostic("C2001", id.span, `unknown ${role.noun} '${name}'`, didYouMean(suggestion)));
  return undefined;
}

function wrongKind(id: Identifier, kind: SymbolKind | "service", role: ReferenceRole): Diagnostic {
  const hint = role.hint?.(kind, id.text);
  return diagnostic(
    "C2003",
    id.span,
    `'${id.text}' is ${withArticle(kind)}, but ${role.takes}`,
    hint === undefined ? {} : { hint },
  );
}
