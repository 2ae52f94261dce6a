/**
 * Connection budget of the standalone server (issue #14 §2, acceptance figure A): one address
 * holding 800 stalled connections (TCP connected, ClientHello never sent or never completed),
 * many addresses together beyond max_connections, and a proven keep-alive scraper that must
 * never be evicted for newcomers. Attackers and scrapers run as child processes on their own
 * loopback addresses (attackers 127.0.0.2…, scraper 127.0.0.1), so the test process holds only
 * the guard. Figures are printed at the end (HARDENING lines).
 */
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { Registry, Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type Guard } from '../src/index.js';
import type { LogFields, Logger } from '../src/log.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { AttackSummary, sleep } from './helpers/attack.js';
import { childScraper, runChild } from './helpers/child-clients.js';
import { scrape } from './helpers/client.js';
import { listenTlsGuard } from './helpers/tls-guard.js';

const SCRAPER = '127.0.0.1';
const summary = new AttackSummary('connection-budget');

interface StallResult {
  attempts: number;
  closedByServer: number;
  maxOpen: number;
  openAtEnd: number;
  heldMsMax: number;
  connectErrors: number;
}

/** Counts warn lines by `message|reason` (a flood writes thousands: only counts are kept). */
function countingLogger(): { logger: Logger; warns: Map<string, number> } {
  const warns = new Map<string, number>();
  const warn = (message: string, fields?: LogFields) => {
    const key = `${message}|${String(fields?.reason ?? '')}`;
    warns.set(key, (warns.get(key) ?? 0) + 1);
  };
  return { logger: { debug() {}, info() {}, warn, error() {} }, warns };
}

const addresses = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `127.0.0.${from + i}`);

