// Adapter overhead on keep-alive mTLS scrapes.
//
// The same registry is served six ways, each on its own HTTPS port with the same server
// certificate and a client certificate: a bare node:https handler that writes
// `registry.metrics()` with no security at all (the floor), scrapeguard's standalone server, and
// the guard mounted through scrapeguard/http, /express, /koa and /fastify (all enforcing
// RequireAndVerifyClientCert). One keep-alive client per target scrapes them in interleaved blocks,
// so machine noise hits all alike. Reports p50/p90/p99 and the p50 ratio to the floor.
// A second pass sends an Envoy X-Forwarded-Client-Cert through a trusted-proxy guard (plain HTTP,
// as behind the proxy): the forwarded certificate's check is cached per header value, so repeat
// scrapes should cost about what a bare handler does.
//
// Run: npm run build && node bench/adapters.mjs   (SCRAPES=400 by default)
import { createServer as createHttps, Agent, request } from 'node:https';
import { createServer as createHttp, Agent as HttpAgent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { Registry, collectDefaultMetrics, Counter } from 'prom-client';
import { createGuard, silentLogger } from '../dist/index.js';
import { generateDevPki } from '../dist/pki.js';
import { metricsHandler } from '../dist/http.js';
import { expressMetrics } from '../dist/express.js';
import { koaMetrics } from '../dist/koa.js';
import { fastifyMetrics } from '../dist/fastify.js';

const SCRAPES = Number(process.env.SCRAPES ?? 400);
const BLOCK = 25;

const pki = await generateDevPki();
const registry = new Registry();
collectDefaultMetrics({ register: registry });
const c = new Counter({ name: 'bench_requests_total', help: 'x', labelNames: ['route', 'code'], registers: [registry] });
for (let i = 0; i < 50; i++) c.inc({ route: `/r${i}`, code: '200' }, i);

const tlsConfig = {
  tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem, client_ca: pki.ca.certPem, client_auth_type: 'RequireAndVerifyClientCert' },
};
const appTls = { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: false };
const guard = await createGuard({ config: tlsConfig, source: registry, logger: silentLogger, watch: false });

const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
const closers = [];
const targets = {};

{
  const s = createHttps(appTls, async (_req, res) => {
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType }).end(body);
  });
  targets['bare node:https (no security)'] = await listen(s);
  closers.push(() => new Promise((r) => (s.closeAllConnections(), s.close(r))));
}
{
  const [b] = await guard.listen('127.0.0.1:0');
  targets['scrapeguard standalone'] = b.port;
}
{
  const s = createHttps(appTls, metricsHandler(guard));
  targets['scrapeguard/http'] = await listen(s);
  closers.push(() => new Promise((r) => (s.closeAllConnections(), s.close(r))));
}
{
  const app = express();
  app.use(expressMetrics(guard));
  const s = createHttps(appTls, app);
  targets['scrapeguard/express (5)'] = await listen(s);
  closers.push(() => new Promise((r) => (s.closeAllConnections(), s.close(r))));
}
{
  const app = new Koa();
  app.use(koaMetrics(guard));
  const s = createHttps(appTls, app.callback());
  targets['scrapeguard/koa (3)'] = await listen(s);
  closers.push(() => new Promise((r) => (s.closeAllConnections(), s.close(r))));
}
{
  const app = Fastify({ https: appTls });
  await app.register(fastifyMetrics, { guard });
  await app.listen({ port: 0, host: '127.0.0.1' });
  targets['scrapeguard/fastify (5)'] = app.server.address().port;
  closers.push(() => app.close());
}

function get(port, agent, headers = {}, plain = false) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = (plain ? httpRequest : request)({ host: '127.0.0.1', port, path: '/metrics', agent, headers });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`port ${port}: status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

const pct = (s, p) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99) };
};

async function run(named) {
  const samples = Object.fromEntries(Object.keys(named).map((k) => [k, []]));
  // Warm-up: handshakes, JIT, the per-connection chain check.
  for (const t of Object.values(named)) for (let i = 0; i < 20; i++) await t();
  for (let done = 0; done < SCRAPES; done += BLOCK) {
    for (const [name, t] of Object.entries(named)) for (let i = 0; i < BLOCK; i++) samples[name].push(await t());
  }
  return samples;
}

const agents = [];
const mtlsAgent = () => {
  const a = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });
  agents.push(a);
  return a;
};
const named = Object.fromEntries(
  Object.entries(targets).map(([name, port]) => [
    name,
    (
      (a) => () =>
        get(port, a)
    )(mtlsAgent()),
  ]),
);
const samples = await run(named);
const floor = stats(samples['bare node:https (no security)']).p50;
console.log(`keep-alive mTLS scrapes, ${SCRAPES} per target, body ${(await registry.metrics()).length} bytes`);
console.log('target'.padEnd(32), 'p50 ms', ' p90 ms', ' p99 ms', ' p50 ratio');
for (const [name, xs] of Object.entries(samples)) {
  const s = stats(xs);
  console.log(
    name.padEnd(32),
    s.p50.toFixed(3).padStart(6),
    s.p90.toFixed(3).padStart(7),
    s.p99.toFixed(3).padStart(7),
    (s.p50 / floor).toFixed(2).padStart(9),
  );
}

// Trusted proxy: plain HTTP from the proxy, the client certificate in X-Forwarded-Client-Cert.
const proxied = await createGuard({
  config: tlsConfig,
  source: registry,
  logger: silentLogger,
  watch: false,
  trustedProxies: { addresses: ['127.0.0.1'], clientCertificate: 'xfcc' },
});
const plainServer = createHttp(metricsHandler(proxied));
const plainPort = await listen(plainServer);
const bareHttp = createHttp(async (_req, res) => res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics()));
const barePort = await listen(bareHttp);
const xfcc = `By=spiffe://bench;Cert="${encodeURIComponent(pki.client.certPem)}"`;
const h1 = new HttpAgent({ keepAlive: true, maxSockets: 1 });
const h2 = new HttpAgent({ keepAlive: true, maxSockets: 1 });
const proxySamples = await run({
  'bare node:http': () => get(barePort, h1, {}, true),
  'trusted proxy + XFCC verify': () => get(plainPort, h2, { 'x-forwarded-proto': 'https', 'x-forwarded-client-cert': xfcc }, true),
});
const pfloor = stats(proxySamples['bare node:http']).p50;
console.log('\nbehind a TLS-terminating proxy (plain HTTP): X-Forwarded-Client-Cert checked against client_ca');
for (const [name, xs] of Object.entries(proxySamples)) {
  const s = stats(xs);
  console.log(
    name.padEnd(32),
    s.p50.toFixed(3).padStart(6),
    s.p90.toFixed(3).padStart(7),
    s.p99.toFixed(3).padStart(7),
    (s.p50 / pfloor).toFixed(2).padStart(9),
  );
}

for (const a of agents) a.destroy();
h1.destroy();
h2.destroy();
for (const close of closers) await close();
await new Promise((r) => (plainServer.closeAllConnections(), plainServer.close(r)));
await new Promise((r) => (bareHttp.closeAllConnections(), bareHttp.close(r)));
await guard.close(0);
await proxied.close(0);
