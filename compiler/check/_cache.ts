import type { CatgaFile } from "../../dsl/index.js";

/**
 * Results of checking single declarations, kept between checks of successive versions of one
 * document (the language server checks after every keystroke). A result is reused when it was
 * computed for the same declaration object, with the same inputs (`deps`, compared by identity),
 * and, for a result that reads names, against the same namespace: the names every declaration can
 * see, in order, with their kinds. Declaration objects are never mutated, and the language server's
 * incremental parser keeps the objects of the declarations an edit did not touch, so a one-character
 * edit inside a service re-checks that service alone; an edit that changes a declared name changes
 * the namespace and re-checks every name-dependent result.
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
  /** Results that read names: dropped when the namespace changes. */
  private named = new Map<string, WeakMap<object, Entry>>();
  /** How many results were reused and computed since the cache was made: for tests and the benchmark. */
  readonly stats = { reused: 0, computed: 0, namespaceChanges: 0 };

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
    this.named = new Map();
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

  /** {@link ownResult} for a result that also reads the namespace. */
  namedResult<V>(kind: string, key: object, deps: readonly unknown[], compute: () => V): V {
    return this.lookup(this.named, kind, key, deps, compute);
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
