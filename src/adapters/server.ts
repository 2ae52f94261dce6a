/**
 * scrapeguard's own server: listens on one or more addresses and serves the core over HTTPS
 * (HTTP/2 with HTTP/1.1 fallback, or HTTP/1.1 only) or plain HTTP.
 *
 * Each accepted connection is first held by a plain TCP listener, which
 *  - enforces the connection cap and a deadline for the first byte,
 *  - answers a plain-HTTP request on the TLS port with Go's `400 Client sent an HTTP request to
 *    an HTTPS server.`, and
 *  - hands the socket to the TLS server of the *current* configuration generation.
 * The HTTP layers then apply the request deadlines: Node's header/request timeouts for HTTP/1.1,
 * and for HTTP/2 a deadline for the session's first complete request plus `max_header_bytes` on
 * each header list (Node enforces neither for HTTP/2).
 * A reload builds a new generation (new certificate, CA, policy, protocol settings) that serves
 * new connections, while open connections finish on the generation that accepted them. No file
 * is read per request or per handshake.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import { createServer as createNetServer, isIPv6, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { GuardState } from '../core/handle.js';
import type { Logger } from '../log.js';
import type { SelfMetrics } from '../metrics/self.js';
import { tlsServerOptions, verdictForSocket } from '../tls/server-options.js';
import { ScrapeguardError } from '../errors.js';
import type { NodeRequestHandler } from './http.js';
import { markOwnSocket, remoteAddressOf } from './tls-info.js';
import { http1ParseErrorResponse, strictHttp1 } from './strict-http1.js';

/** A bound listen address. */
export interface ListeningAddress {
  host: string;
  port: number;
  /** `https` or `http`, for building URLs. */
  scheme: 'https' | 'http';
  /** e.g. `https://127.0.0.1:9443` (IPv6 hosts bracketed). */
  url: string;
}

type AnyServer = HttpServer | Http2SecureServer;

interface Generation {
  readonly tls: boolean;
  readonly server: AnyServer;
  readonly sessions: Set<Http2Session>;
  /** Sockets the HTTP layer sees (TLS sockets, or raw ones for plain HTTP) on this generation. */
  readonly transports: Set<Socket>;
  /** Raw sockets handed to this generation's TLS server, from the hand-over until they close. */
  readonly handedOver: Set<Socket>;
}

const PLAIN_HTTP_TO_TLS = 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';
const TLS_HANDSHAKE_RECORD = 0x16;

/** Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces, as Go). */
export function parseListenAddress(address: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ScrapeguardError('USAGE', `invalid listen address ${JSON.stringify(address)}: expected HOST:PORT, [IPv6]:PORT or :PORT`);
  }
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

/** Standalone server for a guard. Created by `Guard.listen`. */
export class GuardServer {
  private current: Generation;
  private limits: GuardState['config']['limits'];
  private readonly fronts: NetServer[] = [];
  private readonly sockets = new Set<Socket>();
  /** Accepted sockets still waiting for their first byte. */
  private readonly pending = new Set<Socket>();
  private readonly inflight = new Map<Socket, number>();
  private readonly generations = new Set<Generation>();
  private closing = false;

  constructor(
    private readonly handler: NodeRequestHandler,
    private readonly logger: Logger,
    private readonly metrics: SelfMetrics,
    state: GuardState,
  ) {
    this.current = this.build(state);
    this.limits = state.config.limits;
  }

  /** Serves new connections with a new configuration generation (and its limits). */
  apply(state: GuardState): void {
    const previous = this.current;
    this.current = this.build(state);
    this.limits = state.config.limits;
    if (this.unused(previous)) this.retire(previous);
  }

