// Mounted in fastify (4 or 5): `app.register(fastifyMetrics, { guard })` adds the /metrics route
// (a `prefix` or `path` moves it). fastify's own HTTPS server asks for a client certificate; the
// guard requires it to be signed by the config's CA with SAN `prometheus`.
//
// Run (after `npm run build`):  node examples/fastify.mjs [--port 8443] [--pki ./pki]
//   curl --cacert PKI/ca.crt https://localhost:8443/hello
//   curl --cacert PKI/ca.crt --cert PKI/client.crt --key PKI/client.key https://localhost:8443/metrics
import Fastify from 'fastify';
import { Counter, Registry } from 'prom-client';
import { createGuard } from 'scrapeguard';
import { fastifyMetrics } from 'scrapeguard/fastify';
import { announce, exampleArgs, examplePki, exampleWebConfig, onShutdown } from './_shared.mjs';

const { port, pkiDir } = exampleArgs(8443);
const pki = await examplePki(pkiDir);
const registry = new Registry();
const hits = new Counter({ name: 'example_app_requests_total', help: 'App requests.', registers: [registry] });

const guard = await createGuard({ config: exampleWebConfig(pki), source: registry });
const app = Fastify({ https: pki.appTls });
await app.register(fastifyMetrics, { guard });
app.get('/hello', async () => {
  hits.inc();
  return 'hello from fastify\n';
});

await app.listen({ port, host: '127.0.0.1' });
const base = `https://127.0.0.1:${app.server.address().port}`;
announce(`${base}/metrics`, pki, { app: `${base}/hello` });

onShutdown(async () => {
  await guard.close();
  await app.close();
});
