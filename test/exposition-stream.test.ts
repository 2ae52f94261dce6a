/**
 * Streaming exposition: a scrape larger than STREAM_THRESHOLD_BYTES is rendered as the connection
 * reads it (chunked, gzip streamed), family by family, with backpressure, over the real HTTPS
 * server and the node:http, express, koa and fastify adapters; what it sends equals the whole-body
 * rendering of the same registry; a source failing after the answer started cuts the body off
 * (never a short answer that parses), is logged, counted and audited; HEAD and on_empty: forbid
 * still answer as they did; a small scrape is still answered whole with a Content-Length.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gunzipSync } from 'node:zlib';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expressMetrics } from '../src/adapters/express.js';
import { fastifyMetrics } from '../src/adapters/fastify.js';
import { metricsHandler } from '../src/adapters/http.js';
import { koaMetrics } from '../src/adapters/koa.js';
import type { AuditRecord } from '../src/audit/audit.js';
import { defaultRedaction } from '../src/config/redaction.js';
import type { WebConfigInput } from '../src/config/schema.js';
import { parseExposition } from '../src/exposition/parse.js';
import { createPipeline, STREAM_THRESHOLD_BYTES } from '../src/exposition/pipeline.js';
import { decodeProtobuf } from '../src/exposition/protobuf/codec.js';
import { compileRedaction } from '../src/exposition/redact.js';
import { renderExposition } from '../src/exposition/render.js';
import { defineMetricsSource, toMetricsSource } from '../src/exposition/source.js';
import type { MetricFamily } from '../src/exposition/model.js';
import { createGuard, type Guard, type GuardOptions } from '../src/guard.js';
import { scrapeHttp2 } from './helpers/client.js';
import { textLogger } from './helpers/logger.js';
import { testPki, type TestPki } from './helpers/pki.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: Buffer;
  text: string;
  /** The response ended without its last chunk (the server cut it off). */
  aborted: boolean;
}

let pki: TestPki;
const guards: Guard[] = [];
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  pki = await testPki();
});
afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A registry whose text exposition is several times the streaming threshold. */
function bigRegistry(series = 30_000): Registry {
  const registry = new Registry();
  const requests = new Counter({ name: 'app_requests_total', help: 'Requests.', labelNames: ['route', 'status'], registers: [registry] });
  const inflight = new Gauge({ name: 'app_in_flight', help: 'In flight.', labelNames: ['route'], registers: [registry] });
  const latency = new Histogram({ name: 'app_latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 1], registers: [registry] });
  for (let i = 0; i < series; i++) requests.inc({ route: `/api/v1/resource/${i}`, status: String(200 + (i % 5)) }, i % 97);
  for (let i = 0; i < series / 10; i++) inflight.set({ route: `/api/v1/resource/${i}` }, i % 7);
  for (let i = 0; i < series / 50; i++) latency.observe({ route: `/api/v1/resource/${i}` }, (i % 13) / 10);
  return registry;
}

/** What the whole-body path renders for the same registry (the model, rendered at once). */
async function wholeText(registry: Registry): Promise<string> {
  const families = parseExposition(await registry.metrics(), 'text');
  return renderExposition(families, 'text', { escaping: 'underscores' }).text;
}

function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  const https = url.startsWith('https:');
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(url, { method, agent: false, headers, ...(https ? { ca: pki.ca.certPem } : {}) });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const finish = (aborted: boolean) => {
        const bytes = Buffer.concat(chunks);
        const text = !aborted && res.headers['content-encoding'] === 'gzip' ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, bytes, text, aborted });
      };
      res.on('end', () => finish(false));
      res.on('aborted', () => finish(true));
      res.on('error', () => finish(true));
    });
    req.on('error', reject);
    req.end();
  });
}

async function start(options: Partial<GuardOptions> & Pick<GuardOptions, 'source'>, config: WebConfigInput = {}) {
  const logs: string[] = [];
  const audit: AuditRecord[] = [];
  const guard = await createGuard({
    config: { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile }, ...config },
    logger: textLogger(logs),
    audit: (record) => audit.push(record),
    watch: false,
    ...options,
  });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  return { guard, url: `https://127.0.0.1:${bound!.port}/metrics`, logs, audit };
}

/** Waits until `check` holds (audit records of streamed answers are written when the last byte went out). */
async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

/** A source of `total` families of 1,000 series each, counting how many families were pulled; throws at `failAt`. */
function countingSource(total: number, failAt?: number) {
  const state = { pulled: 0 };
  const family = (i: number): MetricFamily => ({
    name: `family_${i}`,
    type: 'gauge',
    help: 'A family.',
    samples: Array.from({ length: 1000 }, (_, j) => ({ suffix: '', labels: ['series', `series-number-${j}-of-family-${i}`], value: j })),
  });
  const source = defineMetricsSource(
    () =>
      Promise.resolve({
        familyStream: (function* () {
          for (let i = 0; i < total; i++) {
            if (i === failAt) throw new Error('collector exploded');
            state.pulled++;
            yield family(i);
          }
        })(),
      }),
    500,
    'counting source',
  );
  return { source, state };
}

