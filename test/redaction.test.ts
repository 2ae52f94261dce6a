/**
 * The redaction pass and the `redaction` config section: rule semantics and precedence, keyed
 * hashes, merging of series that became identical, per-caller filtering in the same walk,
 * HELP scrubbing, the config validator (errors name key paths; the key file is watched), property
 * tests (no dropped/masked/detected value survives anywhere; output parses; no duplicate series),
 * and a corpus of ordinary exporter output that passes through unchanged.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Counter, Gauge, Histogram, Registry, Summary, collectDefaultMetrics } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { allowPropertyTime, propertyRuns } from './helpers/property-runs.js';
import type { LabelConstraint, SeriesFilter } from '../src/access/filter.js';
import { loadConfigFile, loadConfigObject } from '../src/config/load.js';
import { defaultRedaction } from '../src/config/redaction.js';
import type { ResolvedRedaction } from '../src/config/schema.js';
import { ConfigError } from '../src/errors.js';
import { textFamilyName, type MetricFamily } from '../src/exposition/model.js';
import { parseExposition } from '../src/exposition/parse.js';
import { fromPromClientJson } from '../src/exposition/prom-client.js';
import { compileRedaction } from '../src/exposition/redact.js';
import { SECRET_DETECTORS } from '../src/exposition/secrets.js';
import { renderExposition } from '../src/exposition/render.js';
import { familiesArb } from './helpers/exposition.js';

allowPropertyTime();

const fixtures = new URL('./fixtures/exposition/', import.meta.url).pathname;
const rules = (over: Partial<ResolvedRedaction>): ResolvedRedaction => ({ ...defaultRedaction(), ...over });
const run = (text: string, over: Partial<ResolvedRedaction> = {}, filter?: SeriesFilter, format: 'text' | 'openmetrics' = 'text') => {
  const { families, report } = compileRedaction(rules(over)).apply(parseExposition(text, format), filter);
  return { families, report, text: renderExposition(families, format).text };
};
const constraint = (name: string, matches: (v: string) => boolean): LabelConstraint => ({ name, matches });

describe('label rules', () => {
  const text = [
    '# TYPE db_up gauge',
    'db_up{instance="a",password="hunter2",dsn="host=db",user="alice@example.com"} 1',
    'db_up{instance="b",password="s3cret",dsn="host=db2",user="bob@example.com"} 1',
  ].join('\n');

  it('drops, masks and hashes by anchored name patterns, drop before mask before hash', () => {
    const { text: out, report } = run(text, { dropLabels: ['pass.*'], maskLabels: ['dsn|password'], hashLabels: ['user|dsn'] });
    expect(out).not.toMatch(/hunter2|s3cret|host=db|alice|bob/);
    expect(out).toMatch(/^db_up\{instance="a",dsn="\[REDACTED\]",user="[0-9a-f]{16}"\} 1$/m);
    expect(report.rules).toEqual(
      new Map([
        ['drop_labels', 2],
        ['mask_labels', 2],
        ['hash_labels', 2],
      ]),
    );
    expect(report.patterns.map((p) => [p.rule, p.pattern, [...p.names]])).toEqual([
      ['drop_labels', 'pass.*', ['password']],
      ['mask_labels', 'dsn|password', ['dsn']],
      ['hash_labels', 'user|dsn', ['user']],
    ]);
    // Anchored: "pass" alone does not match "password".
    expect(run(text, { dropLabels: ['pass'] }).text).toContain('hunter2');
  });

  it('hashes are keyed: stable for one key, different for another, equal across labels', () => {
    const key1 = Buffer.from('k'.repeat(32));
    const key2 = Buffer.from('j'.repeat(32));
    const hashOf = (key: Buffer) => {
      const config = rules({ hashLabels: ['user', 'owner'] });
      Object.defineProperty(config, 'hashKey', { value: key, enumerable: false });
      const families = compileRedaction(config).apply(parseExposition('m{user="alice",owner="alice"} 1\n', 'text')).families;
      return families[0]!.samples[0]!.labels;
    };
    const a = hashOf(key1);
    expect(a[1]).toMatch(/^[0-9a-f]{16}$/);
    expect(a[1]).toBe(a[3]);
    expect(hashOf(key1)).toEqual(a);
    expect(hashOf(key2)[1]).not.toBe(a[1]);
  });

  it('never touches le, quantile or a stateset label, even when a rule names them', () => {
    const hist =
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 1\ns_count 1\n';
    const out = run(hist, { dropLabels: ['le', 'quantile'] }).text;
    expect(out).toContain('h_bucket{le="+Inf"} 2');
    expect(out).toContain('s{quantile="0.5"} 1');
    const om = run('# TYPE mode stateset\nmode{mode="a"} 1\nmode{mode="b"} 0\n# EOF\n', { maskLabels: ['mode'] }, undefined, 'openmetrics').text;
    expect(om).toContain('mode{mode="b"} 0');
  });

  it('a secret in a stateset state value is still masked by the detectors (the label itself stays)', () => {
    const leak = 'postgres://app:stateset-secret-pw@db/app';
    const om = run(`# TYPE conn stateset\nconn{conn="${leak}"} 1\nconn{conn="idle"} 0\n# EOF\n`, {}, undefined, 'openmetrics').text;
    expect(om).not.toContain('stateset-secret-pw');
    expect(om).toContain('conn{conn="[REDACTED]"} 1');
    expect(om).toContain('conn{conn="idle"} 0');
  });

  it('redacts exemplar labels too', () => {
    const out = run('# TYPE c counter\nc_total{a="1"} 1 # {token="abc",trace_id="t"} 1\n# EOF\n', { dropLabels: ['token'] }, undefined, 'openmetrics').text;
    expect(out).toBe('# TYPE c counter\nc_total{a="1"} 1 # {trace_id="t"} 1\n# EOF\n');
  });

  it('masks values a detector recognises even when no rule names the label', () => {
    const { text: out, report } = run('m{target="postgres://app:hunter2@db:5432/app",path="/var/lib"} 1\n');
    expect(out).toBe('# TYPE m untyped\nm{target="[REDACTED]",path="/var/lib"} 1\n');
    expect(report.detectors).toEqual(new Map([['url_credentials', 1]]));
    expect(run('m{target="postgres://app:hunter2@db/app"} 1\n', { detectSecrets: [] }).text).toContain('hunter2');
  });

  it('scrubs HELP text and drops families by either name', () => {
    const text =
      '# HELP app_conn_total Connections to postgres://app:pw@db (password=pw)\n# TYPE app_conn_total counter\napp_conn_total 1\n# TYPE debug_x gauge\ndebug_x 1\n';
    const { text: out, report } = run(text, { redactHelp: ['password=\\w+', '//[^ ]*@'], dropMetrics: ['debug_.*', 'app_conn'], maskValue: '***' });
    expect(out).toBe('');
    expect(report.rules.get('drop_metrics')).toBe(2);
    const kept = run(text, { redactHelp: ['password=\\w+', '//[^ ]*@'], maskValue: '***' }).text;
    expect(kept).toContain('# HELP app_conn_total Connections to postgres:***db (***)\n');
  });
});

describe('merging series that became identical', () => {
  it('sums counters and gauges, bucket-wise histograms, keeps summary sum/count without quantiles', () => {
    const text = [
      '# TYPE req_total counter',
      'req_total{code="200",user="a"} 3',
      'req_total{code="200",user="b"} 4',
      'req_total{code="500",user="a"} 1',
      '# TYPE lat histogram',
      'lat_bucket{user="a",le="1"} 1',
      'lat_bucket{user="a",le="+Inf"} 2',
      'lat_sum{user="a"} 1.5',
      'lat_count{user="a"} 2',
      'lat_bucket{user="b",le="1"} 3',
      'lat_bucket{user="b",le="+Inf"} 3',
      'lat_sum{user="b"} 0.5',
      'lat_count{user="b"} 3',
      '# TYPE rpc summary',
      'rpc{user="a",quantile="0.5"} 0.1',
      'rpc_sum{user="a"} 1',
      'rpc_count{user="a"} 10',
      'rpc{user="b",quantile="0.5"} 0.2',
      'rpc_sum{user="b"} 2',
      'rpc_count{user="b"} 20',
      '# TYPE solo summary',
      'solo{user="a",quantile="0.5"} 0.1',
      'solo_sum{user="a"} 1',
      'solo_count{user="a"} 10',
    ].join('\n');
    const { text: out, report } = run(text, { dropLabels: ['user'] });
    expect(out).toBe(
      [
        '# TYPE req_total counter',
        'req_total{code="200"} 7',
        'req_total{code="500"} 1',
        '# TYPE lat histogram',
        'lat_bucket{le="1"} 4',
        'lat_bucket{le="+Inf"} 5',
        'lat_sum 2',
        'lat_count 5',
        '# TYPE rpc summary',
        'rpc_sum 3',
        'rpc_count 30',
        '# TYPE solo summary',
        'solo{quantile="0.5"} 0.1',
        'solo_sum 1',
        'solo_count 10',
        '',
      ].join('\n'),
    );
    expect(report.merged).toBe(1 + 4 + 3);
  });

  it('merges masked values and label order differences; info stays 1', () => {
    const om = '# TYPE b info\nb_info{v="1",token="x"} 1\nb_info{token="y",v="1"} 1\n# EOF\n';
    expect(run(om, { maskLabels: ['token'] }, undefined, 'openmetrics').text).toBe('# TYPE b info\nb_info{v="1",token="[REDACTED]"} 1\n# EOF\n');
  });
});

describe("the caller's view in the same walk", () => {
  const text = '# TYPE a_total counter\na_total{team="x",user="u1"} 1\na_total{team="y",user="u2"} 2\n# TYPE b gauge\nb{team="x"} 3\n# TYPE c gauge\nc 4\n';

  it('withholds families and series, judging constraints on original values, and counts them', () => {
    const filter: SeriesFilter = { allowsFamily: (n) => n !== 'b', labelConstraints: [constraint('team', (v) => v === 'x')] };
    const { text: out, report } = run(text, { hashLabels: ['team'] }, filter);
    expect(out).toMatch(/^# TYPE a_total counter\na_total\{team="[0-9a-f]{16}",user="u1"\} 1\n$/);
    // b: family denied (1); a: one series fails the constraint (1); c: no team label (1), family left out.
    expect(report.withheld).toBe(3);
  });

  it('never examines withheld series: no rule or detector work is spent on them', () => {
    const text = '# TYPE a gauge\na{team="x",password="p",dsn="postgres://u:p@h/d"} 1\na{team="y",password="p",dsn="postgres://u:p@h/d"} 2\n';
    const deny = run(text, { dropLabels: ['password'] }, { allowsFamily: () => false, labelConstraints: [] }).report;
    expect(deny.rules.size + deny.detectors.size).toBe(0);
    const one = run(text, { dropLabels: ['password'] }, { allowsFamily: () => true, labelConstraints: [constraint('team', (v) => v === 'x')] }).report;
    expect(one.rules.get('drop_labels')).toBe(1);
    expect(one.detectors.get('url_credentials')).toBe(1);
  });

  it('asks allowsFamily with the text-format name (a counter keeps _total) for OpenMetrics input too', () => {
    const asked: string[] = [];
    run(
      '# TYPE a counter\na_total 1\n# TYPE i info\ni_info 1\n# EOF\n',
      {},
      { allowsFamily: (n) => (asked.push(n), true), labelConstraints: [] },
      'openmetrics',
    );
    expect(asked).toEqual(['a_total', 'i_info']);
  });
});

describe('redaction config', () => {
  it('defaults: every detector on, nothing else', async () => {
    const config = await loadConfigObject({});
    expect(config.redaction).toEqual(defaultRedaction());
    expect(config.redaction.detectSecrets).toBe('all');
  });

  it('reads every key, detector switches as list or map, the key file watched and never serialized', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-redaction-'));
    writeFileSync(join(dir, 'hash.key'), 'a-long-random-key-0123456789abcdef\n');
    writeFileSync(
      join(dir, 'web.yml'),
      [
        'redaction:',
        '  drop_labels: ["password|api_key"]',
        '  mask_labels: [dsn]',
        '  mask_value: "<hidden>"',
        '  hash_labels: [user]',
        '  hash_key_file: hash.key',
        '  drop_metrics: ["debug_.*"]',
        '  redact_help: ["secret=\\\\S+"]',
        '  detect_secrets: {url_credentials: false}',
      ].join('\n'),
    );
    const config = await loadConfigFile(join(dir, 'web.yml'));
    expect(config.redaction).toMatchObject({
      dropLabels: ['password|api_key'],
      maskLabels: ['dsn'],
      maskValue: '<hidden>',
      hashLabels: ['user'],
      hashKeyFile: join(dir, 'hash.key'),
      dropMetrics: ['debug_.*'],
      redactHelp: ['secret=\\S+'],
      detectSecrets: SECRET_DETECTORS.map((d) => d.name).filter((n) => n !== 'url_credentials'),
    });
    expect(config.redaction.hashKey?.toString()).toBe('a-long-random-key-0123456789abcdef');
    expect(JSON.stringify(config)).not.toContain('a-long-random-key');
    expect(config.dependsOn).toContain(join(dir, 'hash.key'));
    expect(config.warnings).toEqual([]);
    expect((await loadConfigObject({ redaction: { detect_secrets: ['url_credentials'] } })).redaction.detectSecrets).toEqual(['url_credentials']);
    expect((await loadConfigObject({ redaction: { detect_secrets: false } })).redaction.detectSecrets).toEqual([]);
  });

  it('warns that hashes change on restart without a key file', async () => {
    const config = await loadConfigObject({ redaction: { hash_labels: ['user'] } });
    expect(config.warnings.join('\n')).toContain('random per-process key');
  });

  it('names file, line and key of every problem, never the key file content', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-redaction-'));
    writeFileSync(join(dir, 'short.key'), 'tooshort');
    writeFileSync(
      join(dir, 'web.yml'),
      [
        'redaction:',
        '  drop_labels: ["(unclosed"]',
        '  detect_secrets: [url_credentialz]',
        '  hash_key_file: short.key',
        '  mask_lables: [x]',
        '  redact_help: ["", "x*"]',
      ].join('\n'),
    );
    const error = await loadConfigFile(join(dir, 'web.yml')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
    expect(issues).toEqual([
      expect.stringMatching(/^2 redaction\.drop_labels\[0\]: invalid regular expression "\(unclosed"/),
      expect.stringMatching(/^3 redaction\.detect_secrets\[0\]: unknown detector "url_credentialz"; did you mean "url_credentials"\?/),
      expect.stringMatching(/^4 redaction\.hash_key_file: .* holds 8 bytes; use at least 16/),
      expect.stringMatching(/^5 redaction\.mask_lables: unknown key "mask_lables"; did you mean "mask_labels"\?/),
      expect.stringMatching(/^6 redaction\.redact_help\[0\]: empty pattern/),
      expect.stringMatching(/^6 redaction\.redact_help\[1\]: pattern "x\*" matches the empty string/),
    ]);
    expect((error as Error).message).not.toContain('tooshort');
  });
});

/** Every series key of a rendered exposition, to find duplicates. */
function seriesKeys(families: MetricFamily[]): string[] {
  return families.flatMap((f) => f.samples.map((s) => `${textFamilyName(f)}${s.suffix}{${s.labels.join(',')}}`));
}

