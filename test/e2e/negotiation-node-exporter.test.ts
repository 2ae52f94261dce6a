/**
 * Content negotiation compared with the real thing: node_exporter 1.11.1 (client_golang's promhttp
 * without OpenMetrics, with protobuf) answers every Accept header Prometheus 2.42, 2.53, 3.0 and
 * 3.5 send (with and without native histograms) plus the edge cases of client_golang's rules; our
 * `negotiateFormat(accept, { protobuf: true, openmetrics: false })` must give the same
 * Content-Type, `escaping=` included. The table (with what scrapeguard answers by default, when it
 * offers OpenMetrics and has no protobuf writer) is printed for the record.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { negotiateFormat } from '../../src/exposition/negotiate.js';
import { EDGE_ACCEPT_HEADERS, PROMETHEUS_ACCEPT_HEADERS } from '../helpers/accept-headers.js';
import { freePort, prometheus3Tools, startProcess, stopAll, waitForPort, type RunningProcess } from './support.js';

const NODE_EXPORTER = 'prometheus-node-exporter';
const tools = prometheus3Tools('negotiation-node-exporter.test.ts', [NODE_EXPORTER]);

/**
 * Headers where we knowingly answer differently: client_golang also writes the protobuf text
 * encodings, which scrapers never ask for; we skip them (and answer the text format).
 */
const DEVIATIONS = new Set(EDGE_ACCEPT_HEADERS.filter((h) => /encoding=(?:text|compact-text)/.test(h)));

function contentTypeFor(port: number, accept: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', headers: accept === '' ? {} : { accept } }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.headers['content-type'] ?? '')));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe.skipIf(tools.skip)('negotiation: scrapeguard vs node_exporter 1.11.1 on the same Accept headers', () => {
  let exporter: RunningProcess;
  let port: number;
  const rows: string[] = [];

  beforeAll(async () => {
    tools.require();
    port = await freePort();
    exporter = startProcess(
      NODE_EXPORTER,
      tools.bin(NODE_EXPORTER),
      [`--web.listen-address=127.0.0.1:${port}`, '--collector.disable-defaults', '--collector.loadavg'],
      process.cwd(),
    );
    await waitForPort(exporter, port);
  }, 30_000);

  afterAll(async () => {
    if (rows.length > 0)
      console.log(
        ['| Accept | node_exporter 1.11.1 | scrapeguard as node_exporter | scrapeguard (OpenMetrics offered) |', '|---|---|---|---|', ...rows].join('\n'),
      );
    await stopAll([exporter].filter(Boolean));
  });

  const cases = [
    ...PROMETHEUS_ACCEPT_HEADERS.map((h) => [`Prometheus ${h.prometheus}${h.nativeHistograms ? ' + native histograms' : ''}`, h.accept] as const),
    ...EDGE_ACCEPT_HEADERS.map((h) => [`edge ${JSON.stringify(h)}`, h] as const),
  ];

  it.each(cases)('%s: same Content-Type as node_exporter', async (label, accept) => {
    const real = await contentTypeFor(port, accept);
    const ours = negotiateFormat(accept, { protobuf: true, openmetrics: false });
    const served = negotiateFormat(accept);
    rows.push(
      `| ${label.startsWith('edge') ? `\`${accept}\`` : `${label}: \`${accept}\``} | \`${real}\` | \`${ours.contentType}\` | \`${served.contentType}\` |`,
    );
    if (DEVIATIONS.has(accept)) {
      expect(real).toMatch(/^application\/vnd\.google\.protobuf; proto=io\.prometheus\.client\.MetricFamily; encoding=(?:text|compact-text); escaping=/);
      expect(ours.format).toBe('text');
      expect(ours.contentType.split('; escaping=')[1]).toBe(real.split('; escaping=')[1]);
    } else {
      expect(ours.contentType).toBe(real);
    }
  });
});
