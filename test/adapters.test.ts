/**
 * Conformance suite of the mounted adapters: the same cases, once per adapter (node:http, express
 * 5, koa 3, fastify 5), each on the application's own server on a real port with real TLS
 * handshakes. The guard must behave identically behind every framework: metrics served, the auth
 * matrix, other paths left to the application, HEAD/405, security headers, TLS and client
 * certificates read honestly from the socket (and verified against the config's own client CA,
 * not the server's trust store), trusted-proxy headers believed only from the configured proxy,
 * spoofing attempts ignored and logged, and 503 after close().
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hash } from '@node-rs/bcrypt';
import express from 'express';
import express4 from 'express4';
import Fastify, { type FastifyInstance } from 'fastify';
import Fastify4 from 'fastify4';
import Koa from 'koa';
import Koa2 from 'koa2';
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard, type GuardOptions } from '../src/guard.js';
import type { WebConfigInput } from '../src/config/schema.js';
import { metricsHandler } from '../src/adapters/http.js';
import { expressMetrics } from '../src/adapters/express.js';
import { koaMetrics } from '../src/adapters/koa.js';
import { fastifyMetrics } from '../src/adapters/fastify.js';
import { testPki, type TestCert, type TestPki } from './helpers/pki.js';
import { scrape, type ScrapeOptions, type ScrapeResult } from './helpers/client.js';
import { capturingLogger, type LogLine } from './helpers/logger.js';

/** An application with the guard mounted, listening on 127.0.0.1. */
interface RunningApp {
  /** `https://127.0.0.1:PORT` or `http://…`. */
  base: string;
  close(): Promise<void>;
}

/** One adapter: how to start an app that mounts a guard and also serves its own `GET /hello`. */
interface AdapterCase {
  name: string;
  start(guard: Guard, tls: HttpsOptions | undefined): Promise<RunningApp>;
}

const HELLO = 'hello from the app\n';

async function listenNode(server: Server, tls: boolean): Promise<RunningApp> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const nodeServer = (tls: HttpsOptions | undefined, handler: (req: IncomingMessage, res: ServerResponse) => void): Server =>
  tls ? createHttpsServer(tls, handler) : createHttpServer(handler);

const expressCase = (name: string, make: typeof express): AdapterCase => ({
  name,
  start(guard, tls) {
    const app = make();
    app.use(expressMetrics(guard));
    app.get('/hello', (_req, res) => {
      res.type('text/plain').send(HELLO);
    });
    return listenNode(nodeServer(tls, app), tls !== undefined);
  },
});

const koaCase = (name: string, Make: typeof Koa): AdapterCase => ({
  name,
  start(guard, tls) {
    const app = new Make();
    app.use(koaMetrics(guard));
    app.use((ctx) => {
      if (ctx.path === '/hello') ctx.body = HELLO;
    });
    // koa's handler never rejects (it answers errors through ctx.onerror), so its promise is dropped.
    const handler = app.callback();
    return listenNode(
      nodeServer(tls, (req, res) => void handler(req, res)),
      tls !== undefined,
    );
  },
});

const fastifyCase = (name: string, make: typeof Fastify): AdapterCase => ({
  name,
  async start(guard, tls) {
    // One instance type for both shapes: the HTTPS one (fastify's types split on the option).
    const app = (tls ? make({ https: tls }) : make()) as FastifyInstance;
    await app.register(fastifyMetrics, { guard });
    app.get('/hello', async () => HELLO);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return { base: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, close: () => app.close() };
  },
});

const ADAPTERS: AdapterCase[] = [
  {
    name: 'node:http',
    start(guard, tls) {
      const app = (req: IncomingMessage, res: ServerResponse) => {
        if (req.url === '/hello') res.writeHead(200, { 'content-type': 'text/plain' }).end(HELLO);
        else res.writeHead(404, { 'content-type': 'text/plain' }).end('app: not found\n');
      };
      return listenNode(nodeServer(tls, metricsHandler(guard, { next: app as never })), tls !== undefined);
    },
  },
  expressCase('express 5', express),
  // The previous majors (npm aliases express4, koa2, fastify4): the peer ranges we declare.
  expressCase('express 4', express4),
  koaCase('koa 3', Koa),
  koaCase('koa 2', Koa2),
  fastifyCase('fastify 5', Fastify),
  fastifyCase('fastify 4', Fastify4 as unknown as typeof Fastify),
];

