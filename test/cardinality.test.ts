/**
 * The cardinality and size guard on export (`limits.max_series_per_scrape` …): the policy on the
 * model, the config keys, and whole scrapes over real sockets — in-process (a prom-client registry
 * of 200 000 series behind a 50 000 limit) and in sidecar mode (an upstream exporter over HTTP).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Gauge, Histogram, Registry } from 'prom-client';
import { createGuard } from '../src/guard.js';
import { loadConfigObject } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { limitSeries } from '../src/exposition/cardinality.js';
import { parseExposition } from '../src/exposition/parse.js';
import { upstreamSource } from '../src/exposition/upstream.js';
import { withExtraFamilies } from '../src/exposition/pipeline.js';
import { toMetricsSource } from '../src/exposition/source.js';
import type { ResolvedSeriesLimits } from '../src/config/schema.js';
import type { LogFields } from '../src/log.js';
import { scrape } from './helpers/client.js';

const NONE: ResolvedSeriesLimits = { maxSeriesPerScrape: 0, maxSeriesPerFamily: 0, maxLabelsPerSeries: 0, maxLabelValueBytes: 0 };

/** Sample lines (not comments) of a text exposition. */
function seriesLines(body: string): string[] {
  return body.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

/** Family names of a text exposition's `# TYPE` lines. */
function typeNames(body: string): string[] {
  return body
    .split('\n')
    .filter((line) => line.startsWith('# TYPE '))
    .map((line) => line.split(' ')[2]!);
}

function capture(): {
  logger: { debug(): void; info(): void; warn(m: string, f?: LogFields): void; error(): void };
  lines: { message: string; fields?: LogFields }[];
} {
  const lines: { message: string; fields?: LogFields }[] = [];
  return {
    lines,
    logger: {
      debug() {},
      info() {},
      warn: (message, fields) => void lines.push({ message, ...(fields ? { fields } : {}) }),
      error() {},
    },
  };
}

describe('limitSeries (the policy)', () => {
  const text = [
    '# TYPE big gauge',
    ...Array.from({ length: 30 }, (_, i) => `big{id="${i}"} 1`),
    '# TYPE mid gauge',
    ...Array.from({ length: 20 }, (_, i) => `mid{id="${i}"} 1`),
    '# TYPE small gauge',
    ...Array.from({ length: 5 }, (_, i) => `small{id="${i}"} 1`),
    '# TYPE up gauge',
    'up 1',
    '',
  ].join('\n');

  it('the scrape cap drops the largest families first and keeps the rest in order', () => {
    const { families, drops } = limitSeries(parseExposition(text, 'text'), { ...NONE, maxSeriesPerScrape: 30 });
    expect(families.map((f) => f.name)).toEqual(['mid', 'small', 'up']);
    expect(drops).toEqual([{ reason: 'series_per_scrape', family: 'big', series: 30 }]);
    const tighter = limitSeries(parseExposition(text, 'text'), { ...NONE, maxSeriesPerScrape: 10 });
    expect(tighter.families.map((f) => f.name)).toEqual(['small', 'up']);
    expect(tighter.drops.map((d) => d.family)).toEqual(['big', 'mid']);
  });

  it('equal sizes: the family later in the exposition goes first', () => {
    const twins = '# TYPE a gauge\na{x="1"} 1\na{x="2"} 1\n# TYPE b gauge\nb{x="1"} 1\nb{x="2"} 1\n';
    const { families, drops } = limitSeries(parseExposition(twins, 'text'), { ...NONE, maxSeriesPerScrape: 3 });
    expect(families.map((f) => f.name)).toEqual(['a']);
    expect(drops).toEqual([{ reason: 'series_per_scrape', family: 'b', series: 2 }]);
  });

  it('a family over max_series_per_family is dropped whole, never truncated', () => {
    const { families, drops } = limitSeries(parseExposition(text, 'text'), { ...NONE, maxSeriesPerFamily: 20 });
    expect(families.map((f) => [f.name, f.samples.length])).toEqual([
      ['mid', 20],
      ['small', 5],
      ['up', 1],
    ]);
    expect(drops).toEqual([{ reason: 'series_per_family', family: 'big', series: 30 }]);
  });

  it('max_label_value_bytes counts UTF-8 bytes and drops only the offending series', () => {
    // "é" is 2 bytes: 4 characters, 8 bytes.
    const body = '# TYPE c_total counter\nc_total{v="éééé"} 1\nc_total{v="abcdefg"} 2\nc_total{v="abcdefgh"} 3\nc_total{v="abcdefghi"} 4\n';
    const { families, drops } = limitSeries(parseExposition(body, 'text'), { ...NONE, maxLabelValueBytes: 8 });
    expect(families[0]!.samples.map((s) => s.value)).toEqual([1, 2, 3]);
    expect(drops).toEqual([{ reason: 'label_value_bytes', family: 'c_total', series: 1 }]);
    const seven = limitSeries(parseExposition(body, 'text'), { ...NONE, maxLabelValueBytes: 7 });
    expect(seven.families[0]!.samples.map((s) => s.value)).toEqual([2]);
  });

  it('max_labels_per_series does not count le or quantile: a histogram series keeps its buckets, _sum and _count together', () => {
    const body = [
      '# TYPE h histogram',
      'h_bucket{a="1",b="1",le="1"} 1',
      'h_bucket{a="1",b="1",le="+Inf"} 1',
      'h_sum{a="1",b="1"} 1',
      'h_count{a="1",b="1"} 1',
      'h_bucket{a="2",b="2",c="2",le="1"} 1',
      'h_bucket{a="2",b="2",c="2",le="+Inf"} 1',
      'h_sum{a="2",b="2",c="2"} 1',
      'h_count{a="2",b="2",c="2"} 1',
      '',
    ].join('\n');
    const { families, drops } = limitSeries(parseExposition(body, 'text'), { ...NONE, maxLabelsPerSeries: 2 });
    expect(families[0]!.samples.map((s) => s.suffix)).toEqual(['_bucket', '_bucket', '_sum', '_count']);
    expect(families[0]!.samples.every((s) => s.labels[1] === '1')).toBe(true);
    expect(drops).toEqual([{ reason: 'labels_per_series', family: 'h', series: 4 }]);
  });

  it('a family the per-series limits empty is left out; the checks run labels → family → scrape, each series counted once', () => {
    const body = '# TYPE long gauge\nlong{v="xxxxxxxxxxxx"} 1\n# TYPE wide gauge\nwide{a="1",b="2",c="3"} 1\nwide{a="1"} 1\n# TYPE ok gauge\nok 1\n';
    const { families, drops } = limitSeries(parseExposition(body, 'text'), {
      maxSeriesPerScrape: 1,
      maxSeriesPerFamily: 1,
      maxLabelsPerSeries: 2,
      maxLabelValueBytes: 4,
    });
    // wide keeps one series; wide and ok tie at one series each, so the later one (ok) goes.
    expect(families.map((f) => f.name)).toEqual(['wide']);
    expect(drops).toEqual([
      { reason: 'label_value_bytes', family: 'long', series: 1 },
      { reason: 'labels_per_series', family: 'wide', series: 1 },
      { reason: 'series_per_scrape', family: 'ok', series: 1 },
    ]);
  });
});

describe('limits.max_series_per_scrape … (config)', () => {
  it('resolves the four keys; 0 or unset means no limit (no series limits at all when none is set)', async () => {
    const config = await loadConfigObject({
      limits: { max_series_per_scrape: 50_000, max_series_per_family: 10_000, max_labels_per_series: 30, max_label_value_bytes: 1024 },
    });
    expect(config.limits.series).toEqual({ maxSeriesPerScrape: 50_000, maxSeriesPerFamily: 10_000, maxLabelsPerSeries: 30, maxLabelValueBytes: 1024 });
    expect((await loadConfigObject({ limits: { max_series_per_family: 100 } })).limits.series).toEqual({ ...NONE, maxSeriesPerFamily: 100 });
    expect((await loadConfigObject({ limits: { max_series_per_scrape: 0 } })).limits.series).toBeUndefined();
    expect((await loadConfigObject({})).limits.series).toBeUndefined();
  });

  it.each([
    ['max_series_per_scrape', -1, /limits\.max_series_per_scrape.*at least 0/],
    ['max_series_per_family', 1.5, /limits\.max_series_per_family.*expected an integer/],
    ['max_labels_per_series', '10', /limits\.max_labels_per_series.*expected an integer/],
    ['max_label_value_bytes', true, /limits\.max_label_value_bytes.*expected an integer/],
    ['max_series_per_scrap', 1, /max_series_per_scrap/],
  ])('limits.%s: %j is refused', async (key, value, message) => {
    const error = await loadConfigObject({ limits: { [key]: value } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(String((error as Error).message)).toMatch(message);
  });
});

describe('export limits on whole scrapes', () => {
  const servers: Server[] = [];
  afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

  it(
    'in-process: a registry of 200 000 series behind a 50 000 limit serves at most 50 000, and the self-metric names the dropped family',
    { timeout: 120_000 },
    async () => {
      const registry = new Registry();
      // 160 000 series from a label fed by user input, next to ordinary families (40 000 in all).
      const byUser = new Gauge({ name: 'app_requests_by_user', help: 'Requests by user.', labelNames: ['user'], registers: [registry] });
      for (let i = 0; i < 160_000; i++) byUser.set({ user: `u${i}` }, i);
      const items = new Gauge({ name: 'app_items', help: 'Items.', labelNames: ['id'], registers: [registry] });
      for (let i = 0; i < 30_000; i++) items.set({ id: String(i) }, 1);
      const latency = new Histogram({ name: 'app_latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 1, 10], registers: [registry] });
      // 7 samples per route (4 buckets with +Inf, _sum, _count): 1 428 routes = 9 996 series.
      for (let i = 0; i < 1428; i++) latency.observe({ route: `/r${i}` }, 0.5);
      const up = new Gauge({ name: 'app_up', help: 'Up.', registers: [registry] });
      up.set(1);
      const { logger, lines } = capture();
      const guard = await createGuard({ config: { limits: { max_series_per_scrape: 50_000 } }, source: registry, selfMetrics: registry, logger, watch: false });
      try {
        const [bound] = await guard.listen('127.0.0.1:0');
        const first = await scrape(`${bound!.url}/metrics`, { timeoutMs: 100_000 });
        expect(first.status).toBe(200);
        const served = seriesLines(first.body);
        expect(served.length).toBeLessThanOrEqual(50_000);
        expect(typeNames(first.body)).not.toContain('app_requests_by_user');
        expect(typeNames(first.body)).toEqual(expect.arrayContaining(['app_items', 'app_latency_seconds', 'app_up']));
        expect(served.filter((l) => l.startsWith('app_items{'))).toHaveLength(30_000);
        // The next scrape carries the count of the first one's drops.
        const second = await scrape(`${bound!.url}/metrics`, { timeoutMs: 100_000 });
        expect(second.body).toContain('scrapeguard_dropped_series_total{reason="series_per_scrape",family="app_requests_by_user"} 160000\n');
        expect(seriesLines(second.body).length).toBeLessThanOrEqual(50_000);
        const drop = lines.find((l) => l.message === 'series dropped by export limits');
        expect(drop?.fields).toEqual({ reason: 'series_per_scrape', limit: 50_000, series: 160_000, families: 1, family: 'app_requests_by_user' });
        // No label value reaches the log.
        expect(JSON.stringify(lines)).not.toContain('u1');
      } finally {
        await guard.close();
      }
    },
  );

  it('the family label of scrapeguard_dropped_series_total is bounded: 100 families, then _other', async () => {
    const registry = new Registry();
    for (let f = 0; f < 120; f++) {
      const g = new Gauge({ name: `fam_${f}`, help: 'x', labelNames: ['id'], registers: [registry] });
      for (let i = 0; i < 3; i++) g.set({ id: String(i) }, 1);
    }
    const self = new Registry();
    const guard = await createGuard({
      config: { limits: { max_series_per_family: 2 } },
      source: registry,
      selfMetrics: self,
      logger: capture().logger,
      watch: false,
    });
    try {
      const [bound] = await guard.listen('127.0.0.1:0');
      for (let i = 0; i < 2; i++) expect((await scrape(`${bound!.url}/metrics`)).status).toBe(200);
      const text = await self.metrics();
      const dropped = text.split('\n').filter((l) => l.startsWith('scrapeguard_dropped_series_total{'));
      expect(dropped).toHaveLength(101);
      expect(dropped).toContain('scrapeguard_dropped_series_total{reason="series_per_family",family="fam_0"} 6');
      expect(dropped).toContain('scrapeguard_dropped_series_total{reason="series_per_family",family="_other"} 120');
    } finally {
      await guard.close();
    }
  });

  it('sidecar: an upstream exporter blowing up one family is served without it, its own metrics and the drop count kept', async () => {
    const lines = ['# TYPE node_up gauge', 'node_up 1', '# TYPE exploding_total counter'];
    for (let i = 0; i < 5000; i++) lines.push(`exploding_total{session="s${i}"} ${i}`);
    lines.push('# TYPE long_labels gauge', `long_labels{path="/${'a'.repeat(300)}"} 1`, 'long_labels{path="/short"} 1', '');
    const upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(lines.join('\n'));
    });
    servers.push(upstream);
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const own = new Registry();
    const source = withExtraFamilies(upstreamSource({ url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/metrics` }), toMetricsSource(own));
    const guard = await createGuard({
      config: { limits: { max_series_per_family: 1000, max_label_value_bytes: 256 } },
      source,
      selfMetrics: own,
      logger: capture().logger,
      watch: false,
    });
    try {
      const [bound] = await guard.listen('127.0.0.1:0');
      const first = await scrape(`${bound!.url}/metrics`);
      expect(first.status).toBe(200);
      expect(first.body).toContain('node_up 1\n');
      expect(first.body).not.toContain('exploding_total{');
      expect(first.body).toContain('long_labels{path="/short"} 1\n');
      expect(first.body).not.toContain('aaaa');
      const second = await scrape(`${bound!.url}/metrics`);
      expect(second.body).toContain('scrapeguard_dropped_series_total{reason="series_per_family",family="exploding_total"} 5000\n');
      expect(second.body).toContain('scrapeguard_dropped_series_total{reason="label_value_bytes",family="long_labels"} 1\n');
    } finally {
      await guard.close();
    }
  });
});
