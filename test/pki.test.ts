/**
 * Development PKI: certificate contents (checked with node:crypto and the openssl CLI, not with the
 * code that made them), key identifiers and unique CA names that make a certificate from another
 * run an "unknown CA" (openssl verify, real TLS handshakes), file modes that hold whatever the umask, and refusal to overwrite that leaves
 * nothing half-written.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ScrapeguardError } from '../src/errors.js';
import { generateCa, generateClientCert, generateDevPki, type DevPki } from '../src/tools/pki/generate.js';
import { writeDevPki, writeSecretFile } from '../src/tools/pki/write.js';
import { runProcess } from './e2e/support.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const PKI_FILES = ['ca.crt', 'ca.key', 'client.crt', 'client.key', 'server.crt', 'server.key'];

const mode = (path: string) => statSync(path).mode & 0o777;
const tmp = () => mkdtempSync(join(tmpdir(), 'scrapeguard-write-'));

let pki: DevPki;
let otherPki: DevPki;
beforeAll(async () => {
  [pki, otherPki] = await Promise.all([generateDevPki({ serverSans: ['localhost', '127.0.0.1', '::1', 'metrics.internal'] }), generateDevPki()]);
});

const savedUmask = process.umask();
afterEach(() => {
  process.umask(savedUmask);
});

describe('generateDevPki', () => {
  it('makes a CA that signed a server and a client certificate with the right names and usages', () => {
    const ca = new X509Certificate(pki.ca.certPem);
    const server = new X509Certificate(pki.server.certPem);
    const client = new X509Certificate(pki.client.certPem);

    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(client.ca).toBe(false);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(client.verify(ca.publicKey)).toBe(true);

    expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:metrics.internal');
    expect(server.keyUsage).toEqual([SERVER_AUTH]);
    expect(client.subject).toBe('CN=prometheus');
    expect(client.subjectAltName).toBe('DNS:prometheus');
    expect(client.keyUsage).toEqual([CLIENT_AUTH]);

    expect(ca.checkPrivateKey(createPrivateKey(pki.ca.keyPem))).toBe(true);
    expect(server.checkPrivateKey(createPrivateKey(pki.server.keyPem))).toBe(true);
    expect(client.checkPrivateKey(createPrivateKey(pki.client.keyPem))).toBe(true);
  });
});

describe('writeDevPki', () => {
  it('creates the directory 0700 and writes keys 0600, certificates 0644', async () => {
    const dir = join(tmp(), 'nested', 'pki');
    const written = await writeDevPki(dir, pki);

    expect(mode(dir)).toBe(0o700);
    expect(readdirSync(dir).sort()).toEqual(PKI_FILES);
    expect(written.map((w) => [w.path, w.mode])).toEqual([
      [join(dir, 'ca.crt'), 0o644],
      [join(dir, 'ca.key'), 0o600],
      [join(dir, 'server.crt'), 0o644],
      [join(dir, 'server.key'), 0o600],
      [join(dir, 'client.crt'), 0o644],
      [join(dir, 'client.key'), 0o600],
    ]);
    for (const w of written) expect(mode(w.path)).toBe(w.mode);
    expect(readFileSync(join(dir, 'ca.key'), 'utf8')).toBe(pki.ca.keyPem);
    expect(readFileSync(join(dir, 'server.crt'), 'utf8')).toBe(pki.server.certPem);
    expect(readFileSync(join(dir, 'client.key'), 'utf8')).toBe(pki.client.keyPem);
  });

  it('sets the modes exactly whatever the umask', async () => {
    process.umask(0o077);
    const strict = join(tmp(), 'pki');
    await writeDevPki(strict, pki);
    expect(mode(join(strict, 'ca.crt'))).toBe(0o644);
    expect(mode(join(strict, 'server.key'))).toBe(0o600);

    process.umask(0o000);
    const loose = join(tmp(), 'pki');
    await writeDevPki(loose, pki);
    expect(mode(loose)).toBe(0o700);
    expect(mode(join(loose, 'client.key'))).toBe(0o600);
    expect(mode(join(loose, 'client.crt'))).toBe(0o644);
  });

  it('leaves the mode of an existing directory alone', async () => {
    const dir = tmp();
    chmodSync(dir, 0o755);
    await writeDevPki(dir, pki);
    expect(mode(dir)).toBe(0o755);
  });

  it('refuses to overwrite, naming the file, before writing anything', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'server.key'), 'old key');
    const error = await writeDevPki(dir, pki).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ScrapeguardError);
    expect((error as ScrapeguardError).code).toBe('FILE_EXISTS');
    expect((error as ScrapeguardError).message).toBe(`${join(dir, 'server.key')} already exists; refusing to overwrite it`);
    expect(readdirSync(dir)).toEqual(['server.key']);
    expect(readFileSync(join(dir, 'server.key'), 'utf8')).toBe('old key');
  });

  it('names every existing file, and treats a dangling symlink as existing', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'ca.crt'), 'old');
    symlinkSync(join(dir, 'nowhere'), join(dir, 'client.key'));
    await expect(writeDevPki(dir, pki)).rejects.toThrow(`${join(dir, 'ca.crt')}, ${join(dir, 'client.key')} already exist`);
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'client.key']);
  });

  it('with force, replaces every file and tightens a loose key mode', async () => {
    const dir = tmp();
    await writeDevPki(dir, pki);
    chmodSync(join(dir, 'server.key'), 0o644);
    await writeDevPki(dir, otherPki, { force: true });

    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(otherPki.ca.certPem);
    expect(readFileSync(join(dir, 'server.key'), 'utf8')).toBe(otherPki.server.keyPem);
    expect(mode(join(dir, 'server.key'))).toBe(0o600);
    // No temporary files left behind.
    expect(readdirSync(dir).sort()).toEqual(PKI_FILES);
  });

  it('with force, replaces a symlink instead of writing through it', async () => {
    const dir = tmp();
    const outside = join(tmp(), 'victim');
    writeFileSync(outside, 'do not touch', { mode: 0o644 });
    symlinkSync(outside, join(dir, 'ca.key'));
    await writeDevPki(dir, pki, { force: true });

    expect(readFileSync(outside, 'utf8')).toBe('do not touch');
    expect(lstatSync(join(dir, 'ca.key')).isFile()).toBe(true);
    expect(readFileSync(join(dir, 'ca.key'), 'utf8')).toBe(pki.ca.keyPem);
  });
});

describe('writeSecretFile', () => {
  it('creates a 0600 file even with a permissive umask', async () => {
    process.umask(0o000);
    const path = join(tmp(), 'password');
    expect(await writeSecretFile(path, 's3cret')).toEqual({ path, mode: 0o600 });
    expect(mode(path)).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe('s3cret');
  });

  it('refuses an existing file unless forced', async () => {
    const path = join(tmp(), 'password');
    writeFileSync(path, 'old', { mode: 0o644 });
    await expect(writeSecretFile(path, 'new')).rejects.toMatchObject({ code: 'FILE_EXISTS' });
    expect(readFileSync(path, 'utf8')).toBe('old');

    await writeSecretFile(path, new TextEncoder().encode('new'), { force: true });
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(mode(path)).toBe(0o600);
  });

  it('does not create missing parent directories', async () => {
    const path = join(tmp(), 'missing', 'password');
    await expect(writeSecretFile(path, 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    mkdirSync(join(path, '..'));
    await writeSecretFile(path, 'x');
    expect(mode(path)).toBe(0o600);
  });
});

/** What `openssl x509 -text` says about one certificate. */
interface OpensslView {
  subject: string;
  ski: string | undefined;
  aki: string | undefined;
}

