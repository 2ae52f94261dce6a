/**
 * The secret detectors against a corpus of ordinary label values that must never fire
 * (test/fixtures/secrets-corpus/benign.tsv), a positive corpus per detector, and fast-check
 * properties: random benign values never fire, random instances of each secret format always
 * do, and the compiled check's prefilter never hides what a detector would find.
 *
 * The fake secrets are built at test time from a seeded generator rather than stored as literals,
 * so the repository holds nothing a secret scanner would mistake for a leaked credential.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { allowPropertyTime } from './helpers/property-runs.js';
import { CHAR_DIGIT, CHAR_LOWER, CHAR_SPACE, CHAR_SYMBOL, CHAR_UPPER, characterClasses, countClasses, shannonEntropy } from '../src/exposition/entropy.js';
import {
  SECRET_DETECTORS,
  SECRET_DETECTOR_NAMES,
  compileSecretDetection,
  labelNameSuggestsSecret,
  looksRandom,
  maskedPreview,
  type SecretDetector,
} from '../src/exposition/secrets.js';

allowPropertyTime();

const FIXTURES = join(import.meta.dirname, 'fixtures', 'secrets-corpus');
const detectAll = compileSecretDetection('all');

/** Every detector that fires on the pair (not just the first), for precise failure messages. */
function firing(labelName: string, value: string): string[] {
  return SECRET_DETECTORS.filter((d) => d.test(labelName, value)).map((d) => d.name);
}

// ---------------------------------------------------------------------------------------------
// Fake secret material: a small seeded PRNG (mulberry32) so the corpus is the same on every run.
// ---------------------------------------------------------------------------------------------
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const BASE64 = `${ALNUM}+/`;
const BASE64URL = `${ALNUM}-_`;
const HEX_DIGITS = '0123456789abcdef';

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(20261122);
const fake = (alphabet: string, length: number): string => Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
/** A fake AWS-style secret: base64 with all three of upper, lower and digit (as real ones have). */
function fakeAwsSecret(): string {
  for (;;) {
    const s = fake(BASE64, 40);
    if (/[A-Z]/.test(s) && /[a-z]/.test(s) && /\d/.test(s)) return s;
  }
}
const b64url = (text: string): string => Buffer.from(text).toString('base64url');
const fakeJwt = (header: object, payload: object, signed = true): string =>
  `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signed ? fake(BASE64URL, 43) : ''}`;
const pemHeader = (kind: string): string => `-----BEGIN ${kind}-----`;

