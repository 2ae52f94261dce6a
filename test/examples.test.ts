/**
 * Every program in examples/ is run as a child process, exactly as its comment block says (against
 * the built package, imported by its name `scrapeguard`), scraped over real mTLS with the client
 * certificate it generated, refused without one, and stopped with SIGTERM: it must exit on its
 * own, with status 0, without `process.exit`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { scrape, type ScrapeResult } from './helpers/client.js';
import { repoRoot, runProcess } from './e2e/support.js';

interface Started {
  child: ChildProcess;
  output: () => string;
  lines: Record<string, string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
const pkiDirs: string[] = [];

beforeAll(async () => {
  // The examples import the package by name, which resolves to dist/ through package.json "exports".
  const entries = ['index.js', 'http.js', 'express.js', 'koa.js', 'fastify.js'].map((f) => join(repoRoot, 'dist', f));
  if (!entries.every((f) => existsSync(f))) {
    const r = await runProcess('npm', ['run', 'build', '--silent'], { timeoutMs: 170_000 });
    if (r.code !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
  }
}, 180_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of pkiDirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts an example and waits for its `metrics:` line (it prints `key: value` lines). */
async function startExample(file: string, args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [join('examples', file), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // 'close', not 'exit': all of stdout and stderr has been read by then.
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const output = () => `--- stdout\n${out}--- stderr\n${err}`;
  const deadline = Date.now() + 20_000;
  while (!/^metrics: /m.test(out)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${file} exited early:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`${file} printed no metrics line in 20 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const lines: Record<string, string> = {};
  for (const m of out.matchAll(/^([a-z]+): (.+)$/gm)) lines[m[1]!] = m[2]!;
  if (lines.pki) pkiDirs.push(lines.pki);
  return { child, output, lines, exited };
}

function clientOf(pkiDir: string) {
  const read = (name: string) => readFileSync(join(pkiDir, name), 'utf8');
  return { ca: read('ca.crt'), cert: read('client.crt'), key: read('client.key') };
}

/** Waits up to 5 s for `text` to appear in the example's output. */
async function waitForOutput(started: Started, text: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!started.output().includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  expect(started.output()).toContain(text);
}

/** Stops the example with SIGTERM and expects a clean exit on its own within 10 s. */
async function expectCleanStop(started: Started): Promise<void> {
  const t0 = Date.now();
  started.child.kill('SIGTERM');
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
  const result = await Promise.race([started.exited, timeout]);
  expect(result, `did not exit within 10 s of SIGTERM:\n${started.output()}`).not.toBe('timeout');
  expect(result, started.output()).toEqual({ code: 0, signal: null });
  expect(started.output()).toMatch(/^stopped$/m);
  expect(Date.now() - t0).toBeLessThan(10_000);
}

/** Refused without a client certificate: a 403 from a mounted guard, a failed handshake from the standalone server. */
function expectRefused(r: ScrapeResult): void {
  if (r.status !== undefined) expect(r.status).toBe(403);
  else expect(r.error).toBeDefined();
  expect(r.body).not.toContain('example_');
}

const MOUNTED = [
  { file: 'node-http.mjs', app: 'hello from the app' },
  { file: 'express.mjs', app: 'hello from express' },
  { file: 'koa.mjs', app: 'hello from koa' },
  { file: 'fastify.mjs', app: 'hello from fastify' },
];

/** Every example this suite runs; a new file in examples/ must be added here (and get a test). */
const COVERED = ['standalone.mjs', ...MOUNTED.map((m) => m.file), 'cluster.mjs', 'opentelemetry.mjs', 'sidecar.mjs'];

describe('examples/', () => {
  test('every example program is run by this suite', () => {
    const programs = readdirSync(join(repoRoot, 'examples')).filter((f) => /\.(mjs|cjs|js|ts)$/.test(f) && !f.startsWith('_'));
    expect(programs.sort()).toEqual([...COVERED].sort());
  });

  test('standalone.mjs: own mTLS port', async () => {
    const ex = await startExample('standalone.mjs', ['--port', '0']);
    const client = clientOf(ex.lines.pki!);
    const r = await scrape(ex.lines.metrics!, client);
    expect(r.status, ex.output()).toBe(200);
    expect(r.body).toContain('example_jobs_total 42');
    expect(r.body).toContain('process_cpu_user_seconds_total');
    expectRefused(await scrape(ex.lines.metrics!, { ca: client.ca }));
    await expectCleanStop(ex);
  });

  test('sidecar.mjs: in front of a plain exporter, redacted over mTLS', async () => {
    const ex = await startExample('sidecar.mjs', ['--port', '0']);
    const client = clientOf(ex.lines.pki!);
    const r = await scrape(ex.lines.metrics!, client);
    expect(r.status, ex.output()).toBe(200);
    expect(r.body).toContain('legacy_queue_depth{queue="emails"} 7');
    expect(r.body).toMatch(/legacy_db_info\{dsn="\[REDACTED\]"\} 1/);
    expect(r.body).not.toContain('example-db-password');
    expectRefused(await scrape(ex.lines.metrics!, { ca: client.ca }));
    // The exporter itself stays on loopback plain HTTP; only the sidecar's port is exposed.
    expect(ex.lines.upstream).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await expectCleanStop(ex);
  });

  test.each(MOUNTED)('$file: mounted on the application server', async ({ file, app }) => {
    const ex = await startExample(file, ['--port', '0']);
    const client = clientOf(ex.lines.pki!);
    // The application answers anyone (the server only *asks* for a certificate)…
    const hello = await scrape(ex.lines.app!, { ca: client.ca });
    expect(hello.status, ex.output()).toBe(200);
    expect(hello.body).toContain(app);
    // …the metrics only a verified client certificate, and they saw the app's request.
    const r = await scrape(ex.lines.metrics!, client);
    expect(r.status, ex.output()).toBe(200);
    expect(r.body).toContain('example_app_requests_total 1');
    expectRefused(await scrape(ex.lines.metrics!, { ca: client.ca }));
    // The refusal is logged (stderr arrives on its own schedule).
    await waitForOutput(ex, 'refused request by client certificate policy');
    await expectCleanStop(ex);
  });

  test('cluster.mjs: the primary serves the sum over real worker processes', async () => {
    const ex = await startExample('cluster.mjs', ['--port', '0', '--app-port', '0', '--workers', '2']);
    const client = clientOf(ex.lines.pki!);
    const pids = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await scrape(ex.lines.app!);
      expect(r.status, ex.output()).toBe(200);
      pids.add(/worker (\d+)/.exec(r.body)?.[1] ?? '?');
    }
    // Round-robin: both workers served some of the six.
    expect(pids.size).toBe(2);
    const r = await scrape(ex.lines.metrics!, client);
    expect(r.status, ex.output()).toBe(200);
    expect(r.body).toMatch(/^example_app_requests_total 6$/m);
    expectRefused(await scrape(ex.lines.metrics!, { ca: client.ca }));
    await expectCleanStop(ex);
  });

  test('opentelemetry.mjs: the OTel Prometheus exporter behind mTLS', async () => {
    const ex = await startExample('opentelemetry.mjs', ['--port', '0']);
    const client = clientOf(ex.lines.pki!);
    const r = await scrape(ex.lines.metrics!, client);
    expect(r.status, ex.output()).toBe(200);
    expect(r.body).toMatch(/^example_orders_total\{region="eu",otel_scope_name="scrapeguard-example"\} 7$/m);
    expect(r.body).toContain('example_latency_seconds_count');
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8; escaping=underscores');
    expectRefused(await scrape(ex.lines.metrics!, { ca: client.ca }));
    await expectCleanStop(ex);
  });

  test('an example reuses a PKI directory given with --pki', async () => {
    const first = await startExample('standalone.mjs', ['--port', '0']);
    const dir = first.lines.pki!;
    const before = readFileSync(join(dir, 'ca.crt'), 'utf8');
    await expectCleanStop(first);
    const second = await startExample('standalone.mjs', ['--port', '0', '--pki', dir]);
    expect(second.lines.pki).toBe(dir);
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(before);
    expect((await scrape(second.lines.metrics!, clientOf(dir))).status).toBe(200);
    await expectCleanStop(second);
  });
});
