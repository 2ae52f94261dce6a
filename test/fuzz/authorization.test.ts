/**
 * Fuzzing the Authorization header parsers (issue #8 §5): `parseBasicAuthorization`,
 * `parseBearerAuthorization` and `looksLikeJwt` on arbitrary and near-valid header values, and
 * the whole authentication step (basic, bearer and JWT with a local JWK Set) through
 * `guard.handle`, which must answer every value with a 401 and never throw.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { hash } from '@node-rs/bcrypt';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowPropertyTime } from '../helpers/property-runs.js';
import { parseBasicAuthorization } from '../../src/auth/basic.js';
import { looksLikeJwt, parseBearerAuthorization } from '../../src/auth/bearer.js';
import { createGuard, type Guard } from '../../src/index.js';
import { silentLogger } from '../../src/log.js';
import { FUZZ_TIMEOUT_MS, fuzzParameters } from './runs.js';

allowPropertyTime();

const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');
const b64url = (s: string | Uint8Array) => Buffer.from(s).toString('base64url');

/** Header values: arbitrary text, arbitrary bytes as latin1, and near-valid Basic/Bearer/JWT shapes. */
const scheme = fc.constantFrom('Basic', 'basic', 'BASIC', 'Bearer', 'bearer', 'BeArEr', 'Digest', '', 'Basic\t', 'Bearer  ');
const headerValue = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.tuple(scheme, fc.string({ maxLength: 200 })).map(([s, rest]) => `${s} ${rest}`),
  fc.tuple(scheme, fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ unit: 'binary', maxLength: 100 })).map(([s, u, p]) => `${s} ${b64(`${u}:${p}`)}`),
  fc.tuple(scheme, fc.uint8Array({ maxLength: 120 })).map(([s, bytes]) => `${s} ${b64(bytes)}`),
  fc.tuple(scheme, fc.uint8Array({ maxLength: 120 })).map(([s, bytes]) => `${s} ${b64(bytes).replace(/=+$/, '')}`),
  fc
    .tuple(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }), fc.uint8Array({ maxLength: 80 }))
    .map(([h, p, sig]) => `Bearer ${b64url(JSON.stringify(h) ?? 'null')}.${b64url(JSON.stringify(p) ?? 'null')}.${b64url(sig)}`),
  fc
    .tuple(fc.constantFrom('none', 'HS256', 'ES256', 'RS256', 'EdDSA', ''), fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 80 }))
    .map(
      ([alg, kid, sig]) =>
        `Bearer ${b64url(JSON.stringify({ alg, kid, typ: 'JWT' }))}.${b64url(JSON.stringify({ sub: 'x', exp: 9e9, iss: 'https://issuer.example', aud: 'metrics' }))}.${b64url(sig)}`,
    ),
  fc
    .array(fc.constantFrom('a', '.', '-', '_', '=', ' ', '\t', 'eyJ', 'Bearer', 'Basic', ':', '\u0000', '\u00ff', '\ud800'), { maxLength: 60 })
    .map((xs) => xs.join('')),
);

describe('header parsers', () => {
  it(
    'parseBasicAuthorization never throws; what it returns re-encodes to itself and the user has no colon',
    () => {
      fc.assert(
        fc.property(headerValue, (value) => {
          const parsed = parseBasicAuthorization(value);
          if (parsed === undefined) return;
          expect(typeof parsed.user).toBe('string');
          expect(typeof parsed.password).toBe('string');
          expect(parsed.user.includes(':')).toBe(false);
          expect(parseBasicAuthorization(`Basic ${b64(`${parsed.user}:${parsed.password}`)}`)).toEqual(parsed);
        }),
        fuzzParameters(),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'parseBasicAuthorization reads back every (user, password) pair it could have been given',
    () => {
      fc.assert(
        fc.property(
          fc.string({ maxLength: 60 }).filter((u) => !u.includes(':')),
          fc.string({ maxLength: 60 }),
          (user, password) => {
            // Lone surrogates do not survive UTF-8: compare with what the wire can carry.
            const wire = (s: string) => Buffer.from(s, 'utf8').toString('utf8');
            const parsed = parseBasicAuthorization(`Basic ${b64(`${user}:${password}`)}`);
            if (parsed !== undefined) expect(parsed).toEqual({ user: wire(user), password: wire(password) });
          },
        ),
        fuzzParameters(),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'parseBearerAuthorization and looksLikeJwt never throw; a parsed token is one non-empty word',
    () => {
      fc.assert(
        fc.property(headerValue, (value) => {
          const token = parseBearerAuthorization(value);
          if (token === undefined) return;
          expect(token.length).toBeGreaterThan(0);
          expect(/\s/.test(token)).toBe(false);
          expect(typeof looksLikeJwt(token)).toBe('boolean');
        }),
        fuzzParameters(),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe('authentication through guard.handle (basic + bearer + JWT)', () => {
  let guard: Guard;
  const token = 'fuzz-bearer-token-3c0f9a';
  let validJwt = '';

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-fuzz-auth-'));
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
    validJwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://issuer.example')
      .setAudience('metrics')
      .setSubject('p')
      .setExpirationTime('1h')
      .sign(privateKey);
    guard = await createGuard({
      config: {
        basic_auth_users: { prometheus: await hash('right-password', { cost: 4 }) },
        bearer_auth: { tokens: [{ name: 'bearer', token_sha256: createHash('sha256').update(token).digest('hex') }] },
        jwt_auth: { jwks_file: join(dir, 'jwks.json'), issuer: 'https://issuer.example', audience: 'metrics' },
      },
      source: () => 'up 1\n',
      logger: silentLogger,
      watch: false,
    });
  });
  afterAll(() => guard?.close(0));

  it(
    'every fuzzed Authorization value is refused with 401 (or 429 busy), never served, never thrown',
    async () => {
      // Sanity: the three methods are live.
      const ok = async (authorization: string) =>
        (await guard.handle({ method: 'GET', path: '/metrics', headers: { authorization }, remoteAddress: '127.0.0.1' })).status;
      expect(await ok(`Bearer ${token}`)).toBe(200);
      expect(await ok(`Bearer ${validJwt}`)).toBe(200);
      expect(await ok(`Basic ${b64('prometheus:right-password')}`)).toBe(200);
      await fc.assert(
        fc.asyncProperty(headerValue, async (authorization) => {
          const response = await guard.handle({ method: 'GET', path: '/metrics', headers: { authorization }, remoteAddress: '127.0.0.1' });
          expect([401, 429]).toContain(response.status);
        }),
        // bcrypt (the decoy for unknown users) makes this target slower: a tenth of the budget.
        fuzzParameters(0.1),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
