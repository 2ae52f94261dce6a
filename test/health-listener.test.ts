/**
 * The health listener (`guard.listenHealth`, `serve --web.health-listen-address`): with
 * `RequireAndVerifyClientCert` on the metrics listener, a client without a certificate gets 200
 * from /healthz and /readyz on the health listener and no metrics anywhere. Real sockets, real TLS
 * handshakes, certificates generated at run time; the CLI case runs the built dist/cli.js.
 */
import { once } from 'node:events';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, Gauge } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import type { WebConfigInput } from '../src/config/schema.js';
import { upstreamSource } from '../src/exposition/upstream.js';
import { serveCommand } from '../src/tools/cli/serve.js';
import { ScrapeguardError } from '../src/errors.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape, type ScrapeResult } from './helpers/client.js';
import { runCli } from './helpers/cli.js';
import { startServe, ensureBuilt, freePort, sleep, stopAll, type RunningProcess } from './e2e/support.js';

let pki: TestPki;
const guards: Guard[] = [];
const servers: Server[] = [];
const processes: RunningProcess[] = [];
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

beforeAll(async () => {
  pki = await testPki();
});
afterAll(async () => {
  await Promise.all(guards.map((g) => g.close(0)));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await stopAll(processes);
});

function mtlsConfig(extra: WebConfigInput = {}): WebConfigInput {
  return {
    tls_server_config: {
      cert_file: pki.server.certFile,
      key_file: pki.server.keyFile,
      client_auth_type: 'RequireAndVerifyClientCert',
      client_ca_file: pki.ca.certFile,
    },
    ...extra,
  };
}

function registryWithMetric(): Registry {
  const registry = new Registry();
  new Gauge({ name: 'secret_business_metric', help: 'x', registers: [registry] }).set(42);
  return registry;
}

async function guardWith(options: Partial<Parameters<typeof createGuard>[0]> = {}): Promise<Guard> {
  const guard = await createGuard({ config: mtlsConfig(), source: registryWithMetric(), logger: quiet, watch: false, ...options });
  guards.push(guard);
  return guard;
}

function expectNoMetrics(r: ScrapeResult): void {
  expect(r.body).not.toContain('secret_business_metric');
}

