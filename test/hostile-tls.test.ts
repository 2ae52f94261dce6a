/**
 * Hostile TLS (issue #8 §2), under load: floods of plain text and garbage to the TLS port, legacy
 * protocol versions and weak-cipher-only clients against the default configuration, handshake
 * floods bounded by `limits.max_connections`, and bad client certificates (expired, not yet
 * valid, another CA, self-signed, right CN but wrong SAN) arriving in bulk, all while a
 * legitimate mTLS scraper keeps scraping. The single-shot semantics of each case (Go's exact
 * 400 body, the client_auth_type matrix, version and cipher negotiation) are in
 * test/server-tls-*.test.ts and test/server-connections.test.ts; this file checks they hold in
 * bulk, with bounded memory and the legitimate scraper unaffected. Measured outcomes are printed
 * at the end (HARDENING lines).
 */
import { Agent as HttpsAgent } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Registry, Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Guard } from '../src/index.js';
import { testPki, type TestCert, type TestPki } from './helpers/pki.js';
import { AttackSummary, LegitScraper, MemorySampler, rawExchange, sleep, underAttack as underAttackWith } from './helpers/attack.js';
import { scrape, type ScrapeResult } from './helpers/client.js';
import { listenTlsGuard } from './helpers/tls-guard.js';

const MAX_CONNECTIONS = 48;

let pki: TestPki;
let guard: Guard;
let port: number;
let url: string;
let legit: LegitScraper;
let legitAgent: HttpsAgent;
let memory: MemorySampler;
const summary = new AttackSummary('hostile-tls');

beforeAll(async () => {
  pki = await testPki();
  const registry = new Registry();
  new Counter({ name: 'app_requests_total', help: 'Requests.', registers: [registry] }).inc();
  ({ guard, port, url } = await listenTlsGuard(pki, registry, {
    tls: { client_auth_type: 'RequireAndVerifyClientCert', client_ca_file: pki.ca.certFile, client_allowed_sans: ['prometheus'] },
    config: { limits: { read_header_timeout: '1s', max_connections: MAX_CONNECTIONS } },
  }));
  memory = new MemorySampler();
  // The legitimate scraper keeps its connection, as Prometheus does: a handshake flood that fills
  // max_connections must not take an established scraper down.
  legitAgent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });
  legit = new LegitScraper(url, { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, agent: legitAgent }, 50);
});

afterAll(async () => {
  await legit?.stop();
  legitAgent?.destroy();
  memory?.stop();
  await guard?.close(0);
  summary.print();
});

/** One attack under measurement; afterwards a fresh connection must be served (slots freed). */
const underAttack = <T>(attack: string, run: () => Promise<T>, describeOutcome: (r: T) => string): Promise<T> =>
  underAttackWith({ legit, memory, summary }, attack, run, describeOutcome, async () => {
    let fresh: ScrapeResult | undefined;
    for (let i = 0; i < 100; i++) {
      fresh = await scrape(url, { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });
      if (fresh.status === 200) break;
      await sleep(50);
    }
    expect(fresh?.status).toBe(200);
  });

/** Runs `tasks` with at most `concurrency` at once. */
async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

const tally = (xs: readonly string[]) =>
  Object.entries(xs.reduce<Record<string, number>>((a, x) => ((a[x] = (a[x] ?? 0) + 1), a), {}))
    .map(([k, v]) => `${k}×${v}`)
    .join(', ');

