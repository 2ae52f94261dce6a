/**
 * Content negotiation as client_golang answers (prometheus/common expfmt
 * `NegotiateIncludingOpenMetrics` / `Negotiate`, goautoneg ordering): the literal Accept headers
 * of Prometheus 2.42, 2.53, 3.0 and 3.5 with and without native histograms, the `escaping=`
 * parameter and its carry-over, q-values, wildcards, and protobuf only when a writer is available.
 * test/e2e/negotiation-node-exporter.test.ts checks the same headers against the real
 * node_exporter 1.11.1.
 */
import { describe, expect, it } from 'vitest';
import { MAX_ACCEPT_RANGES, negotiateFormat } from '../src/exposition/negotiate.js';
import { PROMETHEUS_ACCEPT_HEADERS } from './helpers/accept-headers.js';

const TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const OM1 = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
const OM001 = 'application/openmetrics-text; version=0.0.1; charset=utf-8';
const PROTO = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

/** [default answer (OpenMetrics offered, no protobuf), with protobuf, as node_exporter (no OpenMetrics, protobuf)]. */
const EXPECTED: Record<string, [string, string, string]> = {
  '2.42': [`${OM1}; escaping=underscores`, `${OM1}; escaping=underscores`, `${TEXT}; escaping=underscores`],
  '2.42+nh': [`${OM1}; escaping=underscores`, `${PROTO}; escaping=underscores`, `${PROTO}; escaping=underscores`],
  '2.53': [`${OM1}; escaping=underscores`, `${OM1}; escaping=underscores`, `${TEXT}; escaping=underscores`],
  '2.53+nh': [`${OM1}; escaping=underscores`, `${PROTO}; escaping=underscores`, `${PROTO}; escaping=underscores`],
  '3.0': [`${OM1}; escaping=allow-utf-8`, `${OM1}; escaping=allow-utf-8`, `${TEXT}; escaping=allow-utf-8`],
  '3.0+nh': [`${OM1}; escaping=allow-utf-8`, `${PROTO}; escaping=allow-utf-8`, `${PROTO}; escaping=allow-utf-8`],
  '3.5': [`${OM1}; escaping=allow-utf-8`, `${OM1}; escaping=allow-utf-8`, `${TEXT}; escaping=allow-utf-8`],
  // Prometheus 3.5 puts no escaping= on its protobuf range: protobuf answers escape names.
  '3.5+nh': [`${OM1}; escaping=allow-utf-8`, `${PROTO}; escaping=underscores`, `${PROTO}; escaping=underscores`],
};

describe('negotiation: the Accept headers Prometheus sends', () => {
  it.each(PROMETHEUS_ACCEPT_HEADERS.map((h) => [`${h.prometheus}${h.nativeHistograms ? '+nh' : ''}`, h.accept] as const))('Prometheus %s', (key, accept) => {
    const [plain, withProto, asNodeExporter] = EXPECTED[key]!;
    expect(negotiateFormat(accept).contentType).toBe(plain);
    expect(negotiateFormat(accept, { protobuf: true }).contentType).toBe(withProto);
    expect(negotiateFormat(accept, { protobuf: true, openmetrics: false }).contentType).toBe(asNodeExporter);
  });

  it('reports the format and escaping scheme apart from the Content-Type', () => {
    const h35 = PROMETHEUS_ACCEPT_HEADERS.find((h) => h.prometheus === '3.5' && h.nativeHistograms)!.accept;
    expect(negotiateFormat(h35, { protobuf: true })).toEqual({ format: 'protobuf', escaping: 'underscores', contentType: `${PROTO}; escaping=underscores` });
    expect(negotiateFormat(h35)).toEqual({ format: 'openmetrics', escaping: 'allow-utf-8', contentType: `${OM1}; escaping=allow-utf-8` });
  });
});

describe('negotiation: client_golang rules', () => {
  it.each<[string, string]>([
    ['', `${TEXT}; escaping=underscores`],
    ['*/*', `${TEXT}; escaping=underscores`],
    ['text/*', `${TEXT}; escaping=underscores`],
    ['application/*', `${TEXT}; escaping=underscores`],
    ['text/plain;version=1.0.0', `${TEXT}; escaping=underscores`],
    ['text/plain;escaping=dots', `${TEXT}; escaping=dots`],
    ['text/plain;escaping=values', `${TEXT}; escaping=values`],
    ['text/plain;escaping=bogus', `${TEXT}; escaping=underscores`],
    ['text/plain;escaping=Dots', `${TEXT}; escaping=underscores`],
    ['Text/Plain', `${TEXT}; escaping=underscores`],
    ['application/openmetrics-text', `${OM001}; escaping=underscores`],
    ['application/openmetrics-text;version=2.0.0', `${TEXT}; escaping=underscores`],
    // q=0 only sorts a range last; client_golang still answers with it.
    ['application/openmetrics-text;version=1.0.0;q=0', `${OM1}; escaping=underscores`],
    // The escaping of a range read earlier carries over to the range that wins.
    ['application/json;escaping=values;q=0.9,text/plain;q=0.1', `${TEXT}; escaping=values`],
    ['text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.4', `${TEXT}; escaping=allow-utf-8`],
    // goautoneg: at any q, a concrete type sorts before a later wildcard, so */*'s escaping is never read.
    ['*/*;escaping=dots,text/plain;q=0.5', `${TEXT}; escaping=underscores`],
    ['text/plain;q=0.1,application/openmetrics-text;version=1.0.0;q=0.2', `${OM1}; escaping=underscores`],
    // An unreadable q is 0 (strconv.ParseFloat error), the range still counts.
    ['application/openmetrics-text;version=1.0.0;q=x', `${OM1}; escaping=underscores`],
    ['application/openmetrics-text;version=1.0.0;q=abc,text/plain;q=0.5', `${TEXT}; escaping=underscores`],
    ['garbage;;;,,', `${TEXT}; escaping=underscores`],
    ['text/plain/extra,application/openmetrics-text;version=1.0.0;q=0.1', `${OM1}; escaping=underscores`],
    // Only the delimited protobuf encoding is written here; the text encodings are skipped.
    ['application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text,text/plain;q=0.1', `${TEXT}; escaping=underscores`],
  ])('Accept %j → %s', (accept, contentType) => {
    expect(negotiateFormat(accept).contentType).toBe(contentType);
  });

  it('offers protobuf only when asked to, and then only the delimited encoding of MetricFamily', () => {
    const accept = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8,text/plain;q=0.5';
    expect(negotiateFormat(accept).format).toBe('text');
    expect(negotiateFormat(accept, { protobuf: true })).toEqual({ format: 'protobuf', escaping: 'allow-utf-8', contentType: `${PROTO}; escaping=allow-utf-8` });
    expect(negotiateFormat('application/vnd.google.protobuf;proto=other.Message;encoding=delimited', { protobuf: true }).format).toBe('text');
  });

  it(`reads at most ${MAX_ACCEPT_RANGES} ranges, so a huge header costs bounded work`, () => {
    const many = `${Array.from({ length: 10_000 }, () => 'application/json').join(',')},text/plain;escaping=dots`;
    expect(negotiateFormat(many).contentType).toBe(`${TEXT}; escaping=underscores`);
    const within = `${Array.from({ length: MAX_ACCEPT_RANGES - 1 }, () => 'application/json').join(',')},text/plain;escaping=dots`;
    expect(negotiateFormat(within).contentType).toBe(`${TEXT}; escaping=dots`);
  });
});
