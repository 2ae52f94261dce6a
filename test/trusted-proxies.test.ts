/**
 * The trusted-proxy resolver and the client-certificate chain check on their own: XFCC parsing
 * (quotes, escapes, several hops), every certificate encoding proxies use, address and CIDR
 * matching (IPv4, IPv6, mapped), X-Forwarded-For walking, the option checks, and chain
 * verification through intermediates. The adapters suite covers the same over real sockets.
 */
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import { compileTrustedProxies, decodeForwardedCertificates, parseXfcc, type TrustedProxyOptions } from '../src/net/trusted-proxies.js';
import { createPeerVerifier } from '../src/tls/verify-chain.js';
import { verifyChain } from '../src/tls/x509.js';
import type { ScrapeRequest } from '../src/core/request.js';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createGuard } from '../src/guard.js';
import { metricsHandler } from '../src/adapters/http.js';
import { scrape } from './helpers/client.js';
import type { LogFields, Logger } from '../src/log.js';
import { generateCa, generateClientCert, type CertificateAndKey } from '../src/tools/pki/generate.js';
import { generate } from 'selfsigned';
import { testPki, type TestPki } from './helpers/pki.js';

let pki: TestPki;
/** root → intermediate CA → leaf (client, SAN prometheus). */
let root: CertificateAndKey;
let intermediate: CertificateAndKey;
let leafViaIntermediate: CertificateAndKey;
/** A leaf "issued" by a non-CA certificate (a client cert used as issuer). */
let leafViaNonCa: CertificateAndKey;
let nonCaIssuer: CertificateAndKey;

/** An intermediate CA signed by `issuer` (the pki module only makes self-signed CAs). */
async function intermediateCa(issuer: CertificateAndKey, commonName: string): Promise<CertificateAndKey> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 60_000),
    notAfterDate: new Date(Date.now() + 86_400_000),
    ca: { key: issuer.keyPem, cert: issuer.certPem },
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { certPem: pems.cert, keyPem: pems.private };
}

beforeAll(async () => {
  pki = await testPki();
  root = await generateCa({ commonName: 'root CA' });
  intermediate = await intermediateCa(root, 'intermediate CA');
  leafViaIntermediate = await generateClientCert(intermediate, { commonName: 'prometheus', sans: ['prometheus'] });
  nonCaIssuer = await generateClientCert(root, { commonName: 'not a CA' });
  leafViaNonCa = await generateClientCert(nonCaIssuer, { commonName: 'prometheus', sans: ['prometheus'] });
});

function logger(lines: { message: string; fields: LogFields }[]): Logger {
  const push = (message: string, fields?: LogFields) => lines.push({ message, fields: fields ?? {} });
  return { debug: push, info: push, warn: push, error: push };
}

function req(remoteAddress: string, headers: Record<string, string>, tls?: ScrapeRequest['tls']): ScrapeRequest {
  return { method: 'GET', path: '/metrics', headers, remoteAddress, ...(tls ? { tls } : {}) };
}

describe('parseXfcc', () => {
  test('splits hops on commas and pairs on semicolons, honouring quotes and escapes', () => {
    const value = 'By=spiffe://a;Hash=aa;Subject="CN=x, O=\\"q;uoted\\"";URI=spiffe://one,By=spiffe://b;Hash=bb;Cert="abc%0A";DNS=x.example;DNS=y.example';
    const [first, second] = parseXfcc(value);
    expect(first?.get('subject')).toBe('CN=x, O="q;uoted"');
    expect(first?.get('uri')).toBe('spiffe://one');
    expect(second?.get('by')).toBe('spiffe://b');
    expect(second?.get('cert')).toBe('abc%0A');
    expect(second?.get('dns')).toBe('x.example');
  });

  test('an empty value has no elements', () => {
    expect(parseXfcc('')).toEqual([]);
  });
});

describe('decodeForwardedCertificates', () => {
  test('URL-encoded PEM, folded PEM (spaces or tabs) and base64 DER all decode to the same certificate', () => {
    const pem = pki.client.certPem;
    const der = new X509Certificate(pem).raw.toString('base64');
    const forms = [encodeURIComponent(pem), pem.replaceAll('\n', ' '), pem.replaceAll('\n', '\t'), der];
    for (const form of forms) {
      const [cert] = decodeForwardedCertificates(form);
      expect(cert?.fingerprint256).toBe(new X509Certificate(pem).fingerprint256);
    }
  });

  test('a chain decodes leaf first', () => {
    const certs = decodeForwardedCertificates(encodeURIComponent(pki.client.certPem + pki.ca.certPem));
    expect(certs.map((c) => c.subject)).toEqual([new X509Certificate(pki.client.certPem).subject, new X509Certificate(pki.ca.certPem).subject]);
  });

  test('garbage throws (the resolver then treats the certificate as absent)', () => {
    expect(() => decodeForwardedCertificates('not a certificate')).toThrow();
  });
});

