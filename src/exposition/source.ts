/**
 * Where metrics come from. A source produces one scrape's metrics either as families (the
 * prom-client `getMetricsAsJSON()` fast path), as exposition text with its content type (a
 * registry without the JSON method, a function such as OpenTelemetry's Prometheus exporter, an
 * upstream exporter, see `upstream.ts`) or as a delimited protobuf body (an upstream asked for
 * protobuf). Text and protobuf are decoded strictly by the pipeline.
 */
import type { Principal } from '../auth/principal.js';
import type { MetricFamily } from './model.js';
import type { EscapingScheme } from './escaping.js';
import { promClientFamilies, type PromClientMetricJson } from './prom-client.js';
import { TEXT_CONTENT_TYPE } from './render.js';

/** Anything shaped like a prom-client `Registry` (also `@prometheus-io/client`). */
export interface RegistryLike {
  metrics(): Promise<string> | string;
  readonly contentType: string;
  /** When present, the fast path: no text is rendered and parsed again. */
  getMetricsAsJSON?(): Promise<readonly object[]> | readonly object[];
}

/**
 * prom-client's `AggregatorRegistry` in a cluster primary: `clusterMetrics()` collects every
 * worker's registry over IPC and aggregates them (its own `metrics()` and `getMetricsAsJSON()`
 * have only the primary's).
 */
export interface ClusterRegistryLike extends RegistryLike {
  clusterMetrics(): Promise<string>;
}

/** One scrape's exposition text. */
export interface Exposition {
  /** Content type as the source gives it; without a usable one the format is sniffed. */
  contentType: string;
  body: string;
  /**
   * The body as the source received it, for the sidecar's pass-through (`passthrough.ts`): its
   * UTF-8 bytes, and the gzip bytes they were decoded from when the upstream sent gzip. Absent:
   * the body is only text.
   */
  readonly raw?: { readonly bytes: Buffer; readonly gzip?: Buffer };
  /**
   * Families served next to the body's (the sidecar's own self-metrics, see
   * `withExtraFamilies`); a family the body already has is not repeated.
   */
  readonly extra?: readonly MetricFamily[];
}

/** One scrape's metrics, already as families. */
export interface FamiliesOutput {
  families: MetricFamily[];
}

/**
 * One scrape's metrics as families produced one at a time, as the pass consumes them (a
 * prom-client registry's JSON converted lazily), so a large scrape never exists whole in the
 * model. Iterating may throw a {@link import('./failure.js').SourceError}: the scrape fails.
 */
export interface FamilyStreamOutput {
  familyStream: Iterable<MetricFamily>;
}

/** One scrape's metrics as a delimited MetricFamily protobuf body (an upstream that answered protobuf). */
export interface ProtobufOutput {
  protobuf: Uint8Array;
}

/** What a source produces for one scrape. */
export type SourceOutput = Exposition | FamiliesOutput | FamilyStreamOutput | ProtobufOutput;

/** What the scrape asks of a source, and for whom; a source may ignore either. */
export interface SourceRequest {
  /**
   * The scraper negotiated protobuf: an upstream is asked for protobuf first, so native
   * histograms survive (it may still answer text).
   */
  protobuf?: boolean;
  /**
   * The text format and name escaping the scraper negotiated, given when the pass would send the
   * upstream's answer through unchanged if it came in exactly that form: an upstream asks for it
   * first. Absent: the upstream is asked for its own (UTF-8) names, which rules match.
   */
  passThrough?: { readonly format: 'text' | 'openmetrics'; readonly version: string; readonly escaping: EscapingScheme };
  /** The authenticated caller, for sources whose answer depends on it (an upstream told the identity); absent outside a request. */
  readonly principal?: Principal;
}

/** A metrics source as the guard accepts it. */
export type MetricsSourceInput = RegistryLike | MetricsSource | (() => Promise<string | Exposition> | string | Exposition);

