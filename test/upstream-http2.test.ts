/**
 * HTTP/2 to the upstream (`upstreamSource({ http2: true })`, `serve --upstream.http2`), against
 * real node:http2 servers on loopback: h2 over TLS (certificates from the test PKI) and h2c. A
 * scrape through a guard gets the metrics over one reused session; the upstream sees HTTP/2 and
 * only the sidecar's own headers; gzip, the size cap (plain and gzip bomb), the deadline (the
 * stream is cancelled), a body cut off and an untrusted certificate fail as on HTTP/1.1; an
 * upstream that does not speak HTTP/2 fails with a message saying so (never a silent HTTP/1.1);
 * a GOAWAY between scrapes leads to a new session; the output equals the HTTP/1.1 transport's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  constants,
  createSecureServer,
  createServer as createH2cServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2SecureServer,
  type Http2Session,
  type SecureServerOptions,
} from 'node:http2';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import type { WebConfigInput } from '../src/config/schema.js';
import { SourceError } from '../src/exposition/failure.js';
import type { Exposition, SourceOutput, SourceRequest } from '../src/exposition/source.js';
import { upstreamSource, type UpstreamOptions } from '../src/exposition/upstream.js';
import type { Principal } from '../src/auth/principal.js';
import { serveCommand } from '../src/tools/cli/serve.js';
import type { CliIo } from '../src/tools/cli/io.js';
import { scrape } from './helpers/client.js';
import { textLogger } from './helpers/logger.js';
import { testPki, type TestPki } from './helpers/pki.js';

let pki: TestPki;
const guards: Guard[] = [];
const closers: (() => Promise<void>)[] = [];
const EXPORTER_TEXT = '# HELP up_demo Demo.\n# TYPE up_demo gauge\nup_demo{instance="a"} 1\n';
const TEXT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

beforeAll(async () => {
  pki = await testPki();
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
  await Promise.all(closers.splice(0).map((close) => close()));
});

type Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/** A node:http2 upstream that records what it saw. */
interface H2Upstream {
  url: string;
  /** HTTP/2 sessions opened to it (one per connection). */
  sessions: Http2Session[];
  requests: { version: string; headers: IncomingHttpHeaders }[];
}

async function listen(server: NetServer, sessions: Http2Session[] = []): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    for (const s of sessions) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

/** h2 over TLS (`tls`) or h2c with prior knowledge (`h2c`); `allowHTTP1` also serves HTTP/1.1 on the same port. */
async function h2Upstream(kind: 'tls' | 'h2c', handler: Handler, options: Partial<SecureServerOptions> = {}): Promise<H2Upstream> {
  const up: H2Upstream = { url: '', sessions: [], requests: [] };
  const record: Handler = (req, res) => {
    up.requests.push({ version: req.httpVersion, headers: req.headers });
    handler(req, res);
  };
  const server: Http2Server | Http2SecureServer =
    kind === 'tls' ? createSecureServer({ cert: pki.server.certPem, key: pki.server.keyPem, ...options }, record) : createH2cServer(options, record);
  server.on('session', (session: Http2Session) => up.sessions.push(session));
  const port = await listen(server, up.sessions);
  up.url = `${kind === 'tls' ? 'https' : 'http'}://127.0.0.1:${port}/metrics`;
  return up;
}

const exporter: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': TEXT_TYPE });
  res.end(EXPORTER_TEXT);
};

/** A guard over TLS in front of `source`; its log lines go to `logs`. */
async function sidecar(upstream: UpstreamOptions, config: WebConfigInput = {}, logs: string[] = []): Promise<string> {
  const guard = await createGuard({
    config: { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile }, ...config },
    source: upstreamSource(upstream),
    logger: textLogger(logs),
    watch: false,
  });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  return `https://127.0.0.1:${bound!.port}/metrics`;
}

const get = (url: string, headers: Record<string, string> = {}) => scrape(url, { ca: pki.ca.certPem, headers });

