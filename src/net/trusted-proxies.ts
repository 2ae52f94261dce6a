/**
 * Identity forwarded by a TLS-terminating proxy. Behind Envoy, nginx, HAProxy or a cloud load
 * balancer, the TLS connection (and the client certificate) ends at the proxy; the proxy passes what
 * it learned on in headers (`X-Forwarded-Proto`, `X-Forwarded-For`, `X-Forwarded-Client-Cert`…).
 * Anyone can send those headers, so they are believed only from the proxy addresses the operator
 * configured; from every other peer they are treated as absent and the attempt is logged.
 *
 * The resolver rewrites the neutral request before the core sees it: the forwarded facts replace
 * the socket's, and the core then applies the same TLS and client-certificate policy as for a
 * direct connection. A forwarded certificate is only "verified" when the proxy says it verified it
 * AND its signature chains to this config's `client_ca` — the proxy's trust store is not ours.
 */
import { X509Certificate } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { Logger } from '../log.js';
import { noSelfMetrics, type SelfMetrics } from '../metrics/self.js';
import { describeClientCertificate, type ClientCertificateInfo } from '../tls/client-cert.js';
import { pemBlocks, verifyChain } from '../tls/x509.js';
import { caBundleParser } from '../tls/verify-chain.js';
import type { ScrapeRequest } from '../core/request.js';

/** How a proxy forwards the client certificate it received. */
export type ForwardedClientCertificate =
  /**
   * Envoy / Istio `X-Forwarded-Client-Cert`, with the `Cert` field (Envoy:
   * `set_current_client_cert_details: { cert: true }`, optionally `chain: true`). Envoy only sends
   * it for a certificate it validated.
   */
  | 'xfcc'
  | {
      /**
       * Header holding the certificate: URL-encoded PEM (nginx `$ssl_client_escaped_cert`, AWS ALB
       * `X-Amzn-Mtls-Clientcert`), PEM with its line breaks folded, or base64 DER (Traefik
       * `X-Forwarded-Tls-Client-Cert`).
       */
      header: string;
      /**
       * Header with the proxy's verification result; only `SUCCESS` (nginx `$ssl_client_verify`)
       * counts as verified. Absent: the proxy is taken to forward only certificates it verified
       * (configure it so: nginx `ssl_verify_client on`).
       */
      verifyHeader?: string;
    };

/**
 * The `trustedProxies` option of a guard.
 * @example
 * const guard = await createGuard({
 *   config: 'web-config.yml',
 *   source: register,
 *   trustedProxies: { addresses: ['10.0.0.1', 'fd00::/8'], clientCertificate: 'xfcc' },
 * });
 */
export interface TrustedProxyOptions {
  /** Addresses of the proxies: IPs or CIDR ranges (`10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`). */
  addresses: readonly string[];
  /** How the proxies forward the client certificate; absent: they forward none. */
  clientCertificate?: ForwardedClientCertificate;
}

/** Rewrites a request from the socket's view to the client's view; `clientCaPem` is the config's. */
export type ForwardedResolver = (request: ScrapeRequest, clientCaPem: string | undefined) => ScrapeRequest;

const PROTO = 'x-forwarded-proto';
const FOR = 'x-forwarded-for';
const XFCC = 'x-forwarded-client-cert';
/** Forwarded certificates remembered (by header value) with their check result. */
const CHECK_CACHE_SIZE = 256;
const CHECK_CACHE_MS = 60_000;

function lastValue(value: string | string[] | undefined): string | undefined {
  const joined = Array.isArray(value) ? value.join(',') : value;
  if (joined === undefined) return undefined;
  const parts = joined.split(',');
  const last = parts[parts.length - 1]?.trim();
  return last === '' ? undefined : last;
}

