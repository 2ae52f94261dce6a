/**
 * Acceptance: sidecar mode in front of a real exporter. The real node_exporter binary serves a
 * textfile metric that carries a database password in a label; `node dist/cli.js serve --upstream`
 * puts TLS, basic auth and redaction in front of it. A scrape gets the redacted, authenticated
 * result (in both formats, passing `promtool check metrics`), an unauthenticated one gets 401, and
 * when the exporter goes away the sidecar answers 502.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition } from '../../src/exposition/parse.js';
import { scrape } from '../helpers/client.js';
import { promtoolCheckMetrics } from '../helpers/exposition.js';
import { testPki, type TestPki } from '../helpers/pki.js';
import {
  BASIC_PASSWORD,
  BASIC_USER,
  startServe,
  ensureBuilt,
  freePort,
  generations,
  startProcess,
  stopAll,
  waitForPort,
  writeConfig,
  type RunningProcess,
} from './support.js';

const NODE_EXPORTER = 'prometheus-node-exporter';
const GENERATIONS = generations('sidecar.test.ts', [NODE_EXPORTER, 'promtool']);
const SECRET = 'hunter2-in-a-label';

describe.each(GENERATIONS)('$name', (gen) => {
  const tools = gen.tools;

  describe.skipIf(tools.skip)('scrapeguard serve --upstream in front of node_exporter', () => {
    let pki: TestPki;
    let exporter: RunningProcess;
    let sidecar: RunningProcess;
    let url: string;

    beforeAll(async () => {
      tools.require();
      await ensureBuilt();
      pki = await testPki();
      const textfiles = join(pki.dir, 'textfiles');
      mkdirSync(textfiles, { recursive: true });
      writeFileSync(
        join(textfiles, 'app.prom'),
        `# HELP app_database_info Database the app uses.\n# TYPE app_database_info gauge\napp_database_info{dsn="postgres://app:${SECRET}@db.internal:5432/app",role="primary"} 1\n`,
      );
      const exporterPort = await freePort();
      exporter = startProcess(
        'node_exporter',
        tools.bin(NODE_EXPORTER),
        [
          `--web.listen-address=127.0.0.1:${exporterPort}`,
          '--collector.disable-defaults',
          '--collector.textfile',
          `--collector.textfile.directory=${textfiles}`,
          '--collector.uname',
        ],
        pki.dir,
      );
      await waitForPort(exporter, exporterPort);
      const config = writeConfig(pki, 'sidecar.yml', {
        tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
        basic_auth_users: { [BASIC_USER]: await hash(BASIC_PASSWORD, { cost: 4 }) },
        redaction: { mask_labels: ['nodename'] },
      });
      const port = await freePort();
      sidecar = startServe(
        [
          '--web.config.file',
          config,
          '--web.listen-address',
          `127.0.0.1:${port}`,
          '--upstream',
          `http://127.0.0.1:${exporterPort}/metrics`,
          '--upstream.timeout',
          '5s',
        ],
        pki.dir,
      );
      await waitForPort(sidecar, port);
      url = `https://127.0.0.1:${port}/metrics`;
    }, 60_000);

    afterAll(async () => {
      await stopAll([sidecar, exporter].filter(Boolean));
    });

    it('serves the exporter redacted, authenticated, valid for promtool', async () => {
      const r = await scrape(url, { ca: pki.ca.certPem, auth: `${BASIC_USER}:${BASIC_PASSWORD}` });
      expect(r.status, sidecar.output()).toBe(200);
      expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8; escaping=underscores');
      expect(r.body).toContain('app_database_info{dsn="[REDACTED]",role="primary"} 1');
      expect(r.body).toMatch(/node_uname_info\{[^}]*nodename="\[REDACTED\]"/);
      expect(r.body).toContain('node_scrape_collector_success{collector="textfile"} 1');
      expect(r.body).not.toContain(SECRET);
      const verdict = await promtoolCheckMetrics(tools.bin('promtool'), r.body);
      expect(verdict.parseError, verdict.stderr).toBe(false);
      expect(sidecar.output()).not.toContain(SECRET);
    });

    it('answers OpenMetrics when Prometheus asks for it', async () => {
      const r = await scrape(url, {
        ca: pki.ca.certPem,
        auth: `${BASIC_USER}:${BASIC_PASSWORD}`,
        headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1' },
      });
      expect(r.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores');
      const families = parseExposition(r.body, 'openmetrics');
      expect(families.find((f) => f.name === 'app_database_info')?.samples[0]?.labels).toEqual(['dsn', '[REDACTED]', 'role', 'primary']);
      expect(r.body).not.toContain(SECRET);
    });

    it('refuses an unauthenticated scrape', async () => {
      const r = await scrape(url, { ca: pki.ca.certPem });
      expect(r.status).toBe(401);
      expect(r.body).not.toContain('app_database_info');
    });

    it('answers 502 when the exporter is gone', async () => {
      await stopAll([exporter]);
      const r = await scrape(url, { ca: pki.ca.certPem, auth: `${BASIC_USER}:${BASIC_PASSWORD}` });
      expect(r.status).toBe(502);
      expect(r.body).toBe('Bad Gateway\n');
    });
  });
});
