/**
 * Basic authentication: the authenticator and its cache in isolation (real bcrypt), and the same
 * rules over the wire through a real HTTPS server. Covers the toolkit's contract (401 +
 * `WWW-Authenticate`, one answer for unknown user and wrong password, `$2a$`/`$2b$`/`$2y$`), the
 * CVE-2022-46146 family of cache-key confusions, the decoy hash's timing, and the bcrypt gate.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BasicAuthCache, BasicAuthenticator, bcryptCost, parseBasicAuthorization, type BasicAuthResult } from '../src/auth/basic.js';
import { createGuard, type Guard } from '../src/guard.js';
import { silentLogger } from '../src/log.js';
import type { WebConfigInput } from '../src/config/schema.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape, type ScrapeResult } from './helpers/client.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
/** The cache's stored digests (private field, read for inspection only). */
const cacheEntries = (cache: BasicAuthCache): string[] => [...(cache as unknown as { entries: Map<string, true> }).entries.keys()];

describe('parseBasicAuthorization', () => {
  it('parses user and password, splitting at the first colon', () => {
    expect(parseBasicAuthorization(`Basic ${b64('alice:secret')}`)).toEqual({ user: 'alice', password: 'secret' });
    expect(parseBasicAuthorization(`Basic ${b64('alice:pa:ss:word')}`)).toEqual({ user: 'alice', password: 'pa:ss:word' });
    expect(parseBasicAuthorization(`Basic ${b64('alice:')}`)).toEqual({ user: 'alice', password: '' });
    expect(parseBasicAuthorization(`Basic ${b64('ünïcödé-用户:pässwörd')}`)).toEqual({ user: 'ünïcödé-用户', password: 'pässwörd' });
  });

  it('accepts the scheme in any case (RFC 7617)', () => {
    expect(parseBasicAuthorization(`basic ${b64('a:b')}`)).toEqual({ user: 'a', password: 'b' });
    expect(parseBasicAuthorization(`BASIC ${b64('a:b')}`)).toEqual({ user: 'a', password: 'b' });
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['scheme only', 'Basic'],
    ['scheme and space', 'Basic '],
    ['not base64', 'Basic !!!not-base64!!!'],
    ['impossible base64 length', 'Basic abcde'],
    ['no colon', `Basic ${b64('justauser')}`],
    ['other scheme', `Bearer ${b64('alice:secret')}`],
    ['digest scheme', 'Digest username="alice"'],
    ['two tokens', `Basic ${b64('a:b')} ${b64('c:d')}`],
  ])('refuses %s', (_name, header) => {
    expect(parseBasicAuthorization(header)).toBeUndefined();
  });
});

