/**
 * Type-checks in-memory files with the real compiler, as a strict user project would:
 * `@catga/runtime` maps to the runtime sources, `zod` and `@types/node` resolve from node_modules.
 * Used for the generated TypeScript (test/unit/emit-typescript.test.ts) and the documentation's
 * examples (test/unit/docs-examples.test.ts).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Where in-memory files live for the compiler (never written): under the repository, so node_modules resolve. */
export const virtualDir = (name: string) => join(ROOT, "out", "__typecheck__", name);

/** The compiler's diagnostics for `files` (path → text), formatted; empty when they compile. */
export function typeCheck(files: Map<string, string>): string[] {
  const options: ts.CompilerOptions = {
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noUnusedLocals: true,
    noUnusedParameters: true,
    noImplicitOverride: true,
    noImplicitReturns: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts"],
    types: ["node"],
    skipLibCheck: true,
    noEmit: true,
    paths: { "@catga/runtime": [join(ROOT, "runtime", "index.ts")] },
  };
  const host = ts.createCompilerHost(options, true);
  const { fileExists, readFile, getSourceFile } = host;
  const dirs = new Set([...files.keys()].map((f) => dirname(f)));
  const directoryExists = host.directoryExists?.bind(host);
  host.directoryExists = (d) => dirs.has(d) || (directoryExists?.(d) ?? false);
  host.realpath = (p) => p;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, version, onError, create) => {
    const text = files.get(f);
    return text === undefined
      ? getSourceFile.call(host, f, version, onError, create)
      : ts.createSourceFile(f, text, version, true);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  return diagnostics.map((d) => ts.formatDiagnostic(d, host).trim());
}