/** scrapeguard_connections_refused_total by reason, read from the guard's own metrics. */
async function refusals(url: string, ca: string): Promise<Record<string, number>> {
  const r = await scrape(url, { ca, localAddress: SCRAPER });
  const out: Record<string, number> = {};
  for (const m of r.body.matchAll(/^scrapeguard_connections_refused_total\{reason="([a-z_]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}
const delta = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));

let pki: TestPki;

beforeAll(async () => {
  pki = await testPki();
});

afterAll(() => summary.print());

describe('default limits under stalled-connection floods (acceptance figure A)', () => {
  let guard: Guard;
  let url: string;
  let port: number;
  const log = countingLogger();

  beforeAll(async () => {
    const registry = new Registry();
    new Counter({ name: 'app_requests_total', help: 'Requests.', registers: [registry] }).inc();
    ({ guard, port, url } = await listenTlsGuard(pki, registry, { logger: log.logger }));
  });

  afterAll(async () => {
    await guard?.close(0);
  });

  /** Idle baseline, then the same scraper while `attack` runs; records and returns both. */
  async function measure(name: string, attack: () => Promise<StallResult>) {
    const scraper = { url, caFile: pki.ca.certFile, localAddress: SCRAPER, intervalMs: 100 };
    const idle = await childScraper({ ...scraper, durationMs: 5000 });
    const before = await refusals(url, pki.ca.certPem);
    const [attacker, attacked] = await Promise.all([
      attack(),
      // The attacker gets 1.5 s to fill its connections before the measured window opens.
      sleep(1500).then(() => childScraper({ ...scraper, durationMs: 10_000 })),
    ]);
    await sleep(200);
    const counted = delta(await refusals(url, pki.ca.certPem), before);
    summary.add({
      attack: name,
      outcome: `attacker: ${JSON.stringify(attacker)}; refused/closed by reason: ${JSON.stringify(counted)}`,
      legit: { ok: attacked.ok, attempts: attacked.attempts, p99Ms: attacked.p99Ms },
      legitSuccessPct: attacked.successPct,
      idle: { ok: idle.ok, attempts: idle.attempts, p99Ms: idle.p99Ms },
      p99Ratio: Math.round((attacked.p99Ms / Math.max(1, idle.p99Ms)) * 100) / 100,
    });
    expect(idle.failures).toEqual([]);
    return { idle, attacked, attacker, counted };
  }

  it('one address holding 800 stalled connections: a scraper from another address making a new TLS connection every 100 ms succeeds ≥ 99 % (its p99 against idle is printed, not asserted)', async () => {
    const { attacked, counted } = await measure(
      '800 stalled connections from 127.0.0.2 (half silent, half a partial ClientHello; reopened 250 ms after each close)',
      () =>
        runChild<StallResult>(
          'stall.mjs',
          { port, host: '127.0.0.1', localAddresses: ['127.0.0.2'], connections: 800, durationMs: 12_000, reconnectMs: 250 },
          40_000,
          { lowPriority: true },
        ),
    );
    expect(attacked.attempts).toBeGreaterThanOrEqual(80);
    expect(attacked.successPct).toBeGreaterThanOrEqual(99);
    // Latency is not asserted: on a shared 2-core machine any bound on p99 fails when something
    // else runs (a fresh-clone CI run saw 1054 ms). The ratio is printed above; bench/ measures it.
    // The per-address cap turned most of them away; the absolute deadline closed the rest.
    expect(counted.per_client_limit).toBeGreaterThan(700);
    expect(counted.handshake_timeout).toBeGreaterThan(0);
    expect(counted.global_limit).toBe(0);
    // Each reason is logged at warn, aggregated (docs/logging.md): the first line at once, then at
    // most one summary per interval; the counters above see every event.
    expect(log.warns.get('connection refused|per_client_limit')).toBeGreaterThan(0);
    expect(log.warns.get('connection refused|handshake_timeout')).toBeGreaterThan(0);
    expect([...log.warns.values()].reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(20);
  }, 90_000);

  it('19 addresses (127.0.0.2–127.0.0.20) together beyond max_connections: eviction of idle-unproven connections keeps the scraper served', async () => {
    const { attacked, counted } = await measure('19 addresses × 40 stalled connections (760 > max_connections 512; per-address cap 32)', () =>
      runChild<StallResult>(
        'stall.mjs',
        { port, host: '127.0.0.1', localAddresses: addresses(2, 20), connections: 760, durationMs: 12_000, reconnectMs: 250 },
        40_000,
        { lowPriority: true },
      ),
    );
    expect(attacked.successPct).toBeGreaterThanOrEqual(99);
    expect(counted.evicted).toBeGreaterThan(0);
    expect(log.warns.get('connection refused|evicted')).toBeGreaterThan(0);
  }, 90_000);
});

describe('eviction order and deadlines (small limits)', () => {
  let guard: Guard;
  let url: string;
  let port: number;

  beforeAll(async () => {
    const registry = new Registry();
    new Counter({ name: 'app_requests_total', help: 'Requests.', registers: [registry] }).inc();
    ({ guard, port, url } = await listenTlsGuard(pki, registry, {
      config: { limits: { max_connections: 40, max_connections_per_client: 8, handshake_timeout: '2s' } },
      logger: countingLogger().logger,
    }));
  });

  afterAll(async () => {
    await guard?.close(0);
  });

  /** One scrape on the keep-alive agent; reports whether it reused the connection. */
  const keepAliveScrape = (agent: HttpsAgent) =>
    new Promise<{ status: number | string; reused: boolean; localPort: number | undefined }>((resolve) => {
      const req = httpsRequest(url, { agent, ca: pki.ca.certPem, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket, localPort: req.socket?.localPort }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: e.code ?? 'error', reused: req.reusedSocket, localPort: undefined }));
      req.end();
    });

  it('a keep-alive scraper that completed a request keeps its connection while 10 addresses fill max_connections; newcomers get room by evicting idle-unproven ones', async () => {
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, localAddress: SCRAPER });
    try {
      const first = await keepAliveScrape(agent);
      expect(first.status).toBe(200);
      const before = await refusals(url, pki.ca.certPem);
      const attack = runChild<StallResult>(
        'stall.mjs',
        { port, host: '127.0.0.1', localAddresses: addresses(2, 11), connections: 100, durationMs: 6000, reconnectMs: 100 },
        30_000,
        { lowPriority: true },
      );
      await sleep(1000);
      const kept: Awaited<ReturnType<typeof keepAliveScrape>>[] = [];
      const fresh: (number | undefined)[] = [];
      while (kept.length < 16) {
        kept.push(await keepAliveScrape(agent));
        // A newcomer from an address with no connection: below its share, so it gets room.
        fresh.push((await scrape(url, { ca: pki.ca.certPem, localAddress: '127.0.0.30' })).status);
        await sleep(200);
      }
      const attacker = await attack;
      const counted = delta(await refusals(url, pki.ca.certPem), before);
      summary.add({
        attack: 'keep-alive scraper vs 10 addresses × 10 stalled connections (max_connections 40, per client 8)',
        outcome: `keep-alive scrapes ${kept.filter((k) => k.status === 200).length}/${kept.length} on the same connection: ${kept.every((k) => k.reused && k.localPort === first.localPort)}; newcomer scrapes ${fresh.filter((s) => s === 200).length}/${fresh.length}; attacker ${JSON.stringify(attacker)}; refused/closed ${JSON.stringify(counted)}`,
      });
      for (const k of kept) {
        expect(k.status).toBe(200);
        expect(k.reused).toBe(true);
        expect(k.localPort).toBe(first.localPort);
      }
      expect(fresh.filter((s) => s === 200).length).toBe(fresh.length);
      // 10 attacker addresses share 40 slots (4 each, below their per-client cap of 8): beyond
      // their share they are refused; the newcomer took room from them.
      expect(counted.evicted).toBeGreaterThan(0);
      expect(counted.global_limit).toBeGreaterThan(0);
    } finally {
      agent.destroy();
    }
  }, 60_000);

  it('handshake_timeout is absolute: a ClientHello trickled one byte every 300 ms is closed after about 2 s, counted as handshake_timeout', async () => {
    const before = await refusals(url, pki.ca.certPem);
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, ...new Array<number>(40).fill(7)]);
    const closedAfter = await new Promise<number>((resolve) => {
      const started = performance.now();
      const socket = netConnect({ port, host: '127.0.0.1', localAddress: '127.0.0.40' });
      let i = 0;
      const timer = setInterval(() => {
        if (i < hello.length && socket.writable) socket.write(hello.subarray(i, ++i));
      }, 300);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        resolve(performance.now() - started);
      });
      setTimeout(() => socket.destroy(), 10_000).unref();
    });
    const counted = delta(await refusals(url, pki.ca.certPem), before);
    expect(closedAfter).toBeGreaterThan(1900);
    expect(closedAfter).toBeLessThan(5000);
    expect(counted.handshake_timeout).toBe(1);
  });
});

