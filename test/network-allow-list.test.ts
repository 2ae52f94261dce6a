/**
 * `allowed_networks` and the `networks` condition of access rules: strict parsing of ranges
 * (IPv4, IPv6, IPv4-mapped), config errors with file/line/key, the standalone server refusing a
 * client outside the list before any TLS byte (a replayed real ClientHello gets no ServerHello),
 * reloads, the core check for mounted adapters, and a compliance group limited to one subnet.
 * Second client addresses are loopback aliases (127.0.0.2, 127.0.0.3).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import { loadConfigFile, loadConfigObject } from '../src/config/load.js';
import { metricsHandler } from '../src/adapters/http.js';
import { compileNetworks, parseNetwork, unmapIpv4 } from '../src/net/networks.js';
import { AccessRules } from '../src/access/rules.js';
import type { LogFields, Logger } from '../src/log.js';
import type { AuditRecord } from '../src/audit/audit.js';
import { scrape } from './helpers/client.js';
import { issuesOf } from './helpers/config-issues.js';
import { testPki, type TestPki } from './helpers/pki.js';

let pki: TestPki;
let clientHello: Buffer;
const open: Guard[] = [];

/** A real ClientHello, captured from Node's TLS client by a plain TCP server. */
async function captureClientHello(): Promise<Buffer> {
  const server = createNetServer();
  const first = new Promise<Buffer>((resolve) => server.on('connection', (s) => s.once('data', (d: Buffer) => (resolve(d), s.destroy()))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = tlsConnect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
  client.on('error', () => undefined);
  const hello = await first;
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return hello;
}

/** Sends `bytes` from `localAddress` and collects every byte the server sends until it closes. */
function rawFrom(port: number, localAddress: string, bytes: Buffer, timeoutMs = 3000, untilFirstByte = false): Promise<{ received: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = netConnect({ port, host: '127.0.0.1', localAddress }, () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closed: false });
    }, timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (untilFirstByte) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ received: Buffer.concat(chunks), closed: false });
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closed: true });
    });
  });
}

function recordingLogger(): { logger: Logger; lines: { level: string; message: string; fields: LogFields }[] } {
  const lines: { level: string; message: string; fields: LogFields }[] = [];
  const at = (level: string) => (message: string, fields?: LogFields) => lines.push({ level, message, fields: fields ?? {} });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const entry = metric?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return entry?.value;
}

function source(): Registry {
  const registry = new Registry();
  new Counter({ name: 'app_requests_total', help: 'requests', registers: [registry] }).inc();
  new Counter({ name: 'compliance_audits_total', help: 'audits', registers: [registry] }).inc();
  return registry;
}

beforeAll(async () => {
  pki = await testPki();
  clientHello = await captureClientHello();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close(0)));
});

