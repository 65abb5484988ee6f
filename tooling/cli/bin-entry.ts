/**
 * Runs the developer's `catga` from the TypeScript source (`node --import tsx tooling/cli/bin-entry.ts`),
 * as the tests do, so a change in the source is used without a build.
 */
import { runCatgaTooling } from "./bin.js";

runCatgaTooling(process.argv.slice(2));
