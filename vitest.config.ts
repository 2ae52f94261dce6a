import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // One fixed fast-check seed for every property (FC_SEED overrides): failures replay.
    setupFiles: ['./test/setup/fast-check.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: files run in parallel forks, bounded so TLS-heavy suites do not starve each other.
    pool: 'forks',
    maxWorkers: 2,
  },
});