describe('parsing network ranges', () => {
  test('CIDR ranges and single addresses are normalised; IPv4-mapped ranges become IPv4', () => {
    const cidr = (text: string) => {
      const p = parseNetwork(text);
      return p.ok ? p.range.cidr : p.message;
    };
    expect(cidr('10.0.0.0/8')).toBe('10.0.0.0/8');
    expect(cidr('192.168.1.7')).toBe('192.168.1.7/32');
    expect(cidr('0.0.0.0/0')).toBe('0.0.0.0/0');
    expect(cidr('FD00::/8')).toBe('fd00::/8');
    expect(cidr('2001:db8:0:0:0:0:0:0/32')).toBe('2001:db8::/32');
    expect(cidr('::1')).toBe('::1/128');
    expect(cidr('::ffff:10.0.0.0/104')).toBe('10.0.0.0/8');
    expect(cidr('::ffff:a00:1')).toBe('10.0.0.1/32');
    expect(cidr('64:ff9b::192.0.2.0/120')).toBe('64:ff9b::c000:200/120');
  });

  test('host bits past the prefix, zone ids, bad prefixes and garbage are refused with the entry named', () => {
    const message = (text: string) => {
      const p = parseNetwork(text);
      return p.ok ? 'ok' : p.message;
    };
    expect(message('10.0.0.1/8')).toBe('"10.0.0.1/8" has address bits set past the /8 prefix; did you mean "10.0.0.0/8"?');
    expect(message('fd00::1/8')).toBe('"fd00::1/8" has address bits set past the /8 prefix; did you mean "fd00::/8"?');
    expect(message('fe80::1%eth0')).toMatch(/zone ids/);
    expect(message('10.0.0.0/33')).toMatch(/from 0 to 32/);
    expect(message('fd00::/129')).toMatch(/from 0 to 128/);
    expect(message('10.0.0.0/08')).toMatch(/whole number/);
    expect(message('10.0.0.0/')).toMatch(/whole number/);
    expect(message('10.0.0.0/8/8')).toMatch(/not an IP address or CIDR range/);
    expect(message('010.0.0.0/8')).toMatch(/not an IP address or CIDR range/);
    expect(message('example.com')).toMatch(/not an IP address or CIDR range/);
    expect(message('::ffff:0:0/80')).toMatch(/IPv4-mapped/);
  });

  test('matching: IPv4 clients match in both spellings, IPv6 ranges match only IPv6 clients', () => {
    const m = compileNetworks(['127.0.0.1/32', 'fd00::/8']);
    expect(m.contains('127.0.0.1')).toBe(true);
    expect(m.contains('::ffff:127.0.0.1')).toBe(true);
    expect(m.contains('127.0.0.2')).toBe(false);
    expect(m.contains('fd12::1')).toBe(true);
    expect(m.contains('fe80::1')).toBe(false);
    expect(m.contains('unknown')).toBe(false);
    expect(compileNetworks(['::/0']).contains('10.1.2.3')).toBe(false);
    expect(unmapIpv4('::ffff:7f00:2')).toBe('127.0.0.2');
    expect(unmapIpv4('::1')).toBe('::1');
  });
});

describe('allowed_networks in web-config.yml', () => {
  test('a bad entry is an error naming the file, line and key; an empty list and a non-list are errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-networks-'));
    const file = join(dir, 'web-config.yml');
    writeFileSync(file, ['allowed_networks:', '  - 10.0.0.0/8', '  - 10.0.0.1/8', '  - fe80::1%eth0'].join('\n') + '\n');
    const issues = await issuesOf(loadConfigFile(file));
    expect(issues.map((i) => [i.path, i.line, i.message])).toEqual([
      ['allowed_networks[1]', 3, '"10.0.0.1/8" has address bits set past the /8 prefix; did you mean "10.0.0.0/8"?'],
      ['allowed_networks[2]', 4, '"fe80::1%eth0": zone ids (%…) are not allowed in a network range'],
    ]);
    expect(issues.every((i) => i.file === file)).toBe(true);
    expect((await issuesOf(loadConfigObject({ allowed_networks: [] }))).map((i) => i.message)).toEqual([
      'an empty list refuses every client; leave allowed_networks out to let every address connect',
    ]);
    expect((await issuesOf(loadConfigObject({ allowed_networks: '10.0.0.0/8' as never }))).map((i) => [i.path, i.message])).toEqual([
      ['allowed_networks', 'expected a list, got a string'],
    ]);
    expect((await issuesOf(loadConfigObject({ allowed_netwroks: ['10.0.0.0/8'] }))).map((i) => i.message)).toEqual([
      'unknown key "allowed_netwroks"; did you mean "allowed_networks"?',
    ]);
  });

  test('entries are normalised and de-duplicated; absent means no list', async () => {
    expect((await loadConfigObject({ allowed_networks: ['::ffff:127.0.0.0/104', '127.0.0.0/8', '::1'] })).allowedNetworks).toEqual(['127.0.0.0/8', '::1/128']);
    expect((await loadConfigObject({})).allowedNetworks).toBeUndefined();
  });

  test('an access rule networks entry is validated the same way', async () => {
    const issues = await issuesOf(
      loadConfigObject({
        basic_auth_users: {},
        bearer_auth: { tokens: [{ name: 'a', token_sha256: 'a'.repeat(64) }] },
        access_rules: {
          rules: [
            { groups: ['compliance'], networks: ['10.1.0.0/15'] },
            { groups: ['x'], networks: [] },
          ],
        },
      }),
    );
    expect(issues.filter((i) => i.path.startsWith('access_rules')).map((i) => [i.path, i.message])).toEqual([
      ['access_rules.rules[0].networks[0]', '"10.1.0.0/15" has address bits set past the /15 prefix; did you mean "10.0.0.0/15"?'],
      ['access_rules.rules[1].networks', 'an empty list matches no caller; leave networks out to match callers from anywhere'],
    ]);
  });
});

