/**
 * Transport checks: plain HTTP, the server certificate (expiry, host name, trust), protocol
 * versions below TLS 1.2 and weak TLS 1.2 cipher suites, plus ALPN facts. Each probe is a real
 * handshake with Node's TLS client forced to one version or one suite: a completed handshake
 * means the server accepts it. OpenSSL 3 offers TLS 1.0/1.1 and legacy suites only at security
 * level 0, hence `DEFAULT@SECLEVEL=0` in those probes.
 */
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, connect, getCiphers, rootCertificates, type ConnectionOptions, type PeerCertificate, type SecureVersion } from 'node:tls';
import { bareHost, isIpLiteral, urlPort, type ProbeCredentials } from './client.js';
import { finding, type Finding } from './findings.js';

/** Options of {@link checkTransport}. */
export interface TransportOptions {
  credentials: ProbeCredentials;
  timeoutMs: number;
  /** Report certificates expiring within this many days. */
  expiryDays: number;
  /** Fix hints for the target (scrapeguard commands). */
  hints: readonly string[];
  /** Evaluation time (tests pin it). */
  now?: Date;
}

/**
 * TLS 1.2 suites scan counts as weak: no forward secrecy (static RSA key exchange) or broken
 * algorithms (3DES, RC4, NULL, anonymous). Probed one at a time; suites this Node's OpenSSL cannot
 * offer are skipped (and listed in the evidence as not probed).
 */
export const WEAK_TLS12_CIPHERS: readonly string[] = [
  'AES128-SHA',
  'AES256-SHA',
  'AES128-SHA256',
  'AES256-SHA256',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'DES-CBC3-SHA',
  'ECDHE-RSA-DES-CBC3-SHA',
  'ECDHE-ECDSA-DES-CBC3-SHA',
  'RC4-SHA',
  'RC4-MD5',
  'ECDHE-RSA-RC4-SHA',
  'NULL-SHA',
  'NULL-SHA256',
  'NULL-MD5',
  'ADH-AES128-SHA',
  'ADH-AES256-GCM-SHA384',
  'AECDH-AES128-SHA',
];

const LEGACY_VERSIONS: readonly SecureVersion[] = ['TLSv1', 'TLSv1.1'];

/** What a handshake probe saw. */
export interface HandshakeResult {
  ok: boolean;
  protocol?: string | null;
  cipher?: string;
  alpn?: string | false;
  peerCertificate?: PeerCertificate;
  authorizationError?: string;
  error?: string;
}

/**
 * One TLS handshake to `url`'s host and port with extra client options; resolves when it
 * completes or fails (never rejects). The connection is closed right after.
 */
export function handshake(url: URL, credentials: ProbeCredentials, timeoutMs: number, extra: ConnectionOptions = {}): Promise<HandshakeResult> {
  const host = bareHost(url.hostname);
  return new Promise((resolve) => {
    let settled = false;
    const options: ConnectionOptions = {
      host,
      port: urlPort(url),
      rejectUnauthorized: false,
      ...(isIpLiteral(url.hostname) ? {} : { servername: host }),
      ...(credentials.ca !== undefined ? { ca: credentials.ca } : {}),
      ...(credentials.cert !== undefined && credentials.key !== undefined ? { cert: credentials.cert, key: credentials.key } : {}),
      ...extra,
    };
    let socket: ReturnType<typeof connect>;
    const finish = (result: HandshakeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, error: 'timeout' }), timeoutMs);
    try {
      socket = connect(options, () => {
        const cert = socket.getPeerCertificate(true);
        finish({
          ok: true,
          protocol: socket.getProtocol(),
          cipher: socket.getCipher().name,
          alpn: socket.alpnProtocol ?? false,
          ...(cert && Object.keys(cert).length > 0 ? { peerCertificate: cert } : {}),
          ...(socket.authorizationError ? { authorizationError: String(socket.authorizationError) } : {}),
        });
      });
      socket.on('error', (error: NodeJS.ErrnoException) => finish({ ok: false, error: error.code ?? error.message }));
    } catch (error) {
      // The client itself cannot offer the version or suite (e.g. no cipher match): not probed.
      finish({ ok: false, error: `client: ${(error as Error).message}` });
    }
  });
}

