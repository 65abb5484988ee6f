#!/usr/bin/env node
// Thin launcher: the tooling is TypeScript compiled to dist/ by `npm run build` (run by `npm ci`).
import { runCatgaTooling } from "../dist/tooling/cli/bin.js";

runCatgaTooling(process.argv.slice(2));
