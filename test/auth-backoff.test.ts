/**
 * The brute-force counter on its own, with a controlled clock: threshold, doubling up to the cap,
 * clients kept apart, success clearing, forgetting after quiet time, and bounded memory.
 */
import { describe, expect, test } from 'vitest';
import { AuthFailureBackoff } from '../src/core/auth-backoff.js';

const settings = { threshold: 3, baseDelayMs: 1000, maxDelayMs: 8000, forgetAfterMs: 60_000, maxClients: 100 };

describe('AuthFailureBackoff', () => {
  test('free below the threshold, then 1s, 2s, 4s, 8s, 8s', () => {
    const b = new AuthFailureBackoff(settings);
    let t = 0;
    expect([b.fail('a', t), b.fail('a', t)]).toEqual([0, 0]);
    expect(b.check('a', t)).toEqual({ ok: true });
    const delays = [];
    for (let i = 0; i < 5; i++) {
      delays.push(b.fail('a', t));
      expect(b.check('a', t)).toEqual({ ok: false, retryAfterMs: delays[i] });
      t += delays[i]!;
      expect(b.check('a', t)).toEqual({ ok: true });
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000]);
  });

  test('clients are kept apart; a success clears only that client', () => {
    const b = new AuthFailureBackoff(settings);
    for (let i = 0; i < 3; i++) b.fail('attacker', 0);
    b.fail('scraper', 0);
    expect(b.check('attacker', 10).ok).toBe(false);
    expect(b.check('scraper', 10).ok).toBe(true);
    b.succeed('scraper');
    b.fail('scraper', 20);
    b.fail('scraper', 20);
    expect(b.check('scraper', 20).ok).toBe(true); // 2 failures since the success: under the threshold
    b.succeed('attacker');
    expect(b.check('attacker', 30).ok).toBe(true);
  });

  test('a client quiet for forget_after starts over', () => {
    const b = new AuthFailureBackoff(settings);
    for (let i = 0; i < 5; i++) b.fail('a', 0);
    expect(b.fail('a', 60_000)).toBe(0); // forgotten: this is failure 1 again
    expect(b.size).toBe(1);
  });

  test('memory stays bounded under a flood of addresses; expired entries go first', () => {
    const b = new AuthFailureBackoff(settings);
    for (let i = 0; i < 50; i++) b.fail(`old-${i}`, 0);
    for (let i = 0; i < 1000; i++) b.fail(`new-${i}`, 70_000);
    expect(b.size).toBeLessThanOrEqual(100);
    expect(b.check('old-1', 70_000).ok).toBe(true);
    // The most recent failures are still remembered.
    for (let i = 0; i < 2; i++) b.fail('new-999', 70_000);
    expect(b.check('new-999', 70_000).ok).toBe(false);
  });
});