function compileAddresses(addresses: readonly string[]): BlockList {
  if (!Array.isArray(addresses) || addresses.length === 0) {
    throw new TypeError('trustedProxies.addresses must list at least one proxy address');
  }
  const list = new BlockList();
  for (const entry of addresses) {
    const [ip = '', bits, extra] = String(entry).split('/');
    const family = isIP(ip);
    const prefix = bits === undefined ? undefined : Number(bits);
    const maxBits = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || (prefix !== undefined && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= maxBits && bits !== ''))) {
      throw new TypeError(`trustedProxies.addresses: ${JSON.stringify(entry)} is not an IP address or CIDR range`);
    }
    if (prefix === 0) {
      // Every address would be a "proxy": any client could claim TLS (X-Forwarded-Proto) and so
      // pass the TLS requirement of the config over plain HTTP.
      throw new TypeError(`trustedProxies.addresses: ${JSON.stringify(entry)} trusts every address; list the proxies' own addresses or ranges`);
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(ip, type);
    else list.addSubnet(ip, prefix, type);
  }
  return list;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * Whether an address is one of the trusted proxies (for the server's PROXY protocol listeners);
 * undefined without `trustedProxies`.
 * @throws TypeError as {@link compileTrustedProxies} does for a bad address.
 */
export function trustedPeerCheck(options: TrustedProxyOptions | undefined): ((address: string) => boolean) | undefined {
  if (options === undefined) return undefined;
  const list = compileAddresses(options.addresses);
  return (address) => isTrusted(list, address);
}

/**
 * Splits an XFCC value into elements (one per proxy hop) of `key=value` pairs. Commas and
 * semicolons inside double quotes do not split; `\"` escapes a quote (Envoy's format).
 */
export function parseXfcc(value: string): Map<string, string>[] {
  const elements: Map<string, string>[] = [];
  let pairs = new Map<string, string>();
  let token = '';
  let quoted = false;
  const endPair = () => {
    const eq = token.indexOf('=');
    if (eq > 0) {
      let v = token.slice(eq + 1).trim();
      if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replaceAll('\\"', '"');
      // Keys are case-insensitive; a repeated key (URI, DNS) keeps its first value, which is all we read.
      const key = token.slice(0, eq).trim().toLowerCase();
      if (!pairs.has(key)) pairs.set(key, v);
    }
    token = '';
  };
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\' && quoted && i + 1 < value.length) {
      token += ch + value[++i]!;
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (!quoted && (ch === ';' || ch === ',')) {
      endPair();
      if (ch === ',') {
        elements.push(pairs);
        pairs = new Map();
      }
      continue;
    }
    token += ch;
  }
  endPair();
  elements.push(pairs);
  return elements.filter((e) => e.size > 0);
}

/** Decodes a forwarded certificate (URL-encoded or folded PEM, or base64 DER) into certificates. */
export function decodeForwardedCertificates(value: string): X509Certificate[] {
  let text = value.trim();
  if (text.includes('%')) text = decodeURIComponent(text);
  const { blocks } = pemBlocks(text);
  if (blocks.length === 0) return [new X509Certificate(Buffer.from(text.replace(/\s+/g, ''), 'base64'))];
  return blocks
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => {
      // Proxies fold the PEM's line breaks into spaces or tabs; the base64 between the armour is all that matters.
      const body = b.text.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
      return new X509Certificate(Buffer.from(body, 'base64'));
    });
}

/**
 * Compiles the trusted-proxy policy once (addresses into a BlockList).
 * @throws TypeError when an address is not an IP or CIDR range, or a header name is empty.
 */
