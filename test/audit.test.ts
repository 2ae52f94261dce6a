/**
 * The audit log's file sink on a real filesystem: JSON lines appended to a 0600 file, size-based
 * rotation keeping N files, reopen after an external rename (logrotate), writes to a full disk
 * (`/dev/full` answers ENOSPC) that drop lines without failing anything and are logged once and
 * counted; and through a real HTTPS guard: `audit_log` from the config, one line per request,
 * `guard.reopenAuditLog()`, stdout.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { AuditLog, type AuditRecord } from '../src/audit/audit.js';
import { createGuard, type Guard } from '../src/guard.js';
import type { Logger } from '../src/log.js';
import { noSelfMetrics, type SelfMetrics } from '../src/metrics/self.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape } from './helpers/client.js';
import { textLogger } from './helpers/logger.js';

let dir: string;
let pki: TestPki;
const guards: Guard[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-audit-'));
  pki = await testPki();
});
afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
});

function record(i: number, extra: Partial<AuditRecord> = {}): AuditRecord {
  return {
    time: new Date(1_700_000_000_000 + i).toISOString(),
    principal: `p${i}`,
    auth_method: 'bearer',
    groups: [],
    remote_address: '127.0.0.1',
    tls_version: 'TLSv1.3',
    client_cert_subject: null,
    method: 'GET',
    path: '/metrics',
    status: 200,
    bytes: 100,
    series_returned: null,
    series_withheld: null,
    duration_ms: 1.5,
    reason: null,
    ...extra,
  };
}

function recorder(): { logger: Logger; lines: string[]; metrics: SelfMetrics; errors: () => number } {
  const lines: string[] = [];
  let errors = 0;
  return {
    logger: textLogger(lines),
    lines,
    metrics: { ...noSelfMetrics, auditWriteError: () => errors++ },
    errors: () => errors,
  };
}

const readLines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditRecord);

describe('AuditLog file sink', () => {
  test('appends one JSON object per line to a 0600 file', async () => {
    const path = join(dir, 'a.log');
    const r = recorder();
    const log = new AuditLog({ kind: 'file', path, maxSizeBytes: 0, keep: 2 }, r);
    for (let i = 0; i < 50; i++) log.write(record(i));
    await log.close();
    const lines = readLines(path);
    expect(lines).toHaveLength(50);
    expect(lines[7]).toEqual(record(7));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // Appends to what is there after a restart.
    const again = new AuditLog({ kind: 'file', path, maxSizeBytes: 0, keep: 2 }, r);
    again.write(record(50));
    await again.close();
    expect(readLines(path)).toHaveLength(51);
  });

  test('rotates by size, keeping `keep` files, and loses no line in between', async () => {
    const path = join(dir, 'rot.log');
    const log = new AuditLog({ kind: 'file', path, maxSizeBytes: 4096, keep: 2 }, recorder());
    const lineBytes = Buffer.byteLength(JSON.stringify(record(0))) + 1;
    const total = Math.ceil((4096 * 3.5) / lineBytes);
    for (let i = 0; i < total; i++) {
      log.write(record(i));
      if (i % 10 === 0) await log.flush(); // several batches, as under real traffic
    }
    await log.close();
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.2`)).toBe(true);
    expect(existsSync(`${path}.3`)).toBe(false);
    for (const f of [path, `${path}.1`, `${path}.2`]) expect(statSync(f).size).toBeLessThanOrEqual(4096);
    // The newest lines are in FILE, the ones before in FILE.1, then FILE.2; contiguous.
    const kept = [...readLines(`${path}.2`), ...readLines(`${path}.1`), ...readLines(path)].map((r) => r.principal);
    const last = kept.length;
    expect(kept).toEqual(Array.from({ length: last }, (_, k) => `p${total - last + k}`));
  });

  test('reopen() after logrotate moved the file writes to a new file at the path', async () => {
    const path = join(dir, 'moved.log');
    const log = new AuditLog({ kind: 'file', path, maxSizeBytes: 0, keep: 1 }, recorder());
    log.write(record(1));
    await log.flush();
    renameSync(path, `${path}.old`);
    log.write(record(2)); // still the open descriptor: lands in the moved file
    await log.flush();
    log.reopen();
    log.write(record(3));
    await log.close();
    expect(readLines(`${path}.old`).map((r) => r.principal)).toEqual(['p1', 'p2']);
    expect(readLines(path).map((r) => r.principal)).toEqual(['p3']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test('a full disk drops lines without throwing; logged once, every line counted', async () => {
    const r = recorder();
    const log = new AuditLog({ kind: 'file', path: '/dev/full', maxSizeBytes: 0, keep: 1 }, r);
    for (let i = 0; i < 20; i++) expect(() => log.write(record(i))).not.toThrow();
    await log.flush();
    for (let i = 0; i < 5; i++) log.write(record(i));
    await log.close();
    expect(r.errors()).toBe(25);
    const errors = r.lines.filter((l) => l.startsWith('error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('ENOSPC');
  });
});

describe('audit_log through the guard', () => {
  function registry(): Registry {
    const reg = new Registry();
    new Counter({ name: 'demo_events_total', help: 'Demo counter.', registers: [reg] }).inc(3);
    return reg;
  }

  test('one line per request in the configured file; reopen; never the token', async () => {
    const token = randomBytes(32).toString('base64url');
    const path = join(dir, 'guard-audit.log');
    const r = recorder();
    const guard = await createGuard({
      config: {
        tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
        bearer_auth: { tokens: [{ name: 'prom', token_sha256: createHash('sha256').update(token).digest('hex') }] },
        audit_log: { path },
      },
      source: registry(),
      logger: r.logger,
      watch: false,
    });
    guards.push(guard);
    const [bound] = await guard.listen('127.0.0.1:0');
    const url = `https://127.0.0.1:${bound!.port}/metrics`;
    expect((await scrape(url, { ca: pki.ca.certPem, headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await scrape(url, { ca: pki.ca.certPem, headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    // Lines are written asynchronously after the response: wait for both before "logrotate" moves the file.
    const until = Date.now() + 5000;
    while (!(existsSync(path) && readLines(path).length === 2) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    renameSync(path, `${path}.1`);
    guard.reopenAuditLog();
    expect((await scrape(url, { ca: pki.ca.certPem })).status).toBe(401);
    await guard.close(0);
    const before = readLines(`${path}.1`);
    expect(before.map((l) => [l.principal, l.status, l.reason])).toEqual([
      ['prom', 200, null],
      [null, 401, 'invalid_token'],
    ]);
    expect(readLines(path).map((l) => [l.status, l.reason])).toEqual([[401, 'missing']]);
    for (const text of [readFileSync(`${path}.1`, 'utf8'), readFileSync(path, 'utf8'), ...r.lines]) expect(text).not.toContain(token);
  });

  test('stdout sink writes one JSON line per request', async () => {
    const written: string[] = [];
    const log = new AuditLog({ kind: 'stdout' }, { ...recorder(), stdout: { write: (t: string) => written.push(t) } });
    log.write(record(1));
    log.write(record(2));
    expect(written.map((l) => JSON.parse(l) as AuditRecord)).toEqual([record(1), record(2)]);
    expect(written.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
  });
});
