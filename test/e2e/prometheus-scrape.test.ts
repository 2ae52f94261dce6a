/**
 * Acceptance: the real Prometheus (2.42, then 3.5) scrapes what the exposition pass writes. Both
 * ask for OpenMetrics first, so their own OpenMetrics parser reads our output of every type
 * (counter with exemplar and `_created`, histogram with unit, info, stateset, gauge histogram),
 * over HTTPS with basic auth and gzip (the text format is checked with promtool elsewhere). The
 * target must be up with no scrape error, and the stored series must carry the redacted values,
 * never the secrets.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type Guard } from '../../src/guard.js';
import { silentLogger } from '../../src/log.js';
import { testPki, type TestPki } from '../helpers/pki.js';
import {
  BASIC_PASSWORD,
  BASIC_USER,
  freePort,
  generations,
  sleep,
  startProcess,
  stopAll,
  writeConfig,
  type RunningProcess,
  waitForPrometheusReady,
} from './support.js';

const GENERATIONS = generations('prometheus-scrape.test.ts', ['prometheus']);
const fixture = readFileSync(new URL('../fixtures/exposition/app-openmetrics.prom', import.meta.url), 'utf8');
const SECRET = 'hunter2-prometheus-never-sees';
// The fixture plus a credential in a label and one in a label a rule drops.
const SOURCE = fixture.replace(
  '# EOF\n',
  `# TYPE app_db_pool gauge\napp_db_pool{dsn="postgres://app:${SECRET}@db:5432/app",api_key="${SECRET}",pool="main"} 4\n# EOF\n`,
);

interface Target {
  labels: { job: string };
  health: string;
  lastError: string;
}

describe.each(GENERATIONS)('$name', (gen) => {
  const tools = gen.tools;

  describe.skipIf(tools.skip)('Prometheus scrapes the redacted exposition', () => {
    let pki: TestPki;
    let guard: Guard;
    let prometheus: RunningProcess;
    let api: string;

    beforeAll(async () => {
      tools.require();
      pki = await testPki();
      guard = await createGuard({
        config: {
          tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
          basic_auth_users: { [BASIC_USER]: await hash(BASIC_PASSWORD, { cost: 4 }) },
          redaction: { drop_labels: ['api_key'] },
        },
        source: () => ({ body: SOURCE, contentType: 'application/openmetrics-text; version=1.0.0; charset=utf-8' }),
        logger: silentLogger,
        watch: false,
      });
      const [bound] = await guard.listen('127.0.0.1:0');
      const promPort = await freePort();
      const job = (name: string) => ({
        job_name: name,
        scrape_interval: '1s',
        scheme: 'https',
        static_configs: [{ targets: [`127.0.0.1:${bound!.port}`] }],
        tls_config: { ca_file: pki.ca.certFile },
        basic_auth: { username: BASIC_USER, password: BASIC_PASSWORD },
      });
      const config = writeConfig(pki, 'prometheus.yml', {
        global: { scrape_interval: '1s' },
        scrape_configs: [job('openmetrics')],
      });
      const data = join(pki.dir, 'prometheus-data');
      mkdirSync(data, { recursive: true });
      prometheus = startProcess(
        'prometheus',
        tools.bin('prometheus'),
        [`--config.file=${config}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${promPort}`],
        pki.dir,
      );
      await waitForPrometheusReady(prometheus, promPort, 30_000);
      api = `http://127.0.0.1:${promPort}/api/v1`;
    }, 60_000);

    afterAll(async () => {
      await stopAll([prometheus].filter(Boolean));
      await guard?.close(0);
    });

    it('every target is up without a scrape error, and the stored series are redacted', async () => {
      let targets: Target[] = [];
      for (let i = 0; i < 60; i++) {
        const body = (await (await fetch(`${api}/targets`)).json()) as { data: { activeTargets: Target[] } };
        targets = body.data.activeTargets;
        if (targets.length === 1 && targets.every((t) => t.health === 'up')) break;
        await sleep(500);
      }
      expect(
        targets.map((t) => [t.labels.job, t.health, t.lastError]),
        prometheus.output(),
      ).toEqual([['openmetrics', 'up', '']]);
      const query = async (q: string) =>
        ((await (await fetch(`${api}/query?query=${encodeURIComponent(q)}`)).json()) as { data: { result: { metric: Record<string, string> }[] } }).data.result;
      const pool = await query('app_db_pool');
      expect(pool.length).toBeGreaterThan(0);
      for (const r of pool) {
        expect(r.metric.dsn).toBe('[REDACTED]');
        expect(r.metric.api_key).toBeUndefined();
      }
      expect((await query('app_build_info')).length).toBeGreaterThan(0);
      expect((await query('app_queue_jobs_bucket')).length).toBeGreaterThan(0);
      expect((await query('app_feature_flags')).length).toBeGreaterThan(0);
      expect((await query('http_server_requests_total')).length).toBeGreaterThan(0);
      const series = await (await fetch(`${api}/series?match[]=${encodeURIComponent('{__name__=~".+"}')}`)).text();
      expect(series).not.toContain(SECRET);
    }, 60_000);
  });
});
