#!/usr/bin/env node
// Thin launcher: the compiler is TypeScript compiled to dist/ by `npm run build` (run by `npm ci`).
import { runCatgac } from "../dist/compiler/cli/bin.js";

runCatgac(process.argv.slice(2));
