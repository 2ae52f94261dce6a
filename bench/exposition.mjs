// The exposition pass against prom-client's own rendering.
//
// 1. Scrape path, 10k series: a prom-client registry with ~10k sample lines (counters, gauges,
//    a histogram). A: `register.metrics()`. B: the guard's pass (getMetricsAsJSON fast path +
//    redaction: drop_labels, hash_labels, every secret detector + a caller filter that denies one
//    family and constrains a label, rendered as text). C: the whole core (`guard.handle`: basic
//    auth from the bcrypt cache + B, no caller filter, and the content-length the core computes);
//    D: the core with the default redaction only (secret detectors on, nothing dropped).
//    A' is A plus that same Buffer.byteLength, the least a server adds to serve A. A, A', B, C run in alternating blocks so noise hits them alike;
//    medians per call and the ratios B/A and C/A (target ≤ 1.0).
// 2. Throughput on text: parse + redact + render of the same registry's text, MB/s on one core.
// 3. Memory, 100k series: peak RSS of a child process that builds the registry and scrapes it
//    once, with `register.metrics()` vs with the guard's pass (each in its own process).
//
// Run: npm run bench:exposition   (builds first; uses dist/; node --expose-gc)
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { hash } from '@node-rs/bcrypt';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { createGuard, silentLogger } from '../dist/index.js';
import { compileRedaction, createPipeline, defaultRedaction, parseExposition, renderExposition, toMetricsSource } from '../dist/exposition.js';

const ROUNDS = Number(process.env.ROUNDS ?? 40);
const BLOCK = 10;
// Each block starts from a clean heap (node --expose-gc), so one contender's garbage is not
// collected on the other's clock; each call still pays for its own.
const gc = globalThis.gc ?? (() => {});

/** A registry with about `series` sample lines. */
function buildRegistry(series) {
  const registry = new Registry();
  const requests = new Counter({
    name: 'app_requests_total',
    help: 'Requests.',
    labelNames: ['route', 'method', 'code', 'user', 'team'],
    registers: [registry],
  });
  const sessions = new Gauge({ name: 'app_session_bytes', help: 'Session sizes.', labelNames: ['session', 'team'], registers: [registry] });
  const latency = new Histogram({ name: 'app_latency_seconds', help: 'Latency.', labelNames: ['route', 'team'], registers: [registry] });
  const counters = Math.floor(series * 0.5);
  const gauges = Math.floor(series * 0.37);
  const histograms = Math.max(1, Math.floor((series * 0.13) / 14)); // 11 buckets + sum + count (+Inf)
  for (let i = 0; i < counters; i++) {
    requests.inc(
      { route: `/api/v1/items/${i % 500}`, method: i % 3 ? 'GET' : 'POST', code: String(200 + (i % 5)), user: `user-${i}@example.com`, team: `team-${i % 7}` },
      i,
    );
  }
  for (let i = 0; i < gauges; i++) sessions.set({ session: `s-${i.toString(16).padStart(8, '0')}`, team: `team-${i % 7}` }, i * 3);
  for (let i = 0; i < histograms; i++) latency.observe({ route: `/api/v1/items/${i}`, team: `team-${i % 7}` }, (i % 100) / 100);
  return registry;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeIt(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const redaction = { ...defaultRedaction(), dropLabels: ['user'], hashLabels: ['session'] };
const filter = {
  allowsFamily: (name) => name !== 'app_latency_seconds_denied',
  labelConstraints: [{ name: 'team', matches: (v) => v !== 'team-6' }],
};

async function rssChild(mode, series) {
  const registry = buildRegistry(series);
  const before = process.memoryUsage().rss;
  let bytes;
  if (mode === 'metrics') bytes = (await registry.metrics()).length;
  else {
    const expose = createPipeline(toMetricsSource(registry), { redactor: compileRedaction(redaction) });
    bytes = (await expose({ filter })).body.length;
  }
  const peak = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ before, peak, bytes }));
}

if (process.argv[2] === '--rss') {
  await rssChild(process.argv[3], Number(process.argv[4]));
  process.exit(0);
}

