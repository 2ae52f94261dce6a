/**
 * Writes a core response to a node:http(s) or http2-compat response: a whole body with `end`, a
 * streamed one (a large scrape) piped with backpressure. When the connection fails mid-stream the
 * stream is destroyed (rendering stops); when the stream fails (a source failing after the answer
 * started) the response is destroyed, so the scraper sees a cut-off answer, never a complete one.
 */
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { Readable, pipeline } from 'node:stream';
import type { ScrapeResponse } from '../core/request.js';

/** Writes `out` to `res` (status, headers, body). */
export function writeNodeResponse(res: ServerResponse | Http2ServerResponse, out: ScrapeResponse): void {
  (res as ServerResponse).writeHead(out.status, out.headers);
  const body = out.body;
  if (body instanceof Readable) {
    pipeline(body, res as NodeJS.WritableStream, (error) => {
      if (error) res.destroy();
    });
    return;
  }
  res.end(body);
}
