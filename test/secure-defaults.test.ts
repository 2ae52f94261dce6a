/**
 * Secure defaults (issue #8 §7), checked: `serve` without TLS listens on loopback only unless
 * `--insecure-listen`; credentials (basic, bearer, JWT) without TLS are refused by `serve` unless
 * `--allow-plaintext-credentials`; the library keeps loading such files (node_exporter accepts
 * them) but warns; `insecure` client auth types are warned about. (Key files readable by
 * group/others: test/config-accepted.test.ts "a key file readable by group/others".)
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { describe, expect, it } from 'vitest';
import { refuseInsecureDefaults, serveCommand } from '../src/tools/cli/serve.js';
import { createGuard } from '../src/guard.js';
import { silentLogger } from '../src/log.js';
import { loadConfigObject } from '../src/config/load.js';
import { ScrapeguardError } from '../src/errors.js';
import { runCli } from './helpers/cli.js';
import { testPki } from './helpers/pki.js';

const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-secure-defaults-'));
const HASH = await hash('secure-defaults-password', { cost: 4 });
const yamlFile = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
};

/** Runs serve; if it starts, stops it after it printed its listening line. */
async function serve(argv: string[]): Promise<{ code?: number; stdout?: string; stderr?: string; error?: ScrapeguardError }> {
  let stop!: () => void;
  const stopSignal = new Promise<void>((r) => (stop = r));
  const timer = setTimeout(() => stop(), 400);
  try {
    const r = await runCli(serveCommand, argv, { cwd: dir, stopSignal });
    return r;
  } catch (error) {
    if (!(error instanceof ScrapeguardError)) throw error;
    return { error };
  } finally {
    clearTimeout(timer);
  }
}

