/**
 * Helpers for the attack suites (hostile HTTP, hostile TLS, credential attacks, faults): a
 * legitimate scraper that runs in the background and records every outcome, a memory sampler
 * that keeps the high-water mark, raw socket exchanges (bytes the real clients refuse to send),
 * and a summary of measured outcomes printed at the end of each file.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { expect } from 'vitest';
import { scrape, type ScrapeOptions } from './client.js';

/** Outcomes of the background scraper between two marks. */
export interface LegitWindow {
  attempts: number;
  ok: number;
  failures: string[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/**
 * A legitimate scraper that keeps scraping (a fresh connection each time, like a Prometheus
 * whose keep-alive was cut) every `intervalMs` until stopped. `window()` reports what happened
 * since the last `mark()`.
 */
export class LegitScraper {
  private running = true;
  private readonly results: { ok: boolean; ms: number; detail: string }[] = [];
  private from = 0;
  private readonly loop: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly options: ScrapeOptions,
    private readonly intervalMs = 100,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = performance.now();
      const result = await scrape(this.url, { timeoutMs: 10_000, ...this.options });
      const ms = performance.now() - started;
      const ok = result.status === 200 && result.body.length > 0;
      this.results.push({ ok, ms, detail: ok ? '' : `${result.status ?? ''} ${result.error ?? ''} ${result.errorMessage ?? ''}`.trim() });
      await new Promise((r) => setTimeout(r, this.intervalMs));
    }
  }

  mark(): void {
    this.from = this.results.length;
  }

  /** Waits until at least `n` scrapes completed since the mark (so each attack overlaps some). */
  async atLeast(n: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.results.length - this.from < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  window(): LegitWindow {
    const slice = this.results.slice(this.from);
    const ms = slice.map((r) => r.ms);
    return {
      attempts: slice.length,
      ok: slice.filter((r) => r.ok).length,
      failures: slice.filter((r) => !r.ok).map((r) => r.detail),
      p50Ms: round(percentile(ms, 50)),
      p99Ms: round(percentile(ms, 99)),
      maxMs: round(Math.max(0, ...ms)),
    };
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Samples this process's memory (the guard runs in-process) and keeps the high-water marks. */
export class MemorySampler {
  private readonly timer: NodeJS.Timeout;
  baseRss = process.memoryUsage().rss;
  baseHeap = process.memoryUsage().heapUsed;
  maxRss = this.baseRss;
  maxHeap = this.baseHeap;

  constructor(periodMs = 50) {
    this.timer = setInterval(() => this.sample(), periodMs);
    this.timer.unref();
  }

  sample(): void {
    const m = process.memoryUsage();
    if (m.rss > this.maxRss) this.maxRss = m.rss;
    if (m.heapUsed > this.maxHeap) this.maxHeap = m.heapUsed;
  }

  /** Starts a new window: the current usage becomes the base. */
  reset(): void {
    const m = process.memoryUsage();
    this.baseRss = this.maxRss = m.rss;
    this.baseHeap = this.maxHeap = m.heapUsed;
  }

  /** Growth of the high-water marks over the base, in MiB. */
  growth(): { rssMiB: number; heapMiB: number; rssHighMiB: number } {
    this.sample();
    return {
      rssMiB: round((this.maxRss - this.baseRss) / 2 ** 20),
      heapMiB: round((this.maxHeap - this.baseHeap) / 2 ** 20),
      rssHighMiB: round(this.maxRss / 2 ** 20),
    };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** What a raw exchange saw. */
export interface RawReply {
  /** Everything the server sent, latin1. */
  reply: string;
  /** Status of the first response, if any. */
  status?: number;
  /** Number of HTTP/1.x status lines in the reply. */
  responses: number;
  /** The server closed (or reset) the connection before our deadline. */
  closed: boolean;
  ms: number;
  error?: string;
}

export interface RawOptions {
  /** TLS with this CA (ALPN http/1.1); plain TCP when absent. */
  ca?: string;
  /** Give up (and report `closed: false`) after this long. */
  timeoutMs?: number;
  /** Resolve as soon as this much of a reply arrived (default: wait for the close). */
  untilReplyBytes?: number;
}

/** Opens a connection, writes `chunks` (one write each), and reports what came back. */
export function rawExchange(port: number, chunks: readonly (string | Buffer)[], options: RawOptions = {}): Promise<RawReply> {
  return new Promise((resolve) => {
    const started = performance.now();
    const received: Buffer[] = [];
    let error: string | undefined;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const reply = Buffer.concat(received).toString('latin1');
      const statusLines = reply.match(/^HTTP\/1\.[01] \d{3}/gm) ?? [];
      const first = /^HTTP\/1\.[01] (\d{3})/.exec(reply);
      resolve({
        reply,
        responses: statusLines.length,
        closed,
        ms: Math.round(performance.now() - started),
        ...(first ? { status: Number(first[1]) } : {}),
        ...(error !== undefined ? { error } : {}),
      });
    };
    const onOpen = () => {
      for (const c of chunks) socket.write(c);
    };
    const socket: Socket =
      options.ca !== undefined
        ? tlsConnect({ port, host: '127.0.0.1', ca: options.ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, onOpen)
        : netConnect({ port, host: '127.0.0.1' }, onOpen);
    socket.on('data', (d: Buffer) => {
      received.push(d);
      if (options.untilReplyBytes !== undefined && Buffer.concat(received).length >= options.untilReplyBytes) finish(true);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => finish(true));
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 5000);
  });
}

/** One measured outcome for the closing summary. */
export interface AttackOutcome {
  attack: string;
  outcome: string;
  legit?: { ok: number; attempts: number; p99Ms: number };
  memory?: { rssMiB: number; heapMiB: number; rssHighMiB: number };
  [extra: string]: unknown;
}

/** Collects outcomes and prints them as one block (picked up in the CI log and the report). */
export class AttackSummary {
  private readonly rows: AttackOutcome[] = [];
  constructor(private readonly suite: string) {}

  add(row: AttackOutcome): void {
    this.rows.push(row);
  }

  print(): void {
    const lines = this.rows.map((r) => `HARDENING ${this.suite} | ${JSON.stringify(r)}`);
    console.log(`\n${lines.join('\n')}\n`);
  }
}

export function round(n: number): number {
  return Math.round(n * 10) / 10;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What {@link underAttack} measures with. */
export interface AttackBench {
  legit: LegitScraper;
  memory: MemorySampler;
  summary: AttackSummary;
}

/**
 * Runs one attack between two marks of the legitimate scraper and the memory sampler, records the
 * outcome, and asserts what every attack must leave intact: the legitimate scraper never failed
 * (at least 3 scrapes in the window) and memory grew by less than 150 MiB. `after` then checks the
 * server still serves, in the way the suite needs.
 */
export async function underAttack<T>(
  bench: AttackBench,
  attack: string,
  run: () => Promise<T>,
  describeOutcome: (r: T) => string,
  after: () => Promise<void>,
): Promise<T> {
  bench.legit.mark();
  bench.memory.reset();
  const result = await run();
  await bench.legit.atLeast(3);
  const window = bench.legit.window();
  const mem = bench.memory.growth();
  bench.summary.add({ attack, outcome: describeOutcome(result), legit: { ok: window.ok, attempts: window.attempts, p99Ms: window.p99Ms }, memory: mem });
  expect(window.failures, `legitimate scrapes failed during ${attack}`).toEqual([]);
  expect(window.ok).toBeGreaterThanOrEqual(3);
  // Generous: a handful of attack connections must not cost the process hundreds of MiB.
  expect(mem.rssMiB).toBeLessThan(150);
  await after();
  return result;
}
