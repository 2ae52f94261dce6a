/**
 * The exposition pass every scrape goes through: read the source (families from the prom-client
 * JSON fast path, text parsed strictly, or delimited protobuf decoded strictly), keep what the
 * caller may see and redact in one walk (`redact.ts`), render in the negotiated format (text,
 * OpenMetrics, or protobuf encoded from the same model), gzip when accepted. Fails closed: a source that
 * fails or text that does not parse rejects with a {@link SourceError} (500 for a local source,
 * 502 for an upstream) and nothing of it is passed on.
 */
import { Readable, Transform, pipeline as pipeStreams, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { createGzip, gzip as gzipCallback } from 'node:zlib';
import type { SeriesFilter } from '../access/filter.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { Principal } from '../auth/principal.js';
import { ExpositionParseError, SourceError } from './failure.js';
import { textFamilyName, type ExpositionFormat, type MetricFamily } from './model.js';
import { acceptsGzip, negotiateFormat } from './negotiate.js';
import { formatOfContentType, parseExposition, parseFamilies, sniffFormat, verbatimText } from './parse.js';
import type { Redactor, RedactionReport } from './redact.js';
import { createFamilyRenderer, type FamilyRenderer } from './render.js';
import { createFamilyEscaper } from './escaping.js';
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

/**
 * How a streamed body ended, for the audit record and the self-metrics: the counts are final only
 * once the last byte went out.
 */
export interface StreamedBodySummary {
  /** Bytes of the body as sent (compressed when it was). */
  bytes: number;
  /** Series written. */
  seriesReturned: number;
  /** Series the filter withheld. */
  seriesWithheld: number;
  /** Set when the pass failed after the answer had started (the body was cut off, never completed). */
  error?: Error;
}

/** The rendered result of one pass. */
export interface RenderedExposition {
  contentType: string;
  /** Set when the body is compressed (`gzip`). */
  contentEncoding?: string;
  /**
   * The body: whole for a scrape of up to {@link STREAM_THRESHOLD_BYTES}, else a stream rendered
   * as it is read (backpressure: nothing is rendered ahead of what the connection takes).
   */
  body: string | Buffer | Readable;
  /** Series written to the body (absent when the pass did not count; for a stream, the count so far: see `streamed`). */
  seriesReturned?: number;
  /** Series the filter withheld (absent when the pass did not count; for a stream, so far). */
  seriesWithheld?: number;
  /** For a streamed body: settles when the stream ended or failed, never rejects. */
  streamed?: Promise<StreamedBodySummary>;
}

/**
 * Bodies up to this size are answered whole, with a `Content-Length`; larger ones stream (chunked
 * transfer encoding), so memory stays bounded by the largest family, not the registry. The first
 * this-many bytes are rendered before the answer starts, so a scrape that fails or comes out empty
 * early still gets its error status.
 */
export const STREAM_THRESHOLD_BYTES = 1024 * 1024;
/** Rendered text is cut into chunks of about this many UTF-16 units: fewer, larger writes, each dying young. */
const CHUNK_CHARS = 64 * 1024;

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
    throw asSourceError(source, error);
  }
}

/**
 * Decodes one output of `source` into families: text parsed strictly (plus the families it
 * carries alongside, see {@link withExtraFamilies}), protobuf decoded strictly.
 * @throws SourceError with the source's failure status.
 */
export async function familiesOf(source: MetricsSource, out: SourceOutput): Promise<MetricFamily[]> {
  if ('families' in out) return out.families;
  if ('familyStream' in out) return collectFamilies(source, out.familyStream);
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
    throw parseFailure(source, format, error);
  }
  return out.extra === undefined ? families : withoutRepeats(families, out.extra);
}

/** A parse error of `source`'s text as its {@link SourceError} (anything else unchanged). */
function parseFailure(source: MetricsSource, format: ExpositionFormat, error: unknown): unknown {
  if (!(error instanceof ExpositionParseError)) return error;
  return new SourceError(
    source.failureStatus,
    'parse',
    `${source.description}: cannot parse its ${format === 'openmetrics' ? 'OpenMetrics' : 'text format'} output: ${error.message}`,
    { cause: error },
  );
}