let pki: TestPki;
let passwordHash: string;
const PASSWORD = 'correct horse battery staple';
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  pki = await testPki();
  passwordHash = await hash(PASSWORD, { cost: 4 });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function registry(): Registry {
  const r = new Registry();
  new Counter({ name: 'demo_events_total', help: 'Demo counter.', registers: [r] }).inc(3);
  return r;
}

/** mTLS (verified, SAN `prometheus`) + basic auth + a security header: the config a mounted guard enforces. */
function strictConfig(): WebConfigInput {
  return {
    tls_server_config: {
      cert_file: pki.server.certFile,
      key_file: pki.server.keyFile,
      client_ca_file: pki.ca.certFile,
      client_auth_type: 'RequireAndVerifyClientCert',
      client_allowed_sans: ['prometheus'],
    },
    http_server_config: { headers: { 'X-Frame-Options': 'deny' } },
    basic_auth_users: { prometheus: passwordHash },
  };
}

/**
 * The application's own HTTPS server: it asks for a client certificate but lets clients without
 * one in (it serves other things too), and trusts BOTH CAs, so the guard cannot lean on it.
 */
function appTls(): HttpsOptions {
  return {
    cert: pki.server.certPem,
    key: pki.server.keyPem,
    ca: [pki.ca.certPem, pki.otherCa.certPem],
    requestCert: true,
    rejectUnauthorized: false,
  };
}

async function mount(
  adapter: AdapterCase,
  options: { config?: WebConfigInput; tls?: HttpsOptions | false; guard?: Partial<GuardOptions> } = {},
): Promise<{ guard: Guard; base: string; url: string; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const guard = await createGuard({
    config: options.config ?? strictConfig(),
    source: registry(),
    logger: capturingLogger(logs),
    watch: false,
    ...options.guard,
  });
  const app = await adapter.start(guard, options.tls === false ? undefined : (options.tls ?? appTls()));
  cleanups.push(async () => {
    await app.close();
    await guard.close(0);
  });
  return { guard, base: app.base, url: `${app.base}/metrics`, logs };
}

const auth = `prometheus:${PASSWORD}`;
const withCert = (cert: TestCert | undefined, extra: ScrapeOptions = {}): ScrapeOptions => ({
  ca: pki.ca.certPem,
  ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
  ...extra,
});

function expectMetrics(r: ScrapeResult): void {
  expect(r.error, `${r.error}: ${r.errorMessage}`).toBeUndefined();
  expect(r.status, r.body).toBe(200);
  expect(r.body).toContain('demo_events_total 3');
  expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8; escaping=underscores');
}

/** Envoy's X-Forwarded-Client-Cert element for a certificate (URL-encoded PEM in `Cert`). */
function xfcc(cert: TestCert): string {
  return `By=spiffe://cluster.local/ns/monitoring/sa/envoy;Hash=0123abcd;Cert="${encodeURIComponent(cert.certPem)}";Subject="CN=prometheus";URI=`;
}

