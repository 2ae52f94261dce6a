/**
 * scrapeguard's own server holds HTTP/1 requests to what Go's net/http accepts: no `Host` on
 * HTTP/1.1, two `Host` headers, a malformed `Host`, or a request line with a version other than
 * HTTP/1.x get Go's exact answer (status, reason phrase, body) and the connection is closed — on
 * plain HTTP, on TLS with `http2: false`, and on the HTTP/1.1 fallback of the HTTP/2 TLS server.
 * Raw sockets write the exact bytes; the answers are those node_exporter 1.5 gives (the
 * differential suite in test/e2e/node-exporter-parity.test.ts compares them with it directly).
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import { silentLogger } from '../src/log.js';
import { http1Refusal } from '../src/server/strict-http1.js';
import { scrapeHttp2 } from './helpers/client.js';
import { testPki, type TestPki } from './helpers/pki.js';

interface RawReply {
  /** Everything the server wrote. */
  text: string;
  /** Whether the server closed the connection (within the bound). */
  closed: boolean;
}

/** Writes `bytes` on a fresh connection and collects the answer until the server closes (at most 3 s). */
function raw(port: number, bytes: string, tls?: { ca: string; alpn: string[] }): Promise<RawReply> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = tls
      ? tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: tls.ca, ALPNProtocols: tls.alpn })
      : netConnect({ host: '127.0.0.1', port });
    socket.once(tls ? 'secureConnect' : 'connect', () => socket.write(Buffer.from(bytes, 'latin1')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false });
    }, 3000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true });
    });
  });
}

/** A refused request: Go's status line, body `STATUS REASON`, connection closed. */
interface Refused {
  name: string;
  bytes: string;
  status: number;
  reason: string;
}

const R = (name: string, bytes: string, status: number, reason: string): Refused => ({ name, bytes, status, reason });
const MISSING = 'Bad Request: missing required Host header';
const MALFORMED = 'Bad Request: malformed Host header';
const VERSION = 'HTTP Version Not Supported: unsupported protocol version';

