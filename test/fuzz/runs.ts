/**
 * Fuzzing budget: `FUZZ_RUNS` cases per target (default 1000, the slice `npm test` runs; `npm run
 * fuzz` sets 100000). A failing case prints fast-check's seed and path so it can be replayed
 * with `FUZZ_SEED=<seed> FUZZ_PATH=<path>`; every crash found becomes a named regression test.
 */
import type { Parameters as FcParameters } from 'fast-check';

export const FUZZ_RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 1000));

/** Per-test timeout: generous per case, at least 60 s. */
export const FUZZ_TIMEOUT_MS = Math.max(60_000, FUZZ_RUNS * 10);

/** fast-check parameters for one target (`fraction` scales the budget for expensive targets). */
export function fuzzParameters<T>(fraction = 1): FcParameters<T> {
  const seed = process.env.FUZZ_SEED;
  const path = process.env.FUZZ_PATH;
  return {
    numRuns: Math.max(1, Math.round(FUZZ_RUNS * fraction)),
    ...(seed !== undefined ? { seed: Number(seed) } : {}),
    ...(path !== undefined ? { path } : {}),
    endOnFailure: true,
  };
}