/** [expected first detector, label name, value] */
const POSITIVES: ReadonlyArray<readonly [string, string, string]> = [
  ['pem_private_key', 'key', `${pemHeader('PRIVATE KEY')}\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC${fake(BASE64, 40)}\n-----END PRIVATE KEY-----`],
  ['pem_private_key', 'config', `${pemHeader('RSA PRIVATE KEY')}\\n${fake(BASE64, 64)}`],
  ['pem_private_key', 'x', `${pemHeader('EC PRIVATE KEY')}${fake(BASE64, 64)}`],
  ['pem_private_key', 'x', `${pemHeader('OPENSSH PRIVATE KEY')} ${fake(BASE64, 70)}`],
  ['pem_private_key', 'x', `${pemHeader('ENCRYPTED PRIVATE KEY')}`],
  ['pem_private_key', 'x', `${pemHeader('PGP PRIVATE KEY BLOCK')}`],
  ['jwt', 'authorization', `Bearer ${fakeJwt({ alg: 'HS256', typ: 'JWT' }, { sub: '1234567890', iat: 1516239022 })}`],
  ['jwt', 'id_token', fakeJwt({ alg: 'RS256', kid: 'k1' }, { iss: 'https://issuer.example', aud: 'scrapeguard' })],
  ['jwt', 'x', fakeJwt({ alg: 'none' }, { sub: 'x' }, false)],
  ['jwt', 'url', `https://app.example.com/callback?id_token=${fakeJwt({ alg: 'ES256' }, { sub: 'u' })}&state=1`],
  ['aws_access_key_id', 'access_key_id', `AKIA${fake(UPPER_DIGITS, 16)}`],
  ['aws_access_key_id', 'x', `creds ASIA${fake(UPPER_DIGITS, 16)} used`],
  ['aws_secret_access_key', 'aws_secret', fakeAwsSecret()],
  ['aws_secret_access_key', 'secret_key', fakeAwsSecret()],
  ['aws_access_key_id', 'x', `AKIA${fake(UPPER_DIGITS, 16)}:${fakeAwsSecret()}`],
  ['aws_secret_access_key', 'env', `aws_creds ${fakeAwsSecret()}`],
  ['aws_secret_access_key', 'access_secret', fakeAwsSecret()],
  ['github_token', 'x', `ghp_${fake(ALNUM, 36)}`],
  ['github_token', 'x', `gho_${fake(ALNUM, 36)}`],
  ['github_token', 'x', `ghu_${fake(ALNUM, 36)}`],
  ['github_token', 'x', `ghs_${fake(ALNUM, 36)}`],
  ['github_token', 'x', `ghr_${fake(ALNUM, 36)}`],
  ['github_token', 'remote', `https://x-access-token:ghs_${fake(ALNUM, 36)}@github.com/org/repo.git`],
  ['github_token', 'x', `github_pat_${fake(ALNUM, 22)}_${fake(ALNUM, 59)}`],
  ['gitlab_token', 'x', `glpat-${fake(`${ALNUM}_-`, 20)}`],
  ['gitlab_token', 'x', `gldt-${fake(ALNUM, 20)}`],
  ['gitlab_token', 'x', `glrt-${fake(ALNUM, 20)}`],
  ['gitlab_token', 'x', `GR1348941${fake(ALNUM, 20)}`],
  ['slack_token', 'x', `xoxb-${fake('0123456789', 12)}-${fake('0123456789', 13)}-${fake(ALNUM, 24)}`],
  ['slack_token', 'x', `xoxp-${fake('0123456789', 12)}-${fake('0123456789', 12)}-${fake(ALNUM, 32)}`],
  ['slack_token', 'x', `xapp-1-A${fake(UPPER_DIGITS, 10)}-${fake('0123456789', 13)}-${fake(HEX_DIGITS, 64)}`],
  ['slack_webhook_url', 'url', `https://hooks.slack.com/services/T${fake(UPPER_DIGITS, 8)}/B${fake(UPPER_DIGITS, 8)}/${fake(ALNUM, 24)}`],
  [
    'slack_webhook_url',
    'url',
    `https://hooks.slack.com/workflows/T${fake(UPPER_DIGITS, 8)}/A${fake(UPPER_DIGITS, 8)}/${fake('0123456789', 18)}/${fake(ALNUM, 24)}`,
  ],
  ['stripe_key', 'x', `sk_live_${fake(ALNUM, 24)}`],
  ['stripe_key', 'x', `rk_live_${fake(ALNUM, 24)}`],
  ['stripe_key', 'x', `sk_test_${fake(ALNUM, 24)}`],
  ['stripe_key', 'x', `rk_test_${fake(ALNUM, 99)}`],
  ['google_api_key', 'x', `AIza${fake(`${ALNUM}_-`, 35)}`],
  ['google_api_key', 'url', `https://maps.googleapis.com/maps/api/geocode/json?address=x&key=AIza${fake(ALNUM, 35)}`],
  ['url_credentials', 'dsn', 'postgres://app:hunter2@db.internal:5432/app'],
  ['url_credentials', 'url', 'https://admin:Tr0ub4dor&3@example.com/admin'],
  ['url_credentials', 'url', 'redis://:s3cr3t@cache:6379/0'],
  ['url_credentials', 'url', 'mongodb+srv://svc:pa:ss@cluster0.example.net/db'],
  ['url_credentials', 'url', 'amqp://guest:guest@rabbitmq:5672/'],
  ['url_credentials', 'cmdline', '/usr/bin/app --db=mysql://root:root123@127.0.0.1:3306/app'],
  ['url_credentials', 'dsn', 'jdbc:oracle:thin:scott/tiger@db.example.com:1521:orcl'],
  ['credential_pair', 'cmdline', '/usr/bin/app --password=hunter2 --port=80'],
  ['credential_pair', 'cmdline', 'java -Djavax.net.ssl.keyStorePassword=changeit -jar app.jar'],
  ['credential_pair', 'conn', 'Server=db;Database=app;User Id=sa;Password=Secr3t!;'],
  ['credential_pair', 'conn', 'Driver={ODBC};Server=db;Uid=sa;Pwd=Secr3t!;'],
  ['credential_pair', 'dsn', 'host=db port=5432 user=app password=hunter2 sslmode=require'],
  ['credential_pair', 'url', '/api/v1/export?format=csv&token=abc123'],
  ['credential_pair', 'url', 'https://example.com/hook?api_key=k-12345'],
  ['credential_pair', 'json', '{"user":"app","password":"hunter2"}'],
  ['credential_pair', 'json', `{'client_secret': 'a1b2c3'}`],
  ['credential_pair', 'env', 'DB_PASSWD=letmein'],
  ['credential_pair', 'env', 'apikey=12345'],
  ['credential_pair', 'x', 'ACCESS_KEY = abc'],
  ['credential_pair', 'x', 'secret:opensesame'],
  ['credential_pair', 'x', 'passphrase=correct-horse-battery-staple'],
  ['credential_pair', 'x', 'PWD=hunter2'],
  ['credential_pair', 'url', `https://acct.blob.core.windows.net/c/b.txt?sv=2022-11-02&se=2026-01-01&sp=r&sig=${fake(ALNUM, 43)}%3D`],
  ['credential_pair', 'url', `https://bucket.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=${fake(HEX_DIGITS, 64)}`],
  ['credential_pair', 'cookie_header', `JSESSIONID=${fake(HEX_DIGITS, 32)}; Path=/`],
  ['authorization_header', 'authorization', `Bearer ${fake(ALNUM, 32)}`],
  ['authorization_header', 'header', `Basic ${Buffer.from('prometheus:s3cr3t-pa55').toString('base64')}`],
  ['authorization_header', 'header', `Token ${fake(HEX_DIGITS, 40)}`],
  ['high_entropy_secret', 'password', 'Tr0ub4dor-and-3x'],
  ['high_entropy_secret', 'db_password', fake(ALNUM, 24)],
  ['high_entropy_secret', 'api_key', fake(HEX_DIGITS, 32)],
  ['high_entropy_secret', 'x-api-key', fake(ALNUM, 40)],
  ['high_entropy_secret', 'sessionToken', fake(BASE64URL, 43)],
  ['high_entropy_secret', 'session_id', fake(HEX_DIGITS, 64)],
  ['high_entropy_secret', 'secret_id', fake(ALNUM, 20)],
  ['high_entropy_secret', 'cookie', `s%3A${fake(ALNUM, 32)}.${fake(BASE64, 43)}`],
  ['high_entropy_secret', 'signature', fake(BASE64, 44)],
  ['high_entropy_secret', 'key', fake(ALNUM, 16)],
  ['high_entropy_secret', 'hmac_key', fake(HEX_DIGITS, 64)],
  ['high_entropy_secret', 'totp', fake('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 32)],
];

function readBenign(): Array<[string, string, number]> {
  const rows: Array<[string, string, number]> = [];
  readFileSync(join(FIXTURES, 'benign.tsv'), 'utf8')
    .split('\n')
    .forEach((line, index) => {
      if (line.trim() === '' || line.startsWith('#')) return;
      const tab = line.indexOf('\t');
      if (tab < 0) throw new Error(`benign.tsv:${index + 1}: no tab`);
      rows.push([line.slice(0, tab), line.slice(tab + 1), index + 1]);
    });
  return rows;
}

describe('detector catalogue', () => {
  it('keeps the API the exposition pipeline and scan code against', () => {
    expectTypeOf<SecretDetector>().toEqualTypeOf<{
      readonly name: string;
      readonly description: string;
      test(labelName: string, value: string): boolean;
    }>();
    expectTypeOf(SECRET_DETECTORS).toEqualTypeOf<readonly SecretDetector[]>();
    expectTypeOf(compileSecretDetection).toEqualTypeOf<(enabled: readonly string[] | 'all') => (labelName: string, value: string) => string | undefined>();
    expectTypeOf(maskedPreview).toEqualTypeOf<(value: string) => string>();
  });

  it('names are unique snake_case, descriptions one line, and the order is the documented one', () => {
    expect(SECRET_DETECTORS.length).toBeGreaterThanOrEqual(14);
    expect(new Set(SECRET_DETECTOR_NAMES).size).toBe(SECRET_DETECTOR_NAMES.length);
    for (const d of SECRET_DETECTORS) {
      expect(d.name).toMatch(/^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/);
      expect(d.description.length).toBeGreaterThan(10);
      expect(d.description).not.toMatch(/\n/);
    }
    expect(SECRET_DETECTORS.map((d) => d.name)).toEqual(SECRET_DETECTOR_NAMES);
    expect(SECRET_DETECTOR_NAMES.at(-1)).toBe('high_entropy_secret');
  });

  it('is frozen: a caller cannot swap a detector for everyone', () => {
    expect(Object.isFrozen(SECRET_DETECTORS)).toBe(true);
    expect(Object.isFrozen(SECRET_DETECTORS[0])).toBe(true);
  });

  it('docs/secret-detectors.md has a table row for exactly the detectors', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'secret-detectors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(rows).toEqual(SECRET_DETECTOR_NAMES);
  });
});

describe('compileSecretDetection', () => {
  it('rejects an unknown name with a TypeError naming it and listing the valid ones', () => {
    expect(() => compileSecretDetection(['jwt', 'bogus_detector'])).toThrow(TypeError);
    expect(() => compileSecretDetection(['bogus_detector'])).toThrow(/"bogus_detector".*valid detectors: pem_private_key, jwt, .*high_entropy_secret/);
    expect(() => compileSecretDetection([42 as unknown as string])).toThrow(/unknown secret detector 42/);
    expect(() => compileSecretDetection('some' as 'all')).toThrow(TypeError);
  });

  it('with no detectors enabled never fires', () => {
    const none = compileSecretDetection([]);
    for (const [, label, value] of POSITIVES) expect(none(label, value)).toBeUndefined();
  });

  it('fires only the enabled detectors and reports them in catalogue order, not argument order', () => {
    const value = `token=ghp_${fake(ALNUM, 36)}`;
    expect(detectAll('x', value)).toBe('github_token');
    expect(compileSecretDetection(['credential_pair', 'github_token'])('x', value)).toBe('github_token');
    expect(compileSecretDetection(['credential_pair'])('x', value)).toBe('credential_pair');
    expect(compileSecretDetection(['jwt', 'pem_private_key'])('x', value)).toBeUndefined();
  });

  it('switching a detector off leaves the others working (each detector is independent)', () => {
    for (const name of SECRET_DETECTOR_NAMES) {
      const without = compileSecretDetection(SECRET_DETECTOR_NAMES.filter((n) => n !== name));
      for (const [expected, label, value] of POSITIVES) {
        if (expected === name) continue;
        const others = firing(label, value).filter((n) => n !== name);
        expect(without(label, value), `${name} off, ${expected} on ${value}`).toBe(others[0]);
      }
    }
  });
});

describe('positive corpus', () => {
  it.each(POSITIVES.map(([name, label, value]) => ({ name, label, value })))('$name fires on $label', ({ name, label, value }) => {
    expect(detectAll(label, value)).toBe(name);
    // The detector alone, through the compiled path (its prefilter marker must admit the value).
    expect(compileSecretDetection([name])(label, value)).toBe(name);
    expect(SECRET_DETECTORS.find((d) => d.name === name)!.test(label, value)).toBe(true);
  });

  it('covers every detector', () => {
    expect(new Set(POSITIVES.map(([name]) => name))).toEqual(new Set(SECRET_DETECTOR_NAMES));
  });
});

describe('benign corpus (test/fixtures/secrets-corpus/benign.tsv)', () => {
  const rows = readBenign();
  it('holds a broad corpus', () => {
    expect(rows.length).toBeGreaterThan(150);
  });
  it('fires no detector on any ordinary label value', () => {
    const fired = rows
      .map(([label, value, line]) => ({ line, label, value, detectors: firing(label, value), compiled: detectAll(label, value) }))
      .filter((r) => r.detectors.length > 0 || r.compiled !== undefined);
    expect(fired).toEqual([]);
  });
});

describe('near misses that must not fire', () => {
  it.each([
    ['url', 'postgres://app:****@db/app', 'masked URL password'],
    ['url', 'postgres://app:@db/app', 'empty URL password'],
    ['url', 'redis://:${REDIS_PASSWORD}@cache:6379', 'templated URL password'],
    ['cmdline', '--password=', 'empty value'],
    ['cmdline', '--password=[REDACTED]', "the pass's own mask"],
    ['cmdline', 'password=%s', 'format verb'],
    ['cmdline', 'password={{ .Password }}', 'Go template'],
    ['cmdline', '--password-file=/run/secrets/db', '*_file flag'],
    ['x', 'use_password=true', 'flag value'],
    ['x', 'k8s:secret:my-secret', 'colon path segment'],
    ['x', 'token://broker', 'URL scheme, not a pair'],
    ['x', 'ghp_tooShort123', 'GitHub prefix, wrong length'],
    ['x', `ghp_${'a'.repeat(36)}x_`, 'GitHub-shaped inside a longer identifier'],
    ['x', `pk_live_${'A1b2'.repeat(6)}`, 'Stripe publishable key (public by design)'],
    ['x', `AKIA${'A'.repeat(15)}`, 'AWS key id one character short'],
    ['x', `xAKIA${'A1'.repeat(8)}`, 'AWS key id inside a word'],
    ['x', `eyJ${'a'.repeat(10)}.eyJ.abc`, 'JWT shape whose header is not JSON'],
    ['x', `${b64url('{"typ":"JWT"}')}.${b64url('{}')}.sig`, 'JOSE-looking header without alg'],
    ['x', `AIza${'B'.repeat(34)}`, 'Google key one character short'],
    ['x', fakeAwsSecret(), 'AWS-secret shape without any context'],
    ['commit', 'e9ceff7a4c5d2b1f0e8d7c6b5a4f3e2d1c0b9a8f', '40 hex: a git SHA, not an AWS secret'],
    ['secret', 'e9ceff7a4c5d2b1f0e8d7c6b5a4f3e2', '31 hex in a secret label (a truncated hash, not an API key)'],
    ['password_hash_algorithm', 'bcrypt', 'about-word last'],
    ['description', 'Basic authentication for the admin endpoint', 'prose'],
    ['slack', 'https://hooks.slack.com/services/', 'webhook URL without a path'],
    ['x', 'xoxo-hugs-and-kisses', 'Slack prefix without the numeric ids'],
    ['x', 'sk_test_integration', 'Stripe prefix with a lower-case name'],
    ['suite', 'rk_live_dashboards', 'Stripe prefix with a lower-case name'],
  ])('%s=%j (%s)', (label, value) => {
    expect(firing(label, value)).toEqual([]);
    expect(detectAll(label, value)).toBeUndefined();
  });
});

describe('labelNameSuggestsSecret', () => {
  it.each([
    'password',
    'db_password',
    'DB_PASSWORD',
    'passwd',
    'pwd',
    'secret',
    'client_secret',
    'clientSecret',
    'token',
    'access_token',
    'sessionToken',
    'api_key',
    'apikey',
    'apiKey',
    'APIKey',
    'x-api-key',
    'key',
    'signing_key',
    'credential',
    'credentials',
    'auth',
    'authorization',
    'private',
    'session',
    'session_id',
    'secret_id',
    'cookie',
    'signature',
    'bearer',
    'jwt',
    'hmac_key',
  ])('%s suggests a secret', (name) => expect(labelNameSuggestsSecret(name)).toBe(true));

  it.each([
    'monkey',
    'keyspace',
    'key_space',
    'tokenizer_version',
    'tokenizer',
    'author',
    'authority',
    'passenger',
    'bypass_cache',
    'token_type',
    'password_length',
    'secret_name',
    'api_key_id',
    'key_id',
    'auth_method',
    'cookie_name',
    'private_ip',
    'cache_key',
    'partition_key',
    'routing_key',
    'public_key',
    'publishable_key',
    'signature_algorithm',
    'session_state',
    'le',
    'quantile',
    'instance',
    'job',
    '',
    '__name__',
  ])('%s does not', (name) => expect(labelNameSuggestsSecret(name)).toBe(false));

  it('answers the same for the same name (cache) across many distinct names', () => {
    for (let i = 0; i < 10_000; i++) expect(labelNameSuggestsSecret(`label_${i}`)).toBe(false);
    expect(labelNameSuggestsSecret('db_password')).toBe(true);
  });
});

describe('maskedPreview', () => {
  it('shows nothing of short values, two characters of medium and four of long ones', () => {
    expect(maskedPreview('hunter2')).toBe('…(7 chars)');
    expect(maskedPreview('')).toBe('…(0 chars)');
    expect(maskedPreview('abcdefghijklmnop')).toBe('ab…(16 chars)');
    expect(maskedPreview(`ghp_${'a'.repeat(36)}`)).toBe('ghp_…(40 chars)');
  });
  it('counts code points and never prints control characters', () => {
    expect(maskedPreview('🔑'.repeat(30))).toBe(`${'🔑'.repeat(4)}…(30 chars)`);
    expect(maskedPreview(`\n\u0000ab${'z'.repeat(30)}`)).toBe('??ab…(34 chars)');
  });
  it('never reveals more than four characters of any value (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (value) => {
        const preview = maskedPreview(value);
        const head = preview.slice(0, preview.lastIndexOf('…('));
        const n = Array.from(value).length;
        expect(Array.from(head).length).toBeLessThanOrEqual(n < 12 ? 0 : 4);
        expect(preview.endsWith(`…(${n} chars)`)).toBe(true);
      }),
    );
  });
});