describe('the standalone server checks allowed_networks when it accepts the connection', () => {
  test('a client outside allowed_networks gets no ServerHello: its real ClientHello is answered with nothing and the socket is closed', async () => {
    const registry = new Registry();
    const { logger, lines } = recordingLogger();
    const guard = await createGuard({
      config: { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile }, allowed_networks: ['127.0.0.1/32'] },
      source: source(),
      selfMetrics: registry,
      logger,
      watch: false,
    });
    open.push(guard);
    const [bound] = await guard.listen('127.0.0.1:0');
    const port = bound!.port;

    const refused = await rawFrom(port, '127.0.0.2', clientHello);
    expect(refused.closed).toBe(true);
    expect(refused.received.length).toBe(0);

    const allowed = await rawFrom(port, '127.0.0.1', clientHello, 5000, true);
    // A TLS handshake record (the ServerHello) comes back to the allowed address.
    expect(allowed.received[0]).toBe(0x16);

    expect(await metricValue(registry, 'scrapeguard_connections_refused_total', { reason: 'network_not_allowed' })).toBe(1);
    expect(
      lines.some(
        (l) => l.level === 'warn' && l.message === 'connection refused' && l.fields.reason === 'network_not_allowed' && l.fields.remote === '127.0.0.2',
      ),
    ).toBe(true);
    const ok = await scrape(`${bound!.url}/metrics`, { ca: pki.ca.certPem, localAddress: '127.0.0.1' });
    expect(ok.status).toBe(200);
    const no = await scrape(`${bound!.url}/metrics`, { ca: pki.ca.certPem, localAddress: '127.0.0.2' });
    expect(no.status).toBeUndefined();
    expect(no.error).toMatch(/ECONNRESET|EPIPE|ERR_SSL|socket/i);
  });

  test('IPv6: ::1 allowed by ::1/128, and 127.0.0.1 refused when only IPv6 ranges are listed', async () => {
    const guard = await createGuard({ config: { allowed_networks: ['::1/128'] }, source: source(), logger: recordingLogger().logger, watch: false });
    open.push(guard);
    const [v6] = await guard.listen('[::1]:0');
    const [v4] = await guard.listen('127.0.0.1:0');
    expect((await scrape(`${v6!.url}/metrics`)).status).toBe(200);
    expect((await scrape(`${v4!.url}/metrics`)).status).toBeUndefined();
  });

  test('a reload narrows the list: new connections are refused at accept, an open keep-alive connection gets 403', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-networks-reload-'));
    const file = join(dir, 'web-config.yml');
    writeFileSync(file, 'allowed_networks: [127.0.0.0/8]\n');
    const registry = new Registry();
    const guard = await createGuard({ config: file, source: source(), selfMetrics: registry, logger: recordingLogger().logger, watch: false });
    open.push(guard);
    const [bound] = await guard.listen('127.0.0.1:0');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: bound!.port, path: '/metrics', agent, localAddress: '127.0.0.2' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get()).toBe(200);
    writeFileSync(file, 'allowed_networks: [127.0.0.1/32]\n');
    expect(await guard.reload()).toBe(true);
    // Same keep-alive connection, opened before the reload: the core's check refuses the request.
    expect(await get()).toBe(403);
    agent.destroy();
    expect((await scrape(`${bound!.url}/metrics`, { localAddress: '127.0.0.2' })).status).toBeUndefined();
    expect((await scrape(`${bound!.url}/metrics`, { localAddress: '127.0.0.1' })).status).toBe(200);
    expect(await metricValue(registry, 'scrapeguard_transport_refusals_total', { reason: 'network_not_allowed' })).toBe(1);
    expect(await metricValue(registry, 'scrapeguard_connections_refused_total', { reason: 'network_not_allowed' })).toBe(1);
  });
});