describe('large scrapes stream', () => {
  it('a scrape over the threshold is sent chunked, without Content-Length, and equals the whole-body rendering', async () => {
    const registry = bigRegistry();
    const { url } = await start({ source: registry });
    const r = await get(url);
    expect(r.status).toBe(200);
    expect(r.aborted).toBe(false);
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.bytes.length).toBeGreaterThan(2 * STREAM_THRESHOLD_BYTES);
    expect(r.text).toBe(await wholeText(registry));
  });

  it('gzip is streamed too: the body gunzips to the identity body', async () => {
    const registry = bigRegistry();
    const { url } = await start({ source: registry });
    const plain = await get(url);
    const zipped = await get(url, { 'accept-encoding': 'gzip' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers['content-length']).toBeUndefined();
    expect(zipped.bytes.length).toBeLessThan(plain.bytes.length / 4);
    expect(zipped.text).toBe(plain.text);
  });

  it('OpenMetrics and protobuf stream with the same content as text', async () => {
    const registry = bigRegistry();
    const { url } = await start({ source: registry });
    const text = await get(url);
    const om = await get(url, { accept: 'application/openmetrics-text;version=1.0.0' });
    expect(om.headers['transfer-encoding']).toBe('chunked');
    expect(om.text.endsWith('# EOF\n')).toBe(true);
    expect(om.text.match(/# EOF/g)).toHaveLength(1);
    const pb = await get(url, { accept: 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited' });
    expect(pb.headers['transfer-encoding']).toBe('chunked');
    const series = (families: MetricFamily[]) => families.reduce((n, f) => n + f.samples.length, 0);
    const fromText = parseExposition(text.text, 'text');
    expect(series(parseExposition(om.text, 'openmetrics'))).toBe(series(fromText));
    expect(decodeProtobuf(pb.bytes).map((f) => f.name)).toEqual(parseExposition(om.text, 'openmetrics').map((f) => f.name));
  });

  it('redaction applies to every family of a streamed scrape', async () => {
    const registry = bigRegistry();
    const { url } = await start({ source: registry }, { redaction: { drop_labels: ['status'] } });
    const r = await get(url);
    expect(r.headers['transfer-encoding']).toBe('chunked');
    const families = parseExposition(r.text, 'text');
    const requests = families.find((f) => f.name === 'app_requests')!;
    // status dropped: the 5 status values of one route merge into one series.
    expect(requests.samples.every((s) => !s.labels.includes('status'))).toBe(true);
    expect(requests.samples).toHaveLength(30_000);
  });

  it('over HTTP/2 a large scrape streams as DATA frames and arrives whole', async () => {
    const registry = bigRegistry();
    const { url } = await start({ source: registry }, { http_server_config: { http2: true } });
    const r = await scrapeHttp2(url, { ca: pki.ca.certPem });
    expect(r.alpn).toBe('h2');
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.body).toBe(await wholeText(registry));
  });

  it('a small scrape is still answered whole, with a Content-Length', async () => {
    const { url } = await start({ source: bigRegistry(100) });
    const r = await get(url);
    expect(r.headers['content-length']).toBe(String(r.bytes.length));
    expect(r.headers['transfer-encoding']).toBeUndefined();
  });

  it('the audit record of a streamed scrape is written when it ended, with the bytes and series sent', async () => {
    const registry = bigRegistry();
    const { url, audit } = await start({ source: registry });
    const r = await get(url);
    await eventually(() => audit.length === 1);
    const lines = r.text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    expect(audit[0]).toMatchObject({ status: 200, bytes: r.bytes.length, series_returned: lines, series_withheld: 0, reason: null });
  });
});

describe('backpressure and failures', () => {
  it('nothing is rendered ahead of what the reader takes: an unread stream has pulled a few families of many', async () => {
    const { source, state } = countingSource(500);
    const expose = createPipeline(source, { redactor: compileRedaction(defaultRedaction()) });
    const out = await expose({});
    expect(out.body).toBeInstanceOf(Readable);
    await new Promise((r) => setTimeout(r, 50));
    // The head (~1 MiB) plus what the stream buffers: far from all 500 families (~30 MiB).
    expect(state.pulled).toBeLessThan(60);
    let bytes = 0;
    for await (const chunk of out.body as Readable) bytes += (chunk as Buffer).length;
    expect(state.pulled).toBe(500);
    expect(bytes).toBeGreaterThan(20 * STREAM_THRESHOLD_BYTES);
    const summary = await out.streamed!;
    expect(summary).toMatchObject({ bytes, seriesReturned: 500_000, seriesWithheld: 0 });
    expect(summary.error).toBeUndefined();
  });

  it("a registry's JSON of a family is garbage once rendered: a paused stream holds only what it has not sent", async () => {
    // A real collection (gc exposed at run time), observed through a FinalizationRegistry on each
    // metric's getMetricsAsJSON() object: the pass must not keep the registry's whole JSON alive.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const collected = new Set<number>();
    const tracker = new FinalizationRegistry<number>((i) => collected.add(i));
    const json = (i: number) => {
      const metric = {
        name: `family_${i}`,
        help: 'A family.',
        type: 'gauge',
        values: Array.from({ length: 1000 }, (_, j) => ({ value: j, labels: { series: `series-number-${j}-of-family-${i}` } })),
      };
      tracker.register(metric, i);
      return metric;
    };
    const registryLike = {
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      metrics: () => '',
      getMetricsAsJSON: () => Array.from({ length: 200 }, (_, i) => json(i)),
    };
    const out = await createPipeline(toMetricsSource(registryLike), { redactor: compileRedaction(defaultRedaction()) })({});
    expect(out.body).toBeInstanceOf(Readable);
    for (let round = 0; round < 5 && collected.size < 10; round++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    // The head (~1 MiB, about 20 families) is rendered and their JSON let go, though the stream is unread;
    // the rest (about 180 families) waits.
    expect(collected.size).toBeGreaterThanOrEqual(10);
    expect(collected.size).toBeLessThan(100);
    (out.body as Readable).destroy();
  });

  it('a source failing after the answer started cuts the body off: never a complete answer; logged, counted, audited', async () => {
    const { source } = countingSource(100, 40);
    const self = new Registry();
    const { url, logs, audit } = await start({ source, selfMetrics: self });
    const r = await get(url);
    expect(r.status).toBe(200);
    expect(r.aborted).toBe(true);
    expect(r.text).not.toContain('family_40');
    await eventually(() => audit.length === 1);
    expect(audit[0]).toMatchObject({ status: 200, reason: 'stream_failed' });
    expect(logs.some((l) => l.startsWith('error metrics source failed after the answer started'))).toBe(true);
    expect(logs.join('\n')).not.toContain('series-number');
    expect(await self.metrics()).toContain('scrapeguard_source_errors_total{reason="source"} 1');
  });

  it('a source failing before the threshold still answers 500, as a whole scrape does', async () => {
    const { source } = countingSource(100, 0);
    const { url } = await start({ source });
    const r = await get(url);
    expect(r.status).toBe(500);
  });

  it('HEAD of a large scrape gets the headers alone and stops rendering', async () => {
    const { source, state } = countingSource(500);
    const { url } = await start({ source });
    const r = await get(url, {}, 'HEAD');
    expect(r.status).toBe(200);
    expect(r.bytes.length).toBe(0);
    expect(r.headers['content-type']).toContain('text/plain');
    await new Promise((r) => setTimeout(r, 50));
    expect(state.pulled).toBeLessThan(60);
  });

  it('on_empty: forbid still answers 403 when a large scrape leaves the caller nothing', async () => {
    const registry = bigRegistry();
    const token = 'stream-test-token-not-a-secret';
    const { url } = await start(
      { source: registry },
      {
        bearer_auth: { tokens: [{ name: 'prometheus', token_sha256: createHash('sha256').update(token).digest('hex'), groups: ['ops'] }] },
        access_rules: { default: 'deny', on_empty: 'forbid', rules: [{ groups: ['ops'], allow_metrics: ['nothing_matches_.*'] }] },
      },
    );
    const r = await get(url, { authorization: `Bearer ${token}` });
    expect(r.status).toBe(403);
  });
});

describe('the adapters stream too', () => {
  async function serve(kind: 'http' | 'express' | 'koa' | 'fastify', guard: Guard): Promise<string> {
    if (kind === 'fastify') {
      const app = Fastify();
      await app.register(fastifyMetrics, { guard });
      await app.listen({ host: '127.0.0.1', port: 0 });
      closers.push(() => app.close());
      return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/metrics`;
    }
    let handler: Parameters<typeof createHttpServer>[1];
    if (kind === 'http') handler = metricsHandler(guard);
    else if (kind === 'express') {
      const app = express();
      app.use(expressMetrics(guard));
      handler = app;
    } else {
      const app = new Koa();
      app.use(koaMetrics(guard));
      const callback = app.callback();
      handler = (req, res) => void callback(req, res);
    }
    const server = createHttpServer(handler);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => new Promise((r) => server.close(() => r())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  }

  for (const kind of ['http', 'express', 'koa', 'fastify'] as const) {
    it(`${kind}: a large scrape arrives chunked and whole`, async () => {
      const registry = bigRegistry();
      const guard = await createGuard({ config: {}, source: registry, watch: false, logger: textLogger([]) });
      guards.push(guard);
      const r = await get(await serve(kind, guard), { 'accept-encoding': 'gzip' });
      expect(r.status).toBe(200);
      expect(r.headers['content-length']).toBeUndefined();
      expect(r.headers['content-encoding']).toBe('gzip');
      expect(r.text).toBe(await wholeText(registry));
    });
  }
});

describe('the registry source', () => {
  it('converts families lazily, as the pass reaches them', async () => {
    const source = toMetricsSource(bigRegistry(100));
    const out = await source();
    expect('familyStream' in out).toBe(true);
  });
});