describe('entropy helpers', () => {
  it('computes Shannon entropy in bits per character', () => {
    expect(shannonEntropy('')).toBe(0);
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abcd')).toBeCloseTo(2, 10);
    expect(shannonEntropy('aabb')).toBeCloseTo(1, 10);
    expect(shannonEntropy('0123456789abcdef')).toBeCloseTo(4, 10);
    // non-ASCII counts code points
    expect(shannonEntropy('ééüü')).toBeCloseTo(1, 10);
    expect(shannonEntropy('🔑🔒')).toBeCloseTo(1, 10);
  });
  it('leaves no state behind between calls (the ASCII table is reused)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const first = shannonEntropy(b);
        shannonEntropy(a);
        expect(shannonEntropy(b)).toBe(first);
      }),
    );
  });
  it('classifies characters', () => {
    expect(characterClasses('aZ9')).toBe(CHAR_LOWER | CHAR_UPPER | CHAR_DIGIT);
    expect(characterClasses('a b')).toBe(CHAR_LOWER | CHAR_SPACE);
    expect(characterClasses('é-')).toBe(CHAR_SYMBOL);
    expect(countClasses(characterClasses('aZ9 -'))).toBe(5);
  });
  it('looksRandom needs length, mix and entropy', () => {
    expect(looksRandom(fake(ALNUM, 24))).toBe(true);
    expect(looksRandom(fake(ALNUM, 15))).toBe(false);
    expect(looksRandom('aaaaaaaaaaaaaaaaaaaa1')).toBe(false);
    expect(looksRandom(fake(HEX_DIGITS, 31))).toBe(false);
    expect(looksRandom(`${fake(ALNUM, 12)} ${fake(ALNUM, 12)}`)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------
const chars = (alphabet: string, min: number, max = min) => fc.string({ unit: fc.constantFrom(...alphabet.split('')), minLength: min, maxLength: max });
const hex = (n: number) => chars(HEX_DIGITS, n);
const lowerWord = chars('abcdefghijklmnopqrstuvwxyz', 2, 12);
const nat = (max: number) => fc.integer({ min: 0, max }).map(String);

/** Generators of ordinary label values, by kind. */
const BENIGN: Record<string, fc.Arbitrary<string>> = {
  semver: fc
    .tuple(nat(40), nat(99), nat(999), fc.option(fc.constantFrom('-rc.1', '-alpha.2', '+build.7', '+ds'), { nil: '' }), fc.boolean())
    .map(([a, b, c, suffix, v]) => `${v ? 'v' : ''}${a}.${b}.${c}${suffix}`),
  goVersion: fc.tuple(nat(1), nat(25), nat(12)).map(([a, b, c]) => `go${a}.${b}.${c}`),
  kernel: fc
    .tuple(nat(6), nat(19), nat(200), fc.constantFrom('generic', 'amd64', 'cloud-amd64', 'el8_9.x86_64'))
    .map(([a, b, c, d]) => `${a}.${b}.0-${c}-${d}`),
  path: fc.array(fc.stringMatching(/^[a-z0-9_.-]{1,16}$/), { minLength: 1, maxLength: 8 }).map((parts) => `/${parts.join('/')}`),
  hostname: fc.domain(),
  ipv4: fc.ipV4(),
  ipv6: fc.ipV6(),
  uuid: fc.uuid(),
  digest: hex(64).map((h) => `sha256:${h}`),
  imageRef: fc
    .tuple(
      fc.domain(),
      lowerWord,
      lowerWord,
      fc.oneof(
        nat(30).map((n) => `v1.${n}`),
        hex(64).map((h) => `@sha256:${h}`),
      ),
    )
    .map(([registry, org, name, tag]) => (tag.startsWith('@') ? `${registry}/${org}/${name}${tag}` : `${registry}/${org}/${name}:${tag}`)),
  podName: fc.tuple(lowerWord, chars('bcdfghjklmnpqrstvwxz2456789', 9, 10), chars('bcdfghjklmnpqrstvwxz2456789', 5)).map(([a, b, c]) => `${a}-${b}-${c}`),
  containerId: hex(64),
  gitSha: fc.oneof(hex(40), hex(7)),
  bucket: fc.constantFrom('0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf', '1e-05'),
  quantile: fc.double({ min: 0, max: 1, noNaN: true }).map(String),
  number: fc.oneof(fc.integer().map(String), fc.double({ noNaN: true }).map(String)),
  url: fc.webUrl({ withQueryParameters: true, withFragments: true }),
  email: fc.emailAddress(),
  cron: fc
    .tuple(
      fc.constantFrom('*', '*/5', '0', '15'),
      fc.constantFrom('*', '3', '0-6'),
      fc.constantFrom('*', '1'),
      fc.constantFrom('*', '1-12'),
      fc.constantFrom('*', '1-5'),
    )
    .map((p) => p.join(' ')),
  mountOptions: fc
    .subarray(['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'size=65536k', 'mode=755'], { minLength: 1 })
    .map((o) => o.join(',')),
  words: fc.array(lowerWord, { minLength: 1, maxLength: 6 }).map((w) => w.join(' ')),
  sql: fc.tuple(lowerWord, lowerWord, lowerWord).map(([t, a, b]) => `SELECT ${a}, ${b} FROM ${t} WHERE ${a} = ? AND ${b} IN (?, ?)`),
};

/** Names exporters use for ordinary labels. */
const ORDINARY_NAMES = fc.constantFrom(
  'path',
  'version',
  'instance',
  'pod',
  'image',
  'le',
  'quantile',
  'url',
  'device',
  'job',
  'commit',
  'email',
  'id',
  'query',
  'options',
);
/** Names that suggest a secret, so the name-gated detectors are in play. */
const SECRET_NAMES = fc.constantFrom('password', 'token', 'secret', 'api_key', 'session_id', 'auth', 'key', 'credential', 'cookie', 'signature');

/**
 * The documented case where a benign-looking value does fire: 32+ hex characters (git SHAs,
 * container ids) in a label whose name suggests a secret — hex API keys look exactly like that.
 */
const documentedException = (name: string, value: string): boolean => labelNameSuggestsSecret(name) && /^[0-9a-f]{32,}$/i.test(value);

describe('properties: benign values', () => {
  for (const [kind, gen] of Object.entries(BENIGN)) {
    it(`${kind} never fires, in ordinary and in secret-named labels`, () => {
      fc.assert(
        fc.property(fc.oneof(ORDINARY_NAMES, SECRET_NAMES), gen, (name, value) => {
          if (documentedException(name, value)) {
            expect(detectAll(name, value)).toBe('high_entropy_secret');
            return;
          }
          expect(firing(name, value)).toEqual([]);
        }),
        { numRuns: 300 },
      );
    });
  }
});

/** Placeholders and flags the pair and URL detectors skip, as docs/secret-detectors.md lists them. */
const documentedPlaceholder = (v: string): boolean =>
  /^(?:[*xX•#._?-]+|\$[A-Za-z_]\w*|\$[({].*|\{\{.*|%[A-Za-z]|<[^<>]*>)$/.test(v) ||
  /^\[?(?:redacted|masked|hidden|filtered|removed|omitted|sanitized|scrubbed|none|null|nil|undefined|empty|unset|true|false|yes|no|on|off|enabled|disabled|required|optional|n\/a)\]?$/i.test(
    v,
  );

/** Generators of each secret format. [detector, label-name generator, value generator] */
const SECRET_FORMATS: ReadonlyArray<readonly [string, fc.Arbitrary<string>, fc.Arbitrary<string>]> = [
  [
    'pem_private_key',
    ORDINARY_NAMES,
    fc
      .tuple(fc.constantFrom('', 'RSA ', 'EC ', 'DSA ', 'OPENSSH ', 'ENCRYPTED '), chars(BASE64, 0, 80))
      .map(([k, body]) => `-----BEGIN ${k}PRIVATE KEY-----\n${body}`),
  ],
  [
    'jwt',
    ORDINARY_NAMES,
    fc
      .tuple(fc.constantFrom('HS256', 'RS256', 'ES384', 'EdDSA', 'none'), fc.dictionary(lowerWord, fc.string()), chars(BASE64URL, 0, 86))
      .map(([alg, claims, sig]) => `${b64url(JSON.stringify({ alg, typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.${sig}`),
  ],
  ['aws_access_key_id', ORDINARY_NAMES, fc.tuple(fc.constantFrom('AKIA', 'ASIA'), chars(UPPER_DIGITS, 16)).map(([p, s]) => p + s)],
  [
    'aws_secret_access_key',
    fc.constantFrom('aws_secret', 'secret_access_key', 'secret'),
    chars(BASE64, 40).filter((s) => /[A-Z]/.test(s) && /[a-z]/.test(s) && /\d/.test(s)),
  ],
  [
    'github_token',
    ORDINARY_NAMES,
    fc.oneof(
      fc.tuple(fc.constantFrom('ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'), chars(ALNUM, 36)).map(([p, s]) => p + s),
      fc.tuple(chars(ALNUM, 22), chars(ALNUM, 59)).map(([a, b]) => `github_pat_${a}_${b}`),
    ),
  ],
  ['gitlab_token', ORDINARY_NAMES, chars(`${ALNUM}_-`, 20, 40).map((s) => `glpat-${s}`)],
  [
    'slack_token',
    ORDINARY_NAMES,
    fc.tuple(fc.constantFrom('a', 'b', 'p', 'o', 's', 'r'), chars('0123456789', 10, 13), chars(ALNUM, 24, 32)).map(([t, n, s]) => `xox${t}-${n}-${s}`),
  ],
  [
    'slack_webhook_url',
    ORDINARY_NAMES,
    fc.tuple(chars(UPPER_DIGITS, 8, 10), chars(UPPER_DIGITS, 8, 10), chars(ALNUM, 24)).map(([t, b, s]) => `https://hooks.slack.com/services/T${t}/B${b}/${s}`),
  ],
  ['stripe_key', ORDINARY_NAMES, fc.tuple(fc.constantFrom('sk_live_', 'rk_live_', 'sk_test_', 'rk_test_'), chars(ALNUM, 24, 99)).map(([p, s]) => p + s)],
  ['google_api_key', ORDINARY_NAMES, chars(`${ALNUM}_-`, 35).map((s) => `AIza${s}`)],
  [
    'url_credentials',
    ORDINARY_NAMES,
    fc
      .tuple(
        fc.constantFrom('postgres', 'postgresql', 'mysql', 'redis', 'amqp', 'https', 'mongodb+srv'),
        chars(ALNUM, 0, 12),
        chars(`${ALNUM}!$&'()*+,;=:%~`, 1, 30),
        fc.domain(),
      )
      .filter(([, , pw]) => !documentedPlaceholder(pw))
      .map(([s, u, p, h]) => `${s}://${u}:${p}@${h}/db`),
  ],
  [
    'credential_pair',
    ORDINARY_NAMES,
    fc
      .tuple(
        fc.constantFrom('--', '?', '&', ';', ' ', ''),
        fc.constantFrom(
          'password',
          'Password',
          'PASSWD',
          'pwd',
          'secret',
          'client_secret',
          'token',
          'access_token',
          'api_key',
          'apikey',
          'ACCESS_KEY',
          'db_password',
        ),
        fc.constantFrom('=', ' = '),
        chars(ALNUM, 1, 30),
      )
      .filter(([, , , v]) => !documentedPlaceholder(v))
      .map(([pre, k, sep, v]) => `app${pre === '' ? ' ' : pre}${k}${sep}${v}`),
  ],
  [
    'authorization_header',
    ORDINARY_NAMES,
    fc
      .tuple(fc.constantFrom('Bearer', 'bearer', 'Basic', 'Token'), chars(`${ALNUM}._~+/-`, 20, 64))
      .filter(
        ([, t]) =>
          [/[a-z]/, /[A-Z]/, /\d/].filter((re) => re.test(t)).length >= 2 &&
          /^[A-Za-z0-9]/.test(t) &&
          !/^(?:eyJ|gh[pousr]_|xox|AKIA|ASIA|AIza|glpat-|[sr]k_(?:live|test)_)/.test(t),
      )
      .map(([scheme, t]) => `${scheme} ${t}`),
  ],
  ['high_entropy_secret', SECRET_NAMES, chars(ALNUM, 20, 64).filter((s) => looksRandom(s))],
];

describe('properties: secret formats', () => {
  for (const [name, names, gen] of SECRET_FORMATS) {
    it(`${name}: every generated instance fires, alone and embedded in text`, () => {
      const only = compileSecretDetection([name]);
      fc.assert(
        fc.property(names, gen, fc.constantFrom('', 'value: ', 'x ', '"'), (label, secret, before) => {
          expect(only(label, secret)).toBe(name);
          expect(detectAll(label, secret)).toBeDefined();
          if (name !== 'high_entropy_secret' && name !== 'aws_secret_access_key') {
            expect(detectAll(label, `${before}${secret} `)).toBeDefined();
          }
        }),
        { numRuns: 200 },
      );
    });
  }

  it('high_entropy_secret fires on random strings with enough mix and entropy, whatever their alphabet', () => {
    // looksRandom() is the filter; this checks it accepts the great majority of random secrets.
    let accepted = 0;
    const runs = 2000;
    for (let i = 0; i < runs; i++) if (looksRandom(fake(ALNUM, 20))) accepted++;
    expect(accepted / runs).toBeGreaterThan(0.99);
  });
});

describe('properties: the prefilter never hides a detection', () => {
  const fragments = fc.constantFrom(
    '://',
    '@',
    ':',
    '=',
    'password',
    'Pwd',
    'token',
    'api_key',
    'AKIA',
    'ASIA',
    'eyJ',
    'ghp_',
    'glpat-',
    'xoxb-',
    'sk_live_',
    'AIza',
    'hooks.slack.com/services/',
    '-----BEGIN ',
    'PRIVATE KEY-----',
    'Bearer ',
    'jdbc:oracle:thin:',
    '/',
    '.',
    ' ',
    '"',
  );
  const noisy = fc.array(fc.oneof(fragments, chars(ALNUM, 1, 40), chars(BASE64, 40)), { maxLength: 8 }).map((p) => p.join(''));
  it('compiled answer equals the first detector that fires when run one by one', () => {
    fc.assert(
      fc.property(fc.oneof(ORDINARY_NAMES, SECRET_NAMES), noisy, (label, value) => {
        expect(detectAll(label, value)).toBe(firing(label, value)[0]);
      }),
      { numRuns: 3000 },
    );
  });
  it('no detector fires on fewer than five characters (the compiled check skips those outright)', () => {
    const short = fc.string({ unit: fc.constantFrom(...'pwdPWD=:_-/@xX9aZ '.split('')), maxLength: 4 });
    fc.assert(
      fc.property(fc.oneof(ORDINARY_NAMES, SECRET_NAMES), short, (label, value) => {
        expect(firing(label, value)).toEqual([]);
      }),
      { numRuns: 2000 },
    );
    expect(detectAll('x', 'pwd=7')).toBe('credential_pair');
  });

  it('holds for every single enabled detector too', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SECRET_DETECTOR_NAMES), fc.oneof(ORDINARY_NAMES, SECRET_NAMES), noisy, (name, label, value) => {
        const direct = SECRET_DETECTORS.find((d) => d.name === name)!.test(label, value);
        expect(compileSecretDetection([name])(label, value)).toBe(direct ? name : undefined);
      }),
      { numRuns: 2000 },
    );
  });
});
