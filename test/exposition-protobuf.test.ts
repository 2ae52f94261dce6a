/**
 * The delimited MetricFamily protobuf (issue #15, deliverable 3): decoding Prometheus 3.5's own
 * /metrics (a fixture captured from the real binary), exact model round trips of native
 * histograms (integer and float, both signs), exemplars, created timestamps and classic buckets,
 * redaction and access rules on decoded families (native histograms merged when a mask makes
 * series collide), what the text renderers make of a native-only histogram, negotiation, the
 * pipeline answering protobuf in-process, and the sidecar against real local upstreams (protobuf,
 * text fallback, malformed → 502 with EXPOSITION_PROTOBUF, the size cap).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { Registry, Histogram as PromHistogram, Counter as PromCounter } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { allowPropertyTime } from './helpers/property-runs.js';
import { defaultRedaction } from '../src/config/redaction.js';
import { SourceError } from '../src/exposition/failure.js';
import type { MetricFamily, NativeHistogram, Sample } from '../src/exposition/model.js';
import { negotiateFormat } from '../src/exposition/negotiate.js';
import { parseExposition } from '../src/exposition/parse.js';
import { createPipeline } from '../src/exposition/pipeline.js';
import { decodeProtobuf, encodeProtobuf, isProtobufContentType, PROTOBUF_CONTENT_TYPE, ProtobufDecodeError } from '../src/exposition/protobuf/codec.js';
import { compactBuckets, expandBuckets, mergeNativeHistograms } from '../src/exposition/protobuf/native.js';
import { compileRedaction } from '../src/exposition/redact.js';
import { renderExposition } from '../src/exposition/render.js';
import { toMetricsSource } from '../src/exposition/source.js';
import { UPSTREAM_ACCEPT_PROTOBUF, upstreamSource } from '../src/exposition/upstream.js';
import { familiesArb } from './helpers/exposition.js';

allowPropertyTime();

const PROM_FIXTURE = readFileSync(new URL('./fixtures/protobuf/prometheus-3.5.3-metrics.pb', import.meta.url));
const PROTO_ACCEPT =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1';
const METRIC = 'prometheus_http_request_duration_seconds';

/** One native-histogram series: classic buckets (optional), the native sample, count, sum, created. */
function nativeSeries(labels: string[], h: NativeHistogram, count: number, sum: number, classic: boolean, created?: number): Sample[] {
  const out: Sample[] = [];
  if (classic) {
    out.push({ suffix: '_bucket', labels: [...labels, 'le', '0.5'], value: Math.floor(count / 2) });
    out.push({ suffix: '_bucket', labels: [...labels, 'le', '+Inf'], value: count });
  }
  out.push({ suffix: '', labels: [...labels], value: count, histogram: h });
  out.push({ suffix: '_count', labels: [...labels], value: count });
  out.push({ suffix: '_sum', labels: [...labels], value: sum });
  if (created !== undefined) out.push({ suffix: '_created', labels: [...labels], value: created });
  return out;
}

function native(partial: Partial<NativeHistogram> = {}): NativeHistogram {
  return {
    schema: 3,
    zeroThreshold: 2 ** -128,
    zeroCount: 0,
    float: false,
    positiveSpans: [],
    positiveCounts: [],
    negativeSpans: [],
    negativeCounts: [],
    exemplars: [],
    ...partial,
  };
}

/** Buckets (index → count) of one side, as an arbitrary; float or integer counts. */
const bucketsArb = (float: boolean) =>
  fc
    .uniqueArray(fc.integer({ min: -300, max: 300 }), { maxLength: 12 })
    .chain((indices) =>
      fc
        .tuple(...indices.map(() => (float ? fc.double({ min: 0, max: 1e6, noNaN: true }) : fc.integer({ min: 0, max: 1000 }))))
        .map((counts) => new Map(indices.map((i, k) => [i, counts[k]!]))),
    );