/** What one direct source call produced, or its SourceError. */
async function fetchOnce(options: UpstreamOptions, request?: SourceRequest): Promise<SourceOutput | SourceError> {
  return upstreamSource(options)(request).catch((error: unknown) => {
    if (error instanceof SourceError) return error;
    throw error;
  });
}

function expectFailure(out: SourceOutput | SourceError, reason: SourceError['reason'], message: RegExp): void {
  expect(out).toBeInstanceOf(SourceError);
  const error = out as SourceError;
  expect(error.status).toBe(502);
  expect({ reason: error.reason, message: error.message }).toMatchObject({ reason, message: expect.stringMatching(message) as string });
}

describe('HTTP/2 upstream', () => {
  test('h2 over TLS: a scrape through the guard gets the metrics; the upstream saw HTTP/2 and mTLS; N scrapes reuse one session', async () => {
    let clientCn: string | undefined;
    const up = await h2Upstream(
      'tls',
      (req, res) => {
        clientCn = String((req.socket as TLSSocket).getPeerCertificate().subject?.CN);
        exporter(req, res);
      },
      { ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: true },
    );
    const url = await sidecar({ url: up.url, http2: true, tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem } });
    for (let i = 0; i < 5; i++) {
      const r = await get(url);
      expect(r.status, r.body).toBe(200);
      expect(r.body).toContain('up_demo{instance="a"} 1');
    }
    expect(up.requests.map((r) => r.version)).toEqual(['2.0', '2.0', '2.0', '2.0', '2.0']);
    expect(up.sessions).toHaveLength(1);
    expect(clientCn).toBe('prometheus');
  });

  test('h2c (prior knowledge): gzip is decoded, one session serves every scrape', async () => {
    const up = await h2Upstream('h2c', (_req, res) => {
      res.writeHead(200, { 'content-type': TEXT_TYPE, 'content-encoding': 'gzip' });
      res.end(gzipSync(EXPORTER_TEXT));
    });
    const url = await sidecar({ url: up.url, http2: true });
    for (let i = 0; i < 3; i++) expect((await get(url)).body).toContain('up_demo{instance="a"} 1');
    expect(up.requests.every((r) => r.version === '2.0' && r.headers['accept-encoding'] === 'gzip')).toBe(true);
    expect(up.sessions).toHaveLength(1);
  });

  test('text and protobuf outputs equal the HTTP/1.1 transport’s (same server, both protocols)', async () => {
    const protobufBody = Buffer.from([0x0a, 0x08, 0x0a, 0x06, 0x75, 0x70, 0x5f, 0x64, 0x65, 0x6d]);
    const up = await h2Upstream(
      'tls',
      (req, res) => {
        if (String(req.headers.accept).startsWith('application/vnd.google.protobuf')) {
          res.writeHead(200, { 'content-type': 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited' });
          res.end(protobufBody);
          return;
        }
        res.writeHead(200, { 'content-type': TEXT_TYPE, 'content-encoding': 'gzip' });
        res.end(gzipSync(EXPORTER_TEXT));
      },
      { allowHTTP1: true },
    );
    const over = async (http2: boolean, request?: SourceRequest) => {
      const out = await fetchOnce({ url: up.url, http2, tls: { ca: pki.ca.certPem } }, request);
      if (out instanceof SourceError) throw out;
      return 'raw' in out ? { contentType: out.contentType, body: out.body, raw: out.raw } : out;
    };
    const text1 = await over(false);
    const text2 = await over(true);
    expect(text2).toEqual(text1);
    expect((text2 as Exposition).body).toBe(EXPORTER_TEXT);
    expect((text2 as Exposition).raw?.gzip).toBeDefined();
    expect(await over(true, { protobuf: true })).toEqual({ protobuf: protobufBody });
    expect(await over(false, { protobuf: true })).toEqual({ protobuf: protobufBody });
    expect(up.requests.map((r) => r.version)).toEqual(['1.1', '2.0', '2.0', '1.1']);
  });

  test('identity headers arrive (lower-case), and nothing of the client’s request does', async () => {
    const up = await h2Upstream('h2c', exporter);
    const token = randomBytes(32).toString('base64url');
    const sha256 = createHash('sha256').update(token).digest('hex');
    const url = await sidecar(
      { url: up.url, http2: true, identityHeaders: true },
      { bearer_auth: { tokens: [{ name: 'prometheus', token_sha256: sha256, groups: ['ops', 'sre'] }] } },
    );
    const r = await get(url, { authorization: `Bearer ${token}`, 'x-remote-user': 'admin', cookie: 'session=1' });
    expect(r.status, r.body).toBe(200);
    const h = up.requests[0]!.headers;
    expect(h['x-remote-user']).toBe('prometheus');
    expect(h['x-remote-groups']).toBe('ops|sre');
    expect(h['x-remote-auth-method']).toBe('bearer');
    expect(Object.keys(h).sort()).toEqual([
      ':authority',
      ':method',
      ':path',
      ':scheme',
      'accept',
      'accept-encoding',
      'user-agent',
      'x-remote-auth-method',
      'x-remote-groups',
      'x-remote-user',
    ]);
  });

  test('concurrent fetches share the session within the server’s SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    let active = 0;
    let most = 0;
    const up = await h2Upstream(
      'h2c',
      (req, res) => {
        active++;
        most = Math.max(most, active);
        // Answered on the next turn, so overlapping streams would be seen overlapping.
        setImmediate(() => {
          active--;
          exporter(req, res);
        });
      },
      { settings: { maxConcurrentStreams: 1 } },
    );
    // Per caller, so the three fetches are not merged into one in-flight fetch.
    const source = upstreamSource({ url: up.url, http2: true, identityHeaders: true });
    const principal = (name: string): Principal => ({ name, groups: [], method: 'basic' }) as unknown as Principal;
    await source({ principal: principal('first') }); // the server's SETTINGS are in before the burst
    const outs = await Promise.all(['a', 'b', 'c'].map((name) => source({ principal: principal(name) })));
    expect(outs.map((o) => (o as Exposition).body)).toEqual([EXPORTER_TEXT, EXPORTER_TEXT, EXPORTER_TEXT]);
    expect(up.sessions).toHaveLength(1);
    expect(most).toBe(1);
  });

  test('a GOAWAY between scrapes: the next scrape opens a new session and succeeds', async () => {
    const up = await h2Upstream('tls', exporter);
    const url = await sidecar({ url: up.url, http2: true, tls: { ca: pki.ca.certPem } });
    expect((await get(url)).status).toBe(200);
    const first = up.sessions[0]!;
    const closed = once(first, 'close');
    first.close(); // GOAWAY, then the connection ends
    await closed;
    const r = await get(url);
    expect(r.status, r.body).toBe(200);
    expect(up.sessions).toHaveLength(2);
    // And a session the server destroyed outright is replaced as well.
    const second = up.sessions[1]!;
    const gone = once(second, 'close');
    second.destroy();
    await gone;
    expect((await get(url)).status).toBe(200);
    expect(up.sessions).toHaveLength(3);
  });

  test('a refused stream (REFUSED_STREAM: not processed, RFC 9113 §8.7) is sent again once', async () => {
    let refuse = 0;
    const up = await h2Upstream('h2c', (req, res) => {
      if (refuse > 0) {
        refuse--;
        req.stream.close(constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      exporter(req, res);
    });
    const source = upstreamSource({ url: up.url, http2: true });
    refuse = 1;
    expect(((await source()) as Exposition).body).toBe(EXPORTER_TEXT);
    expect(up.requests).toHaveLength(2);
    refuse = 2;
    const error = await source().catch((e: unknown) => e);
    expectFailure(error as SourceError, 'connect', /ERR_HTTP2_STREAM_ERROR/);
    expect(up.requests).toHaveLength(4);
    expect(up.sessions).toHaveLength(1);
  });
});

describe('serve --upstream.http2', () => {
  test('the flag makes the sidecar speak HTTP/2 (h2c here) to the upstream', async () => {
    const up = await h2Upstream('h2c', exporter);
    const stdout = new PassThrough();
    const stderr = new PassThrough().resume();
    const stdin = new PassThrough();
    stdin.end();
    let stop!: () => void;
    const io: CliIo = {
      stdin,
      stdout,
      stderr,
      env: {},
      cwd: process.cwd(),
      stopSignal: new Promise<void>((r) => (stop = r)),
      onReloadSignal: () => () => {},
    };
    const run = serveCommand(['--web.listen-address', '127.0.0.1:0', '--upstream', up.url, '--upstream.http2'], io);
    const [line] = (await once(stdout, 'data')) as [Buffer];
    const url = /listening on (\S+)/.exec(line.toString())![1]!;
    for (let i = 0; i < 2; i++) expect((await scrape(url)).body).toContain('up_demo{instance="a"} 1');
    stop();
    expect(await run).toBe(0);
    expect(up.requests.map((r) => r.version)).toEqual(['2.0', '2.0']);
    expect(up.sessions).toHaveLength(1);
  });
});

describe('HTTP/2 upstream failures (502, as on HTTP/1.1)', () => {
  test('size cap: a body over maxBytes, declared or not, and a gzip bomb → too_large', async () => {
    const big = `m{a="${'x'.repeat(200_000)}"} 1\n`;
    const declared = await h2Upstream('h2c', (_req, res) => res.writeHead(200, { 'content-type': TEXT_TYPE, 'content-length': String(big.length) }).end(big));
    expectFailure(await fetchOnce({ url: declared.url, http2: true, maxBytes: 100_000 }), 'too_large', /larger than 100000 bytes/);
    const streamed = await h2Upstream('h2c', (_req, res) => {
      res.writeHead(200, { 'content-type': TEXT_TYPE });
      res.write(big.slice(0, 150_000));
      res.end(big.slice(150_000));
    });
    expectFailure(await fetchOnce({ url: streamed.url, http2: true, maxBytes: 100_000 }), 'too_large', /larger than 100000 bytes/);
    const bomb = await h2Upstream('tls', (_req, res) =>
      res.writeHead(200, { 'content-type': TEXT_TYPE, 'content-encoding': 'gzip' }).end(gzipSync(Buffer.alloc(50_000_000, 'a'))),
    );
    expectFailure(await fetchOnce({ url: bomb.url, http2: true, maxBytes: 1_000_000, tls: { ca: pki.ca.certPem } }), 'too_large', /larger than 1000000 bytes/);
  });

  test('deadline → timeout, and the stream is cancelled (RST_STREAM CANCEL)', async () => {
    // Set up front: on a loaded machine the handler may run only after the client gave up.
    let seen!: (rstCode: Promise<number>) => void;
    const cancelled = new Promise<Promise<number>>((resolve) => (seen = resolve)).then((code) => code);
    const up = await h2Upstream('h2c', (req) => {
      seen(req.stream.closed ? Promise.resolve(req.stream.rstCode) : once(req.stream, 'close').then(() => req.stream.rstCode));
    });
    const logs: string[] = [];
    const url = await sidecar({ url: up.url, http2: true, timeoutMs: 300 }, {}, logs);
    const r = await get(url);
    expect(r.status).toBe(502);
    expect(logs.find((l) => l.startsWith('error metrics source failed'))).toContain('within 300 ms');
    expect(await cancelled).toBe(constants.NGHTTP2_CANCEL);
    // The session survives a cancelled stream.
    expect(up.sessions.filter((s) => !s.closed)).toHaveLength(1);
  });

  test('status, content type and a body cut off mid-way', async () => {
    const status = await h2Upstream('h2c', (_req, res) => res.writeHead(503).end('secret body'));
    expectFailure(await fetchOnce({ url: status.url, http2: true }), 'status', /answered HTTP 503/);
    const json = await h2Upstream('h2c', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    expectFailure(await fetchOnce({ url: json.url, http2: true }), 'content_type', /unsupported content type "application\/json"/);
    const cut = await h2Upstream('h2c', (req, res) => {
      res.writeHead(200, { 'content-type': TEXT_TYPE, 'content-length': '1000' });
      res.write('m 1\n', () => req.stream.session!.destroy());
    });
    expectFailure(await fetchOnce({ url: cut.url, http2: true }), 'connect', /closed mid-body/);
  });

  test('an untrusted upstream certificate → tls (on HTTP/1.1 too)', async () => {
    const up = await h2Upstream('tls', exporter, { allowHTTP1: true });
    const tls = { ca: pki.otherCa.certPem };
    expectFailure(await fetchOnce({ url: up.url, http2: true, tls }), 'tls', /connect failed: [A-Z_]*(CERT|SIGNATURE|ISSUER)/);
    expectFailure(await fetchOnce({ url: up.url, tls }), 'tls', /request failed: [A-Z_]*(CERT|SIGNATURE|ISSUER)/);
    expect(up.requests).toHaveLength(0);
  });

  test('an upstream that speaks only HTTP/1.1 → 502 naming HTTP/2, never a silent HTTP/1.1', async () => {
    // Node's https server offers ALPN http/1.1 only: it refuses h2 in the handshake.
    const h1 = createHttpsServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (_req, res) => res.writeHead(200).end('m 1\n'));
    let h1Requests = 0;
    h1.on('request', () => h1Requests++);
    const h1Url = `https://127.0.0.1:${await listen(h1)}/metrics`;
    const logs: string[] = [];
    const url = await sidecar({ url: h1Url, http2: true, tls: { ca: pki.ca.certPem } }, {}, logs);
    expect((await get(url)).status).toBe(502);
    expect(logs.find((l) => l.startsWith('error metrics source failed'))).toMatch(/does not speak HTTP\/2 .*drop --upstream\.http2/);
    expectFailure(
      await fetchOnce({ url: h1Url, http2: true, tls: { ca: pki.ca.certPem } }),
      'tls',
      /does not speak HTTP\/2 \(it refused the TLS ALPN protocol h2/,
    );
    expect(h1Requests).toBe(0);

    // A TLS server without ALPN completes the handshake choosing nothing: refused before any HTTP/2 byte is sent.
    let received = 0;
    const bare = createTlsServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (socket) => socket.on('data', (d: Buffer) => (received += d.length)));
    const bareUrl = `https://127.0.0.1:${await listen(bare)}/metrics`;
    expectFailure(
      await fetchOnce({ url: bareUrl, http2: true, tls: { ca: pki.ca.certPem } }),
      'tls',
      /does not speak HTTP\/2 \(TLS negotiated no application protocol/,
    );
    expect(received).toBe(0);

    // h2c to a plain HTTP/1.1 server: it answers the preface with a 400.
    const plain = createHttpServer((_req, res) => res.writeHead(200).end('m 1\n'));
    const plainUrl = `http://127.0.0.1:${await listen(plain)}/metrics`;
    expectFailure(await fetchOnce({ url: plainUrl, http2: true }), 'connect', /does not speak HTTP\/2 \(h2c with prior knowledge/);
  });

  test('down → connect; an unknown option (typo) is still refused', async () => {
    const up = await h2Upstream('h2c', exporter);
    const port = new URL(up.url).port;
    await closers.pop()!();
    expectFailure(await fetchOnce({ url: `http://127.0.0.1:${port}/metrics`, http2: true }), 'connect', /ECONNREFUSED/);
    expect(() => upstreamSource({ url: up.url, htp2: true } as unknown as UpstreamOptions)).toThrow(/unknown option `htp2` \(did you mean `http2`\?\)/);
    expect(() => upstreamSource({ url: up.url, http2: 'yes' } as unknown as UpstreamOptions)).toThrow(/http2/);
  });
});
