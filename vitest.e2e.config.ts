import { defineConfig } from "vitest/config"

/**
 * The browser tests (`npm run test:e2e`): the app served on the test database and driven
 * in Chromium (`/usr/bin/chromium`, or `CHROMIUM_PATH`). Not part of `npm test`.
 */
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/e2e/**/*.e2e.ts"],
    globalSetup: ["test/globalSetup.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    reporters: ["default", "json"],
    outputFile: { json: "test-output/vitest-e2e.json" }
  }
})
