/**
 * The exposition formats: strict parsing of the text format 0.0.4 and OpenMetrics 1.0, rendering
 * with per-format escaping, counter naming across formats, exemplars and `# EOF`, negotiation,
 * render∘parse round trips (fast-check), and the real `promtool check metrics` on what we write.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allowPropertyTime, propertyRuns } from './helpers/property-runs.js';
import type { MetricFamily } from '../src/exposition/model.js';
import { acceptsGzip, negotiateFormat } from '../src/exposition/negotiate.js';
import { parseExposition, sniffFormat } from '../src/exposition/parse.js';
import { renderExposition } from '../src/exposition/render.js';
import { prometheusTools } from './e2e/support.js';
import { familiesArb, parseError, promtoolCheckMetrics } from './helpers/exposition.js';

allowPropertyTime();

const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

/** What survives the text format: no `_created`, exemplars or units. */
function textView(families: MetricFamily[]): MetricFamily[] {
  return families.map((f) => {
    const { unit: _unit, ...rest } = f;
    return {
      ...rest,
      samples: f.samples.filter((s) => s.suffix !== '_created').map(({ exemplar: _e, ...s }) => s),
    };
  });
}

describe('text format 0.0.4', () => {
  const text = [
    '# HELP http_requests_total Requests \\\\ served.\\nSecond line.',
    '# TYPE http_requests_total counter',
    'http_requests_total{method="GET",path="/a\\"b\\\\c\\nd"} 1027 1395066363000',
    'http_requests_total{method="POST",} 3',
    '# A plain comment is ignored',
    '',
    '# TYPE legacy counter',
    'legacy 5',
    '# TYPE latency_seconds histogram',
    'latency_seconds_bucket{le="0.1"} 1',
    'latency_seconds_bucket{le="+Inf"} 2',
    'latency_seconds_sum 0.3',
    'latency_seconds_count 2',
    '# TYPE rpc_seconds summary',
    'rpc_seconds{quantile="0.5"} NaN',
    'rpc_seconds_sum +Inf',
    'rpc_seconds_count -Inf',
    'no_metadata{a = "b" , c="ü🙂"}\t7   ',
  ].join('\n');

  it('parses families, metadata, escapes, timestamps and specials', () => {
    const families = parseExposition(text, 'text');
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ['http_requests', 'counter'],
      ['legacy', 'counter'],
      ['latency_seconds', 'histogram'],
      ['rpc_seconds', 'summary'],
      ['no_metadata', 'unknown'],
    ]);
    const [requests, legacy, , rpc, bare] = families;
    expect(requests!.help).toBe('Requests \\ served.\nSecond line.');
    expect(requests!.samples[0]).toEqual({ suffix: '_total', labels: ['method', 'GET', 'path', '/a"b\\c\nd'], value: 1027, timestampMs: 1395066363000 });
    expect(requests!.samples[1]!.labels).toEqual(['method', 'POST']);
    expect(legacy!.legacyCounterName).toBe(true);
    expect(rpc!.samples.map((s) => s.value)).toEqual([NaN, Infinity, -Infinity]);
    expect(bare!.samples[0]).toEqual({ suffix: '', labels: ['a', 'b', 'c', 'ü🙂'], value: 7 });
  });

  it('renders what it parsed back to the same families', () => {
    const families = parseExposition(text, 'text');
    const out = renderExposition(families, 'text');
    expect(out.samples).toBe(11);
    expect(parseExposition(out.text, 'text')).toEqual(families);
    expect(out.text).toContain('# TYPE http_requests_total counter\nhttp_requests_total{method="GET",path="/a\\"b\\\\c\\nd"} 1027 1395066363000\n');
    expect(out.text).toContain('# TYPE legacy counter\nlegacy 5\n');
    expect(out.text).toContain('# TYPE no_metadata untyped\n');
  });

  it.each([
    ['metric{a="b" 1', 1, 'expected "," or "}"'],
    ['metric{a="b\\x"} 1', 1, 'invalid escape'],
    ['metric{a="1",a="2"} 1', 1, 'duplicate label name'],
    ['metric{0a="1"} 1', 1, 'invalid label name'],
    ['metric one', 1, 'invalid sample value'],
    ['metric 1 1.5', 1, 'invalid timestamp'],
    ['metric 1 2 3', 1, 'unexpected text'],
    ['# TYPE m counter\nm 1\n# TYPE m counter', 3, 'appears twice or after its samples'],
    ['# TYPE m gaugehistogram', 1, 'unknown metric type'],
    ['# TYPE h histogram\nh_bucket 1', 2, 'without its "le" label'],
    ['# TYPE h histogram\nh_bucket{le="x"} 1', 2, '"le" label is not a number'],
    ['# TYPE s summary\ns 1', 2, 'without its "quantile"'],
    ['a 1\nb 1\na 2', 3, 'not contiguous'],
    ['# TYPE h histogram\nh_bucket{le="1"} 1\nx 1\nh_sum 1', 4, 'not contiguous'],
    ['{"utf8.name" 1', 1, 'expected "=" after the label name'],
    ['metric{a="b"} 1 # {t="1"} 1', 1, 'unexpected text'],
  ])('refuses %j at line %i (%s), without quoting it', (input, line, message) => {
    const error = parseError(input, 'text');
    expect(error.line).toBe(line);
    expect(error.message).toContain(message);
    expect(error.code).toBe('EXPOSITION_PARSE');
    expect(error.message).not.toMatch(/metric\{|"b"|utf8/);
  });
});

