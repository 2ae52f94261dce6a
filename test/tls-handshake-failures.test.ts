/**
 * Refused client certificates over real handshakes: the one `warn` line each refusal logs (stable
 * message, reason vocabulary, certificate facts, no secret), the self-metric with the same reason,
 * the TLS alert the client receives where Node can send one (no certificate under
 * RequireAndVerifyClientCert), and what the client sees where it cannot (docs/tls.md). Other
 * handshake failures stay at debug and are counted.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import type { TlsServerConfigInput } from '../src/config/schema.js';
import { CLIENT_CERT_REFUSED_MESSAGE, CLIENT_CERT_REFUSAL_REASONS } from '../src/tls/handshake-failure.js';
import { requestWithSession, type SessionAttempt } from './helpers/tls-session.js';
import { testPki, type TestCert, type TestPki } from './helpers/pki.js';
import { capturingLogger, type LogLine } from './helpers/logger.js';

let pki: TestPki;
const guards: Guard[] = [];

beforeAll(async () => {
  pki = await testPki();
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
});

async function start(tls: TlsServerConfigInput): Promise<{ port: number; logs: LogLine[]; self: Registry }> {
  const logs: LogLine[] = [];
  const self = new Registry();
  const guard = await createGuard({
    config: { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile, client_ca_file: pki.ca.certFile, ...tls } },
    source: new Registry(),
    logger: capturingLogger(logs),
    selfMetrics: self,
    watch: false,
  });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  return { port: bound!.port, logs, self };
}

async function counted(self: Registry, reason: string): Promise<number> {
  const metric = self.getSingleMetric('scrapeguard_tls_handshake_errors_total');
  const { values } = await metric!.get();
  return values.filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0);
}

/**
 * A client that, like an HTTP client, sends its request as soon as its side of the handshake is
 * done; resolves with what it saw: an error code, `closed` (orderly end without an answer) or an
 * HTTP status.
 */
function attempt(port: number, version: SecureVersion, cert: TestCert | undefined): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: pki.ca.certPem,
      minVersion: version,
      maxVersion: version,
      ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
    });
    let done = false;
    const finish = (s: string) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(s);
    };
    socket.on('secureConnect', () => socket.write('GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    socket.on('data', (d: Buffer) => finish(/^HTTP\/1\.1 (\d{3})/.exec(d.toString('latin1'))?.[1] ?? 'data'));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    setTimeout(() => finish('timeout'), 8000).unref();
  });
}

const refusals = (logs: LogLine[]) => logs.filter((l) => l.message === CLIENT_CERT_REFUSED_MESSAGE);

/** A log line must carry no key material and no PEM. */
function expectNoSecret(line: LogLine): void {
  const text = JSON.stringify(line);
  expect(text).not.toMatch(/BEGIN|PRIVATE|KEY-----/);
  for (const cert of [pki.client, pki.clientExpired, pki.clientOtherCa, pki.clientWrongSan, pki.clientNotYetValid, pki.clientSelfSigned]) {
    const keyBody = cert.keyPem.split('\n')[1]!;
    expect(text).not.toContain(keyBody);
  }
}

const VERSIONS: SecureVersion[] = ['TLSv1.3', 'TLSv1.2'];

describe('RequireAndVerifyClientCert', () => {
  test.each(VERSIONS)(
    '%s: no certificate → closed right after the handshake (never an HTTP answer); warn line reason no_certificate with the peer address; counted',
    async (version) => {
      const s = await start({ client_auth_type: 'RequireAndVerifyClientCert' });
      const seen = await attempt(s.port, version, undefined);
      expect(seen).not.toMatch(/^\d{3}$|^data$|^timeout$/);
      await expect.poll(() => refusals(s.logs).length).toBe(1);
      const line = refusals(s.logs)[0]!;
      expect(line.level).toBe('warn');
      expect(line.fields).toMatchObject({ remote: '127.0.0.1', reason: 'no_certificate' });
      expect(await counted(s.self, 'no_certificate')).toBe(1);
      console.log(`TLS-REFUSAL RequireAndVerifyClientCert ${version} no certificate: client saw ${seen}`);
    },
  );

  test.each(
    VERSIONS.flatMap((version) => (['expired', 'not_yet_valid', 'unknown_ca', 'unknown_ca (self-signed)'] as const).map((kind) => ({ version, kind }))),
  )('$version: $kind certificate → refused, warn line with that reason and no secret, counted', async ({ version, kind }) => {
    const cert = {
      expired: pki.clientExpired,
      not_yet_valid: pki.clientNotYetValid,
      unknown_ca: pki.clientOtherCa,
      'unknown_ca (self-signed)': pki.clientSelfSigned,
    }[kind];
    const reason = kind.split(' ')[0]!;
    const s = await start({ client_auth_type: 'RequireAndVerifyClientCert' });
    const seen = await attempt(s.port, version, cert);
    expect(seen).not.toMatch(/^\d{3}$|^data$|^timeout$/);
    await expect.poll(() => refusals(s.logs).length).toBe(1);
    const line = refusals(s.logs)[0]!;
    expect(line.level).toBe('warn');
    expect(line.fields).toMatchObject({ remote: '127.0.0.1', reason, subject: expect.stringContaining('CN=prometheus'), sans: 'prometheus' });
    expect(line.fields.serial).toBe(new X509Certificate(cert.certPem).serialNumber);
    expectNoSecret(line);
    expect(await counted(s.self, reason)).toBe(1);
    console.log(`TLS-REFUSAL RequireAndVerifyClientCert ${version} ${kind}: client saw ${seen}; log ${JSON.stringify(line.fields)}`);
  });
});

