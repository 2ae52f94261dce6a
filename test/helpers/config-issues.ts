/**
 * The issues a refused config produced, for tests that check each message, key path and line.
 */
import { expect } from 'vitest';
import { ConfigError, type ConfigIssue } from '../../src/errors.js';

/** Awaits a load that must fail with a `ConfigError` and returns its issues. */
export async function issuesOf(promise: Promise<unknown>): Promise<readonly ConfigIssue[]> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the config to be refused').toBeInstanceOf(ConfigError);
  return (err as ConfigError).issues;
}
