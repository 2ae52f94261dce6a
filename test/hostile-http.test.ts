/**
 * Hostile HTTP (issue #8 §1): slowloris, oversized and countless headers, garbage Authorization
 * values, request smuggling, odd methods, HTTP/2 rapid reset, header and CONTINUATION floods, and
 * an HTTP/2 session stalled mid-HEADERS. One guard (HTTPS, HTTP/2 with HTTP/1.1 fallback, basic
 * and bearer auth) serves the whole file while a legitimate scraper keeps scraping; every attack
 * must get a clean 4xx or a closed connection, the legitimate scraper must never fail, and the
 * process's memory must stay bounded. Measured outcomes are printed at the end (HARDENING lines).
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect as http2Connect, constants as h2 } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { hash } from '@node-rs/bcrypt';
import { Registry, Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type Guard } from '../src/index.js';
import { silentLogger } from '../src/log.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { AttackSummary, LegitScraper, MemorySampler, rawExchange, sleep, underAttack as underAttackWith, type RawReply } from './helpers/attack.js';
import { scrape } from './helpers/client.js';

const USER = 'prometheus';
const PASSWORD = 'legit-scraper-password-7f3a';
const TOKEN = 'legit-bearer-token-5b1c9e0d2a';
const READ_HEADER_TIMEOUT_MS = 1000;
const LEGIT_ADDRESS = '127.0.0.3';

let pki: TestPki;
let guard: Guard;
let port: number;
let url: string;
let legit: LegitScraper;
let memory: MemorySampler;
const summary = new AttackSummary('hostile-http');
const basicHeader = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

beforeAll(async () => {
  pki = await testPki();
  const registry = new Registry();
  new Counter({ name: 'app_requests_total', help: 'Requests.', registers: [registry] }).inc(3);
  guard = await createGuard({
    config: {
      tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
      http_server_config: { http2: true },
      basic_auth_users: { [USER]: await hash(PASSWORD, { cost: 4 }) },
      bearer_auth: { tokens: [{ name: 'bearer-scraper', token_sha256: createHash('sha256').update(TOKEN).digest('hex') }] },
      limits: { read_header_timeout: `${READ_HEADER_TIMEOUT_MS}ms`, request_timeout: '5s', max_connections: 400 },
    },
    source: registry,
    logger: silentLogger,
    watch: false,
  });
  const [bound] = await guard.listen('127.0.0.1:0');
  port = bound!.port;
  url = `${bound!.url}/metrics`;
  memory = new MemorySampler();
  // The attacks come from 127.0.0.1; the scraper from another address, as in production: the
  // per-address budgets (max_connections_per_client, http2_max_streams_per_client) must not
  // count it with the attacker.
  legit = new LegitScraper(url, { ca: pki.ca.certPem, headers: { authorization: basicHeader }, localAddress: LEGIT_ADDRESS }, 50);
});

afterAll(async () => {
  await legit?.stop();
  memory?.stop();
  await guard?.close(0);
  summary.print();
});

/** One attack under measurement; afterwards a normal scrape must still succeed. */
const underAttack = <T>(attack: string, run: () => Promise<T>, describeOutcome: (r: T) => string): Promise<T> =>
  underAttackWith({ legit, memory, summary }, attack, run, describeOutcome, async () => {
    // From the attacker's address (127.0.0.1): its last connections may still be closing and count
    // against max_connections_per_client for a moment, so allow a short retry.
    let after = await scrape(url, { ca: pki.ca.certPem, headers: { authorization: basicHeader } });
    for (let i = 0; i < 40 && after.status !== 200; i++) {
      await sleep(50);
      after = await scrape(url, { ca: pki.ca.certPem, headers: { authorization: basicHeader } });
    }
    expect(after.status).toBe(200);
  });

const tlsRaw = (chunks: (string | Buffer)[], timeoutMs = 5000) => rawExchange(port, chunks, { ca: pki.ca.certPem, timeoutMs });
const isCleanRefusal = (r: RawReply) => (r.status !== undefined && r.status >= 400 && r.status < 500) || (r.status === undefined && r.closed);
const statuses = (rs: RawReply[]) => [...new Set(rs.map((r) => r.status ?? (r.closed ? 'closed' : 'open')))].join(',');

