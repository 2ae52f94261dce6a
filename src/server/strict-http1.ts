/**
 * HTTP/1 requests held to what Go's net/http (and so every Go exporter) accepts, on scrapeguard's
 * own server. Node's parser is more lenient in ways that matter in front of a proxy or cache:
 *  - it takes `HTTP/2.0` and `HTTP/0.9` on the HTTP/1 parser as if they were HTTP/1.x;
 *  - it keeps the first of two `Host` headers (`req.headers`), so a proxy and this server can
 *    disagree on which virtual host a request is for;
 *  - it checks neither the characters of `Host` nor (on the HTTP/1.1 fallback of an HTTP/2
 *    server) that an HTTP/1.1 request has one at all.
 * Go answers each of those with a fixed text and closes the connection; this module gives the same
 * answers (status, reason, body), observed from node_exporter 1.5 and compared in
 * `test/e2e/node-exporter-parity.test.ts`. One deliberate difference: Go serves any `HTTP/1.x`
 * minor version as HTTP/1.1, Node's parser refuses `HTTP/1.2`…`HTTP/1.9`, and they get Go's `505`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Logger } from '../log.js';
import type { NodeRequestHandler } from '../adapters/http.js';
import { remoteAddressOf } from '../adapters/tls-info.js';

/** Why a request was refused before the guard saw it. */
export type Http1Refusal = 'duplicate_host' | 'unsupported_version' | 'missing_host' | 'malformed_host';

/** Go's answer per refusal: status, reason phrase (Go appends the detail to it), body. */
const ANSWERS: Record<Http1Refusal, { status: number; reason: string }> = {
  // Go's request reader refuses a second Host before anything else, with the generic 400.
  duplicate_host: { status: 400, reason: 'Bad Request' },
  unsupported_version: { status: 505, reason: 'HTTP Version Not Supported: unsupported protocol version' },
  missing_host: { status: 400, reason: 'Bad Request: missing required Host header' },
  malformed_host: { status: 400, reason: 'Bad Request: malformed Host header' },
};

/**
 * Bytes a `Host` value may contain: RFC 3986 reg-name, IP-literal and port characters plus `%`
 * (what Go's httpguts.ValidHostHeader allows). Space, `/`, `@`, `"` and non-ASCII are refused.
 */
const HOST_BYTE = /^[A-Za-z0-9!$%&'()*+,\-.:;=[\]_~]*$/;

/** Which refusal, if any, an HTTP/1 request earns; in Go's order of checks. */
export function http1Refusal(req: Pick<IncomingMessage, 'httpVersionMajor' | 'httpVersionMinor' | 'rawHeaders'>): Http1Refusal | undefined {
  const hosts: string[] = [];
  const raw = req.rawHeaders;
  // rawHeaders, not headers: Node folds a repeated Host into the first one.
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'host') hosts.push(raw[i + 1]!);
  if (hosts.length > 1) return 'duplicate_host';
  if (req.httpVersionMajor !== 1) return 'unsupported_version';
  if (hosts.length === 0) return req.httpVersionMinor >= 1 ? 'missing_host' : undefined;
  return HOST_BYTE.test(hosts[0]!) ? undefined : 'malformed_host';
}

/** Go's raw response for a refusal (as written to a socket the HTTP layer gave up on). */
export function goErrorResponse(status: number, reason: string): string {
  const code = `${status} ${reason}`;
  return `HTTP/1.1 ${code}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${code}`;
}

/**
 * The answer to a request the HTTP/1 parser refused (`clientError`), as Go gives it: `505` for a
 * well-formed but unsupported version (`HTTP/3.0`, `HTTP/1.2`), `431` for headers over the limit,
 * the plain `400 Bad Request` for anything else malformed.
 */
export function http1ParseErrorResponse(error: Error & { code?: string }): string {
  if (error.code === 'HPE_HEADER_OVERFLOW') return goErrorResponse(431, 'Request Header Fields Too Large');
  // llhttp says "Invalid HTTP version" for HTTP/d.d it does not serve; "Expected dot",
  // "Invalid major version" etc. for a version that is not one (Go: malformed, 400).
  if (error.code === 'HPE_INVALID_VERSION' && /Invalid HTTP version/.test(error.message)) return goErrorResponse(505, ANSWERS.unsupported_version.reason);
  return goErrorResponse(400, 'Bad Request');
}

/**
 * A request that arrived over HTTP/2 (it has a stream). Never judge by `httpVersionMajor`: an
 * HTTP/1 client can write `HTTP/2.0` in its request line and the HTTP/1 parser reports major 2.
 */
export function isHttp2(req: IncomingMessage | Http2ServerRequest): req is Http2ServerRequest {
  return (req as Partial<Http2ServerRequest>).stream !== undefined;
}

/**
 * Wraps the server's request handler: HTTP/1 requests that Go's net/http refuses are answered as Go
 * answers them (and the connection closed) before the guard sees them; HTTP/2 requests pass.
 * Requires the server's own `requireHostHeader` off, so the answer to a missing Host is Go's too.
 * @example
 * http.createServer({ requireHostHeader: false }, strictHttp1(handler, logger));
 */
export function strictHttp1(handler: NodeRequestHandler, logger: Logger): NodeRequestHandler {
  return (req, res) => {
    if (isHttp2(req)) return handler(req, res);
    const refusal = http1Refusal(req);
    if (refusal === undefined) return handler(req, res);
    logger.debug('HTTP/1 request refused', { remote: remoteAddressOf(req.socket), reason: refusal });
    const { status, reason } = ANSWERS[refusal];
    const body = `${status} ${reason}`;
    (res as ServerResponse).writeHead(status, reason, {
      'content-type': 'text/plain; charset=utf-8',
      connection: 'close',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };
}
