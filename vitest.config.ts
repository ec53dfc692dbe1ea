import { defineConfig } from 'vitest/config'

// Two projects: fast unit tests with fakes, and integration/e2e tests against the real
// services (mosquitto, two Kafka clusters, SQLite files, the GGUF model) that
// test/global-setup.ts brings up when they are not already running.
export default defineConfig({
  test: {
    pool: 'forks',
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          // Real services on a 2-core box: run files one at a time, allow slow starts.
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
})
