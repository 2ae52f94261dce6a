/**
 * PROXY protocol v1/v2 on the standalone server's listeners: the strict parser (every accepted
 * form, every refusal, incremental input, bounded length, a property test over random splits and
 * random bytes), and the server over real sockets — the client address a trusted proxy names is
 * the one the audit log, allowed_networks, the per-address connection budget and the rate limit
 * see, over HTTP/1.1, HTTP/2 and plain HTTP; PROXY headers from untrusted peers, a trusted peer
 * that sends none, malformed and stalled headers are refused and counted. The HAProxy end-to-end
 * suite (test/e2e/haproxy-proxy-protocol.test.ts) repeats the essentials behind a real HAProxy.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { allowPropertyTime } from './helpers/property-runs.js';
import { createGuard, type Guard, type GuardOptions } from '../src/guard.js';
import { MAX_V2_HEADER_BYTES, parseProxyHeader, V2_SIGNATURE } from '../src/net/proxy-protocol.js';
import type { AuditRecord } from '../src/audit/audit.js';
import type { LogFields, Logger } from '../src/log.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { runCli } from './helpers/cli.js';
import { freePort, sleep } from './e2e/support.js';
import { serveCommand } from '../src/tools/cli/serve.js';
import { ScrapeguardError } from '../src/errors.js';

allowPropertyTime();

let pki: TestPki;
const open: Guard[] = [];

beforeAll(async () => {
  pki = await testPki();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close(0)));
});

/** A v2 header built by hand (independently of the parser): PROXY over TCP/IPv4 or IPv6. */
function v2(source: string, destination: string, sourcePort: number, destinationPort: number, tlvs: Buffer = Buffer.alloc(0)): Buffer {
  const six = source.includes(':');
  const addr = (a: string) => (six ? ipv6ToBytes(a) : Buffer.from(a.split('.').map(Number)));
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  const block = Buffer.concat([addr(source), addr(destination), ports, tlvs]);
  const head = Buffer.alloc(4);
  head[0] = 0x21;
  head[1] = six ? 0x21 : 0x11;
  head.writeUInt16BE(block.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, block]);
}

function v2Raw(verCmd: number, famProto: number, block: Buffer): Buffer {
  const head = Buffer.from([verCmd, famProto, block.length >> 8, block.length & 0xff]);
  return Buffer.concat([V2_SIGNATURE, head, block]);
}