describe.each(ADAPTERS)('$name adapter', (adapter) => {
  describe('served over the application server with mTLS', () => {
    test('serves the metrics to a verified client certificate with the right password', async () => {
      const { url } = await mount(adapter);
      const r = await scrape(url, withCert(pki.client, { auth }));
      expectMetrics(r);
      expect(r.headers['x-frame-options']).toBe('deny');
      expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    });

    test('ignores the query string', async () => {
      const { url } = await mount(adapter);
      expectMetrics(await scrape(`${url}?name[]=demo_events_total`, withCert(pki.client, { auth })));
    });

    test('401 with a realm without credentials or with a wrong password; never the metrics', async () => {
      const { url } = await mount(adapter);
      for (const options of [withCert(pki.client), withCert(pki.client, { auth: 'prometheus:wrong' }), withCert(pki.client, { auth: 'nobody:x' })]) {
        const r = await scrape(url, options);
        expect(r.status).toBe(401);
        expect(r.headers['www-authenticate']).toBe('Basic realm="metrics"');
        expect(r.body).not.toContain('demo_events_total');
      }
    });

    test('HEAD: 200, the GET Content-Length, no body', async () => {
      const { url } = await mount(adapter);
      const get = await scrape(url, withCert(pki.client, { auth }));
      const head = await scrape(url, withCert(pki.client, { auth, method: 'HEAD' }));
      expect(head.status).toBe(200);
      expect(head.body).toBe('');
      expect(head.headers['content-length']).toBe(String(Buffer.byteLength(get.body)));
      expect(head.headers['content-type']).toBe(get.headers['content-type']);
    });

    test('405 with Allow for other methods on the metrics path', async () => {
      const { url } = await mount(adapter);
      for (const method of ['POST', 'DELETE']) {
        const r = await scrape(url, withCert(pki.client, { auth, method }));
        expect(r.status, method).toBe(405);
        expect(r.headers.allow).toBe('GET, HEAD');
      }
    });

    test("other paths are the application's: no certificate or password needed, framework 404 for unknown ones", async () => {
      const { base } = await mount(adapter);
      const hello = await scrape(`${base}/hello`, { ca: pki.ca.certPem });
      expect(hello.status).toBe(200);
      expect(hello.body).toBe(HELLO);
      const unknown = await scrape(`${base}/metrics-not`, { ca: pki.ca.certPem });
      expect(unknown.status).toBe(404);
      // The guard's security headers mark its own answers; the app's 404 is not one of them.
      expect(unknown.headers['x-frame-options']).toBeUndefined();
    });

    test('a custom path option moves the endpoint', async () => {
      const logs: LogLine[] = [];
      const guard = await createGuard({ config: strictConfig(), source: registry(), logger: capturingLogger(logs), watch: false });
      // Same adapter, mounted through its options at another path.
      const custom: Guard = guard;
      let app: RunningApp;
      if (adapter.name === 'node:http') app = await listenNode(createHttpsServer(appTls(), metricsHandler(custom, { path: '/internal/metrics' })), true);
      else if (adapter.name === 'express 5') {
        const e = express();
        e.use(expressMetrics(custom, { path: '/internal/metrics' }));
        app = await listenNode(createHttpsServer(appTls(), e), true);
      } else if (adapter.name === 'koa 3') {
        const k = new Koa();
        k.use(koaMetrics(custom, { path: '/internal/metrics' }));
        const handler = k.callback(); // never rejects: koa answers errors through ctx.onerror
        app = await listenNode(
          createHttpsServer(appTls(), (req, res) => void handler(req, res)),
          true,
        );
      } else {
        const f = Fastify({ https: appTls() });
        await f.register(fastifyMetrics, { guard: custom, path: '/internal/metrics' });
        await f.listen({ port: 0, host: '127.0.0.1' });
        app = { base: `https://127.0.0.1:${(f.server.address() as AddressInfo).port}`, close: () => f.close() };
      }
      cleanups.push(async () => {
        await app.close();
        await guard.close(0);
      });
      expectMetrics(await scrape(`${app.base}/internal/metrics`, withCert(pki.client, { auth })));
      const old = await scrape(`${app.base}/metrics`, withCert(pki.client, { auth }));
      expect(old.status).toBe(404);
      expect(old.body).not.toContain('demo_events_total');
    });
  });

  describe('TLS and client certificates, read from the socket', () => {
    test('421 when the config demands TLS and the request arrived in clear text (logged)', async () => {
      const { url, logs } = await mount(adapter, { tls: false });
      const r = await scrape(url, { auth });
      expect(r.status).toBe(421);
      expect(r.body).not.toContain('demo_events_total');
      expect(logs.some((l) => l.level === 'warn' && l.message === 'refused request that did not arrive over TLS' && l.fields.remote === '127.0.0.1')).toBe(
        true,
      );
    });

    test('403 without a client certificate (logged), even with the right password', async () => {
      const { url, logs } = await mount(adapter);
      const r = await scrape(url, withCert(undefined, { auth }));
      expect(r.status).toBe(403);
      expect(r.body).not.toContain('demo_events_total');
      expect(logs.some((l) => l.message === 'refused request by client certificate policy' && l.fields.reason === 'client sent no certificate')).toBe(true);
    });

    test("403 for a certificate the app server trusts but the config's client CA did not sign", async () => {
      const { url, logs } = await mount(adapter);
      const r = await scrape(url, withCert(pki.clientOtherCa, { auth }));
      expect(r.status).toBe(403);
      expect(logs.some((l) => l.message === 'refused request by client certificate policy' && String(l.fields.reason).includes('not verified'))).toBe(true);
    });

    test('403 for self-signed, expired and wrong-SAN certificates', async () => {
      const { url } = await mount(adapter);
      for (const cert of [pki.clientSelfSigned, pki.clientExpired, pki.clientWrongSan]) {
        const r = await scrape(url, withCert(cert, { auth }));
        expect(r.status, cert.certFile).toBe(403);
      }
    });

    test('a client CA the app server does not trust still verifies (the guard checks its own CA)', async () => {
      const { url } = await mount(adapter, { tls: { ...appTls(), ca: [pki.otherCa.certPem] } });
      expectMetrics(await scrape(url, withCert(pki.client, { auth })));
    });

    test('plain HTTP without a TLS config is served (with the usual warning at startup)', async () => {
      const { url, logs } = await mount(adapter, { config: {}, tls: false });
      expectMetrics(await scrape(url));
      expect(logs.some((l) => l.message.startsWith('TLS is disabled'))).toBe(true);
    });
  });

  describe('behind a TLS-terminating proxy', () => {
    const trustLoopback = (clientCertificate?: 'xfcc' | { header: string; verifyHeader?: string }): Partial<GuardOptions> => ({
      trustedProxies: { addresses: ['10.0.0.1', '127.0.0.1'], ...(clientCertificate ? { clientCertificate } : {}) },
    });

    test('Envoy X-Forwarded-Client-Cert from the trusted proxy: served for the CA-signed certificate', async () => {
      const { url } = await mount(adapter, { tls: false, guard: trustLoopback('xfcc') });
      const r = await scrape(url, { auth, headers: { 'x-forwarded-proto': 'https', 'x-forwarded-client-cert': xfcc(pki.client) } });
      expectMetrics(r);
    });

    test('forwarded certificates are held to the same policy: other CA, wrong SAN, none → 403; no proto → 421', async () => {
      const { url } = await mount(adapter, { tls: false, guard: trustLoopback('xfcc') });
      for (const cert of [pki.clientOtherCa, pki.clientWrongSan, pki.clientExpired]) {
        const r = await scrape(url, { auth, headers: { 'x-forwarded-proto': 'https', 'x-forwarded-client-cert': xfcc(cert) } });
        expect(r.status, cert.certFile).toBe(403);
      }
      expect((await scrape(url, { auth, headers: { 'x-forwarded-proto': 'https' } })).status).toBe(403);
      expect((await scrape(url, { auth, headers: { 'x-forwarded-proto': 'http', 'x-forwarded-client-cert': xfcc(pki.client) } })).status).toBe(421);
      expect((await scrape(url, { auth })).status).toBe(421);
    });

    test('nginx-style certificate and verify headers', async () => {
      const { url } = await mount(adapter, {
        tls: false,
        guard: trustLoopback({ header: 'X-SSL-Client-Cert', verifyHeader: 'X-SSL-Client-Verify' }),
      });
      const cert = encodeURIComponent(pki.client.certPem);
      expectMetrics(await scrape(url, { auth, headers: { 'x-forwarded-proto': 'https', 'x-ssl-client-cert': cert, 'x-ssl-client-verify': 'SUCCESS' } }));
      const failed = await scrape(url, {
        auth,
        headers: { 'x-forwarded-proto': 'https', 'x-ssl-client-cert': cert, 'x-ssl-client-verify': 'FAILED:certificate has expired' },
      });
      expect(failed.status).toBe(403);
      const garbage = await scrape(url, {
        auth,
        headers: { 'x-forwarded-proto': 'https', 'x-ssl-client-cert': 'not-a-certificate', 'x-ssl-client-verify': 'SUCCESS' },
      });
      expect(garbage.status).toBe(403);
    });

    test('spoofing: the same headers from a peer that is not a trusted proxy are ignored and logged', async () => {
      const { url, logs } = await mount(adapter, {
        tls: false,
        guard: { trustedProxies: { addresses: ['10.0.0.1', '192.168.0.0/16'], clientCertificate: 'xfcc' } },
      });
      const r = await scrape(url, {
        auth,
        headers: { 'x-forwarded-proto': 'https', 'x-forwarded-client-cert': xfcc(pki.client), 'x-forwarded-for': '10.0.0.1' },
      });
      expect(r.status).toBe(421);
      expect(r.body).not.toContain('demo_events_total');
      expect(
        logs.some(
          (l) => l.level === 'warn' && l.message === 'ignored forwarding headers from a peer that is not a trusted proxy' && l.fields.remote === '127.0.0.1',
        ),
      ).toBe(true);
    });

    test('spoofing over TLS: a forwarded certificate does not replace the missing socket certificate', async () => {
      const { url } = await mount(adapter, { guard: { trustedProxies: { addresses: ['10.0.0.1'], clientCertificate: 'xfcc' } } });
      const r = await scrape(url, withCert(undefined, { auth, headers: { 'x-forwarded-client-cert': xfcc(pki.client), 'x-forwarded-proto': 'https' } }));
      expect(r.status).toBe(403);
    });

    test('without trustedProxies, forwarding headers are never believed', async () => {
      const { url } = await mount(adapter, { tls: false });
      const r = await scrape(url, { auth, headers: { 'x-forwarded-proto': 'https', 'x-forwarded-client-cert': xfcc(pki.client) } });
      expect(r.status).toBe(421);
    });

    test('X-Forwarded-For from the trusted proxy is the client address for per-client rate limits', async () => {
      const config: WebConfigInput = { limits: { per_client_rate_limit: { interval: '1m', burst: 1 } } };
      const { url } = await mount(adapter, { config, tls: false, guard: trustLoopback() });
      const a = { headers: { 'x-forwarded-for': '203.0.113.7' } };
      const b = { headers: { 'x-forwarded-for': '203.0.113.8, 10.0.0.1' } };
      expect((await scrape(url, a)).status).toBe(200);
      expect((await scrape(url, a)).status).toBe(429);
      // Another client behind the same proxies has its own bucket.
      expect((await scrape(url, b)).status).toBe(200);
    });
  });

  test('after guard.close(), scrapes through the mounted adapter get 503 while the app keeps serving', async () => {
    const { guard, base, url } = await mount(adapter);
    await guard.close(0);
    const r = await scrape(url, withCert(pki.client, { auth }));
    expect(r.status).toBe(503);
    expect(r.body).not.toContain('demo_events_total');
    expect(r.headers['x-frame-options']).toBe('deny');
    expect((await scrape(`${base}/hello`, { ca: pki.ca.certPem })).status).toBe(200);
  });
});

