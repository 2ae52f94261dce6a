import { vi } from 'vitest';

/**
 * How many cases a property runs: the number written in the test under `npm test` (CI), a fifth
 * of it (at least 20) under `npm run test:unit`, the loop for every edit. The seed is the same in
 * both tiers (test/setup/seed.ts), so a unit-tier failure replays in the full run and vice versa.
 * @example
 * fc.assert(fc.property(arb, check), { numRuns: propertyRuns(300) });
 */
export function propertyRuns(full: number): number {
  return process.env.SCRAPEGUARD_TEST_TIER === 'unit' ? Math.max(20, Math.ceil(full / 5)) : full;
}

/**
 * Gives the property tests of the calling file 2 minutes each instead of the suite's 30 s: they
 * are CPU-bound with a fixed seed and case count, so their time follows the load of the machine
 * (the full suite runs files in parallel on 2 cores), not a hang; a timeout is not what they test.
 * Call it at the top level of the file, after its imports.
 */
export function allowPropertyTime(): void {
  vi.setConfig({ testTimeout: 120_000 });
}
