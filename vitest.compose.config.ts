import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

// `npm run test:compose`: the emitted compose file run for real (podman), one file at a time.
// Not merged with the base config (mergeConfig would concatenate its include and exclude lists).
export default defineConfig({
  resolve: base.resolve,
  test: {
    include: ["test/compose/**/*.test.ts"],
    testTimeout: 10 * 60_000,
    hookTimeout: 40 * 60_000,
    fileParallelism: false,
  },
});
