// Mounted on node:https: the application's own HTTPS server answers its routes, and the guard answers
// /metrics on the same port. The server asks for a client certificate without requiring one (the app
// has other clients); the guard then refuses /metrics unless the certificate was signed by the
// config's client CA and carries SAN `prometheus`.
//
// Run (after `npm run build`):  node examples/node-http.mjs [--port 8443] [--pki ./pki]
//   curl --cacert PKI/ca.crt https://localhost:8443/                  # the app, open to all
//   curl --cacert PKI/ca.crt --cert PKI/client.crt --key PKI/client.key https://localhost:8443/metrics
import { createServer } from 'node:https';
import { Counter, Registry } from 'prom-client';
import { createGuard } from 'scrapeguard';
import { metricsHandler } from 'scrapeguard/http';
import { announce, exampleArgs, examplePki, exampleWebConfig, onShutdown } from './_shared.mjs';

const { port, pkiDir } = exampleArgs(8443);
const pki = await examplePki(pkiDir);

const registry = new Registry();
const hits = new Counter({ name: 'example_app_requests_total', help: 'App requests.', registers: [registry] });
const app = (req, res) => {
  hits.inc();
  res.writeHead(200, { 'content-type': 'text/plain' }).end('hello from the app\n');
};

const guard = await createGuard({ config: exampleWebConfig(pki), source: registry });
const server = createServer(pki.appTls, metricsHandler(guard, { next: app }));
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const base = `https://127.0.0.1:${server.address().port}`;
announce(`${base}/metrics`, pki, { app: `${base}/` });

onShutdown(async () => {
  await guard.close();
  server.closeIdleConnections();
  await new Promise((resolve) => server.close(resolve));
});
