/**
 * How the local cluster starts `catga run` for each replica, as a process of its own. Which file it
 * runs depends on where this module lives:
 *
 * - installed (this file is `dist/tooling/local/launcher.js`): the package's own `bin/catga.js`,
 *   with the node that runs `catga up`;
 * - from the repository's source (this file is `tooling/local/launcher.ts`, loaded through tsx, as
 *   in the tests): `node --import tsx runtime/cli/bin-entry.ts`, so a change in the source is used
 *   without a build.
 *
 * The compiler is not started here: the local cluster imports it (./cluster.ts).
 */
import { fileURLToPath } from "node:url";

/** A command line: the executable and its first arguments. */
export type CommandLine = readonly [string, ...string[]];

/** The command line of `catga`, as this installation runs it. */
export interface Launchers {
  /** `catga` (append its arguments, e.g. `run --wiring …`). */
  catga: CommandLine;
  /** Whether it runs from the TypeScript source. */
  fromSource: boolean;
}

/** Resolves the launcher of this installation (see the file comment). */
export function launchers(): Launchers {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    const root = fileURLToPath(new URL("../../", here));
    // An absolute loader URL: `--import tsx` would be resolved from the working directory, which
    // is the user's project and may have no tsx.
    const tsx = import.meta.resolve("tsx");
    return {
      fromSource: true,
      // The runtime's source, as the tooling sees it (tsconfig.json's "catga-source" condition).
      catga: [
        process.execPath,
        "--conditions=catga-source",
        "--import",
        tsx,
        `${root}runtime/cli/bin-entry.ts`,
      ],
    };
  }
  const root = fileURLToPath(new URL("../../../", here));
  return { fromSource: false, catga: [process.execPath, `${root}bin/catga.js`] };
}
