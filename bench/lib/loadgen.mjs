// The load generator: runs in its own process (so it never shares an event loop with a server
// under test) and prints one JSON line of results. Node's own https client with a keep-alive
// Agent, not wrk or autocannon: wrk cannot present client certificates and autocannon's TLS
// options do not cover session-cache control; this client speaks mTLS exactly as our tests do and
// adds no dependency. Every contender is driven by this same client, so its cost cancels out in
// the ratios.
//
// Usage: node bench/lib/loadgen.mjs '<json spec>'
//   spec: { url, ca?, cert?, key?, servername?, headers?, keepAlive: bool, concurrency,
//           durationMs? | requests?, rate? (requests/s, open loop), expectStatus?, localAddress?,
//           timeoutMs? (socket idle timeout, default 30 s), samples? (also print every latency),
//           resume? (without keep-alive: offer the previous TLS session, counting `resumed`) }
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';

const spec = JSON.parse(process.argv[2]);
const url = new URL(spec.url);
const secure = url.protocol === 'https:';
const read = (f) => (f ? readFileSync(f) : undefined);
const tlsOptions = secure ? { ca: read(spec.ca), cert: read(spec.cert), key: read(spec.key), ...(spec.servername ? { servername: spec.servername } : {}) } : {};
const agent = secure
  ? new https.Agent({ keepAlive: spec.keepAlive, maxSockets: spec.concurrency, maxCachedSessions: spec.keepAlive || spec.resume ? 100 : 0, ...tlsOptions })
  : new http.Agent({ keepAlive: spec.keepAlive, maxSockets: spec.concurrency });
const lib = secure ? https : http;

const latencies = [];
const statuses = {};
let errors = 0;
let bytes = 0;
let firstError;
let resumed = 0;

function once() {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = lib.request(url, {
      agent,
      ...(spec.localAddress ? { localAddress: spec.localAddress } : {}),
      headers: { 'accept-encoding': 'identity', ...spec.headers },
    });
    if (secure)
      req.once('socket', (socket) => {
        socket.once('secureConnect', () => {
          if (socket.isSessionReused()) resumed++;
        });
      });
    req.on('response', (res) => {
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => {
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (spec.expectStatus === undefined || res.statusCode === spec.expectStatus) latencies.push(performance.now() - started);
        else errors++;
        resolve();
      });
      res.on('error', () => {
        errors++;
        resolve();
      });
    });
    req.on('error', (e) => {
      errors++;
      firstError ??= e.message;
      resolve();
    });
    req.setTimeout(spec.timeoutMs ?? 30_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const started = performance.now();
const deadline = spec.durationMs !== undefined ? started + spec.durationMs : Infinity;
let issued = 0;
const more = () => performance.now() < deadline && (spec.requests === undefined || issued < spec.requests);

if (spec.rate) {
  // Open loop: one request every 1000/rate ms whatever the server does (bounded outstanding).
  const interval = 1000 / spec.rate;
  const inflight = new Set();
  let next = performance.now();
  while (more()) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    next += interval;
    if (inflight.size >= spec.concurrency) {
      errors++; // the server could not keep up: counted as a failure, not queued forever
      continue;
    }
    issued++;
    const p = once().then(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
} else {
  // Closed loop: `concurrency` workers, each sends its next request when the previous ends.
  await Promise.all(
    Array.from({ length: spec.concurrency }, async () => {
      while (more()) {
        issued++;
        await once();
      }
    }),
  );
}
const wallMs = performance.now() - started;
agent.destroy();

const sorted = latencies.sort((a, b) => a - b);
const pct = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
process.stdout.write(
  `${JSON.stringify({
    ok: sorted.length,
    errors,
    statuses,
    firstError,
    wallMs,
    bytes,
    resumed,
    p50: pct(50),
    p99: pct(99),
    throughput: (sorted.length / wallMs) * 1000,
    ...(spec.samples ? { samples: sorted } : {}),
  })}\n`,
);
