/**
 * The few X.509 questions the scrape-config generator asks: does this CA bundle verify that chain,
 * which names does a server certificate answer to (as Go's `VerifyHostname` sees them), is a
 * certificate usable for client authentication. Only public certificates are parsed here, except
 * for the key-pair check, which never reveals the key.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { canonicalIp, subjectAltNames, type SubjectAltNames } from '../../tls/client-cert.js';
import { pemBlocks } from '../../config/certs.js';

/** Every `CERTIFICATE` block of `pem` that parses; the rest is ignored. */
export function parseCertificates(pem: string): X509Certificate[] {
  const certs: X509Certificate[] = [];
  for (const block of pemBlocks(pem).blocks) {
    if (block.label !== 'CERTIFICATE') continue;
    try {
      certs.push(new X509Certificate(block.text));
    } catch {
      // Unparseable blocks cannot verify anything; the caller reports "did not sign".
    }
  }
  return certs;
}

const MAX_CHAIN = 8;

/**
 * Whether `roots` verify `chain[0]`, using `chain[1..]` as intermediates — the question Go's
 * `x509.Certificate.Verify` answers, minus names and usages (checked separately). A root that is
 * the leaf itself (a self-signed server certificate used as its own CA file) counts.
 */
export function chainVerifies(chain: readonly X509Certificate[], roots: readonly X509Certificate[]): boolean {
  let current = chain[0];
  if (!current) return false;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const cur: X509Certificate = current;
    if (roots.some((r) => r.fingerprint256 === cur.fingerprint256)) return true;
    if (roots.some((r) => cur.checkIssued(r) && cur.verify(r.publicKey))) return true;
    const next = chain.find((c) => c !== cur && c.fingerprint256 !== cur.fingerprint256 && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!next) return false;
    current = next;
  }
  return false;
}

/**
 * A certificate is self-signed when it names itself as issuer and its own key verifies it.
 * (Not `checkIssued(cert)`: OpenSSL also demands keyCertSign there, which a self-signed leaf lacks.)
 */
export function isSelfSigned(cert: X509Certificate): boolean {
  return cert.subject === cert.issuer && cert.verify(cert.publicKey);
}

/** The names a server certificate answers to (Go ignores the CN since 1.15, so only SANs). */
export interface ServerNames {
  /** DNS SANs, lower-case; may start with `*.`. */
  dns: string[];
  /** IP SANs in canonical text form. */
  ip: string[];
}

/** Reads {@link ServerNames} from a server certificate. */
export function serverNames(cert: X509Certificate): ServerNames {
  const sans: SubjectAltNames = subjectAltNames(cert);
  return { dns: sans.dns.map((d) => d.toLowerCase()), ip: sans.ip };
}

/**
 * Whether a certificate with `names` is valid for `host`, as Go's `VerifyHostname`: an IP host
 * matches only IP SANs (compared as addresses), a DNS host matches case-insensitively, and a
 * wildcard covers exactly one left-most label.
 */
export function certificateCovers(names: ServerNames, host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare)) return names.ip.includes(canonicalIp(bare));
  const h = bare.toLowerCase().replace(/\.$/, '');
  return names.dns.some((pattern) => {
    if (!pattern.startsWith('*.')) return pattern === h;
    const dot = h.indexOf('.');
    return dot > 0 && h.slice(dot) === pattern.slice(1);
  });
}

/** Every name of `names` as text, for messages. */
export function describeNames(names: ServerNames): string {
  const all = [...names.dns, ...names.ip];
  return all.length > 0 ? all.join(', ') : 'none';
}

const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';

/**
 * Whether a certificate may authenticate a TLS client: Go's server-side verification requires
 * the clientAuth extended key usage when the extension is present.
 */
export function allowsClientAuth(cert: X509Certificate): boolean {
  // Node's `keyUsage` lists the extended key usage OIDs; undefined when the extension is absent.
  const usages = cert.keyUsage as string[] | undefined;
  return usages === undefined || usages.includes(CLIENT_AUTH_EKU) || usages.includes(ANY_EKU);
}

/** Whether `keyPem` is the private key of `cert`. False for anything unparsable; never throws. */
export function keyMatches(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}
