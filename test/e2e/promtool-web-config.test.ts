/**
 * `scrapeguard check --web.config.file FILE` agrees with `promtool check web-config FILE`, run
 * once with promtool 2.42 (exporter-toolkit 0.8) and once with promtool 3.5 (exporter-toolkit
 * 0.14): both accept the configs node_exporter serves in the
 * parity suite, both refuse the classic mistakes, each for the same reason. Rows where the two
 * disagree on purpose are listed with the reason:
 *  - NEWER FORMAT: keys exporter-toolkit added after 0.8 (`client_allowed_sans`, `rate_limit`);
 *    promtool 2.42 does not know them, scrapeguard reads the current format; promtool 3.5 knows
 *    them, so under it these rows are parity (`promtool3`).
 * Newer toolkits also reword some errors (lower-case, "missing one of cert or cert_file"):
 * `promtool3Says` holds promtool 3.5's wording where it differs.
 *  - STRICTER: settings the toolkit accepts silently but that do not do what they say;
 *    scrapeguard refuses them (see REFERENCE.md §1, "known weaknesses").
 * Both tools are run as real processes (`node dist/cli.js check`).
 */
import { hash } from '@node-rs/bcrypt';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { testPki, type TestPki } from '../helpers/pki.js';
import { BASIC_PASSWORD, cliPath, ensureBuilt, generations, runProcess, writeConfig, writeWebConfigs, type ProcessResult, type WebConfigs } from './support.js';

const GENERATIONS = generations('promtool-web-config.test.ts', ['promtool']);

type Verdict = 'pass' | 'fail';

interface Row {
  name: string;
  /** A config shared with the parity suite, or a document written for this row. */
  config: keyof WebConfigs | ((pki: TestPki) => unknown);
  promtool: Verdict;
  scrapeguard: Verdict;
  /** For failures: what each tool must say, so both fail for the intended reason. */
  promtoolSays?: RegExp;
  scrapeguardSays?: RegExp;
  /** Why the verdicts differ (only for rows where they do). */
  difference?: string;
  /** promtool 3.5's verdict where it differs from 2.42's (then the row is parity under 3.5). */
  promtool3?: Verdict;
  /** promtool 3.5's message where its wording differs from 2.42's. */
  promtool3Says?: RegExp;
}

/** `tls_server_config` with the test server certificate, by relative path. */
const tls = (pki: TestPki) => ({ cert_file: basename(pki.server.certFile), key_file: basename(pki.server.keyFile) });
const withTls = (extra: Record<string, unknown>) => (pki: TestPki) => ({ tls_server_config: { ...tls(pki), ...extra } });

