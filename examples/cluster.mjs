// Cluster mode: workers (node:cluster) serve the application on a shared port and count in their own
// prom-client registry; the primary serves the SUM over all workers (prom-client AggregatorRegistry,
// collected over IPC at each scrape) through scrapeguard on its own mTLS port.
//
// Run (after `npm run build`):
//   node examples/cluster.mjs [--port 9443] [--app-port 8080] [--workers 2] [--pki ./pki]
//   curl http://127.0.0.1:8080/                     # the app (answered by one of the workers)
//   curl --cacert PKI/ca.crt --cert PKI/client.crt --key PKI/client.key https://localhost:9443/metrics
// SIGTERM to the primary closes the guard and disconnects the workers; everything exits.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { AggregatorRegistry, Counter, register } from 'prom-client';
import { createGuard } from 'scrapeguard';
import { announce, examplePki, exampleWebConfig, onShutdown } from './_shared.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9443' },
    'app-port': { type: 'string', default: '8080' },
    workers: { type: 'string', default: '2' },
    pki: { type: 'string' },
  },
});

if (cluster.isPrimary) {
  const pki = await examplePki(values.pki);
  // Created before the workers start, so their answers to metric requests are heard.
  const aggregator = new AggregatorRegistry();
  const count = Number(values.workers);
  const ready = [];
  for (let i = 0; i < count; i++) {
    const worker = cluster.fork();
    ready.push(new Promise((resolve) => worker.on('message', (m) => m?.type === 'listening' && resolve(m.port))));
  }
  const [appPort] = await Promise.all(ready);

  // The aggregator is the source: the guard asks it for clusterMetrics() at each scrape.
  const guard = await createGuard({ config: exampleWebConfig(pki), source: aggregator });
  const [bound] = await guard.listen(`127.0.0.1:${values.port}`);
  announce(`${bound.url}/metrics`, pki, { app: `http://127.0.0.1:${appPort}/`, workers: count });

  onShutdown(async () => {
    await guard.close();
    await new Promise((resolve) => cluster.disconnect(resolve));
  });
} else {
  // A worker: the application. Its metrics live in its own default registry. Constructing an
  // AggregatorRegistry in a worker is what installs prom-client's IPC listener answering the primary.
  new AggregatorRegistry();
  const hits = new Counter({ name: 'example_app_requests_total', help: 'App requests, all workers.', registers: [register] });
  const server = createServer((_req, res) => {
    hits.inc();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from worker ${process.pid}\n`);
  });
  server.listen(Number(values['app-port']), '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }));
  // The primary sends SIGTERM to itself only; workers leave when it disconnects them.
  process.on('SIGTERM', () => {});
}