describe('non-TLS bytes on the TLS port, in bulk', () => {
  it("300 plain-HTTP requests get Go's 400 (or a close once the cap is hit); 300 garbage connections are closed silently", async () => {
    const garbage = [
      Buffer.from([0x00, 0xff, 0x13, 0x37]),
      Buffer.from('\r\n\r\n'),
      Buffer.from([0x16]),
      Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'),
      Buffer.from([0x80, 0x2c, 0x01, 0x03, 0x00]),
    ];
    const outcome = await underAttack(
      'plain HTTP + garbage to the TLS port (600 connections, 40 at a time)',
      async () => {
        const plain = await pool(300, 40, () => rawExchange(port, ['GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'], { timeoutMs: 5000 }));
        const junk = await pool(300, 40, (i) => rawExchange(port, [garbage[i % garbage.length]!], { timeoutMs: 5000 }));
        return { plain, junk };
      },
      ({ plain, junk }) =>
        `plain: ${tally(plain.map((r) => (r.status ? String(r.status) : r.closed ? 'closed' : 'open')))}; garbage: ${tally(junk.map((r) => (r.reply ? 'answered' : r.closed ? 'closed' : 'open')))}`,
    );
    for (const r of outcome.plain) {
      expect(r.closed).toBe(true);
      if (r.status !== undefined) expect(r.reply).toContain('Client sent an HTTP request to an HTTPS server.');
    }
    expect(outcome.plain.filter((r) => r.status === 400).length).toBeGreaterThan(250);
    for (const r of outcome.junk) {
      // Closed at once (one lone 0x16 byte waits for the rest of the record: read_header_timeout).
      expect(r.closed).toBe(true);
      expect(r.reply).toBe('');
    }
  });
});

