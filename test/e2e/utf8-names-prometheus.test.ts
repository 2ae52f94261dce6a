/**
 * Acceptance (issue #15): UTF-8 metric and label names end to end through the sidecar. A small
 * node:http exporter serves UTF-8 names (quoted, as client_golang writes them when asked with
 * `escaping=allow-utf-8`) and a secret in a UTF-8-named label; `node dist/cli.js serve --upstream`
 * with a redaction rule on that label sits in front of it; the real Prometheus 3.5.3 and
 * Prometheus 2.42 scrape the sidecar at the same time.
 *
 * - Prometheus 3.5 (UTF-8 allowed) stores the series under their UTF-8 names, without the label
 *   the rule drops.
 * - Prometheus 2.42 (no `escaping=` in its Accept: underscores) gets the escaped names, parses
 *   them and stays `up`.
 * - The escaped names are the ones client_golang's own encoder writes: Prometheus 3.5's
 *   `/federate` (prometheus/common `expfmt.Negotiate` + `EscapeMetricFamily`) serves the stored
 *   UTF-8 series under each escaping scheme, and our escaping of the same families matches it.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeFamilies, type EscapingScheme } from '../../src/exposition/escaping.js';
import { textFamilyName, type MetricFamily } from '../../src/exposition/model.js';
import { parseExposition } from '../../src/exposition/parse.js';
import {
  startServe,
  ensureBuilt,
  freePort,
  prometheus3Tools,
  prometheusTools,
  sleep,
  startProcess,
  stopAll,
  waitForPort,
  type RunningProcess,
} from './support.js';

const tools2 = prometheusTools('utf8-names-prometheus.test.ts', ['prometheus']);
const tools3 = prometheus3Tools('utf8-names-prometheus.test.ts', ['prometheus']);
const SECRET = 's3cr3t-db-Value-42';

const EXPOSITION = [
  '# HELP "app.requests" Requests served.',
  '# TYPE "app.requests_total" counter',
  `{"app.requests_total","http.route"="/a","db.password"="${SECRET}"} 3`,
  '# HELP "app.temperature.celsius" Room temperature.',
  '# TYPE "app.temperature.celsius" gauge',
  '{"app.temperature.celsius","room.name"="lab"} 21.5',
  '# TYPE app_legacy_gauge gauge',
  'app_legacy_gauge{"service.name"="api"} 1',
  '',
].join('\n');

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(base: string, q: string): Promise<Series[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { status: string; data: { result: Series[] } };
  return body.status === 'success' ? body.data.result : [];
}

/** Metric names and label names of parsed families. */
function names(families: readonly MetricFamily[]): { metrics: string[]; labels: string[] } {
  const labels = new Set<string>();
  for (const f of families) for (const s of f.samples) for (let i = 0; i < s.labels.length; i += 2) labels.add(s.labels[i]!);
  return { metrics: families.map(textFamilyName).sort(), labels: [...labels].sort() };
}

