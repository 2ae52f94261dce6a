/**
 * UTF-8 metric and label names (Prometheus 3) across the text formats 0.0.4 / 1.0.0 and
 * OpenMetrics 1.0: the quoted syntax read and written, clear errors for malformed quoting,
 * parse → render → parse round trips (tables and fast-check), name escaping exactly as
 * prometheus/common `model.EscapeName` (its own test vectors), and the names reaching redaction
 * rules, secret detectors, access rules, `redact` and `scan` unescaped.
 */
import fc from 'fast-check';
import { decodeProtobuf, PROTOBUF_CONTENT_TYPE } from '../src/exposition/protobuf/codec.js';
import { describe, expect, it } from 'vitest';
import { allowPropertyTime, propertyRuns } from './helpers/property-runs.js';
import { compileRuleFilter } from '../src/access/rules.js';
import { redactCommand } from '../src/tools/cli/redact.js';
import { loadConfigObject } from '../src/config/load.js';
import { defaultRedaction } from '../src/config/redaction.js';
import { escapeFamilies, escapeLabelName, escapeName } from '../src/exposition/escaping.js';
import type { MetricFamily } from '../src/exposition/model.js';
import { parseExposition } from '../src/exposition/parse.js';
import { createPipeline } from '../src/exposition/pipeline.js';
import { defineMetricsSource } from '../src/exposition/source.js';
import { PROMETHEUS_ACCEPT_HEADERS } from './helpers/accept-headers.js';
import { compileRedaction } from '../src/exposition/redact.js';
import { renderExposition } from '../src/exposition/render.js';
import { contentFindings } from '../src/tools/scan/content.js';
import { runCli } from './helpers/cli.js';
import { familiesArb, parseError, wholeBody } from './helpers/exposition.js';

allowPropertyTime();

type Format = 'text' | 'openmetrics';

const TEXT_UTF8 = [
  '# HELP "my.metric" A gauge with a dotted name.',
  '# TYPE "my.metric" gauge',
  '{"my.metric","label.name"="v",other="x"} 1',
  '{"my.metric", "label.name" = "w" , other="y",} 2',
  '# TYPE "requests.served_total" counter',
  '{"requests.served_total",code="200"} 7',
  '# TYPE plain_metric gauge',
  'plain_metric{"service.name"="api"} 3',
  '{"quoted_legacy"} 4',
  '# TYPE "lat.seconds" histogram',
  '{"lat.seconds_bucket","le"="1"} 1',
  '{"lat.seconds_bucket",le="+Inf"} 2',
  '{"lat.seconds_count"} 2',
  '{"lat.seconds_sum"} 0.5',
  '{"with \\"quote\\" and \\\\ and \\n"} 5',
  '',
].join('\n');

const OM_UTF8 = [
  '# TYPE "my.requests" counter',
  '# UNIT "my.requests" ',
  '# HELP "my.requests" Requests.',
  '{"my.requests_total","http.route"="/a"} 3 # {"trace.id"="abc"} 1',
  '{"my.requests_created","http.route"="/a"} 1700000000',
  '# TYPE "build.version" info',
  '{"build.version_info",version="1"} 1',
  '# TYPE "feature.state" stateset',
  '{"feature.state","feature.state"="on"} 1',
  '{"feature.state","feature.state"="off"} 0',
  '# TYPE "size.of_bytes" gauge',
  '# UNIT "size.of_bytes" bytes',
  '{"size.of_bytes"} 10',
  '# EOF',
  '',
].join('\n');

