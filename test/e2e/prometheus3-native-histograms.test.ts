/**
 * Acceptance (issue #15, protobuf): native histograms survive the sidecar. Prometheus 3.5 (B), with
 * native histograms enabled and PrometheusProto first in `scrape_protocols`, scrapes
 * `node dist/cli.js serve --upstream` in front of ANOTHER Prometheus 3.5's own /metrics (A), whose
 * `prometheus_http_request_duration_seconds` is a native histogram. B must store it as a native
 * histogram (the query API answers `histogram` samples), with the sidecar's `mask_labels: [handler]`
 * visibly applied: every handler value is masked, the masked series merged into one. B also
 * scrapes an in-process guard (prom-client registry) with PrometheusProto only, so our encoding of
 * classic histograms, summaries and counters is ingested by the real parser.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Counter, Histogram, Registry, Summary } from 'prom-client';
import { decodeProtobuf, PROTOBUF_CONTENT_TYPE } from '../../src/exposition/protobuf/codec.js';
import { createGuard, type Guard } from '../../src/guard.js';
import { silentLogger } from '../../src/log.js';
import { startServe, ensureBuilt, freePort, prometheus3Tools, sleep, startProcess, stopAll, waitForPort, type RunningProcess } from './support.js';

const tools = prometheus3Tools('prometheus3-native-histograms.test.ts', ['prometheus']);
const METRIC = 'prometheus_http_request_duration_seconds';
/** The Accept header Prometheus 3.5 sends with native histograms enabled (PrometheusProto first). */
const PROTO_ACCEPT =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1';

interface QueryResult {
  metric: Record<string, string>;
  value?: [number, string];
  histogram?: [number, { count: string; sum: string; buckets?: [number, string, string, string][] }];
}

async function query(api: string, promql: string): Promise<QueryResult[]> {
  const response = await fetch(`${api}/query?query=${encodeURIComponent(promql)}`);
  if (!response.ok) throw new Error(`query ${promql}: HTTP ${response.status}`);
  return ((await response.json()) as { data: { result: QueryResult[] } }).data.result;
}