// 1. Scrape path at 10k series.
const registry = buildRegistry(10_000);
const text = await registry.metrics();
const lines = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
const expose = createPipeline(toMetricsSource(registry), { redactor: compileRedaction(redaction) });
const password = 'bench-password';
const guard = await createGuard({
  config: { basic_auth_users: { prometheus: await hash(password, { cost: 10 }) }, redaction: { drop_labels: ['user'], hash_labels: ['session'] } },
  source: registry,
  logger: silentLogger,
  watch: false,
});
const request = {
  method: 'GET',
  path: '/metrics',
  headers: { authorization: `Basic ${Buffer.from(`prometheus:${password}`).toString('base64')}`, accept: 'text/plain;version=0.0.4' },
  remoteAddress: '127.0.0.1',
};
// D: the same core with the default redaction only (secret detectors; nothing dropped or merged).
const plainGuard = await createGuard({
  config: { basic_auth_users: { prometheus: await hash(password, { cost: 10 }) } },
  source: registry,
  logger: silentLogger,
  watch: false,
});
await plainGuard.handle(request);
const first = await guard.handle(request); // fills the bcrypt cache
if (first.status !== 200) throw new Error(`guard answered ${first.status}`);
const guarded = await expose({ filter });

const a = [];
const a2 = [];
const b = [];
const c = [];
const d = [];
for (let i = 0; i < 3; i++) {
  await registry.metrics();
  await expose({ filter });
  await guard.handle(request);
}
for (let round = 0; round < ROUNDS; round += BLOCK) {
  gc();
  for (let i = 0; i < BLOCK; i++) a.push(await timeIt(() => registry.metrics()));
  gc();
  for (let i = 0; i < BLOCK; i++) a2.push(await timeIt(async () => Buffer.byteLength(await registry.metrics())));
  gc();
  for (let i = 0; i < BLOCK; i++) b.push(await timeIt(() => expose({ filter })));
  gc();
  for (let i = 0; i < BLOCK; i++) c.push(await timeIt(() => guard.handle(request)));
  gc();
  for (let i = 0; i < BLOCK; i++) d.push(await timeIt(() => plainGuard.handle(request)));
}
const ma = median(a);
const ma2 = median(a2);
const mb = median(b);
const mc = median(c);
const md = median(d);
console.log(`scrape path, ${lines} sample lines (${(text.length / 1024).toFixed(0)} KiB), median of ${a.length}:`);
console.log(`  A register.metrics()                          ${ma.toFixed(2)} ms`);
console.log(`  A' register.metrics() + Buffer.byteLength       ${ma2.toFixed(2)} ms   (what serving it costs at least: the core sets content-length)`);
console.log(
  `  B pass: JSON + redaction + filter + render    ${mb.toFixed(2)} ms   ratio B/A ${(mb / ma).toFixed(2)}   (${guarded.seriesReturned} returned, ${guarded.seriesWithheld} withheld)`,
);
console.log(
  `  C core: basic auth (cached) + B               ${mc.toFixed(2)} ms   ratio C/A ${(mc / ma).toFixed(2)}   C/A' ${(mc / ma2).toFixed(2)}   (no caller filter: access rules are not in the core yet)`,
);

console.log(`  D core: basic auth + default redaction only    ${md.toFixed(2)} ms   ratio D/A ${(md / ma).toFixed(2)}`);

// 2. Text throughput.
const redactor = compileRedaction(redaction);
const mb_ = Buffer.byteLength(text) / 1e6;
const tt = [];
for (let i = 0; i < 3; i++) renderExposition(redactor.apply(parseExposition(text, 'text')).families, 'text');
gc();
for (let i = 0; i < ROUNDS; i++) {
  tt.push(await timeIt(() => renderExposition(redactor.apply(parseExposition(text, 'text'), filter).families, 'text')));
}
const mt = median(tt);
console.log(`text: parse + redact + filter + render of ${mb_.toFixed(2)} MB: ${mt.toFixed(2)} ms median → ${(mb_ / (mt / 1000)).toFixed(1)} MB/s`);

// 3. Peak RSS at 100k series, each mode in its own process.
const self = fileURLToPath(import.meta.url);
const rss = (mode) => JSON.parse(spawnSync(process.execPath, [self, '--rss', mode, '100000'], { encoding: 'utf8', maxBuffer: 1e6 }).stdout);
const rm = rss('metrics');
const rg = rss('pass');
const mib = (n) => (n / 1048576).toFixed(0);
console.log('peak RSS, 100k series (registry built, then one scrape):');
console.log(`  register.metrics()   peak ${mib(rm.peak)} MiB (+${mib(rm.peak - rm.before)} MiB over the built registry), body ${mib(rm.bytes)} MiB`);
console.log(`  guard pass           peak ${mib(rg.peak)} MiB (+${mib(rg.peak - rg.before)} MiB over the built registry), body ${mib(rg.bytes)} MiB`);
await guard.close(0);
await plainGuard.close(0);