async function opensslView(pem: string): Promise<OpensslView> {
  const file = join(tmp(), 'cert.pem');
  writeFileSync(file, pem);
  const r = await runProcess('openssl', ['x509', '-in', file, '-noout', '-text', '-nameopt', 'RFC2253']);
  expect(r.code, r.stderr).toBe(0);
  // The value is on the line after the extension's name; AKI may be prefixed "keyid:" (OpenSSL 1.1).
  const after = (label: string) => r.stdout.match(new RegExp(`X509v3 ${label}:[^\\n]*\\n\\s*(?:keyid:)?([0-9A-F:]+)\\s*\\n`))?.[1];
  return { subject: r.stdout.match(/Subject: ([^\n]*)/)?.[1] ?? '', ski: after('Subject Key Identifier'), aki: after('Authority Key Identifier') };
}

async function opensslVerify(caPem: string, certPem: string): Promise<{ code: number | null; output: string }> {
  const dir = tmp();
  writeFileSync(join(dir, 'ca.pem'), caPem);
  writeFileSync(join(dir, 'cert.pem'), certPem);
  const r = await runProcess('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'cert.pem')]);
  return { code: r.code, output: r.stdout + r.stderr };
}

/**
 * A TLS handshake on loopback. The server asks for a client certificate and reports how OpenSSL
 * judged it (`authorizationError`, the verify code) instead of dropping the connection, so the test
 * sees the reason; the client verifies the server against `client.trusts` as usual.
 */
async function handshake(
  server: { cert: string; key: string; trusts: string },
  client: { cert: string; key: string; trusts: string },
): Promise<{ clientError: string | undefined; serverVerdict: string | undefined }> {
  let serverVerdict: string | undefined;
  const tlsServer = createTlsServer({ cert: server.cert, key: server.key, ca: server.trusts, requestCert: true, rejectUnauthorized: false }, (socket) => {
    serverVerdict = socket.authorized ? 'authorized' : String(socket.authorizationError);
    socket.end('ok');
  });
  tlsServer.listen(0, '127.0.0.1');
  await once(tlsServer, 'listening');
  const { port } = tlsServer.address() as AddressInfo;
  try {
    const clientError = await new Promise<string | undefined>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: client.trusts, cert: client.cert, key: client.key });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      socket.once('data', () => {
        socket.destroy();
        resolve(undefined);
      });
    });
    return { clientError, serverVerdict };
  } finally {
    tlsServer.close();
  }
}