describe('serve without TLS: loopback only unless --insecure-listen', () => {
  it.each([':0', '0.0.0.0:0', '[::]:0'])('no config, --web.listen-address %s → USAGE error naming the address and the opt-in', async (address) => {
    const r = await serve(['--web.listen-address', address]);
    expect(r.error?.code).toBe('USAGE');
    expect(r.error?.message).toContain(address);
    expect(r.error?.message).toContain('--insecure-listen');
    expect(r.error?.message).toContain('tls_server_config');
  });

  it('a config file without TLS and the default address (:9443) is refused the same way', async () => {
    const r = await serve(['--web.config.file', yamlFile('empty.yml', '# nothing\n')]);
    expect(r.error?.code).toBe('USAGE');
    expect(r.error?.message).toContain(':9443');
  });

  it('loopback addresses serve plain HTTP without any opt-in (and with a warning)', async () => {
    const r = await serve(['--web.listen-address', '127.0.0.1:0', '--web.listen-address', 'localhost:0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+\/metrics/);
    expect(r.stderr).toMatch(/level=warn/);
  });

  it('--insecure-listen serves plain HTTP on all interfaces', async () => {
    const r = await serve(['--web.listen-address', '0.0.0.0:0', '--insecure-listen']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/listening on http:\/\/0\.0\.0\.0:\d+\/metrics/);
  });

  it('with TLS, any address is fine', async () => {
    const pki = await testPki();
    const file = yamlFile('tls.yml', `tls_server_config:\n  cert_file: ${pki.server.certFile}\n  key_file: ${pki.server.keyFile}\n`);
    const r = await serve(['--web.config.file', file, '--web.listen-address', '0.0.0.0:0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/listening on https:\/\/0\.0\.0\.0:\d+\/metrics/);
  });
});

describe('serve refuses credentials over plain HTTP unless --allow-plaintext-credentials', () => {
  const token = 'secure-defaults-token-0b8e';
  const cases: [string, string, string][] = [
    ['basic_auth_users', 'basic.yml', `basic_auth_users:\n  prometheus: ${HASH}\n`],
    ['bearer_auth', 'bearer.yml', `bearer_auth:\n  tokens:\n    - name: p\n      token_sha256: ${createHash('sha256').update(token).digest('hex')}\n`],
  ];
  it.each(cases)('%s without TLS, even on loopback → USAGE error naming the section and the opt-in', async (section, name, text) => {
    const r = await serve(['--web.config.file', yamlFile(name, text), '--web.listen-address', '127.0.0.1:0']);
    expect(r.error?.code).toBe('USAGE');
    expect(r.error?.message).toContain(section);
    expect(r.error?.message).toContain('--allow-plaintext-credentials');
    // The refusal names the section, never a credential.
    expect(r.error?.message).not.toContain(HASH);
  });

  it.each(cases)('%s without TLS with --allow-plaintext-credentials on loopback → serves, with the clear-text warning', async (_section, name, text) => {
    const r = await serve(['--web.config.file', yamlFile(name, text), '--web.listen-address', '127.0.0.1:0', '--allow-plaintext-credentials']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/clear text/);
  });

  it('both opt-ins are needed for credentials over plain HTTP beyond loopback', async () => {
    const file = yamlFile('basic2.yml', cases[0]![2]);
    expect((await serve(['--web.config.file', file, '--web.listen-address', '0.0.0.0:0', '--allow-plaintext-credentials'])).error?.message).toContain(
      '--insecure-listen',
    );
    expect((await serve(['--web.config.file', file, '--web.listen-address', '0.0.0.0:0', '--allow-plaintext-credentials', '--insecure-listen'])).code).toBe(0);
  });

  it('a reload that drops TLS but keeps the credentials is refused like the same file at start', async () => {
    const pki = await testPki();
    const tlsPart = `tls_server_config:\n  cert_file: ${pki.server.certFile}\n  key_file: ${pki.server.keyFile}\n`;
    const users = `basic_auth_users:\n  prometheus: ${HASH}\n`;
    const file = yamlFile('reload-drops-tls.yml', tlsPart + users);
    const addresses = ['127.0.0.1:0'];
    // What serve passes: its start-time rule, applied to every later config too.
    const guard = await createGuard({
      config: file,
      source: () => 'up 1\n',
      logger: silentLogger,
      watch: false,
      acceptConfig: (config) => refuseInsecureDefaults(config, addresses, { insecureListen: false, allowPlaintextCredentials: false }),
    });
    try {
      expect(guard.config.tls).toBeDefined();
      writeFileSync(file, users);
      expect(await guard.reload()).toBe(false);
      expect(guard.config.tls).toBeDefined(); // the last good (TLS) config keeps serving
      writeFileSync(file, tlsPart + users + 'http_server_config:\n  http2: false\n');
      expect(await guard.reload()).toBe(true);
      expect(guard.config.http.http2).toBe(false);
    } finally {
      await guard.close(0);
    }
  });

  it('the library still loads such files (exporter-toolkit accepts users_noTLS.good), with a warning', async () => {
    const basic = await loadConfigObject({ basic_auth_users: { prometheus: HASH } });
    expect(basic.warnings.join('\n')).toMatch(/TLS is off: passwords cross the network in clear text/);
    const bearer = await loadConfigObject({ bearer_auth: { tokens: [{ name: 'p', token_sha256: 'a'.repeat(64) }] } });
    expect(bearer.warnings.join('\n')).toMatch(/TLS is off: bearer tokens cross the network in clear text/);
  });
});

describe('insecure client auth types are warned about', () => {
  it.each(['RequestClientCert', 'RequireAnyClientCert', 'RequireClientCert'])('%s → a warning that says insecure', async (type) => {
    const pki = await testPki();
    const config = await loadConfigObject({
      tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile, client_auth_type: type },
    }).catch((e: Error) => e);
    if (config instanceof Error) {
      // RequireClientCert is not a toolkit value in every version: then it is refused outright.
      expect(config.message).toContain('client_auth_type');
      return;
    }
    expect(config.warnings.join('\n')).toMatch(/insecure/);
  });
});

describe('secret files readable by group/others are warned about', () => {
  it('a bearer token_file with mode 0644 → warning naming the file and chmod 600; 0600 → none', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, 'token-file-secret-value-0123456789abcdef\n', { mode: 0o644 });
    const { chmodSync } = await import('node:fs');
    chmodSync(file, 0o644);
    const shared = await loadConfigObject({ bearer_auth: { tokens: [{ name: 'p', token_file: file }] } });
    const warning = shared.warnings.find((w) => w.includes('token file'));
    expect(warning).toContain(file);
    expect(warning).toContain('0644');
    expect(warning).toContain('chmod 600');
    expect(shared.warnings.join('\n')).not.toContain('token-file-secret-value');
    chmodSync(file, 0o600);
    const own = await loadConfigObject({ bearer_auth: { tokens: [{ name: 'p', token_file: file }] } });
    expect(own.warnings.some((w) => w.includes('token file'))).toBe(false);
  });

  it('a key file with mode 0644 → warning (the check test/config.test.ts covers in detail)', async () => {
    const pki = await testPki();
    const { copyFileSync, chmodSync } = await import('node:fs');
    const key = join(dir, 'shared.key');
    copyFileSync(pki.server.keyFile, key);
    chmodSync(key, 0o644);
    const config = await loadConfigObject({ tls_server_config: { cert_file: pki.server.certFile, key_file: key } });
    expect(config.warnings.join('\n')).toMatch(/key file .* is readable by group\/others \(mode 0644\); chmod 600/);
  });
});
