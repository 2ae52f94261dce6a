/**
 * One raw TLS request on a new connection, optionally resuming a session: for the suites that
 * check what session resumption keeps (identity, policy) and what a reload ends.
 */
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import type { TestCert } from './pki.js';

/** What one attempt saw: the HTTP status (or how it failed), whether the session was resumed, the ticket the server sent. */
export interface SessionAttempt {
  seen: string;
  reused: boolean;
  ticket?: Buffer;
}

/**
 * Connects to `127.0.0.1:port` as `localhost` with exactly `version`, presenting `cert`
 * (resuming `session` when given), sends `GET /metrics` with `Connection: close` and reads until
 * the server closes, so a TLS 1.3 ticket sent after the handshake is in.
 */
export function requestWithSession(port: number, ca: string, version: SecureVersion, cert: TestCert, session?: Buffer): Promise<SessionAttempt> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca,
      minVersion: version,
      maxVersion: version,
      cert: cert.certPem,
      key: cert.keyPem,
      ...(session ? { session } : {}),
    });
    let ticket: Buffer | undefined;
    let reused = false;
    let status: string | undefined;
    let done = false;
    const finish = (seen: string) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ seen, reused, ...(ticket ? { ticket } : {}) });
    };
    socket.on('session', (s: Buffer) => (ticket = s));
    socket.on('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write('GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (d: Buffer) => (status ??= /^HTTP\/1\.1 (\d{3})/.exec(d.toString('latin1'))?.[1]));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(status ?? e.code ?? e.message));
    socket.on('close', () => finish(status ?? 'closed'));
    setTimeout(() => finish('timeout'), 8000).unref();
  });
}
