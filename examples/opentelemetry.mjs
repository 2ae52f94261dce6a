// OpenTelemetry: metrics recorded with the OTel API, exported in Prometheus format by
// @opentelemetry/exporter-prometheus — WITHOUT its own (plain HTTP, unauthenticated) server
// (`preventServerStart: true`). scrapeguard serves the exporter's text on an mTLS port instead.
//
// Run (after `npm run build`):  node examples/opentelemetry.mjs [--port 9464] [--pki ./pki]
//   curl --cacert PKI/ca.crt --cert PKI/client.crt --key PKI/client.key https://localhost:9464/metrics
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createGuard } from 'scrapeguard';
import { announce, exampleArgs, examplePki, exampleWebConfig, onShutdown } from './_shared.mjs';

const { port, pkiDir } = exampleArgs(9464);
const pki = await examplePki(pkiDir);

const exporter = new PrometheusExporter({ preventServerStart: true });
const provider = new MeterProvider({ readers: [exporter] });
const meter = provider.getMeter('scrapeguard-example');
meter.createCounter('example_orders', { description: 'Orders placed.' }).add(7, { region: 'eu' });
meter.createHistogram('example_latency_seconds', { description: 'Latency.' }).record(0.2);

// The exporter's own text, as its HTTP handler would send it: collect, then serialize.
const serializer = new PrometheusSerializer();
const source = async () => {
  const { resourceMetrics, errors } = await exporter.collect();
  if (errors.length > 0) throw new AggregateError(errors, 'OpenTelemetry collection failed');
  return serializer.serialize(resourceMetrics);
};

const guard = await createGuard({ config: exampleWebConfig(pki), source });
const [bound] = await guard.listen(`127.0.0.1:${port}`);
announce(`${bound.url}/metrics`, pki);

onShutdown(async () => {
  await guard.close();
  await provider.shutdown();
});