describe('key identifiers and unique CA names', () => {
  let rsaPki: DevPki;
  beforeAll(async () => {
    rsaPki = await generateDevPki({ keyType: 'rsa' });
  });

  it('gives every certificate a subject and an authority key identifier, the AKI equal to the issuer SKI (openssl x509 -text)', async () => {
    for (const p of [pki, rsaPki]) {
      const [ca, server, client] = await Promise.all([opensslView(p.ca.certPem), opensslView(p.server.certPem), opensslView(p.client.certPem)]);
      for (const view of [ca, server, client]) {
        expect(view.ski, view.subject).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
        expect(view.aki, view.subject).toBe(ca.ski);
      }
      expect(new Set([ca.ski, server.ski, client.ski]).size).toBe(3);
      // Re-signed after the extensions were added: the signatures still verify.
      expect(new X509Certificate(p.server.certPem).verify(new X509Certificate(p.ca.certPem).publicKey)).toBe(true);
      expect(new X509Certificate(p.ca.certPem).verify(new X509Certificate(p.ca.certPem).publicKey)).toBe(true);
    }
  });

  it('names each run\'s CA "scrapeguard development CA <random id>", different for every run', () => {
    const names = [pki, otherPki, rsaPki].map((p) => new X509Certificate(p.ca.certPem).subject);
    for (const name of names) expect(name).toMatch(/^CN=scrapeguard development CA [0-9a-f]{12}$/);
    expect(new Set(names).size).toBe(3);
  });

  it('openssl verify: a certificate from another run fails with "unable to get local issuer certificate", its own CA verifies it', async () => {
    expect(await opensslVerify(pki.ca.certPem, pki.client.certPem)).toMatchObject({ code: 0 });
    for (const [ca, cert] of [
      [pki.ca.certPem, otherPki.client.certPem],
      [otherPki.ca.certPem, pki.server.certPem],
    ] as const) {
      const r = await opensslVerify(ca, cert);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/error 20 at 0 depth lookup: unable to get local issuer certificate/);
      expect(r.output).not.toMatch(/signature failure/);
    }
  });

  it('even two CAs with the same name are told apart by key identifier (no "signature failure")', async () => {
    const caA = await generateCa({ commonName: 'same name CA' });
    const caB = await generateCa({ commonName: 'same name CA' });
    const leafB = await generateClientCert(caB, { commonName: 'prometheus', sans: ['prometheus'] });
    const r = await opensslVerify(caA.certPem, leafB.certPem);
    expect(r.output).toMatch(/unable to get local issuer certificate/);
    expect(r.output).not.toMatch(/signature failure/);
  });

  it('TLS handshake across two runs: the client reports an unknown issuer for the server, the server for the client certificate', async () => {
    const own = await handshake(
      { cert: pki.server.certPem, key: pki.server.keyPem, trusts: pki.ca.certPem },
      { cert: pki.client.certPem, key: pki.client.keyPem, trusts: pki.ca.certPem },
    );
    expect(own).toEqual({ clientError: undefined, serverVerdict: 'authorized' });

    // OpenSSL's two "issuer not found" codes (the second when the chain is the leaf alone), never
    // CERT_SIGNATURE_FAILURE, which is what a same-named CA without key identifiers produced.
    const unknownIssuer = /^(UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/;
    const serverFromOtherRun = await handshake(
      { cert: otherPki.server.certPem, key: otherPki.server.keyPem, trusts: pki.ca.certPem },
      { cert: pki.client.certPem, key: pki.client.keyPem, trusts: pki.ca.certPem },
    );
    expect(serverFromOtherRun.clientError).toMatch(unknownIssuer);

    const clientFromOtherRun = await handshake(
      { cert: pki.server.certPem, key: pki.server.keyPem, trusts: pki.ca.certPem },
      { cert: otherPki.client.certPem, key: otherPki.client.keyPem, trusts: pki.ca.certPem },
    );
    expect(clientFromOtherRun.serverVerdict).toMatch(unknownIssuer);
  });
});
