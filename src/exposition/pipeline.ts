/**
 * The exposition pass every scrape goes through: read the source (families from the prom-client
 * JSON fast path, text parsed strictly, or delimited protobuf decoded strictly), keep what the
 * caller may see and redact in one walk (`redact.ts`), render in the negotiated format (text,
 * OpenMetrics, or protobuf encoded from the same model), gzip when accepted. Fails closed: a source that
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
import { escapeFamilies } from './escaping.js';
import { ProtobufDecodeError } from './protobuf/media.js';

/** The protobuf codec, loaded on the first protobuf scrape: @bufbuild/protobuf is ~230 modules a text-only service never needs. */
let codec: Promise<typeof import('./protobuf/codec.js')> | undefined;
const protobufCodec = (): Promise<typeof import('./protobuf/codec.js')> => (codec ??= import('./protobuf/codec.js'));
import { defineMetricsSource, type Exposition, type MetricsSource, type SourceOutput, type SourceRequest } from './source.js';
import { passThrough, passThroughRequest } from './passthrough.js';
import { limitSeries, type SeriesDrop } from './cardinality.js';
import type { ResolvedSeriesLimits } from '../config/schema.js';
import type { Logger } from '../log.js';
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
  /** The export limits of this config generation (`limits.max_series_per_scrape` …); absent: none. */
  limits?: ResolvedSeriesLimits;
  /** Where drops by `limits` are logged (at warn, one line per reason and scrape; pass an aggregating logger). */
  logger?: Logger;
}

/**
 * Reads one scrape's families from a source, parsing text and decoding protobuf strictly.
 * @throws SourceError with the source's failure status (the parse error's line, or the protobuf
 * family and byte offset, in the message).
 */
export async function readFamilies(source: MetricsSource, request?: SourceRequest): Promise<MetricFamily[]> {
  return familiesOf(source, await readSourceOutput(source, request));
}

/**
 * Reads one scrape's output from a source, undecoded.
 * @throws SourceError with the source's failure status.
 */
