/**
 * OpenTelemetry's Prometheus exporter behind scrapeguard, in process: with `preventServerStart`
 * the exporter opens no port of its own; the guard serves its collected and serialized text over
 * mTLS + basic auth, byte for byte what the exporter's own request handler would have sent.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hash } from '@node-rs/bcrypt';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import { silentLogger } from '../src/log.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape } from './helpers/client.js';

let pki: TestPki;
let exporter: PrometheusExporter;
let provider: MeterProvider;
let guard: Guard;
let url: string;

beforeAll(async () => {
  pki = await testPki();
  exporter = new PrometheusExporter({ preventServerStart: true });
  provider = new MeterProvider({ readers: [exporter] });
  const meter = provider.getMeter('scrapeguard-test');
  meter.createCounter('otel_orders', { description: 'Orders.' }).add(5, { region: 'eu' });
  meter.createUpDownCounter('otel_queue_depth').add(-2);
  meter.createHistogram('otel_latency_seconds').record(0.25);

  const serializer = new PrometheusSerializer();
  guard = await createGuard({
    config: {
      tls_server_config: {
        cert: pki.server.certPem,
        key: pki.server.keyPem,
        client_ca: pki.ca.certPem,
        client_auth_type: 'RequireAndVerifyClientCert',
      },
      basic_auth_users: { prometheus: await hash('s3cret', { cost: 4 }) },
    },
    source: async () => {
      const { resourceMetrics, errors } = await exporter.collect();
      if (errors.length > 0) throw new AggregateError(errors);
      return serializer.serialize(resourceMetrics);
    },
    logger: silentLogger,
    watch: false,
  });
  const [bound] = await guard.listen('127.0.0.1:0');
  url = `${bound!.url}/metrics`;
});

afterAll(async () => {
  await guard.close(0);
  await provider.shutdown();
});

const client = () => ({ ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });

describe('OpenTelemetry exporter through scrapeguard', () => {
  test('served over mTLS + basic auth, in the text format', async () => {
    const r = await scrape(url, { ...client(), auth: 'prometheus:s3cret' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8; escaping=underscores');
    expect(r.body).toMatch(/^otel_orders_total\{region="eu",otel_scope_name="scrapeguard-test"\} 5$/m);
    expect(r.body).toMatch(/^otel_queue_depth\{otel_scope_name="scrapeguard-test"\} -2$/m);
    expect(r.body).toContain('otel_latency_seconds_bucket{otel_scope_name="scrapeguard-test",le="+Inf"} 1');
  });

  test("the same text the exporter's own request handler produces", async () => {
    const plain = createServer((req: IncomingMessage, res: ServerResponse) => exporter.getMetricsRequestHandler(req, res));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const theirs = await scrape(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/metrics`);
      const ours = await scrape(url, { ...client(), auth: 'prometheus:s3cret' });
      expect(theirs.status).toBe(200);
      expect(ours.body).toBe(theirs.body);
    } finally {
      await new Promise((r) => plain.close(r));
    }
  });

  test('refused without the client certificate or the password', async () => {
    const noCert = await scrape(url, { ca: pki.ca.certPem, auth: 'prometheus:s3cret' });
    expect(noCert.status).toBeUndefined();
    const noPassword = await scrape(url, client());
    expect(noPassword.status).toBe(401);
    expect(noPassword.body).not.toContain('otel_orders');
  });
});
