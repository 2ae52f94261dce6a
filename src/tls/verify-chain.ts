/**
 * Verification of a client certificate against the config's `client_ca`, done by scrapeguard
 * itself. A guard mounted on an application's server cannot rely on that server's trust store
 * (its `ca` option may name another CA, or none), and a certificate forwarded by a proxy was
 * verified against the proxy's. So "verified" always means: the signatures chain to a CA of the
 * config in force, every certificate is inside its validity period, issuers are CAs, and the
 * leaf may be used for client authentication — the checks OpenSSL makes for a TLS client.
 * Revocation is not checked (nor is it by Go's crypto/tls or OpenSSL without a CRL).
 */
import { X509Certificate } from 'node:crypto';
import { pemBlocks, verifyChain } from './x509.js';
import type { ScrapeRequest } from '../core/request.js';

/** The certificates of a CA bundle, parsed once per distinct PEM (one config generation). */
export function caBundleParser(): (pem: string | undefined) => readonly X509Certificate[] {
  let lastPem: string | undefined;
  let last: X509Certificate[] = [];
  return (pem) => {
    if (pem !== lastPem) {
      lastPem = pem;
      last = [];
      for (const block of pem ? pemBlocks(pem).blocks : []) if (block.label === 'CERTIFICATE') last.push(new X509Certificate(block.text));
    }
    return last;
  };
}

/**
 * Sets `clientCertificateVerified` of a request that came straight from a TLS socket from the
 * config's own client CA, whatever the socket's server trusted. Computed once per connection and
 * CA generation (the certificate objects are cached per socket by the adapters).
 */
export function createPeerVerifier(): (request: ScrapeRequest, clientCaPem: string | undefined) => ScrapeRequest {
  const roots = caBundleParser();
  const memo = new WeakMap<X509Certificate, { pem: string | undefined; verified: boolean }>();
  return (request, clientCaPem) => {
    const tls = request.tls;
    const chain = tls?.peerCertificates;
    const leaf = chain?.[0];
    if (!tls || !leaf) return request;
    let entry = memo.get(leaf);
    if (!entry || entry.pem !== clientCaPem) {
      entry = { pem: clientCaPem, verified: verifyChain(leaf, chain.slice(1), roots(clientCaPem), { mode: 'tls-client' }) };
      memo.set(leaf, entry);
    }
    return entry.verified === tls.clientCertificateVerified ? request : { ...request, tls: { ...tls, clientCertificateVerified: entry.verified } };
  };
}