const ROWS: Row[] = [
  // Both accept.
  { name: 'TLS only', config: 'tlsOnly', promtool: 'pass', scrapeguard: 'pass' },
  { name: 'TLS + basic auth (bcrypt cost 4)', config: 'basicAuth', promtool: 'pass', scrapeguard: 'pass' },
  { name: 'RequireAndVerifyClientCert + client CA + basic auth + headers', config: 'mtls', promtool: 'pass', scrapeguard: 'pass' },
  {
    name: 'versions, cipher suites, curves, http2 off, every allowed header',
    config: (pki) => ({
      tls_server_config: {
        ...tls(pki),
        min_version: 'TLS12',
        max_version: 'TLS13',
        cipher_suites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
        prefer_server_cipher_suites: true,
        curve_preferences: ['X25519', 'CurveP256'],
      },
      http_server_config: {
        http2: false,
        headers: {
          'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
          'X-Content-Type-Options': 'nosniff',
          'X-Frame-Options': 'sameorigin',
          'X-XSS-Protection': '1; mode=block',
          'Content-Security-Policy': "default-src 'none'",
        },
      },
    }),
    promtool: 'pass',
    scrapeguard: 'pass',
  },
  {
    name: 'RequireClientCert alias (RequireAnyClientCert, with a warning)',
    config: withTls({ client_auth_type: 'RequireClientCert' }),
    promtool: 'pass',
    scrapeguard: 'pass',
  },

  // Both refuse, for the same reason.
  {
    name: 'unknown key in tls_server_config',
    config: withTls({ cert_filse: 'server.crt' }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /field cert_filse not found in type web\.TLSConfig/,
    scrapeguardSays: /unknown key "cert_filse"; did you mean "cert_file"\?/,
  },
  {
    name: 'unknown top-level key',
    config: (pki) => ({ tls_server_config: tls(pki), basic_auth: {} }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /field basic_auth not found in type web\.Config/,
    scrapeguardSays: /unknown key "basic_auth"/,
  },
  {
    name: 'bad client_auth_type',
    config: withTls({ client_auth_type: 'RequireAndVerifyClientCerts', client_ca_file: 'ca.crt' }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /Invalid ClientAuth: RequireAndVerifyClientCerts/,
    promtool3Says: /invalid ClientAuth: RequireAndVerifyClientCerts/,
    scrapeguardSays: /invalid ClientAuth: "RequireAndVerifyClientCerts"/,
  },
  {
    name: 'bad TLS version',
    config: withTls({ min_version: 'TLS1.2' }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /unknown TLS version: TLS1\.2/,
    scrapeguardSays: /unknown TLS version: "TLS1\.2"/,
  },
  {
    name: 'plaintext password in basic_auth_users',
    config: (pki) => ({ tls_server_config: tls(pki), basic_auth_users: { alice: BASIC_PASSWORD } }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /crypto\/bcrypt: hashedSecret too short to be a bcrypted password/,
    scrapeguardSays: /crypto\/bcrypt: hashedSecret too short to be a bcrypted password/,
  },
  {
    name: 'header not allowed',
    config: (pki) => ({ tls_server_config: tls(pki), http_server_config: { headers: { 'X-Powered-By': 'scrapeguard' } } }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /HTTP header "X-Powered-By" can not be configured/,
    scrapeguardSays: /HTTP header "X-Powered-By" can not be configured/,
  },
  {
    name: 'header value not allowed',
    config: (pki) => ({ tls_server_config: tls(pki), http_server_config: { headers: { 'X-Frame-Options': 'allow-from' } } }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /invalid value for X-Frame-Options/,
    scrapeguardSays: /invalid value for X-Frame-Options/,
  },
  {
    name: 'client CA without client_auth_type',
    config: withTls({ client_ca_file: 'ca.crt' }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /Client CA's have been configured without a Client Auth Policy/,
    promtool3Says: /client CA's have been configured without a Client Auth Policy/,
    scrapeguardSays: /client CA's have been configured without a Client Auth Policy/,
  },
  {
    name: 'insecure cipher suite (RC4)',
    config: withTls({ cipher_suites: ['TLS_RSA_WITH_RC4_128_SHA'] }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /unknown cipher: TLS_RSA_WITH_RC4_128_SHA/,
    scrapeguardSays: /cipher: "TLS_RSA_WITH_RC4_128_SHA"/,
  },
  {
    name: 'unknown curve',
    config: withTls({ curve_preferences: ['P256'] }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /unknown curve: P256/,
    scrapeguardSays: /unknown curve: "P256"/,
  },
  {
    name: 'key_file without cert_file',
    config: (pki) => ({ tls_server_config: { key_file: basename(pki.server.keyFile) } }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /missing cert_file/,
    promtool3Says: /missing one of cert or cert_file/,
    scrapeguardSays: /missing one of cert or cert_file/,
  },
  {
    name: 'certificate file missing',
    config: withTls({ cert_file: 'nope.crt' }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /nope\.crt: no such file or directory/,
    scrapeguardSays: /cannot read cert_file ".*nope\.crt": ENOENT/,
  },
  {
    name: 'key does not match the certificate',
    config: (pki) => ({ tls_server_config: { cert_file: basename(pki.server.certFile), key_file: basename(pki.client.keyFile) } }),
    promtool: 'fail',
    scrapeguard: 'fail',
    promtoolSays: /private key does not match public key/,
    scrapeguardSays: /does not match the certificate/,
  },

  // Deliberate differences.
  {
    name: 'client_allowed_sans',
    config: 'mtlsAllowedSans',
    promtool: 'fail',
    scrapeguard: 'pass',
    promtoolSays: /field client_allowed_sans not found in type web\.TLSConfig/,
    difference: 'NEWER FORMAT: exporter-toolkit ≥ 0.10 key, unknown to promtool 2.42',
    promtool3: 'pass',
  },
  {
    name: 'rate_limit',
    config: 'rateLimit',
    promtool: 'fail',
    scrapeguard: 'pass',
    promtoolSays: /field rate_limit not found in type web\.Config/,
    difference: 'NEWER FORMAT: exporter-toolkit ≥ 0.10 key, unknown to promtool 2.42',
    promtool3: 'pass',
  },
  {
    name: 'RequireAndVerifyClientCert without a client CA',
    config: withTls({ client_auth_type: 'RequireAndVerifyClientCert' }),
    promtool: 'pass',
    scrapeguard: 'fail',
    scrapeguardSays: /neither client_ca_file nor client_ca is set/,
    difference: "STRICTER: the toolkit silently verifies client certificates against the system's root CAs",
  },
  {
    name: 'min_version above max_version',
    config: withTls({ min_version: 'TLS13', max_version: 'TLS12' }),
    promtool: 'pass',
    scrapeguard: 'fail',
    scrapeguardSays: /min_version TLS13 is above max_version TLS12/,
    difference: 'STRICTER: no TLS version is left, every handshake would fail',
  },
  {
    name: 'empty client CA file',
    config: (pki) => {
      writeFileSync(join(pki.dir, 'empty-ca.crt'), '');
      return { tls_server_config: { ...tls(pki), client_auth_type: 'RequireAndVerifyClientCert', client_ca_file: 'empty-ca.crt' } };
    },
    promtool: 'pass',
    scrapeguard: 'fail',
    scrapeguardSays: /is empty: a client CA bundle needs at least one certificate/,
    difference: 'STRICTER: with no CA no client certificate can ever verify',
  },
];

describe.each(GENERATIONS)('$name', (gen) => {
  const tools = gen.tools;

  describe.skipIf(tools.skip)('promtool check web-config and scrapeguard check agree', () => {
    const files = new Map<string, string>();

    beforeAll(async () => {
      tools.require();
      await ensureBuilt();
      const pki = await testPki();
      const shared = writeWebConfigs(pki, await hash(BASIC_PASSWORD, { cost: 4 }));
      ROWS.forEach((row, i) => {
        files.set(row.name, typeof row.config === 'string' ? shared[row.config] : writeConfig(pki, `check-${i}.yml`, row.config(pki)));
      });
    }, 200_000);

    const verdict = (r: ProcessResult): Verdict => (r.code === 0 ? 'pass' : 'fail');

    /** The row as this generation's promtool must answer it. */
    const expected = (row: Row) => {
      const promtool = gen.major === 3 ? (row.promtool3 ?? row.promtool) : row.promtool;
      const says = gen.major === 3 ? (row.promtool3Says ?? row.promtoolSays) : row.promtoolSays;
      return { promtool, says, difference: promtool === row.scrapeguard ? undefined : row.difference };
    };

    it.concurrent.each(ROWS.map((row) => [`${row.name}: promtool ${expected(row).promtool}, scrapeguard ${row.scrapeguard}`, row] as const))(
      '%s',
      async (_, row) => {
        const want = expected(row);
        const file = files.get(row.name)!;
        const [promtool, scrapeguard] = await Promise.all([
          runProcess(tools.bin('promtool'), ['check', 'web-config', file]),
          runProcess(process.execPath, [cliPath, 'check', '--web.config.file', file]),
        ]);
        const pOut = promtool.stdout + promtool.stderr;
        const sOut = scrapeguard.stdout + scrapeguard.stderr;

        expect({ promtool: verdict(promtool), scrapeguard: verdict(scrapeguard) }, `promtool:\n${pOut}\nscrapeguard:\n${sOut}`).toEqual({
          promtool: want.promtool,
          scrapeguard: row.scrapeguard,
        });
        // A difference must be a documented one; every other row is parity.
        expect(row.difference === undefined || want.difference !== undefined || row.promtool3 !== undefined).toBe(true);
        expect(want.difference === undefined).toBe(want.promtool === row.scrapeguard);

        if (want.promtool === 'pass') expect(pOut).toContain('SUCCESS');
        else {
          expect(promtool.code).toBe(1);
          expect(pOut).toMatch(want.says!);
        }
        // A valid file with TLS is preceded by the TLS profile in force and followed by the releases
        // that can read it (one line each).
        if (row.scrapeguard === 'pass') {
          expect(scrapeguard.stdout.replace(/^TLS profile: [^\n]*\n/, '')).toMatch(
            new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} SUCCESS\nreadable by: [^\n]+\n$`),
          );
        } else {
          expect(scrapeguard.code).toBe(1);
          expect(scrapeguard.stdout).toBe('');
          expect(scrapeguard.stderr).toMatch(row.scrapeguardSays!);
        }
      },
    );
  });
});
