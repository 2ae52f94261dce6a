/**
 * The real Prometheus server (Debian's 2.42 and 3.5, once each) scraping a guard over HTTPS with each credential it
 * can send: `authorization` with a static token in `credentials_file`, the same with a JWT, and
 * `oauth2` client credentials against a local token endpoint that mints JWTs. A job with a wrong
 * token must be down with a 401. Checked through Prometheus's own targets API and the guard's
 * audit records (which must name the expected principal for each job).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Counter, Registry } from 'prom-client';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../../src/guard.js';
import type { AuditRecord } from '../../src/audit/audit.js';
import { silentLogger } from '../../src/log.js';
import { testPki } from '../helpers/pki.js';
import { freePort, generations, sleep, startProcess, stopAll, type RunningProcess, waitForPrometheusReady } from './support.js';

const GENERATIONS = generations('prometheus-identity', ['prometheus']);

interface Target {
  labels: { job: string };
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

describe.each(GENERATIONS)('$name', (gen) => {
  const tools = gen.tools;

  describe.skipIf(tools.skip)('real Prometheus scrapes with bearer, JWT and oauth2 credentials', () => {
    let guard: Guard;
    let tokenServer: Server;
    let prometheus: RunningProcess;
    let promPort: number;
    const audit: AuditRecord[] = [];
    const tokenRequests: string[] = [];

    beforeAll(async () => {
      tools.require();
      const pki = await testPki();
      const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-e2e-identity-'));
      const staticToken = randomBytes(32).toString('base64url');
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = { ...(await exportJWK(publicKey)), kid: 'e2e', alg: 'ES256' };
      writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
      const mint = (sub: string, scope: string, ttl = 300) =>
        new SignJWT({ scope })
          .setProtectedHeader({ alg: 'ES256', kid: 'e2e' })
          .setSubject(sub)
          .setIssuer('https://idp.e2e')
          .setAudience('metrics')
          .setIssuedAt()
          .setExpirationTime(`${ttl}s`)
          .sign(privateKey);
      writeFileSync(join(dir, 'static.token'), `${staticToken}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'wrong.token'), `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'jwt.token'), `${await mint('prometheus', 'metrics:read')}\n`, { mode: 0o600 });

      // A minimal OAuth 2.0 token endpoint (RFC 6749 §4.4), as an IdP would run it.
      tokenServer = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const form = new URLSearchParams(body);
          const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
          const [id, secret] = basic ? Buffer.from(basic, 'base64').toString().split(':') : [form.get('client_id'), form.get('client_secret')];
          tokenRequests.push(`${form.get('grant_type')} ${id} ${form.get('scope')}`);
          if (form.get('grant_type') !== 'client_credentials' || id !== 'prom-oauth2' || secret !== 'e2e-client-secret') {
            res.writeHead(401, { 'content-type': 'application/json' });
            res.end('{"error":"invalid_client"}');
            return;
          }
          void mint(id, form.get('scope') ?? '', 600).then((jwt) => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ access_token: jwt, token_type: 'Bearer', expires_in: 600 }));
          });
        });
      });
      await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', r));
      const tokenPort = (tokenServer.address() as { port: number }).port;

      const registry = new Registry();
      new Counter({ name: 'e2e_events_total', help: 'e2e.', registers: [registry] }).inc(5);
      guard = await createGuard({
        config: {
          tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
          bearer_auth: { tokens: [{ name: 'static-prom', token_sha256: createHash('sha256').update(staticToken).digest('hex') }] },
          jwt_auth: { jwks_file: join(dir, 'jwks.json'), issuer: 'https://idp.e2e', audience: 'metrics', required_scopes: ['metrics:read'] },
        },
        source: registry,
        logger: silentLogger,
        watch: false,
        audit: (r) => audit.push(r),
      });
      const [bound] = await guard.listen('127.0.0.1:0');
      const target = `127.0.0.1:${bound!.port}`;
      const job = (name: string, auth: Record<string, unknown>) => ({
        job_name: name,
        scheme: 'https',
        tls_config: { ca_file: pki.ca.certFile },
        static_configs: [{ targets: [target] }],
        ...auth,
      });
      writeFileSync(
        join(dir, 'prometheus.yml'),
        stringify({
          global: { scrape_interval: '1s', scrape_timeout: '900ms' },
          scrape_configs: [
            job('static-token', { authorization: { type: 'Bearer', credentials_file: join(dir, 'static.token') } }),
            job('jwt-file', { authorization: { type: 'Bearer', credentials_file: join(dir, 'jwt.token') } }),
            job('oauth2', {
              oauth2: {
                client_id: 'prom-oauth2',
                client_secret: 'e2e-client-secret',
                token_url: `http://127.0.0.1:${tokenPort}/token`,
                scopes: ['metrics:read'],
              },
            }),
            job('wrong-token', { authorization: { type: 'Bearer', credentials_file: join(dir, 'wrong.token') } }),
          ],
        }),
      );
      promPort = await freePort();
      prometheus = startProcess(
        'prometheus',
        tools.bin('prometheus'),
        ['--config.file', join(dir, 'prometheus.yml'), '--storage.tsdb.path', join(dir, 'data'), '--web.listen-address', `127.0.0.1:${promPort}`],
        dir,
      );
      await waitForPrometheusReady(prometheus, promPort, 30_000);
    }, 60_000);

    afterAll(async () => {
      if (prometheus) await stopAll([prometheus]);
      await guard?.close(0);
      await new Promise((r) => (tokenServer ? tokenServer.close(r) : r(undefined)));
    });

    test('every job with a good credential is up; the wrong token is down with 401', async () => {
      let targets: Target[];
      const deadline = Date.now() + 30_000;
      for (;;) {
        const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`);
        targets = ((await res.json()) as { data: { activeTargets: Target[] } }).data.activeTargets;
        if (targets.length === 4 && targets.every((t) => t.health !== 'unknown')) break;
        if (Date.now() > deadline) throw new Error(`targets not scraped in time: ${JSON.stringify(targets)}\n${prometheus.output()}`);
        await sleep(250);
      }
      const byJob = Object.fromEntries(targets.map((t) => [t.labels.job, t]));
      for (const job of ['static-token', 'jwt-file', 'oauth2']) expect(byJob[job], JSON.stringify(byJob[job])).toMatchObject({ health: 'up', lastError: '' });
      expect(byJob['wrong-token']?.health).toBe('down');
      expect(byJob['wrong-token']?.lastError).toContain('401');

      const principals = new Set(audit.filter((a) => a.status === 200).map((a) => `${a.auth_method}:${a.principal}`));
      expect([...principals].sort()).toEqual(['bearer:static-prom', 'jwt:prom-oauth2', 'jwt:prometheus']);
      expect(tokenRequests[0]).toBe('client_credentials prom-oauth2 metrics:read');
      expect(audit.some((a) => a.status === 401 && a.reason === 'invalid_token')).toBe(true);
    }, 40_000);
  });
});
