/**
 * One upstream fetch of the sidecar, whatever carries it: the whole-request deadline, and the
 * answer's checks (status, content type, content encoding, the size cap counted after gzip
 * decoding, a body cut off mid-way) shared by the HTTP/1.1 transport here and the HTTP/2 one
 * (`upstream-http2.ts`), so both fail the same way on the same answer and produce the same output.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { createGunzip } from 'node:zlib';
import type { SourceError, SourceFailureReason } from './failure.js';
import { formatOfContentType } from './parse.js';
import { isProtobufContentType } from './protobuf/media.js';
import type { Exposition, SourceOutput } from './source.js';

/** Builds the {@link SourceError} of one upstream (its description in front of `detail`). */
export type UpstreamFail = (reason: SourceFailureReason, detail: string, cause?: unknown) => SourceError;

/** The head of an upstream answer and its body, as a transport delivers it. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The raw body (still gzip-encoded when the upstream said so). */
  readonly body: Readable;
  /**
   * Whether the whole body arrived; asked when the body ends and when it closes (an HTTP/2
   * stream also ends, without END_STREAM, when its session is torn down).
   */
  complete(): boolean;
}

/** Where a transport reports the outcome of one request: its answer, or why there is none. */
export interface UpstreamExchange {
  answer(answer: UpstreamAnswer): void;
  error(error: SourceError): void;
}

/**
 * Sends one GET with exactly these headers and reports to `exchange`; returns what cancels the
 * request (called once the fetch failed or timed out, possibly after it completed).
 */
export type UpstreamTransport = (headers: Record<string, string>, exchange: UpstreamExchange) => () => void;

/** A request that failed before an answer: `tls` for certificate and handshake errors, else `connect`. */
export function requestFailure(fail: UpstreamFail, error: NodeJS.ErrnoException, detail = 'request failed'): SourceError {
  // OpenSSL's verification codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, INVALID_CA…) and Node's ERR_TLS_/ERR_SSL_ ones.
  const tlsError = /CERT|SSL|TLS|SELF_SIGNED|HOSTNAME|ALTNAME|UNABLE_TO_|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH/i.test(error.code ?? '');
  return fail(tlsError ? 'tls' : 'connect', `${detail}: ${error.code ?? error.message}`, error);
}

/**
 * HTTP/1.1 over a keep-alive agent (4 sockets at most; Node unrefs idle ones, so they never keep
 * the process alive). `tls` absent: plain http.
 */
export function http1Transport(url: URL, tls: ConnectionOptions | undefined, fail: UpstreamFail): UpstreamTransport {
  const agent = tls ? new HttpsAgent({ keepAlive: true, maxSockets: 4, ...tls }) : new HttpAgent({ keepAlive: true, maxSockets: 4 });
  const request = tls ? httpsRequest : httpRequest;
  return (headers, exchange) => {
    const req = request(url, { agent, method: 'GET', headers, ...(tls?.servername !== undefined ? { servername: tls.servername } : {}) });
    req.on('error', (error: NodeJS.ErrnoException) => exchange.error(requestFailure(fail, error)));
    req.on('response', (res) => exchange.answer({ status: res.statusCode ?? 0, headers: res.headers, body: res, complete: () => res.complete }));
    req.end();
    return () => req.destroy();
  };
}

/**
 * One fetch through `send`, settled within `timeoutMs` (the request is cancelled on the deadline
 * and on any failure).
 */
export function fetchUpstream(
  send: UpstreamTransport,
  headers: Record<string, string>,
  limits: { readonly timeoutMs: number; readonly maxBytes: number },
  fail: UpstreamFail,
): Promise<SourceOutput> {
  return new Promise<SourceOutput>((resolve, reject) => {
    let settled = false;
    let cancel: (() => void) | undefined;
    const done = (error: SourceError | undefined, value?: SourceOutput) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        cancel?.();
        reject(error);
      } else resolve(value!);
    };
    const timer = setTimeout(() => done(fail('timeout', `no complete answer within ${limits.timeoutMs} ms`)), limits.timeoutMs);
    cancel = send(headers, { error: (error) => done(error), answer: (answer) => receive(answer, limits.maxBytes, fail, done) });
  });
}

/** Checks an answer's head, then reads its body within the size cap. */
function receive(answer: UpstreamAnswer, maxBytes: number, fail: UpstreamFail, done: (error: SourceError | undefined, value?: SourceOutput) => void): void {
  const res = answer.body;
  if (answer.status !== 200) {
    res.resume();
    return done(fail('status', `answered HTTP ${answer.status}`));
  }
  const contentType = String(answer.headers['content-type'] ?? '');
  const protobuf = isProtobufContentType(contentType);
  if (contentType !== '' && !protobuf && formatOfContentType(contentType) === undefined) {
    res.resume();
    return done(fail('content_type', `unsupported content type ${JSON.stringify(contentType.split(';', 1)[0]!.trim().slice(0, 100))}`));
  }
  const declared = Number(answer.headers['content-length']);
  const encoding = String(answer.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip') {
    res.resume();
    return done(fail('content_type', `unsupported content encoding ${JSON.stringify(encoding.slice(0, 40))}`));
  }
  if (encoding === 'identity' && Number.isFinite(declared) && declared > maxBytes) {
    res.resume();
    return done(fail('too_large', `body larger than ${maxBytes} bytes`));
  }
  const gzipped = encoding === 'gzip';
  const stream = gzipped ? res.pipe(createGunzip()) : res;
  const chunks: Buffer[] = [];
  // The compressed bytes too (only references to the chunks read anyway), so a pass that
  // changes nothing can send them as they came to a scraper that takes gzip.
  const compressed: Buffer[] = [];
  if (gzipped) res.on('data', (chunk: Buffer) => compressed.push(chunk));
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      // Settled first, so the transport cancels the request (HTTP/2: RST_STREAM CANCEL).
      done(fail('too_large', `body larger than ${maxBytes} bytes`));
      stream.destroy();
      res.destroy();
      return;
    }
    chunks.push(chunk);
  });
  const code = (error: Error) => (error as NodeJS.ErrnoException).code ?? 'error';
  res.on('error', (error: Error) => done(fail('connect', `connection closed mid-body (${code(error)})`, error)));
  if (stream !== res) stream.on('error', (error: Error) => done(fail('content_type', `gzip body could not be decoded (${code(error)})`, error)));
  res.on('close', () => {
    if (!answer.complete()) done(fail('connect', 'connection closed mid-body'));
  });
  stream.on('end', () => {
    if (!answer.complete()) return done(fail('connect', 'connection closed mid-body'));
    const bytes = Buffer.concat(chunks);
    // The same size cap applies to either; protobuf is decoded (strictly) by the pipeline.
    done(undefined, protobuf ? { protobuf: bytes } : textOutput(bytes, contentType, gzipped ? Buffer.concat(compressed) : undefined));
  });
}

/** A text answer whose string is decoded from the bytes only when a pass reads it (pass-through never does). */
export function textOutput(bytes: Buffer, contentType: string, gzip: Buffer | undefined): Exposition {
  let text: string | undefined;
  const raw = gzip ? { bytes, gzip } : { bytes };
  return {
    contentType,
    get body() {
      return (text ??= bytes.toString('utf8'));
    },
    raw,
  };
}
