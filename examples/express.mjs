// Mounted in express (4 or 5): `app.use(expressMetrics(guard))` answers /metrics and calls next() for
// every other path. Same security as the standalone server: TLS and a verified client certificate
// with SAN `prometheus`, read from the request's TLS socket.
//
// Run (after `npm run build`):  node examples/express.mjs [--port 8443] [--pki ./pki]
//   curl --cacert PKI/ca.crt https://localhost:8443/hello
//   curl --cacert PKI/ca.crt --cert PKI/client.crt --key PKI/client.key https://localhost:8443/metrics
import { createServer } from 'node:https';
import express from 'express';
import { register, Counter } from 'prom-client';
import { createGuard } from 'scrapeguard';
import { expressMetrics } from 'scrapeguard/express';
import { announce, exampleArgs, examplePki, exampleWebConfig, onShutdown } from './_shared.mjs';

const { port, pkiDir } = exampleArgs(8443);
const pki = await examplePki(pkiDir);
const hits = new Counter({ name: 'example_app_requests_total', help: 'App requests.' });

const guard = await createGuard({ config: exampleWebConfig(pki), source: register });
const app = express();
app.use(expressMetrics(guard));
app.get('/hello', (_req, res) => {
  hits.inc();
  res.type('text/plain').send('hello from express\n');
});

const server = createServer(pki.appTls, app);
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const base = `https://127.0.0.1:${server.address().port}`;
announce(`${base}/metrics`, pki, { app: `${base}/hello` });

onShutdown(async () => {
  await guard.close();
  server.closeIdleConnections();
  await new Promise((resolve) => server.close(resolve));
});
