/**
 * HTTP/2 bounds under a stream flood (issue #14 §3, acceptance figure B): one unauthenticated
 * client (127.0.0.2) opens streams as fast as it can on several sessions and never reads the
 * responses, some sessions by never granting HTTP/2 flow-control window, some by not reading the
 * TCP socket at all. The metrics source is large (thousands of series), so every unread response
 * is worth hundreds of KiB: if the server rendered and queued one per stream, memory would grow
 * without bound. Meanwhile a legitimate scraper on 127.0.0.1 makes a new connection every 100 ms;
 * its success rate and p99 latency are compared with an idle window measured in the same run.
 * Figures are printed at the end (HARDENING lines).
 */
import { constants as h2 } from 'node:http2';
import { Registry, Gauge } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Guard } from '../src/index.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AttackSummary, MemorySampler, sleep } from './helpers/attack.js';
import { childScraper, runChild } from './helpers/child-clients.js';
import { scrape, scrapeHttp2 } from './helpers/client.js';
import { listenTlsGuard } from './helpers/tls-guard.js';

const SERIES = 4000;

// A full collection on demand, so memory windows start from a collected heap (test-side only).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const ATTACKER = '127.0.0.2';
const SCRAPER = '127.0.0.1';

let pki: TestPki;
let guard: Guard;
let port: number;
let url: string;
let bodyBytes = 0;
const summary = new AttackSummary('http2-bounds');

beforeAll(async () => {
  pki = await testPki();
  const registry = new Registry();
  const g = new Gauge({ name: 'app_queue_depth', help: 'Depth of each work queue.', labelNames: ['queue', 'shard', 'tenant'], registers: [registry] });
  // Deterministic label values, long enough that a response is a few hundred KiB.
  for (let i = 0; i < SERIES; i++)
    g.set({ queue: `queue-${(i % 97).toString().padStart(3, '0')}-ingest-pipeline`, shard: `shard-${i}`, tenant: `tenant-${i % 13}-production-eu-west` }, i);
  ({ guard, port, url } = await listenTlsGuard(pki, registry, {
    config: { http_server_config: { http2: true }, limits: { read_header_timeout: '2s', request_timeout: '5s' } },
  }));
  const probe = await scrape(url, { ca: pki.ca.certPem });
  bodyBytes = Buffer.byteLength(probe.body);
});

afterAll(async () => {
  await guard?.close(0);
  summary.print();
});

interface FloodResult {
  sessions: number;
  streamsSent: number;
  /** RST_STREAM error codes received, by code. */
  resets: Record<string, number>;
  /** GOAWAY error codes received, by code. */
  goaways: Record<string, number>;
}

/** Runs test/helpers/h2-flood.mjs from `localAddress` (default: the attacker's). */
const flood = (durationMs: number, parallel: number, extra: { localAddress?: string; maxStreamsPerSession?: number; sessionsTotal?: number } = {}) =>
  runChild<FloodResult>(
    'h2-flood.mjs',
    { port, host: '127.0.0.1', localAddress: ATTACKER, caFile: pki.ca.certFile, durationMs, parallel, ...extra },
    durationMs + 15_000,
    { lowPriority: true },
  );