describe('policies decided by scrapeguard right after the handshake', () => {
  test.each(VERSIONS)('%s: VerifyClientCertIfGiven + expired certificate → warn line with subject, SANs, serial', async (version) => {
    const s = await start({ client_auth_type: 'VerifyClientCertIfGiven' });
    const seen = await attempt(s.port, version, pki.clientExpired);
    expect(seen).not.toMatch(/^\d{3}$|^data$|^timeout$/);
    await expect.poll(() => refusals(s.logs).length).toBe(1);
    const line = refusals(s.logs)[0]!;
    expect(line.level).toBe('warn');
    const serial = new X509Certificate(pki.clientExpired.certPem).serialNumber;
    expect(line.fields).toMatchObject({
      remote: '127.0.0.1',
      reason: 'expired',
      subject: expect.stringContaining('CN=prometheus'),
      sans: 'prometheus',
      serial,
    });
    expectNoSecret(line);
    expect(await counted(s.self, 'expired')).toBe(1);
    console.log(`TLS-REFUSAL VerifyClientCertIfGiven ${version} expired: client saw ${seen}`);
  });

  test.each(VERSIONS)('%s: client_allowed_sans not matched → reason san_not_allowed with the SANs found', async (version) => {
    const s = await start({ client_auth_type: 'RequireAndVerifyClientCert', client_allowed_sans: ['prometheus'] });
    const seen = await attempt(s.port, version, pki.clientWrongSan);
    expect(seen).not.toMatch(/^\d{3}$|^data$|^timeout$/);
    await expect.poll(() => refusals(s.logs).length).toBe(1);
    const line = refusals(s.logs)[0]!;
    expect(line.fields).toMatchObject({ remote: '127.0.0.1', reason: 'san_not_allowed', sans: 'intruder', subject: expect.stringContaining('CN=prometheus') });
    expect(line.fields.serial).toMatch(/^[0-9A-F]+$/);
    expectNoSecret(line);
    expect(await counted(s.self, 'san_not_allowed')).toBe(1);
    console.log(`TLS-REFUSAL client_allowed_sans ${version}: client saw ${seen}`);
  });

  test.each(VERSIONS)('%s: RequireAnyClientCert without a certificate → reason no_certificate', async (version) => {
    const s = await start({ client_auth_type: 'RequireAnyClientCert' });
    const seen = await attempt(s.port, version, undefined);
    expect(seen).not.toMatch(/^\d{3}$|^data$|^timeout$/);
    await expect.poll(() => refusals(s.logs).length).toBe(1);
    expect(refusals(s.logs)[0]!.fields).toMatchObject({ reason: 'no_certificate' });
    expect(await counted(s.self, 'no_certificate')).toBe(1);
  });

  test('a good certificate is served and logs no refusal', async () => {
    const s = await start({ client_auth_type: 'RequireAndVerifyClientCert', client_allowed_sans: ['prometheus'] });
    expect(await attempt(s.port, 'TLSv1.3', pki.client)).toBe('200');
    expect(refusals(s.logs)).toEqual([]);
  });
});

describe('other handshake failures', () => {
  test('garbage and a TLS 1.1 ClientHello stay at debug, and are counted', async () => {
    const s = await start({ client_auth_type: 'RequireAndVerifyClientCert' });
    // A handshake record that is not a ClientHello.
    await new Promise<void>((resolve) => {
      const socket = netConnect({ port: s.port, host: '127.0.0.1' }, () => socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff])));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
      socket.resume();
    });
    expect(await attempt(s.port, 'TLSv1.1', undefined)).not.toBe('200');
    await expect.poll(() => s.logs.filter((l) => l.message === 'TLS handshake error').length).toBe(2);
    for (const l of s.logs.filter((x) => x.message === 'TLS handshake error')) {
      expect(l.level).toBe('debug');
      expect(String(l.fields.reason)).toMatch(/^[a-z0-9_]+$/);
    }
    expect(refusals(s.logs)).toEqual([]);
    const metric = await s.self.getSingleMetric('scrapeguard_tls_handshake_errors_total')!.get();
    expect(metric.values.reduce((a, v) => a + v.value, 0)).toBe(2);
    console.log(`TLS-REFUSAL other failures counted as: ${metric.values.map((v) => `${String(v.labels.reason)}=${v.value}`).join(', ')}`);
  });

  test('the reason vocabulary is the documented one', () => {
    expect(CLIENT_CERT_REFUSAL_REASONS).toEqual(['expired', 'not_yet_valid', 'unknown_ca', 'san_not_allowed', 'no_certificate', 'bad_certificate']);
  });
});

