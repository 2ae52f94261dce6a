/**
 * The neutral request and response the core works on. Adapters (node:http, the standalone
 * server, later express/koa/fastify) convert to and from these and nothing else.
 */
import type { X509Certificate } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { StreamedBodySummary } from '../exposition/pipeline.js';
import type { ClientCertificateInfo } from '../tls/client-cert.js';

/** What the core needs to know about one HTTP request. */
export interface ScrapeRequest {
  /** Upper-case method. */
  method: string;
  /** Path without the query string. */
  path: string;
  /** Request headers, names lower-case. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Peer address (no port), used for per-client limits and logs. */
  remoteAddress: string;
  /** Present when the request arrived over TLS. */
  tls?: {
    protocol: string;
    /** The client certificate, when one was presented. */
    clientCertificate?: ClientCertificateInfo;
    /** Whether that certificate chained to the configured client CA. */
    clientCertificateVerified: boolean;
    /**
     * The certificates the client presented, leaf first, when the adapter read them from a socket:
     * the guard verifies them against its own `client_ca` (the socket's server may trust others).
     */
    peerCertificates?: readonly X509Certificate[];
  };
}

/** What the adapter writes back. */
export interface ScrapeResponse {
  status: number;
  headers: Record<string, string>;
  /**
   * Empty for HEAD and for most errors' bodies beyond a short text. A large scrape's body is a
   * stream (no `content-length`): pipe it to the connection; destroy it to stop rendering.
   */
  body: string | Buffer | Readable;
  /** For a streamed body: settles (never rejects) once it was sent or cut off, with the final counts. */
  streamed?: Promise<StreamedBodySummary>;
}