/** scrapeguard_http2_streams_reset_total by reason. */
async function resetsByReason(): Promise<Record<string, number>> {
  const r = await scrape(url, { ca: pki.ca.certPem });
  const out: Record<string, number> = {};
  for (const m of r.body.matchAll(/^scrapeguard_http2_streams_reset_total\{reason="([a-z_]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('HTTP/2 stream flood (acceptance figure B)', () => {
  it('one client opening streams as fast as it can and never reading: RSS growth < 64 MiB, the scraper keeps 100 % success (its p99 against idle is printed, not asserted)', async () => {
    const scraper = { url, caFile: pki.ca.certFile, localAddress: SCRAPER, intervalMs: 100 };
    // Idle baseline in the same run: a new connection every 100 ms.
    // Each window starts from a collected heap, so its growth is what the window itself allocated
    // (a 441 KiB scrape leaves a few MiB of garbage that V8 collects when it pleases).
    const memory = new MemorySampler(50);
    gc();
    memory.reset();
    const idle = await childScraper({ ...scraper, durationMs: 5000 });
    const idleMem = memory.growth();
    gc();
    memory.reset();
    const cpu = process.cpuUsage();
    const [attacked, result] = await Promise.all([childScraper({ ...scraper, durationMs: 10_000 }), flood(10_500, 4)]);
    const mem = memory.growth();
    // What stays once the attacker is gone and garbage is collected: nothing should be retained.
    await sleep(500);
    gc();
    const retainedMiB = Math.round(((process.memoryUsage().rss - memory.baseRss) / 2 ** 20) * 10) / 10;
    memory.stop();
    const cpuUsed = process.cpuUsage(cpu);

    const metrics = await scrape(url, { ca: pki.ca.certPem });
    const refusals = metrics.body
      .split('\n')
      .filter((l) => l.startsWith('scrapeguard_http2_streams_reset_total{') || l.startsWith('scrapeguard_connections_refused_total{'));
    summary.add({
      attack: `HTTP/2 stream flood from ${ATTACKER} (4 sessions at a time for 10 s, never reading; ${SERIES} series, ${Math.round(bodyBytes / 1024)} KiB per response)`,
      outcome: `${result.sessions} sessions, ${result.streamsSent} HEADERS sent; RST_STREAM codes ${JSON.stringify(result.resets)}; GOAWAY codes ${JSON.stringify(result.goaways)}; ${refusals.join(' ')}`,
      legit: { ok: attacked.ok, attempts: attacked.attempts, p99Ms: attacked.p99Ms },
      legitSuccessPct: attacked.successPct,
      idle: { ok: idle.ok, attempts: idle.attempts, p99Ms: idle.p99Ms },
      p99Ratio: Math.round((attacked.p99Ms / Math.max(1, idle.p99Ms)) * 100) / 100,
      memory: mem,
      idleMemory: idleMem,
      rssRetainedAfterMiB: retainedMiB,
      guardCpuMsPerS: Math.round((cpuUsed.user + cpuUsed.system) / 1000 / 10.5),
    });
    expect(idle.failures).toEqual([]);
    expect(attacked.failures, 'scrapes failed during the HTTP/2 flood').toEqual([]);
    expect(mem.rssMiB).toBeLessThan(64);
    // Allocator retention after ~1400 TLS sessions is expected; unbounded growth is not.
    expect(retainedMiB).toBeLessThan(48);
    // ENHANCE_YOUR_CALM (0xb) reached the flooding client, by RST_STREAM or GOAWAY.
    expect((result.resets[String(h2.NGHTTP2_ENHANCE_YOUR_CALM)] ?? 0) + (result.goaways[String(h2.NGHTTP2_ENHANCE_YOUR_CALM)] ?? 0)).toBeGreaterThan(0);
    // Latency is not asserted: on a shared 2-core machine any bound on p99 fails when something
    // else runs. The ratio is printed above; bench/ measures it.
    expect(attacked.attempts).toBeGreaterThanOrEqual(80);
    // After the flood the guard serves HTTP/2 normally.
    const after = await scrapeHttp2(url, { ca: pki.ca.certPem });
    expect(after.status).toBe(200);
  }, 60_000);

  it('a stream whose response is not read within request_timeout is reset with ENHANCE_YOUR_CALM, counted as stalled', async () => {
    const before = await resetsByReason();
    // One session, 4 requests, reads the socket but never grants window: every response stalls.
    const result = await flood(8000, 1, { localAddress: '127.0.0.5', maxStreamsPerSession: 4, sessionsTotal: 1 });
    const after = await resetsByReason();
    summary.add({
      attack: 'HTTP/2 session with 4 unread responses (request_timeout 5 s)',
      outcome: `RST_STREAM codes ${JSON.stringify(result.resets)}; stalled resets ${after.stalled! - before.stalled!}`,
    });
    expect(result.resets[String(h2.NGHTTP2_ENHANCE_YOUR_CALM)]).toBe(4);
    expect(after.stalled! - before.stalled!).toBe(4);
  }, 30_000);

  it(`streams beyond http2_max_streams_per_client (8) are reset with ENHANCE_YOUR_CALM; after 20 such resets the session gets GOAWAY ENHANCE_YOUR_CALM`, async () => {
    const before = await resetsByReason();
    const result = await flood(3000, 1, { localAddress: '127.0.0.6', maxStreamsPerSession: 40, sessionsTotal: 1 });
    const after = await resetsByReason();
    summary.add({
      attack: 'HTTP/2 session opening 40 streams at once, never reading',
      outcome: `RST_STREAM codes ${JSON.stringify(result.resets)}; GOAWAY codes ${JSON.stringify(result.goaways)}`,
    });
    expect(after.per_client_limit! - before.per_client_limit!).toBeGreaterThanOrEqual(20);
    expect(after.session_goaway! - before.session_goaway!).toBe(1);
    expect(result.goaways[String(h2.NGHTTP2_ENHANCE_YOUR_CALM)]).toBe(1);
    expect(result.resets[String(h2.NGHTTP2_ENHANCE_YOUR_CALM)]).toBeGreaterThanOrEqual(20);
  }, 30_000);
});
