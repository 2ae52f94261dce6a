import { defineConfig } from 'vitest/config';

/**
 * Test tiers. `npm test` runs everything; `npm run test:unit` (SCRAPEGUARD_TEST_TIER=unit) is the
 * loop for every edit: no Prometheus/node_exporter binaries, no build, no multi-second attack or
 * fuzz runs. A file belongs to the unit tier unless it is listed here.
 */
const NOT_UNIT = [
  // real Prometheus, promtool, node_exporter binaries
  'test/e2e/**',
  // fuzzing slices and multi-second attack / flood suites
  'test/fuzz/**',
  'test/hostile-*.test.ts',
  'test/credential-attacks.test.ts',
  'test/faults.test.ts',
  'test/connection-budget.test.ts',
  'test/http2-bounds.test.ts',
  'test/flood-fairness.test.ts',
  // run the built package (dist/) as child processes or pack it
  'test/cli.test.ts',
  'test/examples.test.ts',
  'test/lifecycle.test.ts',
  'test/package.test.ts',
  'test/import-cost.test.ts',
];

const unitOnly = process.env.SCRAPEGUARD_TEST_TIER === 'unit';

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // The unit tier also shares each worker's module cache between files (isolate: false): the same
    // tests in about half the time. No test stubs modules, globals or the environment (the one
    // that fakes timers restores them), so sharing changes nothing but the speed; the full run
    // keeps every file in a fresh module graph all the same.
    ...(unitOnly ? { exclude: ['**/node_modules/**', ...NOT_UNIT], isolate: false } : {}),
    // One fixed fast-check seed for every property (FC_SEED overrides): failures replay.
    setupFiles: ['./test/setup/fast-check.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: files run in parallel forks, bounded so TLS-heavy suites do not starve each other.
    pool: 'forks',
    maxWorkers: 2,
  },
});
