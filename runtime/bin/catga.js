#!/usr/bin/env node
// Thin launcher: the runtime is TypeScript compiled to dist/ by its `npm run build`.
import { runCatga } from "../dist/cli/bin.js";

runCatga(process.argv.slice(2));