export function compileTrustedProxies(options: TrustedProxyOptions | undefined, logger: Logger, metrics: SelfMetrics = noSelfMetrics): ForwardedResolver {
  if (options === undefined) return (request) => request;
  if (typeof options !== 'object' || options === null) throw new TypeError('trustedProxies must be an object { addresses, clientCertificate? }');
  const trusted = compileAddresses(options.addresses);
  const mode = options.clientCertificate;
  let certHeader: string | undefined;
  let verifyHeader: string | undefined;
  if (mode === 'xfcc') certHeader = XFCC;
  else if (mode !== undefined) {
    if (typeof mode !== 'object' || typeof mode.header !== 'string' || mode.header.trim() === '') {
      throw new TypeError("trustedProxies.clientCertificate must be 'xfcc' or { header, verifyHeader? } with a header name");
    }
    certHeader = mode.header.trim().toLowerCase();
    if (mode.verifyHeader !== undefined) {
      if (typeof mode.verifyHeader !== 'string' || mode.verifyHeader.trim() === '')
        throw new TypeError('trustedProxies.clientCertificate.verifyHeader must be a header name');
      verifyHeader = mode.verifyHeader.trim().toLowerCase();
    }
  }
  /** Headers that claim identity: never believed from an untrusted peer. */
  const identityHeaders = [PROTO, FOR, XFCC, 'forwarded', ...(certHeader ? [certHeader] : []), ...(verifyHeader ? [verifyHeader] : [])];
  const identitySet = new Set(identityHeaders);

  // The client CA of the generation in force, parsed once per generation (reloads swap the PEM).
  const rootsFor = caBundleParser();

  // Decoding and chain checks cost ~0.5 ms; a scraper sends the same certificate every time, so
  // results are kept per header value (bounded, re-checked after a minute for validity dates, and
  // redone when a reload changes the client CA).
  const checked = new Map<string, { info?: ClientCertificateInfo; chainOk: boolean; caPem: string | undefined; until: number }>();

  const forwardedCertificate = (
    request: ScrapeRequest,
    clientCaPem: string | undefined,
  ): { info: ClientCertificateInfo; verified: boolean } | 'absent' | 'invalid' => {
    if (!certHeader) return 'absent';
    const raw = request.headers[certHeader];
    let certText: string | undefined;
    let chainText: string | undefined;
    if (mode === 'xfcc') {
      // The last element is the one the nearest proxy (the trusted one) added about its client.
      const elements = parseXfcc(Array.isArray(raw) ? raw.join(',') : (raw ?? ''));
      const element = elements[elements.length - 1];
      // Without Cert (Envoy's default sends only By and Hash) there is no certificate to check.
      certText = element?.get('cert');
      chainText = element?.get('chain');
    } else {
      certText = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    }
    if (certText === undefined || certText.trim() === '') return 'absent';

    const key = chainText === undefined ? certText : `${certText}\u0000${chainText}`;
    const now = Date.now();
    let entry = checked.get(key);
    if (!entry || entry.caPem !== clientCaPem || entry.until < now) {
      entry = { chainOk: false, caPem: clientCaPem, until: now + CHECK_CACHE_MS };
      try {
        const certs = decodeForwardedCertificates(certText);
        const leaf = certs[0];
        if (leaf) {
          const chain = [...certs.slice(1), ...(chainText !== undefined ? decodeForwardedCertificates(chainText) : [])];
          entry = { ...entry, info: describeClientCertificate(leaf), chainOk: verifyChain(leaf, chain, rootsFor(clientCaPem), { mode: 'tls-client', now }) };
        }
      } catch {
        // Undecodable: remembered as such, so garbage is not parsed again on every request.
      }
      checked.delete(key);
      checked.set(key, entry);
      if (checked.size > CHECK_CACHE_SIZE) checked.delete(checked.keys().next().value!);
    }
    if (!entry.info) return 'invalid';
    let proxyVerified = true;
    if (verifyHeader) {
      const v = request.headers[verifyHeader];
      proxyVerified = (Array.isArray(v) ? v[v.length - 1] : v)?.trim() === 'SUCCESS';
    }
    return { info: entry.info, verified: proxyVerified && entry.chainOk };
  };

  const withoutSocketCertificate = (request: ScrapeRequest): ScrapeRequest => ({
    ...request,
    tls: { protocol: request.tls!.protocol, clientCertificateVerified: false },
  });

  const withoutIdentityHeaders = (headers: ScrapeRequest['headers']): ScrapeRequest['headers'] => {
    const copy: Record<string, string | string[] | undefined> = {};
    for (const [k, v] of Object.entries(headers)) if (!identitySet.has(k)) copy[k] = v;
    return copy;
  };

  return (request, clientCaPem) => {
    const headers = request.headers;
    let present: string | undefined;
    for (const name of identityHeaders) {
      if (headers[name] !== undefined) {
        present = name;
        break;
      }
    }
    // The common case (no forwarding headers at all) costs one loop over a handful of names.
    if (present === undefined) {
      // With a certificate header configured, a trusted proxy's own certificate never stands for
      // its client: a client that showed none must not be signed in as the proxy.
      if (certHeader && request.tls?.clientCertificate && isTrusted(trusted, request.remoteAddress)) return withoutSocketCertificate(request);
      return request;
    }

    if (!isTrusted(trusted, request.remoteAddress)) {
      metrics.forwardedHeadersIgnored('untrusted_peer');
      logger.warn('ignored forwarding headers from a peer that is not a trusted proxy', { remote: request.remoteAddress, header: present });
      return { ...request, headers: withoutIdentityHeaders(headers) };
    }

    // X-Forwarded-For: walk from the right past our own proxies to the first address they did not vouch for.
    let remoteAddress = request.remoteAddress;
    const forList = (Array.isArray(headers[FOR]) ? headers[FOR].join(',') : headers[FOR])?.split(',');
    if (forList) {
      for (let i = forList.length - 1; i >= 0; i--) {
        const hop = forList[i]!.trim();
        if (isIP(hop) === 0) break;
        remoteAddress = hop;
        if (!isTrusted(trusted, hop)) break;
      }
    }

    const proto = lastValue(headers[PROTO])?.toLowerCase();
    const cert = forwardedCertificate(request, clientCaPem);
    if (cert === 'invalid') {
      metrics.forwardedHeadersIgnored('unreadable_certificate');
      logger.warn('trusted proxy forwarded a client certificate that cannot be read; treating it as absent', {
        remote: remoteAddress,
        proxy: request.remoteAddress,
      });
    }
    const forwardedTls = proto === 'https' || (proto === undefined && typeof cert === 'object');
    let tls: ScrapeRequest['tls'];
    if (proto === undefined && typeof cert !== 'object') {
      // The proxy forwarded neither scheme nor certificate: the connection's TLS is all we know,
      // but not its certificate when certificates are forwarded (that one is the proxy's).
      tls = certHeader && request.tls ? { protocol: request.tls.protocol, clientCertificateVerified: false } : request.tls;
    } else if (forwardedTls) {
      tls = {
        protocol: 'forwarded',
        ...(typeof cert === 'object' ? { clientCertificate: cert.info } : {}),
        clientCertificateVerified: typeof cert === 'object' && cert.verified,
      };
    }
    const { tls: _socketTls, ...rest } = request;
    return { ...rest, remoteAddress, ...(tls ? { tls } : {}) };
  };
}
