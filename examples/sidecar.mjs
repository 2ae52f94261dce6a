// Sidecar: scrapeguard in front of an existing exporter that only speaks plain HTTP on loopback
// (here a stand-in exporter started by this program, with a database password in a label). The
// sidecar serves the exporter's metrics on its own mTLS port, with the password masked by the
// default secret detectors. The same with the CLI, in front of any exporter:
//   scrapeguard serve --web.config.file web-config.yml --web.listen-address :9443 \
//     --upstream http://127.0.0.1:9100/metrics
//
// Run (from the repository, after `npm run build`):
//   node examples/sidecar.mjs [--port 9443] [--pki ./pki]
// Prove it works (and that the secret and plain scrapers stay out):
//   curl --cacert PKI/ca.crt --cert PKI/client.crt --key PKI/client.key https://localhost:9443/metrics
//   curl --cacert PKI/ca.crt https://localhost:9443/metrics        # refused: no client certificate
import { createServer } from 'node:http';
import { createGuard, upstreamSource } from 'scrapeguard';
import { announce, exampleArgs, examplePki, exampleWebConfig, onShutdown } from './_shared.mjs';

const { port, pkiDir } = exampleArgs(9443);
const pki = await examplePki(pkiDir);

// The "existing exporter": plain text over HTTP on loopback, as node_exporter or a legacy app would.
const exporter = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  res.end(
    [
      '# HELP legacy_queue_depth Jobs waiting.',
      '# TYPE legacy_queue_depth gauge',
      'legacy_queue_depth{queue="emails"} 7',
      '# HELP legacy_db_info Database the exporter talks to.',
      '# TYPE legacy_db_info gauge',
      'legacy_db_info{dsn="mysql://report:example-db-password@db.internal:3306/reports"} 1',
      '',
    ].join('\n'),
  );
});
await new Promise((resolve) => exporter.listen(0, '127.0.0.1', resolve));
const upstream = `http://127.0.0.1:${exporter.address().port}/metrics`;

const guard = await createGuard({ config: exampleWebConfig(pki), source: upstreamSource({ url: upstream, timeoutMs: 5000 }) });
const [bound] = await guard.listen(`127.0.0.1:${port}`);
announce(`${bound.url}/metrics`, pki, { upstream });

onShutdown(async () => {
  await guard.close();
  await new Promise((resolve) => exporter.close(resolve));
});
