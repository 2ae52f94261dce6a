/**
 * Acceptance: `scrapeguard serve --upstream https://… --upstream.http2` in front of the real
 * node_exporter serving TLS (and requiring a client certificate) through its --web.config.file:
 * Go's server offers h2 in ALPN, the sidecar's scrapes go over HTTP/2. That h2 was used follows
 * from the transport itself: it sends nothing unless TLS ALPN chose h2 (test/upstream-http2.test.ts
 * shows a server choosing nothing is refused before a byte). The control: the same exporter with
 * `http_server_config: {http2: false}` is refused with a message naming HTTP/2, while a sidecar
 * without the flag scrapes it over HTTP/1.1.
 */
import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrape } from '../helpers/client.js';
import { testPki, type TestPki } from '../helpers/pki.js';
import {
  ensureBuilt,
  freePort,
  generations,
  startProcess,
  startServe,
  stopAll,
  waitForOutput,
  waitForPort,
  writeConfig,
  type RunningProcess,
} from './support.js';

const NODE_EXPORTER = 'prometheus-node-exporter';
const GENERATIONS = generations('sidecar-http2.test.ts', [NODE_EXPORTER]);

describe.each(GENERATIONS)('$name', (gen) => {
  const tools = gen.tools;

  describe.skipIf(tools.skip)('scrapeguard serve --upstream.http2 in front of node_exporter over TLS', () => {
    let pki: TestPki;
    const running: RunningProcess[] = [];
    /** Sidecar URLs: h2 to the h2 exporter; h2 to the HTTP/1.1-only exporter; HTTP/1.1 to it. */
    let h2: string;
    let refused: string;
    let control: string;
    let refusedSidecar: RunningProcess;

    /** node_exporter on TLS with mTLS required; `http2: false` turns HTTP/2 off in exporter-toolkit. */
    async function exporter(name: string, http2: boolean): Promise<string> {
      const tls = {
        cert_file: basename(pki.server.certFile),
        key_file: basename(pki.server.keyFile),
        client_ca_file: basename(pki.ca.certFile),
        client_auth_type: 'RequireAndVerifyClientCert',
      };
      const config = writeConfig(pki, `${name}.yml`, { tls_server_config: tls, ...(http2 ? {} : { http_server_config: { http2: false } }) });
      const port = await freePort();
      const proc = startProcess(
        name,
        tools.bin(NODE_EXPORTER),
        [`--web.listen-address=127.0.0.1:${port}`, `--web.config.file=${config}`, '--collector.disable-defaults', '--collector.uname'],
        pki.dir,
      );
      running.push(proc);
      await waitForPort(proc, port);
      return `https://127.0.0.1:${port}/metrics`;
    }

    async function sidecar(upstream: string, http2: boolean): Promise<{ url: string; proc: RunningProcess }> {
      const port = await freePort();
      const proc = startServe(
        [
          '--web.listen-address',
          `127.0.0.1:${port}`,
          '--upstream',
          upstream,
          '--upstream.ca-file',
          pki.ca.certFile,
          '--upstream.cert-file',
          pki.client.certFile,
          '--upstream.key-file',
          pki.client.keyFile,
          '--upstream.timeout',
          '5s',
          ...(http2 ? ['--upstream.http2'] : []),
        ],
        pki.dir,
      );
      running.push(proc);
      await waitForPort(proc, port);
      return { url: `http://127.0.0.1:${port}/metrics`, proc };
    }

    beforeAll(async () => {
      tools.require();
      await ensureBuilt();
      pki = await testPki();
      const withH2 = await exporter('node_exporter_h2', true);
      const withoutH2 = await exporter('node_exporter_http1', false);
      h2 = (await sidecar(withH2, true)).url;
      const r = await sidecar(withoutH2, true);
      refused = r.url;
      refusedSidecar = r.proc;
      control = (await sidecar(withoutH2, false)).url;
    }, 120_000);

    afterAll(async () => {
      await stopAll(running);
    });

    it('scrapes node_exporter over HTTP/2 with mTLS, repeatedly', async () => {
      for (let i = 0; i < 3; i++) {
        const r = await scrape(h2);
        expect(r.status, r.body).toBe(200);
        expect(r.body).toMatch(/node_uname_info\{/);
        expect(r.body).toContain('node_scrape_collector_success{collector="uname"} 1');
      }
    });

    it('refuses an exporter with HTTP/2 turned off, naming HTTP/2; without the flag the same exporter is scraped', async () => {
      const r = await scrape(refused);
      expect(r.status).toBe(502);
      // Go refuses the ALPN offer (h2 only) with no_application_protocol. The log line may reach
      // the pipe after the 502 reached the test: wait for it.
      await waitForOutput(
        refusedSidecar,
        /does not speak HTTP\/2 \((it refused the TLS ALPN protocol h2|TLS negotiated no application protocol).*drop --upstream\.http2/,
      );
      const ok = await scrape(control);
      expect(ok.status, ok.body).toBe(200);
      expect(ok.body).toMatch(/node_uname_info\{/);
    });
  });
});
