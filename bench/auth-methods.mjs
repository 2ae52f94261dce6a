// Scrape latency by authentication method on a 10k-series registry, keep-alive HTTPS.
//
// Four guards with the same TLS config and the same prom-client registry (10,000 series) run side
// by side: no authentication, a static bearer token (SHA-256 + constant-time compare), a JWT
// verified against a local JWK Set (ES256), and the same with RS256. One keep-alive HTTPS client
// per guard scrapes them in rotating blocks, so machine noise hits all alike. Reports p50/p90/p99
// per method and the p50 ratios against no auth.
//
// Run: npm run bench:auth-methods   (builds first; uses dist/)
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Gauge, Registry } from 'prom-client';
import { latencyStats, timedGet } from './lib/timed-get.mjs';
import { createGuard, silentLogger } from '../dist/index.js';
import { generateDevPki } from '../dist/pki.js';

const SCRAPES = Number(process.env.SCRAPES ?? 200);
const SERIES = Number(process.env.SERIES ?? 10_000);
const BLOCK = 10;

const get = timedGet;
const stats = latencyStats;

const pki = await generateDevPki();
const registry = new Registry();
const g = new Gauge({ name: 'bench_series', help: 'x', labelNames: ['id', 'shard'], registers: [registry] });
for (let i = 0; i < SERIES; i++) g.set({ id: String(i), shard: String(i % 16) }, i);

const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-bench-auth-'));
const token = randomBytes(32).toString('base64url');
const keys = {};
for (const alg of ['ES256', 'RS256']) {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = { ...(await exportJWK(publicKey)), kid: alg, alg };
  writeFileSync(join(dir, `${alg}.json`), JSON.stringify({ keys: [jwk] }));
  keys[alg] = await new SignJWT({ scope: 'metrics:read' })
    .setProtectedHeader({ alg, kid: alg })
    .setSubject('prometheus')
    .setIssuer('bench')
    .setAudience('metrics')
    .setExpirationTime('1h')
    .sign(privateKey);
}
const tls = { cert: pki.server.certPem, key: pki.server.keyPem };
const jwtAuth = (alg) => ({ jwks_file: join(dir, `${alg}.json`), issuer: 'bench', audience: 'metrics', algorithms: [alg], required_scopes: ['metrics:read'] });
const variants = [
  { name: 'no auth', config: {}, authorization: undefined },
  {
    name: 'static bearer token',
    config: { bearer_auth: { tokens: [{ name: 'p', token_sha256: createHash('sha256').update(token).digest('hex') }] } },
    authorization: `Bearer ${token}`,
  },
  { name: 'JWT ES256 (local JWKS)', config: { jwt_auth: jwtAuth('ES256') }, authorization: `Bearer ${keys.ES256}` },
  { name: 'JWT RS256 (local JWKS)', config: { jwt_auth: jwtAuth('RS256') }, authorization: `Bearer ${keys.RS256}` },
];
for (const v of variants) {
  v.guard = await createGuard({ config: { tls_server_config: tls, ...v.config }, source: registry, logger: silentLogger, watch: false });
  const [bound] = await v.guard.listen('127.0.0.1:0');
  v.url = `https://localhost:${bound.port}/metrics`;
  v.agent = new Agent({ keepAlive: true, maxSockets: 1 });
  v.lat = [];
}
const ca = pki.ca.certPem;

for (let i = 0; i < 10; i++) for (const v of variants) await get(v.url, v.agent, ca, v.authorization);
for (let done = 0; done < SCRAPES; done += BLOCK) {
  for (const v of variants) for (let i = 0; i < BLOCK; i++) v.lat.push(await get(v.url, v.agent, ca, v.authorization));
}

const f = (x) => x.toFixed(3);
const base = stats(variants[0].lat).p50;
console.log(`# Scrape latency by authentication method: ${SCRAPES} keep-alive HTTPS scrapes each, ${SERIES} series, node ${process.version}`);
console.log('| method | p50 ms | p90 ms | p99 ms | p50 ratio vs no auth |');
console.log('|---|---|---|---|---|');
for (const v of variants) {
  const s = stats(v.lat);
  console.log(`| ${v.name} | ${f(s.p50)} | ${f(s.p90)} | ${f(s.p99)} | ${(s.p50 / base).toFixed(3)} |`);
}
for (const v of variants) {
  v.agent.destroy();
  await v.guard.close();
}
