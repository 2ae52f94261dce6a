// Cost of secret detection per label value, all detectors on.
//
// The exposition pass asks the compiled check about every label value of every scrape, so what
// matters is the benign case: ordinary values (paths, versions, pod names, buckets, …) that must
// be answered quickly. Three workloads, each timed in rounds, median reported:
//   benign    the benign corpus (test/fixtures/secrets-corpus/benign.tsv) plus typical exporter
//             label values (le buckets, instance, pod, path, …), as the pass sees them
//   secrets   values that do hold secrets (each detector's format)
//   naive     the benign workload through every detector one by one, without the compiled
//             prefilter: what the prefilter saves
//
// Run: npm run bench:secrets   (builds first; uses dist/)
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

// The package entry exports the detectors (src/index.ts, added with the exposition pipeline).
const { SECRET_DETECTORS, compileSecretDetection } = await import('../dist/exposition.js');
if (typeof compileSecretDetection !== 'function' || !Array.isArray(SECRET_DETECTORS)) {
  console.error(
    'bench/secrets.mjs: dist/exposition.js does not export SECRET_DETECTORS and compileSecretDetection (src/exposition/index.ts re-exports them from src/exposition/secrets.ts)',
  );
  process.exit(1);
}

const ROUNDS = Number(process.env.ROUNDS ?? 21);
const TARGET_VALUES_PER_ROUND = Number(process.env.VALUES ?? 200_000);

const corpus = readFileSync(new URL('../test/fixtures/secrets-corpus/benign.tsv', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('#'))
  .map((line) => {
    const tab = line.indexOf('\t');
    return [line.slice(0, tab), line.slice(tab + 1)];
  });

// What a scrape of a typical service + node_exporter looks like: mostly short values.
const typical = [];
const buckets = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];
for (let i = 0; i < 200; i++) {
  for (const le of buckets) typical.push(['le', le]);
  typical.push(['method', i % 2 ? 'GET' : 'POST'], ['code', String(200 + (i % 5))], ['route', `/api/v1/items/${i % 17}`]);
  typical.push(['instance', `10.0.${i % 8}.${i % 250}:9100`], ['job', 'node'], ['pod', `api-7d9f8b6c5-${(i * 7919).toString(36).slice(-5).padStart(5, 'x')}`]);
  typical.push(['device', `/dev/nvme${i % 4}n1p${i % 3}`], ['mountpoint', `/var/lib/kubelet/pods/${i}`], ['cpu', String(i % 16)], ['mode', 'idle']);
}
const benign = [...corpus, ...typical];

const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
let seed = 7;
const rnd = (n, alphabet = chars) => {
  let s = '';
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    s += alphabet[seed % alphabet.length];
  }
  return s;
};
const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const secrets = [
  ['dsn', `postgres://app:${rnd(12)}@db:5432/app`],
  ['cmdline', `/usr/bin/app --password=${rnd(12)}`],
  ['x', `AKIA${rnd(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`],
  ['x', `ghp_${rnd(36)}`],
  ['x', `xoxb-${rnd(12, '0123456789')}-${rnd(24)}`],
  ['x', `sk_live_${rnd(24)}`],
  ['x', `AIza${rnd(35)}`],
  ['authorization', `Bearer ${b64url({ alg: 'HS256' })}.${b64url({ sub: 'x' })}.${rnd(43)}`],
  ['api_key', rnd(32)],
  ['key', `-----BEGIN PRIVATE KEY-----\n${rnd(64)}`],
];

function timeRound(values, check) {
  const reps = Math.max(1, Math.round(TARGET_VALUES_PER_ROUND / values.length));
  let fired = 0;
  const start = performance.now();
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < values.length; i++) {
      const pair = values[i];
      if (check(pair[0], pair[1]) !== undefined) fired++;
    }
  }
  const ns = ((performance.now() - start) * 1e6) / (reps * values.length);
  return { ns, fired: fired / reps };
}

function measure(name, values, check) {
  for (let i = 0; i < 3; i++) timeRound(values, check); // warm-up: JIT, regex compilation
  const rounds = [];
  let fired = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const r = timeRound(values, check);
    rounds.push(r.ns);
    fired = r.fired;
  }
  rounds.sort((a, b) => a - b);
  const median = rounds[Math.floor(rounds.length / 2)];
  console.log(
    `${name.padEnd(8)} ${String(values.length).padStart(5)} values  median ${median.toFixed(1).padStart(7)} ns/value` +
      `  (min ${rounds[0].toFixed(1)}, max ${rounds.at(-1).toFixed(1)})  fired on ${fired}`,
  );
  return median;
}

const detect = compileSecretDetection('all');
const naive = (label, value) => SECRET_DETECTORS.find((d) => d.test(label, value))?.name;
const noop = () => undefined;

console.log(`secret detection, all ${SECRET_DETECTORS.length} detectors, ${ROUNDS} rounds of ~${TARGET_VALUES_PER_ROUND} values, node ${process.version}`);
const loop = measure('loop', benign, noop);
const b = measure('benign', benign, detect);
measure('secrets', secrets, detect);
const n = measure('naive', benign, naive);
console.log(`benign median minus empty loop: ${(b - loop).toFixed(1)} ns/value; prefilter speed-up over naive: ${(n / b).toFixed(1)}x`);
