/**
 * The checker: gives a parsed `.catga` file its meaning. It resolves every name, validates settings
 * and topology rules, and, when nothing is wrong, returns the resolved {@link TopologyModel} that
 * every emitter consumes. Named exports only; files starting with `_` are private to this folder.
 */
import {
  type CatgaFile,
  type Diagnostic,
  type DiagnosticCode,
  diagnostic,
  hasErrors,
  parse,
  type Result,
  type ServiceDecl,
  sortDiagnostics,
} from "../../dsl/index.js";
import type { TopologyModel } from "../model.js";
import { CheckCache } from "./_cache.js";
import { repairFile } from "./_repair.js";

/**
 * For the language server: the checker's repair of a partial AST (to read the AST after syntax
 * errors), and the per-declaration results kept between checks of successive versions of a document.
 */
export { CheckCache, repairFile };

import { buildModel } from "./build-model.js";
import { checkDurable } from "./durable.js";
import { checkTopology, EVERY_MIN_MS } from "./rules.js";
import {
  checkInfra,
  checkServiceSettings,
  DEDUP_MIN_MS,
  DEFAULT_DEDUP_WINDOW_MS,
  DEFAULT_LEASE_MS,
  DEFAULT_MAX_DELIVER,
  DEFAULT_RETENTION_MS,
  LEASE_MAX_MS,
  LEASE_MIN_MS,
  MAX_STREAM_REPLICAS,
  RETENTION_MAX_MS,
  RETENTION_MIN_MS,
  type ServiceSettings,
  TIMEOUT_MAX_MS,
} from "./settings.js";
import { collectSymbols } from "./symbols.js";
import { checkTypes } from "./types.js";

export {
  DEDUP_MIN_MS,
  DEFAULT_DEDUP_WINDOW_MS,
  DEFAULT_LEASE_MS,
  DEFAULT_MAX_DELIVER,
  DEFAULT_RETENTION_MS,
  EVERY_MIN_MS,
  LEASE_MAX_MS,
  LEASE_MIN_MS,
  MAX_STREAM_REPLICAS,
  RETENTION_MAX_MS,
  RETENTION_MIN_MS,
  TIMEOUT_MAX_MS,
};

/** What to compute besides the diagnostics. */
export interface CheckOptions {
  /**
   * Build the resolved model when there is no error. The language server only needs the
   * diagnostics, and building the model took a third or more of checking the 1,000-service
   * benchmark topology.
   * @default true
   */
  model?: boolean;
  /**
   * Results of an earlier check of a previous version of the same document, reused for the
   * declarations the edit did not touch (see {@link CheckCache}); the diagnostics and model are the
   * same as without it. The language server keeps one per open document.
   * @default undefined (everything is checked)
   */
  cache?: CheckCache;
}

/**
 * Checks a parsed file and reports every finding in one run (codes C2001–C3040, sorted).
 *
 * Runs on whatever parsed: after syntax errors the AST may be partial, and names that recovery left
 * empty are skipped. Never throws on any input.
 *
 * @returns The resolved model when there is no error (warnings allow a model), otherwise undefined.
 */
export function check(parsed: CatgaFile, options: CheckOptions = {}): Result<TopologyModel | undefined> {
  const diagnostics: Diagnostic[] = [];
  const { cache } = options;
  const file = repairFile(parsed, cache);
  cache?.enter(file);
  const table = collectSymbols(file, diagnostics);
  const types = checkTypes(table, diagnostics, cache, options.model !== false);
  const infra = checkInfra(table.nats, table.redis, diagnostics);
  const settings = new Map<ServiceDecl, ServiceSettings>();
  for (const service of table.services) {
    if (cache === undefined) settings.set(service, checkServiceSettings(service, diagnostics));
    else {
      // Settings read nothing but their service: reused until the service itself changes.
      const found = cache.ownResult("settings", service, [], () => {
        const out: Diagnostic[] = [];
        return { value: checkServiceSettings(service, out), diagnostics: out };
      });
      settings.set(service, found.value);
      for (const d of found.diagnostics) diagnostics.push(d);
    }
  }
  const topology = checkTopology(table, settings, diagnostics, cache);
  const durable = checkDurable(table, infra.nats, infra.streamDefaults, diagnostics);
  const sorted = sortDiagnostics(diagnostics);
  const value =
    hasErrors(sorted) || options.model === false
      ? undefined
      : buildModel(table, types, infra, topology, durable);
  return { value, diagnostics: sorted };
}

/**
 * Parse errors after which checking would only add noise: nothing was read (C1005, C1006), or the
 * parser gave up counting (C1008) and the reader should fix syntax first.
 */
const UNCHECKABLE: ReadonlySet<DiagnosticCode> = new Set<DiagnosticCode>(["C1005", "C1006", "C1008"]);

/**
 * Parses and checks one file: the whole front end in one call, for the CLI and for tests.
 *
 * @param source The file's text, or its raw bytes (decoded as strict UTF-8; invalid bytes are C1005).
 * @param file The path shown in diagnostics and recorded in the model.
 * @returns The diagnostics of both phases, sorted; the model only when there is no error.
 */
export function checkSource(source: string | Uint8Array, file: string): Result<TopologyModel | undefined> {
  return checkParsed(parse(source, file));
}

/**
 * {@link checkSource} on a file already parsed: the language server parses once and uses the AST
 * for its own features too.
 */
export function checkParsed(
  parsed: Result<CatgaFile>,
  options: CheckOptions = {},
): Result<TopologyModel | undefined> {
  if (parsed.diagnostics.some((d) => UNCHECKABLE.has(d.code))) {
    return { value: undefined, diagnostics: sortDiagnostics(parsed.diagnostics) };
  }
  const checked = check(parsed.value, options);
  const diagnostics = sortDiagnostics([...parsed.diagnostics, ...checked.diagnostics]);
  return { value: hasErrors(diagnostics) ? undefined : checked.value, diagnostics: capped(diagnostics) };
}

/**
 * Findings per file beyond which the rest are summarised in one C1008. A generated or corrupted file
 * can produce hundreds of thousands (one per line); nobody reads past the first screens, and printing
 * them all would cost more than checking.
 */
export const MAX_DIAGNOSTICS = 1000;

function capped(sorted: Diagnostic[]): Diagnostic[] {
  if (sorted.length <= MAX_DIAGNOSTICS) return sorted;
  const kept = sorted.slice(0, MAX_DIAGNOSTICS);
  const firstDropped = sorted[MAX_DIAGNOSTICS]!;
  kept.push(
    diagnostic(
      "C1008",
      firstDropped.span,
      `too many errors: ${sorted.length - MAX_DIAGNOSTICS} more not shown`,
      {
        hint: "fix the errors above first; many of them often share one cause",
      },
    ),
  );
  return kept;
}