describe('properties', () => {
  const secret = fc.stringMatching(/^[A-Za-z0-9]{6,12}$/).map((s) => `SECRET${s}`);

  it('no value of a dropped or masked label and no detected secret appears anywhere; output parses; no duplicates', () => {
    fc.assert(
      fc.property(
        familiesArb({ types: ['counter', 'gauge', 'histogram', 'summary', 'unknown', 'info', 'stateset', 'gaugehistogram'], openMetricsExtras: true }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom('password', 'token', 'dsn', 'email'), secret), { maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(), secret, secret), { maxLength: 4 }),
        fc.constantFrom<'text' | 'openmetrics'>('text', 'openmetrics'),
        (families, plants, urls, format) => {
          // Plant secret values in labels the rules name, and URL credentials in a label no rule names.
          const all = families.flatMap((f) => f.samples.map((s) => ({ f, s })));
          const planted: string[] = [];
          for (const [i, name, value] of plants) {
            const target = all[i % Math.max(1, all.length)];
            if (!target) break;
            const at = target.s.labels.findIndex((n, k) => k % 2 === 0 && n === name);
            if (at >= 0) target.s.labels[at + 1] = value;
            else target.s.labels.push(name, value);
            planted.push(value);
          }
          for (const [i, user, pass] of urls) {
            const target = all[i % Math.max(1, all.length)];
            if (!target) break;
            if (!target.s.labels.some((n, k) => k % 2 === 0 && n === 'upstream')) target.s.labels.push('upstream', `https://${user}:${pass}@db.example.com/x`);
            planted.push(pass);
          }
          const text = renderExposition(families, format).text;
          const redactor = compileRedaction(rules({ dropLabels: ['password|token'], maskLabels: ['dsn|email'] }));
          const result = redactor.apply(parseExposition(text, format));
          const out = renderExposition(result.families, format).text;
          for (const value of planted) expect(out).not.toContain(value);
          const reparsed = parseExposition(out, format);
          const keys = seriesKeys(reparsed);
          expect(new Set(keys).size).toBe(keys.length);
        },
      ),
      { numRuns: propertyRuns(150) },
    );
  });

  it('with no rule firing, the pass is the identity', () => {
    fc.assert(
      fc.property(familiesArb({ types: ['counter', 'gauge', 'histogram', 'summary', 'unknown'] }), (families) => {
        const text = renderExposition(families, 'text').text;
        const out = renderExposition(
          compileRedaction(rules({ dropLabels: ['nothing_matches_this'] })).apply(parseExposition(text, 'text')).families,
          'text',
        ).text;
        // Families without samples are kept only when they had none to begin with.
        expect(out).toBe(text);
      }),
      { numRuns: propertyRuns(100) },
    );
  });
});

