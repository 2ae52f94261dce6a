// Standalone (recommended shape): scrapeguard serves the metrics on its OWN HTTPS port, apart from
// the application's public port. mTLS (client cert signed by the CA, SAN `prometheus`) is required.
//
// Run (from the repository, after `npm run build`):
//   node examples/standalone.mjs [--port 9443] [--pki ./pki]
// It prints the PKI directory; prove it works (and that nothing else does):
//   curl --cacert PKI/ca.crt --cert PKI/client.crt --key PKI/client.key https://localhost:9443/metrics
//   curl --cacert PKI/ca.crt https://localhost:9443/metrics        # refused: no client certificate
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { createGuard } from 'scrapeguard';
import { announce, exampleArgs, examplePki, exampleWebConfig, onShutdown } from './_shared.mjs';

const { port, pkiDir } = exampleArgs(9443);
const pki = await examplePki(pkiDir);

const registry = new Registry();
collectDefaultMetrics({ register: registry });
new Counter({ name: 'example_jobs_total', help: 'Jobs done.', registers: [registry] }).inc(42);

const guard = await createGuard({ config: exampleWebConfig(pki), source: registry });
const [bound] = await guard.listen(`127.0.0.1:${port}`);
announce(`${bound.url}/metrics`, pki);

onShutdown(() => guard.close());