describe('OpenMetrics 1.0', () => {
  const text = [
    '# TYPE requests counter',
    '# HELP requests Requests with a \\"quote\\".',
    'requests_total{code="200"} 10 1700000000.123 # {trace_id="abc"} 1 1700000000.5',
    'requests_created{code="200"} 1700000000',
    '# TYPE build info',
    'build_info{version="1.2.3"} 1',
    '# TYPE mode stateset',
    'mode{mode="a"} 1',
    'mode{mode="b"} 0',
    '# TYPE queue_bytes gaugehistogram',
    '# UNIT queue_bytes bytes',
    'queue_bytes_bucket{le="1024"} 3 # {trace_id="t"} 900',
    'queue_bytes_bucket{le="+Inf"} 4',
    'queue_bytes_gcount 4',
    'queue_bytes_gsum 5000',
    '# TYPE other unknown',
    'other 1',
    '# EOF',
    '',
  ].join('\n');

  it('parses types, units, exemplars and timestamps in seconds', () => {
    const families = parseExposition(text, 'openmetrics');
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ['requests', 'counter'],
      ['build', 'info'],
      ['mode', 'stateset'],
      ['queue_bytes', 'gaugehistogram'],
      ['other', 'unknown'],
    ]);
    const req = families[0]!;
    expect(req.help).toBe('Requests with a "quote".');
    expect(req.samples[0]).toEqual({
      suffix: '_total',
      labels: ['code', '200'],
      value: 10,
      timestampMs: 1700000000123,
      exemplar: { labels: ['trace_id', 'abc'], value: 1, timestampSeconds: 1700000000.5 },
    });
    expect(families[3]!.unit).toBe('bytes');
  });

  it('round-trips byte for byte', () => {
    expect(renderExposition(parseExposition(text, 'openmetrics'), 'openmetrics').text).toBe(text);
  });

  it('maps what the text format lacks, and names counters right both ways', () => {
    const families = parseExposition(text, 'openmetrics');
    const out = renderExposition(families, 'text').text;
    expect(out).toContain('# TYPE requests_total counter\nrequests_total{code="200"} 10 1700000000123\n');
    expect(out).not.toContain('_created');
    expect(out).not.toContain('trace_id');
    expect(out).toContain('# TYPE build_info gauge\nbuild_info{version="1.2.3"} 1\n');
    expect(out).toContain('# TYPE mode gauge\n');
    expect(out).toContain('# TYPE queue_bytes_bucket gauge\nqueue_bytes_bucket{le="1024"} 3\n');
    expect(out).toContain('# TYPE queue_bytes_gsum gauge\n');
    // And back: the text counter `requests_total` is the OpenMetrics family `requests`.
    const again = renderExposition(parseExposition(out, 'text'), 'openmetrics').text;
    expect(again).toContain('# TYPE requests counter\n');
    expect(again).toContain('requests_total{code="200"} 10 1700000000.123\n');
    // A legacy text counter without _total gets the suffix on its OpenMetrics sample.
    expect(renderExposition(parseExposition('# TYPE jobs counter\njobs 2\n', 'text'), 'openmetrics').text).toBe('# TYPE jobs counter\njobs_total 2\n# EOF\n');
  });

  it('writes a counter whose OpenMetrics name is taken as an unknown family, never a duplicate', () => {
    const families = parseExposition('# TYPE foo gauge\nfoo 1\n# TYPE foo_total counter\nfoo_total 2\n', 'text');
    const out = renderExposition(families, 'openmetrics').text;
    expect(out).toBe('# TYPE foo gauge\nfoo 1\n# TYPE foo_total unknown\nfoo_total 2\n# EOF\n');
    expect(() => parseExposition(out, 'openmetrics')).not.toThrow();
  });

  it.each([
    ['# TYPE a gauge\na 1\n', 3, 'missing "# EOF"'],
    ['a 1\n\n# EOF\n', 2, 'blank line'],
    ['# a comment\n# EOF\n', 1, 'expected "# HELP"'],
    ['a 1\n# EOF\nb 1\n', 3, 'after "# EOF"'],
    ['a  1\n# EOF\n', 1, 'one space'],
    ['# TYPE g gauge\ng 1 # {t="1"} 1\n# EOF\n', 2, 'exemplars are only allowed'],
    ['# TYPE a_seconds gauge\n# UNIT a_seconds bytes\n# EOF\n', 2, 'not a suffix'],
    ['# TYPE c counter\nc_total 1 # {t="' + 'x'.repeat(130) + '"} 1\n# EOF\n', 2, 'longer than 128'],
    ['# TYPE s stateset\ns{x="a"} 1\n# EOF\n', 2, 'state label'],
  ])('refuses %j at line %i (%s)', (input, line, message) => {
    const error = parseError(input, 'openmetrics');
    expect(error.line).toBe(line);
    expect(error.message).toContain(message);
  });

  it('sniffs the format by # EOF', () => {
    expect(sniffFormat('a 1\n# EOF\n')).toBe('openmetrics');
    expect(sniffFormat('# EOF')).toBe('openmetrics');
    expect(sniffFormat('a 1\n')).toBe('text');
    expect(sniffFormat('a 1 # EOF\n')).toBe('text');
  });
});