const nativeArb = fc.boolean().chain((float) =>
  fc
    .record({
      schema: fc.integer({ min: -4, max: 8 }),
      zeroThreshold: fc.constantFrom(0, 2 ** -128, 1e-9, 0.001),
      zeroCount: float ? fc.double({ min: 0, max: 1e6, noNaN: true }) : fc.integer({ min: 0, max: 1000 }),
      pos: bucketsArb(float),
      neg: bucketsArb(float),
      exemplars: fc.array(
        fc.record({
          labels: fc.constantFrom<string[]>(['trace_id', 'abc'], ['trace_id', 'def', 'span_id', '1']).map((l) => [...l]),
          value: fc.double({ min: -10, max: 10, noNaN: true }),
          timestampSeconds: fc.integer({ min: 0, max: 2_000_000_000_000 }).map((ms) => ms / 1000),
        }),
        { maxLength: 2 },
      ),
    })
    .map(({ schema, zeroThreshold, zeroCount, pos, neg, exemplars }): NativeHistogram => {
      const p = compactBuckets(pos);
      const n = compactBuckets(neg);
      // An empty histogram with no zero bucket width is written with client_golang's no-op span.
      const noop = p.spans.length === 0 && n.spans.length === 0 && zeroThreshold === 0 && zeroCount === 0;
      return {
        schema,
        zeroThreshold,
        zeroCount,
        float,
        positiveSpans: noop ? [{ offset: 0, length: 0 }] : p.spans,
        positiveCounts: p.counts,
        negativeSpans: n.spans,
        negativeCounts: n.counts,
        exemplars,
      };
    }),
);

const total = (h: NativeHistogram) => h.zeroCount + h.positiveCounts.reduce((a, b) => a + b, 0) + h.negativeCounts.reduce((a, b) => a + b, 0);

describe('delimited protobuf: decoding Prometheus 3.5.3 /metrics', () => {
  it('decodes the real body: counters, gauges, summaries and the native histogram with classic buckets', () => {
    const families = decodeProtobuf(PROM_FIXTURE);
    expect(families.length).toBeGreaterThan(100);
    const h = families.find((f) => f.name === METRIC)!;
    expect(h.type).toBe('histogram');
    const natives = h.samples.filter((s) => s.histogram);
    expect(natives.length).toBeGreaterThan(0);
    for (const s of natives) {
      expect(s.histogram!.schema).toBe(3);
      expect(s.histogram!.float).toBe(false);
      expect(total(s.histogram!)).toBe(s.value);
    }
    expect(h.samples.some((s) => s.suffix === '_bucket' && s.labels.at(-1) === '+Inf')).toBe(true);
    expect(h.samples.some((s) => s.suffix === '_created')).toBe(true);
    const counter = families.find((f) => f.name === 'prometheus_http_requests' && f.type === 'counter');
    expect(counter?.samples.some((s) => s.suffix === '_total')).toBe(true);
    expect(families.find((f) => f.name === 'go_gc_duration_seconds')?.type).toBe('summary');
  });

  it('re-encodes it to the same length, and a second pass is byte-identical (created timestamps keep microseconds)', () => {
    const once = encodeProtobuf(decodeProtobuf(PROM_FIXTURE)).body;
    expect(once.length).toBe(PROM_FIXTURE.length);
    expect(Buffer.compare(encodeProtobuf(decodeProtobuf(once)).body, once)).toBe(0);
  });

  it('renders the decoded body as text and OpenMetrics that the strict parser accepts', () => {
    const families = decodeProtobuf(PROM_FIXTURE);
    expect(() => parseExposition(renderExposition(families, 'text').text, 'text')).not.toThrow();
    expect(() => parseExposition(renderExposition(families, 'openmetrics').text, 'openmetrics')).not.toThrow();
  });
});

