/**
 * Hot reload against real files, real sockets and real TLS: certificate rotation under a steady
 * scrape loop, invalid edits that keep the last good configuration (logged and counted),
 * Kubernetes Secret volumes (`..data` symlink swaps), and `close()` releasing the watchers.
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hash } from '@node-rs/bcrypt';
import { Registry } from 'prom-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import { generateServerCert, type CertificateAndKey } from '../src/tools/pki/generate.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape, type ScrapeResult } from './helpers/client.js';
import { recordingLogger as capturedLogger } from './helpers/logger.js';

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `scrapeguard-reload-${prefix}-`));
const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;
const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

/** Writes `content` to `path` atomically (temp name in the same directory, then rename). */
function writeAtomic(path: string, content: string, mode = 0o644): void {
  const temp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(temp, content, { mode });
  renameSync(temp, path);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

let pki: TestPki;
let rotated: CertificateAndKey;
let rotatedAgain: CertificateAndKey;

beforeAll(async () => {
  pki = await testPki();
  const names = ['localhost', '127.0.0.1', '::1'];
  [rotated, rotatedAgain] = await Promise.all([
    generateServerCert(pki.ca, { commonName: 'localhost', sans: names }),
    generateServerCert(pki.ca, { commonName: 'localhost', sans: names }),
  ]);
});

const TLS_CONFIG = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n';

/** Scrapes `url` on a fresh connection every 20 ms until `stop()`; results in order. */
function scrapeContinuously(url: string, ca: string): { results: ScrapeResult[]; stop: () => Promise<void> } {
  const results: ScrapeResult[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      results.push(await scrape(url, { ca, peerCertificate: true }));
      await sleep(20);
    }
  })();
  return {
    results,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

describe('certificate rotation under load', () => {
  it('serves every scrape while server.crt/server.key are replaced; new connections get the new certificate', async () => {
    const dir = tmp('rotate');
    copyFileSync(pki.server.certFile, join(dir, 'server.crt'));
    copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
    writeFileSync(join(dir, 'web-config.yml'), TLS_CONFIG, { mode: 0o600 });
    const logger = capturedLogger();
    const guard = await createGuard({ config: join(dir, 'web-config.yml'), source: () => 'up 1\n', logger, watch: true, watchPollMs: 100 });
    const oldFp = fingerprintOf(pki.server.certPem);
    const newFp = fingerprintOf(rotated.certPem);
    expect(newFp).not.toBe(oldFp);
    expect(serialOf(rotated.certPem)).not.toBe(serialOf(pki.server.certPem));
    try {
      const [bound] = await guard.listen('127.0.0.1:0');
      const url = `https://127.0.0.1:${bound!.port}/metrics`;
      const { results, stop } = scrapeContinuously(url, pki.ca.certPem);

      await until('first scrapes', async () => (results.length >= 5 ? true : undefined));
      // Rotate as cert-manager or an operator would: both files written under temp names, then renamed.
      writeFileSync(join(dir, 'server.key.new'), rotated.keyPem, { mode: 0o600 });
      writeFileSync(join(dir, 'server.crt.new'), rotated.certPem);
      renameSync(join(dir, 'server.key.new'), join(dir, 'server.key'));
      renameSync(join(dir, 'server.crt.new'), join(dir, 'server.crt'));
      const switchedAt = await until('new certificate', async () => {
        const i = results.findIndex((r) => r.peerFingerprint256 === newFp);
        return i >= 0 ? i : undefined;
      });
      const countAtSwitch = results.length;
      await until('scrapes after the switch', async () => (results.length >= countAtSwitch + 8 ? true : undefined));
      await stop();

      const failures = results.filter((r) => r.status !== 200);
      expect(failures.map((f) => f.error ?? f.status)).toEqual([]);
      expect(results.length).toBeGreaterThan(13);
      // Old certificate until the switch, the new one on every connection after it.
      expect(results.slice(0, switchedAt).every((r) => r.peerFingerprint256 === oldFp)).toBe(true);
      expect(results.slice(switchedAt).every((r) => r.peerFingerprint256 === newFp)).toBe(true);
      expect(results[switchedAt]!.peerSerial).toBe(serialOf(rotated.certPem));
      expect(guard.config.tls?.certificate.fingerprint256).toBe(newFp);
      expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
      expect(logger.lines.some((l) => l.message === 'configuration reloaded')).toBe(true);
    } finally {
      await guard.close(0);
    }
  });

  it('a non-atomic rotation (certificate first, key later) never breaks a scrape', async () => {
    const dir = tmp('halfway');
    copyFileSync(pki.server.certFile, join(dir, 'server.crt'));
    copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
    writeFileSync(join(dir, 'web-config.yml'), TLS_CONFIG, { mode: 0o600 });
    const logger = capturedLogger();
    const guard = await createGuard({ config: join(dir, 'web-config.yml'), source: () => 'up 1\n', logger, watch: true, watchPollMs: 100 });
    try {
      const [bound] = await guard.listen('127.0.0.1:0');
      const url = `https://127.0.0.1:${bound!.port}/metrics`;
      const { results, stop } = scrapeContinuously(url, pki.ca.certPem);
      writeFileSync(join(dir, 'server.crt'), rotated.certPem); // in place, key still the old one
      await until('the mismatch to be refused', async () => (logger.lines.some((l) => l.level === 'error') ? true : undefined));
      writeFileSync(join(dir, 'server.key'), rotated.keyPem);
      await until('new certificate', async () => (results.some((r) => r.peerFingerprint256 === fingerprintOf(rotated.certPem)) ? true : undefined));
      await stop();
      expect(results.filter((r) => r.status !== 200).map((r) => r.error ?? r.status)).toEqual([]);
      const error = logger.lines.find((l) => l.level === 'error');
      expect(JSON.stringify(error)).toContain(join(dir, 'web-config.yml'));
      expect(JSON.stringify(error)).toMatch(/key/);
    } finally {
      await guard.close(0);
    }
  });

  it('keeps an open keep-alive connection on the certificate it was accepted with', async () => {
    const dir = tmp('keepalive');
    copyFileSync(pki.server.certFile, join(dir, 'server.crt'));
    copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
    writeFileSync(join(dir, 'web-config.yml'), TLS_CONFIG, { mode: 0o600 });
    const guard = await createGuard({ config: join(dir, 'web-config.yml'), source: () => 'up 1\n', logger: capturedLogger(), watch: false });
    const { Agent } = await import('node:https');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const [bound] = await guard.listen('127.0.0.1:0');
      const url = `https://127.0.0.1:${bound!.port}/metrics`;
      const first = await scrape(url, { ca: pki.ca.certPem, agent, peerCertificate: true });
      expect(first.peerFingerprint256).toBe(fingerprintOf(pki.server.certPem));
      writeAtomic(join(dir, 'server.key'), rotated.keyPem, 0o600);
      writeAtomic(join(dir, 'server.crt'), rotated.certPem);
      expect(await guard.reload()).toBe(true);
      // Same connection (no new handshake, so no secureConnect facts), still answered.
      const reused = await scrape(url, { ca: pki.ca.certPem, agent });
      expect(reused.status).toBe(200);
      expect(reused.protocol).toBeUndefined();
      const fresh = await scrape(url, { ca: pki.ca.certPem, peerCertificate: true });
      expect(fresh.status).toBe(200);
      expect(fresh.peerFingerprint256).toBe(fingerprintOf(rotated.certPem));
    } finally {
      agent.destroy();
      await guard.close(0);
    }
  });
});

