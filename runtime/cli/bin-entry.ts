/**
 * Runs the runtime's `catga` from the TypeScript source (`node --import tsx runtime/cli/bin-entry.ts`):
 * what the local cluster starts for each replica (`catga run`) when it runs from the repository
 * rather than from an installed package (see tooling/local/launcher.ts).
 */
import { runCatga } from "./bin.js";

runCatga(process.argv.slice(2));