describe('mounted adapters check allowed_networks in the core', () => {
  test('a request from outside allowed_networks on an application server is answered 403, counted and audited', async () => {
    const registry = new Registry();
    const records: AuditRecord[] = [];
    const guard = await createGuard({
      config: { allowed_networks: ['127.0.0.1/32'] },
      source: source(),
      selfMetrics: registry,
      logger: recordingLogger().logger,
      audit: (r) => records.push(r),
      watch: false,
    });
    open.push(guard);
    const server = createHttpServer(metricsHandler(guard));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    try {
      expect((await scrape(url, { localAddress: '127.0.0.1' })).status).toBe(200);
      const refused = await scrape(url, { localAddress: '127.0.0.2' });
      expect(refused.status).toBe(403);
      expect(refused.body).not.toContain('app_requests_total');
      expect(await metricValue(registry, 'scrapeguard_transport_refusals_total', { reason: 'network_not_allowed' })).toBe(1);
      expect(records.map((r) => [r.remote_address, r.status, r.reason])).toEqual([
        ['127.0.0.1', 200, null],
        ['127.0.0.2', 403, 'network_not_allowed'],
      ]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('access rules with a networks condition', () => {
  test('a compliance group sees its metrics only from its subnet; from elsewhere the next rule or the default applies', async () => {
    const token = 'compliance-token-0123456789abcdef';
    const { createHash } = await import('node:crypto');
    const guard = await createGuard({
      config: {
        bearer_auth: { tokens: [{ name: 'auditor', token_sha256: createHash('sha256').update(token).digest('hex'), groups: ['compliance'] }] },
        access_rules: { rules: [{ groups: ['compliance'], networks: ['127.0.0.3/32'], allow_metrics: ['compliance_.*'] }], default: 'deny' },
      },
      source: source(),
      logger: recordingLogger().logger,
      watch: false,
    });
    open.push(guard);
    const [bound] = await guard.listen('127.0.0.1:0');
    const headers = { authorization: `Bearer ${token}` };
    const inside = await scrape(`${bound!.url}/metrics`, { headers, localAddress: '127.0.0.3' });
    expect(inside.status).toBe(200);
    expect(inside.body).toContain('compliance_audits_total');
    expect(inside.body).not.toContain('app_requests_total');
    const outside = await scrape(`${bound!.url}/metrics`, { headers, localAddress: '127.0.0.2' });
    expect(outside.status).toBe(403);
  });

  test('decisions are cached per address when a rule has networks, and a rule with networks never matches without an address', () => {
    const rules = new AccessRules({
      rules: [{ principals: ['p'], groups: [], denyMetrics: [], enforceLabels: [], networks: ['10.0.0.0/8'] }],
      default: 'deny',
      onEmpty: 'ok',
    });
    const p = { name: 'p', method: 'basic' as const, groups: [] };
    expect(rules.decide(p, '10.1.2.3').decision).toBe('allow');
    expect(rules.decide(p, '192.0.2.1').decision).toBe('deny');
    expect(rules.decide(p, '10.1.2.3').decision).toBe('allow');
    expect(rules.decide(p).decision).toBe('deny');
    expect(rules.cached).toBe(3);
  });
});