describe('invalid changes keep the last good configuration', () => {
  let dir: string;
  let file: string;
  let guard: Guard;
  let registry: Registry;
  let logger: ReturnType<typeof capturedLogger>;
  let url: string;

  const metric = async (name: string, labels = ''): Promise<number> => {
    const text = await registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    if (!line) throw new Error(`no ${name}${labels} in\n${text}`);
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const failures = () => metric('scrapeguard_config_reloads_total', '{result="failure"}');
  const successes = () => metric('scrapeguard_config_reloads_total', '{result="success"}');
  const lastOk = () => metric('scrapeguard_config_last_reload_successful');
  const get = (auth?: string) => scrape(url, { ca: pki.ca.certPem, ...(auth ? { auth } : {}) });
  const lastError = () => {
    const errors = logger.lines.filter((l) => l.level === 'error');
    return errors[errors.length - 1];
  };

  beforeAll(async () => {
    dir = tmp('invalid');
    file = join(dir, 'web-config.yml');
    copyFileSync(pki.server.certFile, join(dir, 'server.crt'));
    copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
    writeFileSync(file, TLS_CONFIG, { mode: 0o600 });
    registry = new Registry();
    logger = capturedLogger();
    // No watcher: every reload here is the explicit one, so the counters are exact.
    guard = await createGuard({ config: file, source: () => 'app_up 1\n', logger, selfMetrics: registry, watch: false });
    const [bound] = await guard.listen('127.0.0.1:0');
    url = `https://127.0.0.1:${bound!.port}/metrics`;
    return () => guard.close(0);
  });

  it('starts healthy', async () => {
    expect((await get()).status).toBe(200);
    expect(await failures()).toBe(0);
    expect(await successes()).toBe(0);
    expect(await lastOk()).toBe(1);
  });

  it.each([
    {
      name: 'YAML garbage',
      content: 'tls_server_config:\n  cert_file: [server.crt\n  key_file: {{{\n',
      mentions: [] as string[],
    },
    {
      name: 'an unknown key',
      content: 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cert_filse: server.crt\n',
      mentions: ['tls_server_config.cert_filse', ':4:'],
    },
    {
      name: 'a plaintext password as hash',
      content: `${TLS_CONFIG}basic_auth_users:\n  prometheus: hunter2-plaintext\n`,
      mentions: ['basic_auth_users.prometheus', ':5:'],
    },
  ])('$name: reload() resolves false, scrapes continue, the error names file and key', async ({ content, mentions }) => {
    const before = await failures();
    writeFileSync(file, content);
    expect(await guard.reload()).toBe(false);
    const r = await get();
    expect(r.status).toBe(200);
    expect(r.body).toBe('app_up 1\n'); // parsed by the exposition pass; unchanged, so sent as written
    expect(await failures()).toBe(before + 1);
    expect(await lastOk()).toBe(0);
    const error = lastError();
    expect(error?.message).toMatch(/reload failed/);
    const text = `${error?.message} ${JSON.stringify(error?.fields)}`;
    expect(text).toContain(file);
    for (const m of mentions) expect(text).toContain(m);
    // A plaintext "hash" is never echoed into the log.
    expect(text).not.toContain('hunter2');
  });

  it('the key file deleted: keeps serving, the error names key_file and the path', async () => {
    writeFileSync(file, TLS_CONFIG);
    const before = await failures();
    unlinkSync(join(dir, 'server.key'));
    try {
      expect(await guard.reload()).toBe(false);
      expect((await get()).status).toBe(200);
      expect(await failures()).toBe(before + 1);
      expect(await lastOk()).toBe(0);
      const text = JSON.stringify(lastError());
      expect(text).toContain('key_file');
      expect(text).toContain(join(dir, 'server.key'));
      expect(text).toContain('ENOENT');
    } finally {
      copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
    }
  });

  it('a certificate that does not match the key is refused too', async () => {
    const before = await failures();
    writeAtomic(join(dir, 'server.crt'), rotated.certPem);
    try {
      expect(await guard.reload()).toBe(false);
      expect(await failures()).toBe(before + 1);
      const r = await scrape(url, { ca: pki.ca.certPem, peerCertificate: true });
      expect(r.status).toBe(200);
      expect(r.peerFingerprint256).toBe(fingerprintOf(pki.server.certPem));
    } finally {
      copyFileSync(pki.server.certFile, join(dir, 'server.crt'));
    }
  });

  it('going back to the configuration in force counts as a successful reload', async () => {
    // Files now equal the configuration in force again.
    expect(await lastOk()).toBe(0);
    expect(await guard.reload()).toBe(true);
    expect(await lastOk()).toBe(1);
  });

  it('then a valid change applies: adding a basic_auth user makes credentials required', async () => {
    const before = await successes();
    const errorsBefore = logger.lines.filter((l) => l.level === 'error').length;
    writeFileSync(file, `${TLS_CONFIG}basic_auth_users:\n  prometheus: ${await hash('s3cret', { cost: 4 })}\n`);
    expect(await guard.reload()).toBe(true);
    expect(await successes()).toBe(before + 1);
    expect(await lastOk()).toBe(1);
    expect(guard.config.basicAuthUsers.has('prometheus')).toBe(true);
    const anonymous = await get();
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Basic realm="metrics"');
    expect((await get('prometheus:s3cret')).status).toBe(200);
    expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(errorsBefore);
    expect(logger.lines.some((l) => l.message === 'configuration reloaded' && l.fields?.file === file)).toBe(true);
  });

  it('a reload that changes nothing is a no-op that still answers true', async () => {
    const s = await successes();
    expect(await guard.reload()).toBe(true);
    expect(await successes()).toBe(s);
    expect(await lastOk()).toBe(1);
  });
});

describe('Kubernetes Secret volume (..data symlink swap)', () => {
  it('serves the new certificate after ..data is swapped atomically to a new timestamped directory', async () => {
    const dir = tmp('k8s');
    const publish = (stamp: string, pair: CertificateAndKey) => {
      const d = join(dir, stamp);
      mkdirSync(d, { mode: 0o755 });
      writeFileSync(join(d, 'server.crt'), pair.certPem);
      writeFileSync(join(d, 'server.key'), pair.keyPem, { mode: 0o600 });
      writeFileSync(join(d, 'web-config.yml'), TLS_CONFIG, { mode: 0o600 });
    };
    // What kubelet lays out: files are symlinks into ..data, ..data is a symlink to a timestamped dir.
    publish('..2026_01_01_00_00_00.000000001', { certPem: pki.server.certPem, keyPem: pki.server.keyPem });
    symlinkSync('..2026_01_01_00_00_00.000000001', join(dir, '..data'));
    for (const f of ['server.crt', 'server.key', 'web-config.yml']) symlinkSync(join('..data', f), join(dir, f));

    const logger = capturedLogger();
    const guard = await createGuard({ config: join(dir, 'web-config.yml'), source: () => 'up 1\n', logger, watch: true, watchPollMs: 100 });
    try {
      const [bound] = await guard.listen('127.0.0.1:0');
      const url = `https://127.0.0.1:${bound!.port}/metrics`;
      const fp = async () => (await scrape(url, { ca: pki.ca.certPem, peerCertificate: true })).peerFingerprint256;
      expect(await fp()).toBe(fingerprintOf(pki.server.certPem));

      const swap = (stamp: string, old: string, pair: CertificateAndKey) => {
        publish(stamp, pair);
        symlinkSync(stamp, join(dir, '..data_tmp'));
        renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
        rmSync(join(dir, old), { recursive: true, force: true });
      };
      swap('..2026_01_02_00_00_00.000000002', '..2026_01_01_00_00_00.000000001', rotated);
      const seen = await until('the rotated certificate', async () => ((await fp()) === fingerprintOf(rotated.certPem) ? true : undefined));
      expect(seen).toBe(true);

      // A second rotation works the same way (the watcher follows the new generation).
      swap('..2026_01_03_00_00_00.000000003', '..2026_01_02_00_00_00.000000002', rotatedAgain);
      await until('the second rotated certificate', async () => ((await fp()) === fingerprintOf(rotatedAgain.certPem) ? true : undefined));
      expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
    } finally {
      await guard.close(0);
    }
  });
});

describe('close() releases watchers and sockets', () => {
  const countByType = () => {
    const counts = new Map<string, number>();
    for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
    return counts;
  };

  it('leaves no extra active handles and stops reacting to file changes', async () => {
    const dir = tmp('close');
    copyFileSync(pki.server.certFile, join(dir, 'server.crt'));
    copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
    const file = join(dir, 'web-config.yml');
    writeFileSync(file, TLS_CONFIG, { mode: 0o600 });
    await sleep(100);
    const before = countByType();

    const logger = capturedLogger();
    const guard = await createGuard({ config: file, source: () => 'up 1\n', logger, watch: true, watchPollMs: 20 });
    const [bound] = await guard.listen('127.0.0.1:0');
    const url = `https://127.0.0.1:${bound!.port}/metrics`;
    expect((await scrape(url, { ca: pki.ca.certPem })).status).toBe(200);
    // The watcher is live: a change is picked up without calling reload().
    writeFileSync(file, `${TLS_CONFIG}http_server_config:\n  headers:\n    X-Frame-Options: deny\n`);
    await until('watched reload', async () => ((await scrape(url, { ca: pki.ca.certPem })).headers['x-frame-options'] === 'deny' ? true : undefined));
    expect(countByType().get('TCPServerWrap') ?? 0).toBeGreaterThan(before.get('TCPServerWrap') ?? 0);

    await guard.close(0);
    await sleep(150);
    const after = countByType();
    const grown = [...after].filter(([type, n]) => n > (before.get(type) ?? 0));
    expect(grown).toEqual([]);

    // No watcher left: a change after close() is not picked up, and reload() refuses.
    const reloadsBefore = logger.lines.filter((l) => l.message === 'configuration reloaded').length;
    writeFileSync(file, `${TLS_CONFIG}http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n`);
    await sleep(500);
    expect(logger.lines.filter((l) => l.message === 'configuration reloaded')).toHaveLength(reloadsBefore);
    expect(await guard.reload()).toBe(false);
    expect((await scrape(url, { ca: pki.ca.certPem, timeoutMs: 1000 })).error).toBe('ECONNREFUSED');
  });
});