describe('UTF-8 names: parsing', () => {
  it('reads quoted metric and label names in the text format (0.0.4 / 1.0.0 syntax)', () => {
    const families = parseExposition(TEXT_UTF8, 'text');
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ['my.metric', 'gauge'],
      ['requests.served', 'counter'],
      ['plain_metric', 'gauge'],
      ['quoted_legacy', 'unknown'],
      ['lat.seconds', 'histogram'],
      ['with "quote" and \\ and \n', 'unknown'],
    ]);
    expect(families[0]!.help).toBe('A gauge with a dotted name.');
    expect(families[0]!.samples).toEqual([
      { suffix: '', labels: ['label.name', 'v', 'other', 'x'], value: 1 },
      { suffix: '', labels: ['label.name', 'w', 'other', 'y'], value: 2 },
    ]);
    expect(families[1]!.samples[0]).toEqual({ suffix: '_total', labels: ['code', '200'], value: 7 });
    expect(families[2]!.samples[0]!.labels).toEqual(['service.name', 'api']);
    expect(families[4]!.samples.map((s) => s.suffix)).toEqual(['_bucket', '_bucket', '_count', '_sum']);
  });

  it('reads quoted names in OpenMetrics, metadata (HELP, TYPE, UNIT), exemplars and statesets included', () => {
    const families = parseExposition(OM_UTF8, 'openmetrics');
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ['my.requests', 'counter'],
      ['build.version', 'info'],
      ['feature.state', 'stateset'],
      ['size.of_bytes', 'gauge'],
    ]);
    expect(families[0]!.samples[0]!.exemplar).toEqual({ labels: ['trace.id', 'abc'], value: 1 });
    expect(families[3]!.unit).toBe('bytes');
  });

  it.each<[string, Format, number, string]>([
    ['{"my.metric" 1', 'text', 1, 'expected "=" after the label name'],
    ['{"my.metric} 1', 'text', 1, 'unterminated label name'],
    ['{""} 1', 'text', 1, 'empty or invalid quoted label name'],
    ['{a="b","my.metric"} 1', 'text', 1, 'must be the first item inside the braces'],
    ['{"a","b"} 1', 'text', 1, 'must be the first item inside the braces'],
    ['{"a"="b"} 1', 'text', 1, 'missing metric name'],
    ['{} 1', 'text', 1, 'missing metric name'],
    ['metric{"my.metric"} 1', 'text', 1, 'only allowed when no name precedes the braces'],
    ['metric{"l\\x"="v"} 1', 'text', 1, 'invalid escape sequence in a label name'],
    ['# TYPE "my.metric gauge', 'text', 1, 'unterminated metric name'],
    ['# TYPE "my.metric"gauge', 'text', 1, 'expected a blank after the quoted metric name'],
    ['# HELP "" help', 'text', 1, 'empty or invalid quoted metric name'],
    ['# TYPE my.metric gauge', 'text', 1, 'invalid metric name in # TYPE'],
    ['my.metric 1', 'text', 1, 'invalid metric name (a UTF-8 name must be quoted'],
    ['metric{label.name="v"} 1', 'text', 1, 'expected "=" after the label name'],
    ['# TYPE "m" gauge\n{"m", "l"="v"} 1\n# EOF', 'openmetrics', 2, 'invalid label name'],
    ['# TYPE "my.metric"  gauge\n# EOF', 'openmetrics', 1, 'unknown metric type'],
    ['# UNIT "my.metric" seconds\n# EOF', 'openmetrics', 1, 'not a suffix'],
    ['{"a"} 1 # {"t.id"} 1\n# EOF', 'openmetrics', 1, 'only allowed when no name precedes the braces'],
  ])('refuses %j (%s) at line %i: %s, without quoting the input', (input, format, line, message) => {
    const error = parseError(input, format);
    expect(error.line).toBe(line);
    expect(error.message).toContain(message);
    expect(error.message).not.toMatch(/my\.metric|label\.name|t\.id/);
  });
});