  private addTransport(generation: Generation, socket: Socket, set: Set<Socket> = generation.transports): void {
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (generation !== this.current && this.unused(generation)) this.retire(generation);
    });
  }

  /** No connection uses the generation any more, including one still in its TLS handshake. */
  private unused(generation: Generation): boolean {
    return generation.transports.size === 0 && generation.handedOver.size === 0;
  }

  /**
   * Releases a generation nobody uses any more: closing its server stops Node's connection
   * checking timer, so reloads do not accumulate timers.
   */
  private retire(generation: Generation): void {
    if (!this.generations.delete(generation)) return;
    // The server never listened, so close() reports ERR_SERVER_NOT_RUNNING to the callback;
    // what matters is the side effect (timer cleared, idle connections closed).
    generation.server.close(() => undefined);
  }

  /** Builds a generation; Node's refusal of the TLS settings becomes a `TLS_SETUP` error. */
  private build(state: GuardState): Generation {
    try {
      return this.buildUnchecked(state);
    } catch (error) {
      if (error instanceof ScrapeguardError) throw error;
      throw new ScrapeguardError('TLS_SETUP', `Node refused the TLS settings: ${(error as Error).message}`, { cause: error });
    }
  }

  private buildUnchecked(state: GuardState): Generation {
    const { config } = state;
    const limits = config.limits;
    const handler = this.track(strictHttp1(config.tls && config.http.http2 ? this.limitHttp2HeaderList(this.handler, limits.maxHeaderBytes) : this.handler, this.logger));
    const http1Options = {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.readHeaderTimeoutMs,
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.readHeaderTimeoutMs),
      keepAliveTimeout: limits.idleTimeoutMs,
      // Node checks header/request deadlines on this interval (default 30 s): tighten it.
      connectionsCheckingInterval: Math.min(1000, limits.readHeaderTimeoutMs),
      // strictHttp1 answers a missing Host itself, with Go's text (and also on the h2 fallback).
      requireHostHeader: false,
    };
    const sessions = new Set<Http2Session>();
    const transports = new Set<Socket>();
    // Assigned below; the listeners that use it only run after build() returns.
    let generation!: Generation;
    let server: AnyServer;
    if (config.tls) {
      const tlsOptions = { ...tlsServerOptions(config.tls), handshakeTimeout: limits.readHeaderTimeoutMs };
      server = config.http.http2
        ? createSecureServer(
            { ...tlsOptions, allowHTTP1: true, settings: { maxHeaderListSize: limits.maxHeaderBytes } },
            handler,
          )
        : createHttpsServer({ ...tlsOptions, ...http1Options }, handler);
      if (config.http.http2) {
        const h2 = server as Http2SecureServer;
        // The HTTP/1.1 fallback of an HTTP/2 server takes its deadlines from these properties
        // (Node sets fixed defaults of 60 s / 300 s / 30 s and offers no constructor option).
        Object.assign(h2, {
          headersTimeout: http1Options.headersTimeout,
          requestTimeout: http1Options.requestTimeout,
          connectionsCheckingInterval: http1Options.connectionsCheckingInterval,
          keepAliveTimeout: http1Options.keepAliveTimeout,
        });
        h2.setTimeout(limits.idleTimeoutMs);
        h2.on('session', (session: Http2Session) => {
          sessions.add(session);
          // A session must deliver one complete request (HEADERS through END_HEADERS) within
          // read_header_timeout, like the first request of an HTTP/1.1 connection. Without this a
          // client that stops mid-HEADERS (no CONTINUATION ever follows) or never sends a request
          // holds the connection until the idle timeout; Node's http2 has no header deadline.
          const firstRequestDeadline = setTimeout(() => {
            this.logger.debug('HTTP/2 session sent no complete request in time', {
              remote: remoteAddressOf(session.socket as Socket),
              limit_ms: limits.readHeaderTimeoutMs,
            });
            session.destroy();
          }, limits.readHeaderTimeoutMs);
          firstRequestDeadline.unref();
          session.once('stream', () => clearTimeout(firstRequestDeadline));
          session.once('close', () => {
            clearTimeout(firstRequestDeadline);
            sessions.delete(session);
          });
          if (this.closing) session.close();
        });
      }
      const policy = state.clientCertificatePolicy;
      // Prepended so the decision runs before the HTTP layer sees the connection.
      server.prependListener('secureConnection', (socket: TLSSocket) => {
        if (!policy) return;
        const verdict = verdictForSocket(policy, socket);
        if (!verdict.ok) {
          this.metrics.tlsHandshakeError(verdict.reason);
          this.logger.warn('TLS client refused', {
            remote: remoteAddressOf(socket),
            reason: verdict.detail,
            ...(verdict.client ? { subject: verdict.client.subject } : {}),
          });
          socket.destroy();
        }
      });
      server.on('secureConnection', (socket: TLSSocket) => {
        // Verified against this generation's client CA at the handshake: the core may trust it.
        markOwnSocket(socket);
        this.addTransport(generation, socket);
      });
      server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
        const reason = error.code ?? 'unknown';
        this.metrics.tlsHandshakeError(reason);
        this.logger.debug('TLS handshake error', { remote: remoteAddressOf(socket), reason: error.message });
      });
    } else {
      server = createHttpServer(http1Options, handler);
      server.on('connection', (socket: Socket) => this.addTransport(generation, socket));
    }
    server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
      this.logger.debug('HTTP client error', { remote: remoteAddressOf(socket), reason: error.code ?? error.message });
      // TLS servers route handshake errors (e.g. ERR_TLS_HANDSHAKE_TIMEOUT) here too and then leave
      // the socket to this listener: a socket that never completed TLS has nobody to answer.
      if (socket.writable && error.code !== 'ECONNRESET' && transports.has(socket)) {
        socket.end(http1ParseErrorResponse(error));
      }
      else socket.destroy();
    });
    // These servers never listen themselves (the TCP front hands them sockets), but Node only
    // starts enforcing headersTimeout/requestTimeout, via its connection tracking, when a
    // server emits 'listening'. Without this, a client could hold a connection open forever by
    // sending headers slowly.
    server.emit('listening');
    generation = { tls: config.tls !== undefined, server, sessions, transports, handedOver: new Set() };
    this.generations.add(generation);
    return generation;
  }

  /**
   * Enforces `max_header_bytes` on HTTP/2 requests. The server advertises it as
   * SETTINGS_MAX_HEADER_LIST_SIZE, but Node does not refuse a peer that ignores the setting, and
   * HPACK lets a few wire bytes expand into a large header list (a repeated value is sent once,
   * then by index). The size is counted as RFC 7541 §4.1 does (name + value + 32 per field), so
   * the limit means the same as the one the HTTP/1.1 parser applies.
   */
  private limitHttp2HeaderList(handler: NodeRequestHandler, maxBytes: number): NodeRequestHandler {
    return (req, res) => {
      if (req.httpVersionMajor >= 2) {
        const raw = req.rawHeaders;
        let size = 0;
        for (let i = 0; i < raw.length; i++) size += raw[i]!.length + (i % 2 === 0 ? 32 : 0);
        if (size > maxBytes) {
          this.logger.debug('HTTP/2 request refused: header list too large', { remote: remoteAddressOf(req.socket as Socket), bytes: size, limit: maxBytes });
          res.statusCode = 431;
          res.end();
          return;
        }
      }
      handler(req, res);
    };
  }

  /** Counts requests in flight per socket, so close() can let them finish. */
  private track(handler: NodeRequestHandler): NodeRequestHandler {
    return (req, res) => {
      const socket = req.socket as Socket;
      this.inflight.set(socket, (this.inflight.get(socket) ?? 0) + 1);
      res.once('close', () => {
        const left = (this.inflight.get(socket) ?? 1) - 1;
        if (left > 0) this.inflight.set(socket, left);
        else {
          this.inflight.delete(socket);
          if (this.closing && !(req.httpVersionMajor >= 2)) socket.end();
        }
      });
      handler(req, res);
    };
  }

  private accept(raw: Socket): void {
    const { maxConnections, readHeaderTimeoutMs: firstByteTimeoutMs } = this.limits;
    if (this.closing || this.sockets.size >= maxConnections) {
      this.logger.debug('connection refused: limit reached', { remote: remoteAddressOf(raw), limit: maxConnections });
      raw.destroy();
      return;
    }
    this.sockets.add(raw);
    raw.once('close', () => this.sockets.delete(raw));
    raw.on('error', () => raw.destroy());
    if (!this.current.tls) {
      // Plain HTTP needs no peeking: node's HTTP parser reads the socket's handle directly (and
      // would miss unshifted bytes); its headers timeout covers the first-byte deadline.
      this.current.server.emit('connection', raw);
      // pauseOnConnect left the handle not reading; the parser does not restart it.
      raw.resume();
      return;
    }
    this.pending.add(raw);
    raw.once('close', () => this.pending.delete(raw));
    raw.setTimeout(firstByteTimeoutMs, () => raw.destroy());
    raw.once('data', (chunk: Buffer) => {
      this.pending.delete(raw);
      raw.pause();
      raw.setTimeout(0);
      const generation = this.current;
      if (generation.tls && chunk[0] !== TLS_HANDSHAKE_RECORD) {
        // Go answers plain HTTP on a TLS port with this exact response and closes; anything else
        // that is not a TLS record is dropped.
        if (/^[A-Z]{3,10} /.test(chunk.toString('latin1', 0, 12))) raw.end(PLAIN_HTTP_TO_TLS);
        else raw.destroy();
        this.metrics.tlsHandshakeError('plain_http');
        return;
      }
      raw.unshift(chunk);
      // Counted from the hand-over, not from the end of the handshake: a reload during a handshake
      // must not retire (and stop the deadline timer of) the generation this connection will use.
      this.addTransport(generation, raw, generation.handedOver);
      generation.server.emit('connection', raw);
    });
    raw.resume();
  }

  /** Binds every address; rejects (and releases what was bound) if one fails. */
  async listen(addresses: readonly string[]): Promise<ListeningAddress[]> {
    const bound: ListeningAddress[] = [];
    try {
      for (const address of addresses) {
        const { host, port } = parseListenAddress(address);
        // noDelay: the TLS 1.3 server writes several small records in a row (session tickets after a
        // client certificate, then the response); with Nagle's algorithm on, delayed ACKs stall
        // each new connection by ~40 ms. node:http turns Nagle off for its own sockets too.
        const front = createNetServer({ pauseOnConnect: true, noDelay: true }, (raw) => this.accept(raw));
        await new Promise<void>((resolve, reject) => {
          front.once('error', reject);
          front.listen({ host, port }, () => {
            front.off('error', reject);
            resolve();
          });
        });
        front.on('error', (error) => this.logger.error('listener error', { address, error: error.message }));
        this.fronts.push(front);
        const info = front.address() as AddressInfo;
        const scheme = this.current.tls ? 'https' : 'http';
        const shown = isIPv6(info.address) ? `[${info.address}]` : info.address;
        bound.push({ host: info.address, port: info.port, scheme, url: `${scheme}://${shown}:${info.port}` });
      }
    } catch (error) {
      await this.close(0);
      throw new ScrapeguardError('LISTEN_FAILED', `cannot listen: ${(error as Error).message}`, { cause: error });
    }
    return bound;
  }

  /**
   * Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes every
   * connection. Resolves when no socket of this server is left.
   */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    // Stop accepting now, but await it last: net.Server's close callback waits for every accepted
    // connection to end, so awaiting it first would hang on any open (idle, handshaking) socket.
    const stopped = Promise.all(this.fronts.map((f) => new Promise<void>((resolve) => f.close(() => resolve()))));
    this.fronts.length = 0;
    // HTTP/2 sessions close gracefully (GOAWAY, open streams finish); idle HTTP/1 connections
    // close now, busy ones after their response (see track()).
    for (const generation of this.generations) {
      for (const session of generation.sessions) session.close();
      for (const socket of generation.transports) {
        if (!this.inflight.has(socket) && (socket as TLSSocket).alpnProtocol !== 'h2') socket.destroy();
      }
    }
    for (const socket of this.pending) socket.destroy();
    const deadline = Date.now() + graceMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const socket of this.sockets) socket.destroy();
    await stopped;
    for (const generation of [...this.generations]) this.retire(generation);
  }
}
