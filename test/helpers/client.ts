/**
 * A real HTTPS/HTTP client for the suites: one request per call on a fresh connection (or on a
 * keep-alive agent the caller passes), returning the status, headers, body and TLS facts, or the
 * error code when the connection or handshake failed.
 */
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import type { TLSSocket } from 'node:tls';

export interface ScrapeOptions {
  ca?: string;
  cert?: string;
  key?: string;
  /** `user:password` for basic auth. */
  auth?: string;
  method?: string;
  headers?: Record<string, string>;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  ciphers?: string;
  ecdhCurve?: string;
  servername?: string;
  /** Reuse connections. */
  agent?: HttpsAgent;
  /** Source address to connect from (e.g. `127.0.0.2`, another loopback client). */
  localAddress?: string;
  /** Offer only HTTP/1.1 in ALPN (default offers nothing: Node's https client speaks 1.1). */
  timeoutMs?: number;
  /** Also report the server certificate's SHA-256 fingerprint and serial (`peerFingerprint256`, `peerSerial`). */
  peerCertificate?: boolean;
}

export interface ScrapeResult {
  status?: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Error code (ECONNRESET, ERR_SSL_…, EPROTO…) when no response arrived. */
  error?: string;
  errorMessage?: string;
  protocol?: string | null;
  cipher?: string;
  alpn?: string | false | null;
  /** Negotiated key exchange group (e.g. X25519, prime256v1). */
  group?: string;
  /** SHA-256 fingerprint of the server's leaf certificate (only with `peerCertificate: true`). */
  peerFingerprint256?: string;
  /** Serial number (hex) of the server's leaf certificate (only with `peerCertificate: true`). */
  peerSerial?: string;
}

/** One HTTPS (or HTTP, by URL) request. */
export function scrape(url: string, options: ScrapeOptions = {}): Promise<ScrapeResult> {
  const u = new URL(url);
  const isTls = u.protocol === 'https:';
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth !== undefined) headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    const common = {
      method: options.method ?? 'GET',
      hostname: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port,
      path: u.pathname + u.search,
      headers,
      timeout: options.timeoutMs ?? 5000,
      ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    };
    let tlsFacts: Partial<ScrapeResult> = {};
    const req = isTls
      ? httpsRequest({
          ...common,
          ...(options.agent ? { agent: options.agent } : { agent: false }),
          ...(options.ca !== undefined ? { ca: options.ca } : {}),
          ...(options.cert !== undefined ? { cert: options.cert } : {}),
          ...(options.key !== undefined ? { key: options.key } : {}),
          ...(options.minVersion ? { minVersion: options.minVersion } : {}),
          ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
          ...(options.ciphers ? { ciphers: options.ciphers } : {}),
          ...(options.ecdhCurve ? { ecdhCurve: options.ecdhCurve } : {}),
          ...(options.servername ? { servername: options.servername } : {}),
        })
      : httpRequest({ ...common, agent: false });
    req.on('socket', (socket) => {
      const readFacts = () => {
        const s = socket as TLSSocket;
        const eph = s.getEphemeralKeyInfo() as { name?: string } | null;
        tlsFacts = { protocol: s.getProtocol(), cipher: s.getCipher().name, alpn: s.alpnProtocol, ...(eph?.name ? { group: eph.name } : {}) };
        if (options.peerCertificate) {
          const peer = s.getPeerX509Certificate();
          if (peer) tlsFacts = { ...tlsFacts, peerFingerprint256: peer.fingerprint256, peerSerial: peer.serialNumber };
        }
      };
      // Facts come from this request's own handshake only: a keep-alive socket handed out again made
      // none, so it reports none (suites tell a reused connection by that) and gets no listener
      // that would never fire (one per request would pile up past MaxListeners).
      const tlsSocket = socket as TLSSocket;
      if (tlsSocket.encrypted && (tlsSocket.connecting || tlsSocket.getProtocol() === null)) socket.once('secureConnect', readFacts);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ...tlsFacts }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ headers: {}, body: '', error: e.code ?? 'ERROR', errorMessage: e.message, ...tlsFacts }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ headers: {}, body: '', error: e.code ?? 'ERROR', errorMessage: e.message, ...tlsFacts }));
    req.end();
  });
}

/** One HTTP/2 request over a fresh session. */
export function scrapeHttp2(url: string, options: ScrapeOptions = {}): Promise<ScrapeResult> {
  return new Promise((resolve) => {
    const session = http2Connect(url, {
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.cert !== undefined ? { cert: options.cert } : {}),
      ...(options.key !== undefined ? { key: options.key } : {}),
    });
    const fail = (e: NodeJS.ErrnoException) => {
      session.destroy();
      resolve({ headers: {}, body: '', error: e.code ?? 'ERROR', errorMessage: e.message });
    };
    session.on('error', fail);
    const headers: Record<string, string> = { ':path': new URL(url).pathname, ':method': options.method ?? 'GET', ...options.headers };
    if (options.auth !== undefined) headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    const req = session.request(headers);
    req.on('error', fail);
    let status = 0;
    let resHeaders: Record<string, string | string[] | undefined> = {};
    req.on('response', (h) => {
      status = Number(h[':status']);
      resHeaders = h;
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const socket = session.socket as TLSSocket;
      const result = { status, headers: resHeaders, body: Buffer.concat(chunks).toString('utf8'), alpn: socket.alpnProtocol, protocol: socket.getProtocol() };
      session.close();
      resolve(result);
    });
    req.end();
  });
}
