// Cost of generating a scrape config (`scrapeguard scrape-config`, `guard.scrapeConfig`, `init`).
//
// Not a hot path, but it runs in CI pipelines and on every `init`: this shows where the time goes.
// Two configs from the same development PKI are generated alternately: mTLS only (PEM parsing, chain
// and key checks) and mTLS + basic auth (the same plus one bcrypt verification, cost 12, of the
// password file against the configured hash: the check that catches a wrong password before
// Prometheus gets 401s). Reports medians and their ratio.
//
// Run: npm run build && node bench/scrape-config.mjs
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hash } from '@node-rs/bcrypt';
import { loadConfigFile } from '../dist/index.js';
import { generateDevPki } from '../dist/pki.js';
import { generateScrapeConfig } from '../dist/scrape-config.js';

const RUNS = Number(process.env.RUNS ?? 30);
const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-bench-sc-'));
const pki = await generateDevPki();
const write = (name, text, mode = 0o600) => writeFileSync(join(dir, name), text, { mode });
write('ca.crt', pki.ca.certPem, 0o644);
write('server.crt', pki.server.certPem, 0o644);
write('server.key', pki.server.keyPem);
write('client.crt', pki.client.certPem, 0o644);
write('client.key', pki.client.keyPem);
write('password', 'bench-password');
const tls = { cert_file: 'server.crt', key_file: 'server.key', client_ca_file: 'ca.crt', client_auth_type: 'RequireAndVerifyClientCert' };
write('mtls.yml', JSON.stringify({ tls_server_config: tls }));
write('mtls-basic.yml', JSON.stringify({ tls_server_config: tls, basic_auth_users: { prometheus: await hash('bench-password', { cost: 12 }) } }));
const configs = { mtls: await loadConfigFile(join(dir, 'mtls.yml')), 'mtls+basic': await loadConfigFile(join(dir, 'mtls-basic.yml')) };

const times = { mtls: [], 'mtls+basic': [] };
for (let i = 0; i < RUNS + 3; i++) {
  for (const [name, config] of Object.entries(configs)) {
    const started = performance.now();
    const out = await generateScrapeConfig(config, { targets: ['localhost:9443'] });
    const ms = performance.now() - started;
    if (out.warnings.length > 0) throw new Error(`unexpected warnings: ${out.warnings.join('; ')}`);
    if (i >= 3) times[name].push(ms); // the first runs warm up the JIT and the thread pool
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const m = median(times.mtls);
const mb = median(times['mtls+basic']);
console.log(`generateScrapeConfig, ${RUNS} runs each (median):`);
console.log(`  mTLS only            ${m.toFixed(2)} ms`);
console.log(`  mTLS + basic (cost 12 password check)  ${mb.toFixed(2)} ms  (ratio ${(mb / m).toFixed(1)})`);
