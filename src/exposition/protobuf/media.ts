/**
 * What the rest of the exposition code needs to know about protobuf without loading the codec
 * (and @bufbuild/protobuf with it): the media type, how to recognise it, and the decode error.
 * The codec itself is loaded on the first protobuf scrape (see pipeline.ts), so a service that
 * never answers protobuf does not pay for it at start.
 */
import { ScrapeguardError } from '../../errors.js';

/** Content type of the delimited protobuf exposition, as client_golang writes it. */
export const PROTOBUF_CONTENT_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

/**
 * A protobuf exposition body that could not be decoded. The message names the family (0-based
 * index) and the byte offset of its length prefix, never any content of the body.
 */
export class ProtobufDecodeError extends ScrapeguardError {
  /** 0-based index of the offending MetricFamily message. */
  readonly family: number;
  /** Byte offset of its length prefix. */
  readonly offset: number;

  constructor(family: number, offset: number, message: string, options?: { cause?: unknown }) {
    super('EXPOSITION_PROTOBUF', `protobuf MetricFamily #${family} at byte ${offset}: ${message}`, options);
    this.family = family;
    this.offset = offset;
  }
}

/**
 * Whether a `Content-Type` is the delimited MetricFamily protobuf (the only protobuf encoding
 * client_golang's scrape path reads).
 * @example
 * isProtobufContentType('application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited'); // true
 */
export function isProtobufContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const [media, ...params] = contentType.split(';');
  if (media!.trim().toLowerCase() !== 'application/vnd.google.protobuf') return false;
  const p = new Map<string, string>();
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq > 0)
      p.set(
        param.slice(0, eq).trim().toLowerCase(),
        param
          .slice(eq + 1)
          .trim()
          .replace(/^"(.*)"$/, '$1'),
      );
  }
  return p.get('proto') === 'io.prometheus.client.MetricFamily' && p.get('encoding') === 'delimited';
}
