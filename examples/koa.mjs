// Mounted in koa (2 or 3): `app.use(koaMetrics(guard))` answers /metrics through koa's response and
// awaits next() for every other path. TLS and a verified client certificate are required for /metrics.
//
// Run (after `npm run build`):  node examples/koa.mjs [--port 8443] [--pki ./pki]
//   curl --cacert PKI/ca.crt https://localhost:8443/hello
//   curl --cacert PKI/ca.crt --cert PKI/client.crt --key PKI/client.key https://localhost:8443/metrics
import { createServer } from 'node:https';
import Koa from 'koa';
import { Counter, Registry } from 'prom-client';
import { createGuard } from 'scrapeguard';
import { koaMetrics } from 'scrapeguard/koa';
import { announce, exampleArgs, examplePki, exampleWebConfig, onShutdown } from './_shared.mjs';

const { port, pkiDir } = exampleArgs(8443);
const pki = await examplePki(pkiDir);
const registry = new Registry();
const hits = new Counter({ name: 'example_app_requests_total', help: 'App requests.', registers: [registry] });

const guard = await createGuard({ config: exampleWebConfig(pki), source: registry });
const app = new Koa();
app.use(koaMetrics(guard));
app.use((ctx) => {
  if (ctx.path !== '/hello') return;
  hits.inc();
  ctx.body = 'hello from koa\n';
});

const server = createServer(pki.appTls, app.callback());
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const base = `https://127.0.0.1:${server.address().port}`;
announce(`${base}/metrics`, pki, { app: `${base}/hello` });

onShutdown(async () => {
  await guard.close();
  server.closeIdleConnections();
  await new Promise((resolve) => server.close(resolve));
});
