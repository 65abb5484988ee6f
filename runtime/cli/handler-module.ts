/**
 * Loading a service's handler module: what `catga run` does at start and `catga up --memory` does
 * for every service. Every way it can go wrong is the user's to fix, so each is a
 * {@link HandlerModuleError} naming the service, the file and the fix, never an internal error.
 */
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { ServiceDefinition } from "../api.js";
import { ConfigError } from "../config.js";

/** A handler module that cannot serve its service: missing, throwing while loading, or exporting the wrong thing. */
export class HandlerModuleError extends ConfigError {
  override name = "HandlerModuleError";
  constructor(
    message: string,
    /** The service whose handlers were loaded. */
    readonly service: string,
    /** The module's absolute path. */
    readonly module: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `defineOrder`: the generated definer of a service (compiler/emit/typescript.ts: `define` + PascalCase). */
export function definerName(service: string): string {
  return `define${service.charAt(0).toUpperCase()}${service.slice(1)}`;
}

/**
 * Imports the handler module of `service` (a `.ts` module through tsx, so handlers need no build
 * step) and returns its definition: the default export, or the entry named after the service of a
 * default export that maps service names to definitions.
 *
 * @param topology When given, a definition of another topology is refused too.
 * @throws HandlerModuleError naming the service and the file: the module is missing, throws while
 *   loading (with the place it threw), exports no definition, or the definition of another service.
 */
export async function loadHandlerModule(
  module: string,
  service: string,
  topology?: string,
): Promise<ServiceDefinition> {
  const path = isAbsolute(module) ? module : resolve(module);
  if (/\.(c|m)?tsx?$/.test(path)) {
    const { register } = await import("tsx/esm/api");
    register();
  }
  if (!existsSync(path)) {
    throw new HandlerModuleError(
      `service '${service}' has no handler module: expected ${path}`,
      service,
      path,
    );
  }
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(path).href)) as typeof loaded;
  } catch (error) {
    // What it imports may be missing too (the generated client before `catgac build`): the message
    // names that file, and the place is where the module imports it.
    const at = whereThrown(error, path);
    throw new HandlerModuleError(
      `the handler module of service '${service}' (${path}) threw while loading: ${describe(error)}${at ? `\n    at ${at}` : ""}`,
      service,
      path,
      { cause: error },
    );
  }
  const candidate = loaded.default;
  const byService = isRecord(candidate) && Object.hasOwn(candidate, service) ? candidate[service] : undefined;
  const definition = isDefinition(candidate) ? candidate : isDefinition(byService) ? byService : undefined;
  const fix = `export default ${definerName(service)}({ ... }) from the generated client`;
  if (definition === undefined) {
    throw new HandlerModuleError(
      `'${path}' must export default the definition of service '${service}': ${fix}`,
      service,
      path,
    );
  }
  if (definition.service !== service || (topology !== undefined && definition.topology !== topology)) {
    const theirs =
      topology !== undefined && definition.topology !== topology
        ? `'${definition.service}' of topology '${definition.topology}'`
        : `'${definition.service}'`;
    throw new HandlerModuleError(
      `'${path}' is the handler module of service '${service}' but exports the definition of service ${theirs} (made with ${definerName(definition.service)}): ${fix}`,
      service,
      path,
    );
  }
  return definition;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function isDefinition(value: unknown): value is ServiceDefinition {
  return (
    isRecord(value) &&
    typeof (value as { service?: unknown }).service === "string" &&
    isRecord((value as { handlers?: unknown }).handlers)
  );
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return `${error.name}: ${error.message}`;
}

/**
 * The first place in the stack inside the handler module (`file:line:column`), else the first
 * place outside node's internals and dependencies: where the user looks to fix it.
 */
function whereThrown(error: unknown, path: string): string | undefined {
  const stack = error instanceof Error && typeof error.stack === "string" ? error.stack : "";
  const places = stack
    .split("\n")
    .slice(1)
    .map((line) => /\(?((?:file:\/\/)?\/[^()]+:\d+:\d+)\)?\s*$/.exec(line.trim())?.[1])
    .filter((p): p is string => p !== undefined)
    .map((p) => {
      const [, file = p, position = ""] = /^(.*?)(:\d+:\d+)$/.exec(p) ?? [];
      return `${file.startsWith("file://") ? fileURLToPath(file) : file}${position}`;
    });
  return (
    places.find((p) => p.startsWith(`${path}:`)) ??
    places.find((p) => !p.includes("/node_modules/") && !p.startsWith("node:"))
  );
}
