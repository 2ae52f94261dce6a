/**
 * Log aggregation (src/log-aggregate.ts), unit tier: first occurrence at once, one summary per
 * key and interval with the suppressed count, keys by message + reason, a bounded key set with an
 * overflow bucket, flush on close, debug passing through, and summary lines made only of what the
 * caller passed. Time is vitest's fake clock, so nothing here depends on the machine's speed.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { aggregateLogs, OVERFLOW_MESSAGE } from '../src/log-aggregate.js';
import { createLogfmtLogger, type LogFields, type Logger, type LogLevel } from '../src/log.js';

interface Line {
  level: LogLevel;
  message: string;
  fields: LogFields | undefined;
}

function recorder(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: LogLevel) => (message: string, fields?: LogFields) => lines.push({ level, message, fields });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('aggregateLogs', () => {
  it('writes the first occurrence at once, then one summary per interval with the suppressed count', () => {
    const { logger, lines } = recorder();
    const log = aggregateLogs(logger, { intervalMs: 10_000 });
    log.warn('authentication queue full; refusing request', { remote: '127.0.0.2' });
    expect(lines).toEqual([{ level: 'warn', message: 'authentication queue full; refusing request', fields: { remote: '127.0.0.2' } }]);
    for (let i = 0; i < 8412; i++) log.warn('authentication queue full; refusing request', { remote: '127.0.0.2' });
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual({
      level: 'warn',
      message: 'authentication queue full; refusing request',
      fields: { remote: '127.0.0.2', suppressed: 8412, interval: '10s' },
    });
    // A quiet interval writes nothing and forgets the key: the next occurrence is written at once.
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(2);
    vi.advanceTimersByTime(10_000);
    log.warn('authentication queue full; refusing request', { remote: '127.0.0.3' });
    expect(lines).toHaveLength(3);
    expect(lines[2]!.fields).toEqual({ remote: '127.0.0.3' });
    log.close();
  });

  it("a continuous flood costs one line per interval; the summary carries the last occurrence's fields", () => {
    const { logger, lines } = recorder();
    const log = aggregateLogs(logger, { intervalMs: 1000 });
    for (let second = 0; second < 10; second++) {
      for (let i = 0; i < 100; i++) log.error('scrape failed', { error: `boom ${second}-${i}` });
      vi.advanceTimersByTime(1000);
    }
    // First line + one summary at each of the 10 ticks.
    expect(lines).toHaveLength(11);
    expect(lines[1]!.fields).toEqual({ error: 'boom 0-99', suppressed: 99, interval: '1s' });
    expect(lines.slice(2).map((l) => l.fields?.suppressed)).toEqual(Array(9).fill(100));
    expect(lines[10]!.fields?.error).toBe('boom 9-99');
    log.close();
  });

  it('keys by level, message and reason: each reason has its own first line and summary', () => {
    const { logger, lines } = recorder();
    const log = aggregateLogs(logger);
    for (let i = 0; i < 5; i++) {
      log.warn('TLS client certificate refused', { remote: '127.0.0.2', reason: 'expired' });
      log.warn('TLS client certificate refused', { remote: '127.0.0.2', reason: 'unknown_ca' });
      log.error('TLS client certificate refused', { remote: '127.0.0.2', reason: 'expired' });
      log.warn('connection refused', { remote: '127.0.0.2', reason: 'per_address_limit' });
    }
    expect(lines.map((l) => `${l.level} ${l.message} ${String(l.fields?.reason)}`)).toEqual([
      'warn TLS client certificate refused expired',
      'warn TLS client certificate refused unknown_ca',
      'error TLS client certificate refused expired',
      'warn connection refused per_address_limit',
    ]);
    log.close(); // final flush
    expect(lines).toHaveLength(8);
    expect(lines.slice(4).map((l) => [l.level, l.fields?.reason, l.fields?.suppressed])).toEqual([
      ['warn', 'expired', 4],
      ['warn', 'unknown_ca', 4],
      ['error', 'expired', 4],
      ['warn', 'per_address_limit', 4],
    ]);
  });

  it('close() flushes pending counts, stops the timer, and later lines pass through', () => {
    const { logger, lines } = recorder();
    const log = aggregateLogs(logger);
    log.warn('ignored forwarding headers from a peer that is not a trusted proxy', { remote: '127.0.0.2', header: 'x-forwarded-for' });
    log.warn('ignored forwarding headers from a peer that is not a trusted proxy', { remote: '127.0.0.2', header: 'x-forwarded-for' });
    expect(vi.getTimerCount()).toBe(1);
    log.close();
    expect(lines).toHaveLength(2);
    expect(lines[1]!.fields).toMatchObject({ suppressed: 1, interval: '10s' });
    expect(vi.getTimerCount()).toBe(0);
    log.close(); // idempotent
    log.warn('after close', {});
    log.warn('after close', {});
    expect(lines).toHaveLength(4);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a key seen once writes no summary; the timer stops once nothing is tracked', () => {
    const { logger, lines } = recorder();
    const log = aggregateLogs(logger, { intervalMs: 500 });
    log.info('access denied: no access rule grants this principal', { principal: 'x' });
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(500);
    expect(lines).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
    log.close();
    expect(lines).toHaveLength(1);
  });

  it('the timer does not keep the process alive (unref)', () => {
    vi.useRealTimers();
    const spy = vi.spyOn(globalThis, 'setInterval');
    try {
      const { logger } = recorder();
      const log = aggregateLogs(logger);
      log.warn('x');
      const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
      log.close();
    } finally {
      spy.mockRestore();
    }
  });

  it('debug passes straight through, never aggregated', () => {
    const { logger, lines } = recorder();
    const log = aggregateLogs(logger);
    for (let i = 0; i < 50; i++) log.debug('authentication failed', { reason: 'wrong_password' });
    expect(lines).toHaveLength(50);
    expect(vi.getTimerCount()).toBe(0);
    log.close();
    expect(lines).toHaveLength(50);
  });

  it('the aggregated levels can be chosen', () => {
    const { logger, lines } = recorder();
    const log = aggregateLogs(logger, { levels: ['warn'] });
    for (let i = 0; i < 3; i++) {
      log.info('i');
      log.error('e');
      log.warn('w');
    }
    expect(lines.map((l) => l.message)).toEqual(['i', 'e', 'w', 'i', 'e', 'i', 'e']);
    log.close();
  });

  it('bounds the tracked keys: new keys beyond the bound share one overflow bucket per level', () => {
    const { logger, lines } = recorder();
    const log = aggregateLogs(logger, { maxKeys: 4 });
    // An attacker varying the reason (say, SANs of its own certificates) cannot grow the state.
    for (let i = 0; i < 10_000; i++) log.warn('refused request by client certificate policy', { reason: `found: [san-${i}]` });
    // 4 tracked keys + the first overflow event, written as is.
    expect(lines).toHaveLength(5);
    expect(lines[4]!.fields).toEqual({ reason: 'found: [san-4]' });
    // The tracked keys still aggregate their own repeats.
    for (let i = 0; i < 3; i++) log.warn('refused request by client certificate policy', { reason: 'found: [san-0]' });
    expect(lines).toHaveLength(5);
    vi.advanceTimersByTime(10_000);
    const summaries = lines.slice(5);
    expect(summaries).toEqual([
      { level: 'warn', message: 'refused request by client certificate policy', fields: { reason: 'found: [san-0]', suppressed: 3, interval: '10s' } },
      {
        level: 'warn',
        message: OVERFLOW_MESSAGE,
        fields: { last_msg: 'refused request by client certificate policy', suppressed: 10_000 - 5, interval: '10s' },
      },
    ]);
    // After a quiet interval every key is forgotten: memory returns to nothing.
    vi.advanceTimersByTime(10_000);
    expect(vi.getTimerCount()).toBe(0);
    log.warn('refused request by client certificate policy', { reason: 'found: [san-9999]' });
    expect(lines).toHaveLength(8);
    log.close();
  });

  it('summary lines carry only what the caller passed: no field, and no value, of another event', () => {
    const out: string[] = [];
    const log = aggregateLogs(createLogfmtLogger({ write: (l) => out.push(l) }));
    // What callers pass never holds a credential; the summary must not invent or mix one in.
    log.warn('authentication queue full; refusing request', { remote: '127.0.0.2' });
    log.warn('authentication queue full; refusing request', { remote: '127.0.0.2' });
    log.warn('other message', { remote: '127.0.0.9', detail: 'other-detail' });
    log.close();
    expect(out).toHaveLength(3);
    const summary = out.find((l) => l.includes('suppressed='))!;
    expect(summary).toMatch(/^time=\S+ level=warn msg="authentication queue full; refusing request" remote=127\.0\.0\.2 suppressed=1 interval=10s$/);
    expect(summary).not.toContain('other');
  });

  it('refuses nonsense options', () => {
    const { logger } = recorder();
    expect(() => aggregateLogs(logger, { intervalMs: 0 })).toThrow(TypeError);
    expect(() => aggregateLogs(logger, { maxKeys: 0 })).toThrow(TypeError);
  });
});

describe('the guard aggregates what peers can repeat', () => {
  it('a peer sending forwarding headers 100 times: one line, a summary on close(), every event counted, no timer left', async () => {
    vi.useRealTimers();
    const { createGuard } = await import('../src/guard.js');
    const { Registry } = await import('prom-client');
    const { logger, lines } = recorder();
    const registry = new Registry();
    const guard = await createGuard({ source: () => 'up 1\n', logger, selfMetrics: registry, watch: false, trustedProxies: { addresses: ['10.0.0.1'] } });
    // Intervals created and cleared from here on (the aggregator's timer is unref'd, so
    // process.getActiveResourcesInfo() would not list it).
    const created = vi.spyOn(globalThis, 'setInterval');
    const cleared = vi.spyOn(globalThis, 'clearInterval');
    const pending = () => created.mock.results.map((r) => r.value as unknown).filter((t) => !cleared.mock.calls.some(([c]) => c === t)).length;
    const request = { method: 'GET', path: '/metrics', headers: { 'x-forwarded-for': '192.0.2.1' }, remoteAddress: '127.0.0.2' };
    for (let i = 0; i < 100; i++) expect((await guard.handle(request)).status).toBe(200);
    const ignored = lines.filter((l) => l.message === 'ignored forwarding headers from a peer that is not a trusted proxy');
    expect(ignored).toEqual([
      {
        level: 'warn',
        message: 'ignored forwarding headers from a peer that is not a trusted proxy',
        fields: { remote: '127.0.0.2', header: 'x-forwarded-for' },
      },
    ]);
    expect(pending()).toBe(1);
    await guard.close(0);
    const after = lines.filter((l) => l.message === 'ignored forwarding headers from a peer that is not a trusted proxy');
    expect(after).toHaveLength(2);
    expect(after[1]!.fields).toEqual({ remote: '127.0.0.2', header: 'x-forwarded-for', suppressed: 99, interval: '10s' });
    expect(pending()).toBe(0);
    created.mockRestore();
    cleared.mockRestore();
    const counted = (await registry.getSingleMetricAsString('scrapeguard_forwarded_headers_ignored_total')).match(/reason="untrusted_peer"} (\d+)/)?.[1];
    expect(Number(counted)).toBe(100);
    // The guard's own life-cycle lines are not aggregated (each reload, each address, is told).
    expect(lines.filter((l) => l.message === 'TLS is disabled: metrics and any credentials travel in clear text')).toHaveLength(1);
  });
});
