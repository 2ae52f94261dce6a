/**
 * The exposition pipeline behind the real HTTPS server: negotiation and gzip as Prometheus asks,
 * redaction applied to what leaves, fail-closed answers (500 for a local source, 502 for an
 * upstream) with a log line that never carries the source's text, self-metrics, and upstream
 * sources over real sockets: healthy (http, https with CA and client certificate), down, slow,
 * wrong status, wrong content type, garbage, huge and gzip-bomb bodies.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { gunzipSync, gzipSync } from 'node:zlib';
import { hash } from '@node-rs/bcrypt';
import { Counter, Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebConfigInput } from '../src/config/schema.js';
import { parseExposition } from '../src/exposition/parse.js';
import { upstreamSource, type UpstreamOptions } from '../src/exposition/upstream.js';
import { createGuard, type Guard, type GuardOptions } from '../src/guard.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape } from './helpers/client.js';
import { textLogger } from './helpers/logger.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRedaction } from '../src/config/redaction.js';
import { createPipeline, readFamilies, withExtraFamilies } from '../src/exposition/pipeline.js';
import { compileRedaction } from '../src/exposition/redact.js';
import { toMetricsSource } from '../src/exposition/source.js';
import { createSelfMetrics } from '../src/metrics/self.js';

const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const SECRET_DSN = 'postgres://app:hunter2-very-secret@db:5432/app';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: Buffer;
  text: string;
}

let pki: TestPki;
let passwordHash: string;
const guards: Guard[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  pki = await testPki();
  passwordHash = await hash('pw', { cost: 4 });
});
afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** GET over HTTPS with our CA; the body as bytes (gzip stays compressed) and decoded text. */
function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      ca: pki.ca.certPem,
      agent: false,
      headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}`, ...headers },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const text = res.headers['content-encoding'] === 'gzip' ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, bytes, text });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function config(extra: WebConfigInput = {}): WebConfigInput {
  return { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile }, basic_auth_users: { alice: passwordHash }, ...extra };
}

async function start(options: Partial<GuardOptions> & Pick<GuardOptions, 'source'>, extra: WebConfigInput = {}) {
  const logs: string[] = [];
  const guard = await createGuard({ config: config(extra), logger: textLogger(logs), watch: false, ...options });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  return { guard, url: `https://127.0.0.1:${bound!.port}/metrics`, logs };
}

function appRegistry(): Registry {
  const registry = new Registry();
  const c = new Counter({ name: 'db_queries_total', help: 'Queries.', labelNames: ['dsn', 'user', 'table'], registers: [registry] });
  c.inc({ dsn: SECRET_DSN, user: 'alice', table: 'orders' }, 3);
  c.inc({ dsn: SECRET_DSN, user: 'bob', table: 'orders' }, 4);
  return registry;
}