/** One TLS handshake with the given client options; resolves with the outcome. */
function handshake(options: {
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  ciphers?: string;
  client?: TestCert;
  holdMs?: number;
}): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (s: string) => {
      if (settled) return;
      settled = true;
      resolve(s);
    };
    let socket: TLSSocket;
    try {
      socket = tlsConnect({
        port,
        host: '127.0.0.1',
        ca: pki.ca.certPem,
        servername: 'localhost',
        ...(options.minVersion ? { minVersion: options.minVersion } : {}),
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
        ...(options.ciphers ? { ciphers: options.ciphers } : {}),
        ...(options.client ? { cert: options.client.certPem, key: options.client.keyPem } : {}),
      });
    } catch (e) {
      return done(`client-refused:${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    socket.on('secureConnect', () => {
      // With TLS 1.3 a refused client certificate surfaces after the handshake: ask for data.
      socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      if (options.holdMs !== undefined) setTimeout(() => socket.destroy(), options.holdMs);
    });
    socket.on('data', (d: Buffer) => done(/^HTTP\/1\.1 (\d+)/.exec(d.toString('latin1'))?.[1] ?? 'data'));
    socket.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
    socket.on('close', () => done('closed'));
    setTimeout(() => {
      socket.destroy();
      done('timeout');
    }, 8000).unref();
  });
}

describe('legacy protocol versions and weak ciphers against the default configuration', () => {
  it('TLS 1.0 / 1.1 clients and clients offering only weak TLS 1.2 suites are refused at the handshake', async () => {
    const clients: [string, Parameters<typeof handshake>[0]][] = [
      ['TLS 1.0 only', { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0', client: pki.client }],
      ['TLS 1.1 only', { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0', client: pki.client }],
      ['TLS 1.2, 3DES only', { maxVersion: 'TLSv1.2', ciphers: 'DES-CBC3-SHA:ECDHE-ECDSA-DES-CBC3-SHA@SECLEVEL=0', client: pki.client }],
      [
        'TLS 1.2, RSA key exchange only (no forward secrecy)',
        { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:AES256-SHA:AES128-GCM-SHA256:AES256-GCM-SHA384', client: pki.client },
      ],
      // (ECDHE with AES-CBC-SHA1 is not here: Go's default list, and so exporter-toolkit's, accepts it.)
      ['TLS 1.2, NULL ciphers only', { maxVersion: 'TLSv1.2', ciphers: 'eNULL@SECLEVEL=0', client: pki.client }],
      ['TLS 1.2, anonymous DH only', { maxVersion: 'TLSv1.2', ciphers: 'aNULL@SECLEVEL=0', client: pki.client }],
    ];
    const results = await underAttack(
      'legacy versions and weak-cipher-only clients (6 kinds × 20)',
      () => Promise.all(clients.flatMap(([, o]) => Array.from({ length: 20 }, () => handshake(o)))),
      (rs) => clients.map(([name], i) => `${name}: ${tally(rs.slice(i * 20, i * 20 + 20))}`).join('; '),
    );
    clients.forEach(([name], i) => {
      for (const r of results.slice(i * 20, i * 20 + 20)) expect(r, name).not.toMatch(/^\d{3}$|^data$|^timeout$/);
    });
  });
});

describe('handshake floods', () => {
  it(`600 handshakes, 100 at a time, each held 300 ms, beyond max_connections (${MAX_CONNECTIONS}): the cap holds, the established scraper keeps working`, async () => {
    let peakOpen = 0;
    let open = 0;
    const outcome = await underAttack(
      `handshake flood (600 connections, 100 concurrent, held 300 ms, max_connections ${MAX_CONNECTIONS})`,
      () =>
        pool(
          600,
          100,
          () =>
            new Promise<string>((resolve) => {
              const socket = tlsConnect({
                port,
                host: '127.0.0.1',
                ca: pki.ca.certPem,
                servername: 'localhost',
                cert: pki.client.certPem,
                key: pki.client.keyPem,
              });
              let established = false;
              socket.on('secureConnect', () => {
                established = true;
                open++;
                peakOpen = Math.max(peakOpen, open);
                // Hold the slot a moment, then leave.
                setTimeout(() => socket.destroy(), 300);
              });
              socket.on('error', () => undefined);
              socket.on('close', () => {
                if (established) open--;
                resolve(established ? 'handshake' : 'refused');
              });
              setTimeout(() => socket.destroy(), 8000).unref();
            }),
        ),
      (rs) => `${tally(rs)}; peak concurrently established ${peakOpen}`,
    );
    // The cap bounds the established connections (the legitimate scraper holds one slot).
    expect(peakOpen).toBeLessThanOrEqual(MAX_CONNECTIONS);
    expect(outcome.filter((r) => r === 'handshake').length).toBeGreaterThan(0);
  });

  it('120 half-open handshakes (ClientHello record header, then silence) are dropped after read_header_timeout', async () => {
    const results = await underAttack(
      'half-open handshake flood (120 stalled ClientHellos, 60 at a time)',
      () => pool(120, 60, () => rawExchange(port, [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])], { timeoutMs: 6000 })),
      (rs) => `all closed: ${rs.every((r) => r.closed)}; slowest ${Math.max(...rs.map((r) => r.ms))} ms`,
    );
    for (const r of results) {
      expect(r.closed).toBe(true);
      expect(r.ms).toBeLessThan(4000);
    }
  });
});

describe('bad client certificates in bulk', () => {
  it('expired, not yet valid, other CA, self-signed, wrong SAN and no certificate: all refused, each counted', async () => {
    const kinds: [string, TestCert | undefined][] = [
      ['expired', pki.clientExpired],
      ['not yet valid', pki.clientNotYetValid],
      ['other CA', pki.clientOtherCa],
      ['self-signed', pki.clientSelfSigned],
      ['right CN, wrong SAN', pki.clientWrongSan],
      ['no certificate', undefined],
    ];
    const results = await underAttack(
      'bad client certificates (6 kinds × 25, 30 at a time)',
      () => pool(kinds.length * 25, 30, (i) => handshake(kinds[Math.floor(i / 25)]![1] ? { client: kinds[Math.floor(i / 25)]![1]! } : {})),
      (rs) => kinds.map(([name], k) => `${name}: ${tally(rs.slice(k * 25, k * 25 + 25))}`).join('; '),
    );
    kinds.forEach(([name], k) => {
      for (const r of results.slice(k * 25, k * 25 + 25)) expect(r, name).not.toMatch(/^200$|^data$|^timeout$/);
    });
    const metrics = await scrape(url, { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });
    const counted = metrics.body
      .split('\n')
      .filter((l) => l.startsWith('scrapeguard_tls_handshake_errors_total{'))
      .reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);
    expect(counted).toBeGreaterThanOrEqual(kinds.length * 25);
    // Each refusal is counted under its reason (the vocabulary of the warn line).
    const byReason = (reason: string) =>
      Number(
        metrics.body
          .split('\n')
          .find((l) => l.startsWith(`scrapeguard_tls_handshake_errors_total{reason="${reason}"}`))
          ?.split(' ')
          .at(-1) ?? 0,
      );
    expect({
      expired: byReason('expired'),
      not_yet_valid: byReason('not_yet_valid'),
      unknown_ca: byReason('unknown_ca'),
      san_not_allowed: byReason('san_not_allowed'),
      no_certificate: byReason('no_certificate'),
    }).toEqual({
      expired: 25,
      not_yet_valid: 25,
      unknown_ca: 50,
      san_not_allowed: 25,
      no_certificate: 25,
    });
  });
});