/** Runs a command to completion (bounded); resolves with exit code and output, or undefined when absent. */
function run(command: string, args: string[], input = ''): Promise<{ code: number | null; out: string } | undefined> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => resolve({ code, out }));
    setTimeout(() => child.stdin.end(input), 300);
    setTimeout(() => child.kill(), 8000).unref();
  });
}

describe('openssl s_client and curl', () => {
  test('an expired client certificate: no HTTP answer, and what each client reports is recorded', async () => {
    const s = await start({ client_auth_type: 'RequireAndVerifyClientCert' });
    const curl = await run('curl', [
      '-sS',
      '--max-time',
      '5',
      '--cacert',
      pki.ca.certFile,
      '--cert',
      pki.clientExpired.certFile,
      '--key',
      pki.clientExpired.keyFile,
      `https://127.0.0.1:${s.port}/metrics`,
    ]);
    const sClient = await run(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${s.port}`,
        '-CAfile',
        pki.ca.certFile,
        '-cert',
        pki.clientExpired.certFile,
        '-key',
        pki.clientExpired.keyFile,
        '-servername',
        'localhost',
        '-quiet',
      ],
      'GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n',
    );
    if (curl) {
      expect(curl.code).not.toBe(0);
      expect(curl.out).not.toMatch(/HTTP\/|demo_/);
    }
    if (sClient) expect(sClient.out).not.toMatch(/HTTP\/1\.1/);
    // Every refusal is counted; the log writes the first at once and aggregates repeats (docs/logging.md).
    await expect.poll(() => counted(s.self, 'expired')).toBe((curl ? 1 : 0) + (sClient ? 1 : 0));
    if (curl || sClient) expect(refusals(s.logs).filter((l) => l.fields.reason === 'expired').length).toBe(1);
    console.log(`TLS-REFUSAL expired certificate: curl exit ${curl?.code} "${curl?.out.trim()}"; s_client: "${sClient?.out.trim().split('\n').at(-1)}"`);
  });
});

/** One request on a new connection (optionally resuming `session`), presenting `cert`. */
function attemptWithSession(port: number, version: SecureVersion, cert: TestCert, session?: Buffer): Promise<SessionAttempt> {
  return requestWithSession(port, pki.ca.certPem, version, cert, session);
}

describe('session resumption does not bypass the policy', () => {
  test.each(VERSIONS)('%s: a good client resumes and is served; a refused client resuming with any ticket it got is refused again', async (version) => {
    const s = await start({ client_auth_type: 'RequireAndVerifyClientCert', client_allowed_sans: ['prometheus'] });
    const first = await attemptWithSession(s.port, version, pki.client);
    expect(first.seen).toBe('200');
    expect(first.ticket).toBeDefined();
    const again = await attemptWithSession(s.port, version, pki.client, first.ticket);
    expect(again).toMatchObject({ seen: '200', reused: true });

    const retried: string[] = [];
    for (const bad of [pki.clientExpired, pki.clientWrongSan]) {
      const refused = await attemptWithSession(s.port, version, bad);
      expect(refused.seen).not.toMatch(/^\d{3}$/);
      if (refused.ticket) {
        const retry = await attemptWithSession(s.port, version, bad, refused.ticket);
        expect(retry.seen).not.toMatch(/^\d{3}$/);
        retried.push(`reused=${retry.reused}`);
      }
    }
    console.log(`TLS-REFUSAL ${version}: refused clients that got a ticket and retried with it: ${retried.join(', ') || 'none (no ticket reached them)'}`);
    const reasons = refusals(s.logs).map((l) => l.fields.reason);
    expect(reasons.filter((r) => r === 'expired').length).toBeGreaterThanOrEqual(1);
    expect(reasons.filter((r) => r === 'san_not_allowed').length).toBeGreaterThanOrEqual(1);
  });
});

describe('tickets do not outlive a configuration', () => {
  test("after a reload that drops the client's SAN, its ticket from before does not resume and the full handshake is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-tickets-'));
    const file = join(dir, 'web.yml');
    const write = (san: string) =>
      writeFileSync(
        file,
        `tls_server_config:\n  cert_file: ${pki.server.certFile}\n  key_file: ${pki.server.keyFile}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.ca.certFile}\n  client_allowed_sans: [${san}]\n`,
      );
    write('prometheus');
    const logs: LogLine[] = [];
    const guard = await createGuard({ config: file, source: new Registry(), logger: capturingLogger(logs), watch: false });
    guards.push(guard);
    const [bound] = await guard.listen('127.0.0.1:0');
    const port = bound!.port;
    const first = await attemptWithSession(port, 'TLSv1.3', pki.client);
    expect(first.seen).toBe('200');
    expect((await attemptWithSession(port, 'TLSv1.3', pki.client, first.ticket)).reused).toBe(true);
    write('someone-else');
    expect(await guard.reload()).toBe(true);
    const after = await attemptWithSession(port, 'TLSv1.3', pki.client, first.ticket);
    expect(after.reused).toBe(false);
    expect(after.seen).not.toMatch(/^\d{3}$/);
    expect(refusals(logs).at(-1)?.fields.reason).toBe('san_not_allowed');
  });
});