describe('delimited protobuf: model round trips', () => {
  it('native histograms (integer and float, both signs), exemplars, created timestamps and classic buckets survive encode → decode exactly', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            nativeArb,
            fc.boolean(),
            fc.option(fc.integer({ min: 1, max: 2_000_000_000 }), { nil: undefined }),
            fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }),
          ),
          { minLength: 1, maxLength: 4 },
        ),
        fc.boolean(),
        (series, gauge) => {
          const family: MetricFamily = {
            name: 'rpc_duration_seconds',
            type: gauge ? 'gaugehistogram' : 'histogram',
            help: 'RPC latency.',
            unit: 'seconds',
            samples: [],
          };
          series.forEach(([h, classic, created, ts], i) => {
            // A float histogram is told apart by a float count above 0 (what Prometheus reads too).
            const count = h.float ? total(h) + 0.5 : total(h);
            let samples = nativeSeries(['i', String(i)], h, count, count * 0.25, classic, gauge ? undefined : created);
            if (gauge) samples = samples.map((s) => ({ ...s, suffix: s.suffix === '_count' ? '_gcount' : s.suffix === '_sum' ? '_gsum' : s.suffix }));
            if (ts !== undefined) samples = samples.map((s) => ({ ...s, timestampMs: ts }));
            family.samples.push(...samples);
          });
          expect(decodeProtobuf(encodeProtobuf([family]).body)).toEqual([family]);
        },
      ),
    );
  });

  it('families of every text type (exemplars, units, _created, timestamps) survive encode → decode exactly', () => {
    fc.assert(
      fc.property(
        familiesArb({ types: ['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'unknown'], openMetricsExtras: true, legacyCounters: true }),
        (families) => {
          expect(decodeProtobuf(encodeProtobuf(families).body)).toEqual(families.filter((f) => f.samples.length > 0));
        },
      ),
    );
  });

  it('an info metric is the gauge name_info and a stateset a gauge with its state label, as client_golang has no such types', () => {
    const families: MetricFamily[] = [
      { name: 'build', type: 'info', samples: [{ suffix: '_info', labels: ['version', '1.2'], value: 1 }] },
      {
        name: 'mode',
        type: 'stateset',
        samples: [
          { suffix: '', labels: ['mode', 'a'], value: 1 },
          { suffix: '', labels: ['mode', 'b'], value: 0 },
        ],
      },
    ];
    expect(decodeProtobuf(encodeProtobuf(families).body)).toEqual([
      { name: 'build_info', type: 'gauge', samples: [{ suffix: '', labels: ['version', '1.2'], value: 1 }] },
      {
        name: 'mode',
        type: 'gauge',
        samples: [
          { suffix: '', labels: ['mode', 'a'], value: 1 },
          { suffix: '', labels: ['mode', 'b'], value: 0 },
        ],
      },
    ]);
  });

  it('writes the +Inf bucket only when it carries an exemplar, and an empty zero-width native histogram with a no-op span', () => {
    const withExemplar: MetricFamily = {
      name: 'h',
      type: 'histogram',
      samples: [
        { suffix: '_bucket', labels: ['le', '1'], value: 1 },
        { suffix: '_bucket', labels: ['le', '+Inf'], value: 2, exemplar: { labels: ['trace_id', 'x'], value: 7 } },
        { suffix: '_count', labels: [], value: 2 },
        { suffix: '_sum', labels: [], value: 8 },
      ],
    };
    expect(decodeProtobuf(encodeProtobuf([withExemplar]).body)).toEqual([withExemplar]);
    const plain = structuredClone(withExemplar);
    delete plain.samples[1]!.exemplar;
    const bytesPlain = encodeProtobuf([plain]).body;
    expect(bytesPlain.length).toBeLessThan(encodeProtobuf([withExemplar]).body.length - 10);
    const empty: MetricFamily = { name: 'e', type: 'histogram', samples: nativeSeries([], native({ zeroThreshold: 0, schema: 0 }), 0, 0, false) };
    const [decoded] = decodeProtobuf(encodeProtobuf([empty]).body);
    expect(decoded!.samples.find((s) => s.histogram)?.histogram?.positiveSpans).toEqual([{ offset: 0, length: 0 }]);
  });
});

describe('native histograms through redaction, access rules and the text renderers', () => {
  const twoHandlers = (): MetricFamily[] => [
    {
      name: METRIC,
      type: 'histogram',
      help: 'Histogram of latencies for HTTP requests.',
      samples: [
        ...nativeSeries(
          ['handler', '/api/v1/query'],
          native({ positiveSpans: [{ offset: -120, length: 2 }], positiveCounts: [1, 2], exemplars: [{ labels: ['trace_id', 'aaaa'], value: 0.1 }] }),
          3,
          0.3,
          false,
          1_700_000_000,
        ),
        ...nativeSeries(
          ['handler', '/metrics'],
          native({
            schema: 2,
            positiveSpans: [
              { offset: -60, length: 1 },
              { offset: 3, length: 1 },
            ],
            positiveCounts: [4, 1],
            zeroCount: 1,
          }),
          6,
          0.6,
          false,
          1_700_000_100,
        ),
      ],
    },
  ];

  it('mask_labels makes two native series one: buckets merged at the coarser schema, counts and sums added, earliest _created', () => {
    const redactor = compileRedaction({ ...defaultRedaction(), maskLabels: ['handler'] });
    const { families, report } = redactor.apply(twoHandlers());
    expect(report.merged).toBeGreaterThan(0);
    const [family] = families;
    const nativeSample = family!.samples.find((s) => s.histogram)!;
    expect(nativeSample.labels).toEqual(['handler', '[REDACTED]']);
    expect(nativeSample.value).toBe(9);
    expect(nativeSample.histogram!.schema).toBe(2);
    expect(total(nativeSample.histogram!)).toBe(9); // 1 + 2, and 4 + 1 + the zero bucket
    expect(family!.samples.find((s) => s.suffix === '_sum')!.value).toBeCloseTo(0.9);
    expect(family!.samples.find((s) => s.suffix === '_created')!.value).toBe(1_700_000_000);
    expect(nativeSample.histogram!.exemplars).toHaveLength(1);
  });

  it('secret detectors and hash rules reach native-histogram exemplar labels', () => {
    const families = twoHandlers();
    families[0]!.samples[0]!.histogram!.exemplars = [{ labels: ['dsn', 'postgres://app:hunter2@db:5432/x'], value: 1 }];
    const { families: out, report } = compileRedaction({ ...defaultRedaction(), detectSecrets: 'all' }).apply(families);
    expect(report.detectors.get('url_credentials')).toBe(1);
    const bytes = encodeProtobuf(out).body;
    expect(bytes.includes(Buffer.from('hunter2'))).toBe(false);
  });

  it('an access rule label constraint withholds native series like any other', () => {
    const filter = { allowsFamily: () => true, labelConstraints: [{ name: 'handler', matches: (v: string) => v === '/metrics' }] };
    const { families } = compileRedaction(defaultRedaction()).apply(twoHandlers(), filter);
    expect(families[0]!.samples.every((s) => s.labels[1] === '/metrics')).toBe(true);
    expect(families[0]!.samples.filter((s) => s.histogram)).toHaveLength(1);
  });

  it('a native-only histogram is written in text and OpenMetrics as client_golang does: +Inf bucket of its count, _count and _sum', () => {
    const families = twoHandlers();
    const text = renderExposition(families, 'text').text;
    expect(text).toContain(
      `${METRIC}_bucket{handler="/api/v1/query",le="+Inf"} 3\n${METRIC}_count{handler="/api/v1/query"} 3\n${METRIC}_sum{handler="/api/v1/query"} 0.3\n`,
    );
    const om = renderExposition(families, 'openmetrics').text;
    expect(om).toContain(`${METRIC}_bucket{handler="/metrics",le="+Inf"} 6\n`);
    expect(om).toContain(`${METRIC}_created{handler="/metrics"} 1700000100\n`);
    expect(parseExposition(om, 'openmetrics')[0]!.samples.filter((s) => s.suffix === '_bucket')).toHaveLength(2);
    // With classic buckets the +Inf bucket is not written twice.
    const both: MetricFamily[] = [{ name: 'x', type: 'histogram', samples: nativeSeries([], native(), 4, 1, true) }];
    expect(renderExposition(both, 'text').text.match(/le="\+Inf"/g)).toHaveLength(1);
  });
});

describe('mergeNativeHistograms', () => {
  it('keeps every observation: the total count of a merge is the sum of the totals, at any schemas and zero buckets', () => {
    fc.assert(
      fc.property(nativeArb, nativeArb, (a, b) => {
        const m = mergeNativeHistograms(a, b);
        expect(m.schema).toBe(Math.min(a.schema, b.schema));
        expect(m.zeroThreshold).toBeGreaterThanOrEqual(Math.max(a.zeroThreshold, b.zeroThreshold));
        expect(total(m)).toBeCloseTo(total(a) + total(b), 3);
        const spanTotal = m.positiveSpans.reduce((n, s) => n + s.length, 0);
        expect(spanTotal).toBe(m.positiveCounts.length);
      }),
    );
  });

  it('re-buckets to the coarser schema: bucket i at schema s is bucket ceil(i / 2) at s - 1', () => {
    const a = native({ schema: 1, zeroThreshold: 0, positiveSpans: [{ offset: 1, length: 4 }], positiveCounts: [1, 2, 3, 4] }); // indices 1..4
    const b = native({ schema: 0, zeroThreshold: 0 });
    const m = mergeNativeHistograms(a, b);
    expect([...expandBuckets(m.positiveSpans, m.positiveCounts)]).toEqual([
      [1, 3],
      [2, 7],
    ]);
  });

  it('moves buckets inside a wider zero bucket into it', () => {
    const a = native({ schema: 0, zeroThreshold: 0, positiveSpans: [{ offset: -2, length: 4 }], positiveCounts: [1, 1, 1, 1] }); // (1/8,1/4] … (1,2]
    const b = native({ schema: 0, zeroThreshold: 0.5 });
    const m = mergeNativeHistograms(a, b);
    expect(m.zeroThreshold).toBe(0.5);
    expect(m.zeroCount).toBe(2);
    expect([...expandBuckets(m.positiveSpans, m.positiveCounts)]).toEqual([
      [0, 1],
      [1, 1],
    ]);
  });
});

describe('malformed protobuf', () => {
  const valid = encodeProtobuf([{ name: 'up', type: 'gauge', samples: [{ suffix: '', labels: ['job', 'x'], value: 1 }] }]).body;
  const withHistogram = (h: NativeHistogram) => encodeProtobuf([{ name: 'h', type: 'histogram', samples: nativeSeries([], h, 1, 1, false) }]).body;

  it.each([
    ['a truncated length prefix', Buffer.from([0x80])],
    ['a length past the end', Buffer.concat([valid, Buffer.from([0x7f, 0x01])])],
    ['a length prefix longer than 5 bytes', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ['garbage inside a message', Buffer.from([0x04, 0x0a, 0x09, 0x01, 0x02])],
    ['a family without a name', Buffer.from([0x02, 0x18, 0x01])],
    // An unknown enum value of the closed proto2 enum is read as unset, i.e. COUNTER (as in Go).
    [
      "a metric without its type's data (unknown type, read as counter, carrying a gauge)",
      Buffer.from([0x09, 0x0a, 0x01, 0x61, 0x18, 0x09, 0x22, 0x02, 0x12, 0x00]),
    ],
    ['spans that do not match the deltas', withHistogram(native({ positiveSpans: [{ offset: 0, length: 2 }], positiveCounts: [1] }))],
    ['spans that do not match the float counts', withHistogram(native({ float: true, positiveSpans: [{ offset: 0, length: 1 }], positiveCounts: [1, 2] }))],
    ['a schema outside -4…8', withHistogram(native({ schema: 9, positiveSpans: [{ offset: 0, length: 1 }], positiveCounts: [1] }))],
    ['a duplicate family', Buffer.concat([valid, valid])],
  ])('%s is a ProtobufDecodeError (EXPOSITION_PROTOBUF)', (_name, body) => {
    let error: unknown;
    try {
      decodeProtobuf(body);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProtobufDecodeError);
    expect((error as ProtobufDecodeError).code).toBe('EXPOSITION_PROTOBUF');
    expect((error as Error).message).toMatch(/^protobuf MetricFamily #\d+ at byte \d+: /);
  });

  it('a negative bucket count, a NaN float count, empty and reserved label names are refused; the message never quotes the body', () => {
    const secret = 'hunter2-token-value';
    const cases = [
      encodeProtobuf([{ name: 'h', type: 'histogram', samples: nativeSeries(['le', secret], native(), 1, 1, false) }]).body,
      encodeProtobuf([{ name: 'g', type: 'gauge', samples: [{ suffix: '', labels: ['', secret], value: 1 }] }]).body,
      encodeProtobuf([{ name: 'g', type: 'gauge', samples: [{ suffix: '', labels: ['a', secret, 'a', secret], value: 1 }] }]).body,
      withHistogram(native({ float: true, positiveSpans: [{ offset: 0, length: 1 }], positiveCounts: [NaN] })),
      withHistogram(native({ float: true, zeroCount: -1, positiveSpans: [{ offset: 0, length: 1 }], positiveCounts: [1] })),
    ];
    for (const body of cases) {
      expect(() => decodeProtobuf(body)).toThrow(ProtobufDecodeError);
      try {
        decodeProtobuf(body);
      } catch (e) {
        expect((e as Error).message).not.toContain(secret);
      }
    }
    // A delta sequence that goes below zero.
    const negative = encodeProtobuf([
      { name: 'h', type: 'histogram', samples: nativeSeries([], native({ positiveSpans: [{ offset: 0, length: 2 }], positiveCounts: [5, 1] }), 6, 1, false) },
    ]).body;
    const flipped = Buffer.from(negative);
    // positive_delta (field 13, proto2: not packed) is [5, -4] (zigzag 10, 7); make the second -6 (zigzag 11).
    const at = flipped.indexOf(Buffer.from([0x68, 0x0a, 0x68, 0x07]));
    expect(at).toBeGreaterThan(0);
    flipped[at + 3] = 0x0b;
    expect(() => decodeProtobuf(flipped)).toThrow(/negative native histogram bucket count/);
  });

  it('unknown fields (a newer client_model, or smuggled bytes) are discarded, never passed on unredacted', () => {
    const message = encodeProtobuf([{ name: 'up', type: 'gauge', samples: [{ suffix: '', labels: [], value: 1 }] }]).body.subarray(1);
    const secret = Buffer.from('postgres://app:hunter2@db/x');
    // Field 99, length-delimited (tag (99 << 3) | 2 = 794 as a varint: 0x9a 0x06).
    const extended = Buffer.concat([message, Buffer.from([0x9a, 0x06, secret.length]), secret]);
    const body = Buffer.concat([Buffer.from([extended.length]), extended]);
    const families = decodeProtobuf(body);
    expect(families).toEqual([{ name: 'up', type: 'gauge', samples: [{ suffix: '', labels: [], value: 1 }] }]);
    expect(encodeProtobuf(families).body.includes(secret)).toBe(false);
  });

  it('random bytes and mutations of valid bodies either decode or throw ProtobufDecodeError, never anything else (fixed seed)', () => {
    const seedBodies = [PROM_FIXTURE.subarray(0, 4000), valid, withHistogram(native({ positiveSpans: [{ offset: -3, length: 2 }], positiveCounts: [1, 2] }))];
    const mutated = fc
      .tuple(fc.constantFrom(...seedBodies), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat())
      .map(([body, flips, cut]) => {
        const b = Buffer.from(body);
        for (const [i, v] of flips) b[i % b.length] = v;
        return cut % 5 === 0 ? b.subarray(0, cut % b.length) : b;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), (body) => {
        try {
          const families = decodeProtobuf(body);
          // What decodes re-encodes, and the re-encoding is stable (a first pass rounds ns timestamps to µs
          // and leaves out families without metrics).
          const once = encodeProtobuf(families).body;
          expect(Buffer.compare(encodeProtobuf(decodeProtobuf(once)).body, once)).toBe(0);
        } catch (error) {
          if (!(error instanceof ProtobufDecodeError)) throw error;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('negotiation and the pipeline', () => {
  it('offers protobuf only when asked to and only for the delimited MetricFamily media range', () => {
    expect(negotiateFormat(PROTO_ACCEPT, { protobuf: true })).toEqual({
      format: 'protobuf',
      contentType: `${PROTOBUF_CONTENT_TYPE}; escaping=underscores`,
      escaping: 'underscores',
    });
    expect(negotiateFormat(PROTO_ACCEPT).format).toBe('openmetrics');
    expect(negotiateFormat('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text', { protobuf: true }).format).toBe('text');
    expect(negotiateFormat('application/vnd.google.protobuf;proto=other.Message;encoding=delimited', { protobuf: true }).format).toBe('text');
    expect(isProtobufContentType('application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=underscores')).toBe(
      true,
    );
    expect(isProtobufContentType('application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text')).toBe(false);
    expect(UPSTREAM_ACCEPT_PROTOBUF.startsWith('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;')).toBe(true);
  });

  it('an in-process prom-client registry is answered in protobuf when the scraper asks, redacted, gzip-able', async () => {
    const register = new Registry();
    const c = new PromCounter({ name: 'app_logins_total', help: 'Logins.', labelNames: ['user'], registers: [register] });
    c.inc({ user: 'alice@example.com' }, 3);
    const h = new PromHistogram({ name: 'app_latency_seconds', help: 'Latency.', buckets: [0.1, 1], registers: [register] });
    h.observe(0.5);
    const expose = createPipeline(toMetricsSource(register), { redactor: compileRedaction({ ...defaultRedaction(), hashLabels: ['user'] }) });
    const out = await expose({ accept: PROTO_ACCEPT });
    expect(out.contentType).toBe(`${PROTOBUF_CONTENT_TYPE}; escaping=underscores`);
    const families = decodeProtobuf(out.body as Buffer);
    const logins = families.find((f) => f.name === 'app_logins')!;
    expect(logins.samples[0]!.labels[1]).toMatch(/^[0-9a-f]{16}$/);
    const latency = families.find((f) => f.name === 'app_latency_seconds')!;
    expect(latency.samples.map((s) => [s.suffix, s.labels.at(-1), s.value])).toEqual([
      ['_bucket', '0.1', 0],
      ['_bucket', '1', 1],
      ['_bucket', '+Inf', 1],
      ['_count', undefined, 1],
      ['_sum', undefined, 0.5],
    ]);
    expect(out.seriesReturned).toBe(6);
    const zipped = await expose({ accept: PROTO_ACCEPT, acceptEncoding: 'gzip' });
    expect(zipped.contentEncoding).toBe('gzip');
    expect(decodeProtobuf(gunzipSync(zipped.body as Buffer)).map((f) => f.name)).toEqual(families.map((f) => f.name));
  });
});

describe('the sidecar in front of a real local upstream', () => {
  const servers: Server[] = [];
  afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

  async function upstream(answer: (accept: string) => { contentType: string; body: Buffer | string }): Promise<{ url: string; accepts: string[] }> {
    const accepts: string[] = [];
    const server = createServer((req, res) => {
      accepts.push(String(req.headers.accept));
      const a = answer(String(req.headers.accept));
      res.writeHead(200, { 'content-type': a.contentType });
      res.end(a.body);
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, accepts };
  }

  it('asks a protobuf-capable upstream for protobuf only when the scraper negotiated it, and answers in kind', async () => {
    const up = await upstream((accept) =>
      accept.startsWith('application/vnd.google.protobuf')
        ? { contentType: `${PROTOBUF_CONTENT_TYPE}; escaping=underscores`, body: PROM_FIXTURE }
        : { contentType: 'text/plain; version=0.0.4', body: 'up 1\n' },
    );
    const expose = createPipeline(upstreamSource({ url: up.url }), { redactor: compileRedaction({ ...defaultRedaction(), maskLabels: ['handler'] }) });
    const proto = await expose({ accept: PROTO_ACCEPT });
    expect(up.accepts[0]).toBe(UPSTREAM_ACCEPT_PROTOBUF);
    expect(proto.contentType).toBe(`${PROTOBUF_CONTENT_TYPE}; escaping=underscores`);
    const family = decodeProtobuf(proto.body as Buffer).find((f) => f.name === METRIC)!;
    expect(new Set(family.samples.map((s) => s.labels[1]))).toEqual(new Set(['[REDACTED]']));
    expect(family.samples.filter((s) => s.histogram)).toHaveLength(1);
    const text = await expose({ accept: 'text/plain;version=0.0.4' });
    expect(up.accepts[1]).not.toContain('protobuf');
    // The text family nothing changed goes out as the upstream wrote it (no # TYPE added).
    expect(text.body).toBe('up 1\n');
  });

  it('falls back to text when the upstream only speaks text: parsed, redacted, answered in protobuf', async () => {
    const up = await upstream(() => ({
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      body: '# TYPE db_up gauge\ndb_up{dsn="mysql://root:hunter2@db:3306/x"} 1\n',
    }));
    const expose = createPipeline(upstreamSource({ url: up.url }), { redactor: compileRedaction(defaultRedaction()) });
    const out = await expose({ accept: PROTO_ACCEPT });
    expect(out.contentType).toBe(`${PROTOBUF_CONTENT_TYPE}; escaping=underscores`);
    expect(decodeProtobuf(out.body as Buffer)).toEqual([{ name: 'db_up', type: 'gauge', samples: [{ suffix: '', labels: ['dsn', '[REDACTED]'], value: 1 }] }]);
  });

  it('malformed protobuf from the upstream is a 502 SourceError (reason parse) naming EXPOSITION_PROTOBUF, without the body', async () => {
    const up = await upstream(() => ({
      contentType: PROTOBUF_CONTENT_TYPE,
      body: Buffer.concat([Buffer.from([0x20]), Buffer.from('hunter2-secret-bytes-here-xxxxxxxx')]),
    }));
    const expose = createPipeline(upstreamSource({ url: up.url }), { redactor: compileRedaction(defaultRedaction()) });
    const error = await expose({ accept: PROTO_ACCEPT }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).status).toBe(502);
    expect((error as SourceError).reason).toBe('parse');
    expect(((error as SourceError).cause as ProtobufDecodeError).code).toBe('EXPOSITION_PROTOBUF');
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('a protobuf body over the size cap is refused like a text body (too_large, 502)', async () => {
    const up = await upstream(() => ({ contentType: PROTOBUF_CONTENT_TYPE, body: PROM_FIXTURE }));
    const expose = createPipeline(upstreamSource({ url: up.url, maxBytes: 4096 }), { redactor: compileRedaction(defaultRedaction()) });
    const error = await expose({ accept: PROTO_ACCEPT }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).reason).toBe('too_large');
    expect((error as SourceError).status).toBe(502);
  });
});

describe('a guard passes the scrape’s wishes down to its source', () => {
  it('an upstream source behind createGuard (readiness tracking included) is asked for protobuf when the scraper is', async () => {
    const { createGuard } = await import('../src/guard.js');
    const { defineMetricsSource } = await import('../src/exposition/source.js');
    const { silentLogger } = await import('../src/log.js');
    const asked: (boolean | undefined)[] = [];
    const source = defineMetricsSource(
      (request) => {
        asked.push(request?.protobuf);
        return Promise.resolve({ families: [{ name: 'up', type: 'gauge', samples: [{ suffix: '', labels: [], value: 1 }] }] });
      },
      502,
      'a test upstream',
    );
    const guard = await createGuard({ source, logger: silentLogger, watch: false });
    try {
      const [bound] = await guard.listen('127.0.0.1:0');
      const proto = await fetch(`${bound!.url}/metrics`, { headers: { accept: PROTO_ACCEPT } });
      expect(proto.headers.get('content-type')).toBe(`${PROTOBUF_CONTENT_TYPE}; escaping=underscores`);
      await fetch(`${bound!.url}/metrics`, { headers: { accept: 'text/plain;version=0.0.4' } });
      expect(asked).toEqual([true, undefined]);
    } finally {
      await guard.close(0);
    }
  });
});