describe('guard.listenHealth', () => {
  it('with RequireAndVerifyClientCert on the metrics listener, a client without a certificate gets 200 on /healthz and /readyz of the health listener and no metrics anywhere', async () => {
    const guard = await guardWith();
    const [metrics] = await guard.listen('127.0.0.1:0');
    const [health] = await guard.listenHealth('127.0.0.1:0');
    expect(health!.scheme).toBe('http');
    const healthz = await scrape(`${health!.url}/healthz`);
    expect([healthz.status, healthz.body]).toEqual([200, 'ok\n']);
    expect(healthz.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(healthz.headers['cache-control']).toBe('no-store');
    const readyz = await scrape(`${health!.url}/readyz`);
    expect([readyz.status, readyz.body]).toEqual([200, 'ready\n']);
    // Nothing else on the health listener: not the telemetry path, not any other path.
    for (const path of ['/metrics', '/', '/healthz/', '/readyz/x', '/metrics?x=1', '/../metrics']) {
      const r = await scrape(`${health!.url}${path}`);
      expect(r.status, path).toBe(404);
      expectNoMetrics(r);
    }
    const post = await scrape(`${health!.url}/healthz`, { method: 'POST' });
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
    const head = await scrape(`${health!.url}/readyz`, { method: 'HEAD' });
    expect([head.status, head.body]).toEqual([200, '']);
    // The metrics listener still refuses a client without a certificate …
    const anonymous = await scrape(`${metrics!.url}/metrics`, { ca: pki.ca.certPem });
    expect(anonymous.status).toBeUndefined();
    expectNoMetrics(anonymous);
    // … and serves one with a verified certificate.
    const client = await scrape(`${metrics!.url}/metrics`, { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });
    expect(client.status).toBe(200);
    expect(client.body).toContain('secret_business_metric 42');
  });

  it('tls: true serves the configuration certificate and asks for no client certificate (an untrusted one is not refused either)', async () => {
    const guard = await guardWith();
    const [health] = await guard.listenHealth('127.0.0.1:0', { tls: true });
    expect(health!.scheme).toBe('https');
    const r = await scrape(`${health!.url}/healthz`, { ca: pki.ca.certPem });
    expect([r.status, r.body, r.protocol]).toEqual([200, 'ok\n', 'TLSv1.3']);
    const untrusted = await scrape(`${health!.url}/readyz`, { ca: pki.ca.certPem, cert: pki.clientOtherCa.certPem, key: pki.clientOtherCa.keyPem });
    expect(untrusted.status).toBe(200);
    // Plain HTTP on the TLS health port gets Go's answer, as on the metrics port.
    const plain = await scrape(`http://127.0.0.1:${health!.port}/healthz`);
    expect(plain.status).toBe(400);
    const metrics = await scrape(`${health!.url}/metrics`, { ca: pki.ca.certPem });
    expect(metrics.status).toBe(404);
    expectNoMetrics(metrics);
  });

  it('tls: { cert, key } serves its own certificate', async () => {
    const guard = await guardWith();
    const [health] = await guard.listenHealth('127.0.0.1:0', { tls: { cert: pki.serverRsa.certPem, key: pki.serverRsa.keyPem } });
    expect((await scrape(`${health!.url}/healthz`, { ca: pki.rsaCa.certPem })).status).toBe(200);
    // The metrics CA does not verify it: it really is the other certificate.
    expect((await scrape(`${health!.url}/healthz`, { ca: pki.ca.certPem })).status).toBeUndefined();
  });

  it('options fail closed: unknown keys, wrong types, a key of another certificate, tls: true without tls_server_config, other TLS on a second call', async () => {
    const guard = await guardWith();
    await expect(guard.listenHealth('127.0.0.1:0', { tsl: true } as never)).rejects.toThrow(/unknown option `tsl` \(did you mean `tls`\?\)/);
    await expect(guard.listenHealth('127.0.0.1:0', { tls: 'yes' } as never)).rejects.toThrow(/option `tls` must be/);
    await expect(guard.listenHealth('127.0.0.1:0', { readyWindowMs: 0 })).rejects.toThrow(/readyWindowMs/);
    await expect(guard.listenHealth('127.0.0.1:0', { tls: { cert: pki.server.certPem } } as never)).rejects.toThrow(/tls.key` is required/);
    await expect(guard.listenHealth('127.0.0.1:0', { tls: { cert: pki.server.certPem, key: pki.serverRsa.keyPem } })).rejects.toThrow(/does not belong/);
    await expect(guard.listenHealth('8081')).rejects.toThrow(TypeError);
    const plainGuard = await guardWith({ config: {} });
    await expect(plainGuard.listenHealth('127.0.0.1:0', { tls: true })).rejects.toThrow(/tls_server_config/);
    await guard.listenHealth('127.0.0.1:0');
    await expect(guard.listenHealth('127.0.0.1:0', { tls: true })).rejects.toThrow(/already serves plain HTTP/);
  });

  it('the health listener is bounded like the metrics listener, with a connection budget of its own', { timeout: 30_000 }, async () => {
    const refusals: unknown[] = [];
    const logger = { ...quiet, warn: (message: string, fields?: unknown) => void (message === 'connection refused' && refusals.push(fields)) };
    const guard = await guardWith({
      logger,
      config: mtlsConfig({ limits: { max_connections_per_client: 2, read_header_timeout: '1s', request_timeout: '1s' } }),
    });
    const [metrics] = await guard.listen('127.0.0.1:0');
    const [health] = await guard.listenHealth('127.0.0.1:0');
    const open = async (port: number): Promise<Socket> => {
      const socket = netConnect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      return socket;
    };
    const held = [await open(health!.port), await open(health!.port)];
    // A third connection from the same address is refused by the per-address cap …
    const third = await open(health!.port);
    await Promise.race([once(third, 'close'), sleep(10_000).then(() => expect.fail('third connection not closed'))]);
    expect(refusals).toContainEqual(expect.objectContaining({ reason: 'per_client_limit', limit: 2 }));
    // … while the metrics listener keeps its own budget: the same address still connects there.
    const scraped = await scrape(`${metrics!.url}/metrics`, { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });
    expect(scraped.status).toBe(200);
    expect(held.every((socket) => !socket.destroyed)).toBe(true);
    for (const socket of held) socket.destroy();
    // A request that never completes its headers is cut off by read_header_timeout.
    const slow = await open(health!.port);
    const closed = once(slow, 'close');
    slow.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await Promise.race([closed, sleep(10_000).then(() => expect.fail('slow headers not cut off'))]);
    let ok: ScrapeResult | undefined;
    for (let i = 0; i < 50 && ok?.status !== 200; i++) {
      ok = await scrape(`${health!.url}/healthz`);
      if (ok.status !== 200) await sleep(50);
    }
    expect(ok?.status).toBe(200);
  });

  it(
    'sidecar: /readyz asks the upstream when no scrape succeeded recently (once for many probes) and answers 503 while it fails',
    { timeout: 30_000 },
    async () => {
      let failing = true;
      let hits = 0;
      let release!: () => void;
      let held = new Promise<void>((r) => (release = r));
      const upstream = createServer((_req, res) => {
        hits++;
        void held.then(() => {
          res.writeHead(failing ? 500 : 200, { 'content-type': 'text/plain; version=0.0.4' });
          res.end('node_up 1\n');
        });
      });
      servers.push(upstream);
      upstream.listen(0, '127.0.0.1');
      await once(upstream, 'listening');
      const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/metrics`;
      const guard = await guardWith({ source: upstreamSource({ url }) });
      const [metrics] = await guard.listen('127.0.0.1:0');
      const [health] = await guard.listenHealth('127.0.0.1:0');
      release();
      const notReady = await scrape(`${health!.url}/readyz`);
      expect([notReady.status, notReady.body]).toEqual([503, 'not ready\n']);
      // Liveness does not depend on the upstream.
      expect((await scrape(`${health!.url}/healthz`)).status).toBe(200);
      // The upstream recovers; a real scrape through the metrics listener makes the guard ready.
      failing = false;
      const served = await scrape(`${metrics!.url}/metrics`, { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });
      expect(served.status).toBe(200);
      expect((await scrape(`${health!.url}/readyz`)).status).toBe(200);

      // A fresh guard on the healthy upstream: 20 probes at once before any scrape ask it once.
      held = new Promise<void>((r) => (release = r));
      const second = await guardWith({ source: upstreamSource({ url }) });
      const [health2] = await second.listenHealth('127.0.0.1:0');
      const before = hits;
      const probes = Promise.all(Array.from({ length: 20 }, () => scrape(`${health2!.url}/readyz`)));
      for (let i = 0; i < 200 && hits === before; i++) await sleep(10);
      await sleep(200);
      release();
      const answers = await probes;
      expect(answers.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 200));
      expect(hits - before).toBe(1);
    },
  );

  it('tls: true follows reloads: a new certificate is served, a config without TLS is refused and the last good one kept', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-health-reload-'));
    const file = join(dir, 'web-config.yml');
    const tlsYaml = (cert: string, key: string) => ['tls_server_config:', `  cert_file: ${cert}`, `  key_file: ${key}`, ''].join('\n');
    writeFileSync(file, tlsYaml(pki.server.certFile, pki.server.keyFile));
    const guard = await createGuard({ config: file, source: registryWithMetric(), logger: quiet, watch: false });
    guards.push(guard);
    const [health] = await guard.listenHealth('127.0.0.1:0', { tls: true });
    expect((await scrape(`${health!.url}/healthz`, { ca: pki.ca.certPem })).status).toBe(200);
    writeFileSync(file, tlsYaml(pki.serverRsa.certFile, pki.serverRsa.keyFile));
    expect(await guard.reload()).toBe(true);
    expect((await scrape(`${health!.url}/healthz`, { ca: pki.rsaCa.certPem })).status).toBe(200);
    writeFileSync(file, 'http_server_config:\n  http2: false\n');
    expect(await guard.reload()).toBe(false);
    expect(guard.config.tls).toBeDefined();
    expect((await scrape(`${health!.url}/healthz`, { ca: pki.rsaCa.certPem })).status).toBe(200);
  });

  it('after close(), nothing listens on the health address any more', async () => {
    const guard = await createGuard({ config: mtlsConfig(), source: registryWithMetric(), logger: quiet, watch: false });
    const [health] = await guard.listenHealth('127.0.0.1:0');
    expect((await scrape(`${health!.url}/readyz`)).status).toBe(200);
    await guard.close(0);
    expect((await scrape(`${health!.url}/healthz`)).error).toBe('ECONNREFUSED');
  });
});

