/**
 * Graceful lifecycle of a guard: `close()` stops accepting, lets in-flight scrapes finish (through
 * its own server and through mounted adapters alike), answers later scrapes through adapters with
 * 503, gives up on a scrape that outlives `graceMs`, and leaves nothing that keeps the process
 * alive — proven by a child process that must exit on its own after closing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard } from '../src/guard.js';
import { silentLogger } from '../src/log.js';
import { metricsHandler } from '../src/adapters/http.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape } from './helpers/client.js';
import { repoRoot, runProcess } from './e2e/support.js';

let pki: TestPki;
const servers: Server[] = [];

beforeAll(async () => {
  pki = await testPki();
  if (!existsSync(join(repoRoot, 'dist', 'http.js'))) {
    const r = await runProcess('npm', ['run', 'build', '--silent'], { timeoutMs: 170_000 });
    if (r.code !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
  }
}, 180_000);

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function mounted(source: () => Promise<string>, config = {}) {
  const guard = await createGuard({ config, source, logger: silentLogger, watch: false });
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, metricsHandler(guard));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { guard, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/metrics` };
}

describe('guard.close()', () => {
  test('waits for a scrape in flight through a mounted handler, then answers 503', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const inSource = new Promise<void>((r) => (started = r));
    const { guard, url } = await mounted(async () => {
      started();
      await gate;
      return 'slow_up 1\n';
    });
    const inflight = scrape(url, { ca: pki.ca.certPem });
    // Close only once the scrape is really in flight (a fixed wait lost that race on a busy machine).
    await inSource;
    let closed = false;
    const closing = guard.close(5000).then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false);
    // New scrapes are turned away while the old one is still running.
    const late = await scrape(url, { ca: pki.ca.certPem });
    expect(late.status).toBe(503);
    release();
    const r = await inflight;
    expect(r.status).toBe(200);
    expect(r.body).toBe('slow_up 1\n'); // text sources are parsed strictly; an unchanged family goes out as written
    await closing;
    expect(closed).toBe(true);
  });

  test('gives up on a scrape that outlives graceMs', async () => {
    let started!: () => void;
    const inSource = new Promise<void>((r) => (started = r));
    const { guard, url } = await mounted(() => {
      started();
      return new Promise<string>(() => undefined);
    });
    void scrape(url, { ca: pki.ca.certPem, timeoutMs: 3000 });
    await inSource;
    const t0 = performance.now();
    await guard.close(300);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(1500);
  });

  test('is idempotent and a closed guard refuses to listen', async () => {
    const { guard } = await mounted(async () => 'x 1\n');
    await guard.close(0);
    await guard.close(0);
    await expect(guard.listen('127.0.0.1:0')).rejects.toThrow('closed');
  });

  test('a process that created, served, scraped and closed a guard exits on its own', async () => {
    const child = spawn(process.execPath, [join('test', 'fixtures', 'lifecycle-child.mjs')], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on('close', (code) => resolve({ code, at: Date.now() })));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const { code, at } = await exited;
    clearTimeout(timer);
    expect(code, out).toBe(0);
    const line = (name: string) => new RegExp(`^${name} (.*)$`, 'm').exec(out)?.[1];
    expect(JSON.parse(line('standalone')!)).toEqual({ status: 200, body: 'lifecycle_up 1\n' });
    expect(JSON.parse(line('mounted')!)).toEqual({ status: 200, body: 'lifecycle_up 1\n' });
    // Scrapes in flight when close() was called finished with their answer.
    expect(JSON.parse(line('drained standalone')!)).toEqual({ status: 200, body: 'lifecycle_up 1\n' });
    expect(JSON.parse(line('drained mounted')!)).toEqual({ status: 200, body: 'lifecycle_up 1\n' });
    expect(Number(line('close took'))).toBeGreaterThanOrEqual(200);
    expect(JSON.parse(line('after close standalone')!)).toEqual({ error: 'ECONNREFUSED' });
    expect((JSON.parse(line('after close mounted')!) as { status: number }).status).toBe(503);
    // Nothing of the guard kept the process: it ended right after its last line.
    expect(at - Number(line('closed'))).toBeLessThan(1000);
  });
});
