import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// `@catga/runtime` from its source, as tsconfig.json's "catga-source" condition does for tsc: tests
// import runtime files directly, and a second copy from runtime/dist would break `instanceof`.
const runtimeSource = (path: string) => fileURLToPath(new URL(`./runtime/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [{ find: /^@catga\/runtime$/, replacement: runtimeSource("index.ts") }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    // Containers: `npm run test:compose` (vitest.compose.config.ts), after the machine's set-up.
    exclude: ["test/compose/**", "**/node_modules/**"],
    testTimeout: 30_000,
  },
});