function ipv6ToBytes(a: string): Buffer {
  const [l = '', r = ''] = a.split('::');
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

const v1 = (source: string, destination: string, sp: number, dp: number, proto = 'TCP4') =>
  Buffer.from(`PROXY ${proto} ${source} ${destination} ${sp} ${dp}\r\n`, 'latin1');

describe('the PROXY header parser', () => {
  test('v1 TCP4, TCP6 (IPv4-mapped sources read as IPv4) and UNKNOWN', () => {
    expect(parseProxyHeader(Buffer.concat([v1('192.0.2.7', '198.51.100.1', 51000, 9443), Buffer.from('rest')]))).toEqual({
      status: 'ok',
      header: { command: 'proxy', version: 1, source: '192.0.2.7', sourcePort: 51000, destination: '198.51.100.1', destinationPort: 9443 },
      length: 46,
    });
    const six = parseProxyHeader(v1('2001:db8::7', '::ffff:10.0.0.1', 0, 65535, 'TCP6'));
    expect(six).toMatchObject({ status: 'ok', header: { source: '2001:db8::7', destination: '10.0.0.1', sourcePort: 0, destinationPort: 65535 } });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 whatever\r\nGET'))).toEqual({
      status: 'ok',
      header: { command: 'local', version: 1 },
      length: 32,
    });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toMatchObject({ status: 'ok', header: { command: 'local' } });
  });

  test('v2 PROXY over IPv4 and IPv6 (TLVs skipped), LOCAL and AF_UNSPEC', () => {
    const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]);
    expect(parseProxyHeader(Buffer.concat([v2('192.0.2.7', '198.51.100.1', 51000, 9443, tlv), Buffer.from([0x16])]))).toEqual({
      status: 'ok',
      header: { command: 'proxy', version: 2, source: '192.0.2.7', sourcePort: 51000, destination: '198.51.100.1', destinationPort: 9443 },
      length: 16 + 12 + 6,
    });
    expect(parseProxyHeader(v2('2001:db8::7', '2001:db8::1', 1, 2))).toMatchObject({
      status: 'ok',
      header: { source: '2001:db8::7', destination: '2001:db8::1' },
      length: 52,
    });
    expect(parseProxyHeader(v2('::ffff:c000:207', '::1', 1, 2))).toMatchObject({ status: 'ok', header: { source: '192.0.2.7', destination: '::1' } });
    expect(parseProxyHeader(v2Raw(0x20, 0x00, Buffer.alloc(0)))).toEqual({ status: 'ok', header: { command: 'local', version: 2 }, length: 16 });
    // LOCAL with an address block: the block is skipped.
    expect(parseProxyHeader(v2Raw(0x20, 0x11, Buffer.alloc(12)))).toEqual({ status: 'ok', header: { command: 'local', version: 2 }, length: 28 });
    expect(parseProxyHeader(v2Raw(0x21, 0x00, Buffer.alloc(0)))).toEqual({ status: 'ok', header: { command: 'local', version: 2 }, length: 16 });
  });

  test('no signature is "absent"; partial headers are "incomplete"', () => {
    expect(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01]))).toEqual({ status: 'absent' });
    expect(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ status: 'absent' });
    expect(parseProxyHeader(Buffer.from('PRO'))).toEqual({ status: 'incomplete' });
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.7'))).toEqual({ status: 'incomplete' });
    expect(parseProxyHeader(V2_SIGNATURE.subarray(0, 7))).toEqual({ status: 'incomplete' });
    expect(parseProxyHeader(v2('192.0.2.7', '198.51.100.1', 1, 2).subarray(0, 20))).toEqual({ status: 'incomplete' });
  });

  test.each([
    ['v1 port above 65535', v1('192.0.2.7', '198.51.100.1', 65536, 1)],
    ['v1 port with a leading zero', Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 0443 1\r\n')],
    ['v1 IPv6 address under TCP4', v1('2001:db8::7', '198.51.100.1', 1, 2)],
    ['v1 IPv4 address under TCP6', v1('192.0.2.7', '2001:db8::1', 1, 2, 'TCP6')],
    ['v1 zone id', v1('fe80::1%eth0', 'fe80::2', 1, 2, 'TCP6')],
    ['v1 UDP', v1('192.0.2.7', '198.51.100.1', 1, 2, 'UDP4')],
    ['v1 double space', Buffer.from('PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n')],
    ['v1 missing field', Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n')],
    ['v1 longer than 107 bytes', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(100)}\r\n`)],
    ['v1 107 bytes and no CRLF', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(100)}`)],
    ['v1 control byte', Buffer.from('PROXY TCP4 192.0.2.7\x00')],
    ['v2 version 1', v2Raw(0x11, 0x11, Buffer.alloc(12))],
    ['v2 command 2', v2Raw(0x22, 0x11, Buffer.alloc(12))],
    ['v2 UDP over IPv4', v2Raw(0x21, 0x12, Buffer.alloc(12))],
    ['v2 UNIX stream', v2Raw(0x21, 0x31, Buffer.alloc(216))],
    ['v2 block shorter than the addresses', v2Raw(0x21, 0x21, Buffer.alloc(20))],
    ['v2 TLV overrunning the block', v2('192.0.2.7', '198.51.100.1', 1, 2, Buffer.from([0x04, 0x00, 0x09, 0x61]))],
    ['v2 TLV header cut short', v2('192.0.2.7', '198.51.100.1', 1, 2, Buffer.from([0x04, 0x00]))],
    ['v2 longer than the bound', v2Raw(0x21, 0x11, Buffer.alloc(MAX_V2_HEADER_BYTES))],
  ])('refused: %s', (_name, bytes) => {
    expect(parseProxyHeader(bytes).status).toBe('invalid');
  });

  test('an oversized v2 header is refused from its first 16 bytes, without waiting for the rest', () => {
    const head = v2Raw(0x21, 0x11, Buffer.alloc(0xffff)).subarray(0, 16);
    expect(parseProxyHeader(head)).toMatchObject({ status: 'invalid' });
  });

  test('property: any split of a valid header parses the same once complete, and random bytes never throw or over-read', () => {
    const headers = [
      v1('192.0.2.7', '198.51.100.1', 51000, 9443),
      v2('2001:db8::7', '2001:db8::1', 1, 2, Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32])),
      v2Raw(0x20, 0x00, Buffer.alloc(0)),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...headers), fc.nat(), fc.uint8Array({ maxLength: 64 }), (header, cutAt, tail) => {
        const cut = cutAt % header.length;
        expect(parseProxyHeader(header.subarray(0, cut)).status).toMatch(/incomplete|absent/);
        const whole = parseProxyHeader(Buffer.concat([header, Buffer.from(tail)]));
        expect(whole).toMatchObject({ status: 'ok', length: header.length });
      }),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([V2_SIGNATURE, Buffer.from(b)])),
          fc.string({ maxLength: 120 }).map((s) => Buffer.from(`PROXY ${s}`)),
        ),
        (bytes) => {
          const r = parseProxyHeader(Buffer.from(bytes));
          if (r.status === 'ok') expect(r.length).toBeLessThanOrEqual(bytes.length);
          if (r.status === 'incomplete') expect(bytes.length).toBeLessThan(MAX_V2_HEADER_BYTES);
        },
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The server over real sockets.