describe('verifyChain, tls-client mode', () => {
  const chainsTo = (leaf: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[]): boolean =>
    verifyChain(leaf, intermediates, roots, { mode: 'tls-client' });
  const x = (pem: string) => new X509Certificate(pem);

  test('a leaf signed by a root of the bundle', () => {
    expect(chainsTo(x(pki.client.certPem), [], [x(pki.ca.certPem)])).toBe(true);
    expect(chainsTo(x(pki.client.certPem), [], [x(pki.otherCa.certPem)])).toBe(false);
    expect(chainsTo(x(pki.client.certPem), [], [])).toBe(false);
  });

  test('dates: expired and not-yet-valid leaves fail', () => {
    expect(chainsTo(x(pki.clientExpired.certPem), [], [x(pki.ca.certPem)])).toBe(false);
    expect(chainsTo(x(pki.clientNotYetValid.certPem), [], [x(pki.ca.certPem)])).toBe(false);
  });

  test('through an intermediate CA the client presented, up to the root', () => {
    expect(chainsTo(x(leafViaIntermediate.certPem), [x(intermediate.certPem)], [x(root.certPem)])).toBe(true);
    // The intermediate itself may be the configured CA.
    expect(chainsTo(x(leafViaIntermediate.certPem), [], [x(intermediate.certPem)])).toBe(true);
    // Missing intermediate, or an unrelated root: no.
    expect(chainsTo(x(leafViaIntermediate.certPem), [], [x(root.certPem)])).toBe(false);
    expect(chainsTo(x(leafViaIntermediate.certPem), [x(intermediate.certPem)], [x(pki.ca.certPem)])).toBe(false);
  });

  test('an issuer that is not a CA breaks the chain, even though its signature is good', () => {
    expect(chainsTo(x(leafViaNonCa.certPem), [x(nonCaIssuer.certPem)], [x(root.certPem)])).toBe(false);
  });

  test('a self-signed certificate carrying the right names is not verified', () => {
    expect(chainsTo(x(pki.clientSelfSigned.certPem), [x(pki.clientSelfSigned.certPem)], [x(pki.ca.certPem)])).toBe(false);
  });

  test('a server-only certificate (extended key usage serverAuth) cannot authenticate a client', () => {
    const server = x(pki.server.certPem);
    if (server.keyUsage && !server.keyUsage.includes('1.3.6.1.5.5.7.3.2')) {
      expect(chainsTo(server, [], [x(pki.ca.certPem)])).toBe(false);
    }
  });
});

