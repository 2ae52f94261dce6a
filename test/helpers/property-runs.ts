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
