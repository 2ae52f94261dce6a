/**
 * The client-certificate identity on the handshake hot path (#16, cheaper handshakes): the
 * standalone server reads the peer certificate once per connection and describes each distinct
 * certificate once, so these tests pin what that must not change — every connection and every
 * request on it carries the identity of the certificate THIS connection presented (also after TLS
 * session resumption, where no certificate is sent again), and tickets issued under one client CA
 * do not resume after a reload to another. Real mTLS handshakes over loopback, certificates from
 * test/helpers/pki.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket, type SecureVersion } from 'node:tls';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import type { AuditRecord } from '../src/audit/audit.js';
import { CLIENT_CERT_REFUSED_MESSAGE } from '../src/tls/handshake-failure.js';
import { scrape } from './helpers/client.js';
import { capturingLogger, type LogLine } from './helpers/logger.js';
import { requestWithSession, type SessionAttempt } from './helpers/tls-session.js';
import { testPki, type TestCert, type TestPki } from './helpers/pki.js';

let pki: TestPki;
const guards: Guard[] = [];

beforeAll(async () => {
  pki = await testPki();
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
});

interface Running {
  guard: Guard;
  port: number;
  audit: AuditRecord[];
  logs: LogLine[];
}

/** A guard with mTLS and certificate identities (principal from the DNS SAN, else the CN). */
async function start(config: object): Promise<Running> {
  const audit: AuditRecord[] = [];
  const logs: LogLine[] = [];
  const registry = new Registry();
  const guard = await createGuard({ config, source: registry, logger: capturingLogger(logs), watch: false, audit: (r) => audit.push(r) });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  return { guard, port: bound!.port, audit, logs };
}

const mtlsConfig = (caFile: string) => ({
  tls_server_config: {
    cert_file: pki.server.certFile,
    key_file: pki.server.keyFile,
    client_auth_type: 'RequireAndVerifyClientCert',
    client_ca_file: caFile,
  },
  client_cert_auth: { principal_from: 'cn' },
});

/** One request on a new connection (optionally resuming `session`), presenting `cert`. */
function request(port: number, version: SecureVersion, cert: TestCert, session?: Buffer): Promise<SessionAttempt> {
  return requestWithSession(port, pki.ca.certPem, version, cert, session);
}

describe('resumed sessions keep the client-certificate identity', () => {
  test.each(['TLSv1.3', 'TLSv1.2'] as SecureVersion[])(
    '%s: the resumed connection is served under the principal of the certificate the session was made with',
    async (version) => {
      const g = await start(mtlsConfig(pki.ca.certFile));
      const first = await request(g.port, version, pki.client);
      expect(first.seen).toBe('200');
      expect(first.ticket).toBeDefined();
      const resumed = await request(g.port, version, pki.client, first.ticket);
      expect(resumed).toMatchObject({ seen: '200', reused: true });
      expect(g.audit).toHaveLength(2);
      for (const record of g.audit) {
        expect(record).toMatchObject({ principal: 'prometheus', auth_method: 'client_cert', status: 200 });
        expect(record.client_cert_subject).toMatch(/CN=prometheus/);
      }
    },
  );
});

describe('the certificate is read once per connection and described once per certificate', () => {
  test('connections presenting different certificates, alternately, each get their own identity', async () => {
    const g = await start({ ...mtlsConfig(pki.ca.certFile), client_cert_auth: { principal_from: 'san_uri' } });
    const spiffe = 'spiffe://cluster/ns/monitoring/sa/prometheus';
    // pki.client has no URI SAN: no identity (403); pki.clientMultiSan has one. Alternating
    // makes every lookup of the second and later rounds a hit for a different certificate than
    // the one before.
    const expected: (string | undefined)[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [cert, principal] of [
        [pki.client, undefined],
        [pki.clientMultiSan, spiffe],
      ] as const) {
        const r = await request(g.port, 'TLSv1.3', cert);
        expect(r.seen).toBe(principal ? '200' : '403');
        expected.push(principal);
      }
    }
    expect(g.audit.map((a) => (a.status === 200 ? a.principal : undefined))).toEqual(expected);
    expect(g.audit.filter((a) => a.status === 403).every((a) => a.reason === 'no_identity')).toBe(true);
  });

  test('five keep-alive requests on one mTLS connection read the peer certificate once, on the server side', async () => {
    const g = await start(mtlsConfig(pki.ca.certFile));
    // Counts (and passes through) the peer-certificate reads of the guard's own sockets: those
    // whose local port is the guard's. The client's own reads (server identity check) are not
    // counted. Restored in `finally`.
    const proto = TLSSocket.prototype;
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with .call(this), restored in finally
    const originals = { x509: proto.getPeerX509Certificate, legacy: proto.getPeerCertificate };
    let reads = 0;
    proto.getPeerX509Certificate = function (this: TLSSocket) {
      if (this.localPort === g.port) reads++;
      return originals.x509.call(this);
    };
    proto.getPeerCertificate = function (this: TLSSocket, detailed?: boolean) {
      if (this.localPort === g.port) reads++;
      return originals.legacy.call(this, detailed as true);
    } as typeof proto.getPeerCertificate;
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 5; i++) {
        const r = await scrape(`https://127.0.0.1:${g.port}/metrics`, {
          ca: pki.ca.certPem,
          cert: pki.client.certPem,
          key: pki.client.keyPem,
          servername: 'localhost',
          agent,
        });
        expect(r.status).toBe(200);
      }
    } finally {
      proto.getPeerX509Certificate = originals.x509;
      proto.getPeerCertificate = originals.legacy;
      agent.destroy();
    }
    expect(g.audit).toHaveLength(5);
    expect(g.audit.every((a) => a.principal === 'prometheus')).toBe(true);
    expect(reads).toBe(1);
  });
});

describe('a reload to another client CA ends the tickets of the old one', () => {
  test('a ticket from before the reload does not resume, the full handshake is refused as unknown_ca, and a client of the new CA is served', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-handshake-'));
    const file = join(dir, 'web.yml');
    const write = (caFile: string) =>
      writeFileSync(
        file,
        `tls_server_config:\n  cert_file: ${pki.server.certFile}\n  key_file: ${pki.server.keyFile}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${caFile}\n`,
      );
    write(pki.ca.certFile);
    const logs: LogLine[] = [];
    const guard = await createGuard({ config: file, source: new Registry(), logger: capturingLogger(logs), watch: false });
    guards.push(guard);
    const [bound] = await guard.listen('127.0.0.1:0');
    const port = bound!.port;
    for (const version of ['TLSv1.3', 'TLSv1.2'] as SecureVersion[]) {
      write(pki.ca.certFile);
      await guard.reload();
      const first = await request(port, version, pki.client);
      expect(first.seen, version).toBe('200');
      expect((await request(port, version, pki.client, first.ticket)).reused, version).toBe(true);
      write(pki.otherCa.certFile);
      expect(await guard.reload(), version).toBe(true);
      const stale = await request(port, version, pki.client, first.ticket);
      expect(stale.reused, version).toBe(false);
      expect(stale.seen, version).not.toMatch(/^\d{3}$/);
      await expect.poll(() => logs.filter((l) => l.message === CLIENT_CERT_REFUSED_MESSAGE).at(-1)?.fields.reason).toBe('unknown_ca');
      expect((await request(port, version, pki.clientOtherCa)).seen, version).toBe('200');
    }
  });
});