export const REFUSED: Refused[] = [
  R('HTTP/1.1 without Host', 'GET /metrics HTTP/1.1\r\n\r\n', 400, MISSING),
  R('two Host headers', 'GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'Bad Request'),
  R('two Host headers with the same value', 'GET /metrics HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', 400, 'Bad Request'),
  R('two Host headers in different case', 'GET /metrics HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n', 400, 'Bad Request'),
  R('two Host headers on HTTP/1.0', 'GET /metrics HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'Bad Request'),
  R('two Host headers on HTTP/2.0 (the Host check comes first, as in Go)', 'GET /metrics HTTP/2.0\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'Bad Request'),
  R('request line HTTP/2.0', 'GET /metrics HTTP/2.0\r\nHost: a\r\n\r\n', 505, VERSION),
  R('request line HTTP/2.0 without Host', 'GET /metrics HTTP/2.0\r\n\r\n', 505, VERSION),
  R('request line HTTP/0.9', 'GET /metrics HTTP/0.9\r\nHost: a\r\n\r\n', 505, VERSION),
  R('request line HTTP/3.0', 'GET /metrics HTTP/3.0\r\nHost: a\r\n\r\n', 505, VERSION),
  R('request line HTTP/1.2 (Go serves it as 1.1; Node cannot parse it)', 'GET /metrics HTTP/1.2\r\nHost: a\r\n\r\n', 505, VERSION),
  R('request line HTTP/2 (no minor version: malformed)', 'GET /metrics HTTP/2\r\nHost: a\r\n\r\n', 400, 'Bad Request'),
  R('Host with a space', 'GET /metrics HTTP/1.1\r\nHost: a b\r\n\r\n', 400, MALFORMED),
  R('Host with user info', 'GET /metrics HTTP/1.1\r\nHost: user@a\r\n\r\n', 400, MALFORMED),
  R('Host with a slash', 'GET /metrics HTTP/1.1\r\nHost: a/b\r\n\r\n', 400, MALFORMED),
  R('Host with non-ASCII bytes', 'GET /metrics HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n', 400, MALFORMED),
];

/** Requests Go serves: the guard answers them (200 here, no auth configured). */
export const SERVED: [string, string][] = [
  ['HTTP/1.0 without Host', 'GET /metrics HTTP/1.0\r\n\r\n'],
  ['HTTP/1.1 with Host', 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'],
  ['HTTP/1.1 with an empty Host', 'GET /metrics HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n'],
  ['HTTP/1.1 with an IPv6 literal and port', 'GET /metrics HTTP/1.1\r\nHost: [::1]:9100\r\nConnection: close\r\n\r\n'],
  ['HTTP/1.1 with %, _ and ~ in Host', 'GET /metrics HTTP/1.1\r\nHost: a_b%20~c:1\r\nConnection: close\r\n\r\n'],
];

function expectRefused(reply: RawReply, c: Refused): void {
  const [head = '', body] = reply.text.split('\r\n\r\n', 2);
  expect(head.split('\r\n')[0], c.name).toBe(`HTTP/1.1 ${c.status} ${c.reason}`);
  expect(head.toLowerCase(), c.name).toContain('connection: close');
  expect(body, c.name).toBe(`${c.status} ${c.reason}`);
  expect(reply.closed, `${c.name}: the server closes the connection`).toBe(true);
}

const SOURCE = () => '# TYPE up gauge\nup 1\n';

describe('strict HTTP/1 on the standalone server', () => {
  let pki: TestPki;
  const guards: Guard[] = [];
  const ports = { plain: 0, tlsH2: 0, tlsHttp1: 0 };

  beforeAll(async () => {
    pki = await testPki();
    const tls = { cert_file: pki.server.certFile, key_file: pki.server.keyFile };
    const plain = await createGuard({ source: SOURCE, logger: silentLogger, watch: false });
    const h2 = await createGuard({ source: SOURCE, logger: silentLogger, watch: false, config: { tls_server_config: tls } });
    const h1 = await createGuard({
      source: SOURCE,
      logger: silentLogger,
      watch: false,
      config: { tls_server_config: tls, http_server_config: { http2: false } },
    });
    guards.push(plain, h2, h1);
    ports.plain = (await plain.listen('127.0.0.1:0'))[0]!.port;
    ports.tlsH2 = (await h2.listen('127.0.0.1:0'))[0]!.port;
    ports.tlsHttp1 = (await h1.listen('127.0.0.1:0'))[0]!.port;
  });

  afterAll(async () => {
    await Promise.all(guards.map((g) => g.close(0)));
  });

  const servers = [
    ['plain HTTP', () => ({ port: ports.plain })],
    ['TLS, HTTP/2 server, HTTP/1.1 fallback via ALPN', () => ({ port: ports.tlsH2, tls: { ca: pki.ca.certPem, alpn: ['http/1.1'] } })],
    ['TLS, HTTP/2 server, client without ALPN', () => ({ port: ports.tlsH2, tls: { ca: pki.ca.certPem, alpn: [] } })],
    ['TLS, http2: false', () => ({ port: ports.tlsHttp1, tls: { ca: pki.ca.certPem, alpn: ['http/1.1'] } })],
  ] as const;

  describe.each(servers)('%s', (_, target) => {
    test.each(REFUSED.map((c) => [c.name, c] as const))("%s → Go's answer, connection closed", async (_, c) => {
      const { port, tls } = target() as { port: number; tls?: { ca: string; alpn: string[] } };
      expectRefused(await raw(port, c.bytes, tls), c);
    });

    test.each(SERVED)('%s → served', async (_, bytes) => {
      const { port, tls } = target() as { port: number; tls?: { ca: string; alpn: string[] } };
      const reply = await raw(port, bytes, tls);
      expect(reply.text.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 200 OK$/);
      expect(reply.text).toContain('\r\n\r\n# TYPE up gauge\nup 1\n');
    });
  });

  test('HTTP/2 requests on the TLS server are served: the checks apply to HTTP/1 only', async () => {
    const r = await scrapeHttp2(`https://localhost:${ports.tlsH2}/metrics`, { ca: pki.ca.certPem });
    expect(r.status).toBe(200);
    expect(r.body).toBe('# TYPE up gauge\nup 1\n');
  });

  test("the refusal rule in Go's order: duplicate Host, then version, then missing, then malformed Host", () => {
    expect(http1Refusal({ httpVersionMajor: 2, httpVersionMinor: 0, rawHeaders: ['Host', 'a', 'host', 'a'] })).toBe('duplicate_host');
    expect(http1Refusal({ httpVersionMajor: 0, httpVersionMinor: 9, rawHeaders: [] })).toBe('unsupported_version');
    expect(http1Refusal({ httpVersionMajor: 1, httpVersionMinor: 1, rawHeaders: [] })).toBe('missing_host');
    expect(http1Refusal({ httpVersionMajor: 1, httpVersionMinor: 0, rawHeaders: ['Host', 'a b'] })).toBe('malformed_host');
    expect(http1Refusal({ httpVersionMajor: 1, httpVersionMinor: 0, rawHeaders: [] })).toBeUndefined();
    expect(http1Refusal({ httpVersionMajor: 1, httpVersionMinor: 1, rawHeaders: ['Host', 'metrics.internal:9443'] })).toBeUndefined();
  });
});