describe('negotiation and gzip over HTTPS', () => {
  it('answers Prometheus with gzipped OpenMetrics, redacted and merged', async () => {
    const { url } = await start({ source: appRegistry() }, { redaction: { drop_labels: ['user'] } });
    const r = await get(url, { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores');
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(r.headers.vary).toBe('Accept-Encoding');
    expect(Number(r.headers['content-length'])).toBe(r.bytes.length);
    expect(r.text).toBe('# TYPE db_queries counter\n# HELP db_queries Queries.\ndb_queries_total{dsn="[REDACTED]",table="orders"} 7\n# EOF\n');
    expect(r.bytes.includes(Buffer.from('hunter2'))).toBe(false);
  });

  it('answers the text format without gzip when not asked, and to HEAD without a body', async () => {
    const { url } = await start({ source: appRegistry() });
    const r = await get(url);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8; escaping=underscores');
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.text).toContain('# TYPE db_queries_total counter\n');
    expect(r.text).not.toContain('hunter2');
    expect(parseExposition(r.text, 'text')[0]!.samples).toHaveLength(2);
  });

  it('serves a text source function in the format the scraper asks, sniffing its format', async () => {
    const om = '# TYPE jobs counter\njobs_total{queue="a"} 2 # {trace_id="x"} 1\n# EOF\n';
    const { url } = await start({ source: () => om });
    expect((await get(url, { accept: PROMETHEUS_ACCEPT })).text).toBe(om);
    expect((await get(url, { accept: 'text/plain;version=0.0.4' })).text).toBe('# TYPE jobs_total counter\njobs_total{queue="a"} 2\n');
  });
});

describe('fail closed', () => {
  it('a local source whose text does not parse is 500, logged with the line, never the text', async () => {
    const { url, logs } = await start({ source: () => `ok 1\nleak{password="${SECRET_DSN}" 1\n` });
    const r = await get(url);
    expect(r.status).toBe(500);
    expect(r.text).not.toContain('hunter2');
    const line = logs.find((l) => l.startsWith('error metrics source failed'));
    expect(line).toContain('line 2');
    expect(logs.join('\n')).not.toContain('hunter2');
  });

  it('a throwing source is 500', async () => {
    const { url } = await start({
      source: () => {
        throw new Error('registry exploded');
      },
    });
    expect((await get(url)).status).toBe(500);
  });

  it('counts source errors, redactions, detections in self-metrics', async () => {
    const self = new Registry();
    let broken = false;
    const { url } = await start(
      { source: () => (broken ? 'garbage{' : `m{dsn="${SECRET_DSN}",password="x",team="a"} 1\n`), selfMetrics: self },
      { redaction: { drop_labels: ['password'] } },
    );
    expect((await get(url)).status).toBe(200);
    broken = true;
    expect((await get(url)).status).toBe(500);
    const text = await self.metrics();
    expect(text).toContain('scrapeguard_redactions_total{rule="drop_labels"} 1');
    expect(text).toContain('scrapeguard_secrets_detected_total{detector="url_credentials"} 1');
    expect(text).toContain('scrapeguard_source_errors_total{reason="parse"} 1');
  });
});

describe('pipeline bookkeeping', () => {
  it('reports returned and withheld series and counts withheld ones in self-metrics', async () => {
    const self = new Registry();
    const metrics = await createSelfMetrics(self);
    const expose = createPipeline(
      toMetricsSource(() => 'a{team="x"} 1\na{team="y"} 2\n# TYPE b gauge\nb 3\n'),
      {
        redactor: compileRedaction(defaultRedaction()),
        metrics,
      },
    );
    const out = await expose({ filter: { allowsFamily: (n) => n === 'a', labelConstraints: [{ name: 'team', matches: (v) => v === 'x' }] } });
    expect(out.body).toBe('# TYPE a untyped\na{team="x"} 1\n');
    expect(out.seriesReturned).toBe(1);
    expect(out.seriesWithheld).toBe(2);
    expect(await self.metrics()).toContain('scrapeguard_series_withheld_total 2');
  });

  it('reads a registry through getMetricsAsJSON, never metrics(); an AggregatorRegistry through clusterMetrics()', async () => {
    const registry = appRegistry();
    let textCalls = 0;
    const metrics = registry.metrics.bind(registry);
    registry.metrics = () => (textCalls++, metrics());
    const families = await readFamilies(toMetricsSource(registry));
    expect(families.map((f) => f.name)).toEqual(['db_queries']);
    expect(textCalls).toBe(0);
    const aggregator = Object.assign(new Registry(), { clusterMetrics: async () => '# TYPE workers gauge\nworkers 4\n' });
    expect((await readFamilies(toMetricsSource(aggregator))).map((f) => f.name)).toEqual(['workers']);
  });

  it('withExtraFamilies: adds families the primary lacks, keeps the primary on a name clash and its failure status', async () => {
    const primary = toMetricsSource(() => '# TYPE shared gauge\nshared 1\n');
    const extra = toMetricsSource(() => '# TYPE shared gauge\nshared 2\n# TYPE own gauge\nown 3\n');
    const families = await readFamilies(withExtraFamilies(primary, extra));
    expect(families.map((f) => [f.name, f.samples[0]!.value])).toEqual([
      ['shared', 1],
      ['own', 3],
    ]);
    const up = upstreamSource({ url: 'http://127.0.0.1:9/metrics', timeoutMs: 500 });
    const error = await readFamilies(withExtraFamilies(up, extra)).catch((e: unknown) => e);
    expect((error as { status?: number }).status).toBe(502);
  });

  it('hashes with the key file, and a changed key file reloads into new hashes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-hashkey-'));
    const keyFile = join(dir, 'hash.key');
    writeFileSync(keyFile, 'first-key-0123456789abcdef');
    const file = join(dir, 'web.yml');
    writeFileSync(file, `redaction:\n  hash_labels: [user]\n  hash_key_file: ${keyFile}\n`);
    const logs: string[] = [];
    const guard = await createGuard({ config: file, source: () => 'm{user="alice"} 1\n', logger: textLogger(logs), watch: false });
    guards.push(guard);
    const [bound] = await guard.listen('127.0.0.1:0');
    const url = `http://127.0.0.1:${bound!.port}/metrics`;
    const hashed = async () => /user="([0-9a-f]{16})"/.exec((await scrape(url)).body)?.[1];
    const first = await hashed();
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    expect(await hashed()).toBe(first);
    expect(guard.config.dependsOn).toContain(keyFile);
    writeFileSync(keyFile, 'second-key-0123456789abcdef');
    expect(await guard.reload()).toBe(true);
    const second = await hashed();
    expect(second).toMatch(/^[0-9a-f]{16}$/);
    expect(second).not.toBe(first);
    expect(logs.join('\n')).not.toMatch(/first-key|second-key/);
  });
});

/** A plain HTTP upstream whose behaviour the test sets per request. */
async function upstreamServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createHttpServer(handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
}

