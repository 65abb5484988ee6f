import type { CatgaFile } from "../../dsl/index.js";
import { type NameReads, nameSignature, type SymbolTable } from "./symbols.js";

/**
 * Results of checking single declarations, kept between checks of successive versions of one
 * document (the language server checks after every keystroke). A result is reused when it was
 * computed for the same declaration object, with the same inputs (`deps`, compared by identity),
 * and, for a result that resolves names, when those names resolve the same way: in the same
 * namespace (every declared name with its kind, in order), or, after it changed, when each name the
 * result resolved has the same kind, duplication and service-ness and none was unknown. Declaration
 * objects are never mutated, and the language server's incremental parser keeps the objects of the
 * declarations an edit did not touch, so a one-character edit inside a service re-checks that
 * service alone, and renaming a declaration re-checks it and the declarations that use the old or
 * the new name (and those with an unknown name, whose "did you mean" reads every name).
 *
 * Results are what the check of one declaration adds to the whole check (its diagnostics, and the
 * facts later passes read), replayed in declaration order: the check with a cache gives exactly what
 * it gives without (test/unit/check-cache.test.ts compares them over random edits).
 *
 * Entries live in WeakMaps keyed by the declaration: a version's declarations that no later version
 * shares are collected with it.
 */
export class CheckCache {
  /** Kinds and names of the last check's namespace, side by side. */
  private namespace: { kinds: string[]; names: string[] } | undefined;
  /** The last file repaired, and its repair: the server repairs the file the checker just repaired. */
  private repairedFrom: CatgaFile | undefined;
  private repairedTo: CatgaFile | undefined;
  /** Results that read nothing but their declaration. */
  private readonly own = new Map<string, WeakMap<object, Entry>>();
  /** Results that read names, with the names they read. */
  private readonly named = new Map<string, WeakMap<object, NamedEntry>>();
  /** Counts namespace changes: a named result computed in this generation is valid as is. */
  private generation = 0;
  /** How many results were reused and computed since the cache was made: for tests and the benchmark. */
  readonly stats = { reused: 0, computed: 0, namespaceChanges: 0, revalidated: 0 };

  /**
   * Starts one check of `file`: when the names declared in it differ from the last check's (in
   * kind, text or order), every result that reads names is dropped.
   */
  enter(file: CatgaFile): void {
    const namespace = namespaceOf(file);
    if (this.namespace !== undefined && sameDeps(namespace.kinds, this.namespace.kinds)) {
      if (sameDeps(namespace.names, this.namespace.names)) return;
    }
    if (this.namespace !== undefined) this.stats.namespaceChanges++;
    this.namespace = namespace;
    this.generation++;
  }

  /** The repair of `file`, made by `repair` unless `file` is the one repaired last. */
  repaired(file: CatgaFile, repair: () => CatgaFile): CatgaFile {
    if (file !== this.repairedFrom) {
      this.repairedTo = repair();
      this.repairedFrom = file;
    }
    return this.repairedTo!;
  }

  /** The result of `compute` for `key`, reused if `key` and every one of `deps` are the same objects as last time. */
  ownResult<V>(kind: string, key: object, deps: readonly unknown[], compute: () => V): V {
    return this.lookup(this.own, kind, key, deps, compute);
  }

  /**
   * {@link ownResult} for a result that also resolves names in `table`. In the namespace it was
   * computed in, it is reused as is; after the namespace changed, only if every name it resolved
   * resolves the same way now (same kind, duplicated or not, a service's or not) and it resolved no
   * unknown name (whose "did you mean" reads every name). So renaming one declaration re-checks
   * the declarations that use the old or the new name, not all of them.
   */
  namedResult<V>(
    kind: string,
    key: object,
    deps: readonly unknown[],
    table: SymbolTable,
    compute: () => V,
  ): V {
    let map = this.named.get(kind);
    if (map === undefined) {
      map = new WeakMap();
      this.named.set(kind, map);
    }
    const entry = map.get(key);
    if (entry !== undefined && sameDeps(entry.deps, deps) && this.stillValid(entry, table)) {
      this.stats.reused++;
      return entry.value as V;
    }
    this.stats.computed++;
    const outer = table.reads;
    const reads: NameReads = { names: [], all: false };
    table.reads = reads;
    let value: V;
    try {
      value = compute();
    } finally {
      table.reads = outer;
    }
    map.set(key, {
      deps,
      value,
      generation: this.generation,
      reads: reads.all ? undefined : reads.names,
      signatures: reads.all ? [] : reads.names.map((name) => nameSignature(table, name)),
    });
    return value;
  }

  private stillValid(entry: NamedEntry, table: SymbolTable): boolean {
    if (entry.generation === this.generation) return true;
    if (entry.reads === undefined) return false;
    for (let i = 0; i < entry.reads.length; i++) {
      if (nameSignature(table, entry.reads[i]!) !== entry.signatures[i]) return false;
    }
    // Valid in this namespace too: the next checks in it need not look again.
    entry.generation = this.generation;
    this.stats.revalidated++;
    return true;
  }

  private lookup<V>(
    maps: Map<string, WeakMap<object, Entry>>,
    kind: string,
    key: object,
    deps: readonly unknown[],
    compute: () => V,
  ): V {
    let map = maps.get(kind);
    if (map === undefined) {
      map = new WeakMap();
      maps.set(kind, map);
    }
    const entry = map.get(key);
    if (entry !== undefined && sameDeps(entry.deps, deps)) {
      this.stats.reused++;
      return entry.value as V;
    }
    this.stats.computed++;
    const value = compute();
    map.set(key, { deps, value });
    return value;
  }
}

interface Entry {
  deps: readonly unknown[];
  value: unknown;
}

interface NamedEntry extends Entry {
  /** The namespace generation it is known valid in. */
  generation: number;
  /** The names it resolved, or undefined when it resolved an unknown one (it then reads them all). */
  reads: string[] | undefined;
  /** {@link nameSignature} of each of `reads` when it was computed. */
  signatures: number[];
}

function sameDeps(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Every name declared in the file, with its kind, in order, duplicates and services included: all
 * that name resolution reads (which name is first, which are duplicated, and the candidates of "did
 * you mean", whose order breaks ties).
 */
function namespaceOf(file: CatgaFile): { kinds: string[]; names: string[] } {
  const kinds: string[] = [];
  const names: string[] = [];
  for (const decl of file.declarations) {
    switch (decl.kind) {
      case "Type":
      case "Enum":
      case "Saga":
      case "Service":
        kinds.push(decl.kind);
        names.push(decl.name.text);
        break;
      case "Message":
        kinds.push(decl.messageKind);
        names.push(decl.name.text);
        break;
      default:
        break;
    }
  }
  return { kinds, names };
}
