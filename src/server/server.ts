/**
 * scrapeguard's own server: listens on one or more addresses and serves the core over HTTPS
 * (HTTP/2 with HTTP/1.1 fallback, or HTTP/1.1 only) or plain HTTP.
 *
 * Each accepted connection is first held by a plain TCP listener, which
 *  - enforces the connection budget (see {@link GuardServer.accept}): a cap per client address, a
 *    global cap that makes room by evicting the oldest connections that never completed a request,
 *    and a deadline from accept to the end of the TLS handshake,
 *  - answers a plain-HTTP request on the TLS port with Go's `400 Client sent an HTTP request to
 *    an HTTPS server.`, and
 *  - hands the socket to the TLS server of the *current* configuration generation.
 * Before all that it refuses clients outside `allowed_networks` (no TLS handshake is ever started
 * for them), and on a listener with PROXY protocol reads the header a trusted proxy sends first,
 * so the client address it names is the one every budget, limit, log and audit record sees.
 * The HTTP layers then apply the request deadlines: Node's header/request timeouts for HTTP/1.1,
 * and for HTTP/2 a deadline for the session's first complete request plus `max_header_bytes` on
 * each header list (Node enforces neither for HTTP/2).
 * A reload builds a new generation (new certificate, CA, policy, protocol settings) that serves
 * new connections, while open connections finish on the generation that accepted them. No file
 * is read per request or per handshake.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { constants as http2Constants, createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2Session } from 'node:http2';
import { createServer as createNetServer, isIPv6, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket, Server as TlsServer } from 'node:tls';
import type { GuardState } from '../core/handle.js';
import type { Logger } from '../log.js';
import type { ConnectionRefusalReason, Http2ResetReason, SelfMetrics } from '../metrics/self.js';
import { clientCertificateOf, tlsServerOptions, verdictForSocket } from '../tls/server-options.js';
import { rotateTicketKeys } from '../tls/session-tickets.js';
import { CLIENT_CERT_REFUSED_MESSAGE, handshakeErrorLabel, refusalFromHandshakeError, refusalLogFields } from '../tls/handshake-failure.js';
import { ScrapeguardError } from '../errors.js';
import type { NodeRequestHandler } from '../adapters/http.js';
import { markOwnSocket, remoteAddressOf, setOriginalAddress } from '../adapters/tls-info.js';
import type { NetworkMatcher } from '../net/networks.js';
import { parseProxyHeader, startsWithProxySignature } from '../net/proxy-protocol.js';
import { http1ParseErrorResponse, isHttp2, strictHttp1 } from './strict-http1.js';

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

/** Settings of one set of listeners ({@link GuardServer.listen}). */
export interface ListenerSettings {
  /**
   * Trusted proxies (the guard's `trustedProxies`) must open each connection with a PROXY protocol
   * v1/v2 header; other peers connect directly and may not send one.
   */
  readonly proxyProtocol: boolean;
}

/** How an accepted connection reached {@link GuardServer.admit}. */
interface Arrival {
  /** A trusted proxy's own connection (no PROXY header, or a LOCAL one): its clients are checked per request. */
  readonly viaProxy: boolean;
  /** The address came from a trusted proxy's PROXY header. */
  readonly proxied: boolean;
  /** Look at the first bytes for a PROXY signature even on plain HTTP (a PROXY-protocol listener). */
  readonly peek: boolean;
  /** When the TCP connection was accepted (the handshake deadline counts from here). */
  readonly acceptedAt: number;
}

interface Generation {
  readonly tls: boolean;
  readonly server: AnyServer;
  readonly sessions: Set<Http2Session>;
  /** Sockets the HTTP layer sees (TLS sockets, or raw ones for plain HTTP) on this generation. */
  readonly transports: Set<Socket>;
  /** Raw sockets handed to this generation's TLS server, from the hand-over until they close. */
  readonly handedOver: Set<Socket>;
}

