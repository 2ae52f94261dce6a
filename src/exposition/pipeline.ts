/**
 * The exposition pass every scrape goes through: read the source, keep what the caller may see,
 * redact, render in the negotiated format. The foundation passes the source's text through
 * unchanged; parsing, filtering, redaction and negotiation build on this signature.
 */
import type { SeriesFilter } from '../access/filter.js';
import type { MetricsSource } from './source.js';

/** What one scrape asks of the pass. */
export interface ExposeOptions {
  /** The request's `Accept` header. */
  accept?: string;
  /** The request's `Accept-Encoding` header. */
  acceptEncoding?: string;
  /** The caller's view; absent: everything. */
  filter?: SeriesFilter;
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

/** The foundation's pass: the source's exposition as it is. */
export function createPipeline(source: MetricsSource): ExpositionPipeline {
  return async () => {
    const out = await source();
    return { contentType: out.contentType, body: out.body };
  };
}