describe('compileTrustedProxies', () => {
  test('refuses addresses that are not IPs or CIDR ranges, and bad header options, with TypeError', () => {
    const bad: unknown[] = [
      { addresses: [] },
      { addresses: ['proxy.example'] },
      { addresses: ['10.0.0.0/33'] },
      { addresses: ['::1/129'] },
      { addresses: ['10.0.0.1/'] },
      { addresses: ['10.0.0.1/8/2'] },
      { addresses: ['10.0.0.1'], clientCertificate: 'pem' },
      { addresses: ['10.0.0.1'], clientCertificate: { header: ' ' } },
      { addresses: ['10.0.0.1'], clientCertificate: { header: 'x-cert', verifyHeader: '' } },
      'nope',
    ];
    for (const options of bad) expect(() => compileTrustedProxies(options as TrustedProxyOptions, logger([])), JSON.stringify(options)).toThrow(TypeError);
  });

  test('without the option, headers pass through untouched and are never read', () => {
    const resolve = compileTrustedProxies(undefined, logger([]));
    const r = req('10.0.0.1', { 'x-forwarded-proto': 'https' });
    expect(resolve(r, undefined)).toBe(r);
  });

  test('CIDR ranges, IPv6 and plain requests', () => {
    const lines: { message: string; fields: LogFields }[] = [];
    const resolve = compileTrustedProxies({ addresses: ['10.0.0.0/8', 'fd00::/8', '::1'] }, logger(lines));
    const forwarded = { 'x-forwarded-proto': 'https' };
    expect(resolve(req('10.20.30.40', forwarded), undefined).tls?.protocol).toBe('forwarded');
    expect(resolve(req('fd12::7', forwarded), undefined).tls?.protocol).toBe('forwarded');
    expect(resolve(req('::1', forwarded), undefined).tls?.protocol).toBe('forwarded');
    expect(resolve(req('11.0.0.1', forwarded), undefined).tls).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]?.fields).toMatchObject({ remote: '11.0.0.1', header: 'x-forwarded-proto' });
    // No forwarding header: the very same request object, no log line.
    const plain = req('11.0.0.1', { accept: 'text/plain' });
    expect(resolve(plain, undefined)).toBe(plain);
    expect(lines).toHaveLength(1);
  });

  test('identity headers from an untrusted peer are removed from what the core sees, the socket facts kept', () => {
    const resolve = compileTrustedProxies({ addresses: ['10.0.0.1'], clientCertificate: { header: 'X-SSL-Cert', verifyHeader: 'X-SSL-Verify' } }, logger([]));
    const socketTls = { protocol: 'TLSv1.3', clientCertificateVerified: false };
    const out = resolve(
      req(
        '192.0.2.9',
        { 'x-ssl-cert': encodeURIComponent(pki.client.certPem), 'x-ssl-verify': 'SUCCESS', 'x-forwarded-for': '10.0.0.1', authorization: 'Basic eA==' },
        socketTls,
      ),
      pki.ca.certPem,
    );
    expect(out.tls).toEqual(socketTls);
    expect(out.remoteAddress).toBe('192.0.2.9');
    expect(out.headers).toEqual({ authorization: 'Basic eA==' });
  });

  test("a trusted proxy's own client certificate never stands for its client when certificates are forwarded", () => {
    const resolve = compileTrustedProxies({ addresses: ['10.0.0.1'], clientCertificate: 'xfcc' }, logger([]));
    // The proxy authenticated to us with its own certificate (say CN=proxy, signed by client_ca).
    const proxyTls = { protocol: 'TLSv1.3', clientCertificate: { subject: 'CN=proxy' } as never, clientCertificateVerified: true };
    const bare = { protocol: 'TLSv1.3', clientCertificateVerified: false };
    // Its client showed no certificate: no XFCC, or only X-Forwarded-For, or an unreadable one.
    expect(resolve(req('10.0.0.1', {}, proxyTls), pki.ca.certPem).tls).toEqual(bare);
    expect(resolve(req('10.0.0.1', { 'x-forwarded-for': '203.0.113.5' }, proxyTls), pki.ca.certPem).tls).toEqual(bare);
    expect(resolve(req('10.0.0.1', { 'x-forwarded-client-cert': 'Cert="not-a-certificate"' }, proxyTls), pki.ca.certPem).tls).toEqual(bare);
    // Without certificate forwarding configured, the proxy is the client and its certificate counts.
    const plain = compileTrustedProxies({ addresses: ['10.0.0.1'] }, logger([]));
    expect(plain(req('10.0.0.1', { 'x-forwarded-for': '203.0.113.5' }, proxyTls), pki.ca.certPem).tls).toEqual(proxyTls);
  });

  test('X-Forwarded-For: the right-most address that is not one of our proxies', () => {
    const resolve = compileTrustedProxies({ addresses: ['10.0.0.0/8'] }, logger([]));
    expect(resolve(req('10.0.0.1', { 'x-forwarded-for': '198.51.100.1, 203.0.113.5, 10.0.0.2' }), undefined).remoteAddress).toBe('203.0.113.5');
    // A spoofed left part does not matter: the proxy appended the real peer on the right.
    expect(resolve(req('10.0.0.1', { 'x-forwarded-for': '10.9.9.9, 203.0.113.5' }), undefined).remoteAddress).toBe('203.0.113.5');
    // Everything is ours: the left-most of our hops.
    expect(resolve(req('10.0.0.1', { 'x-forwarded-for': '10.0.0.3, 10.0.0.2' }), undefined).remoteAddress).toBe('10.0.0.3');
    // Not an address (obfuscated, with a port): stop there.
    expect(resolve(req('10.0.0.1', { 'x-forwarded-for': '203.0.113.5, unknown' }), undefined).remoteAddress).toBe('10.0.0.1');
  });

  test('XFCC: the last hop is the one the trusted proxy added; verified only when it chains to the client CA', () => {
    const resolve = compileTrustedProxies({ addresses: ['127.0.0.1'], clientCertificate: 'xfcc' }, logger([]));
    const el = (pem: string) => `By=spiffe://x;Cert="${encodeURIComponent(pem)}"`;
    const twoHops = `${el(pki.clientOtherCa.certPem)},${el(pki.client.certPem)}`;
    const out = resolve(req('127.0.0.1', { 'x-forwarded-client-cert': twoHops, 'x-forwarded-proto': 'https' }), pki.ca.certPem);
    expect(out.tls?.clientCertificate?.commonName).toBe('prometheus');
    expect(out.tls?.clientCertificateVerified).toBe(true);
    // Against another client CA (a reload changed it): not verified.
    expect(resolve(req('127.0.0.1', { 'x-forwarded-client-cert': twoHops }), pki.otherCa.certPem).tls?.clientCertificateVerified).toBe(false);
    // An XFCC element without Cert (Envoy's default By+Hash only) gives no certificate.
    const hashOnly = resolve(req('127.0.0.1', { 'x-forwarded-client-cert': 'By=spiffe://x;Hash=abc', 'x-forwarded-proto': 'https' }), pki.ca.certPem);
    expect(hashOnly.tls).toEqual({ protocol: 'forwarded', clientCertificateVerified: false });
  });

  test('a certificate forwarded with Chain= verifies through the intermediate the proxy passed on', () => {
    const resolve = compileTrustedProxies({ addresses: ['127.0.0.1'], clientCertificate: 'xfcc' }, logger([]));
    const withChain = `Cert="${encodeURIComponent(leafViaIntermediate.certPem)}";Chain="${encodeURIComponent(leafViaIntermediate.certPem + intermediate.certPem)}"`;
    const withoutChain = `Cert="${encodeURIComponent(leafViaIntermediate.certPem)}"`;
    const headers = (xfcc: string) => ({ 'x-forwarded-client-cert': xfcc, 'x-forwarded-proto': 'https' });
    expect(resolve(req('127.0.0.1', headers(withChain)), root.certPem).tls?.clientCertificateVerified).toBe(true);
    expect(resolve(req('127.0.0.1', headers(withoutChain)), root.certPem).tls?.clientCertificateVerified).toBe(false);
  });
});