/** Errors of the chain verification that are about time, not trust. */
const TIME_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** What {@link checkTransport} found; `handshakeError` when not even the baseline handshake completed. */
export interface TransportResult {
  findings: Finding[];
  handshakeError?: string;
}

/**
 * Runs the transport checks for one URL. Plain HTTP yields one finding and nothing else; HTTPS
 * yields certificate, version, cipher findings and the ALPN fact — or, when the baseline handshake
 * (with the given client certificate, if any) fails, nothing but the reason: then nothing about
 * the transport is known and the caller reports the target as not scanned.
 */
export async function checkTransport(url: URL, options: TransportOptions): Promise<TransportResult> {
  const target = url.href;
  if (url.protocol === 'http:') {
    return { findings: [finding('transport.plain-http', target, 'the endpoint is served over plain HTTP', { scheme: 'http' }, options.hints)] };
  }
  const findings: Finding[] = [];
  const base = await handshake(url, options.credentials, options.timeoutMs, { ALPNProtocols: ['h2', 'http/1.1'] });
  if (!base.ok) {
    const hint = options.credentials.cert === undefined ? ' (if the server requires a client certificate, pass --cert/--key)' : '';
    return { findings, handshakeError: `TLS handshake failed: ${base.error ?? 'unknown error'}${hint}` };
  }

  findings.push(
    finding('transport.alpn', target, `negotiated ${base.protocol ?? 'TLS'} with ALPN ${base.alpn === false ? '(none)' : base.alpn}`, {
      protocol: base.protocol ?? 'unknown',
      cipher: base.cipher ?? 'unknown',
      alpn: base.alpn === false ? 'none' : (base.alpn ?? 'none'),
      http2: base.alpn === 'h2',
    }),
  );
  if (base.peerCertificate) findings.push(...certificateFindings(url, base, options));

  for (const version of LEGACY_VERSIONS) {
    const probe = await handshake(url, options.credentials, options.timeoutMs, { minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' });
    if (probe.ok) {
      findings.push(
        finding(
          'transport.tls-legacy-version',
          target,
          `the server completes a ${version} handshake`,
          { version, cipher: probe.cipher ?? 'unknown' },
          options.hints,
        ),
      );
    }
  }

  const offerable = new Set(getCiphers().map((c) => c.toUpperCase()));
  const accepted: string[] = [];
  const notProbed: string[] = [];
  for (const suite of WEAK_TLS12_CIPHERS) {
    if (!offerable.has(suite)) {
      notProbed.push(suite);
      continue;
    }
    const probe = await handshake(url, options.credentials, options.timeoutMs, {
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      ciphers: `${suite}@SECLEVEL=0`,
    });
    if (probe.ok) accepted.push(suite);
    else if (probe.error?.startsWith('client:')) notProbed.push(suite);
  }
  if (accepted.length > 0) {
    findings.push(
      finding(
        'transport.tls-weak-cipher',
        target,
        `the server accepts ${accepted.join(', ')}`,
        {
          accepted: accepted.join(','),
          ...(notProbed.length > 0 ? { notProbed: notProbed.join(',') } : {}),
        },
        options.hints,
      ),
    );
  }
  return { findings };
}

function certificateFindings(url: URL, base: HandshakeResult, options: TransportOptions): Finding[] {
  const target = url.href;
  // Certificate problems are fixed by a new certificate, not by a sidecar: the first hint (init,
  // which issues one for the host) is the only one that applies.
  const hints = options.hints.slice(0, 1);
  const cert = base.peerCertificate!;
  const findings: Finding[] = [];
  const now = options.now ?? new Date();
  const notBefore = new Date(cert.valid_from);
  const notAfter = new Date(cert.valid_to);
  const subject = describeSubject(cert);
  const evidence = { subject, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), fingerprint256: cert.fingerprint256 };

  if (notAfter.getTime() < now.getTime() || notBefore.getTime() > now.getTime()) {
    const what = notAfter.getTime() < now.getTime() ? `expired on ${notAfter.toISOString()}` : `is not valid before ${notBefore.toISOString()}`;
    findings.push(finding('transport.cert-expired', target, `the server certificate ${what}`, evidence, hints));
  } else {
    const days = (notAfter.getTime() - now.getTime()) / 86_400_000;
    if (days < options.expiryDays) {
      findings.push(
        finding(
          'transport.cert-expiring',
          target,
          `the server certificate expires in ${Math.floor(days)} days (${notAfter.toISOString()})`,
          { ...evidence, days: Math.floor(days) },
          hints,
        ),
      );
    }
  }

  const host = bareHost(url.hostname);
  const identityError = checkServerIdentity(host, cert);
  if (identityError) {
    findings.push(
      finding(
        'transport.cert-name-mismatch',
        target,
        `the server certificate is not valid for ${host}`,
        { ...evidence, host, names: cert.subjectaltname ?? '' },
        hints,
      ),
    );
  }

  // OpenSSL reports the last verification error, so an expired certificate hides an unknown
  // issuer: then the chain is checked against the anchors here, without the clock.
  let error = base.authorizationError;
  if (error !== undefined && TIME_ERRORS.has(error)) {
    error = chainsToAnchor(cert, options.credentials.ca) ? undefined : 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY';
  }
  if (error !== undefined) {
    const selfSigned = isSelfSigned(cert);
    findings.push(
      finding(
        'transport.cert-untrusted',
        target,
        `${selfSigned ? 'the server certificate is self-signed' : 'the server certificate does not chain to a trusted CA'} (${error})${options.credentials.ca !== undefined ? ' with the pinned --ca-file' : '; pass --ca-file to pin the issuing CA'}`,
        { ...evidence, verifyError: error, selfSigned, pinnedCa: options.credentials.ca !== undefined },
        hints,
      ),
    );
  }
  return findings;
}

/** The PEM blocks of a bundle as X509 certificates (unparsable blocks are skipped). */
function parseBundle(pems: readonly string[]): X509Certificate[] {
  const certs: X509Certificate[] = [];
  for (const pem of pems) {
    for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
      try {
        certs.push(new X509Certificate(block));
      } catch {
        // Not a certificate Node can read: it cannot be an anchor either.
      }
    }
  }
  return certs;
}