describe('ordinary exporter output passes detect_secrets unchanged', () => {
  it.each([
    ['node-exporter.prom', 'text'],
    ['kube-state-metrics.prom', 'text'],
    ['app-openmetrics.prom', 'openmetrics'],
  ] as const)('%s: the same series with the same values', (file, format) => {
    const text = readFileSync(join(fixtures, file), 'utf8');
    const before = parseExposition(text, format);
    const { families, report } = compileRedaction(defaultRedaction()).apply(parseExposition(text, format));
    expect(report.detectors.size).toBe(0);
    expect(families).toEqual(before);
  });

  it("prom-client's default metrics plus app metrics with paths, versions, hosts, UUIDs and digests", async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const c = new Counter({ name: 'app_requests_total', help: 'Requests.', labelNames: ['route', 'host'], registers: [registry] });
    c.inc({ route: '/api/v1/users/7f9c1e2a-5b3d-4c8e-9a0f-1e2d3c4b5a69', host: 'api-7d9c8b6f5-x2lq9.payments.svc.cluster.local' });
    new Gauge({ name: 'app_image_info', help: 'Image.', labelNames: ['image', 'version'], registers: [registry] }).set(
      { image: 'ghcr.io/example/app@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae', version: 'v3.8.1-rc.2+build.17' },
      1,
    );
    new Histogram({ name: 'app_latency_seconds', help: 'Latency.', labelNames: ['route'], registers: [registry] }).observe({ route: '/health' }, 0.02);
    new Summary({ name: 'app_payload_bytes', help: 'Payload.', registers: [registry] }).observe(512);
    const families = fromPromClientJson((await registry.getMetricsAsJSON()) as never);
    const copy = structuredClone(families);
    const { families: out, report } = compileRedaction(defaultRedaction()).apply(families);
    expect(report.detectors.size).toBe(0);
    expect(out).toEqual(copy);
    // And the fast path renders what prom-client itself renders (same series, same values).
    const ours = parseExposition(renderExposition(out, 'text').text, 'text');
    const theirs = parseExposition(await registry.metrics(), 'text');
    const values = (fs: MetricFamily[]) =>
      new Map(fs.flatMap((f) => f.samples.map((s) => [`${textFamilyName(f)}${s.suffix}${JSON.stringify(s.labels)}`, s.value])));
    const a = values(ours);
    const b = values(theirs);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    // Process and runtime gauges move between the two reads; the app's series do not.
    for (const [k, v] of b) if (k.startsWith('app_') || k.startsWith('nodejs_version_info')) expect(a.get(k), k).toBe(v);
  });
});