function recordingLogger(): { logger: Logger; lines: { level: string; message: string; fields: LogFields }[] } {
  const lines: { level: string; message: string; fields: LogFields }[] = [];
  const at = (level: string) => (message: string, fields?: LogFields) => lines.push({ level, message, fields: fields ?? {} });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return metric?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value;
}

interface Bench {
  guard: Guard;
  port: number;
  registry: Registry;
  records: AuditRecord[];
  lines: { level: string; message: string; fields: LogFields }[];
}

async function bench(config: GuardOptions['config'] & object, tls = true, proxyProtocol = true): Promise<Bench> {
  const registry = new Registry();
  const source = new Registry();
  new Counter({ name: 'app_requests_total', help: 'requests', registers: [source] }).inc();
  const records: AuditRecord[] = [];
  const { logger, lines } = recordingLogger();
  const guard = await createGuard({
    config: { ...(tls ? { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile } } : {}), ...config },
    source,
    selfMetrics: registry,
    logger,
    audit: (r) => records.push(r),
    trustedProxies: { addresses: ['127.0.0.1'] },
    watch: false,
  });
  open.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0', { proxyProtocol });
  return { guard, port: bound!.port, registry, records, lines };
}

/** A TCP connection from `localAddress` that first writes `header` (if any). */
function tcpWithHeader(port: number, localAddress: string, header: Buffer | undefined): Socket {
  const socket = netConnect({ port, host: '127.0.0.1', localAddress });
  if (header) socket.write(header);
  return socket;
}

/** One HTTPS GET over a connection that starts with `header`; status undefined when refused. */
function httpsVia(
  port: number,
  localAddress: string,
  header: Buffer | undefined,
  headers: Record<string, string> = {},
): Promise<{ status?: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/metrics',
        headers,
        timeout: 5000,
        // No agent: with one (even `agent: false`) node ignores createConnection.
        createConnection: () => tlsConnect({ socket: tcpWithHeader(port, localAddress, header), ca: pki.ca.certPem, servername: 'localhost' }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ body: '', error: e.code ?? e.message }));
    req.end();
  });
}

/** Writes `bytes` from `localAddress`; everything sent back, and whether the server closed. */
function rawFrom(port: number, localAddress: string, bytes: Buffer, timeoutMs = 5000): Promise<{ received: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = tcpWithHeader(port, localAddress, bytes);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closed: false });
    }, timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closed: true });
    });
  });
}