/**
 * Whether the presented chain leads to a trust anchor (the pinned CA bundle, else Node's roots),
 * by signatures only: validity times are judged separately.
 */
function chainsToAnchor(leaf: PeerCertificate, pinnedCa: string | undefined): boolean {
  try {
    return walkChain(leaf, pinnedCa);
  } catch {
    return false; // A certificate Node cannot parse chains to nothing.
  }
}

function walkChain(leaf: PeerCertificate, pinnedCa: string | undefined): boolean {
  const anchors = parseBundle(pinnedCa !== undefined ? [pinnedCa] : rootCertificates);
  let current: PeerCertificate | undefined = leaf;
  for (let depth = 0; current !== undefined && depth < 10; depth++) {
    const x509 = new X509Certificate(current.raw);
    if (anchors.some((a) => a.raw.equals(x509.raw) || (x509.checkIssued(a) && x509.verify(a.publicKey)))) return true;
    const issuer: PeerCertificate | undefined = (current as { issuerCertificate?: PeerCertificate }).issuerCertificate;
    if (issuer === undefined || issuer === current || issuer.raw.equals(current.raw)) return false;
    const issuerX509 = new X509Certificate(issuer.raw);
    if (!(x509.checkIssued(issuerX509) && x509.verify(issuerX509.publicKey))) return false;
    current = issuer;
  }
  return false;
}

function describeSubject(cert: PeerCertificate): string {
  const cn = cert.subject?.CN;
  return Array.isArray(cn) ? cn.join(',') : (cn ?? '');
}

function isSelfSigned(cert: PeerCertificate): boolean {
  try {
    // Not checkIssued(): it also demands keyCertSign, which a self-signed leaf usually lacks.
    const x509 = new X509Certificate(cert.raw);
    return x509.subject === x509.issuer && x509.verify(x509.publicKey);
  } catch {
    return false;
  }
}
