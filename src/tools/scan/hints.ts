/**
 * Fix hints that lead back to scrapeguard: for a target found insecure, the `init`, `serve
 * --upstream` and `scrape-config` commands that would put it behind HTTPS, mutual TLS, basic auth,
 * security headers and secret redaction — with the target's own host and port filled in.
 */
import { bareHost, urlPort } from './client.js';

/** Where `init` writes by default; the commands below refer to files in it. */
const PKI_DIR = 'scrapeguard-pki';

/**
 * Commands that secure the exporter at `url`: make a PKI for its host, serve its metrics through
 * scrapeguard (the exporter then listens on loopback only), and print Prometheus's matching job.
 * @example
 * endpointHints(new URL('http://10.0.0.5:9100/metrics'));
 * // ['scrapeguard init scrapeguard-pki --san 10.0.0.5', 'scrapeguard serve --upstream http://127.0.0.1:9100/metrics …', …]
 */
export function endpointHints(url: URL): string[] {
  const host = bareHost(url.hostname);
  const port = urlPort(url);
  const san = host === 'localhost' || host === '127.0.0.1' || host === '::1' ? '' : ` --san ${host}`;
  const upstream = new URL(url.href);
  upstream.hostname = '127.0.0.1';
  upstream.username = '';
  upstream.password = '';
  upstream.search = ''; // Query parameters may hold tokens; the command is a template to adapt anyway.
  const securePort = port === 9443 ? 9444 : 9443;
  return [
    `scrapeguard init ${PKI_DIR}${san}`,
    `scrapeguard serve --upstream ${upstream.href} --web.config.file ${PKI_DIR}/web-config.yml --web.listen-address :${securePort}   # bind the exporter itself to 127.0.0.1`,
    `scrapeguard scrape-config --web.config.file ${PKI_DIR}/web-config.yml --target ${host.includes(':') ? `[${host}]` : host}:${securePort}`,
  ];
}

/** Hints for a Prometheus job whose targets are insecure: the same, for each target (bounded). */
export function jobHints(scrapeUrls: readonly string[]): string[] {
  const hints: string[] = [];
  for (const raw of scrapeUrls.slice(0, 3)) {
    try {
      hints.push(...endpointHints(new URL(raw)));
    } catch {
      // An unparsable scrape URL gets no command.
    }
  }
  return [...new Set(hints)];
}
