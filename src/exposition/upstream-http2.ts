/**
 * HTTP/2 to the upstream (`upstreamSource({ http2: true })`, `--upstream.http2`): one long-lived
 * session per source, every scrape a stream on it, so a busy sidecar keeps one connection (and
 * one TLS handshake) to its exporter. `https://`: TLS offering ALPN `h2` only, checked before a
 * single HTTP/2 byte is sent; an upstream that picks anything else is refused, never spoken to in
 * HTTP/1.1 instead (a silent downgrade would hide that the setting does nothing). `http://`: h2c
 * with prior knowledge.
 *
 * The session is opened lazily by the first scrape and dropped when it closes, errors or gets a
 * GOAWAY, so the next scrape opens a new one. It is unref'd: an idle session never keeps the
 * process alive (a fetch in flight is held up by its deadline timer). Streams beyond the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS wait in nghttp2's queue, within their deadline.
 */
import { connect as connectHttp2, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { SourceError } from './failure.js';
import { requestFailure, type UpstreamFail, type UpstreamTransport } from './upstream-fetch.js';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = constants;
/**
 * Flow-control window per stream (the session's is four times it). HTTP/2's default of 64 KiB
 * costs a round trip per 64 KiB of body: a 500 KB exposition came in 10-30 % slower than over
 * HTTP/1.1 with it, at par with 1 MiB. What a stream may buffer is still capped by `maxBytes`.
 */
const WINDOW = 1 << 20;

/** Errors of `session.request()` on a session that is going away: safe to retry on a new one. */
const STALE_SESSION = new Set(['ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION', 'ERR_HTTP2_OUT_OF_STREAMS']);

/**
 * The HTTP/2 transport of one upstream URL. `tls` absent: h2c. `connectTimeoutMs` bounds opening
 * the connection (TCP and TLS), so a black-holed upstream cannot leave a session pending forever.
 */
export function http2Transport(url: URL, tls: ConnectionOptions | undefined, connectTimeoutMs: number, fail: UpstreamFail): UpstreamTransport {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (tls ? 443 : 80));
  const path = `${url.pathname}${url.search}`;
  const noHttp2 = (reason: 'tls' | 'connect', detail: string, cause?: unknown): SourceError =>
    fail(reason, `the upstream does not speak HTTP/2 (${detail}); drop --upstream.http2 (http2: true) to use HTTP/1.1`, cause);

  /** Connects; with TLS, resolves only once the server chose `h2`. */
  const connect = () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = tls
        ? connectTls({
            ...tls,
            host,
            port,
            ALPNProtocols: ['h2'],
            // SNI as an https client sends it: the host name, never an address.
            ...(tls.servername === undefined && isIP(host) === 0 ? { servername: host } : {}),
          })
        : connectTcp({ host, port });
      const onError = (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL'
            ? noHttp2('tls', 'it refused the TLS ALPN protocol h2', error)
            : requestFailure(fail, error, 'connect failed'),
        );
      const onTimeout = () => socket.destroy(Object.assign(new Error(`no connection within ${connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
      socket.once('error', onError);
      socket.setTimeout(connectTimeoutMs, onTimeout);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        socket.setTimeout(0, onTimeout);
        socket.removeListener('error', onError);
        const alpn = tls ? (socket as TLSSocket).alpnProtocol : 'h2c';
        if (alpn !== 'h2' && alpn !== 'h2c') {
          socket.destroy();
          reject(noHttp2('tls', `TLS negotiated ${alpn === false ? 'no application protocol' : JSON.stringify(alpn)} instead of h2`));
          return;
        }
        resolve(socket);
      });
    });

  /** The session scrapes use (or its opening), until it closes, errors or gets a GOAWAY. */
  let current: Promise<ClientHttp2Session> | undefined;
  let live: ClientHttp2Session | undefined;
  /** Sessions whose server sent its SETTINGS frame, i.e. spoke HTTP/2 at all. */
  const spoke = new WeakSet<ClientHttp2Session>();
  /** Stops handing out `s`; streams already on it finish (a GOAWAY lets them). */
  const forget = (s: ClientHttp2Session) => {
    if (live !== s) return;
    live = undefined;
    current = undefined;
  };
  const session = (): Promise<ClientHttp2Session> => {
    if (current) return current;
    const opening = connect().then((socket) => {
      // The socket is connected (and h2 negotiated): the session starts on it at once.
      const s = connectHttp2(url.origin, { createConnection: () => socket, settings: { initialWindowSize: WINDOW } });
      s.once('connect', () => s.setLocalWindowSize(4 * WINDOW));
      if (current === opening) live = s;
      s.on('error', () => forget(s));
      s.on('close', () => forget(s));
      s.on('goaway', () => forget(s));
      s.once('remoteSettings', () => spoke.add(s));
      s.unref();
      return s;
    });
    current = opening;
    opening.catch(() => {
      if (current === opening) current = undefined;
    });
    return opening;
  };

  return (headers, exchange) => {
    let stream: ClientHttp2Stream | undefined;
    let cancelled = false;
    let retried = false;
    const attempt = (): void => {
      session().then(
        (s) => {
          if (cancelled) return;
          let st: ClientHttp2Stream;
          try {
            st = s.request({ ':method': 'GET', ':path': path, ...headers }, { endStream: true });
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code ?? '';
            if (STALE_SESSION.has(code)) {
              forget(s);
              if (!retried) {
                retried = true;
                return attempt();
              }
            }
            return exchange.error(requestFailure(fail, error as NodeJS.ErrnoException));
          }
          stream = st;
          let responded = false;
          let failure: NodeJS.ErrnoException | undefined;
          st.on('response', (head) => {
            responded = true;
            // A stream torn down with its session ends too, but closed with a code other than NO_ERROR.
            const complete = () => st.readableEnded && (st.rstCode === undefined || st.rstCode === NGHTTP2_NO_ERROR);
            exchange.answer({ status: Number(head[':status']), headers: head, body: st, complete });
          });
          // After the answer started, the body's reader reports errors (mid-body); before it, 'close' does.
          st.on('error', (error: NodeJS.ErrnoException) => (failure ??= error));
          st.on('close', () => {
            if (responded || cancelled) return;
            // RFC 9113 §8.7: a refused stream (a GOAWAY that crossed it) was not processed: a GET may go again.
            if (st.rstCode === NGHTTP2_REFUSED_STREAM && !retried) {
              retried = true;
              return attempt();
            }
            if (!tls && !spoke.has(s)) {
              // h2c has no negotiation: an HTTP/1.1 server answers the preface with a 400 and closes.
              const detail = failure?.code ?? `stream closed with HTTP/2 error code ${st.rstCode}`;
              return exchange.error(noHttp2('connect', `h2c with prior knowledge, and no HTTP/2 SETTINGS came back: ${detail}`, failure));
            }
            exchange.error(failure ? requestFailure(fail, failure) : fail('connect', `stream closed before an answer (HTTP/2 error code ${st.rstCode})`));
          });
        },
        (error: SourceError) => {
          if (!cancelled) exchange.error(error);
        },
      );
    };
    attempt();
    return () => {
      cancelled = true;
      if (stream && !stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
    };
  };
}
