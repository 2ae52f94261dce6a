/**
 * The seed of the suite's property tests: fixed, so `npm test` is deterministic and a failure
 * found on one machine replays on any other; `FC_SEED=<n>` picks another (to explore, or to replay
 * a failure fast-check printed together with its `path`).
 */

/** The seed when `FC_SEED` is not set. */
export const DEFAULT_PROPERTY_SEED = 20261203;

export function propertySeed(): number {
  const raw = process.env.FC_SEED;
  if (raw === undefined || raw === '') return DEFAULT_PROPERTY_SEED;
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new TypeError(`FC_SEED must be an integer, got ${JSON.stringify(raw)}`);
  return seed;
}