describe('serve --web.health-listen-address', () => {
  async function usageError(argv: string[]): Promise<string> {
    const error = await runCli(serveCommand, argv).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScrapeguardError);
    expect((error as ScrapeguardError).code).toBe('USAGE');
    return (error as Error).message;
  }

  it('usage errors: --web.health-tls without an address, a malformed address, --web.health-tls without tls_server_config', async () => {
    expect(await usageError(['--web.health-tls'])).toMatch(/--web.health-tls needs --web.health-listen-address/);
    expect(await usageError(['--web.health-listen-address', '8081'])).toMatch(/invalid listen address "8081"/);
    const port = await freePort();
    expect(await usageError(['--web.listen-address', `127.0.0.1:${port}`, '--web.health-listen-address', '127.0.0.1:0', '--web.health-tls'])).toMatch(
      /--web.health-tls serves the certificate of tls_server_config/,
    );
  });

  it(
    'dist/cli.js: with RequireAndVerifyClientCert, an HTTP client without a certificate gets 200 from the health listener and no metrics anywhere',
    { timeout: 200_000 },
    async () => {
      await ensureBuilt();
      const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-health-'));
      const config = join(dir, 'web-config.yml');
      writeFileSync(
        config,
        [
          'tls_server_config:',
          `  cert_file: ${pki.server.certFile}`,
          `  key_file: ${pki.server.keyFile}`,
          '  client_auth_type: RequireAndVerifyClientCert',
          `  client_ca_file: ${pki.ca.certFile}`,
          '',
        ].join('\n'),
      );
      const [metricsPort, healthPort] = [await freePort(), await freePort()];
      const proc = startServe(
        ['--web.config.file', config, '--web.listen-address', `127.0.0.1:${metricsPort}`, '--web.health-listen-address', `127.0.0.1:${healthPort}`],
        dir,
      );
      processes.push(proc);
      for (let i = 0; i < 300 && !proc.output().includes('health on '); i++) {
        if (proc.hasExited()) break;
        await sleep(50);
      }
      expect(proc.output()).toContain(`health on http://127.0.0.1:${healthPort}/healthz and http://127.0.0.1:${healthPort}/readyz`);
      const healthz = await scrape(`http://127.0.0.1:${healthPort}/healthz`);
      expect([healthz.status, healthz.body]).toEqual([200, 'ok\n']);
      expect((await scrape(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
      const onHealth = await scrape(`http://127.0.0.1:${healthPort}/metrics`);
      expect(onHealth.status).toBe(404);
      expect(onHealth.body).not.toContain('process_cpu');
      const anonymous = await scrape(`https://127.0.0.1:${metricsPort}/metrics`, { ca: pki.ca.certPem });
      expect(anonymous.status).toBeUndefined();
      const plainOnMetrics = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(plainOnMetrics.status).toBe(400);
      expect(plainOnMetrics.body).not.toContain('process_cpu');
      const client = await scrape(`https://127.0.0.1:${metricsPort}/metrics`, { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });
      expect(client.status).toBe(200);
      expect(client.body).toContain('process_cpu');
      proc.child.kill('SIGTERM');
      expect((await proc.exited).code).toBe(0);
    },
  );
});
