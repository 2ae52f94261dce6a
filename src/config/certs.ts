/**
 * PEM and X.509 checks for the loader: each function returns either the parsed objects or a
 * message fragment describing what is wrong. Messages describe structure (block numbers, labels)
 * and never quote PEM content or key material.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { CertificateFacts } from './schema.js';
import { splitSubjectAltName } from '../tls/client-cert.js';
import { pemBlocks } from '../tls/x509.js';

const isKeyLabel = (label: string): boolean => label.endsWith('PRIVATE KEY');

type Result<T> = { ok: true; value: T } | { ok: false; error: string };

/** The certificate chain of a server (leaf first). `what` names the source, e.g. `cert_file "/x"`. */
export function parseCertificateChain(pem: string, what: string): Result<X509Certificate[]> {
  const { blocks, unterminated } = pemBlocks(pem);
  const certBlocks = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (certBlocks.length === 0) {
    if (blocks.some((b) => isKeyLabel(b.label))) {
      return { ok: false, error: `${what} contains a private key, not a certificate (are the certificate and the key swapped?)` };
    }
    if (pem.trim() === '') return { ok: false, error: `${what} is empty` };
    return { ok: false, error: `${what} contains no PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block)` };
  }
  if (unterminated > 0) return { ok: false, error: `${what} has a PEM block without its END line` };
  const certs: X509Certificate[] = [];
  for (const block of certBlocks) {
    try {
      certs.push(new X509Certificate(block.text));
    } catch {
      return { ok: false, error: `${what}: PEM block #${block.index} is not a valid X.509 certificate` };
    }
  }
  return { ok: true, value: certs };
}

/** The server's private key. `what` names the source without revealing it, e.g. `key (inline)`. */
export function parsePrivateKey(pem: string, what: string): Result<KeyObject> {
  const { blocks } = pemBlocks(pem);
  // Like Go's X509KeyPair, skip blocks that are not keys (`EC PARAMETERS` from `openssl ecparam`).
  const keyBlock = blocks.find((b) => isKeyLabel(b.label));
  if (!keyBlock) {
    if (blocks.some((b) => b.label === 'CERTIFICATE')) {
      return { ok: false, error: `${what} contains a certificate, not a private key (are the certificate and the key swapped?)` };
    }
    if (pem.trim() === '') return { ok: false, error: `${what} is empty` };
    return { ok: false, error: `${what} contains no PEM private key (expected a "-----BEGIN PRIVATE KEY-----" block)` };
  }
  if (keyBlock.label === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type: 4,ENCRYPTED/m.test(keyBlock.text)) {
    return { ok: false, error: `${what} is encrypted; an unencrypted private key is needed (as for exporter-toolkit)` };
  }
  try {
    return { ok: true, value: createPrivateKey({ key: keyBlock.text, format: 'pem' }) };
  } catch {
    // OpenSSL's reason is deliberately not relayed: it is of no help and the input is secret.
    return { ok: false, error: `${what}: PEM block #${keyBlock.index} (${keyBlock.label}) is not a valid private key` };
  }
}

/** Counts the certificates of a client CA bundle, or lists what is wrong with it. */
export function checkCaBundle(pem: string, what: string): { ok: true; count: number } | { ok: false; errors: string[] } {
  const { blocks, unterminated } = pemBlocks(pem);
  const errors: string[] = [];
  if (blocks.length === 0) {
    errors.push(
      pem.trim() === ''
        ? `${what} is empty: a client CA bundle needs at least one certificate`
        : `${what} contains no PEM certificate (expected "-----BEGIN CERTIFICATE-----" blocks)`,
    );
    return { ok: false, errors };
  }
  let count = 0;
  for (const block of blocks) {
    if (block.label !== 'CERTIFICATE') {
      errors.push(
        isKeyLabel(block.label)
          ? `${what}: PEM block #${block.index} is a private key; a CA bundle must hold only certificates (and a CA key does not belong on the server)`
          : `${what}: PEM block #${block.index} is a "${block.label}", not a CERTIFICATE`,
      );
      continue;
    }
    try {
      new X509Certificate(block.text);
      count++;
    } catch {
      errors.push(`${what}: PEM block #${block.index} is not a valid X.509 certificate`);
    }
  }
  if (unterminated > 0) errors.push(`${what} has a PEM block without its END line`);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, count };
}

/** The facts a server reports about its leaf certificate. */
export function certificateFacts(cert: X509Certificate): CertificateFacts {
  return {
    // Node separates RDNs with newlines; one line reads better in logs and `scrapeguard check`.
    subject: cert.subject.split('\n').join(', '),
    issuer: cert.issuer.split('\n').join(', '),
    subjectAltNames: splitSubjectAltName(cert.subjectAltName).map(({ type, value }) => `${type}:${value}`),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
  };
}