describe('slowloris', () => {
  it('40 connections sending their headers a byte at a time are all cut off after read_header_timeout', async () => {
    const head = `GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basicHeader}\r\n${'X-Pad: slow\r\n'.repeat(50)}\r\n`;
    const results = await underAttack(
      'slowloris (40 TLS connections, 1 byte / 50 ms)',
      () =>
        Promise.all(
          Array.from(
            { length: 40 },
            () =>
              new Promise<{ closedAfterMs: number; reply: string; sent: number }>((resolve) => {
                const started = performance.now();
                let reply = '';
                let sent = 0;
                let timer: NodeJS.Timeout | undefined;
                const socket = tlsConnect({ port, host: '127.0.0.1', ca: pki.ca.certPem, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
                  timer = setInterval(() => {
                    if (sent < head.length && !socket.destroyed) socket.write(head[sent++]!);
                  }, 50);
                });
                socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
                socket.on('error', () => undefined);
                socket.on('close', () => {
                  clearInterval(timer);
                  resolve({ closedAfterMs: performance.now() - started, reply, sent });
                });
                setTimeout(() => socket.destroy(), 10_000).unref();
              }),
          ),
        ),
      (rs) =>
        `all ${rs.length} cut off after ${Math.round(Math.min(...rs.map((r) => r.closedAfterMs)))}–${Math.round(Math.max(...rs.map((r) => r.closedAfterMs)))} ms, after ≤ ${Math.max(...rs.map((r) => r.sent))} bytes; none served`,
    );
    for (const r of results) {
      // read_header_timeout is 1 s; Node checks every second: closed well before the 10 s give-up.
      expect(r.closedAfterMs).toBeLessThan(6000);
      expect(r.reply).not.toContain('200 OK');
      expect(r.sent).toBeLessThan(head.length);
    }
  });
});

describe('oversized requests', () => {
  it('headers, URLs and header counts beyond max_header_bytes get 431 (or a close), never a 5xx', async () => {
    const cases: [string, string][] = [
      ['one 64 KiB header', `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`],
      ['a 64 KiB URL', `GET /metrics?${'q'.repeat(64 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`],
      ['5000 headers', `GET /metrics HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 5000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`],
      ['a 1 MiB header name', `GET /metrics HTTP/1.1\r\nHost: x\r\n${'N'.repeat(1024 * 1024)}: v\r\n\r\n`],
    ];
    const results = await underAttack(
      'oversized headers / URL / 5000 headers / 1 MiB header name',
      () => Promise.all(cases.map(([, bytes]) => tlsRaw([bytes]))),
      (rs) => rs.map((r, i) => `${cases[i]![0]} → ${r.status ?? (r.closed ? 'closed' : 'open')}`).join('; '),
    );
    for (const r of results) {
      expect(isCleanRefusal(r)).toBe(true);
      if (r.status !== undefined) expect(r.status).toBe(431);
    }
  });

  it('1500 small headers within max_header_bytes are parsed and answered normally (no quadratic blow-up)', async () => {
    const bytes = `GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicHeader}\r\nConnection: close\r\n${'a:b\r\n'.repeat(1500)}\r\n`;
    const r = await underAttack(
      '1500 tiny headers under the byte limit',
      () => tlsRaw([bytes]),
      (x) => `status ${x.status} in ${x.ms} ms`,
    );
    expect(r.status).toBe(200);
    expect(r.ms).toBeLessThan(3000);
  });
});

