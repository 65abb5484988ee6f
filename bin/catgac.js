#!/usr/bin/env node
// Thin launcher: the compiler is TypeScript compiled to dist/ by `npm run build` (run by `npm ci`).
import { runCatgacTooling } from "../dist/tooling/cli/catgac.js";

runCatgacTooling(process.argv.slice(2));
