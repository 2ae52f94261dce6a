/**
 * A reusable end-to-end harness for the scrape-config generator: for each auth mode it serves a
 * web-config with a real guard (in-process, real sockets), generates the matching scrape job with
 * the `scrape-config` CLI command, and then runs ONE real Prometheus that scrapes every job at
 * once. Each job states its expected outcome (`up` and series, or `down` with a lastError), so a
 * new mode (bearer, JWT, redaction…) is one more {@link ScrapeMode} entry in the test file.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { createGuard, type Guard } from '../../src/guard.js';
import { silentLogger } from '../../src/log.js';
import { scrapeConfigCommand } from '../../src/tools/cli/scrape-config.js';
import type { PrometheusScrapeJob } from '../../src/tools/scrape-config/prometheus.js';
import type { MetricsSourceInput } from '../../src/exposition/source.js';
import { runCli } from '../helpers/cli.js';
import { freePort, runProcess, sleep, startProcess, stopAll, type PrometheusTools, type RunningProcess, waitForPrometheusReady } from './support.js';

/** One job Prometheus scrapes, and what must come of it. */
export interface ScrapeJobCase {
  /** Job name (unique across all modes). */
  job: string;
  /** Extra `scrape-config` CLI arguments for this job (e.g. `--ca-file other-ca.crt`). */
  args?: string[];
  /** Edits the generated job before Prometheus gets it (to break it on purpose). */
  mutate?: (job: PrometheusScrapeJob) => void;
  /** Warnings the generator must print on stderr for this job (every other warning fails). */
  warnings?: RegExp[];
  /** `up` with series arriving, or `down` with a matching `lastError`. */
  expect: { health: 'up'; absentLabels?: string[]; presentLabels?: string[] } | { health: 'down'; lastError: RegExp };
}

/** One auth mode: a web-config served by one guard, scraped by one or more jobs. */
export interface ScrapeMode {
  name: string;
  /** The web-config document; relative file names resolve against `dir`. */
  webConfig: Record<string, unknown>;
  /** Directory holding the server's files (certificates); the web-config is written there. */
  dir: string;
  /** The scraper's credentials directory (`--credentials-dir`). */
  credentialsDir: string;
  /** Metrics the guard serves (default: one info series with a `mode` label). */
  source?: MetricsSourceInput;
  /** Loopback address the guard listens on and the target names (default 127.0.0.1). */
  host?: string;
  /** Arguments every job of this mode gets. */
  args?: string[];
  jobs: ScrapeJobCase[];
}

/** What Prometheus reported for one job. */
export interface JobOutcome {
  job: string;
  health: string;
  lastError: string;
  /** Label sets of the series of this job (from /api/v1/series), when up. */
  series: Record<string, string>[];
  /** The generated scrape job and the generator's warnings. */
  generated: PrometheusScrapeJob;
  warnings: string[];
}

/** A running scenario: guards, Prometheus, and the outcomes once settled. */
export interface ScrapeScenario {
  outcomes: Map<string, JobOutcome>;
  /** promtool check config output for every generated file. */
  promtool: { code: number | null; output: string };
  prometheusOutput(): string;
  stop(): Promise<void>;
}

/** Default exposition: one series per mode, so series can be told apart per job. */
export const infoSource =
  (mode: string): MetricsSourceInput =>
  () =>
    `# HELP scrapeguard_e2e_info A series the scrape-config e2e suite expects.\n# TYPE scrapeguard_e2e_info gauge\nscrapeguard_e2e_info{mode="${mode}"} 1\n`;

interface TargetsResponse {
  data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string; lastScrape: string }[] };
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/**
 * Serves every mode, generates every job with the CLI, checks them with promtool, runs one
 * Prometheus and waits (up to `timeoutMs`) until every job has reached its expected health.
 * @example
 * const scenario = await runScrapeScenario(tools, [{ name: 'tls', webConfig, dir, credentialsDir, jobs: [{ job: 'tls', expect: { health: 'up' } }] }]);
 */
