import { availableParallelism } from "node:os"
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    // Separate processes: tests spawn servers and child processes, and use process-wide state.
    pool: "forks",
    fileParallelism: true,
    // The tests mostly wait on PostgreSQL and child processes, not the CPU: run at least two
    // files at once even on a 2-core machine (vitest's default there would be one).
    maxWorkers: Math.max(2, availableParallelism()),
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ["default", "json"],
    outputFile: { json: "test-output/vitest.json" }
  }
})