describe.skipIf(tools2.skip || tools3.skip)('UTF-8 names through serve --upstream: Prometheus 3.5 and 2.42', () => {
  const procs: RunningProcess[] = [];
  let exporter: Server;
  const acceptSeen = new Set<string>();
  let p3: string;
  let p2: string;

  beforeAll(async () => {
    tools2.require();
    tools3.require();
    await ensureBuilt();
    const work = mkdtempSync(join(tmpdir(), 'scrapeguard-e2e-utf8-'));
    exporter = createServer((req, res) => {
      acceptSeen.add(String(req.headers.accept ?? ''));
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8; escaping=allow-utf-8' });
      res.end(EXPOSITION);
    });
    exporter.listen(0, '127.0.0.1');
    await new Promise((resolve) => exporter.once('listening', resolve));
    const exporterPort = (exporter.address() as AddressInfo).port;

    const webConfig = join(work, 'web-config.yml');
    writeFileSync(webConfig, stringify({ redaction: { drop_labels: ['db\\.password'] } }), { mode: 0o600 });
    const sidecarPort = await freePort();
    const sidecar = startServe(
      ['--web.config.file', webConfig, '--web.listen-address', `127.0.0.1:${sidecarPort}`, '--upstream', `http://127.0.0.1:${exporterPort}/metrics`],
      work,
    );
    procs.push(sidecar);
    await waitForPort(sidecar, sidecarPort);

    const startPrometheus = async (name: string, bin: string): Promise<string> => {
      const dir = join(work, name);
      mkdirSync(join(dir, 'data'), { recursive: true });
      const config = join(dir, 'prometheus.yml');
      writeFileSync(
        config,
        stringify({
          global: { scrape_interval: '1s', scrape_timeout: '1s' },
          scrape_configs: [{ job_name: name, static_configs: [{ targets: [`127.0.0.1:${sidecarPort}`] }] }],
        }),
      );
      const port = await freePort();
      const proc = startProcess(
        name,
        bin,
        [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${join(dir, 'data')}`],
        dir,
      );
      procs.push(proc);
      await waitForPort(proc, port, 20_000);
      return `http://127.0.0.1:${port}`;
    };
    [p3, p2] = await Promise.all([startPrometheus('prometheus3', tools3.bin('prometheus')), startPrometheus('prometheus2', tools2.bin('prometheus'))]);

    // Scrapes start a few seconds after startup; wait (bounded) until both stored the gauge.
    for (let i = 0; i < 80; i++) {
      const [a, b] = await Promise.all([query(p3, '{__name__="app.temperature.celsius"}'), query(p2, 'app_temperature_celsius')]);
      if (a.length > 0 && b.length > 0) break;
      await sleep(500);
    }
  }, 90_000);

  afterAll(async () => {
    await stopAll(procs);
    await new Promise((resolve) => exporter?.close(resolve));
  });

  it('the sidecar asks its upstream for UTF-8 names', () => {
    expect([...acceptSeen].every((a) => a.includes('escaping=allow-utf-8'))).toBe(true);
    expect(acceptSeen.size).toBeGreaterThan(0);
  });

  it('Prometheus 3.5 stores the series under their UTF-8 names, with the redaction rule applied', async () => {
    const series = await query(p3, '{__name__=~"app[.]requests_total|app[.]temperature[.]celsius|app_legacy_gauge"}');
    const byName = new Map(series.map((s) => [s.metric.__name__, s.metric]));
    expect([...byName.keys()].sort()).toEqual(['app.requests_total', 'app.temperature.celsius', 'app_legacy_gauge']);
    expect(byName.get('app.requests_total')).toMatchObject({ 'http.route': '/a', job: 'prometheus3' });
    expect(byName.get('app.requests_total')).not.toHaveProperty('db.password');
    expect(byName.get('app.temperature.celsius')).toMatchObject({ 'room.name': 'lab' });
    expect(byName.get('app_legacy_gauge')).toMatchObject({ 'service.name': 'api' });
    expect(JSON.stringify(series)).not.toContain(SECRET);
    const up = await query(p3, 'up{job="prometheus3"}');
    expect(up[0]?.value[1]).toBe('1');
  });

  it('Prometheus 2.42 gets the escaped names (underscores) and stays up', async () => {
    const series = await query(p2, '{__name__=~"app_.*"}');
    const byName = new Map(series.map((s) => [s.metric.__name__, s.metric]));
    expect([...byName.keys()].sort()).toEqual(['app_legacy_gauge', 'app_requests_total', 'app_temperature_celsius']);
    expect(byName.get('app_requests_total')).toMatchObject({ http_route: '/a', job: 'prometheus2' });
    expect(Object.keys(byName.get('app_requests_total')!).some((k) => k.startsWith('db'))).toBe(false);
    expect(byName.get('app_temperature_celsius')).toMatchObject({ room_name: 'lab' });
    expect(byName.get('app_legacy_gauge')).toMatchObject({ service_name: 'api' });
    expect(JSON.stringify(series)).not.toContain(SECRET);
    const up = await query(p2, 'up{job="prometheus2"}');
    expect(up[0]?.value[1]).toBe('1');
  });

  it.each<EscapingScheme>(['underscores', 'dots', 'values'])(
    'escaping=%s: our escaped names equal those Prometheus 3.5 /federate (client_golang encoder) writes for the same series',
    async (scheme) => {
      const federate = async (accept: string) => {
        const res = await fetch(`${p3}/federate?match[]=${encodeURIComponent('{__name__=~"app[.].*|app_legacy_gauge"}')}`, { headers: { accept } });
        return { contentType: res.headers.get('content-type') ?? '', body: await res.text() };
      };
      const utf8 = await federate('text/plain;version=0.0.4;escaping=allow-utf-8');
      expect(utf8.contentType).toContain('escaping=allow-utf-8');
      const original = parseExposition(utf8.body, 'text');
      expect(names(original).metrics).toContain('app.temperature.celsius');
      const escaped = await federate(`text/plain;version=0.0.4;escaping=${scheme}`);
      expect(escaped.contentType).toBe(`text/plain; version=0.0.4; charset=utf-8; escaping=${scheme}`);
      const theirs = names(parseExposition(escaped.body, 'text'));
      const ours = names(escapeFamilies(original, scheme));
      expect(ours).toEqual(theirs);
      expect(theirs.metrics.every((n) => /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(n))).toBe(true);
    },
  );
});
