/**
 * Rejected basic-auth work kept off the guard (issue #16, deliverable 4): the failure cache (a
 * repeated wrong password from the same source costs no bcrypt run) and the failure pacer (a
 * failing source runs one bcrypt check at a time, then pauses three times its length). Unit tier
 * with real bcrypt, then over real HTTPS with a flood from 127.0.0.2 and a scraper on 127.0.0.1,
 * counting bcrypt runs through the self-metrics. Assertions are about answers and counts; the only
 * time bounds are lower bounds the pacer itself enforces (a busy machine only makes gaps longer).
 */
import { Agent as HttpsAgent } from 'node:https';
import { hash } from '@node-rs/bcrypt';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { BasicAuthCache, BasicAuthenticator, DEFAULT_FAILURE_PACING, FailurePacer, type BasicAuthResult } from '../src/auth/basic.js';
import { createGuard, type Guard } from '../src/guard.js';
import { silentLogger } from '../src/log.js';
import type { WebConfigInput } from '../src/config/schema.js';
import { testPki } from './helpers/pki.js';
import { scrape } from './helpers/client.js';

/** An authenticator over `users` (cost 4) that counts its bcrypt runs and records their intervals. */
async function counted(users: Record<string, string>, options: { failurePacing?: number; cache?: BasicAuthCache; hashes?: Map<string, string> } = {}) {
  const hashes = options.hashes ?? new Map(await Promise.all(Object.entries(users).map(async ([u, p]) => [u, await hash(p, { cost: 4 })] as const)));
  const runs: { start: number; end: number }[] = [];
  const cache = options.cache ?? new BasicAuthCache();
  const auth = await BasicAuthenticator.create(hashes, cache, {
    maxConcurrent: 4,
    ...(options.failurePacing !== undefined ? { failurePacing: options.failurePacing } : {}),
    onBcrypt: (seconds) => {
      const end = performance.now();
      runs.push({ start: end - seconds * 1000, end });
    },
  });
  return { auth, runs, cache, hashes };
}

describe('failure cache (unit, real bcrypt)', () => {
  it('a repeated wrong password from the same source is answered without a bcrypt run, for known and unknown users alike', async () => {
    const { auth, runs } = await counted({ alice: 'alice-pw' });
    for (let i = 0; i < 20; i++) expect(await auth.verify('alice', 'wrong', '127.0.0.2')).toBe('wrong_password');
    for (let i = 0; i < 20; i++) expect(await auth.verify('nobody', 'wrong', '127.0.0.2')).toBe('unknown_user');
    expect(runs).toHaveLength(2); // one per (user, password), then remembered
  });

  it("is keyed by source: another address's identical wrong password still runs bcrypt", async () => {
    const { auth, runs } = await counted({ alice: 'alice-pw' });
    expect(await auth.verify('alice', 'wrong', '127.0.0.2')).toBe('wrong_password');
    expect(await auth.verify('alice', 'wrong', '127.0.0.3')).toBe('wrong_password');
    expect(await auth.verify('alice', 'wrong', '127.0.0.3')).toBe('wrong_password');
    // An IPv6 host is one source per /64, as in the fair queue.
    expect(await auth.verify('alice', 'wrong', '2001:db8::1')).toBe('wrong_password');
    expect(await auth.verify('alice', 'wrong', '2001:db8::2')).toBe('wrong_password');
    expect(runs).toHaveLength(3);
  });

  it('never refuses a right password, and a new hash for the user (a reload sharing the cache) is checked afresh', async () => {
    const cache = new BasicAuthCache();
    const first = await counted({ alice: 'old-pw' }, { cache });
    expect(await first.auth.verify('alice', 'new-pw', '127.0.0.1')).toBe('wrong_password');
    expect(await first.auth.verify('alice', 'old-pw', '127.0.0.1')).toBe('ok');
    // The password is changed to the one that just failed: the remembered failure does not apply.
    const second = await counted({ alice: 'new-pw' }, { cache });
    expect(await second.auth.verify('alice', 'new-pw', '127.0.0.1')).toBe('ok');
    expect(await second.auth.verify('alice', 'old-pw', '127.0.0.1')).toBe('wrong_password');
    // A user added under a name that failed as unknown is checked against its own hash.
    expect(await second.auth.verify('bob', 'bob-pw', '127.0.0.1')).toBe('unknown_user');
    const third = await counted({ alice: 'new-pw', bob: 'bob-pw' }, { cache });
    expect(await third.auth.verify('bob', 'bob-pw', '127.0.0.1')).toBe('ok');
  });

  it('is bounded (least recently seen forgotten first) and holds no plaintext', async () => {
    const cache = new BasicAuthCache(4, 3);
    const { auth, runs } = await counted({ alice: 'alice-pw' }, { cache });
    for (const p of ['guess-a', 'guess-b', 'guess-c', 'guess-d']) expect(await auth.verify('alice', p, '127.0.0.2')).toBe('wrong_password');
    expect(cache.failureCount).toBe(3);
    expect(runs).toHaveLength(4);
    expect(await auth.verify('alice', 'guess-d', '127.0.0.2')).toBe('wrong_password'); // remembered
    expect(runs).toHaveLength(4);
    expect(await auth.verify('alice', 'guess-a', '127.0.0.2')).toBe('wrong_password'); // forgotten: runs again
    expect(runs).toHaveLength(5);
    const failures = [...(cache as unknown as { failures: Map<string, string> }).failures.keys()];
    for (const entry of failures) {
      expect(entry).toMatch(/^[A-Za-z0-9+/]{43}=$/); // a SHA-256 HMAC, base64
      for (const secret of ['guess-', 'alice', '127.0.0.2']) expect(entry).not.toContain(secret);
    }
    expect(cache.size).toBe(0); // no failure ever lands among the successes
  });
});

