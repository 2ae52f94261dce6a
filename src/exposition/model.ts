/**
 * The in-memory model of an exposition that the parser produces, the redaction pass rewrites and
 * the renderer writes, independent of the wire format. Families carry their OpenMetrics name (a
 * counter `foo` whose samples are `foo_total`); {@link textFamilyName} gives the name the text
 * format 0.0.4 writes in `# TYPE` (the counter's `foo_total`). Labels are flat arrays
 * `[name0, value0, name1, value1, …]`: cheaper to build and walk than objects on the hot path.
 */

/** Metric types of OpenMetrics 1.0; the text format's `untyped` is `unknown` here. */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'summary' | 'info' | 'stateset' | 'unknown';

/** An exemplar attached to a counter `_total` or a histogram `_bucket` sample (OpenMetrics only). */
export interface Exemplar {
  labels: string[];
  value: number;
  /** Seconds since the epoch (OpenMetrics writes exemplar timestamps in seconds). */
  timestampSeconds?: number;
}

/** One sample line. Its name is the family name plus {@link Sample.suffix}. */
export interface Sample {
  /** `''`, `_total`, `_created`, `_bucket`, `_count`, `_sum`, `_gcount`, `_gsum` or `_info`. */
  suffix: string;
  /** Flat `[name, value, …]`. */
  labels: string[];
  value: number;
  /** Milliseconds since the epoch (fractions allowed: OpenMetrics timestamps are float seconds). */
  timestampMs?: number;
  exemplar?: Exemplar;
  /**
   * Set on the one sample per series that carries a native histogram (protobuf only): its suffix
   * is `''`, its value the observation count. The text renderers write it as the classic
   * `_bucket{le="+Inf"}` sample when the series has none, as client_golang's expfmt does.
   */
  histogram?: NativeHistogram;
}

/** A run of consecutive native-histogram buckets: `offset` from the end of the previous span (or from index 0). */
export interface BucketSpan {
  offset: number;
  length: number;
}

/**
 * A native (sparse, exponential) histogram as client_model's `Histogram` carries it, minus the
 * fields it shares with the classic histogram (count and sum are the series' `_count` and
 * `_sum` samples; classic buckets are its `_bucket` samples). Bucket counts are absolute here
 * (the wire's deltas decoded), so merging two series is an addition.
 */
export interface NativeHistogram {
  /** Resolution: bucket boundaries are powers of 2^(2^-schema); -4 … 8. */
  schema: number;
  /** Breadth of the zero bucket. */
  zeroThreshold: number;
  zeroCount: number;
  /** Float histogram (`*_count_float`, `positive_count`), else integer counts (`positive_delta`). */
  float: boolean;
  positiveSpans: BucketSpan[];
  /** Absolute count of each positive bucket, in span order (sum of span lengths long). */
  positiveCounts: number[];
  negativeSpans: BucketSpan[];
  negativeCounts: number[];
  /** Exemplars of the native histogram (client_model `Histogram.exemplars`). */
  exemplars: Exemplar[];
}

/** One metric family: metadata and its samples, contiguous as both formats require. */
export interface MetricFamily {
  /** OpenMetrics family name: a counter without `_total`, an info metric without `_info`. */
  name: string;
  type: MetricType;
  help?: string;
  unit?: string;
  /**
   * A text-format counter whose name does not end in `_total` (old exporters): 0.0.4 keeps the
   * bare name for the family and its sample; OpenMetrics writes the sample as `name_total`.
   */
  legacyCounterName?: boolean;
  samples: Sample[];
}

/**
 * The wire formats: the text format (0.0.4, and 1.0.0 which adds quoted UTF-8 names), OpenMetrics
 * 1.0 text, and the delimited protobuf `io.prometheus.client.MetricFamily` stream (negotiated only
 * where a protobuf writer is available).
 */
export type ExpositionFormat = 'text' | 'openmetrics' | 'protobuf';

/** Sample suffixes each type allows, in OpenMetrics. */
export const TYPE_SUFFIXES: Readonly<Record<MetricType, readonly string[]>> = {
  counter: ['_total', '_created'],
  gauge: [''],
  unknown: [''],
  stateset: [''],
  info: ['_info'],
  histogram: ['_bucket', '_count', '_sum', '_created'],
  gaugehistogram: ['_bucket', '_gcount', '_gsum'],
  summary: ['', '_count', '_sum', '_created'],
};

/** `[a-zA-Z_:][a-zA-Z0-9_:]*`: a legacy metric name, which every format writes without quotes. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** `[a-zA-Z_][a-zA-Z0-9_]*`: a legacy label name, which every format writes without quotes. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A lone UTF-16 surrogate: a JavaScript string holding one is not valid UTF-8 text. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether `name` is a valid metric or label name of the Prometheus 3 data model (prometheus/common
 * `UTF8Validation`): any non-empty, well-formed UTF-8 string. Names outside {@link METRIC_NAME} /
 * {@link LABEL_NAME} are written quoted (`{"my.metric","label.name"="v"}`).
 * @example
 * isValidName('my.metric'); // true
 * isValidName(''); // false
 */
export function isValidName(name: string): boolean {
  return name !== '' && !LONE_SURROGATE.test(name);
}

/**
 * The family name the text format 0.0.4 writes in `# TYPE` (and the name a {@link
 * import('../access/filter.js').SeriesFilter} is asked about): a counter keeps `_total`, an info
 * metric is the gauge `name_info`.
 * @example
 * textFamilyName({ name: 'http_requests', type: 'counter', samples: [] }); // 'http_requests_total'
 */
export function textFamilyName(family: MetricFamily): string {
  if (family.type === 'counter') return family.legacyCounterName ? family.name : `${family.name}_total`;
  if (family.type === 'info') return `${family.name}_info`;
  return family.name;
}

/**
 * The label name that carries structure rather than data in a sample of this family (`le` of a
 * bucket, `quantile` of a summary quantile, the state label of a stateset): redaction never
 * touches it, because dropping or masking it would corrupt the family.
 */
export function structuralLabel(family: MetricFamily, sample: Sample): string | undefined {
  switch (family.type) {
    case 'histogram':
    case 'gaugehistogram':
      return sample.suffix === '_bucket' ? 'le' : undefined;
    case 'summary':
      return sample.suffix === '' ? 'quantile' : undefined;
    case 'stateset':
      return family.name;
    default:
      return undefined;
  }
}

/** The value of label `name` in a flat label array, or undefined. */
export function labelValue(labels: readonly string[], name: string): string | undefined {
  for (let i = 0; i < labels.length; i += 2) if (labels[i] === name) return labels[i + 1];
  return undefined;
}