export async function readSourceOutput(source: MetricsSource, request?: SourceRequest): Promise<SourceOutput> {
  try {
    return await source(request);
  } catch (error) {
    if (error instanceof SourceError) throw error;
    throw new SourceError(source.failureStatus, 'source', `${source.description} failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/**
 * Decodes one output of `source` into families: text parsed strictly (plus the families it
 * carries alongside, see {@link withExtraFamilies}), protobuf decoded strictly.
 * @throws SourceError with the source's failure status.
 */
export async function familiesOf(source: MetricsSource, out: SourceOutput): Promise<MetricFamily[]> {
  if ('families' in out) return out.families;
  if ('protobuf' in out) {
    try {
      return (await protobufCodec()).decodeProtobuf(out.protobuf);
    } catch (error) {
      if (error instanceof ProtobufDecodeError) {
        throw new SourceError(source.failureStatus, 'parse', `${source.description}: cannot decode its protobuf output (${error.code}): ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
  }
  const format = formatOfContentType(out.contentType) ?? sniffFormat(out.body);
  let families: MetricFamily[];
  try {
    families = parseExposition(out.body, format);
  } catch (error) {
    if (error instanceof ExpositionParseError) {
      throw new SourceError(
        source.failureStatus,
        'parse',
        `${source.description}: cannot parse its ${format === 'openmetrics' ? 'OpenMetrics' : 'text format'} output: ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
  return out.extra === undefined ? families : withoutRepeats(families, out.extra);
}

/** `main` plus the families of `more` whose names `main` does not have yet (in order). */
function withoutRepeats(main: MetricFamily[], more: readonly MetricFamily[]): MetricFamily[] {
  const taken = new Set(main.map(textFamilyName));
  const out = [...main];
  for (const f of more) {
    const name = textFamilyName(f);
    if (taken.has(name)) continue;
    taken.add(name);
    out.push(f);
  }
  return out;
}

/**
 * A source that serves `primary` plus the families of `extra` (e.g. the sidecar's own
 * self-metrics next to the upstream's). A family name `primary` already has is not repeated;
 * `primary`'s failure status and failures win, and a failing `extra` fails the scrape too
 * (fail closed). A text answer of `primary` stays text (the extra families ride along, see
 * {@link Exposition.extra}), so the sidecar's pass-through can still send it unparsed.
 * @example
 * const source = withExtraFamilies(upstreamSource({ url }), toMetricsSource(selfRegistry));
 */
export function withExtraFamilies(primary: MetricsSource, extra: MetricsSource): MetricsSource {
  return defineMetricsSource(
    async (request): Promise<SourceOutput> => {
      const [main, more] = await Promise.all([readSourceOutput(primary, request), readFamilies(extra, request)]);
      if (!('families' in main) && !('protobuf' in main)) {
        const extraFamilies = main.extra === undefined ? more : [...main.extra, ...more];
        // A new object whose body is read through (the source may decode it lazily).
        const out: Exposition = {
          contentType: main.contentType,
          get body() {
            return main.body;
          },
          ...(main.raw !== undefined ? { raw: main.raw } : {}),
          extra: extraFamilies,
        };
        return out;
      }
      return { families: withoutRepeats(await familiesOf(primary, main), more) };
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

/** The limit (config key) behind each drop reason, for log lines. */
const LIMIT_OF_REASON = {
  label_value_bytes: 'maxLabelValueBytes',
  labels_per_series: 'maxLabelsPerSeries',
  series_per_family: 'maxSeriesPerFamily',
  series_per_scrape: 'maxSeriesPerScrape',
} as const;

/** Family names listed in one drop log line at most (the self-metric has them all, bounded). */
const LOGGED_FAMILIES = 5;

/** Counts one scrape's drops in the self-metrics and logs one warn line per reason. */
export function reportDrops(drops: readonly SeriesDrop[], limits: ResolvedSeriesLimits, metrics: SelfMetrics | undefined, logger: Logger | undefined): void {
  const byReason = new Map<SeriesDrop['reason'], SeriesDrop[]>();
  for (const drop of drops) {
    metrics?.droppedSeries(drop.reason, drop.family, drop.series);
    const list = byReason.get(drop.reason) ?? [];
    list.push(drop);
    byReason.set(drop.reason, list);
  }
  if (!logger) return;
  for (const [reason, list] of byReason) {
    const names = list.slice(0, LOGGED_FAMILIES).map((d) => d.family);
    logger.warn('series dropped by export limits', {
      reason,
      limit: limits[LIMIT_OF_REASON[reason]],
      series: list.reduce((n, d) => n + d.series, 0),
      families: list.length,
      family: names.join(',') + (list.length > names.length ? ',…' : ''),
    });
  }
}

/**
 * Builds the pass of one config generation.
 * @example
 * const expose = createPipeline(toMetricsSource(register), { redactor: compileRedaction(config.redaction) });
 * const out = await expose({ accept: 'application/openmetrics-text;version=1.0.0', acceptEncoding: 'gzip' });
 */
export function createPipeline(source: MetricsSource, options: PipelineOptions): ExpositionPipeline {
  checkOptions('createPipeline', options, PIPELINE_OPTIONS);
  const { redactor, metrics, limits, logger } = options;
  return async (request) => {
    // Protobuf is offered to every scraper that asks (client_golang does): encoded from the model.
    const negotiated = negotiateFormat(request.accept, { protobuf: true });
    const protobuf = negotiated.format === 'protobuf';
    let families: MetricFamily[];
    // Sidecar fast path (passthrough.ts): when nothing can change this scrape, the source is told
    // the negotiated format and its answer, if it came in exactly that form, is sent unparsed.
    const fast = { negotiated, gzip: acceptsGzip(request.acceptEncoding), redactor, filter: request.filter, limits };
    const exact = passThroughRequest(fast);
    try {
      const out = await readSourceOutput(source, {
        ...(protobuf ? { protobuf: true } : {}),
        ...(exact ? { passThrough: exact } : {}),
        ...(request.principal !== undefined ? { principal: request.principal } : {}),
      });
      const passed = exact ? await passThrough(out, fast) : undefined;
      if (passed) return passed;
      families = await familiesOf(source, out);
    } catch (error) {
      metrics?.sourceError(error instanceof SourceError ? error.reason : 'source');
      throw error;
    }
    const redacted = redactor.apply(families, request.filter);
    const report = redacted.report;
    let visible = redacted.families;
    if (metrics) countReport(metrics, report);
    if (limits) {
      const limited = limitSeries(visible, limits);
      visible = limited.families;
      if (limited.drops.length > 0) reportDrops(limited.drops, limits, metrics, logger);
    }
    // Names are escaped for a scraper that did not ask for UTF-8 names (escaping=… in the Content-Type).
    let body: string | Buffer;
    let samples: number;
    if (protobuf) ({ body, samples } = (await protobufCodec()).encodeProtobuf(escapeFamilies(visible, negotiated.escaping)));
    else ({ text: body, samples } = renderExposition(visible, negotiated.format, { escaping: negotiated.escaping }));
    const compress = acceptsGzip(request.acceptEncoding);
    return {
      contentType: negotiated.contentType,
      ...(compress ? { contentEncoding: 'gzip' } : {}),
      body: compress ? await gzip(body) : body,
      seriesReturned: samples,
      seriesWithheld: report.withheld,
    };
  };
}
