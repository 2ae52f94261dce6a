/**
 * Config errors and the resolved config never carry a secret: no private key, inline key or
 * password value in a message, and a resolved config that neither serializes nor inspects its key.
 */
import { describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigObject } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { pemLines, pki, useConfigFiles, write } from './helpers/config-files.js';
import { testPki } from './helpers/pki.js';

useConfigFiles();

describe('secrets never appear in messages', () => {
  it('neither the private key, an inline key, nor a password value', async () => {
    const password = 'hunter2-Correct-Horse';
    const keyBody = pki.server.keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
    const wrongKeyBody = pki.serverRsa.keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
    const checks: (() => Promise<unknown>)[] = [
      // Mismatching inline key.
      () => loadConfigObject({ tls_server_config: { cert: pki.server.certPem, key: pki.serverRsa.keyPem }, basic_auth_users: { alice: password } }),
      // Key pasted where a path or a certificate belongs.
      () => loadConfigObject({ tls_server_config: { cert_file: pki.server.keyPem, key: pki.server.keyPem } }),
      () => loadConfigObject({ tls_server_config: { cert: pki.server.keyPem, key_file: pki.server.keyFile, client_auth_type: pki.server.keyPem } }),
      () =>
        loadConfigObject({
          tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem, client_ca: pki.server.keyPem, client_auth_type: 'RequireAndVerifyClientCert' },
        }),
      () => loadConfigObject({ tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem.replace(/\n[A-Za-z0-9+/]{8}/, '\n!!!!!!!!') } }),
      // File form with inline secrets.
      () =>
        loadConfigFile(
          write([
            'tls_server_config:',
            `  cert_file: ${pki.server.certFile}`,
            ...pemLines('key', pki.serverRsa.keyPem),
            'basic_auth_users:',
            `  alice: ${password}`,
            `  bob: "${password}${password}${password}"`,
          ]),
        ),
      () =>
        loadConfigFile(write(['tls_server_config:', ...pemLines('key', pki.server.keyPem), '  cert_filse: x', 'basic_auth_users:', `  alice: [${password}]`])),
    ];
    for (const check of checks) {
      const err = await check().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      const text = [(err as ConfigError).message, ...(err as ConfigError).issues.map((i) => `${i.path} ${i.message}`)].join('\n');
      expect(text).not.toContain(password);
      expect(text).not.toContain('PRIVATE KEY-----');
      for (const line of [...keyBody, ...wrongKeyBody]) expect(text).not.toContain(line.slice(0, 24));
    }
  });
});

describe('resolved config hygiene', () => {
  it('never serializes or inspects the private key', async () => {
    const { inspect } = await import('node:util');
    const pki = await testPki();
    const config = await loadConfigObject({ tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem } });
    expect(config.tls?.keyPem).toBe(pki.server.keyPem);
    expect(JSON.stringify(config)).not.toContain('PRIVATE KEY');
    expect(inspect(config, { depth: 10 })).not.toContain('PRIVATE KEY');
    expect(JSON.stringify({ ...config.tls })).not.toContain('PRIVATE KEY');
  });
});