const SOURCE = Symbol.for('scrapeguard.metricsSource');

/** Normalised source: one call per scrape. */
export interface MetricsSource {
  (request?: SourceRequest): Promise<SourceOutput>;
  /**
   * The answer depends on who asks (the upstream is told the caller's identity): whatever shares
   * or caches source output between scrapes must key it by principal, never reuse it across callers.
   */
  readonly perCaller: boolean;
  /** Status a failing scrape answers: 500 for an in-process source, 502 for an upstream one. */
  readonly failureStatus: 500 | 502;
  /** Describes the source for log lines (never credentials). */
  readonly description: string;
  readonly [SOURCE]: true;
}

/** Prometheus text format 0.0.4, the default for text sources. */
export const TEXT_FORMAT_CONTENT_TYPE = TEXT_CONTENT_TYPE;

/**
 * Marks a function as a normalised {@link MetricsSource}: what it returns is used as it is, and a
 * failure answers `failureStatus`.
 * @example
 * const source = defineMetricsSource(async () => ({ body: await fetchText(), contentType: '' }), 502, 'my exporter');
 */
export function defineMetricsSource(
  read: (request?: SourceRequest) => Promise<SourceOutput>,
  failureStatus: 500 | 502,
  description: string,
  flags: { perCaller?: boolean } = {},
): MetricsSource {
  return Object.assign(read, { failureStatus, description, perCaller: flags.perCaller === true, [SOURCE]: true as const });
}

function isMetricsSource(value: unknown): value is MetricsSource {
  return typeof value === 'function' && (value as Partial<MetricsSource>)[SOURCE] === true;
}

/** Whether a value is registry-shaped. */
export function isRegistryLike(value: unknown): value is RegistryLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RegistryLike).metrics === 'function' &&
    typeof (value as RegistryLike).contentType === 'string'
  );
}

/**
 * Turns what the user passed into a {@link MetricsSource}: a registry (JSON fast path when it has
 * `getMetricsAsJSON()`, else its text), a function returning text (either format; the content
 * type it gives, else sniffed) or an already normalised source (e.g. {@link upstreamSource}).
 * @throws TypeError when `input` is neither a registry nor a function.
 * @example
 * const source = toMetricsSource(register);
 * const out = await source(); // { families: [...] }
 */
export function toMetricsSource(input: MetricsSourceInput): MetricsSource {
  if (isMetricsSource(input)) return input;
  if (isRegistryLike(input) && typeof (input as Partial<ClusterRegistryLike>).clusterMetrics === 'function') {
    // An AggregatorRegistry: serve what the workers have (as text: there is no JSON of the aggregate).
    const aggregator = input as ClusterRegistryLike;
    return defineMetricsSource(async () => ({ body: await aggregator.clusterMetrics(), contentType: aggregator.contentType }), 500, 'cluster registry');
  }
  if (isRegistryLike(input)) {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- read once to test it; called with .call(input) below
    const json = input.getMetricsAsJSON;
    if (typeof json === 'function') {
      return defineMetricsSource(
        async () => ({ familyStream: promClientFamilies((await json.call(input)) as readonly PromClientMetricJson[]) }),
        500,
        'registry',
      );
    }
    // Read contentType per scrape: prom-client lets users switch a registry's format.
    return defineMetricsSource(async () => ({ body: await input.metrics(), contentType: input.contentType }), 500, 'registry');
  }
  if (typeof input === 'function') {
    const fn = input;
    return defineMetricsSource(
      async () => {
        const out = await fn();
        if (typeof out === 'string') return { body: out, contentType: '' };
        if (typeof out === 'object' && out !== null && typeof out.body === 'string') return out;
        throw new TypeError('the source function must return exposition text or { body, contentType }');
      },
      500,
      'function',
    );
  }
  throw new TypeError('source must be a prom-client-like registry (metrics(), contentType) or a function returning exposition text');
}