describe('addresses', () => {
  it('IPv4-mapped IPv6 peers count as their IPv4 address: one budget across an IPv4 and an IPv4-mapped listener', async () => {
    const remotes: string[] = [];
    const registry = new Registry();
    const guard = await createGuard({
      config: { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile }, limits: { max_connections_per_client: 2 } },
      source: registry,
      logger: {
        debug() {},
        info() {},
        error() {},
        warn: (message, fields) => message === 'connection refused' && remotes.push(`${String(fields?.reason)} ${String(fields?.remote)}`),
      },
      watch: false,
    });
    try {
      // Bound to the IPv4-mapped form of a loopback address: the kernel reports IPv4 peers as ::ffff:a.b.c.d.
      // One listener sees the peer as 127.0.0.2, the other as ::ffff:127.0.0.2: one budget.
      const [plain, mapped] = await guard.listen(['127.0.0.1:0', '[::ffff:127.0.0.1]:0']);
      const open = (port: number, localAddress: string) =>
        new Promise<import('node:net').Socket>((resolve) => {
          const socket = netConnect({ port, host: '127.0.0.1', localAddress }, () => resolve(socket));
          socket.on('error', () => undefined);
        });
      const held = [await open(plain!.port, '127.0.0.2'), await open(mapped!.port, '127.0.0.2')];
      await sleep(100);
      const third = await open(mapped!.port, '127.0.0.2');
      const closed = await new Promise<boolean>((resolve) => {
        third.on('close', () => resolve(true));
        setTimeout(() => resolve(false), 2000).unref();
      });
      expect(closed).toBe(true);
      expect(remotes).toEqual(['per_client_limit 127.0.0.2']);
      // Another address is unaffected.
      const other = await scrape(`https://127.0.0.1:${mapped!.port}/metrics`, { ca: pki.ca.certPem, localAddress: '127.0.0.3' });
      expect(other.status).toBe(200);
      for (const socket of held) socket.destroy();
    } finally {
      await guard.close(0);
    }
  });

  it('plain HTTP (no tls_server_config) has the same per-address cap', async () => {
    const guard = await createGuard({
      config: { limits: { max_connections_per_client: 2 } },
      source: new Registry(),
      logger: countingLogger().logger,
      watch: false,
    });
    try {
      const [bound] = await guard.listen('127.0.0.1:0');
      const open = () =>
        new Promise<import('node:net').Socket>((resolve) => {
          const socket = netConnect({ port: bound!.port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => resolve(socket));
          socket.on('error', () => undefined);
        });
      const held = [await open(), await open()];
      await sleep(100);
      const third = await open();
      const closed = await new Promise<boolean>((resolve) => {
        third.on('close', () => resolve(true));
        setTimeout(() => resolve(false), 2000).unref();
      });
      expect(closed).toBe(true);
      expect((await scrape(`http://127.0.0.1:${bound!.port}/metrics`, { localAddress: '127.0.0.3' })).status).toBe(200);
      for (const socket of held) socket.destroy();
    } finally {
      await guard.close(0);
    }
  });
});