describe.skipIf(tools.skip)('Prometheus 3.5 with native histograms scraping serve --upstream in front of Prometheus 3.5', () => {
  const procs: RunningProcess[] = [];
  let guard: Guard | undefined;
  let work: string;
  let upstreamPort: number;
  let sidecarPort: number;
  let api: string;

  beforeAll(async () => {
    tools.require();
    await ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'scrapeguard-e2e-nh-'));

    // A: the upstream. No scrape jobs; its /metrics is the target.
    mkdirSync(join(work, 'a-data'));
    writeFileSync(join(work, 'a.yml'), stringify({ global: { scrape_interval: '1m' }, scrape_configs: [] }));
    upstreamPort = await freePort();
    const a = startProcess(
      'prometheus-upstream',
      tools.bin('prometheus'),
      [`--config.file=${join(work, 'a.yml')}`, `--web.listen-address=127.0.0.1:${upstreamPort}`, `--storage.tsdb.path=${join(work, 'a-data')}`],
      work,
    );
    procs.push(a);
    await waitForPort(a, upstreamPort, 20_000);
    // Traffic on two more handlers, so masking `handler` makes several native histograms collide.
    for (const path of ['/api/v1/status/buildinfo', '/api/v1/labels', '/metrics']) await (await fetch(`http://127.0.0.1:${upstreamPort}${path}`)).arrayBuffer();

    // The sidecar: redaction masks the handler label.
    writeFileSync(join(work, 'web-config.yml'), stringify({ redaction: { mask_labels: ['handler'] } }), { mode: 0o600 });
    sidecarPort = await freePort();
    const sidecar = startServe(
      [
        '--web.config.file',
        join(work, 'web-config.yml'),
        '--web.listen-address',
        `127.0.0.1:${sidecarPort}`,
        '--upstream',
        `http://127.0.0.1:${upstreamPort}/metrics`,
        '--upstream.timeout',
        '5s',
      ],
      work,
    );
    procs.push(sidecar);
    await waitForPort(sidecar, sidecarPort);

    // An in-process guard over a prom-client registry, scraped with PrometheusProto only.
    const registry = new Registry();
    new Counter({ name: 'app_logins_total', help: 'Logins.', labelNames: ['user'], registers: [registry] }).inc({ user: 'alice@example.com' }, 3);
    new Histogram({ name: 'app_latency_seconds', help: 'Latency.', labelNames: ['handler'], buckets: [0.1, 1], registers: [registry] }).observe(
      { handler: '/login' },
      0.5,
    );
    new Summary({ name: 'app_payload_bytes', help: 'Payload size.', percentiles: [0.5, 0.9], registers: [registry] }).observe(512);
    writeFileSync(join(work, 'in-process.yml'), stringify({ redaction: { hash_labels: ['user'] } }), { mode: 0o600 });
    guard = await createGuard({ config: join(work, 'in-process.yml'), source: registry, logger: silentLogger, watch: false });
    const [inProcess] = await guard.listen('127.0.0.1:0');

    // B: the scraper, native histograms on, protobuf first.
    mkdirSync(join(work, 'b-data'));
    writeFileSync(
      join(work, 'b.yml'),
      stringify({
        global: { scrape_interval: '1s', scrape_timeout: '1s' },
        scrape_configs: [
          {
            job_name: 'sidecar',
            scrape_protocols: ['PrometheusProto', 'OpenMetricsText1.0.0', 'PrometheusText0.0.4'],
            static_configs: [{ targets: [`127.0.0.1:${sidecarPort}`] }],
          },
          { job_name: 'in-process', scrape_protocols: ['PrometheusProto'], static_configs: [{ targets: [`127.0.0.1:${inProcess!.port}`] }] },
        ],
      }),
    );
    const port = await freePort();
    const b = startProcess(
      'prometheus-scraper',
      tools.bin('prometheus'),
      [
        `--config.file=${join(work, 'b.yml')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--storage.tsdb.path=${join(work, 'b-data')}`,
        '--enable-feature=native-histograms',
      ],
      work,
    );
    procs.push(b);
    await waitForPort(b, port, 20_000);
    api = `http://127.0.0.1:${port}/api/v1`;
  }, 90_000);

  afterAll(async () => {
    await stopAll(procs);
    await guard?.close(100);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('answers a protobuf scrape in protobuf, with the native histogram and the handler masked', async () => {
    const response = await fetch(`http://127.0.0.1:${sidecarPort}/metrics`, { headers: { accept: PROTO_ACCEPT } });
    expect(response.status, procs[1]!.output()).toBe(200);
    expect(response.headers.get('content-type')).toBe(`${PROTOBUF_CONTENT_TYPE}; escaping=underscores`);
    const families = decodeProtobuf(new Uint8Array(await response.arrayBuffer()));
    const family = families.find((f) => f.name === METRIC)!;
    expect(family.type).toBe('histogram');
    const natives = family.samples.filter((s) => s.histogram !== undefined);
    // Four handlers upstream (three fetched above, /metrics by the sidecar), one after masking.
    expect(natives).toHaveLength(1);
    expect(natives[0]!.labels).toEqual(['handler', '[REDACTED]']);
    expect(natives[0]!.histogram!.schema).toBeGreaterThanOrEqual(0);
    expect(natives[0]!.value).toBeGreaterThanOrEqual(3);
  });

  it('Prometheus 3.5 stores prometheus_http_request_duration_seconds as native histogram samples, redacted', async () => {
    let result: QueryResult[] = [];
    const deadline = Date.now() + 45_000;
    while (Date.now() < deadline) {
      result = await query(api, `${METRIC}{job="sidecar"}`);
      if (result.some((r) => r.histogram !== undefined)) break;
      await sleep(500);
    }
    const up = await query(api, 'up{job="sidecar"}');
    expect(up[0]?.value?.[1], procs[2]!.output()).toBe('1');
    expect(result.length, JSON.stringify(result).slice(0, 500)).toBe(1);
    const [series] = result;
    expect(series!.histogram, 'a native histogram sample, not a float one').toBeDefined();
    expect(series!.value).toBeUndefined();
    expect(series!.metric.handler).toBe('[REDACTED]');
    expect(Number(series!.histogram![1].count)).toBeGreaterThanOrEqual(3);
    expect(series!.histogram![1].buckets?.length ?? 0).toBeGreaterThan(0);
    // No classic series were ingested for it (native histograms replace them), and no handler leaked.
    expect(await query(api, `${METRIC}_bucket{job="sidecar"}`)).toEqual([]);
    expect(await query(api, `count by (handler) ({job="sidecar",handler!="[REDACTED]",handler!=""})`)).toEqual([]);
  });

  it('an in-process prom-client registry answered in protobuf is ingested by Prometheus 3.5: counter, classic histogram, summary, redacted', async () => {
    let up: QueryResult[] = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      up = await query(api, 'up{job="in-process"}');
      if (up[0]?.value?.[1] === '1' && (await query(api, 'app_latency_seconds_bucket{job="in-process"}')).length > 0) break;
      await sleep(500);
    }
    expect(up[0]?.value?.[1]).toBe('1');
    const logins = await query(api, 'app_logins_total{job="in-process"}');
    expect(logins).toHaveLength(1);
    expect(logins[0]!.metric.user).toMatch(/^[0-9a-f]{16}$/);
    expect(logins[0]!.value![1]).toBe('3');
    const buckets = await query(api, 'app_latency_seconds_bucket{job="in-process",handler="/login"}');
    // Prometheus 3 writes integral le values as floats ("1.0").
    expect(buckets.map((r) => [r.metric.le, r.value![1]]).sort()).toEqual([
      ['+Inf', '1'],
      ['0.1', '0'],
      ['1.0', '1'],
    ]);
    expect((await query(api, 'app_latency_seconds_sum{job="in-process"}'))[0]!.value![1]).toBe('0.5');
    const quantiles = await query(api, 'app_payload_bytes{job="in-process"}');
    expect(quantiles.map((r) => r.metric.quantile).sort()).toEqual(['0.5', '0.9']);
  });

  it('still answers text to a text scraper in front of the same upstream', async () => {
    const response = await fetch(`http://127.0.0.1:${sidecarPort}/metrics`, { headers: { accept: 'text/plain;version=0.0.4' } });
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8; escaping=underscores');
    const text = await response.text();
    expect(text).toMatch(/prometheus_http_request_duration_seconds_bucket\{handler="\[REDACTED\]",le="\+Inf"\} \d+/);
    expect(text).not.toContain('handler="/metrics"');
  });
});