describe('upstream sources', () => {
  const exporterText = `# HELP up_info Info.\n# TYPE up_info gauge\nup_info{dsn="${SECRET_DSN}",version="1.5.0"} 1\n`;

  it('fetches with the Prometheus Accept header and gzip, redacts, honours the content type', async () => {
    let seen: IncomingMessage['headers'] = {};
    const url = await upstreamServer((req, res) => {
      seen = req.headers;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-encoding': 'gzip' });
      res.end(gzipSync(exporterText));
    });
    const { url: guardUrl } = await start({ source: upstreamSource({ url }) });
    const r = await get(guardUrl, { accept: PROMETHEUS_ACCEPT });
    expect(r.status).toBe(200);
    expect(seen.accept).toContain('application/openmetrics-text');
    expect(seen['accept-encoding']).toBe('gzip');
    expect(r.text).toBe('# TYPE up_info gauge\n# HELP up_info Info.\nup_info{dsn="[REDACTED]",version="1.5.0"} 1\n# EOF\n');
  });

  const failures: [string, (req: IncomingMessage, res: ServerResponse) => void, Partial<UpstreamOptions>, string][] = [
    ['wrong status', (_q, res) => res.writeHead(503).end(`secret body ${SECRET_DSN}`), {}, 'answered HTTP 503'],
    ['garbage', (_q, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`{"not": "metrics", "dsn": "${SECRET_DSN}"}`), {}, 'cannot parse'],
    ['unsupported content type', (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), {}, 'unsupported content type'],
    ['slow', () => undefined, { timeoutMs: 300 }, 'within 300 ms'],
    [
      'huge',
      (_q, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`m{a="${'x'.repeat(200_000)}"} 1\n`),
      { maxBytes: 100_000 },
      'larger than 100000',
    ],
    [
      'gzip bomb',
      (_q, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }).end(gzipSync(Buffer.alloc(50_000_000, 'a'))),
      { maxBytes: 1_000_000 },
      'larger than 1000000',
    ],
    [
      'cut mid-body',
      (_q, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
        res.write('m 1\n');
        setTimeout(() => res.destroy(), 50);
      },
      {},
      'closed mid-body',
    ],
  ];

  it.each(failures)('%s → 502 without the upstream body', async (_name, handler, options, logged) => {
    const url = await upstreamServer(handler);
    const { url: guardUrl, logs } = await start({ source: upstreamSource({ url, ...options }) });
    const r = await get(guardUrl);
    expect(r.status).toBe(502);
    expect(r.text).toBe('Bad Gateway\n');
    expect(logs.find((l) => l.startsWith('error metrics source failed'))).toContain(logged);
    expect(logs.join('\n')).not.toContain('hunter2');
  });

  it('down → 502', async () => {
    const url = await upstreamServer(() => undefined);
    await new Promise((r) => servers.pop()!.close(r));
    const { url: guardUrl, logs } = await start({ source: upstreamSource({ url }) });
    expect((await get(guardUrl)).status).toBe(502);
    expect(logs.join('\n')).toContain('ECONNREFUSED');
  });

  it('https upstream: verifies with the given CA, presents a client certificate, refuses an unknown CA', async () => {
    let clientCn: string | undefined;
    const server = createHttpsServer(
      { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        clientCn = String((req.socket as TLSSocket).getPeerCertificate().subject?.CN);
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end('m 1\n');
      },
    );
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    const good = await start({ source: upstreamSource({ url, tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem } }) });
    expect((await get(good.url)).text).toBe('m 1\n');
    expect(clientCn).toBe('prometheus');
    const wrongCa = await start({ source: upstreamSource({ url, tls: { ca: pki.otherCa.certPem, cert: pki.client.certPem, key: pki.client.keyPem } }) });
    expect((await get(wrongCa.url)).status).toBe(502);
    expect(wrongCa.logs.join('\n')).toMatch(/request failed: [A-Z_]*(CERT|SIGNATURE|ISSUER)/);
  });

  it('refuses options that would weaken the sidecar', () => {
    expect(() => upstreamSource({ url: 'ftp://127.0.0.1/metrics' })).toThrow(/http:\/\/ or https:\/\//);
    expect(() => upstreamSource({ url: 'http://user:pw@127.0.0.1/metrics' })).toThrow(/credentials/);
    expect(() => upstreamSource({ url: 'https://exporter.example.com/metrics', tls: { insecureSkipVerify: true } })).toThrow(/loopback/);
    expect(() => upstreamSource({ url: 'https://127.0.0.1:9100/metrics', tls: { insecureSkipVerify: true } })).not.toThrow();
    expect(() => upstreamSource({ url: 'http://127.0.0.1/metrics', tls: { ca: 'x' } })).toThrow(/https/);
    expect(() => upstreamSource({ url: 'https://127.0.0.1/metrics', tls: { cert: 'x' } })).toThrow(/together/);
  });
});
