/**
 * The fast path for prom-client registries (and `@prometheus-io/client`, which keeps the same
 * shape): `getMetricsAsJSON()` straight into the model, without rendering and re-parsing text.
 * Names are still checked (the output must always parse), with a cache so a repeat scrape checks
 * each label name once.
 */
import { SourceError } from './failure.js';
import { LABEL_NAME, METRIC_NAME, type Exemplar, type MetricFamily, type MetricType, type Sample } from './model.js';

/** One metric of `Registry.getMetricsAsJSON()`. */
export interface PromClientMetricJson {
  name: string;
  help?: string;
  type: string;
  values?: readonly PromClientValueJson[];
}

/** One value of a prom-client metric. */
export interface PromClientValueJson {
  value: number;
  labels?: Readonly<Record<string, string | number | undefined>>;
  metricName?: string;
  exemplar?: { labelSet?: Readonly<Record<string, string | number | undefined>>; value?: number | null; timestamp?: number } | null;
  timestamp?: number;
}

const TYPES: Readonly<Record<string, MetricType>> = { counter: 'counter', gauge: 'gauge', histogram: 'histogram', summary: 'summary' };
const goodLabelNames = new Set<string>();
const HISTOGRAM_SUFFIXES: ReadonlySet<string> = new Set(['_bucket', '_sum', '_count']);

function flat(labels: PromClientValueJson['labels'], what: string): string[] {
  const out: string[] = [];
  if (!labels) return out;
  for (const name in labels) {
    const v = labels[name];
    if (v === undefined) continue;
    if (!goodLabelNames.has(name)) {
      if (!LABEL_NAME.test(name)) throw new SourceError(500, 'source', `registry: invalid label name in ${what}`);
      if (goodLabelNames.size < 10_000) goodLabelNames.add(name);
    }
    out.push(name, typeof v === 'string' ? v : String(v));
  }
  return out;
}

/**
 * Converts `getMetricsAsJSON()` output to families.
 * @throws SourceError (500) on a name neither format can carry.
 * @example
 * const families = fromPromClientJson(await register.getMetricsAsJSON());
 */
export function fromPromClientJson(metrics: readonly PromClientMetricJson[]): MetricFamily[] {
  return metrics.map(familyOf);
}

/**
 * Converts `getMetricsAsJSON()` output one family at a time, as a streaming pass consumes it:
 * each metric's JSON is let go once converted, so the registry's JSON and the model of the same
 * series never both exist whole.
 * @throws SourceError (500), when the family is reached, on a name neither format can carry.
 */
export function promClientFamilies(metrics: readonly PromClientMetricJson[]): Generator<MetricFamily, void, undefined> {
  // The generator gets its own copy of the list, never `metrics`: its frame stays alive while
  // suspended, and anything it names stays alive with it.
  return convertInTurn(metrics.slice());
}

function* convertInTurn(pending: (PromClientMetricJson | undefined)[]): Generator<MetricFamily, void, undefined> {
  // No local holds a metric's JSON or its family across the yield: each is garbage as soon as the
  // pass has rendered it, even while the pass waits for the connection to take the text.
  for (let i = 0; i < pending.length; i++) yield familyOf(takeAt(pending, i));
}

function takeAt(pending: (PromClientMetricJson | undefined)[], i: number): PromClientMetricJson {
  const metric = pending[i]!;
  pending[i] = undefined;
  return metric;
}

function familyOf(m: PromClientMetricJson): MetricFamily {
  if (!METRIC_NAME.test(m.name)) throw new SourceError(500, 'source', 'registry: invalid metric name');
  const type = TYPES[m.type] ?? 'unknown';
  const family: MetricFamily = { name: m.name, type, samples: [] };
  if (m.help !== undefined) family.help = m.help;
  if (type === 'counter') {
    if (m.name.endsWith('_total') && m.name.length > 6) family.name = m.name.slice(0, -6);
    else family.legacyCounterName = true;
  }
  const values = m.values ?? [];
  const samples = new Array<Sample>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let suffix = '';
    if (type === 'counter') suffix = '_total';
    else if (v.metricName !== undefined && v.metricName !== m.name) {
      suffix = v.metricName.startsWith(m.name) ? v.metricName.slice(m.name.length) : '';
      if (!HISTOGRAM_SUFFIXES.has(suffix)) throw new SourceError(500, 'source', 'registry: unexpected sample name');
    }
    const sample: Sample = { suffix, labels: flat(v.labels, 'a sample'), value: typeof v.value === 'number' ? v.value : Number(v.value) };
    if (typeof v.timestamp === 'number') sample.timestampMs = v.timestamp;
    const e = v.exemplar;
    if (e && e.labelSet && typeof e.value === 'number' && (suffix === '_bucket' || suffix === '_total')) {
      const labels = flat(e.labelSet, 'an exemplar');
      if (labels.length > 0) {
        const exemplar: Exemplar = { labels, value: e.value };
        if (typeof e.timestamp === 'number') exemplar.timestampSeconds = e.timestamp;
        sample.exemplar = exemplar;
      }
    }
    samples[i] = sample;
  }
  family.samples = samples;
  return family;
}