describe('a client presenting its intermediate over a real TLS connection', () => {
  test('the mounted guard verifies leaf → intermediate → configured root from the socket', async () => {
    const logs: { message: string; fields: LogFields }[] = [];
    const guard = await createGuard({
      config: {
        tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem, client_ca: root.certPem, client_auth_type: 'RequireAndVerifyClientCert' },
      },
      source: () => 'chain_ok 1\n',
      logger: logger(logs),
      watch: false,
    });
    // The application's server trusts nothing of this PKI: only the guard's own check can verify.
    const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true, rejectUnauthorized: false }, metricsHandler(guard));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    try {
      const full = await scrape(url, { ca: pki.ca.certPem, cert: leafViaIntermediate.certPem + '\n' + intermediate.certPem, key: leafViaIntermediate.keyPem });
      expect(full.status, JSON.stringify(logs)).toBe(200);
      expect(full.body).toBe('chain_ok 1\n');
      const leafOnly = await scrape(url, { ca: pki.ca.certPem, cert: leafViaIntermediate.certPem, key: leafViaIntermediate.keyPem });
      expect(leafOnly.status).toBe(403);
      const nonCa = await scrape(url, { ca: pki.ca.certPem, cert: leafViaNonCa.certPem + '\n' + nonCaIssuer.certPem, key: leafViaNonCa.keyPem });
      expect(nonCa.status).toBe(403);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await guard.close(0);
    }
  });
});

describe('createPeerVerifier', () => {
  test('re-decides "verified" from the config client CA, whatever the socket said, and caches per certificate', () => {
    const verify = createPeerVerifier();
    const leaf = new X509Certificate(pki.clientOtherCa.certPem);
    const tls = { protocol: 'TLSv1.3', clientCertificateVerified: true, peerCertificates: [leaf] };
    const socketSaidYes = req('127.0.0.1', {}, tls);
    expect(verify(socketSaidYes, pki.ca.certPem).tls?.clientCertificateVerified).toBe(false);
    expect(verify(socketSaidYes, pki.otherCa.certPem)).toBe(socketSaidYes);
    const good = new X509Certificate(pki.client.certPem);
    const socketSaidNo = req('127.0.0.1', {}, { protocol: 'TLSv1.3', clientCertificateVerified: false, peerCertificates: [good] });
    expect(verify(socketSaidNo, pki.ca.certPem).tls?.clientCertificateVerified).toBe(true);
  });
});