/**
 * One accepted TCP connection, from accept until it closes. A connection is *proven* once it has
 * been served a request with a status below 400; until then (handshaking, connected without a
 * request, or only refused requests) and while no request is in flight it is *idle-unproven*:
 * the kind of connection the global limit may evict.
 */
interface Conn {
  readonly raw: Socket;
  readonly address: string;
  /** {@link endpointKey} of the raw socket (computed at accept: a closed socket forgets its endpoints). */
  readonly key: string;
  /** When it (re)joined its address's idle queue: a counter, so the oldest is unambiguous. */
  idleSince: number;
  /** TLS handshake completed (always true for plain HTTP). */
  secured: boolean;
  proven: boolean;
  /** Requests (HTTP/2 streams) in flight on this connection. */
  busy: number;
  deadline?: NodeJS.Timeout;
  /** `address` came from a trusted proxy's PROXY header (the TLS socket is marked with it too). */
  proxied: boolean;
}

/** Per client address: its open connections and requests in service. */
interface Client {
  open: number;
  /** Requests in service (any protocol), and those of them that are HTTP/2 streams. */
  inService: number;
  http2InService: number;
  /** Idle-unproven connections, oldest first (a Set keeps insertion order). */
  readonly idle: Set<Conn>;
}

/** Sessions reset past the bounds this often are sent GOAWAY (as Node does past maxSessionRejectedStreams). */
const HTTP2_MAX_CALM_RESETS = 20;

const PLAIN_HTTP_TO_TLS = 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';
const TLS_HANDSHAKE_RECORD = 0x16;

