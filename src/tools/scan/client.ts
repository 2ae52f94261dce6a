/**
 * The scanner's HTTP(S) client: one request per call on its own connection (no agent, no keep-alive,
 * so every probe is a fresh handshake with exactly the credentials it names), bounded body size and
 * deadline, and the TLS facts of the connection. Errors are reduced to a code and a message that
 * never holds request credentials.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';

/** TLS material and credentials a probe may carry. */
export interface ProbeCredentials {
  /** PEM CA bundle pinned for server verification (facts only: probes never refuse a server). */
  ca?: string;
  /** PEM client certificate and key. */
  cert?: string;
  key?: string;
  /** Authorization header value (`Basic …`, `Bearer …`). */
  authorization?: string;
}

/** What one request produced. */
export interface ProbeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Body cut at the size limit. */
  truncated: boolean;
  tls?: { protocol: string | null; cipher: string; alpn: string | false; peerCertificate?: PeerCertificate; authorizationError?: string };
}

/** A request that did not produce a response. */
export interface ProbeFailure {
  /** Node's error code (`ECONNREFUSED`, `ERR_SSL_…`, `ETIMEDOUT`) or `ERROR`. */
  code: string;
  message: string;
  /** The failure happened during (or right after) the TLS handshake. */
  tlsFailure: boolean;
}

/** Largest body read (metrics pages of big exporters run to tens of MiB). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * GETs `url` with the given credentials; resolves with the response or a {@link ProbeFailure},
 * never rejects. Server certificates are not verified here (the transport checks judge them).
 * @example
 * const r = await probeGet(new URL('https://127.0.0.1:9100/metrics'), {}, 5000);
 * if ('status' in r) console.log(r.status);
 */
export function probeGet(
  url: URL,
  credentials: ProbeCredentials,
  timeoutMs: number,
  extraHeaders: Record<string, string> = {},
): Promise<ProbeResponse | ProbeFailure> {
  const https = url.protocol === 'https:';
  const headers: Record<string, string> = {
    // UTF-8 names allowed, as Prometheus 3 asks: the content checks see the names a Prometheus 3 stores.
    accept: 'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.4,*/*;q=0.1',
    'user-agent': 'scrapeguard-scan',
    ...extraHeaders,
  };
  if (credentials.authorization !== undefined) headers.authorization = credentials.authorization;
  return new Promise((resolve) => {
    let settled = false;
    let handshakeDone = !https;
    const done = (value: ProbeResponse | ProbeFailure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
    };
    const options = {
      method: 'GET',
      headers,
      agent: false as const,
      ...(https
        ? {
            rejectUnauthorized: false,
            ALPNProtocols: ['http/1.1'],
            ...(credentials.ca !== undefined ? { ca: credentials.ca } : {}),
            ...(credentials.cert !== undefined && credentials.key !== undefined ? { cert: credentials.cert, key: credentials.key } : {}),
            ...(isIpLiteral(url.hostname) ? {} : { servername: url.hostname }),
          }
        : {}),
    };
    const req = (https ? httpsRequest : httpRequest)(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      res.on('data', (chunk: Buffer) => {
        if (truncated) return;
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          truncated = true;
          res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      const finish = () => {
        const socket = res.socket as TLSSocket | null;
        const response: ProbeResponse = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), truncated };
        if (https && socket && typeof socket.getProtocol === 'function') {
          const cert = socket.getPeerCertificate(false);
          response.tls = {
            protocol: socket.getProtocol(),
            cipher: socket.getCipher().name,
            alpn: socket.alpnProtocol ?? false,
            ...(cert && Object.keys(cert).length > 0 ? { peerCertificate: cert } : {}),
            ...(socket.authorizationError ? { authorizationError: String(socket.authorizationError) } : {}),
          };
        }
        done(response);
      };
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', (error) => done(failure(error, handshakeDone)));
    });
    req.on('socket', (socket) => {
      if (https) socket.once('secureConnect', () => (handshakeDone = true));
    });
    // A server that refuses a client certificate may do so after the handshake completed (TLS 1.3
    // sends the alert after the client's Finished; Node-based servers, scrapeguard among them,
    // decide right after the handshake and close): a connection closed before any response
    // byte, right after the handshake, counts as refused at TLS.
    const closedBeforeResponse = (error: Error) => https && ['ECONNRESET', 'EPIPE'].includes((error as NodeJS.ErrnoException).code ?? '');
    req.on('error', (error) => done(failure(error, !handshakeDone || isTlsError(error) || closedBeforeResponse(error))));
    const timer = setTimeout(() => {
      req.destroy();
      done({ code: 'ETIMEDOUT', message: `no response within ${timeoutMs} ms`, tlsFailure: false });
    }, timeoutMs);
    req.end();
  });
}

function isTlsError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /alert|handshake|certificate/i.test(error.message);
}

function failure(error: Error, duringTls: boolean): ProbeFailure {
  const code = (error as NodeJS.ErrnoException).code ?? 'ERROR';
  const tlsFailure = duringTls && code !== 'ECONNREFUSED' && code !== 'ENOTFOUND' && code !== 'EHOSTUNREACH' && code !== 'ENETUNREACH';
  return { code, message: error.message.split('\n')[0] ?? code, tlsFailure };
}

/** Whether a probe produced a response. */
export function isResponse(result: ProbeResponse | ProbeFailure): result is ProbeResponse {
  return 'status' in result;
}

/** Host names in URLs may be bracketed IPv6 literals. */
export function isIpLiteral(hostname: string): boolean {
  return /^\[.*\]$/.test(hostname) || /^\d{1,3}(?:\.\d{1,3}){3}$/.test(hostname) || hostname.includes(':');
}

/** `[::1]` → `::1`: what net/tls want as a host. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** The port of a URL, with the scheme default filled in. */
export function urlPort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}
