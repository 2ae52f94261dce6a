/**
 * Security headers on the metrics response. Metrics are text for machines, but people open the
 * URL in browsers, and proxies sit in between, so three headers matter:
 *
 * - `X-Content-Type-Options: nosniff` (low): without it a browser may sniff the text as HTML;
 * - `Strict-Transport-Security` on HTTPS (low): keeps browsers from being downgraded to HTTP;
 * - `Cache-Control` on an authenticated response (info only): Prometheus never caches, but a
 *   shared proxy or browser cache could keep a copy of protected metrics. Informational because
 *   exporter-toolkit and Prometheus themselves do not send it and nothing leaks to scrapers.
 *
 * `X-Frame-Options`/CSP are not checked: the body is `text/plain`, no browser renders it as a page.
 */
import { headerText } from './auth.js';
import type { ProbeResponse } from './client.js';
import { finding, type Finding } from './findings.js';

/** Judges the headers of a served (2xx) metrics response. */
export function headerFindings(url: URL, response: ProbeResponse, authenticated: boolean, hints: readonly string[]): Finding[] {
  const target = url.href;
  const findings: Finding[] = [];
  if (headerText(response.headers['x-content-type-options']).toLowerCase().trim() !== 'nosniff') {
    findings.push(finding('headers.missing-nosniff', target, 'the response has no X-Content-Type-Options: nosniff', { status: response.status }, hints));
  }
  if (url.protocol === 'https:' && headerText(response.headers['strict-transport-security']) === '') {
    findings.push(finding('headers.missing-hsts', target, 'the HTTPS response has no Strict-Transport-Security header', { status: response.status }, hints));
  }
  if (authenticated && headerText(response.headers['cache-control']) === '') {
    findings.push(finding('headers.missing-cache-control', target, 'the authenticated response has no Cache-Control header', { status: response.status }));
  }
  return findings;
}