/** A TCP connection's endpoints: the same for a raw socket and the TLS socket wrapping it. */
function endpointKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}|${socket.localAddress ?? ''}|${socket.localPort ?? ''}`;
}

function first<T>(set: ReadonlySet<T>): T | undefined {
  for (const item of set) return item;
  return undefined;
}

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
  private networks: NetworkMatcher | undefined;
  private readonly fronts: NetServer[] = [];
  private readonly sockets = new Set<Socket>();
  /** Accepted sockets still waiting for their first byte. */
  private readonly pending = new Set<Socket>();
  private readonly inflight = new Map<Socket, number>();
  /** Connection budget: raw socket → connection, address → client, TLS socket → connection. */
  private readonly conns = new Map<Socket, Conn>();
  private readonly clients = new Map<string, Client>();
  private readonly byTransport = new WeakMap<Socket, Conn>();
  /**
   * TLS connections by TCP endpoints: how a TLS socket, or the proxy an HTTP/2 session exposes as
   * its socket, finds the raw socket's connection.
   */
  private readonly byEndpoint = new Map<string, Conn>();
  /** Requests in service across all connections. */
  private inService = 0;
  private readonly calmResets = new WeakMap<Http2Session, number>();
  private idleClock = 0;
  private readonly generations = new Set<Generation>();
  private closing = false;

  constructor(
    private readonly handler: NodeRequestHandler,
    private readonly logger: Logger,
    private readonly metrics: SelfMetrics,
    state: GuardState,
    /** Whether an address is a trusted proxy (the guard's `trustedProxies`); absent: none is. */
    private readonly trustedPeer?: (address: string) => boolean,
  ) {
    this.current = this.build(state);
    this.limits = state.config.limits;
    this.networks = state.allowedNetworks;
  }

  /** Serves new connections with a new configuration generation (and its limits). */
  apply(state: GuardState): void {
    const previous = this.current;
    this.current = this.build(state);
    this.limits = state.config.limits;
    this.networks = state.allowedNetworks;
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
    // track() sees every request, so it tells HTTP/2 by its stream (isHttp2), never by the version
    // an HTTP/1 request line claims; strictHttp1 then refuses such lines with Go's answers.
    const handler = this.track(
      strictHttp1(config.tls && config.http.http2 ? this.limitHttp2HeaderList(this.handler, limits.maxHeaderBytes) : this.handler, this.logger),
    );
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
      const tlsOptions = { ...tlsServerOptions(config.tls), handshakeTimeout: limits.handshakeTimeoutMs };
      server = config.http.http2
        ? createSecureServer(
            {
              ...tlsOptions,
              allowHTTP1: true,
              settings: { maxHeaderListSize: limits.maxHeaderBytes, maxConcurrentStreams: limits.http2MaxConcurrentStreams },
              // Node's defaults, set explicitly so they are documented and cannot drift: nghttp2's
              // own memory per session (headers, frames, stream state; MB), streams refused for
              // exceeding maxConcurrentStreams and invalid frames tolerated before GOAWAY, PINGs
              // awaiting an answer. Response bodies are bounded by track(), not by these.
              maxSessionMemory: 10,
              maxSessionRejectedStreams: 100,
              maxSessionInvalidFrames: 100,
              maxOutstandingPings: 10,
            },
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
              remote: remoteAddressOf(session.socket),
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
      // Ticket keys replaced hourly; the timer stops when retire()/close() closes this server.
      rotateTicketKeys(server as TlsServer);
      const policy = state.clientCertificatePolicy;
      const requestCert = config.tls.clientAuth !== 'NoClientCert';
      // One listener, prepended so it runs before the HTTP layer sees the connection, and the one
      // place per handshake that finds the connection (one endpoint lookup) and reads the client
      // certificate (one parse, shared by the policy and every request on the connection).
      server.prependListener('secureConnection', (socket: TLSSocket) => {
        const conn = this.connOfTls(socket);
        // The client address a PROXY header named goes on the TLS socket too, before anything
        // logs or serves it.
        if (conn?.proxied) setOriginalAddress(socket, conn.address);
        // Without a certificate request the client cannot have sent one: nothing to parse.
        const client = requestCert ? clientCertificateOf(socket) : undefined;
        if (policy) {
          const verdict = verdictForSocket(policy, socket, client);
          if (!verdict.ok) {
            this.metrics.tlsHandshakeError(verdict.reason);
            this.logger.warn(CLIENT_CERT_REFUSED_MESSAGE, refusalLogFields(remoteAddressOf(socket), verdict.reason, verdict.client, verdict.detail));
            socket.destroy();
          }
        }
        this.secured(socket, conn);
        // Verified against this generation's client CA at the handshake: the core may trust it.
        markOwnSocket(socket, client);
        this.addTransport(generation, socket);
      });
      server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
        // RequireAndVerifyClientCert refusals decided by Node/OpenSSL arrive here (the socket is
        // already released, so only the reason is known); anything else stays at debug.
        const refusal = refusalFromHandshakeError(error.code, socket.authorizationError);
        if (refusal) {
          this.metrics.tlsHandshakeError(refusal);
          this.logger.warn(
            CLIENT_CERT_REFUSED_MESSAGE,
            refusalLogFields(this.clientAddress(socket), refusal, undefined, socket.authorizationError ? String(socket.authorizationError) : error.code),
          );
          return;
        }
        const reason = handshakeErrorLabel(error.code);
        this.metrics.tlsHandshakeError(reason);
        this.logger.debug('TLS handshake error', { remote: this.clientAddress(socket), reason, detail: error.message });
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
      } else socket.destroy();
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
      if (isHttp2(req)) {
        const raw = req.rawHeaders;
        let size = 0;
        for (let i = 0; i < raw.length; i++) size += raw[i]!.length + (i % 2 === 0 ? 32 : 0);
        if (size > maxBytes) {
          this.logger.debug('HTTP/2 request refused: header list too large', { remote: remoteAddressOf(req.socket), bytes: size, limit: maxBytes });
          res.statusCode = 431;
          res.end();
          return;
        }
      }
      handler(req, res);
    };
  }

  /**
   * Counts requests in flight per socket, so close() can let them finish; keeps the connection
   * budget (requests in service per address, proven connections); bounds HTTP/2 streams.
   */
  private track(handler: NodeRequestHandler): NodeRequestHandler {
    return (req, res) => {
      const socket = req.socket;
      const h2 = isHttp2(req) ? req : undefined;
      const conn = h2 ? this.byEndpoint.get(endpointKey(h2.stream.session?.socket as Socket)) : (this.byTransport.get(socket) ?? this.conns.get(socket));
      if (h2 && conn && !this.admitStream(h2, conn)) return;
      this.inflight.set(socket, (this.inflight.get(socket) ?? 0) + 1);
      const release = conn ? this.requestStarted(conn, h2 !== undefined) : undefined;
      // An HTTP/2 response is rendered whole and then delivered only as fast as the peer's
      // flow-control window allows, so a peer that never reads pins it in memory. It must be
      // delivered within request_timeout, or the stream is reset. Until then it stays charged to
      // the address even if the peer resets the stream or drops the connection: otherwise a client
      // could have responses rendered without limit by abandoning them and reconnecting.
      const stall = h2
        ? setTimeout(() => {
            this.resetStream(h2, 'stalled');
            release?.(false);
          }, this.limits.requestTimeoutMs).unref()
        : undefined;
      let finished = false;
      res.once('finish', () => (finished = true));
      res.once('close', () => {
        // HTTP/2 compat responses emit 'finish' on any stream close, and a stream dropped with its
        // session has no error code: the stream's own writable side tells whether nghttp2 took
        // every byte of the response.
        const delivered = h2 ? h2.stream.writableFinished : finished;
        if (!h2 || delivered) {
          clearTimeout(stall);
          release?.(delivered && res.statusCode < 400);
        }
        const left = (this.inflight.get(socket) ?? 1) - 1;
        if (left > 0) this.inflight.set(socket, left);
        else {
          this.inflight.delete(socket);
          if (this.closing && !isHttp2(req)) socket.end();
        }
      });
      handler(req, res);
    };
  }

  /**
   * HTTP/2 lets one connection ask for many responses at once, each rendered in full and held until
   * the peer reads it. An address is therefore served at most `http2_max_streams_per_client`
   * HTTP/2 requests at once, and the server at most `max_connections` requests (what as many
   * HTTP/1.1 connections could ask); a stream beyond that is reset with ENHANCE_YOUR_CALM before
   * any work is done, and a session that keeps trying is sent GOAWAY (ENHANCE_YOUR_CALM) and closed.
   */
  private admitStream(req: Http2ServerRequest, conn: Conn): boolean {
    const { http2MaxStreamsPerClient, maxConnections } = this.limits;
    const client = this.clients.get(conn.address);
    let reason: Http2ResetReason | undefined;
    if (http2MaxStreamsPerClient > 0 && client && client.http2InService >= http2MaxStreamsPerClient) reason = 'per_client_limit';
    else if (this.inService >= maxConnections) reason = 'global_limit';
    if (reason === undefined) return true;
    this.resetStream(req, reason);
    const session = req.stream.session;
    if (session && !session.destroyed) {
      const resets = (this.calmResets.get(session) ?? 0) + 1;
      this.calmResets.set(session, resets);
      if (resets === HTTP2_MAX_CALM_RESETS) {
        this.metrics.http2Reset('session_goaway');
        this.logger.warn('HTTP/2 stream reset', { remote: conn.address, reason: 'session_goaway', limit: HTTP2_MAX_CALM_RESETS });
        session.goaway(http2Constants.NGHTTP2_ENHANCE_YOUR_CALM);
        // Let the GOAWAY frame go out before the connection closes.
        setImmediate(() => session.destroy());
      }
    }
    return false;
  }

  private resetStream(req: Http2ServerRequest, reason: Http2ResetReason): void {
    const stream = req.stream;
    if (stream.destroyed || stream.closed) return;
    this.metrics.http2Reset(reason);
    this.logger.warn('HTTP/2 stream reset', { remote: remoteAddressOf(stream.session?.socket), reason });
    stream.close(http2Constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }

  /** A request started on `conn`; the returned function (idempotent) ends it, `served` if it proved the connection. */
  private requestStarted(conn: Conn, http2: boolean): (served: boolean) => void {
    conn.busy++;
    this.inService++;
    const client = this.clients.get(conn.address);
    if (client) {
      client.inService++;
      if (http2) client.http2InService++;
      client.idle.delete(conn);
    }
    let ended = false;
    return (served) => {
      if (ended) return;
      ended = true;
      conn.busy--;
      this.inService--;
      if (served) conn.proven = true;
      if (!client) return;
      client.inService--;
      if (http2) client.http2InService--;
      // Back to the end of its address's idle queue: its idle age starts now.
      if (conn.busy === 0 && !conn.proven && this.conns.has(conn.raw)) {
        conn.idleSince = ++this.idleClock;
        client.idle.add(conn);
      }
      if (client.open === 0 && client.inService === 0 && this.clients.get(conn.address) === client) this.clients.delete(conn.address);
    };
  }

  /**
   * The client address of a TLS socket whose handshake failed (so it was never marked with the
   * PROXY header's address): found through its connection while the socket still knows its
   * endpoints, else the socket's own peer.
   */
  private clientAddress(socket: TLSSocket): string {
    const conn = this.connOfTls(socket);
    return conn?.proxied ? conn.address : remoteAddressOf(socket);
  }

  /**
   * The connection of a TLS socket. Node's TLS server keeps the raw socket it wrapped as
   * `_parent` (undocumented but stable since Node 0.x): one map lookup, where the endpoints cost
   * two system calls per socket. Should that property ever go, the endpoints still find it.
   */
  private connOfTls(socket: TLSSocket): Conn | undefined {
    const raw = (socket as { _parent?: unknown })._parent;
    return (raw instanceof Object ? this.conns.get(raw as Socket) : undefined) ?? this.byEndpoint.get(endpointKey(socket));
  }

  /** The TLS handshake of a connection completed: its deadline no longer applies. */
  private secured(socket: TLSSocket, conn: Conn | undefined): void {
    if (!conn) return;
    conn.secured = true;
    clearTimeout(conn.deadline);
    this.byTransport.set(socket, conn);
  }

  /** Closes a connection for `reason`, counted and logged (one stable message, the reason a field). */
  private refuse(raw: Socket, address: string, reason: ConnectionRefusalReason, limit?: number, detail?: Record<string, unknown>): void {
    this.metrics.connectionRefused(reason);
    this.logger.warn('connection refused', { remote: address, reason, ...(limit !== undefined ? { limit } : {}), ...detail });
    raw.destroy();
  }

  /** Drops a connection from the budget; idempotent (an eviction forgets before the close event). */
  private forget(conn: Conn): void {
    if (!this.conns.delete(conn.raw)) return;
    this.sockets.delete(conn.raw);
    clearTimeout(conn.deadline);
    if (this.byEndpoint.get(conn.key) === conn) this.byEndpoint.delete(conn.key);
    const client = this.clients.get(conn.address);
    if (!client) return;
    client.open--;
    client.idle.delete(conn);
    if (client.open === 0 && client.inService === 0) this.clients.delete(conn.address);
  }

  /**
   * The connection to close so that a new one from `address` fits under `max_connections`, or
   * none (the new one is refused). Only idle-unproven connections are candidates: in the
   * handshake, connected without a request, or served only refusals, and no request in flight.
   * A proven connection (a scraper's keep-alive) is never closed for a newcomer. A newcomer at or
   * above its fair share (max_connections / addresses) is refused; otherwise the candidate idle
   * longest among addresses above their share goes first, failing that the one idle longest anywhere.
   */
  private evictionVictim(address: string, maxConnections: number): Conn | undefined {
    const addresses = this.clients.size + (this.clients.has(address) ? 0 : 1);
    const share = Math.max(1, Math.floor(maxConnections / addresses));
    if ((this.clients.get(address)?.open ?? 0) >= share) return undefined;
    let overShare: Conn | undefined;
    let anywhere: Conn | undefined;
    for (const client of this.clients.values()) {
      const oldest = first(client.idle);
      if (!oldest) continue;
      if (client.open > share && (!overShare || oldest.idleSince < overShare.idleSince)) overShare = oldest;
      if (!anywhere || oldest.idleSince < anywhere.idleSince) anywhere = oldest;
    }
    return overShare ?? anywhere;
  }

  /**
   * Admits a TCP connection under the connection budget:
   *  - an address with `max_connections_per_client` open connections gets no more;
   *  - at `max_connections`, an idle-unproven connection is closed to make room
   *    ({@link evictionVictim}); a newcomer is refused only when none may be closed for it;
   *  - a TLS connection must finish its handshake within `handshake_timeout` of being accepted
   *    (an absolute deadline: trickling bytes does not extend it).
   * Refusals and evictions are counted and logged at warn with a `reason`.
   */
  private accept(raw: Socket, listener: ListenerSettings): void {
    raw.on('error', () => raw.destroy());
    if (this.closing) {
      raw.destroy();
      return;
    }
    const acceptedAt = Date.now();
    const peer = remoteAddressOf(raw);
    const viaProxy = this.trustedPeer?.(peer) === true;
    if (listener.proxyProtocol && viaProxy) this.readProxyHeader(raw, peer, acceptedAt);
    else this.admit(raw, peer, { viaProxy, proxied: false, peek: listener.proxyProtocol, acceptedAt });
  }

  /**
   * Reads the PROXY header a trusted proxy opens the connection with (v1 or v2, bounded in size and
   * by the handshake deadline), then admits the connection under the client address it names. No
   * header, a malformed one, or an unsupported one (UDP, UNIX sockets) closes the connection.
   */
  private readProxyHeader(raw: Socket, proxy: string, acceptedAt: number): void {
    const { handshakeTimeoutMs } = this.limits;
    this.pending.add(raw);
    let received: Buffer = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('close', done);
      this.pending.delete(raw);
    };
    const timer = setTimeout(() => {
      done();
      this.refuse(raw, proxy, 'handshake_timeout', handshakeTimeoutMs, { proxy_protocol: true });
    }, handshakeTimeoutMs);
    timer.unref();
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      // Bounded: the parser answers `invalid` once more bytes than the longest header arrived.
      const result = parseProxyHeader(received);
      if (result.status === 'incomplete') return;
      done();
      raw.pause();
      if (result.status === 'absent') {
        this.refuse(raw, proxy, 'proxy_header_missing', undefined, { proxy: proxy });
        return;
      }
      if (result.status === 'invalid') {
        this.refuse(raw, proxy, 'proxy_header_invalid', undefined, { proxy: proxy, detail: result.reason });
        return;
      }
      const rest = received.subarray(result.length);
      if (rest.length > 0) raw.unshift(rest);
      if (result.header.command === 'proxy') {
        setOriginalAddress(raw, result.header.source);
        this.admit(raw, result.header.source, { viaProxy: false, proxied: true, peek: true, acceptedAt });
      } else {
        this.admit(raw, proxy, { viaProxy: true, proxied: false, peek: true, acceptedAt });
      }
    };
    raw.on('data', onData);
    raw.once('close', done);
    raw.resume();
  }

  /**
   * Admits a connection from `address` (the socket's, or the one a PROXY header named): the
   * network allow-list, then the connection budget ({@link admitBudgeted}).
   */
  private admit(raw: Socket, address: string, arrival: Arrival): void {
    if (this.closing) {
      raw.destroy();
      return;
    }
    // A trusted proxy's own connection carries many clients: they are checked per request, on
    // the X-Forwarded-For address (the core applies allowed_networks too).
    if (this.networks && !arrival.viaProxy && !this.networks.contains(address)) {
      this.refuse(raw, address, 'network_not_allowed', undefined, arrival.proxied ? { proxy: raw.remoteAddress } : undefined);
      return;
    }
    this.admitBudgeted(raw, address, arrival);
  }

  private admitBudgeted(raw: Socket, address: string, arrival: Arrival): void {
    const { maxConnections, maxConnectionsPerClient, handshakeTimeoutMs } = this.limits;
    const client = this.clients.get(address);
    if (maxConnectionsPerClient > 0 && client && client.open >= maxConnectionsPerClient) {
      this.refuse(raw, address, 'per_client_limit', maxConnectionsPerClient);
      return;
    }
    if (this.sockets.size >= maxConnections) {
      const victim = this.evictionVictim(address, maxConnections);
      if (!victim) {
        this.refuse(raw, address, 'global_limit', maxConnections);
        return;
      }
      this.forget(victim);
      this.refuse(victim.raw, victim.address, 'evicted', maxConnections);
    }
    const conn: Conn = {
      raw,
      address,
      key: endpointKey(raw),
      idleSince: ++this.idleClock,
      secured: !this.current.tls,
      proven: false,
      busy: 0,
      proxied: arrival.proxied,
    };
    const entry = this.clients.get(address) ?? { open: 0, inService: 0, http2InService: 0, idle: new Set<Conn>() };
    this.clients.set(address, entry);
    entry.open++;
    entry.idle.add(conn);
    this.conns.set(raw, conn);
    this.sockets.add(raw);
    raw.once('close', () => this.forget(conn));
    if (!this.current.tls) {
      if (arrival.peek) {
        this.peekPlain(raw, conn);
        return;
      }
      // Plain HTTP needs no peeking otherwise; its headers timeout covers the first-byte deadline.
      this.current.server.emit('connection', raw);
      // pauseOnConnect left the handle not reading; the parser does not restart it.
      raw.resume();
      return;
    }
    this.pending.add(raw);
    raw.once('close', () => this.pending.delete(raw));
    this.byEndpoint.set(conn.key, conn);
    // Covers the first byte and the whole handshake (it replaces the first-byte inactivity timeout),
    // counted from the accept (a PROXY header's time included).
    conn.deadline = setTimeout(
      () => {
        if (conn.secured || raw.destroyed) return;
        this.forget(conn);
        this.refuse(raw, address, 'handshake_timeout', handshakeTimeoutMs);
      },
      Math.max(0, arrival.acceptedAt + handshakeTimeoutMs - Date.now()),
    );
    conn.deadline.unref();
    raw.once('data', (chunk: Buffer) => {
      this.pending.delete(raw);
      raw.pause();
      const generation = this.current;
      if (startsWithProxySignature(chunk)) {
        this.refuse(raw, address, 'proxy_header_refused');
        return;
      }
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

  /**
   * Plain HTTP on a PROXY-protocol listener: the first bytes are looked at (a PROXY header from a
   * peer that may not send one is refused) and handed back before node's HTTP parser takes the
   * socket. Until the first byte arrives, `read_header_timeout` applies.
   */
  private peekPlain(raw: Socket, conn: Conn): void {
    this.pending.add(raw);
    const firstByte = setTimeout(() => {
      this.logger.debug('connection sent nothing in time', { remote: conn.address, limit_ms: this.limits.readHeaderTimeoutMs });
      raw.destroy();
    }, this.limits.readHeaderTimeoutMs);
    firstByte.unref();
    raw.once('close', () => {
      clearTimeout(firstByte);
      this.pending.delete(raw);
    });
    raw.once('data', (chunk: Buffer) => {
      clearTimeout(firstByte);
      this.pending.delete(raw);
      raw.pause();
      if (startsWithProxySignature(chunk)) {
        this.refuse(raw, conn.address, 'proxy_header_refused');
        return;
      }
      raw.unshift(chunk);
      this.current.server.emit('connection', raw);
      raw.resume();
    });
    raw.resume();
  }

  /** Binds every address; rejects (and releases what was bound) if one fails. */
  async listen(addresses: readonly string[], settings: ListenerSettings = { proxyProtocol: false }): Promise<ListeningAddress[]> {
    const bound: ListeningAddress[] = [];
    try {
      for (const address of addresses) {
        const { host, port } = parseListenAddress(address);
        // noDelay: the TLS 1.3 server writes several small records in a row (session tickets after a
        // client certificate, then the response); with Nagle's algorithm on, delayed ACKs stall
        // each new connection by ~40 ms. node:http turns Nagle off for its own sockets too.
        const front = createNetServer({ pauseOnConnect: true, noDelay: true }, (raw) => this.accept(raw, settings));
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
