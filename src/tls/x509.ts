/**
 * The one X.509 module: PEM splitting, certificate parsing, chain walking, host-name coverage and
 * key-usage questions, shared by the config loader, the client-certificate verifier, the
 * trusted-proxy resolver and the scrape-config generator. Built on `node:crypto`'s
 * `X509Certificate`; nothing here reads files or logs, and messages never quote PEM content.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { canonicalIp, subjectAltNames } from './client-cert.js';

/** One `-----BEGIN X-----` … `-----END X-----` block. */
export interface PemBlock {
  /** 1-based position among the blocks of the text. */
  index: number;
  label: string;
  /** The whole block, armour included. */
  text: string;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const BEGIN = /-----BEGIN [A-Z0-9 ]+-----/g;

/** Splits `text` into PEM blocks; `unterminated` counts BEGIN lines without a matching END. */
export function pemBlocks(text: string): { blocks: PemBlock[]; unterminated: number } {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    blocks.push({ index: blocks.length + 1, label: match[1] ?? '', text: match[0] });
  }
  const begins = text.match(BEGIN)?.length ?? 0;
  return { blocks, unterminated: Math.max(0, begins - blocks.length) };
}

/** Every `CERTIFICATE` block of `pem` that parses; unparseable blocks are left out (they verify nothing). */
export function parseCertificates(pem: string): X509Certificate[] {
  const certs: X509Certificate[] = [];
  for (const block of pemBlocks(pem).blocks) {
    if (block.label !== 'CERTIFICATE') continue;
    try {
      certs.push(new X509Certificate(block.text));
    } catch {
      // Not a certificate Node can read: it cannot sign anything either.
    }
  }
  return certs;
}

/** Extended key usage OIDs (RFC 5280 §4.2.1.12): clientAuth and anyExtendedKeyUsage. */
const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';
/** Longest chain walked: deeper chains are refused rather than followed. */
const MAX_CHAIN_DEPTH = 8;

/**
 * Whether a certificate may authenticate a TLS client: OpenSSL and Go require the clientAuth
 * extended key usage (or anyExtendedKeyUsage) when the extension is present.
 */
export function allowsClientAuth(cert: X509Certificate): boolean {
  // Node's `keyUsage` lists the extended key usage OIDs; undefined (or empty) when the extension is absent.
  const usages = cert.keyUsage as string[] | undefined;
  return usages === undefined || usages.length === 0 || usages.includes(CLIENT_AUTH_EKU) || usages.includes(ANY_EKU);
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

function timeValid(cert: X509Certificate, now: number): boolean {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

/** How strictly {@link verifyChain} judges a chain. */
export interface ChainPolicy {
  /**
   * `'tls-client'`: what OpenSSL checks for a TLS client — every certificate inside its validity
   * period at `now`, issuers are CAs, the leaf allows client authentication.
   * `'signatures'`: signatures and issuer names only, and a root equal to the leaf counts (a
   * self-signed server certificate used as its own CA file) — the question a generator asks
   * about files that will be used later, when validity is checked separately.
   */
  mode: 'tls-client' | 'signatures';
  /** Milliseconds since the epoch for validity checks (default now). */
  now?: number;
}

/**
 * Whether `leaf` chains, through `intermediates` (in any order), to one of `roots`.
 * @example
 * verifyChain(new X509Certificate(clientPem), [], [new X509Certificate(caPem)], { mode: 'tls-client' }); // true when the CA signed it
 */
export function verifyChain(leaf: X509Certificate, intermediates: readonly X509Certificate[], roots: readonly X509Certificate[], policy: ChainPolicy): boolean {
  if (roots.length === 0) return false;
  const strict = policy.mode === 'tls-client';
  const now = policy.now ?? Date.now();
  if (strict && !allowsClientAuth(leaf)) return false;
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    const cur: X509Certificate = current;
    if (strict && !timeValid(cur, now)) return false;
    if (!strict && roots.some((r) => r.fingerprint256 === cur.fingerprint256)) return true;
    if (roots.some((root) => (!strict || (root.ca && timeValid(root, now))) && issuedBy(cur, root))) return true;
    const next = intermediates.find((c) => c !== cur && (!strict || c.ca) && c.fingerprint256 !== cur.fingerprint256 && issuedBy(cur, c));
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
  const sans = subjectAltNames(cert);
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

/** Whether `keyPem` is the private key of `cert`. False for anything unparsable; never throws. */
export function keyMatches(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** {@link verifyChain} in `'signatures'` mode over a chain given leaf first. False for an empty chain. */
export function chainSignedBy(chain: readonly X509Certificate[], roots: readonly X509Certificate[]): boolean {
  const leaf = chain[0];
  return leaf !== undefined && verifyChain(leaf, chain.slice(1), roots, { mode: 'signatures' });
}