describe('PROXY protocol on a listener of the standalone server', () => {
  test('the client address a trusted proxy names (v2 and v1) is the one the audit log sees, over HTTP/1.1 and HTTP/2', async () => {
    const b = await bench({});
    expect((await httpsVia(b.port, '127.0.0.1', v2('192.0.2.7', '127.0.0.1', 40000, b.port))).status).toBe(200);
    expect((await httpsVia(b.port, '127.0.0.1', v1('2001:db8::7', '::1', 40001, b.port, 'TCP6'))).status).toBe(200);
    const session = http2Connect(`https://localhost:${b.port}`, {
      createConnection: () =>
        tlsConnect({
          socket: tcpWithHeader(b.port, '127.0.0.1', v2('198.51.100.23', '127.0.0.1', 40002, b.port)),
          ca: pki.ca.certPem,
          servername: 'localhost',
          ALPNProtocols: ['h2'],
        }),
    });
    const status = await new Promise<number>((resolve, reject) => {
      const stream = session.request({ ':path': '/metrics' });
      stream.on('response', (h) => resolve(h[':status'] as number));
      stream.on('error', reject);
      stream.resume();
    });
    session.close();
    expect(status).toBe(200);
    expect(b.records.map((r) => r.remote_address)).toEqual(['192.0.2.7', '2001:db8::7', '198.51.100.23']);
  });

  test('allowed_networks is checked on the named address: outside it, no ServerHello and the socket closed', async () => {
    const b = await bench({ allowed_networks: ['192.0.2.0/24'] });
    expect((await httpsVia(b.port, '127.0.0.1', v2('192.0.2.7', '127.0.0.1', 1, b.port))).status).toBe(200);
    const refused = await rawFrom(
      b.port,
      '127.0.0.1',
      Buffer.concat([v2('198.51.100.9', '127.0.0.1', 1, b.port), Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05])]),
    );
    expect(refused).toEqual({ received: Buffer.alloc(0), closed: true });
    expect(await metricValue(b.registry, 'scrapeguard_connections_refused_total', { reason: 'network_not_allowed' })).toBe(1);
    expect(b.lines.find((l) => l.fields.reason === 'network_not_allowed')?.fields).toMatchObject({ remote: '198.51.100.9', proxy: '127.0.0.1' });
  });

  test('the per-address connection budget and the rate limit count the named address, not the proxy', async () => {
    const b = await bench({ limits: { max_connections_per_client: 1, per_client_rate_limit: { interval: '1h', burst: 1 } } });
    // One connection held open for 192.0.2.7 (handshake not finished): a second one for it is refused.
    const held = tcpWithHeader(b.port, '127.0.0.1', v2('192.0.2.7', '127.0.0.1', 1, b.port));
    held.on('error', () => undefined);
    await new Promise((r) => held.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
    const second = await rawFrom(b.port, '127.0.0.1', Buffer.concat([v2('192.0.2.7', '127.0.0.1', 2, b.port), Buffer.from([0x16, 0x03, 0x01])]));
    expect(second.closed).toBe(true);
    expect(await metricValue(b.registry, 'scrapeguard_connections_refused_total', { reason: 'per_client_limit' })).toBe(1);
    held.destroy();
    await new Promise((r) => setTimeout(r, 50));
    // Rate limit (burst 1): the second request for one client address is 429, another address still 200.
    expect((await httpsVia(b.port, '127.0.0.1', v2('192.0.2.8', '127.0.0.1', 3, b.port))).status).toBe(200);
    expect((await httpsVia(b.port, '127.0.0.1', v2('192.0.2.8', '127.0.0.1', 4, b.port))).status).toBe(429);
    expect((await httpsVia(b.port, '127.0.0.1', v2('192.0.2.9', '127.0.0.1', 5, b.port))).status).toBe(200);
  });

  test('a PROXY header from a peer that is not a trusted proxy is refused and counted; that peer without a header is served as itself', async () => {
    const b = await bench({});
    const refused = await rawFrom(b.port, '127.0.0.2', Buffer.concat([v1('192.0.2.7', '127.0.0.1', 1, b.port), Buffer.from([0x16, 0x03, 0x01])]));
    expect(refused).toEqual({ received: Buffer.alloc(0), closed: true });
    const refusedV2 = await rawFrom(b.port, '127.0.0.2', v2('192.0.2.7', '127.0.0.1', 1, b.port));
    expect(refusedV2.closed).toBe(true);
    expect(await metricValue(b.registry, 'scrapeguard_connections_refused_total', { reason: 'proxy_header_refused' })).toBe(2);
    // A spoofed X-Forwarded-For from the untrusted peer changes nothing either.
    expect((await httpsVia(b.port, '127.0.0.2', undefined, { 'x-forwarded-for': '192.0.2.99' })).status).toBe(200);
    expect(b.records.map((r) => r.remote_address)).toEqual(['127.0.0.2']);
  });

  test('a trusted proxy that sends no header, or a malformed or unsupported one, is refused and counted', async () => {
    const b = await bench({});
    const none = await httpsVia(b.port, '127.0.0.1', undefined);
    expect(none.status).toBeUndefined();
    expect((await rawFrom(b.port, '127.0.0.1', Buffer.from('PROXY TCP4 192.0.2.7 127.0.0.1 99999 1\r\n'))).closed).toBe(true);
    expect((await rawFrom(b.port, '127.0.0.1', v2Raw(0x21, 0x12, Buffer.alloc(12)))).closed).toBe(true);
    expect(await metricValue(b.registry, 'scrapeguard_connections_refused_total', { reason: 'proxy_header_missing' })).toBe(1);
    expect(await metricValue(b.registry, 'scrapeguard_connections_refused_total', { reason: 'proxy_header_invalid' })).toBe(2);
    // Logged through the aggregator: the first at once, the repeat as a summary (written at close here).
    open.splice(open.indexOf(b.guard), 1);
    await b.guard.close(0);
    expect(b.lines.filter((l) => l.fields.reason === 'proxy_header_invalid').map((l) => [l.fields.detail, l.fields.suppressed])).toEqual([
      ['v1 ports must be decimal numbers from 0 to 65535', undefined],
      ['v2 address family/protocol 0x12 is not TCP over IPv4 or IPv6', 1],
    ]);
  });

  test('a client certificate refused at the handshake is logged with the named address, not the proxy', async () => {
    const b = await bench({
      tls_server_config: {
        cert_file: pki.server.certFile,
        key_file: pki.server.keyFile,
        client_ca_file: pki.ca.certFile,
        client_auth_type: 'RequireAndVerifyClientCert',
      },
    });
    const refused = await new Promise<string>((resolve) => {
      const socket = tlsConnect({
        socket: tcpWithHeader(b.port, '127.0.0.1', v2('192.0.2.44', '127.0.0.1', 1, b.port)),
        ca: pki.ca.certPem,
        servername: 'localhost',
        cert: pki.clientOtherCa.certPem,
        key: pki.clientOtherCa.keyPem,
      });
      socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      socket.on('close', () => resolve('closed'));
      socket.resume();
    });
    expect(refused).not.toBe('');
    await new Promise((r) => setTimeout(r, 100));
    expect(b.lines.find((l) => l.message === 'TLS client certificate refused')?.fields).toMatchObject({ remote: '192.0.2.44', reason: 'unknown_ca' });
  });

  test('a header that stalls is dropped at the handshake deadline', async () => {
    const b = await bench({ limits: { handshake_timeout: '300ms' } });
    const stalled = await rawFrom(b.port, '127.0.0.1', Buffer.from('PROXY TCP4 192.0.2.7'), 10_000);
    expect(stalled.closed).toBe(true);
    expect(await metricValue(b.registry, 'scrapeguard_connections_refused_total', { reason: 'handshake_timeout' })).toBe(1);
  });

  test('plain HTTP: a header and the request in one segment; the named address is served and audited', async () => {
    const b = await bench({}, false);
    const reply = await rawFrom(
      b.port,
      '127.0.0.1',
      Buffer.concat([v1('192.0.2.7', '127.0.0.1', 1, b.port), Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]),
    );
    expect(reply.received.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    const refused = await rawFrom(
      b.port,
      '127.0.0.2',
      Buffer.concat([v1('192.0.2.8', '127.0.0.1', 1, b.port), Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')]),
    );
    expect(refused).toEqual({ received: Buffer.alloc(0), closed: true });
    const direct = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: b.port, path: '/metrics', localAddress: '127.0.0.2', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(direct).toBe(200);
    expect(b.records.map((r) => r.remote_address)).toEqual(['192.0.2.7', '127.0.0.2']);
  });

  test('a listener without proxyProtocol refuses a PROXY header even from a trusted proxy', async () => {
    const b = await bench({}, true, false);
    expect((await rawFrom(b.port, '127.0.0.1', v2('192.0.2.7', '127.0.0.1', 1, b.port))).closed).toBe(true);
    expect(await metricValue(b.registry, 'scrapeguard_connections_refused_total', { reason: 'proxy_header_refused' })).toBe(1);
    expect((await httpsVia(b.port, '127.0.0.1', undefined)).status).toBe(200);
  });

  test('listen options: proxyProtocol needs trustedProxies, and unknown keys are refused', async () => {
    const guard = await createGuard({ config: {}, source: new Registry(), logger: recordingLogger().logger, watch: false });
    open.push(guard);
    await expect(guard.listen('127.0.0.1:0', { proxyProtocol: true })).rejects.toThrow(/listen: proxyProtocol needs trustedProxies/);
    await expect(guard.listen('127.0.0.1:0', { proxyProtocl: true } as never)).rejects.toThrow(/proxyProtocol/);
    await expect(guard.listen('127.0.0.1:0', { proxyProtocol: 'yes' } as never)).rejects.toThrow(TypeError);
  });
});

describe('serve --web.trusted-proxy / --web.proxy-protocol', () => {
  test.each([
    [['--web.proxy-protocol'], /--web.proxy-protocol needs --web.trusted-proxy ADDR/],
    [['--web.trusted-proxy', '10.0.0.0/33'], /^--web.trusted-proxy: "10.0.0.0\/33" is not an IP address or CIDR range$/],
    [['--web.trusted-proxy', '0.0.0.0/0', '--web.proxy-protocol'], /--web.trusted-proxy: "0.0.0.0\/0" trusts every address/],
  ])('%j is a usage error', async (argv, message) => {
    const error = await runCli(serveCommand, argv).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScrapeguardError);
    expect((error as ScrapeguardError).code).toBe('USAGE');
    expect((error as Error).message).toMatch(message);
  });

  test('serves the client a trusted proxy names in its PROXY header, and refuses a header from another peer', async () => {
    const port = await freePort();
    let stop!: () => void;
    const stopSignal = new Promise<void>((r) => (stop = r));
    const run = runCli(
      serveCommand,
      ['--web.listen-address', `127.0.0.1:${port}`, '--web.trusted-proxy', '127.0.0.1', '--web.proxy-protocol', '--log.level', 'debug'],
      { stopSignal },
    );
    const request = Buffer.concat([v1('192.0.2.7', '127.0.0.1', 1, port), Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]);
    let reply = await rawFrom(port, '127.0.0.1', request);
    for (let i = 0; i < 50 && reply.received.length === 0; i++) {
      await sleep(100);
      reply = await rawFrom(port, '127.0.0.1', request);
    }
    expect(reply.received.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    const refused = await rawFrom(port, '127.0.0.2', request);
    expect(refused).toEqual({ received: Buffer.alloc(0), closed: true });
    stop();
    const result = await run;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/listening .*proxy_protocol=true/);
    expect(result.stderr).toMatch(/msg="connection refused" remote=127\.0\.0\.2 reason=proxy_header_refused/);
  });
});
