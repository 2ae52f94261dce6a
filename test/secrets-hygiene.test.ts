/**
 * Secrets hygiene (issue #8 §6): one run with every feature on — TLS with mTLS, basic auth,
 * bearer tokens, JWT (local JWK Set), the audit log, redaction with secret detection, self-metrics,
 * debug logging — exercising successes, every kind of failure, refused client certificates and a
 * failed reload of a config holding a plaintext password. Then every log line, audit line,
 * response (bodies and headers of refusals included), reload error and the self-metrics are
 * scanned for every credential used in the run: zero hits.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createGuard } from '../src/index.js';
import { createLogfmtLogger } from '../src/log.js';
import { testPki } from './helpers/pki.js';
import { scrape, type ScrapeResult } from './helpers/client.js';
import { sleep } from './helpers/attack.js';

describe('secrets hygiene with every feature on', () => {
  it('no credential of the run appears in any log line, audit line, response, error or self-metric', async () => {
    const pki = await testPki();
    const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-hygiene-'));
    const password = 'Hygiene-Pa55word-7c1e';
    const token = 'hygiene-bearer-token-5f0a1d93e7';
    const labelSecret = 'postgres://admin:Label-S3cret-99@db.internal:5432/app';
    const plaintextInConfig = 'Plaintext-In-Config-3b7';
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
    const jwt = await new SignJWT({ scope: 'metrics' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://issuer.example')
      .setAudience('metrics')
      .setSubject('jwt-scraper')
      .setExpirationTime('1h')
      .sign(privateKey);
    const expiredJwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://issuer.example')
      .setAudience('metrics')
      .setSubject('jwt-scraper')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(privateKey);
    const auditPath = join(dir, 'audit.log');
    const configText = [
      'tls_server_config:',
      `  cert_file: ${pki.server.certFile}`,
      `  key_file: ${pki.server.keyFile}`,
      '  client_auth_type: VerifyClientCertIfGiven',
      `  client_ca_file: ${pki.ca.certFile}`,
      'basic_auth_users:',
      `  prometheus: ${await hash(password, { cost: 4 })}`,
      'bearer_auth:',
      '  tokens:',
      `    - name: bearer-scraper`,
      `      token_sha256: ${createHash('sha256').update(token).digest('hex')}`,
      'jwt_auth:',
      `  jwks_file: ${join(dir, 'jwks.json')}`,
      '  issuer: https://issuer.example',
      '  audience: metrics',
      'audit_log:',
      `  path: ${auditPath}`,
      '',
    ].join('\n');
    const configFile = join(dir, 'web-config.yml');
    writeFileSync(configFile, configText, { mode: 0o600 });

    const registry = new Registry();
    new Gauge({ name: 'app_db_connections', help: 'Connections.', labelNames: ['dsn'], registers: [registry] }).set({ dsn: labelSecret }, 3);
    const logs: string[] = [];
    const guard = await createGuard({
      config: configFile,
      source: registry,
      selfMetrics: registry,
      logger: createLogfmtLogger({ level: 'debug', write: (l) => logs.push(l) }),
      watch: false,
    });
    const responses: ScrapeResult[] = [];
    const errors: string[] = [];
    try {
      const [bound] = await guard.listen('127.0.0.1:0');
      const url = `${bound!.url}/metrics`;
      const ca = pki.ca.certPem;
      const b = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
      const asClient = { ca, cert: pki.client.certPem, key: pki.client.keyPem };
      const requests: Parameters<typeof scrape>[1][] = [
        { ca, headers: { authorization: b('prometheus', password) } },
        { ca, headers: { authorization: b('prometheus', `${password}x`) } },
        { ca, headers: { authorization: b('nobody', password) } },
        { ca, headers: { authorization: b(password, password) } },
        { ca, headers: { authorization: `Bearer ${token}` } },
        { ca, headers: { authorization: `Bearer ${token}x` } },
        { ca, headers: { authorization: `Bearer ${jwt}` } },
        { ca, headers: { authorization: `Bearer ${jwt.slice(0, -4)}AAAA` } },
        { ca, headers: { authorization: `Bearer ${expiredJwt}` } },
        { ca, headers: { authorization: `Bearer ${token} ${password}` } },
        { ca, headers: { authorization: `Basic ${password}` } },
        { ...asClient, headers: { authorization: b('prometheus', password) } },
        { ca, cert: pki.clientOtherCa.certPem, key: pki.clientOtherCa.keyPem, headers: { authorization: b('prometheus', password) } },
      ];
      for (const r of requests) responses.push(await scrape(url, r));
      expect(responses.map((r) => r.status)).toEqual([200, 401, 401, 401, 200, 401, 200, 401, 401, 401, 401, 200, undefined]);
      // The served body is redacted.
      expect(responses[0]!.body).toContain('app_db_connections');
      // A reload of a config with a plaintext password where the hash belongs fails, without echoing it.
      writeFileSync(configFile, configText.replace(/prometheus: \$2[aby]\$.*/, `prometheus: ${plaintextInConfig}`));
      expect(await guard.reload()).toBe(false);
      const metricsText = await registry.metrics();
      const served = (await scrape(url, { ca, headers: { authorization: `Bearer ${token}` } })).body;
      // Audit lines are written asynchronously.
      await sleep(200);
      const audit = readFileSync(auditPath, 'utf8');
      expect(audit.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(requests.length - 1);

      const haystacks: [string, string][] = [
        ['log', logs.join('\n')],
        ['audit', audit],
        [
          'self-metrics',
          metricsText
            .split('\n')
            .filter((l) => l.includes('scrapeguard_'))
            .join('\n'),
        ],
        ['served metrics', served],
        ...responses.map((r, i): [string, string] => [`response ${i}`, `${r.body}\n${JSON.stringify(r.headers)}\n${r.errorMessage ?? ''}`]),
        ...errors.map((e, i): [string, string] => [`error ${i}`, e]),
      ];
      const keyLines = (pem: string) => pem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
      const needles: [string, string][] = [
        ['basic password', password],
        ['basic user:password base64', Buffer.from(`prometheus:${password}`).toString('base64')],
        ['bearer token', token],
        ['JWT', jwt],
        ['JWT signature', jwt.split('.')[2]!],
        ['expired JWT signature', expiredJwt.split('.')[2]!],
        ['secret label value', 'Label-S3cret-99'],
        ['plaintext password in the config', plaintextInConfig],
        ...keyLines(pki.server.keyPem).map((l): [string, string] => ['server private key', l]),
        ...keyLines(pki.client.keyPem).map((l): [string, string] => ['client private key', l]),
      ];
      const hits: string[] = [];
      for (const [where, text] of haystacks) for (const [what, needle] of needles) if (text.includes(needle)) hits.push(`${what} in ${where}`);
      console.log(
        `\nHARDENING secrets-hygiene | ${JSON.stringify({ attack: 'secrets hygiene, every feature on', outcome: `${needles.length} credentials × ${haystacks.length} outputs (${logs.length} log lines, ${audit.split('\n').filter(Boolean).length} audit lines): ${hits.length} hits` })}\n`,
      );
      expect(hits).toEqual([]);
      // And the run did log and audit what it should (the scan is not vacuous).
      expect(logs.some((l) => /reload failed/.test(l))).toBe(true);
      expect(logs.some((l) => /TLS client certificate refused/.test(l))).toBe(true);
      expect(metricsText).toMatch(/scrapeguard_auth_failures_total/);
    } catch (error) {
      errors.push(String(error));
      throw error;
    } finally {
      await guard.close(0);
    }
  });
});