export async function runScrapeScenario(
  tools: PrometheusTools,
  modes: readonly ScrapeMode[],
  timeoutMs = 40_000,
  options: { /** `--prometheus-version` of every job (the generation's Prometheus); default: the generator's. */ prometheusVersion?: string } = {},
): Promise<ScrapeScenario> {
  const work = mkdtempSync(join(tmpdir(), 'scrapeguard-e2e-prom-'));
  const guards: Guard[] = [];
  const procs: RunningProcess[] = [];
  const jobs: PrometheusScrapeJob[] = [];
  const generated = new Map<string, { job: PrometheusScrapeJob; warnings: string[]; expect: ScrapeJobCase['expect'] }>();
  const files: string[] = [];
  const stop = async () => {
    await stopAll(procs);
    await Promise.all(guards.map((g) => g.close(100)));
  };
  try {
    for (const mode of modes) {
      const configFile = join(mode.dir, `${mode.name}.web-config.yml`);
      writeFileSync(configFile, stringify(mode.webConfig), { mode: 0o600 });
      const guard = await createGuard({ config: configFile, source: mode.source ?? infoSource(mode.name), logger: silentLogger, watch: false });
      guards.push(guard);
      const host = mode.host ?? '127.0.0.1';
      const [bound] = await guard.listen(`${host}:0`);
      for (const c of mode.jobs) {
        const argv = [
          '--web.config.file',
          configFile,
          '--target',
          `${host}:${bound!.port}`,
          '--job',
          c.job,
          '--credentials-dir',
          mode.credentialsDir,
          ...(options.prometheusVersion !== undefined ? ['--prometheus-version', options.prometheusVersion] : []),
          ...(mode.args ?? []),
          ...(c.args ?? []),
        ];
        const result = await runCli(scrapeConfigCommand, argv, { cwd: mode.dir });
        if (result.code !== 0) throw new Error(`scrape-config for job ${c.job} failed (exit ${result.code}):\n${result.stderr}`);
        const file = join(work, `${c.job}.yml`);
        writeFileSync(file, result.stdout);
        files.push(file);
        const warnings = result.stderr
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => l.replace(/^warning: /, ''));
        const unexpected = warnings.filter((w) => !(c.warnings ?? []).some((re) => re.test(w)));
        const missing = (c.warnings ?? []).filter((re) => !warnings.some((w) => re.test(w)));
        if (unexpected.length > 0 || missing.length > 0) {
          throw new Error(`job ${c.job}: unexpected warnings ${JSON.stringify(unexpected)}, missing ${missing.map(String).join(', ')}`);
        }
        const job = (parse(result.stdout) as { scrape_configs: PrometheusScrapeJob[] }).scrape_configs[0]!;
        c.mutate?.(job);
        jobs.push(job);
        generated.set(c.job, { job, warnings, expect: c.expect });
      }
    }

    // Every generated file, as printed, must pass promtool (which also checks that files exist).
    const check = await runProcess(tools.bin('promtool'), ['check', 'config', ...files], { timeoutMs: 30_000 });
    const promtool = { code: check.code, output: check.stdout + check.stderr };

    const configFile = join(work, 'prometheus.yml');
    writeFileSync(configFile, stringify({ global: { scrape_interval: '1s', scrape_timeout: '1s' }, scrape_configs: jobs }));
    const port = await freePort();
    mkdirSync(join(work, 'data'));
    const prometheus = startProcess(
      'prometheus',
      tools.bin('prometheus'),
      [`--config.file=${configFile}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${join(work, 'data')}`, '--web.enable-lifecycle'],
      work,
    );
    procs.push(prometheus);
    await waitForPrometheusReady(prometheus, port, 20_000);
    const api = `http://127.0.0.1:${port}/api/v1`;

    // Scrapes start ~5-7 s after startup; wait until every job reached its expected state.
    const outcomes = new Map<string, JobOutcome>();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let data: TargetsResponse['data'];
      try {
        ({ data } = await getJson<TargetsResponse>(`${api}/targets?state=active`));
      } catch (error) {
        // Prometheus answers 503 until its TSDB is ready, which on a busy machine outlasts the port opening.
        if (!/HTTP 503/.test((error as Error).message) || Date.now() > deadline) throw error;
        await sleep(500);
        continue;
      }
      outcomes.clear();
      for (const t of data.activeTargets) {
        const g = generated.get(t.labels.job ?? '');
        if (g)
          outcomes.set(t.labels.job!, { job: t.labels.job!, health: t.health, lastError: t.lastError, series: [], generated: g.job, warnings: g.warnings });
      }
      const settled = [...generated.entries()].every(([name, g]) => {
        const o = outcomes.get(name);
        if (!o) return false;
        return g.expect.health === 'up' ? o.health === 'up' : o.health === 'down' && g.expect.lastError.test(o.lastError);
      });
      if (settled) break;
      if (Date.now() > deadline) break; // the test reports what differs
      await sleep(500);
    }
    for (const [name, o] of outcomes) {
      if (o.health !== 'up') continue;
      const { data } = await getJson<{ data: Record<string, string>[] }>(`${api}/series?match[]=${encodeURIComponent(`{job="${name}"}`)}`);
      o.series = data;
    }
    return { outcomes, promtool, prometheusOutput: () => prometheus.output(), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
