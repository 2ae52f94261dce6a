/**
 * OpenTelemetry's Prometheus exporter as a text source (a function returning its serialized
 * text): the strict parser reads its output, the pass keeps every series and value, and the
 * rendered result parses again in both formats.
 */
import { wholeBody } from './helpers/exposition.js';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterAll, expect, it } from 'vitest';
import { defaultRedaction } from '../src/config/redaction.js';
import { parseExposition } from '../src/exposition/parse.js';
import { createPipeline, readFamilies } from '../src/exposition/pipeline.js';
import { compileRedaction } from '../src/exposition/redact.js';
import { toMetricsSource } from '../src/exposition/source.js';

const exporter = new PrometheusExporter({ preventServerStart: true });
const provider = new MeterProvider({ readers: [exporter] });
afterAll(() => provider.shutdown());

it('reads, redacts nothing, and re-renders the exporter output with the same series and values', async () => {
  const meter = provider.getMeter('scrapeguard-test', '1.2.3');
  meter.createCounter('otel_orders', { description: 'Orders "placed".\nSecond line \\ backslash.' }).add(5, { region: 'eu', path: '/api/v1/orders' });
  meter.createUpDownCounter('otel_queue_depth', { unit: 'items' }).add(-2);
  meter.createHistogram('otel_latency_seconds').record(0.25, { route: '/x' });
  meter.createObservableGauge('otel_temperature').addCallback((r) => r.observe(21.5, { sensor: 'a-1' }));
  const serializer = new PrometheusSerializer();
  const source = toMetricsSource(async () => {
    const { resourceMetrics } = await exporter.collect();
    return serializer.serialize(resourceMetrics);
  });
  const families = await readFamilies(source);
  expect(families.map((f) => [f.name, f.type])).toEqual(
    expect.arrayContaining([
      ['otel_orders', 'counter'],
      ['otel_latency_seconds', 'histogram'],
      ['otel_temperature', 'gauge'],
    ]),
  );
  const expose = createPipeline(source, { redactor: compileRedaction(defaultRedaction()) });
  const text = await expose({});
  const again = parseExposition(wholeBody(text), 'text');
  const values = (fs: typeof families) => fs.flatMap((f) => f.samples.map((s) => [f.name, s.suffix, s.labels.join(','), s.value]));
  expect(values(again)).toEqual(values(families));
  expect(again.find((f) => f.name === 'otel_orders')?.help).toBe('Orders "placed".\nSecond line \\ backslash.');
  const om = await expose({ accept: 'application/openmetrics-text;version=1.0.0' });
  expect(values(parseExposition(wholeBody(om), 'openmetrics'))).toEqual(values(families));
});