describe('hostile Authorization values', () => {
  const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');
  const values: [string, Buffer | string][] = [
    ['Basic, not base64', 'Basic !!!*** not base64 ***'],
    ['Basic, base64 of random bytes', `Basic ${b64(randomBytes(48))}`],
    ['Basic, no colon', `Basic ${b64('prometheus')}`],
    ['Basic, non-UTF-8 user and password', `Basic ${b64(Buffer.from([0xff, 0xfe, 0x80, 0x3a, 0xc3, 0x28, 0xa0]))}`],
    ['Basic, empty', 'Basic '],
    ['Basic, scheme only', 'Basic'],
    ['Basic, 12 KiB user name', `Basic ${b64(`${'u'.repeat(9000)}:x`)}`],
    ['Basic, 12 KiB password for the real user', `Basic ${b64(`${USER}:${'p'.repeat(9000)}`)}`],
    ['Basic, right user, password + NUL', `Basic ${b64(`${USER}:${PASSWORD}\0`)}`],
    ['Basic, right pair twice', `Basic ${b64(`${USER}:${PASSWORD}`)} ${b64(`${USER}:${PASSWORD}`)}`],
    ['raw non-UTF-8 bytes in the header', Buffer.concat([Buffer.from('Basic '), Buffer.from([0xff, 0xc0, 0xc1, 0xf5, 0x80, 0x9f])])],
    ['Bearer, 14 KiB token', `Bearer ${'t'.repeat(14 * 1024)}`],
    ['Bearer, empty', 'Bearer '],
    ['Bearer, two words', 'Bearer a b'],
    ['Bearer, JWT-shaped garbage', 'Bearer eyJ.eyJ.sig'],
    ['Bearer, JWT with alg none', `Bearer ${b64('{"alg":"none","typ":"JWT"}')}.${b64('{"sub":"admin"}')}.`],
    ['Bearer, the token digest instead of the token', `Bearer ${createHash('sha256').update(TOKEN).digest('hex')}`],
    ['unknown scheme', 'Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCg=='],
    ['scheme in odd case and spacing', `bAsIc     ${b64(`${USER}:wrong`)}`],
  ];

  it('each gets a 4xx (401, or 400/431 from the parser), never a 200 or a 5xx', async () => {
    const results = await underAttack(
      `${values.length} malformed / non-UTF-8 / base64-garbage / huge Authorization values`,
      () =>
        Promise.all(
          values.map(([, value]) =>
            tlsRaw([
              Buffer.concat([
                Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: '),
                Buffer.from(value),
                Buffer.from('\r\n\r\n'),
              ]),
            ]),
          ),
        ),
      (rs) => `statuses: ${statuses(rs)}`,
    );
    results.forEach((r, i) => {
      expect(isCleanRefusal(r), `${values[i]![0]}: ${r.reply.slice(0, 80)}`).toBe(true);
      expect(r.status, values[i]![0]).not.toBe(200);
    });
  });

  it('the same values over HTTP/2 are refused the same way', async () => {
    const session = http2Connect(`https://localhost:${port}`, { ca: pki.ca.certPem });
    session.on('error', () => undefined);
    const ask = (value: string) =>
      new Promise<number | string>((resolve) => {
        const req = session.request({ ':path': '/metrics', authorization: value });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        req.resume();
        req.end();
      });
    const textual = values.filter(([, v]) => typeof v === 'string' && !/\0/.test(v)) as [string, string][];
    const answers = await underAttack(
      'hostile Authorization values over HTTP/2',
      () => Promise.all(textual.map(([, v]) => ask(v))),
      (as) => `statuses: ${[...new Set(as)].join(',')}`,
    );
    session.close();
    answers.forEach((a, i) => {
      expect(typeof a === 'number' ? a >= 400 && a < 500 : true, `${textual[i]![0]}: ${a}`).toBe(true);
    });
  });
});

describe('request smuggling', () => {
  const smuggled = 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n';
  const cases: [string, string][] = [
    [
      'TE + CL',
      `GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicHeader}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'CL + CL (different)',
      `GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicHeader}\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    ],
    [
      'TE obfuscated (chunked, identity)',
      `GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicHeader}\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'TE with a space before the colon',
      `GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicHeader}\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    ['obs-fold header continuation', `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n Authorization: ${basicHeader}\r\n\r\n`],
    [
      'bare LF line endings',
      `GET /metrics HTTP/1.1\nHost: x\nAuthorization: ${basicHeader}\nTransfer-Encoding: chunked\nContent-Length: 3\n\n0\n\n${smuggled}`,
    ],
  ];

  it('ambiguous framing is refused with 400 and the connection closed: nothing smuggled is ever answered', async () => {
    const results = await underAttack(
      'request smuggling (TE+CL, CL+CL, obfuscated TE, obs-fold, bare LF)',
      () => Promise.all(cases.map(([, bytes]) => tlsRaw([bytes], 4000))),
      (rs) => rs.map((r, i) => `${cases[i]![0]} → ${r.status ?? (r.closed ? 'closed' : 'open')} (${r.responses} response)`).join('; '),
    );
    results.forEach((r, i) => {
      const name = cases[i]![0];
      expect(r.closed, name).toBe(true);
      // At most one response: a second one would be the answer to the smuggled request.
      expect(r.responses, name).toBeLessThanOrEqual(1);
      expect(isCleanRefusal(r), `${name}: ${r.reply.slice(0, 60)}`).toBe(true);
    });
  });
});

