/**
 * Test PKI: every certificate the suites need, generated at run time with the project's own pki
 * module and written to a temporary directory (keys 0600). Nothing here is committed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCa, generateClientCert, generateServerCert, type CertificateAndKey } from '../../src/tools/pki/generate.js';

/** A certificate with its PEMs and the paths it was written to. */
export interface TestCert extends CertificateAndKey {
  certFile: string;
  keyFile: string;
}

/** Everything a TLS test may need. */
export interface TestPki {
  dir: string;
  ca: TestCert;
  otherCa: TestCert;
  /** RSA CA that signed `serverRsa`. */
  rsaCa: TestCert;
  /** ECDSA P-256 server cert for localhost, 127.0.0.1, ::1, signed by `ca`. */
  server: TestCert;
  /** RSA-2048 server cert, same names, signed by `rsaCa`. */
  serverRsa: TestCert;
  /** Server cert that expired yesterday. */
  serverExpired: TestCert;
  /** Client cert CN/SAN `prometheus`, signed by `ca`. */
  client: TestCert;
  /** Client cert CN `prometheus` but SAN `intruder`, signed by `ca`. */
  clientWrongSan: TestCert;
  /** Client cert signed by `otherCa`. */
  clientOtherCa: TestCert;
  /** Self-signed client cert CN/SAN `prometheus`. */
  clientSelfSigned: TestCert;
  /** Client cert signed by `ca` that expired yesterday. */
  clientExpired: TestCert;
  /** Client cert signed by `ca` valid only from tomorrow. */
  clientNotYetValid: TestCert;
  /** Client cert with URI, e-mail and IP SANs (`spiffe://cluster/ns/monitoring/sa/prometheus`, `scraper@example.com`, `10.0.0.7`). */
  clientMultiSan: TestCert;
}

const DAY = 86_400_000;

function save(dir: string, name: string, pair: CertificateAndKey): TestCert {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(certFile, pair.certPem);
  writeFileSync(keyFile, pair.keyPem, { mode: 0o600 });
  return { ...pair, certFile, keyFile };
}

let cached: Promise<TestPki> | undefined;

/** Generates (once per test file) and returns the test PKI. */
export function testPki(): Promise<TestPki> {
  cached ??= build();
  return cached;
}

async function build(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-pki-'));
  const now = Date.now();
  const ca = await generateCa({ commonName: 'test CA' });
  const otherCa = await generateCa({ commonName: 'other CA' });
  const rsaCa = await generateCa({ commonName: 'RSA test CA', keyType: 'rsa' });
  const names = ['localhost', '127.0.0.1', '::1'];
  const [server, serverRsa, serverExpired, client, clientWrongSan, clientOtherCa, clientSelfSigned, clientExpired, clientNotYetValid, clientMultiSan] =
    await Promise.all([
      generateServerCert(ca, { commonName: 'localhost', sans: names }),
      generateServerCert(rsaCa, { commonName: 'localhost', sans: names, keyType: 'rsa' }),
      generateServerCert(ca, { commonName: 'localhost', sans: names, notBefore: new Date(now - 30 * DAY), notAfter: new Date(now - DAY) }),
      generateClientCert(ca, { commonName: 'prometheus', sans: ['prometheus'] }),
      generateClientCert(ca, { commonName: 'prometheus', sans: ['intruder'] }),
      generateClientCert(otherCa, { commonName: 'prometheus', sans: ['prometheus'] }),
      generateClientCert(null, { commonName: 'prometheus', sans: ['prometheus'] }),
      generateClientCert(ca, { commonName: 'prometheus', sans: ['prometheus'], notBefore: new Date(now - 30 * DAY), notAfter: new Date(now - DAY) }),
      generateClientCert(ca, { commonName: 'prometheus', sans: ['prometheus'], notBefore: new Date(now + DAY), notAfter: new Date(now + 30 * DAY) }),
      generateClientCert(ca, {
        commonName: 'scraper',
        sans: ['spiffe://cluster/ns/monitoring/sa/prometheus', 'scraper@example.com', '10.0.0.7'],
      }),
    ]);
  return {
    dir,
    ca: save(dir, 'ca', ca),
    otherCa: save(dir, 'other-ca', otherCa),
    rsaCa: save(dir, 'rsa-ca', rsaCa),
    server: save(dir, 'server', server),
    serverRsa: save(dir, 'server-rsa', serverRsa),
    serverExpired: save(dir, 'server-expired', serverExpired),
    client: save(dir, 'client', client),
    clientWrongSan: save(dir, 'client-wrong-san', clientWrongSan),
    clientOtherCa: save(dir, 'client-other-ca', clientOtherCa),
    clientSelfSigned: save(dir, 'client-self-signed', clientSelfSigned),
    clientExpired: save(dir, 'client-expired', clientExpired),
    clientNotYetValid: save(dir, 'client-not-yet-valid', clientNotYetValid),
    clientMultiSan: save(dir, 'client-multi-san', clientMultiSan),
  };
}
