/**
 * Configuration generations of the standalone server: a reload builds a new generation for new
 * connections; an old one is released (its server closed, so Node's connection-check timer goes
 * with it) as soon as its last connection ends — reloads must not pile up servers and timers.
 */
import { Agent } from 'node:https';
import { afterEach, expect, it } from 'vitest';
import { GuardServer } from '../src/server/server.js';
import { toNodeHandler } from '../src/adapters/http.js';
import { createScrapeHandler, type GuardState } from '../src/core/handle.js';
import { loadConfigObject } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { noSelfMetrics } from '../src/metrics/self.js';
import { compileClientCertificatePolicy } from '../src/tls/server-options.js';
import { testPki } from './helpers/pki.js';
import { scrape } from './helpers/client.js';

let server: GuardServer | undefined;
afterEach(async () => {
  await server?.close(0);
  server = undefined;
});

async function stateFor(certFile: string, keyFile: string): Promise<GuardState> {
  const config = await loadConfigObject({ tls_server_config: { cert_file: certFile, key_file: keyFile } });
  return {
    config,
    responseHeaders: {},
    authenticators: {},
    expose: async () => ({ body: 'up 1\n', contentType: 'text/plain' }),
    clientCertificatePolicy: compileClientCertificatePolicy(config.tls!),
  };
}

const generationsOf = (s: GuardServer) => (s as unknown as { generations: Set<unknown> }).generations.size;

it('releases superseded generations once their connections are gone', async () => {
  const pki = await testPki();
  let state = await stateFor(pki.server.certFile, pki.server.keyFile);
  const handle = createScrapeHandler({ telemetryPath: '/metrics', logger: silentLogger, metrics: noSelfMetrics }, () => state);
  server = new GuardServer(toNodeHandler(handle, silentLogger), silentLogger, noSelfMetrics, state);
  const [bound] = await server.listen(['127.0.0.1:0']);
  const url = `https://localhost:${bound!.port}/metrics`;

  // Ten reloads with no connection open: only the current generation remains.
  for (let i = 0; i < 10; i++) server.apply((state = await stateFor(pki.server.certFile, pki.server.keyFile)));
  expect(generationsOf(server)).toBe(1);

  // A keep-alive connection pins its generation across a reload until it closes.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  expect((await scrape(url, { ca: pki.ca.certPem, agent })).status).toBe(200);
  server.apply((state = await stateFor(pki.serverExpired.certFile, pki.serverExpired.keyFile)));
  expect(generationsOf(server)).toBe(2);
  expect((await scrape(url, { ca: pki.ca.certPem, agent })).status).toBe(200); // old connection, old cert
  agent.destroy();
  await new Promise((r) => setTimeout(r, 100));
  expect(generationsOf(server)).toBe(1);
});
