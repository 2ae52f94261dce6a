// A metrics server under test, run as its own process so the kernel can account its CPU and
// memory separately. Prints `LISTENING <port>` when ready; exits on SIGTERM.
//
// Usage: node bench/servers/app.mjs '<json spec>'
//   spec.mode: 'plain'  prom-client registry over plain HTTP (the do-nothing baseline)
//              'guard'  the same registry behind scrapeguard (createGuard + own HTTPS port)
//   spec.series: registry size (0: prom-client's default process metrics only)
//   spec.config: web-config object for 'guard' (file paths absolute)
import { createServer } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createGuard, silentLogger } from '../../dist/index.js';
import { buildRegistry } from '../lib/registry.mjs';

const spec = JSON.parse(process.argv[2]);
let registry;
if (spec.series > 0) registry = buildRegistry(spec.series);
else {
  registry = new Registry();
  collectDefaultMetrics({ register: registry });
}

let close;
if (spec.mode === 'plain') {
  const server = createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(body) }).end(body);
  });
  server.keepAliveTimeout = 120_000;
  await new Promise((r) => server.listen(spec.port ?? 0, '127.0.0.1', r));
  console.log(`LISTENING ${server.address().port}`);
  close = () => new Promise((r) => server.close(r));
} else if (spec.mode === 'guard') {
  const guard = await createGuard({ config: spec.config, source: registry, logger: silentLogger, watch: false });
  const [bound] = await guard.listen(`127.0.0.1:${spec.port ?? 0}`);
  console.log(`LISTENING ${bound.port}`);
  close = () => guard.close(0);
} else {
  throw new Error(`unknown mode ${spec.mode}`);
}

process.on('SIGTERM', () => {
  close().then(() => process.exit(0));
});
