/**
 * A legitimate scraper run as a child process, for measurements where the test process must hold
 * only the guard (its RSS is the figure): every `intervalMs` for `durationMs` it scrapes `url` over
 * a NEW TLS connection from `localAddress` (HTTP/1.1, as Prometheus without keep-alive), then
 * prints one JSON line: each scrape's outcome and duration.
 *
 * Usage: node scraper.mjs '{"url":"https://127.0.0.1:9443/metrics","caFile":"..","localAddress":"127.0.0.1","intervalMs":100,"durationMs":10000}'
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const options = JSON.parse(process.argv[2] ?? '{}');
const ca = readFileSync(options.caFile, 'utf8');

function scrape() {
  return new Promise((resolve) => {
    const started = performance.now();
    const done = (ok, detail) => resolve({ ok, ms: Math.round((performance.now() - started) * 10) / 10, detail });
    const req = request(options.url, { agent: false, ca, localAddress: options.localAddress, timeout: 10_000, headers: options.headers ?? {} }, (res) => {
      let bytes = 0;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', () => done(res.statusCode === 200 && bytes > 0, res.statusCode === 200 ? '' : `status ${res.statusCode}`));
      res.on('error', (e) => done(false, e.code ?? e.message));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => done(false, e.code ?? e.message));
    req.end();
  });
}

const results = [];
const deadline = Date.now() + options.durationMs;
while (Date.now() < deadline) {
  const next = Date.now() + options.intervalMs;
  results.push(await scrape());
  // A new connection every intervalMs (or right after a slower scrape).
  await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
}
process.stdout.write(`${JSON.stringify(results)}\n`);