describe('framework specifics', () => {
  test('fastify: a register prefix moves the route (the plugin is encapsulated like any route plugin)', async () => {
    const guard = await createGuard({ config: strictConfig(), source: registry(), logger: capturingLogger([]), watch: false });
    const app = Fastify({ https: appTls() });
    await app.register(fastifyMetrics, { guard, prefix: '/ops' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(async () => {
      await app.close();
      await guard.close(0);
    });
    const base = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    expectMetrics(await scrape(`${base}/ops/metrics`, withCert(pki.client, { auth })));
    expect((await scrape(`${base}/metrics`, withCert(pki.client, { auth }))).status).toBe(404);
  });

  test('node:http2: metricsHandler on a secure HTTP/2 server reads the certificate from the session socket', async () => {
    const { createSecureServer } = await import('node:http2');
    const { scrapeHttp2 } = await import('./helpers/client.js');
    const guard = await createGuard({ config: strictConfig(), source: registry(), logger: capturingLogger([]), watch: false });
    const server = createSecureServer({ ...appTls(), allowHTTP1: false }, metricsHandler(guard));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      await new Promise((r) => server.close(r));
      await guard.close(0);
    });
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    const ok = await scrapeHttp2(url, withCert(pki.client, { auth }));
    expect(ok.alpn).toBe('h2');
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('demo_events_total 3');
    expect((await scrapeHttp2(url, withCert(pki.clientOtherCa, { auth }))).status).toBe(403);
    expect((await scrapeHttp2(url, withCert(undefined, { auth }))).status).toBe(403);
  });

  test('express: a router mount keeps matching the original URL', async () => {
    const guard = await createGuard({ config: strictConfig(), source: registry(), logger: capturingLogger([]), watch: false });
    const app = express();
    const router = express.Router();
    router.use(expressMetrics(guard, { path: '/ops/metrics' }));
    app.use('/ops', router);
    const running = await listenNode(createHttpsServer(appTls(), app), true);
    cleanups.push(async () => {
      await running.close();
      await guard.close(0);
    });
    expectMetrics(await scrape(`${running.base}/ops/metrics`, withCert(pki.client, { auth })));
  });
});