describe('BasicAuthenticator (unit, real bcrypt)', () => {
  it('verifies $2a$, $2b$ and $2y$ hashes', async () => {
    const users = new Map<string, string>();
    for (const version of ['2a', '2b', '2y'] as const) {
      const h = await hash(`pw-${version}`, { cost: 4, version });
      expect(h.startsWith(`$${version}$04$`)).toBe(true);
      users.set(`user-${version}`, h);
    }
    const auth = await BasicAuthenticator.create(users, new BasicAuthCache());
    for (const version of ['2a', '2b', '2y']) {
      expect(await auth.verify(`user-${version}`, `pw-${version}`)).toBe('ok');
      expect(await auth.verify(`user-${version}`, `pw-${version}x`)).toBe('wrong_password');
    }
  });

  it('tells ok, wrong_password and unknown_user apart internally', async () => {
    const auth = await BasicAuthenticator.create(new Map([['alice', await hash('secret', { cost: 4 })]]), new BasicAuthCache());
    expect(await auth.verify('alice', 'secret')).toBe('ok');
    expect(await auth.verify('alice', 'Secret')).toBe('wrong_password');
    expect(await auth.verify('alice', '')).toBe('wrong_password');
    expect(await auth.verify('bob', 'secret')).toBe('unknown_user');
    expect(await auth.verify('', '')).toBe('unknown_user');
    expect(auth.userCount).toBe(1);
  });

  it('handles passwords containing ":" and UTF-8 user names and passwords', async () => {
    const users = new Map([
      ['colon', await hash('a:b::c:', { cost: 4 })],
      ['Jürgen-用户-🔒', await hash('pässwörd-密码', { cost: 4 })],
    ]);
    const auth = await BasicAuthenticator.create(users, new BasicAuthCache());
    expect(await auth.verify('colon', 'a:b::c:')).toBe('ok');
    expect(await auth.verify('colon', 'a:b::c')).toBe('wrong_password');
    expect(await auth.verify('Jürgen-用户-🔒', 'pässwörd-密码')).toBe('ok');
    // NFC vs NFD spelling of the same visible name is a different user: no normalisation.
    expect(await auth.verify('Jürgen-用户-🔒'.normalize('NFD'), 'pässwörd-密码')).toBe('unknown_user');
  });

  it('decoy hash has the highest configured cost, also below 10', async () => {
    const low = await BasicAuthenticator.create(new Map([['a', await hash('x', { cost: 5 })]]), new BasicAuthCache());
    const mixed = await BasicAuthenticator.create(
      new Map([
        ['a', await hash('x', { cost: 4 })],
        ['b', await hash('y', { cost: 11 })],
      ]),
      new BasicAuthCache(),
    );
    const decoyOf = (a: BasicAuthenticator) => (a as unknown as { decoy: string }).decoy;
    expect(bcryptCost(decoyOf(low))).toBe(5);
    expect(bcryptCost(decoyOf(mixed))).toBe(11);
  });

  describe('cache (CVE-2022-46146 family)', () => {
    it('binds user, stored hash and password unambiguously (naive concatenations collide)', () => {
      const cache = new BasicAuthCache();
      // user "a" + hash "bY" + password "bc"  vs  user "ab" + hash "Yb" + password "c": both "abYbc".
      const triples: [string, string, string][] = [
        ['a', 'bY', 'bc'],
        ['ab', 'Yb', 'c'],
        ['abY', 'b', 'c'],
        ['a', 'b', 'Ybc'],
        ['', 'abYb', 'c'],
        ['abYbc', '', ''],
      ];
      expect(new Set(triples.map((t) => t.join(''))).size).toBe(1);
      const digests = triples.map(([u, h, p]) => cache.digest(u, h, p));
      expect(new Set(digests).size).toBe(triples.length);
      // Same inputs, same digest (deterministic within one cache).
      expect(cache.digest('a', 'bY', 'bc')).toBe(digests[0]);
      // A different cache (another process/guard) uses another key.
      expect(new BasicAuthCache().digest('a', 'bY', 'bc')).not.toBe(digests[0]);
    });

    it('a cached success never authenticates a colliding (user, hash, password) built from real hashes', async () => {
      // Arrange a naive-key collision with valid bcrypt hashes:
      //   user1 = "a",      password1 = hash2 + "c",  hash1 = bcrypt(password1)
      //   user2 = "a"+hash1, password2 (attacker) = "c",  hash2 = bcrypt("real-password-2")
      // naive key user1+hash1+password1 = "a"+hash1+hash2+"c" = user2+hash2+"c".
      const hash2 = await hash('real-password-2', { cost: 4 });
      const password1 = `${hash2}c`;
      const hash1 = await hash(password1, { cost: 4 });
      const user1 = 'a';
      const user2 = `a${hash1}`;
      expect(user1 + hash1 + password1).toBe(user2 + hash2 + 'c');
      const cache = new BasicAuthCache();
      const auth = await BasicAuthenticator.create(
        new Map([
          [user1, hash1],
          [user2, hash2],
        ]),
        cache,
      );
      expect(await auth.verify(user1, password1)).toBe('ok');
      expect(cache.size).toBe(1);
      expect(await auth.verify(user2, 'c')).toBe('wrong_password');
      // And the reverse direction: user2 logged in does not open user1.
      expect(await auth.verify(user2, 'real-password-2')).toBe('ok');
      expect(await auth.verify(user1, `${hash2}`)).toBe('wrong_password');
      // Shifting characters between user and password is no way in either.
      expect(await auth.verify('', `a${password1}`)).toBe('unknown_user');
      expect(await auth.verify(`a${hash1.slice(0, 10)}`, 'c')).toBe('unknown_user');
    });

    it("a cached success for user A does not authenticate user B with A's password", async () => {
      const cache = new BasicAuthCache();
      const auth = await BasicAuthenticator.create(
        new Map([
          ['alice', await hash('alice-pw', { cost: 4 })],
          ['bob', await hash('bob-pw', { cost: 4 })],
        ]),
        cache,
      );
      expect(await auth.verify('alice', 'alice-pw')).toBe('ok');
      expect(await auth.verify('bob', 'alice-pw')).toBe('wrong_password');
      expect(await auth.verify('carol', 'alice-pw')).toBe('unknown_user');
      expect(await auth.verify('alice', 'bob-pw')).toBe('wrong_password');
    });

    it('a cached success with the same hash under another user name does not carry over', async () => {
      // Two users with the very same stored hash (an operator copy-paste): still two identities.
      const shared = await hash('same-pw', { cost: 4 });
      const cache = new BasicAuthCache();
      const auth = await BasicAuthenticator.create(new Map([['alice', shared]]), cache);
      expect(await auth.verify('alice', 'same-pw')).toBe('ok');
      // "mallory" is not configured: the cached alice entry must not let her in.
      expect(await auth.verify('mallory', 'same-pw')).toBe('unknown_user');
    });

    it("a new hash for user A (a reload sharing the cache) invalidates A's cached success", async () => {
      const cache = new BasicAuthCache();
      const before = await BasicAuthenticator.create(new Map([['alice', await hash('old-pw', { cost: 4 })]]), cache);
      expect(await before.verify('alice', 'old-pw')).toBe('ok');
      expect(cache.size).toBe(1);
      const after = await BasicAuthenticator.create(new Map([['alice', await hash('new-pw', { cost: 4 })]]), cache);
      expect(await after.verify('alice', 'old-pw')).toBe('wrong_password');
      expect(await after.verify('alice', 'new-pw')).toBe('ok');
      // A removed user is not served from the cache either.
      const removed = await BasicAuthenticator.create(new Map([['bob', await hash('x', { cost: 4 })]]), cache);
      expect(await removed.verify('alice', 'new-pw')).toBe('unknown_user');
    });

    it('holds no plaintext: entries are keyed digests without password, user or hash', async () => {
      const password = 'plaintext-password-0123456789';
      const stored = await hash(password, { cost: 4 });
      const cache = new BasicAuthCache();
      const auth = await BasicAuthenticator.create(new Map([['some-user', stored]]), cache);
      expect(await auth.verify('some-user', password)).toBe('ok');
      const entries = cacheEntries(cache);
      expect(entries).toHaveLength(1);
      const [entry] = entries;
      expect(entry).not.toContain(password);
      expect(entry).not.toContain('some-user');
      expect(entry).not.toContain(stored.slice(7));
      // Also not hidden in an encoding of the password.
      const decoded = Buffer.from(entry!, 'base64');
      expect(decoded).toHaveLength(32); // an HMAC-SHA256, nothing more
      expect(decoded.includes(Buffer.from(password))).toBe(false);
      expect(entry).not.toContain(b64(password));
      expect(entry).not.toContain(Buffer.from(password).toString('hex'));
      // Nothing else in the cache object holds the password either.
      expect(JSON.stringify(Object.entries(cache))).not.toContain(password);
    });

    it('never serves a failure as a success (a later right password still works) and evicts the oldest success', async () => {
      const cache = new BasicAuthCache(2);
      const users = new Map([
        ['u1', await hash('p1', { cost: 4 })],
        ['u2', await hash('p2', { cost: 4 })],
        ['u3', await hash('p3', { cost: 4 })],
      ]);
      const auth = await BasicAuthenticator.create(users, cache);
      expect(await auth.verify('u1', 'bad')).toBe('wrong_password');
      expect(await auth.verify('nobody', 'p1')).toBe('unknown_user');
      expect(cache.size).toBe(0);
      for (const i of [1, 2, 3]) expect(await auth.verify(`u${i}`, `p${i}`)).toBe('ok');
      expect(cache.size).toBe(2);
      expect(cache.has(cache.digest('u1', users.get('u1')!, 'p1'))).toBe(false);
      expect(cache.has(cache.digest('u3', users.get('u3')!, 'p3'))).toBe(true);
    });
  });

  it('decoy: an unknown user costs bcrypt time comparable to a wrong password (cost 10)', async () => {
    const auth = await BasicAuthenticator.create(new Map([['known', await hash('right', { cost: 10 })]]), new BasicAuthCache());
    const time = async (user: string, password: string, expected: BasicAuthResult) => {
      const t0 = performance.now();
      expect(await auth.verify(user, password)).toBe(expected);
      return performance.now() - t0;
    };
    await time('known', 'warm-up', 'wrong_password');
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 8; i++) {
      // Interleaved, so background load hits both series alike.
      wrong.push(await time('known', `wrong-${i}`, 'wrong_password'));
      unknown.push(await time(`nobody-${i}`, `whatever-${i}`, 'unknown_user'));
    }
    const ratio = median(unknown) / median(wrong);
    expect(median(wrong)).toBeGreaterThan(5); // really ran bcrypt at cost 10
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });

  it('gate: at most maxConcurrent bcrypt runs, bounded queue, busy beyond; cached success bypasses the gate', async () => {
    const intervals: { start: number; end: number }[] = [];
    const users = new Map([['alice', await hash('alice-pw', { cost: 10 })]]);
    const auth = await BasicAuthenticator.create(users, new BasicAuthCache(), {
      maxConcurrent: 2,
      maxQueued: 2,
      onBcrypt: (seconds) => {
        const end = performance.now();
        intervals.push({ start: end - seconds * 1000, end });
      },
    });
    expect(await auth.verify('alice', 'alice-pw')).toBe('ok'); // cached from now on
    intervals.length = 0;

    const settled: BasicAuthResult[] = [];
    const flood = Array.from({ length: 10 }, (_, i) =>
      auth.verify('alice', `wrong-${i}`).then((r) => {
        settled.push(r);
        return r;
      }),
    );
    // While two bcrypt runs hold the gate and two wait, a cached success is answered at once.
    const t0 = performance.now();
    const cached = await auth.verify('alice', 'alice-pw');
    const cachedMs = performance.now() - t0;
    expect(cached).toBe('ok');
    expect(settled.filter((r) => r !== 'busy')).toEqual([]); // no bcrypt finished yet
    expect(cachedMs).toBeLessThan(50);

    const results = await Promise.all(flood);
    expect(results.filter((r) => r === 'busy')).toHaveLength(6);
    expect(results.filter((r) => r === 'wrong_password')).toHaveLength(4);
    // Busy answers come back without waiting for bcrypt.
    expect(settled.slice(0, 6)).toEqual(Array(6).fill('busy'));
    expect(intervals).toHaveLength(4);
    const eps = 1; // ms of measurement slack between one run's end and the next one's start
    const maxOverlap = Math.max(...intervals.map((a) => intervals.filter((b) => b.start < a.start + eps && b.end > a.start + eps).length));
    expect(maxOverlap).toBeLessThanOrEqual(2);
    expect(maxOverlap).toBeGreaterThanOrEqual(1);

    // Once drained, the gate admits checks again.
    expect(await auth.verify('alice', 'wrong-again')).toBe('wrong_password');
  });
});