describe('UTF-8 names: rendering and round trips', () => {
  it('writes UTF-8 names quoted, legacy names bare, in both formats (client_golang layout)', () => {
    const text = renderExposition(parseExposition(TEXT_UTF8, 'text'), 'text').text;
    expect(text).toContain('# HELP "my.metric" A gauge with a dotted name.\n# TYPE "my.metric" gauge\n{"my.metric","label.name"="v",other="x"} 1\n');
    expect(text).toContain('# TYPE "requests.served_total" counter\n{"requests.served_total",code="200"} 7\n');
    expect(text).toContain('plain_metric{"service.name"="api"} 3\n');
    expect(text).toContain('# TYPE quoted_legacy untyped\nquoted_legacy 4\n');
    expect(text).toContain('{"lat.seconds_bucket",le="1"} 1\n');
    expect(text).toContain('{"with \\"quote\\" and \\\\ and \\n"} 5\n');
    const om = renderExposition(parseExposition(OM_UTF8, 'openmetrics'), 'openmetrics').text;
    expect(om).toContain('# TYPE "my.requests" counter\n# HELP "my.requests" Requests.\n{"my.requests_total","http.route"="/a"} 3 # {"trace.id"="abc"} 1\n');
    expect(om).toContain('# TYPE "size.of_bytes" gauge\n# UNIT "size.of_bytes" bytes\n{"size.of_bytes"} 10\n');
    expect(om).toContain('{"feature.state","feature.state"="on"} 1\n');
  });

  it.each<[string, Format]>([
    [TEXT_UTF8, 'text'],
    [OM_UTF8, 'openmetrics'],
  ])('parse → render → parse is the identity on the fixture (%#, %s), and so is render → parse → render', (input, format) => {
    const families = parseExposition(input, format);
    const rendered = renderExposition(families, format).text;
    expect(parseExposition(rendered, format)).toEqual(families);
    expect(renderExposition(parseExposition(rendered, format), format).text).toBe(rendered);
  });

  it.each<[Format, Parameters<typeof familiesArb>[0]]>([
    ['text', { utf8Names: true, legacyCounters: true }],
    [
      'openmetrics',
      { utf8Names: true, types: ['counter', 'gauge', 'histogram', 'summary', 'unknown', 'info', 'stateset', 'gaugehistogram'], openMetricsExtras: true },
    ],
  ])('property: parse(render(x)) is x for generated UTF-8-name expositions (%s)', (format, options) => {
    fc.assert(
      fc.property(familiesArb(options), (families) => {
        const text = renderExposition(families, format).text;
        expect(parseExposition(text, format)).toEqual(families);
      }),
      { numRuns: propertyRuns(300) },
    );
  });

  it('property: every escaping scheme yields legacy names only, which parse back in both formats', () => {
    const legacyOnly = (families: MetricFamily[]) =>
      families.every(
        (f) => /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(f.name) && f.samples.every((s) => s.labels.every((l, i) => i % 2 === 1 || /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(l))),
      );
    fc.assert(
      fc.property(
        familiesArb({
          utf8Names: true,
          types: ['counter', 'gauge', 'histogram', 'summary', 'unknown', 'info', 'stateset', 'gaugehistogram'],
          openMetricsExtras: true,
        }),
        fc.constantFrom('underscores' as const, 'dots' as const, 'values' as const),
        fc.constantFrom('text' as const, 'openmetrics' as const),
        (families, scheme, format) => {
          const text = renderExposition(families, format, { escaping: scheme }).text;
          expect(text).not.toMatch(/^\{"|^# (?:TYPE|HELP|UNIT) "/m);
          const parsed = parseExposition(text, format);
          expect(legacyOnly(parsed)).toBe(true);
        },
      ),
      { numRuns: propertyRuns(300) },
    );
  });
});

describe('UTF-8 names: escaping for legacy scrapers (prometheus/common model.EscapeName)', () => {
  // prometheus/common model/metric_test.go TestEscapeName vectors (facts, restated).
  it.each([
    ['no:escaping_required', 'no:escaping_required', 'no:escaping__required', 'no:escaping_required'],
    ['mysystem.prod.west.cpu.load', 'mysystem_prod_west_cpu_load', 'mysystem_dot_prod_dot_west_dot_cpu_dot_load', 'U__mysystem_2e_prod_2e_west_2e_cpu_2e_load'],
    [
      'mysystem.prod.west.cpu.load_total',
      'mysystem_prod_west_cpu_load_total',
      'mysystem_dot_prod_dot_west_dot_cpu_dot_load__total',
      'U__mysystem_2e_prod_2e_west_2e_cpu_2e_load__total',
    ],
    ['http.status:sum', 'http_status:sum', 'http_dot_status:sum', 'U__http_2e_status:sum'],
    ['label with 😱', 'label_with__', 'label__with____', 'U__label_20_with_20__1f631_'],
    ['花火', '__', '____', 'U___82b1__706b_'],
    ['label with \u0100', 'label_with__', 'label__with____', 'U__label_20_with_20__100_'],
    ['0leading', '_leading', '__leading', 'U___30_leading'],
    ['', '', '', ''],
  ])('%j → underscores %j, dots %j, values %j', (name, underscores, dots, values) => {
    expect(escapeName(name, 'underscores')).toBe(underscores);
    expect(escapeName(name, 'dots')).toBe(dots);
    expect(escapeName(name, 'values')).toBe(values);
    expect(escapeName(name, 'allow-utf-8')).toBe(name);
  });

  it('escapes a label name with ":" (a legacy parser refuses it), unlike client_golang', () => {
    expect(escapeLabelName('a:b', 'underscores')).toBe('a_b');
    expect(escapeLabelName('a:b', 'values')).toBe('U__a_3a_b');
  });

  it('escapes the family name before adding sample suffixes, counters under their text name', () => {
    const families = parseExposition(TEXT_UTF8, 'text');
    const dots = renderExposition(families, 'text', { escaping: 'dots' }).text;
    expect(dots).toContain('# TYPE my_dot_metric gauge\nmy_dot_metric{label_dot_name="v",other="x"} 1\n');
    expect(dots).toContain('# TYPE requests_dot_served__total counter\nrequests_dot_served__total{code="200"} 7\n');
    expect(dots).toContain('lat_dot_seconds_bucket{le="1"} 1\n');
    expect(dots).toContain('# TYPE quoted_legacy untyped\n');
    const values = renderExposition(families, 'openmetrics', { escaping: 'values' }).text;
    expect(values).toContain(
      '# TYPE U__my_2e_metric gauge\n# HELP U__my_2e_metric A gauge with a dotted name.\nU__my_2e_metric{U__label_2e_name="v",other="x"} 1\n',
    );
    expect(values).toContain('# TYPE U__requests_2e_served_ counter\nU__requests_2e_served__total{code="200"} 7\n');
    const underscores = renderExposition(families, 'text', { escaping: 'underscores' }).text;
    expect(underscores).toContain('my_metric{label_name="v",other="x"} 1\n');
    expect(underscores).toContain('plain_metric{service_name="api"} 3\n');
  });

  it('leaves out a family or label whose escaped name an earlier one already has, never writing duplicates', () => {
    const families = parseExposition('# TYPE my_metric gauge\nmy_metric{a_b="1","a.b"="2"} 1\n# TYPE "my.metric" gauge\n{"my.metric"} 2\n', 'text');
    const out = escapeFamilies(families, 'underscores');
    expect(out).toHaveLength(1);
    expect(out[0]!.samples[0]!.labels).toEqual(['a_b', '1']);
    expect(families[0]!.samples[0]!.labels).toEqual(['a_b', '1', 'a.b', '2']); // input untouched
    expect(escapeFamilies(families, 'allow-utf-8')).toBe(families);
  });
});

describe('UTF-8 names: redaction, detectors, access rules, redact, scan', () => {
  const DUMP = [
    '# TYPE "db.pool.connections" gauge',
    '{"db.pool.connections","db.dsn"="postgres://app:hunter2@db:5432/app","service.name"="api","user.email"="a@example.com"} 3',
    '{"db.pool.connections","db.dsn"="postgres://app:hunter2@db:5432/other","service.name"="api","user.email"="b@example.com"} 4',
    '# TYPE "debug.internals" gauge',
    '{"debug.internals"} 1',
    '',
  ].join('\n');

  it('redaction rules match UTF-8 label and metric names; the merged result keeps UTF-8 names', () => {
    const redactor = compileRedaction({
      ...defaultRedaction(),
      dropLabels: ['db\\.dsn'],
      hashLabels: ['user\\.email'],
      dropMetrics: ['debug\\..*'],
      hashKey: Buffer.alloc(32, 1),
    });
    const { families, report } = redactor.apply(parseExposition(DUMP, 'text'));
    const text = renderExposition(families, 'text').text;
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('debug.internals');
    expect(text).toMatch(/^\{"db\.pool\.connections","service\.name"="api","user\.email"="[0-9a-f]{16}"\} 3$/m);
    expect(report.rules.get('drop_labels')).toBe(2);
    expect(report.rules.get('drop_metrics')).toBe(1);
  });

  it('secret detectors judge a UTF-8 label name by its words (db.password suggests a secret)', () => {
    const dump = '{"app.config","db.password"="Zk8pQ2vLx9RtW4mN7bYc"} 1\n';
    const { families, report } = compileRedaction(defaultRedaction()).apply(parseExposition(dump, 'text'));
    expect(families[0]!.samples[0]!.labels).toEqual(['db.password', '[REDACTED]']);
    expect([...report.detectorLabels.values()].some((names) => names.has('db.password'))).toBe(true);
  });

  it('access rules: allow_metrics on UTF-8 names, enforce_labels with a UTF-8 label name (quoted YAML key)', async () => {
    const config = await loadConfigObject({
      basic_auth_users: {},
      access_rules: { rules: [{ groups: ['ops'], allow_metrics: ['db\\.pool\\..*'], enforce_labels: { 'service.name': 'api' } }] },
    });
    const filter = compileRuleFilter(config.accessRules!.rules[0]!)!;
    expect(filter.allowsFamily('db.pool.connections')).toBe(true);
    expect(filter.allowsFamily('debug.internals')).toBe(false);
    const { families, report } = compileRedaction({ ...defaultRedaction(), detectSecrets: [] }).apply(parseExposition(DUMP, 'text'), filter);
    expect(families.map((f) => f.name)).toEqual(['db.pool.connections']);
    expect(families[0]!.samples).toHaveLength(2);
    expect(report.withheld).toBe(1);
  });

  it('`redact` accepts a UTF-8-name dump in both formats and writes the names back quoted', async () => {
    const text = await runCli(redactCommand, ['--report'], { stdin: DUMP });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('{"db.pool.connections","db.dsn"="[REDACTED]",');
    expect(text.stderr).not.toContain('hunter2');
    const om = await runCli(redactCommand, ['--openmetrics'], { stdin: DUMP });
    expect(om.code).toBe(0);
    expect(om.stdout).toContain('# TYPE "debug.internals" gauge\n{"debug.internals"} 1\n# EOF\n');
    const back = await runCli(redactCommand, [], { stdin: om.stdout });
    expect(back.code).toBe(0);
    expect(parseExposition(back.stdout, 'openmetrics')).toEqual(parseExposition(om.stdout, 'openmetrics'));
  });

  it('`scan` content checks parse a UTF-8-name body and report the secret under its UTF-8 names', () => {
    const findings = contentFindings('https://127.0.0.1:1/metrics', DUMP, 'text/plain; version=0.0.4; charset=utf-8; escaping=allow-utf-8', []);
    expect(findings.map((f) => f.id)).not.toContain('content.unparseable');
    expect(JSON.stringify(findings)).toContain('db.pool.connections');
    expect(JSON.stringify(findings)).not.toContain('hunter2');
  });
});

describe('UTF-8 names: the scrape pass answers each scraper with its negotiated escaping', () => {
  const source = defineMetricsSource(
    async () => ({ body: TEXT_UTF8, contentType: 'text/plain; version=0.0.4; charset=utf-8; escaping=allow-utf-8' }),
    502,
    'upstream',
  );
  const expose = createPipeline(source, { redactor: compileRedaction({ ...defaultRedaction(), detectSecrets: [] }) });
  const accept = (version: string, nh = false) => PROMETHEUS_ACCEPT_HEADERS.find((h) => h.prometheus === version && h.nativeHistograms === nh)!.accept;

  it.each<[string, string, string, RegExp]>([
    [
      'Prometheus 2.42',
      accept('2.42'),
      'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores',
      /^my_metric\{label_name="v",other="x"\} 1$/m,
    ],
    [
      'Prometheus 3.5',
      accept('3.5'),
      'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8',
      /^\{"my\.metric","label\.name"="v",other="x"\} 1$/m,
    ],
    [
      'a dots scraper',
      'text/plain;escaping=dots',
      'text/plain; version=0.0.4; charset=utf-8; escaping=dots',
      /^my_dot_metric\{label_dot_name="v",other="x"\} 1$/m,
    ],
    [
      'a values scraper',
      'text/plain;escaping=values',
      'text/plain; version=0.0.4; charset=utf-8; escaping=values',
      /^U__my_2e_metric\{U__label_2e_name="v",other="x"\} 1$/m,
    ],
    ['curl', '', 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores', /^my_metric\{label_name="v",other="x"\} 1$/m],
  ])('%s', async (_who, acceptHeader, contentType, line) => {
    const out = await expose({ accept: acceptHeader });
    expect(out.contentType).toBe(contentType);
    expect(wholeBody(out)).toMatch(line);
    expect(out.seriesReturned).toBe(10);
  });

  it.each<[string, string]>([
    ['Prometheus 2.53 + native histograms', accept('2.53', true)],
    // 3.5 sends no escaping= on its protobuf range, so client_golang (and we) escape with underscores.
    ['Prometheus 3.5 + native histograms', accept('3.5', true)],
  ])('%s: protobuf, names escaped with underscores as node_exporter 1.11 answers', async (_who, acceptHeader) => {
    const out = await expose({ accept: acceptHeader });
    expect(out.contentType).toBe(`${PROTOBUF_CONTENT_TYPE}; escaping=underscores`);
    const families = decodeProtobuf(Buffer.from(out.body as Buffer));
    expect(families.map((f) => f.name)).toContain('my_metric');
    expect(families.find((f) => f.name === 'my_metric')?.samples[0]?.labels).toEqual(['label_name', 'v', 'other', 'x']);
  });
});
