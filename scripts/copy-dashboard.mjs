// The dashboard's page (HTML, one JS module, CSS) is not TypeScript, so tsc does not copy it:
// dist/tooling/dashboard/server.js serves it from the folder beside it.
import { cpSync } from "node:fs";

cpSync("tooling/dashboard/static", "dist/tooling/dashboard/static", { recursive: true });