describe('negotiation', () => {
  it.each([
    [PROMETHEUS_ACCEPT, 'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores'],
    ['application/openmetrics-text;version=0.0.1', 'application/openmetrics-text; version=0.0.1; charset=utf-8; escaping=underscores'],
    ['text/plain;version=0.0.4;q=0.5,*/*;q=0.1', 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores'],
    ['application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.9', 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores'],
    ['application/openmetrics-text;version=2.0.0', 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores'],
    [
      'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited',
      'text/plain; version=0.0.4; charset=utf-8; escaping=underscores',
    ],
    // client_golang: q=0 only sorts a range last, it still matches (test/negotiate.test.ts has the rest).
    ['application/openmetrics-text;q=0', 'application/openmetrics-text; version=0.0.1; charset=utf-8; escaping=underscores'],
    ['', 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores'],
    ['garbage;;;,,', 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores'],
  ])('Accept %j → %s', (accept, contentType) => {
    expect(negotiateFormat(accept).contentType).toBe(contentType);
  });

  it.each([
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['identity', false],
    ['gzip;q=0', false],
    ['*', true],
    ['*;q=0', false],
    ['gzip;q=0, *', false],
    ['deflate', false],
    [undefined, false],
  ])('Accept-Encoding %j → gzip %s', (header, gzip) => {
    expect(acceptsGzip(header)).toBe(gzip);
  });
});

describe('round trips (property)', () => {
  it('text: parse(render(x)) is x, minus what the format cannot carry', () => {
    fc.assert(
      fc.property(familiesArb({ legacyCounters: true }), (families) => {
        const rendered = renderExposition(families, 'text').text;
        expect(parseExposition(rendered, 'text')).toEqual(textView(families));
      }),
      { numRuns: propertyRuns(150) },
    );
  });

  it('OpenMetrics: parse(render(x)) is x, every type, exemplars, units, _created', () => {
    fc.assert(
      fc.property(
        familiesArb({ types: ['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset', 'unknown'], openMetricsExtras: true }),
        (families) => {
          const rendered = renderExposition(families, 'openmetrics').text;
          expect(parseExposition(rendered, 'openmetrics')).toEqual(families);
        },
      ),
      { numRuns: propertyRuns(150) },
    );
  });

  it('OpenMetrics → text → OpenMetrics keeps every sample the text format carries', () => {
    fc.assert(
      fc.property(familiesArb(), (families) => {
        const viaText = parseExposition(renderExposition(families, 'text').text, 'text');
        const back = parseExposition(renderExposition(viaText, 'openmetrics').text, 'openmetrics');
        expect(back).toEqual(textView(families));
      }),
      { numRuns: propertyRuns(100) },
    );
  });
});

const tools = prometheusTools('exposition-format promtool', ['promtool']);
describe.skipIf(tools.skip)('promtool check metrics on rendered output', () => {
  it('finds no parse error in the text format for generated expositions', async () => {
    tools.require();
    const samples = fc.sample(
      familiesArb({
        types: ['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset', 'unknown'],
        openMetricsExtras: true,
        legacyCounters: true,
      }),
      { numRuns: propertyRuns(25), seed: 42 },
    );
    for (const families of samples) {
      // promtool 2.42 lints the text format only (expfmt's TextParser); OpenMetrics is checked by the round trips above.
      for (const format of ['text'] as const) {
        const text = renderExposition(families, format).text;
        const verdict = await promtoolCheckMetrics(tools.bin('promtool'), text);
        expect(verdict.parseError, `${format}:\n${text}\n${verdict.stderr}`).toBe(false);
      }
    }
  }, 120_000);
});
