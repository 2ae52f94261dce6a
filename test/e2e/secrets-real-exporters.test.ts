/**
 * The secret detectors against real exporter output: Debian's node_exporter with its default
 * collectors (kernel and OS versions, CPU models, mount points and options, network devices, MAC
 * addresses, Go build info) and Prometheus's own /metrics. With every detector on, no label value
 * and no HELP text may fire — this is the output `detect_secrets` must pass through unchanged.
 * As a control, the same values with a fake credential spliced in must fire.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSecretDetection } from '../../src/exposition/secrets.js';
import { freePort, generations, startProcess, stopAll, waitForPort, type RunningProcess, waitForPrometheusReady } from './support.js';

const NODE_EXPORTER = 'prometheus-node-exporter';
const PROMETHEUS = 'prometheus';
const GENERATIONS = generations('secrets-real-exporters', [NODE_EXPORTER, PROMETHEUS]);

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: status ${res.statusCode}`))));
    })
      .on('error', reject)
      .end();
  });
}

interface Sample {
  source: string;
  label: string;
  value: string;
}

/** Label pairs and HELP texts of a text-format exposition (HELP as label `''`, as `scan` checks it). */
function samples(source: string, text: string): Sample[] {
  const out: Sample[] = [];
  const unescape = (v: string) => v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ')) {
      const rest = line.slice('# HELP '.length);
      out.push({ source, label: '', value: rest.slice(rest.indexOf(' ') + 1) });
      continue;
    }
    const brace = line.indexOf('{');
    if (line.startsWith('#') || brace < 0) continue;
    for (const m of line.slice(brace, line.lastIndexOf('}') + 1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      out.push({ source, label: m[1]!, value: unescape(m[2]!) });
    }
  }
  return out;
}

describe.each(GENERATIONS)('$name', (gen) => {
  const tools = gen.tools;

  describe.skipIf(tools.skip)('secret detectors on real node_exporter and Prometheus output', () => {
    const procs: RunningProcess[] = [];
    let dir: string;
    let all: Sample[] = [];

    beforeAll(async () => {
      tools.require();
      dir = mkdtempSync(join(tmpdir(), 'scrapeguard-secrets-e2e-'));
      const nePort = await freePort();
      const promPort = await freePort();
      writeFileSync(join(dir, 'prometheus.yml'), `scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:${promPort}']\n`);
      const ne = startProcess('node_exporter', tools.bin(NODE_EXPORTER), ['--web.listen-address', `127.0.0.1:${nePort}`], dir);
      const prom = startProcess(
        'prometheus',
        tools.bin(PROMETHEUS),
        ['--config.file', join(dir, 'prometheus.yml'), '--storage.tsdb.path', join(dir, 'data'), '--web.listen-address', `127.0.0.1:${promPort}`],
        dir,
      );
      procs.push(ne, prom);
      await waitForPort(ne, nePort);
      await waitForPrometheusReady(prom, promPort, 30_000);
      all = [
        ...samples('node_exporter', await get(`http://127.0.0.1:${nePort}/metrics`)),
        ...samples('prometheus', await get(`http://127.0.0.1:${promPort}/metrics`)),
      ];
    }, 60_000);

    afterAll(async () => {
      await stopAll(procs);
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }, 20_000);

    it('reads a substantial sample of real label values and HELP texts', () => {
      expect(all.filter((s) => s.source === 'node_exporter' && s.label !== '').length).toBeGreaterThan(200);
      expect(all.filter((s) => s.source === 'prometheus' && s.label !== '').length).toBeGreaterThan(100);
      expect(all.filter((s) => s.label === '').length).toBeGreaterThan(200);
    });

    it('no detector fires on any of them', () => {
      const detect = compileSecretDetection('all');
      const fired = all.map((s) => ({ ...s, detector: detect(s.label, s.value) })).filter((s) => s.detector !== undefined);
      expect(fired).toEqual([]);
    });

    it('control: the same values with a fake credential spliced in do fire', () => {
      const detect = compileSecretDetection('all');
      const fakeToken = `ghp_${'Zx9'.repeat(12)}`;
      for (const s of all.slice(0, 300)) {
        expect(detect(s.label, `${s.value} ${fakeToken}`), `${s.label}=${s.value}`).toBe('github_token');
        expect(detect(s.label, `${s.value}?password=hunter2`), `${s.label}=${s.value}`).toBeDefined();
      }
    });
  });
});