/**
 * The families of a text output parsed lazily, one at a time as the pass reaches them (the
 * families it carries alongside last, without repeats), so the model of the whole body never
 * exists at once. A parse error is thrown, as the same {@link SourceError} {@link familiesOf}
 * throws, when the iteration reaches its line.
 */
function textFamilyStream(source: MetricsSource, out: Exposition, format: ExpositionFormat): Iterable<MetricFamily> {
  const body = out.body;
  const extra = out.extra;
  return (function* (): Generator<MetricFamily, void, undefined> {
    const taken = extra === undefined ? undefined : new Set<string>();
    try {
      for (const family of parseFamilies(body, format)) {
        // Named before the pass gets it: the pass may rewrite the family it is handed.
        taken?.add(textFamilyName(family));
        yield family;
      }
    } catch (error) {
      throw parseFailure(source, format, error);
    }
    if (extra === undefined || taken === undefined) return;
    for (const family of extra) {
      const name = textFamilyName(family);
      if (taken.has(name)) continue;
      taken.add(name);
      yield family;
    }
  })();
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

/** Collects a family stream, a failure while iterating becoming the source's {@link SourceError}. */
function collectFamilies(source: MetricsSource, stream: Iterable<MetricFamily>): MetricFamily[] {
  try {
    return [...stream];
  } catch (error) {
    throw asSourceError(source, error);
  }
}

function asSourceError(source: MetricsSource, error: unknown): SourceError {
  if (error instanceof SourceError) return error;
  return new SourceError(source.failureStatus, 'source', `${source.description} failed: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  });
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
      if ('body' in main) {
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

/** Counts the bytes that pass through (the audit's `bytes` of a streamed body). */
class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * Builds the pass of one config generation. Each scrape is walked one family at a time: read (a
 * registry's families are converted as they are reached), filtered and redacted, limited, escaped
 * for the scraper and rendered into pieces. The first {@link STREAM_THRESHOLD_BYTES} are rendered
 * before answering: a scrape that ends by then is answered whole; a larger one streams the rest as
 * the connection takes it, gzip included, so no body of a 100k-series scrape is held whole. With
 * `limits.max_series_per_scrape`, which drops the largest families of the whole scrape, the
 * families are gathered before rendering (the rendering still streams).
 * @example
 * const expose = createPipeline(toMetricsSource(register), { redactor: compileRedaction(config.redaction) });
 * const out = await expose({ accept: 'application/openmetrics-text;version=1.0.0', acceptEncoding: 'gzip' });
 */
export function createPipeline(source: MetricsSource, options: PipelineOptions): ExpositionPipeline {
  checkOptions('createPipeline', options, PIPELINE_OPTIONS);
  const { redactor, metrics, limits, logger } = options;
  // Limits that look at one family at a time apply as families stream; the per-scrape one needs them all.
  const perFamilyLimits = limits && limits.maxSeriesPerScrape > 0 ? { ...limits, maxSeriesPerScrape: 0 } : limits;
  const perScrapeLimit = limits && limits.maxSeriesPerScrape > 0 ? limits : undefined;

  return async (request) => {
    // Protobuf is offered to every scraper that asks (client_golang does): encoded from the model.
    const negotiated = negotiateFormat(request.accept, { protobuf: true });
    const protobuf = negotiated.format === 'protobuf';
    // Sidecar fast path (passthrough.ts): when nothing can change this scrape, the source is told
    // the negotiated format and its answer, if it came in exactly that form, is sent unparsed.
    const fast = { negotiated, gzip: acceptsGzip(request.acceptEncoding), redactor, filter: request.filter, limits };
    const exact = passThroughRequest(fast);
    const failed = (error: unknown): SourceError => {
      const sourceError = asSourceError(source, error);
      metrics?.sourceError(sourceError.reason);
      return sourceError;
    };
    let input: Iterable<MetricFamily>;
    /** The text format the source answered in, when it answered text. */
    let sourceFormat: ExpositionFormat | undefined;
    try {
      const out = await readSourceOutput(source, {
        ...(protobuf ? { protobuf: true } : {}),
        ...(exact ? { passThrough: exact } : {}),
        ...(request.principal !== undefined ? { principal: request.principal } : {}),
      });
      const passed = exact ? await passThrough(out, fast) : undefined;
      if (passed) return passed;
      // A registry's families are converted, and text is parsed, as the pass reaches them; protobuf is decoded whole.
      if ('body' in out) sourceFormat = formatOfContentType(out.contentType) ?? sniffFormat(out.body);
      input = 'familyStream' in out ? out.familyStream : 'body' in out ? textFamilyStream(source, out, sourceFormat!) : await familiesOf(source, out);
    } catch (error) {
      throw failed(error);
    }
    const codec = protobuf ? await protobufCodec() : undefined;
    const escape = createFamilyEscaper(negotiated.escaping);
    const renderer: FamilyRenderer | undefined = protobuf ? undefined : createFamilyRenderer(negotiated.format === 'openmetrics' ? 'openmetrics' : 'text');
    const counts = { returned: 0, withheld: 0 };
    // A parsed family the pass leaves exactly as it was is sent as the text it came in when the
    // scraper reads that same format (the sidecar's usual case): rendering it again would write
    // the same family, slower. Not with the per-scrape limit, which may cut families afterwards.
    const sameFormat = renderer !== undefined && !perScrapeLimit && sourceFormat === negotiated.format;
    /** Families of the current batch to send as their source text. */
    const verbatim = new Map<MetricFamily, string>();

    /** Filters, redacts, limits and escapes one family: what of it is served (often nothing, or the one family). */
    const prepare = (family: MetricFamily): MetricFamily[] => {
      const redacted = redactor.apply([family], request.filter);
      counts.withheld += redacted.report.withheld;
      if (metrics) countReport(metrics, redacted.report);
      let served = redacted.families;
      let intact = sameFormat && redacted.report.intact === 1 && served.length === 1 && served[0] === family;
      if (perFamilyLimits && served.length > 0) {
        const limited = limitSeries(served, perFamilyLimits);
        served = limited.families;
        if (limited.drops.length > 0) {
          intact = false;
          reportDrops(limited.drops, perFamilyLimits, metrics, logger);
        }
      }
      const out: MetricFamily[] = [];
      for (const f of served) {
        const escaped = escape(f);
        if (escaped === undefined) continue;
        out.push(escaped);
        const text = intact && escaped === family ? verbatimText(family) : undefined;
        if (text !== undefined) verbatim.set(family, text);
      }
      return out;
    };
    const families = input[Symbol.iterator]();
    let gathered: MetricFamily[] | undefined;
    /**
     * The next families to serve, in order; undefined at the end. One source family at a time, or,
     * when the per-scrape limit needs them all, everything gathered first. Called, never suspended
     * in: no generator frame keeps a family alive after it was rendered.
     */
    const nextServed = (): MetricFamily[] | undefined => {
      if (perScrapeLimit) {
        if (gathered === undefined) {
          const all: MetricFamily[] = [];
          for (let next = families.next(); !next.done; next = families.next()) all.push(...prepare(next.value));
          const limited = limitSeries(all, perScrapeLimit);
          if (limited.drops.length > 0) reportDrops(limited.drops, perScrapeLimit, metrics, logger);
          gathered = limited.families;
        }
        const f = gathered.shift();
        return f === undefined ? undefined : [f];
      }
      for (let next = families.next(); !next.done; next = families.next()) {
        const batch = prepare(next.value);
        if (batch.length > 0) return batch;
      }
      return undefined;
    };
    // Rendered text collects in `text` and is cut into UTF-8 chunks of CHUNK_CHARS as it grows
    // (inside a family too), so a large family's text never piles up on the heap.
    let text = '';
    let ready: Buffer[] = [];
    const emit = (piece: string): void => {
      text += piece;
      if (text.length >= CHUNK_CHARS) {
        ready.push(Buffer.from(text, 'utf8'));
        text = '';
      }
    };
    /** Renders the next served families into `ready`; false at the end. */
    const renderNext = (): boolean => {
      const batch = nextServed();
      if (batch === undefined) return false;
      for (const family of batch) {
        if (codec) {
          const encoded = codec.encodeProtobuf([family]);
          counts.returned += encoded.samples;
          if (encoded.body.length > 0) ready.push(encoded.body);
        } else {
          const text = verbatim.get(family);
          if (text === undefined) renderer!.family(family, emit);
          else {
            verbatim.delete(family);
            renderer!.verbatim(family, text, emit);
          }
          counts.returned = renderer!.samples;
        }
      }
      return true;
    };
    /** The body in chunks: UTF-8 text cut as it fills, or one protobuf message per family; a short body stays one string. */
    const chunks = function* (): Generator<Buffer | string, void, undefined> {
      while (renderNext()) {
        if (ready.length > 0) yield* takeReady();
      }
      text += renderer?.end() ?? '';
      if (text !== '') yield text;
    };
    const takeReady = (): Buffer[] => {
      const out = ready;
      ready = [];
      return out;
    };

    // Render the head of the body before answering: small scrapes end here, errors still get their status.
    const iterator = chunks();
    const head: (Buffer | string)[] = [];
    let headBytes = 0;
    let finished = false;
    try {
      for (;;) {
        const next = iterator.next();
        if (next.done) {
          finished = true;
          break;
        }
        head.push(next.value);
        headBytes += typeof next.value === 'string' ? Buffer.byteLength(next.value) : next.value.length;
        // Stream only once a series is out: an empty view must still be answerable (on_empty: forbid).
        if (headBytes >= STREAM_THRESHOLD_BYTES && counts.returned > 0) break;
      }
    } catch (error) {
      throw failed(error);
    }
    const compress = acceptsGzip(request.acceptEncoding);
    const base = {
      contentType: negotiated.contentType,
      ...(compress ? { contentEncoding: 'gzip' } : {}),
    };
    if (finished) {
      // A short text body stays the one string it was rendered as; anything cut into chunks is joined as bytes.
      const whole = head.length === 1 && typeof head[0] === 'string' ? head[0] : Buffer.concat(head.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
      return { ...base, body: compress ? await gzip(whole) : whole, seriesReturned: counts.returned, seriesWithheld: counts.withheld };
    }

    // Stream the rest: rendered as the connection reads, gzip streamed too.
    const rest = function* (): Generator<Buffer | string, void, undefined> {
      yield* head.splice(0);
      try {
        yield* { [Symbol.iterator]: () => iterator };
      } catch (error) {
        throw failed(error);
      }
    };
    const counter = new ByteCounter();
    let settle!: (summary: StreamedBodySummary) => void;
    const streamed = new Promise<StreamedBodySummary>((resolve) => (settle = resolve));
    const done = (error: Error | null | undefined): void => {
      // A failing source cuts the body off (the scraper sees an incomplete answer, never a short
      // one that parses); a client that went away is no failure of ours.
      if (error instanceof SourceError) logger?.error('metrics source failed after the answer started; the body was cut off', { error: error.message });
      else if (error) logger?.debug('metrics stream ended early (the client went away)', { error: error.message });
      settle({ bytes: counter.bytes, seriesReturned: counts.returned, seriesWithheld: counts.withheld, ...(error ? { error } : {}) });
    };
    const body = Readable.from(rest(), { objectMode: false });
    if (compress) pipeStreams(body, createGzip(), counter, done);
    else pipeStreams(body, counter, done);
    return { ...base, body: counter, seriesReturned: counts.returned, seriesWithheld: counts.withheld, streamed };
  };
}
