/**
 * Server deadlines: a client sending its request headers slowly (slowloris) is cut off after
 * `limits.read_header_timeout`, on HTTPS/1.1, on the HTTP/1.1 fallback of the HTTP/2 server and
 * on plain HTTP. Real sockets; the deadline is short so the test is quick.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createGuard, type Guard } from '../src/index.js';
import { silentLogger } from '../src/log.js';
import { testPki } from './helpers/pki.js';

let guard: Guard | undefined;
afterEach(async () => {
  await guard?.close(0);
  guard = undefined;
});

/** Sends an unfinished request head and reports when (and how) the server ended the connection. */
function slowHeaders(port: number, tls: { ca: string } | undefined): Promise<{ closedAfterMs: number; reply: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let reply = '';
    const onOpen = () => socket.write('GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1\r\n');
    const socket = tls
      ? tlsConnect({ port, host: '127.0.0.1', ca: tls.ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, onOpen)
      : netConnect({ port, host: '127.0.0.1' }, onOpen);
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ closedAfterMs: Date.now() - started, reply }));
    // Give up well after the deadline; the assertion below then fails.
    setTimeout(() => socket.destroy(), 5000).unref();
  });
}

describe('read_header_timeout cuts off slow request headers', () => {
  it.each([
    ['HTTPS, HTTP/1.1 only', true, false],
    ['HTTPS, HTTP/1.1 fallback of the HTTP/2 server', true, true],
    ['plain HTTP', false, false],
  ])('%s', async (_name, useTls, http2) => {
    const pki = await testPki();
    guard = await createGuard({
      config: {
        ...(useTls ? { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile } } : {}),
        http_server_config: { http2 },
        limits: { read_header_timeout: '400ms', request_timeout: '1s' },
      },
      source: new Registry(),
      logger: silentLogger,
      watch: false,
    });
    const [bound] = await guard.listen('127.0.0.1:0');
    const result = await slowHeaders(bound!.port, useTls ? { ca: pki.ca.certPem } : undefined);
    // Node checks deadlines every min(1 s, read_header_timeout): closed between 0.4 s and ~1.5 s.
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(350);
    expect(result.closedAfterMs).toBeLessThan(2500);
    expect(result.reply).not.toContain('200 OK');
  });
});
