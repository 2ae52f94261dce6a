// One timed HTTPS GET for the in-process benchmarks: resolves with the milliseconds until the
// whole body arrived, rejects on any status but 200 (a benchmark must never time refusals).
import { request } from 'node:https';
import { performance } from 'node:perf_hooks';

/**
 * @param {string} url
 * @param {import('node:https').Agent} agent keep-alive agent of the caller
 * @param {string} ca PEM of the CA
 * @param {string} [authorization] the Authorization header value
 * @returns {Promise<number>} milliseconds
 */
export function timedGet(url, agent, ca, authorization) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(url, { agent, ca, headers: authorization ? { authorization } : {} });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** p50/p90/p99 and mean of a list of milliseconds. */
export function latencyStats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), mean: xs.reduce((a, b) => a + b, 0) / xs.length };
}