describe('basic auth over the wire (HTTPS)', () => {
  let pki: TestPki;
  let guard: Guard;
  let url: string;
  let dir: string;
  const users: Record<string, string> = {};
  const pw = {
    v2a: 'pw-2a',
    v2b: 'pw-2b',
    v2y: 'pw-2y',
    colon: 'pa:ss:wo:rd',
    utf8: 'pässwörd-密码',
  };

  beforeAll(async () => {
    pki = await testPki();
    users.v2a = await hash(pw.v2a, { cost: 4, version: '2a' });
    users.v2b = await hash(pw.v2b, { cost: 4, version: '2b' });
    users.v2y = await hash(pw.v2y, { cost: 4, version: '2y' });
    users.colon = await hash(pw.colon, { cost: 4 });
    users['Jürgen-用户'] = await hash(pw.utf8, { cost: 4 });
    guard = await createGuard({
      config: {
        tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
        basic_auth_users: users,
      } satisfies WebConfigInput,
      source: () => 'up 1\n',
      logger: silentLogger,
      watch: false,
    });
    const [bound] = await guard.listen('127.0.0.1:0');
    url = `https://127.0.0.1:${bound!.port}/metrics`;
    dir = mkdtempSync(join(tmpdir(), 'scrapeguard-auth-'));
  });
  afterAll(async () => {
    await guard?.close(0);
  });

  const get = (options: { auth?: string; authorization?: string } = {}) =>
    scrape(url, {
      ca: pki.ca.certPem,
      ...(options.auth !== undefined ? { auth: options.auth } : {}),
      ...(options.authorization !== undefined ? { headers: { authorization: options.authorization } } : {}),
    });

  const expectChallenge = (r: ScrapeResult) => {
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic realm="metrics"');
    expect(r.body).not.toContain('up 1');
  };

  it.each([
    ['$2a$', 'v2a', 'pw-2a'],
    ['$2b$', 'v2b', 'pw-2b'],
    ['$2y$', 'v2y', 'pw-2y'],
    ['password with colons', 'colon', 'pa:ss:wo:rd'],
    ['UTF-8 user name and password', 'Jürgen-用户', 'pässwörd-密码'],
  ])('right password (%s) → 200', async (_name, user, password) => {
    const r = await get({ auth: `${user}:${password}` });
    expect(r.status).toBe(200);
    expect(r.body).toBe('up 1\n'); // parsed by the exposition pass; unchanged, so sent as written
    expect(r.headers['www-authenticate']).toBeUndefined();
  });

  it.each([
    ['wrong password', { auth: 'v2b:wrong' }],
    ['password of another user', { auth: 'v2b:pw-2a' }],
    ['truncated colon password', { auth: 'colon:pa' }],
    ['unknown user', { auth: 'nobody:pw-2b' }],
    ['empty user and password', { auth: ':' }],
    ['no header', {}],
    ['empty header', { authorization: '' }],
    ['not base64', { authorization: 'Basic %%%not-base64%%%' }],
    ['no colon', { authorization: `Basic ${b64('v2bpw-2b')}` }],
    ['other scheme', { authorization: `Bearer ${b64('v2b:pw-2b')}` }],
    ['scheme only', { authorization: 'Basic' }],
    ['user name in other Unicode normal form', { auth: `${'Jürgen-用户'.normalize('NFD')}:pässwörd-密码` }],
  ])('%s → 401 with the challenge', async (_name, options) => {
    expectChallenge(await get(options));
  });

  it('answers an unknown user exactly like a wrong password', async () => {
    const strip = (r: ScrapeResult) => {
      const { date: _date, ...headers } = r.headers;
      return { status: r.status, headers, body: r.body };
    };
    const wrong = await get({ auth: 'v2b:not-the-password' });
    const unknown = await get({ auth: 'ghost:not-the-password' });
    const missing = await get();
    const malformed = await get({ authorization: 'Basic ???' });
    expectChallenge(wrong);
    expect(strip(unknown)).toEqual(strip(wrong));
    expect(strip(missing)).toEqual(strip(wrong));
    expect(strip(malformed)).toEqual(strip(wrong));
  });

  it('CVE-2022-46146: a colliding user/password pair is refused after the real user logged in', async () => {
    const hash2 = await hash('real-password-2', { cost: 4 });
    const password1 = `${hash2}c`;
    const hash1 = await hash(password1, { cost: 4 });
    const user2 = `a${hash1}`;
    const file = join(dir, 'cve.yml');
    const config = (extra: Record<string, string>) =>
      [
        'tls_server_config:',
        `  cert_file: ${pki.server.certFile}`,
        `  key_file: ${pki.server.keyFile}`,
        'basic_auth_users:',
        ...Object.entries(extra).map(([u, h]) => `  ${JSON.stringify(u)}: ${JSON.stringify(h)}`),
        '',
      ].join('\n');
    writeFileSync(file, config({ a: hash1, [user2]: hash2, b: await hash('b-pw', { cost: 4 }) }));
    const g = await createGuard({ config: file, source: () => 'secret_metric 1\n', logger: silentLogger, watch: false });
    try {
      const [bound] = await g.listen('127.0.0.1:0');
      const u = `https://127.0.0.1:${bound!.port}/metrics`;
      const as = (auth: string) => scrape(u, { ca: pki.ca.certPem, auth });
      expect((await as(`a:${password1}`)).status).toBe(200); // cached now
      expectChallenge(await as(`${user2}:c`));
      expectChallenge(await as(`b:${password1}`)); // A's password for B
      expect((await as(`a:${password1}`)).status).toBe(200);

      // Changing A's hash by reload invalidates the cached success.
      writeFileSync(file, config({ a: await hash('rotated', { cost: 4 }), [user2]: hash2 }));
      expect(await g.reload()).toBe(true);
      expectChallenge(await as(`a:${password1}`));
      expect((await as('a:rotated')).status).toBe(200);
      // And removing a user removes access even with a cached success.
      expect((await as(`${user2}:real-password-2`)).status).toBe(200);
      writeFileSync(file, config({ a: await hash('rotated', { cost: 4 }) }));
      expect(await g.reload()).toBe(true);
      expectChallenge(await as(`${user2}:real-password-2`));
    } finally {
      await g.close(0);
    }
  });

  it('a saturated bcrypt gate answers 429 with Retry-After, while cached users still get 200', async () => {
    const slow = await hash('slow-pw', { cost: 9 });
    const g = await createGuard({
      config: {
        tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
        basic_auth_users: { slow },
        // 100 connections from one address: lift the per-address connection budget (default 32),
        // which is not what this test is about.
        limits: { max_concurrent_bcrypt: 1, max_connections_per_client: 0 },
      },
      source: () => 'up 1\n',
      logger: silentLogger,
      watch: false,
    });
    const agents = Array.from({ length: 100 }, () => new HttpsAgent({ keepAlive: true, maxSockets: 1 }));
    try {
      const [bound] = await g.listen('127.0.0.1:0');
      const u = `https://127.0.0.1:${bound!.port}/metrics`;
      const as = (auth: string, agent?: HttpsAgent) => scrape(u, { ca: pki.ca.certPem, auth, timeoutMs: 20_000, ...(agent ? { agent } : {}) });
      expect((await as('slow:slow-pw')).status).toBe(200);
      // Warm 100 keep-alive connections with the cached credentials (no bcrypt), so the flood
      // below arrives at once instead of trickling in behind TLS handshakes.
      const warm = await Promise.all(agents.map((agent) => as('slow:slow-pw', agent)));
      expect(warm.every((r) => r.status === 200)).toBe(true);
      // 1 running + 8 queued for this address (the fair queue's per-address bound) → the rest are refused with 429.
      let finished = 0;
      const flood = agents.map((agent, i) =>
        as(`slow:wrong-${i}`, agent).then((r) => {
          if (r.status !== 429) finished++;
          return r;
        }),
      );
      await new Promise((r) => setTimeout(r, 20));
      const cached = await as('slow:slow-pw'); // fresh connection, cached success
      expect(cached.status).toBe(200);
      expect(finished).toBeLessThan(60); // answered while the bcrypt queue was still full
      const results = await Promise.all(flood);
      const busy = results.filter((r) => r.status === 429);
      expect(busy.length).toBeGreaterThanOrEqual(10); // 35 when the flood lands at once
      expect(busy[0]!.headers['retry-after']).toBe('1');
      expect(results.every((r) => r.status === 429 || r.status === 401)).toBe(true);
    } finally {
      for (const agent of agents) agent.destroy();
      await g.close(0);
    }
  }, 30_000);
});
