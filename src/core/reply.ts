/**
 * The one builder of scrapeguard's own short answers (401, 403, 404, 429, 5xx…): plain text that
 * browsers must not sniff, the config's security headers on every one of them, no body for HEAD.
 * The core, the guard (503 after close, 500 when the core failed) and the adapters' 404 all use it,
 * so an error answer cannot miss a header one path adds and another forgets.
 */
import { STATUS_CODES } from 'node:http';
import type { ScrapeResponse } from './request.js';

/** Headers every plain answer carries. */
export const PLAIN_TEXT_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/plain; charset=utf-8',
  'x-content-type-options': 'nosniff',
};

/** What a plain answer is made of; everything but `status` is optional. */
export interface PlainReply {
  status: number;
  /** The request method: HEAD gets the headers and no body. */
  method?: string;
  /** Body text (default: the status reason and a newline, e.g. `Forbidden\n`). */
  body?: string;
  /** The config's `http_server_config.headers` (security headers), put on every answer. */
  responseHeaders?: Readonly<Record<string, string>>;
  /** Answer-specific headers (`www-authenticate`, `retry-after`…); they win over the others. */
  headers?: Readonly<Record<string, string>>;
}

/** Builds a plain-text {@link ScrapeResponse}. */
export function plainReply(reply: PlainReply): ScrapeResponse {
  return {
    status: reply.status,
    headers: { ...reply.responseHeaders, ...PLAIN_TEXT_HEADERS, ...reply.headers },
    body: reply.method === 'HEAD' ? '' : (reply.body ?? `${STATUS_CODES[reply.status] ?? 'Error'}\n`),
  };
}
