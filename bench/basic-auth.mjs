// Basic-auth overhead on keep-alive scrapes: the bcrypt cache at work.
//
// Two guards with the same TLS config and registry run side by side, one with a basic-auth user
// (bcrypt cost 12, a realistic production cost) and one without. One keep-alive HTTPS client per
// guard scrapes them in alternating blocks, so machine noise hits both alike. Reports medians and
// percentiles of each, their difference, and how many bcrypt verifications ran (self-metrics).
//
// Run: npm run bench:basic-auth   (builds first; uses dist/)
import { Agent } from 'node:https';
import { hash } from '@node-rs/bcrypt';
import { Registry, Counter, collectDefaultMetrics } from 'prom-client';
import { latencyStats, timedGet } from './lib/timed-get.mjs';
import { createGuard, silentLogger } from '../dist/index.js';
import { generateDevPki } from '../dist/pki.js';

const SCRAPES = Number(process.env.SCRAPES ?? 200);
const BLOCK = 20;

const get = (url, agent, ca, auth) => timedGet(url, agent, ca, auth ? `Basic ${Buffer.from(auth).toString('base64')}` : undefined);
const stats = latencyStats;
const metricValue = async (registry, name) => (await registry.getSingleMetric(name)?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;

const pki = await generateDevPki();
const registry = new Registry();
collectDefaultMetrics({ register: registry });
const c = new Counter({ name: 'bench_requests_total', help: 'x', labelNames: ['route'], registers: [registry] });
for (let i = 0; i < 50; i++) c.inc({ route: `/r${i}` }, i);

const password = 'correct horse battery staple';
const tls = { cert: pki.server.certPem, key: pki.server.keyPem };
const selfAuth = new Registry();
const selfPlain = new Registry();
const withAuth = await createGuard({
  config: { tls_server_config: tls, basic_auth_users: { prometheus: await hash(password, { cost: 12 }) } },
  source: registry,
  logger: silentLogger,
  selfMetrics: selfAuth,
  watch: false,
});
const withoutAuth = await createGuard({ config: { tls_server_config: tls }, source: registry, logger: silentLogger, selfMetrics: selfPlain, watch: false });
const [a] = await withAuth.listen('127.0.0.1:0');
const [b] = await withoutAuth.listen('127.0.0.1:0');
const agentA = new Agent({ keepAlive: true, maxSockets: 1 });
const agentB = new Agent({ keepAlive: true, maxSockets: 1 });
const urlA = `https://localhost:${a.port}/metrics`;
const urlB = `https://localhost:${b.port}/metrics`;
const ca = pki.ca.certPem;
const auth = `prometheus:${password}`;

// Warm-up: connections, JIT, and the one bcrypt verification that fills the cache.
const firstAuthMs = await get(urlA, agentA, ca, auth);
for (let i = 0; i < 20; i++) {
  await get(urlA, agentA, ca, auth);
  await get(urlB, agentB, ca);
}
const bcryptBefore = await metricValue(selfAuth, 'scrapeguard_bcrypt_verifications_total');
const bcryptSecondsBefore = await metricValue(selfAuth, 'scrapeguard_bcrypt_seconds_total');
const latA = [];
const latB = [];
let cpuA = 0;
let cpuB = 0;
for (let done = 0; done < SCRAPES; done += BLOCK) {
  let t = process.cpuUsage();
  for (let i = 0; i < BLOCK; i++) latA.push(await get(urlA, agentA, ca, auth));
  let d = process.cpuUsage(t);
  cpuA += d.user + d.system;
  t = process.cpuUsage();
  for (let i = 0; i < BLOCK; i++) latB.push(await get(urlB, agentB, ca));
  d = process.cpuUsage(t);
  cpuB += d.user + d.system;
}
const bcryptRuns = (await metricValue(selfAuth, 'scrapeguard_bcrypt_verifications_total')) - bcryptBefore;
const bcryptSecondsTotal = await metricValue(selfAuth, 'scrapeguard_bcrypt_seconds_total');
const sa = stats(latA);
const sb = stats(latB);
const f = (x) => x.toFixed(3);
console.log(`# Basic-auth overhead, ${SCRAPES} keep-alive HTTPS scrapes each, bcrypt cost 12, node ${process.version}`);
console.log('| | p50 ms | p90 ms | p99 ms | mean ms | CPU ms (client+server, this process) |');
console.log('|---|---|---|---|---|---|');
console.log(`| TLS + basic auth | ${f(sa.p50)} | ${f(sa.p90)} | ${f(sa.p99)} | ${f(sa.mean)} | ${(cpuA / 1000).toFixed(1)} |`);
console.log(`| TLS, no auth | ${f(sb.p50)} | ${f(sb.p90)} | ${f(sb.p99)} | ${f(sb.mean)} | ${(cpuB / 1000).toFixed(1)} |`);
console.log(`\np50 difference (auth - no auth): ${f(sa.p50 - sb.p50)} ms; p50 ratio ${(sa.p50 / sb.p50).toFixed(3)}`);
console.log(
  `bcrypt verifications during the ${SCRAPES} measured scrapes: ${bcryptRuns} (time on the pool: ${((bcryptSecondsTotal - bcryptSecondsBefore) * 1000).toFixed(1)} ms)`,
);
console.log(`the single cache-filling verification before them: first scrape ${f(firstAuthMs)} ms, bcrypt ${(bcryptSecondsBefore * 1000).toFixed(1)} ms`);
agentA.destroy();
agentB.destroy();
await withAuth.close();
await withoutAuth.close();
