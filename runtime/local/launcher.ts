/**
 * How the local cluster starts `catgac` and `catga run` as processes of their own.
 *
 * The runtime never imports the compiler (a deployed service carries only the runtime), so `catga up`
 * runs `catgac build` as a separate process. Which files it runs depends on where this module lives:
 *
 * - installed (this file is `dist/runtime/local/launcher.js`): the package's own `bin/catgac.js` and
 *   `bin/catga.js`, with the node that runs `catga up`;
 * - from the repository's source (this file is `runtime/local/launcher.ts`, loaded through tsx, as in
 *   the tests): `node --import tsx` on `compiler/cli/bin.ts` and `runtime/cli/bin-entry.ts`, so a
 *   change in the source is used without a build.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** A command line: the executable and its first arguments. */
export type CommandLine = readonly [string, ...string[]];

/** The command lines of `catgac` and `catga`, as this installation runs them. */
export interface Launchers {
  /** `catgac` (append its arguments). */
  catgac: CommandLine;
  /** `catga` (append its arguments, e.g. `run --wiring …`). */
  catga: CommandLine;
  /** Whether they run from the TypeScript source. */
  fromSource: boolean;
}

/** Resolves the launchers of this installation (see the file comment). */
export function launchers(): Launchers {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    const root = fileURLToPath(new URL("../../", here));
    // An absolute loader URL: `--import tsx` would be resolved from the working directory, which
    // is the user's project and may have no tsx.
    const tsx = import.meta.resolve("tsx");
    const compilerBin = new URL("compiler/cli/bin.ts", `file://${root}`).href;
    return {
      fromSource: true,
      catgac: [
        process.execPath,
        "--import",
        tsx,
        "--input-type=module",
        "--eval",
        `import { runCatgac } from ${JSON.stringify(compilerBin)}; runCatgac(process.argv.slice(1));`,
      ],
      catga: [process.execPath, "--import", tsx, `${root}runtime/cli/bin-entry.ts`],
    };
  }
  const root = fileURLToPath(new URL("../../../", here));
  return {
    fromSource: false,
    catgac: [process.execPath, `${root}bin/catgac.js`],
    catga: [process.execPath, `${root}bin/catga.js`],
  };
}

/** Runs a command to completion, collecting its output. */
export function runToEnd(
  command: CommandLine,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const [exe, ...first] = command;
    const child = spawn(exe, [...first, ...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}
