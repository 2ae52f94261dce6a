/**
 * The harness of the standalone-server suites over real sockets and real TLS handshakes
 * (test/server-tls-*.test.ts, test/server-connections.test.ts, test/server-http.test.ts): a test
 * PKI, guards started on 127.0.0.1 with a capturing logger and closed after each test, and the
 * raw-socket helpers those suites share.
 *
 * `pki` and `clientIpv6` are live bindings: call `useTlsServer()` once at the top of a test file
 * and read them inside tests (each test file runs in its own module graph).
 */
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeAll, expect } from 'vitest';
import { createGuard, type Guard, type GuardOptions } from '../../src/guard.js';
import type { WebConfigInput, TlsServerConfigInput } from '../../src/config/schema.js';
import { generateClientCert } from '../../src/tools/pki/generate.js';
import { testPki, type TestCert, type TestPki } from './pki.js';
import type { ScrapeOptions, ScrapeResult } from './client.js';
import { capturingLogger, type LogLine } from './logger.js';

export interface Running {
  guard: Guard;
  port: number;
  /** `https://127.0.0.1:PORT` (the server certificate names 127.0.0.1). */
  base: string;
  url: string;
  logs: LogLine[];
}

export let pki: TestPki;
/** Client cert (signed by `ca`) with an IPv6 SAN written uncompressed. */
export let clientIpv6: TestCert;
/** Guards started by `start()`; closed after each test (a block that shares one removes it). */
export const guards: Guard[] = [];

/** Registers the beforeAll that creates the PKI and the afterEach that closes every started guard. */
export function useTlsServer(): void {
  beforeAll(async () => {
    pki = await testPki();
    const pair = await generateClientCert(pki.ca, { commonName: 'v6-scraper', sans: ['2001:db8:0:0:0:0:0:7'] });
    clientIpv6 = { ...pair, certFile: '', keyFile: '' };
  });
  afterEach(async () => {
    await Promise.all(guards.splice(0).map((g) => g.close(0)));
  });
}

/** A registry with one counter, `demo_events_total 3`, which `expectServed` looks for. */
export function sourceRegistry(): Registry {
  const registry = new Registry();
  const c = new Counter({ name: 'demo_events_total', help: 'Demo counter.', registers: [registry] });
  c.inc(3);
  return registry;
}

/** Starts a guard on 127.0.0.1 (port chosen by the OS) with a capturing logger; closed after the test. */
export async function start(config: WebConfigInput, extra: Partial<GuardOptions> = {}): Promise<Running> {
  const logs: LogLine[] = [];
  const guard = await createGuard({ config, source: sourceRegistry(), logger: capturingLogger(logs), watch: false, ...extra });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  const port = bound!.port;
  const base = `https://127.0.0.1:${port}`;
  return { guard, port, base, url: `${base}${extra.telemetryPath ?? '/metrics'}`, logs };
}

/** `tls_server_config` with the ECDSA server cert (by file) plus `extra`. */
export function tlsConfig(extra: TlsServerConfigInput = {}): TlsServerConfigInput {
  return { cert_file: pki.server.certFile, key_file: pki.server.keyFile, ...extra };
}

/** Scrape options that trust the test CA and present `cert` (none when undefined). */
export function withClientCert(cert: TestCert | undefined, options: ScrapeOptions = {}): ScrapeOptions {
  return { ca: pki.ca.certPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}), ...options };
}

/** A 200 with the source registry's body. */
export function expectServed(r: ScrapeResult): void {
  expect(r.error, `${r.error}: ${r.errorMessage}`).toBeUndefined();
  expect(r.status).toBe(200);
  expect(r.body).toContain('demo_events_total 3');
}

/** A refused handshake or a connection closed right after it: no HTTP status ever arrives. */
export function expectRefused(r: ScrapeResult): void {
  expect(r.status, `unexpectedly answered ${r.status}`).toBeUndefined();
  expect(r.error).toBeDefined();
}

/** Opens a raw TCP connection, writes `bytes` (if any) and collects what comes back until close. */
export function rawExchange(port: number, bytes: Buffer | string | undefined, giveUpMs = 3000): Promise<{ data: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    const socket = netConnect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed: false, ms: performance.now() - t0 });
    }, giveUpMs);
    socket.on('connect', () => {
      if (bytes !== undefined) socket.write(bytes);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed: true, ms: performance.now() - t0 });
    });
  });
}

/** A TLS connection that completes its handshake (or fails), kept open for the caller. */
export function openTls(port: number): Promise<{ socket?: TLSSocket; error?: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca.certPem, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ error: 'timeout' });
    }, 3000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve({ socket });
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error: e.code ?? e.message });
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ error: 'closed' });
    });
  });
}

/** One HTTPS GET from a chosen local address (127.0.0.0/8 is all loopback on Linux). */
export function scrapeFrom(localAddress: string, url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest(url, { agent: false, ca: pki.ca.certPem, localAddress, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end();
  });
}

/** The sum of the samples of counter `name` in `registry` whose labels include `labels`. */
export async function counterValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return NaN;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
