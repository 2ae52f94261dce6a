/**
 * The exposition pass every scrape goes through: read the source (families from the prom-client
 * JSON fast path, or text parsed strictly), keep what the caller may see and redact in one walk
 * (`redact.ts`), render in the negotiated format, gzip when accepted. Fails closed: a source that
 * fails or text that does not parse rejects with a {@link SourceError} (500 for a local source,
 * 502 for an upstream) and nothing of it is passed on.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { SeriesFilter } from '../access/filter.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { Principal } from '../auth/principal.js';
import { ExpositionParseError, SourceError } from './failure.js';
import { textFamilyName, type MetricFamily } from './model.js';
import { acceptsGzip, negotiateFormat } from './negotiate.js';
import { formatOfContentType, parseExposition, sniffFormat } from './parse.js';
import type { Redactor, RedactionReport } from './redact.js';
import { renderExposition } from './render.js';
import { defineMetricsSource, type MetricsSource, type SourceContext, type SourceOutput } from './source.js';
import { checkOptions } from '../options.js';
import { PIPELINE_OPTIONS } from '../api-options.js';

const gzip = promisify(gzipCallback);

/** What one scrape asks of the pass. */
export interface ExposeOptions {
  /** The request's `Accept` header. */
  accept?: string;
  /** The request's `Accept-Encoding` header. */
  acceptEncoding?: string;
  /** The caller's view; absent: everything. */
  filter?: SeriesFilter;
  /** The caller, handed to the source (an upstream with identity headers tells it on). */
  principal?: Principal;
}

/** The rendered result of one pass. */
export interface RenderedExposition {
  contentType: string;
  /** Set when the body is compressed (`gzip`). */
  contentEncoding?: string;
  body: string | Buffer;
  /** Series written to the body (absent when the pass did not count). */
  seriesReturned?: number;
  /** Series the filter withheld (absent when the pass did not count). */
  seriesWithheld?: number;
}

/** One config generation's exposition pass. */
export type ExpositionPipeline = (options: ExposeOptions) => Promise<RenderedExposition>;

/** Construction arguments of {@link createPipeline} beyond the source. */
export interface PipelineOptions {
  /** The compiled `redaction` of this config generation. */
  redactor: Redactor;
  /** Self-metrics to count redactions, detections, withheld series and source errors in. */
  metrics?: SelfMetrics;
}

/**
 * Reads one scrape's families from a source, parsing text strictly.
 * @throws SourceError with the source's failure status (the parse error's line in the message).
 */
export async function readFamilies(source: MetricsSource, context?: SourceContext): Promise<MetricFamily[]> {
  let out: SourceOutput;
  try {
    out = await source(context);
  } catch (error) {
    if (error instanceof SourceError) throw error;
    throw new SourceError(source.failureStatus, 'source', `${source.description} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if ('families' in out) return out.families;
  const format = formatOfContentType(out.contentType) ?? sniffFormat(out.body);
  try {
    return parseExposition(out.body, format);
  } catch (error) {
    if (error instanceof ExpositionParseError) {
      throw new SourceError(source.failureStatus, 'parse', `${source.description}: cannot parse its ${format === 'openmetrics' ? 'OpenMetrics' : 'text format'} output: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/**
 * A source that serves `primary` plus the families of `extra` (e.g. the sidecar's own
 * self-metrics next to the upstream's). A family name `primary` already has is not repeated;
 * `primary`'s failure status and failures win, and a failing `extra` fails the scrape too
 * (fail closed).
 * @example
 * const source = withExtraFamilies(upstreamSource({ url }), toMetricsSource(selfRegistry));
 */
export function withExtraFamilies(primary: MetricsSource, extra: MetricsSource): MetricsSource {
  return defineMetricsSource(
    async (context) => {
      const [main, more] = await Promise.all([readFamilies(primary, context), readFamilies(extra, context)]);
      const taken = new Set(main.map(textFamilyName));
      return { families: [...main, ...more.filter((f) => !taken.has(textFamilyName(f)))] };
    },
    primary.failureStatus,
    primary.description,
    { perCaller: primary.perCaller || extra.perCaller },
  );
}

/** Adds one pass's report to the self-metrics. */
export function countReport(metrics: SelfMetrics, report: RedactionReport): void {
  for (const [rule, n] of report.rules) metrics.redactions(rule, n);
  for (const [detector, n] of report.detectors) metrics.secretsDetected(detector, n);
  if (report.withheld > 0) metrics.seriesWithheld(report.withheld);
}

/**
 * Builds the pass of one config generation.
 * @example
 * const expose = createPipeline(toMetricsSource(register), { redactor: compileRedaction(config.redaction) });
 * const out = await expose({ accept: 'application/openmetrics-text;version=1.0.0', acceptEncoding: 'gzip' });
 */
export function createPipeline(source: MetricsSource, options: PipelineOptions): ExpositionPipeline {
  checkOptions('createPipeline', options, PIPELINE_OPTIONS);
  const { redactor, metrics } = options;
  return async (request) => {
    const negotiated = negotiateFormat(request.accept);
    let families: MetricFamily[];
    try {
      families = await readFamilies(source, request.principal !== undefined ? { principal: request.principal } : undefined);
    } catch (error) {
      metrics?.sourceError(error instanceof SourceError ? error.reason : 'source');
      throw error;
    }
    const { families: visible, report } = redactor.apply(families, request.filter);
    if (metrics) countReport(metrics, report);
    const rendered = renderExposition(visible, negotiated.format);
    const compress = acceptsGzip(request.acceptEncoding);
    return {
      contentType: negotiated.contentType,
      ...(compress ? { contentEncoding: 'gzip' } : {}),
      body: compress ? await gzip(rendered.text) : rendered.text,
      seriesReturned: rendered.samples,
      seriesWithheld: report.withheld,
    };
  };
}