describe('failure pacer (unit, real bcrypt)', () => {
  it('a failing source runs one check at a time, each after a pause of ratio × the failed run, and every waiting check still gets its answer', async () => {
    const { auth, runs } = await counted({ alice: 'alice-pw' }, { failurePacing: DEFAULT_FAILURE_PACING });
    expect(await auth.verify('alice', 'guess-0', '127.0.0.2')).toBe('wrong_password');
    // Four new guesses at once: they wait their turn (4 = the per-source bound), one more is busy.
    const guesses = Array.from({ length: 5 }, (_, i) => auth.verify('alice', `guess-${i + 1}`, '127.0.0.2'));
    const results = await Promise.all(guesses);
    expect(results.filter((r) => r === 'wrong_password')).toHaveLength(4);
    expect(results.filter((r) => r === 'busy')).toHaveLength(1);
    expect(runs).toHaveLength(5);
    const slack = 1; // ms: timers and performance.now() round differently
    for (let i = 1; i < runs.length; i++) {
      const previous = runs[i - 1]!;
      expect(runs[i]!.start).toBeGreaterThanOrEqual(previous.end - slack); // never two at once
      expect(runs[i]!.start - previous.end).toBeGreaterThanOrEqual(DEFAULT_FAILURE_PACING * (previous.end - previous.start) - slack);
    }
  });

  it('leaves other sources and known-good credentials alone', async () => {
    const { auth } = await counted({ alice: 'alice-pw', bob: 'bob-pw' }, { failurePacing: 1000 });
    expect(await auth.verify('alice', 'alice-pw', '127.0.0.2')).toBe('ok'); // cached from now on
    expect(await auth.verify('alice', 'guess', '127.0.0.2')).toBe('wrong_password'); // 127.0.0.2 now paced for seconds
    // Cached success from the paced source: answered at once, no pacing.
    expect(await auth.verify('alice', 'alice-pw', '127.0.0.2')).toBe('ok');
    // Another address, never failed: its cold-cache check runs at once.
    expect(await auth.verify('bob', 'bob-pw', '127.0.0.1')).toBe('ok');
  });

  it('treats an unknown user like a wrong password (pacing tells nothing about which users exist)', async () => {
    const pacer = new FailurePacer(50);
    const { hashes } = await counted({ alice: 'alice-pw' });
    const paced = await BasicAuthenticator.create(hashes, new BasicAuthCache(), { pacer });
    expect(await paced.verify('nobody', 'x', '127.0.0.2')).toBe('unknown_user');
    expect(await paced.verify('alice', 'y', '127.0.0.3')).toBe('wrong_password');
    expect(pacer.size).toBe(2);
    // Both sources are now held off alike: a further check waits, whichever name it claims …
    const settled: BasicAuthResult[] = [];
    const later = [paced.verify('alice', 'z', '127.0.0.2'), paced.verify('nobody', 'z', '127.0.0.3')].map((p) => p.then((r) => (settled.push(r), r)));
    await Promise.resolve();
    expect(settled).toEqual([]);
    expect(pacer.waiting('127.0.0.2')).toBe(1);
    expect(pacer.waiting('127.0.0.3')).toBe(1);
    // … and then gets the same answer it would have got at once.
    expect(await Promise.all(later)).toEqual(['wrong_password', 'unknown_user']);
  });

  it('a success clears the source; its waiting checks go on unpaced', async () => {
    const pacer = new FailurePacer(1000);
    pacer.release('127.0.0.2', 'clean', 'failed', 1_000); // held off for 1000 s
    const waiting = [pacer.acquire('127.0.0.2'), pacer.acquire('127.0.0.2')];
    expect(waiting.every((w) => w instanceof Promise)).toBe(true);
    pacer.release('127.0.0.2', 'clean', 'ok');
    expect(await Promise.all(waiting.map((w) => Promise.resolve(w)))).toEqual(['clean', 'clean']);
    expect(pacer.size).toBe(0);
    expect(pacer.acquire('127.0.0.2')).toBe('clean');
  });

  it('is bounded: beyond maxSources the least recently failed source is forgotten and its waiters go on', async () => {
    const pacer = new FailurePacer(1000, 4, 3);
    for (const s of ['a', 'b', 'c']) pacer.release(s, 'clean', 'failed', 1_000);
    const waiter = pacer.acquire('a');
    expect(waiter).toBeInstanceOf(Promise);
    pacer.release('d', 'clean', 'failed', 1_000);
    expect(pacer.size).toBe(3);
    expect(await waiter).toBe('clean');
    // Beyond maxWaiting a source's check is refused at once.
    const held = Array.from({ length: 4 }, () => pacer.acquire('b'));
    expect(held.every((w) => w instanceof Promise)).toBe(true);
    expect(pacer.acquire('b')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Over the wire

const PASSWORD = 'attack-test-right-password';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const guards: Guard[] = [];
afterAll(async () => {
  await Promise.all(guards.map((g) => g.close(0)));
});

async function counter(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const values = (await metric.get()).values as { value: number; labels: Record<string, string | number> }[];
  return values.filter((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l)).reduce((a, v) => a + v.value, 0);
}

describe('wrong-password flood over HTTPS with default limits (real bcrypt, cost 10)', () => {
  it('one repeated wrong password from 127.0.0.2 costs a bounded number of bcrypt runs, every attempt answered and counted, while 127.0.0.1 scrapes', async () => {
    const pki = await testPki();
    const registry = new Registry();
    const guard = await createGuard({
      config: {
        tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
        basic_auth_users: { prometheus: await hash(PASSWORD, { cost: 10 }) },
      } satisfies WebConfigInput,
      source: () => 'up 1\n',
      selfMetrics: registry,
      logger: silentLogger,
      watch: false,
    });
    guards.push(guard);
    const [bound] = await guard.listen('127.0.0.1:0');
    const url = `${bound!.url}/metrics`;
    const legitAgent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: pki.ca.certPem, localAddress: '127.0.0.1' });
    const floodAgent = new HttpsAgent({ keepAlive: true, maxSockets: 16, ca: pki.ca.certPem, localAddress: '127.0.0.2' });
    try {
      expect((await scrape(url, { ca: pki.ca.certPem, agent: legitAgent, headers: { authorization: basic('prometheus', PASSWORD) } })).status).toBe(200);
      const runsBefore = await counter(registry, 'scrapeguard_bcrypt_verifications_total');
      const tally: Record<string, number> = {};
      let legitOk = 0;
      const flood = (async () => {
        // 400 attempts, 16 at a time, all with the same wrong password.
        for (let round = 0; round < 25; round++) {
          const answers = await Promise.all(
            Array.from({ length: 16 }, () => scrape(url, { ca: pki.ca.certPem, agent: floodAgent, headers: { authorization: basic('prometheus', 'wrong') } })),
          );
          for (const a of answers) tally[String(a.status ?? a.error)] = (tally[String(a.status ?? a.error)] ?? 0) + 1;
        }
      })();
      const legit = (async () => {
        for (let i = 0; i < 20; i++) {
          const r = await scrape(url, { ca: pki.ca.certPem, agent: legitAgent, headers: { authorization: basic('prometheus', PASSWORD) } });
          if (r.status === 200) legitOk++;
        }
      })();
      await Promise.all([flood, legit]);
      const runs = (await counter(registry, 'scrapeguard_bcrypt_verifications_total')) - runsBefore;
      expect(legitOk).toBe(20);
      expect(Object.keys(tally).every((s) => s === '401' || s === '429')).toBe(true);
      expect((tally['401'] ?? 0) + (tally['429'] ?? 0)).toBe(400);
      // Only guesses that arrived before the first failure was remembered run bcrypt (at most the
      // first round of 16; fewer: the bcrypt queue takes 8 from one address and refuses the rest
      // as busy). Everything after is answered from the failure cache.
      expect(runs).toBeGreaterThanOrEqual(1);
      expect(runs).toBeLessThanOrEqual(16);
      expect(tally['401']).toBeGreaterThanOrEqual(400 - 16);
      // Every answered guess is still counted as one (and would count toward auth_failure_backoff).
      expect(await counter(registry, 'scrapeguard_auth_failures_total', { reason: 'wrong_password' })).toBe(tally['401']);
    } finally {
      legitAgent.destroy();
      floodAgent.destroy();
    }
  });
});
