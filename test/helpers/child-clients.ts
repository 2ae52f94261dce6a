/**
 * Clients run as child processes (scraper.mjs, h2-flood.mjs): the test process then holds only
 * the guard, so its RSS and event loop measure the guard alone, as when the scraper and the
 * attacker are other machines.
 */
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { percentile, round } from './attack.js';

/** Runs `test/helpers/<script>` with one JSON argument and resolves with the JSON line it prints. */
export function runChild<T>(script: string, args: object, timeoutMs: number, options: { lowPriority?: boolean } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(`./${script}`, import.meta.url)), JSON.stringify(args)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    // An attacker spinning on its own TLS writes would take a core of a 2-core machine from the
    // guard, which no server-side bound can give back: it runs at the lowest CPU priority.
    if (options.lowPriority && child.pid !== undefined) setPriority(child.pid, 19);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const killer = setTimeout(() => child.kill(), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      if (code !== 0) reject(new Error(`${script} exited with ${code}`));
      else resolve(JSON.parse(stdout) as T);
    });
  });
}

/** What the scraper child saw. */
export interface ScraperFigures {
  attempts: number;
  ok: number;
  /** Percentage of scrapes answered 200 with a body. */
  successPct: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failures: string[];
}

/** Scrapes `url` over a new TLS connection from `localAddress` every `intervalMs` for `durationMs`. */
export async function childScraper(args: {
  url: string;
  caFile: string;
  localAddress: string;
  intervalMs: number;
  durationMs: number;
  headers?: Record<string, string>;
}): Promise<ScraperFigures> {
  const results = await runChild<{ ok: boolean; ms: number; detail: string }[]>('scraper.mjs', args, args.durationMs + 30_000);
  const ms = results.map((r) => r.ms);
  const ok = results.filter((r) => r.ok).length;
  return {
    attempts: results.length,
    ok,
    successPct: results.length === 0 ? 0 : round((100 * ok) / results.length),
    p50Ms: round(percentile(ms, 50)),
    p99Ms: round(percentile(ms, 99)),
    maxMs: round(Math.max(0, ...ms)),
    failures: results.filter((r) => !r.ok).map((r) => r.detail),
  };
}
