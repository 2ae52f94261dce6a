/**
 * The scrape-config generator for bearer/JWT servers and every auth kind rendered from hand-built
 * requirements, the checks promtool does not do, the CLI's streams and errors, and
 * `generateScrapeConfig(guard.config)`. Split from test/scrape-config.test.ts (TLS and basic auth
 * from real configs).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedConfig } from '../src/config/schema.js';
import { createGuard } from '../src/guard.js';
import {
  generateScrapeConfig,
  operatorManifestsFromRequirements,
  scrapeConfigFromRequirements,
  type ScrapeConfigOptions,
} from '../src/tools/scrape-config/generate.js';
import { checkPrometheusJob, type PrometheusScrapeJob } from '../src/tools/scrape-config/prometheus.js';
import { deriveRequirements, type ScrapeRequirements } from '../src/tools/scrape-config/requirements.js';
import { scrapeConfigCommand } from '../src/tools/cli/scrape-config.js';
import { silentLogger } from '../src/log.js';
import { runCli } from './helpers/cli.js';
import { testPki, type TestPki } from './helpers/pki.js';
import {
  credentialsDir,
  expectScrapeError,
  load,
  mtlsSection,
  PASSWORD,
  serverDir,
  tlsSection,
  tmp,
  useScrapeConfigPki,
  V242,
} from './helpers/scrape-config.js';

useScrapeConfigPki();
let pki: TestPki;
let passwordHash: string;
beforeAll(async () => {
  pki = await testPki();
  passwordHash = await hash(PASSWORD, { cost: 4 });
});

describe('bearer and JWT servers (identity sections read structurally)', () => {
  const TOKEN = 'bearer-token-value-0123456789';
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const jwtWith = (claims: Record<string, unknown>) =>
    [Buffer.from('{"alg":"ES256","typ":"JWT"}').toString('base64url'), Buffer.from(JSON.stringify(claims)).toString('base64url'), 'c2ln'].join('.');
  let tlsConfig: ResolvedConfig;
  beforeAll(async () => {
    tlsConfig = await load(serverDir(() => ({ tls_server_config: tlsSection, basic_auth_users: { alice: passwordHash } })));
  });
  const withIdentity = (extra: Record<string, unknown>, basic = true): ResolvedConfig => ({
    ...tlsConfig,
    ...(basic ? {} : { basicAuthUsers: new Map() }),
    ...extra,
  });
  const bearer = (tokens: { name: string; sha256: string; expiresAt?: number }[], revoked: string[] = []) => ({ bearerAuth: { tokens, revoked } });
  const jwt = { jwtAuth: { issuer: ['https://idp.example'], audience: ['metrics'], requiredScopes: ['metrics:read'], algorithms: ['ES256'] } };

  it('several methods need a choice (--auth); each choice derives its requirement', () => {
    const config = withIdentity({ ...bearer([{ name: 'prom', sha256: sha(TOKEN) }]), ...jwt });
    expect(() => deriveRequirements(config)).toThrow(/accepts basic, bearer, jwt; choose the credential Prometheus presents \(--auth\)/);
    expect(deriveRequirements(config, { auth: 'basic' }).auth).toMatchObject({ kind: 'basic', username: 'alice' });
    expect(deriveRequirements(config, { auth: 'bearer' }).auth).toEqual({
      kind: 'authorization',
      type: 'Bearer',
      tokenKind: 'static',
      tokens: [{ name: 'prom', sha256: sha(TOKEN) }],
      revoked: [],
    });
    expect(deriveRequirements(config, { auth: 'jwt' }).auth).toEqual({
      kind: 'authorization',
      type: 'Bearer',
      tokenKind: 'jwt',
      issuers: ['https://idp.example'],
      audiences: ['metrics'],
      requiredScopes: ['metrics:read'],
    });
    // oauth2 implies jwt; the scopes default to what the server requires.
    expect(deriveRequirements(config, { oauth2: { tokenUrl: 'https://idp.example/token', clientId: 'prometheus' } }).auth).toEqual({
      kind: 'oauth2',
      tokenUrl: 'https://idp.example/token',
      clientId: 'prometheus',
      scopes: ['metrics:read'],
    });
    expect(() => deriveRequirements(config, { auth: 'none' })).toThrow(/without one every scrape gets 401/);
    expect(deriveRequirements(withIdentity({ ...jwt, clientCertAuth: { principalFrom: 'cn' } }), { auth: 'none' }).auth).toBeUndefined();
    expect(() => deriveRequirements(withIdentity(jwt, false), { auth: 'bearer' })).toThrow(/auth bearer was chosen, but the web config accepts jwt/);
    expect(deriveRequirements(withIdentity(jwt, false)).auth).toMatchObject({ kind: 'authorization', tokenKind: 'jwt' });
  });

  it('checks the token file by digest: unknown, revoked, expired, expiring', async () => {
    const creds = credentialsDir({ ca: pki.ca, token: `${TOKEN}\n` });
    const gen = (b: ReturnType<typeof bearer>) => generateScrapeConfig(withIdentity(b, false), { targets: ['localhost:1'], credentialsDir: creds });
    const ok = await gen(bearer([{ name: 'prom', sha256: sha(TOKEN) }]));
    expect(ok.job.authorization).toEqual({ type: 'Bearer', credentials_file: join(creds, 'token') });
    expect(ok.warnings).toEqual([]);
    expect((await gen(bearer([{ name: 'prom', sha256: sha('other') }]))).warnings).toEqual([
      expect.stringMatching(/holds none of the bearer_auth tokens \(compared by SHA-256\): Prometheus will get 401/),
    ]);
    expect((await gen(bearer([{ name: 'prom', sha256: sha(TOKEN) }], [sha(TOKEN)]))).warnings).toEqual([
      expect.stringMatching(/token of "prom", which is revoked/),
    ]);
    expect((await gen(bearer([{ name: 'prom', sha256: sha(TOKEN), expiresAt: Date.now() - 1000 }]))).warnings).toEqual([
      expect.stringMatching(/which expired on/),
    ]);
    expect((await gen(bearer([{ name: 'prom', sha256: sha(TOKEN), expiresAt: Date.now() + 86_400_000 }]))).warnings).toEqual([
      expect.stringMatching(/expires on .*less than 14 days/),
    ]);
    for (const out of [ok, await gen(bearer([{ name: 'prom', sha256: sha('other') }]))]) expect(out.yaml + out.warnings.join()).not.toContain(TOKEN);
  });

  it('decodes the JWT in the credentials file: expired, issuer, audience, scopes, not a JWT', async () => {
    const now = Math.floor(Date.now() / 1000);
    const gen = async (token: string) =>
      (await generateScrapeConfig(withIdentity(jwt, false), { targets: ['localhost:1'], credentialsDir: credentialsDir({ ca: pki.ca, token }) })).warnings;
    expect(await gen(jwtWith({ iss: 'https://idp.example', aud: 'metrics', scope: 'metrics:read other', exp: now + 600 }))).toEqual([]);
    expect(await gen(jwtWith({ iss: 'https://idp.example', aud: ['x', 'metrics'], scp: ['metrics:read'], exp: now - 10 }))).toEqual([
      expect.stringMatching(/expired on .*keep the file fresh/),
    ]);
    expect(await gen(jwtWith({ iss: 'https://evil.example', aud: 'other', exp: now + 600 }))).toEqual([
      expect.stringMatching(/issued by "https:\/\/evil\.example", not by https:\/\/idp\.example/),
      expect.stringMatching(/is for audience other, not metrics/),
      expect.stringMatching(/lacks the scopes metrics:read/),
    ]);
    expect(await gen('not-a-jwt')).toEqual([expect.stringMatching(/does not hold a JWT/)]);
  });

  it('mirrors redaction.drop_labels (plus --labeldrop) as labeldrop regexes', async () => {
    const config = withIdentity({ redaction: { dropLabels: ['user_email', 'session_.*'], maskLabels: ['ip'] } });
    expect(deriveRequirements(config, { labelDrops: ['trace_id', 'user_email'] }).labelDrops).toEqual(['user_email', 'session_.*', 'trace_id', 'user_email']);
    const out = await generateScrapeConfig(config, {
      targets: ['localhost:1'],
      credentialsDir: credentialsDir({ ca: pki.ca, password: PASSWORD }),
      labelDrops: ['trace_id', 'user_email'],
    });
    expect(out.job.metric_relabel_configs).toEqual([{ action: 'labeldrop', regex: 'user_email|session_.*|trace_id' }]);
  });

  it.each([
    ['(?!keep).*', /a lookaround/],
    ['(?<=x)y', /a lookaround/],
    ['(a)\\1', /a backreference/],
    ['(?<n>a)\\k<n>', /a named backreference|a \(\?<name>/],
    ['(?<name>a)', /\(\?<name>…\) group/],
  ])('refuses the label drop %j, which RE2 cannot compile', async (re, pattern) => {
    await expectScrapeError(scrapeConfigFromRequirements({ scheme: 'http', labelDrops: [re] }, { targets: ['localhost:1'] }), pattern);
  });

  it('accepts escaped look-alikes', async () => {
    const out = await scrapeConfigFromRequirements({ scheme: 'http', labelDrops: ['a\\(\\?=b', 'x\\\\1'] }, { targets: ['localhost:1'] });
    expect(out.job.metric_relabel_configs).toHaveLength(1);
  });

  it('--auth and --labeldrop on the command line', async () => {
    const dir = serverDir(() => ({ tls_server_config: tlsSection, basic_auth_users: { alice: passwordHash } }));
    const creds = credentialsDir({ ca: pki.ca, password: PASSWORD });
    const result = await runCli(
      scrapeConfigCommand,
      [
        '--web.config.file',
        'web-config.yml',
        '--target',
        'localhost:1',
        '--credentials-dir',
        creds,
        '--auth',
        'basic',
        '--labeldrop',
        'user_email',
        '--labeldrop',
        'session_.*',
      ],
      { cwd: dir },
    );
    expect(result.stderr).toBe('');
    const job = (parse(result.stdout) as { scrape_configs: PrometheusScrapeJob[] }).scrape_configs[0]!;
    expect(job.metric_relabel_configs).toEqual([{ action: 'labeldrop', regex: 'user_email|session_.*' }]);
    const { runMain } = await import('../src/tools/cli/run.js');
    const bad = await runCli(
      (a, io) => runMain(['scrape-config', ...a], io),
      ['--web.config.file', 'web-config.yml', '--target', 'localhost:1', '--auth', 'token'],
      { cwd: dir },
    );
    expect(bad.stderr).toMatch(/^scrapeguard scrape-config: --auth must be basic, bearer, header, jwt or none, got "token"\n$/);
    const none = await runCli(
      (a, io) => runMain(['scrape-config', ...a], io),
      ['--web.config.file', 'web-config.yml', '--target', 'localhost:1', '--auth', 'bearer'],
      { cwd: dir },
    );
    expect(none.stderr).toMatch(/auth bearer was chosen, but the web config accepts basic/);
  });
});

describe('renderers for every auth kind (requirements built by hand)', () => {
  let serverCertPem: string;
  let creds: string;
  const tls = () => ({ serverCertPem, clientCert: 'none' as const, clientCertVerified: false, minVersion: 'TLS12' as const, maxVersion: 'TLS13' as const });
  beforeAll(() => {
    serverCertPem = pki.server.certPem;
    creds = credentialsDir({ ca: pki.ca, token: 'static-token\n' });
    writeFileSync(join(creds, 'client-secret'), 'oauth-secret', { mode: 0o600 });
  });
  const gen = (req: ScrapeRequirements, extra: Partial<ScrapeConfigOptions> = {}) =>
    scrapeConfigFromRequirements(req, { targets: ['localhost:9443'], credentialsDir: creds, ...extra });

  it('bearer token → authorization.credentials_file (legacy bearer_token_file before 2.26)', async () => {
    const req: ScrapeRequirements = { scheme: 'https', tls: tls(), auth: { kind: 'authorization', type: 'Bearer', tokenKind: 'static' }, labelDrops: [] };
    const out = await gen(req);
    expect(out.job.authorization).toEqual({ type: 'Bearer', credentials_file: join(creds, 'token') });
    expect(out.warnings).toEqual([]);
    const old = await gen(req, { prometheusVersion: '2.25' });
    expect(old.job.authorization).toBeUndefined();
    expect(old.job.bearer_token_file).toBe(join(creds, 'token'));
    expect(old.job.tls_config?.min_version).toBeUndefined();
    const jwt = await gen({ ...req, auth: { kind: 'authorization', type: 'Bearer', tokenKind: 'jwt' } }, { credentialsDir: tmp() });
    expect(jwt.warnings).toContainEqual(expect.stringMatching(/^JWT credentials file ".*token" does not exist \(yet\)/));
  });

  it('oauth2 client credentials with scopes and endpoint params; refused before 2.27 and for a bad URL', async () => {
    const req: ScrapeRequirements = {
      scheme: 'https',
      tls: tls(),
      auth: { kind: 'oauth2', tokenUrl: 'https://idp.example/token', clientId: 'prometheus', scopes: ['metrics:read'], endpointParams: { audience: 'api' } },
      labelDrops: [],
    };
    const out = await gen(req);
    expect(out.job.oauth2).toEqual({
      client_id: 'prometheus',
      client_secret_file: join(creds, 'client-secret'),
      token_url: 'https://idp.example/token',
      scopes: ['metrics:read'],
      endpoint_params: { audience: 'api' },
    });
    expect(out.yaml).not.toContain('oauth-secret');
    await expectScrapeError(gen(req, { prometheusVersion: '2.26' }), /oauth2 needs Prometheus 2\.27/);
    await expectScrapeError(gen({ ...req, auth: { kind: 'oauth2', tokenUrl: 'ftp://x', clientId: 'p', scopes: [] } }), /not an http\(s\) URL/);
  });

  it('label drops → one labeldrop rule; an invalid regex is refused', async () => {
    const out = await gen({ scheme: 'https', tls: tls(), labelDrops: ['user_email', 'session_.*'] });
    expect(out.job.metric_relabel_configs).toEqual([{ action: 'labeldrop', regex: 'user_email|session_.*' }]);
    await expectScrapeError(gen({ scheme: 'https', tls: tls(), labelDrops: ['(unclosed'] }), /not a valid regular expression/);
  });

  it('the operator renderer references every credential by secret key selector', async () => {
    const base = { selector: { app: 'api' }, namespace: 'shop', credentialsDir: creds };
    const bearer = await operatorManifestsFromRequirements(
      { scheme: 'https', tls: tls(), auth: { kind: 'authorization', type: 'Bearer', tokenKind: 'static' }, labelDrops: ['secret'] },
      base,
    );
    const [secret, monitor] = bearer.documents as [Record<string, unknown>, { spec: { endpoints: unknown[] } }];
    expect(secret).toMatchObject({
      kind: 'Secret',
      metadata: { name: 'scrapeguard-scrape-credentials', namespace: 'shop' },
      stringData: { token: 'static-token', 'ca.crt': pki.ca.certPem },
    });
    expect(monitor.spec.endpoints[0]).toMatchObject({
      authorization: { type: 'Bearer', credentials: { name: 'scrapeguard-scrape-credentials', key: 'token' } },
      tlsConfig: { ca: { secret: { name: 'scrapeguard-scrape-credentials', key: 'ca.crt' } }, serverName: 'localhost' },
      metricRelabelings: [{ action: 'labeldrop', regex: 'secret' }],
    });
    const oauth = await operatorManifestsFromRequirements(
      { scheme: 'https', tls: tls(), auth: { kind: 'oauth2', tokenUrl: 'https://idp/token', clientId: 'prom', scopes: ['a'] }, labelDrops: [] },
      { ...base, kind: 'PodMonitor', embedSecrets: false },
    );
    expect(oauth.documents).toHaveLength(1);
    expect((oauth.documents[0] as { spec: { podMetricsEndpoints: { oauth2: unknown }[] } }).spec.podMetricsEndpoints[0]?.oauth2).toEqual({
      clientId: { secret: { name: 'scrapeguard-scrape-credentials', key: 'client-id' } },
      clientSecret: { name: 'scrapeguard-scrape-credentials', key: 'client-secret' },
      tokenUrl: 'https://idp/token',
      scopes: ['a'],
    });
    expect(oauth.createSecretCommand).toBe(
      `kubectl create secret generic scrapeguard-scrape-credentials -n shop --from-literal=client-id=prom --from-file=ca.crt=${join(creds, 'ca.crt')} --from-file=client-secret=${join(creds, 'client-secret')}`,
    );
  });
});

describe('checkPrometheusJob: what promtool lets through', () => {
  const job = (extra: Partial<PrometheusScrapeJob>): PrometheusScrapeJob => ({
    job_name: 'x',
    scheme: 'https',
    metrics_path: '/metrics',
    static_configs: [{ targets: ['a:1'] }],
    ...extra,
  });
  it.each<[string, Partial<PrometheusScrapeJob>, RegExp]>([
    ['scheme HTTPS', { scheme: 'HTTPS' as 'https' }, /scheme must be "http" or "https", got "HTTPS"/],
    ['scheme ftp', { scheme: 'ftp' as 'https' }, /scheme must be/],
    ['min above max', { tls_config: { min_version: 'TLS13', max_version: 'TLS12' } }, /min_version TLS13 is above max_version TLS12/],
    [
      'basic + authorization',
      { basic_auth: { username: 'a', password_file: '/p' }, authorization: { type: 'Bearer', credentials_file: '/t' } },
      /basic_auth and authorization are mutually exclusive/,
    ],
    ['cert without key', { tls_config: { cert_file: '/c' } }, /cert_file and key_file go together/],
    ['inline password', { basic_auth: { username: 'a', password: 'x' } as unknown as { username: string; password_file: string } }, /never inlined/],
    ['max_version on 2.40', { tls_config: { max_version: 'TLS12' } }, /max_version needs Prometheus 2\.41\+/],
  ])('refuses %s', (_name, extra, pattern) => {
    const version = _name === 'max_version on 2.40' ? { major: 2, minor: 40 } : V242;
    expect(() => checkPrometheusJob(job(extra), version)).toThrow(pattern);
  });
  it('accepts a complete job', () => {
    expect(() =>
      checkPrometheusJob(
        job({ tls_config: { ca_file: '/ca', min_version: 'TLS12', max_version: 'TLS13' }, basic_auth: { username: 'a', password_file: '/p' } }),
        V242,
      ),
    ).not.toThrow();
  });
});

describe('scrapeguard scrape-config (CLI)', () => {
  let dir: string;
  let creds: string;
  beforeAll(() => {
    dir = serverDir(() => ({ tls_server_config: mtlsSection, basic_auth_users: { alice: passwordHash } }));
    creds = credentialsDir({ ca: pki.ca, client: pki.client, password: PASSWORD });
  });

  it('prints YAML on stdout and warnings only on stderr', async () => {
    const result = await runCli(
      scrapeConfigCommand,
      ['--web.config.file', 'web-config.yml', '--target', '10.1.1.1:9443', '--credentials-dir', creds, '--job', 'node'],
      { cwd: dir },
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(
      'warning: the server certificate does not name 10.1.1.1 (names: localhost, 127.0.0.1, ::1); server_name set to "localhost" (give a server name to choose another)\n',
    );
    const doc = parse(result.stdout) as { scrape_configs: PrometheusScrapeJob[] };
    expect(doc.scrape_configs[0]).toMatchObject({ job_name: 'node', tls_config: { server_name: 'localhost', ca_file: join(creds, 'ca.crt') } });
    expect(result.stdout).not.toContain('warning');
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
  });

  it('prints a ServiceMonitor and its Secret for --format servicemonitor', async () => {
    const result = await runCli(
      scrapeConfigCommand,
      ['--web.config.file', 'web-config.yml', '--format', 'servicemonitor', '--selector', 'app=api', '--namespace', 'shop', '--credentials-dir', creds],
      { cwd: dir },
    );
    expect(result.code).toBe(0);
    const docs = result.stdout.split(/^---$/m).map((d) => parse(d) as { kind: string });
    expect(docs.map((d) => d.kind)).toEqual(['Secret', 'ServiceMonitor']);
    expect(result.stderr).toMatch(/^warning: .*Secret "scrapeguard-scrape-credentials" with private key or credential material/m);
  });

  it.each([
    [[], /--web\.config\.file is required/],
    [['--web.config.file', 'web-config.yml'], /at least one --target/],
    [['--web.config.file', 'web-config.yml', '--target', 'x:1', '--format', 'yaml'], /--format must be/],
    [['--web.config.file', 'web-config.yml', '--target', 'x:1', '--format', 'servicemonitor', '--selector', 'a=b'], /--target does not apply/],
    [['--web.config.file', 'web-config.yml', '--format', 'podmonitor'], /needs at least one --selector/],
    [['--web.config.file', 'web-config.yml', '--format', 'podmonitor', '--selector', 'novalue'], /is not LABEL=VALUE/],
    [['--web.config.file', 'web-config.yml', '--target', 'x:1', '--namespace', 'a'], /--namespace applies only to/],
    [['--web.config.file', 'web-config.yml', '--target', 'x:1', '--oauth2-token-url', 'https://i/t'], /go together/],
    [['--web.config.file', 'web-config.yml', '--target', 'x'], /is not HOST:PORT/],
  ])('refuses %j with a one-line error', async (argv, pattern) => {
    const { runMain } = await import('../src/tools/cli/run.js');
    const result = await runCli((a, io) => runMain(['scrape-config', ...a], io), argv, { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^scrapeguard scrape-config: [^\n]+\n$/);
    expect(result.stderr).toMatch(pattern);
  });

  it('shows --help', async () => {
    const result = await runCli(scrapeConfigCommand, ['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: scrapeguard scrape-config --web\.config\.file FILE --target HOST:PORT/);
  });
});

describe('generateScrapeConfig(guard.config)', () => {
  it('generates from the configuration in force', async () => {
    const dir = serverDir(() => ({ tls_server_config: mtlsSection }));
    mkdirSync(join(dir, 'scraper'));
    const guard = await createGuard({ config: join(dir, 'web-config.yml'), source: () => 'up 1\n', logger: silentLogger, watch: false });
    try {
      const creds = credentialsDir({ ca: pki.ca, client: pki.client });
      const out = await generateScrapeConfig(guard.config, { targets: ['localhost:9443'], credentialsDir: creds });
      expect(out.job.tls_config).toEqual({
        ca_file: join(creds, 'ca.crt'),
        cert_file: join(creds, 'client.crt'),
        key_file: join(creds, 'client.key'),
        min_version: 'TLS12',
      });
      expect(out.warnings).toEqual([]);
    } finally {
      await guard.close();
    }
  });
});
