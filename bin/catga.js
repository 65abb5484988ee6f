#!/usr/bin/env node
// Thin launcher: the runtime is TypeScript compiled to dist/ by `npm run build` (run by `npm ci`).
import { runCatga } from "../dist/runtime/cli/bin.js";

runCatga(process.argv.slice(2));