describe('methods other than GET and HEAD', () => {
  it('are refused with 405 (or 400 / a close for methods the parser does not know), even with valid credentials', async () => {
    const methods = ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'CONNECT', 'BREW', 'G\u00c9T'];
    const results = await underAttack(
      `${methods.length} methods other than GET/HEAD`,
      () =>
        Promise.all(
          methods.map((m) =>
            tlsRaw([
              Buffer.from(
                `${m} ${m === 'CONNECT' ? 'localhost:1' : '/metrics'} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicHeader}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
                'latin1',
              ),
            ]),
          ),
        ),
      (rs) => rs.map((r, i) => `${methods[i]}→${r.status ?? (r.closed ? 'closed' : 'open')}`).join(' '),
    );
    results.forEach((r, i) => {
      expect(isCleanRefusal(r), `${methods[i]}: ${r.reply.slice(0, 60)}`).toBe(true);
      if (['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'].includes(methods[i]!)) expect(r.status, methods[i]).toBe(405);
      expect(r.reply).not.toContain('app_requests_total');
    });
  });
});

/** Minimal HTTP/2 framing for attacks the node:http2 client will not perform. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}
const SETTINGS = 0x4;
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
// END_HEADERS (0x4) is never set: the floods keep the header block open on purpose.
/** HPACK: :method GET, :scheme https, :path / (static table indices 2, 7, 4). */
const MINIMAL_HEADER_BLOCK = Buffer.from([0x82, 0x87, 0x84]);
/** HPACK literal header without indexing, new name (RFC 7541 §6.2.2); short strings only. */
function literalHeader(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

/** An h2 TLS connection that writes raw frames and reports when the server closed it. */
function rawH2(
  write: (socket: import('node:tls').TLSSocket) => void,
  giveUpMs: number,
): Promise<{ closedAfterMs: number; closed: boolean; bytes: number; goaway: boolean }> {
  return new Promise((resolve) => {
    const started = performance.now();
    let bytes = 0;
    const received: Buffer[] = [];
    const socket = tlsConnect({ port, host: '127.0.0.1', ca: pki.ca.certPem, servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]));
      write(socket);
    });
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      received.push(d);
    });
    socket.on('error', () => undefined);
    let closed = false;
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      const all = Buffer.concat(received);
      // Walk the frames for a GOAWAY (type 7).
      let goaway = false;
      for (let at = 0; at + 9 <= all.length;) {
        const len = all.readUIntBE(at, 3);
        if (all[at + 3] === 7) goaway = true;
        at += 9 + len;
      }
      resolve({ closedAfterMs: performance.now() - started, closed, bytes, goaway });
    });
    const timer = setTimeout(() => socket.destroy(), giveUpMs);
  });
}

describe('HTTP/2 attacks', () => {
  it('rapid reset: 5 sessions × 1000 streams opened and cancelled at once; the server survives and keeps serving', async () => {
    const results = await underAttack(
      'HTTP/2 rapid reset (5 sessions × 1000 HEADERS + RST_STREAM)',
      () =>
        Promise.all(
          Array.from(
            { length: 5 },
            () =>
              new Promise<{ opened: number; sessionError?: string; goaway?: number }>((resolve) => {
                const session = http2Connect(`https://localhost:${port}`, { ca: pki.ca.certPem, peerMaxConcurrentStreams: 2000 });
                let opened = 0;
                const out: { opened: number; sessionError?: string; goaway?: number } = { opened: 0 };
                session.on('error', (e: NodeJS.ErrnoException) => (out.sessionError = e.code ?? e.message));
                session.on('goaway', (code: number) => (out.goaway = code));
                session.on('close', () => resolve({ ...out, opened }));
                session.on('connect', () => {
                  for (let i = 0; i < 1000 && !session.destroyed && !session.closed; i++) {
                    try {
                      const req = session.request({ ':path': '/metrics', authorization: basicHeader });
                      req.on('error', () => undefined);
                      req.close(h2.NGHTTP2_CANCEL);
                      opened++;
                    } catch {
                      break;
                    }
                  }
                  setTimeout(() => session.destroy(), 1500);
                });
              }),
          ),
        ),
      (rs) => `${rs.reduce((a, r) => a + r.opened, 0)} streams opened and reset; GOAWAY codes: ${[...new Set(rs.map((r) => r.goaway ?? 'none'))].join(',')}`,
    );
    expect(results.length).toBe(5);
  });

  it('header flood: 200 streams, each with a header list beyond maxHeaderListSize, are refused per stream', async () => {
    const session = http2Connect(`https://localhost:${port}`, { ca: pki.ca.certPem });
    session.on('error', () => undefined);
    const big = 'v'.repeat(4000);
    const flood: Record<string, string> = { ':path': '/metrics', authorization: basicHeader };
    for (let i = 0; i < 8; i++) flood[`x-flood-${i}`] = big;
    const outcomes = await underAttack(
      'HTTP/2 header flood (200 streams × 32 KiB header lists)',
      () =>
        Promise.all(
          Array.from(
            { length: 200 },
            () =>
              new Promise<string>((resolve) => {
                try {
                  const req = session.request(flood);
                  req.on('response', (h) => resolve(String(h[':status'])));
                  req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
                  req.on('close', () => resolve(`closed:${req.rstCode}`));
                  req.resume();
                  req.end();
                } catch (e) {
                  resolve((e as NodeJS.ErrnoException).code ?? 'throw');
                }
              }),
          ),
        ),
      (os) => `outcomes: ${[...new Set(os)].join(',')}`,
    );
    session.destroy();
    // None may be served: the header list exceeds max_header_bytes.
    expect(outcomes.filter((o) => o === '200')).toEqual([]);
    expect(outcomes.every((o) => o === '431' || !/^\d+$/.test(o) || (Number(o) >= 400 && Number(o) < 500))).toBe(true);
  });

  it('CONTINUATION flood: endless CONTINUATION frames after a HEADERS without END_HEADERS are cut off', async () => {
    const r = await underAttack(
      'HTTP/2 CONTINUATION flood (HEADERS + 20000 CONTINUATION frames)',
      () =>
        rawH2((socket) => {
          socket.write(frame(HEADERS, END_STREAM, 1, MINIMAL_HEADER_BLOCK));
          const chunk = Buffer.concat(Array.from({ length: 200 }, (_, i) => frame(CONTINUATION, 0, 1, literalHeader(`x-c${i % 10}`, 'flood'))));
          let sent = 0;
          const pump = () => {
            while (sent < 100 && !socket.destroyed) {
              sent++;
              if (!socket.write(chunk)) return void socket.once('drain', pump);
            }
          };
          pump();
        }, 10_000),
      (x) => `connection closed after ${Math.round(x.closedAfterMs)} ms (GOAWAY: ${x.goaway})`,
    );
    expect(r.closed).toBe(true);
    expect(r.closedAfterMs).toBeLessThan(5000);
  });

  it(`a session stalled mid-HEADERS is closed after read_header_timeout (${READ_HEADER_TIMEOUT_MS} ms), not the 120 s idle timeout`, async () => {
    const stalled = await underAttack(
      'HTTP/2 sessions stalled mid-HEADERS (20 sessions)',
      () =>
        Promise.all(
          Array.from({ length: 20 }, () =>
            rawH2((socket) => {
              // HEADERS without END_HEADERS, then nothing: the header block never completes.
              socket.write(frame(HEADERS, END_STREAM, 1, Buffer.concat([MINIMAL_HEADER_BLOCK, literalHeader('x-half', 'way')])));
            }, 15_000),
          ),
        ),
      (rs) => `closed after ${Math.round(Math.min(...rs.map((r) => r.closedAfterMs)))}–${Math.round(Math.max(...rs.map((r) => r.closedAfterMs)))} ms`,
    );
    for (const r of stalled) {
      expect(r.closed).toBe(true);
      expect(r.closedAfterMs).toBeGreaterThanOrEqual(READ_HEADER_TIMEOUT_MS - 100);
      expect(r.closedAfterMs).toBeLessThan(READ_HEADER_TIMEOUT_MS + 3000);
    }
  });

  it('a session that completes the TLS handshake and preface but never sends a request is closed too', async () => {
    const idle = await underAttack(
      'HTTP/2 session with preface only',
      () => rawH2(() => undefined, 15_000),
      (x) => `closed after ${Math.round(x.closedAfterMs)} ms`,
    );
    expect(idle.closed).toBe(true);
    expect(idle.closedAfterMs).toBeLessThan(READ_HEADER_TIMEOUT_MS + 3000);
  });

  it('a legitimate HTTP/2 session keeps its connection across requests spaced beyond read_header_timeout', async () => {
    // From the scraper's address: the HTTP/2 attacks above charged 127.0.0.1's stream budget.
    const session = http2Connect(`https://localhost:${port}`, {
      ca: pki.ca.certPem,
      createConnection: () =>
        tlsConnect({
          socket: netConnect({ port, host: '127.0.0.1', localAddress: LEGIT_ADDRESS }),
          ca: pki.ca.certPem,
          servername: 'localhost',
          ALPNProtocols: ['h2'],
        }),
    });
    session.on('error', () => undefined);
    const get = () =>
      new Promise<number>((resolve, reject) => {
        const req = session.request({ ':path': '/metrics', authorization: basicHeader });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
        req.end();
      });
    expect(await get()).toBe(200);
    await sleep(READ_HEADER_TIMEOUT_MS + 700);
    expect(session.closed || session.destroyed).toBe(false);
    expect(await get()).toBe(200);
    session.close();
  });
});
