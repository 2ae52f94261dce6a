/**
 * The default TLS profile (src/tls/profile.ts) against what the standalone server REALLY accepts:
 * one real handshake per TLS 1.2 cipher suite the local OpenSSL knows (client restricted to that
 * suite, at security level 0 so it offers the weak ones) and per key exchange group, for an RSA
 * and an ECDSA P-256 server key; renegotiation and compression; session tickets and their key
 * rotation; the profile as `scrapeguard check` and docs/tls.md state it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, getCiphers, type ConnectionOptions, type SecureVersion, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import type { TlsServerConfigInput } from '../src/config/schema.js';
import { silentLogger } from '../src/log.js';
import { DEFAULT_TLS_PROFILE } from '../src/tls/profile.js';
import { activeTicketKeyRotations, rotateTicketKeys } from '../src/tls/session-tickets.js';
import { checkCommand } from '../src/tools/cli/check.js';
import { runCli } from './helpers/cli.js';
import { testPki, type TestCert, type TestPki } from './helpers/pki.js';

let pki: TestPki;
const guards: Guard[] = [];

beforeAll(async () => {
  pki = await testPki();
});

afterAll(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
});

async function start(tls: TlsServerConfigInput, http2 = true): Promise<{ guard: Guard; port: number }> {
  const guard = await createGuard({
    config: { tls_server_config: tls, http_server_config: { http2 } },
    source: new Registry(),
    logger: silentLogger,
    watch: false,
  });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  return { guard, port: bound!.port };
}

interface Outcome {
  ok: boolean;
  /** Negotiated suite (OpenSSL name), or the error code. */
  detail: string;
  protocol?: string | null;
  /** Negotiated group as OpenSSL names it (`X25519`, `prime256v1`…). */
  group?: string;
  socket?: TLSSocket;
}

/** One real handshake; `keep` leaves the socket open for the caller. */
function handshake(port: number, options: ConnectionOptions, keep = false): Promise<Outcome> {
  return new Promise((resolve) => {
    let socket: TLSSocket;
    try {
      socket = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ...options });
    } catch (error) {
      resolve({ ok: false, detail: `client-refused:${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` });
      return;
    }
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, detail: 'timeout' });
    }, 10_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const group = socket.getEphemeralKeyInfo();
      const out: Outcome = {
        ok: true,
        detail: socket.getCipher().name,
        protocol: socket.getProtocol(),
        ...(group && 'name' in group && typeof group.name === 'string' ? { group: group.name } : {}),
      };
      if (keep) out.socket = socket;
      else socket.destroy();
      resolve(out);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: error.code ?? error.message });
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ ok: false, detail: 'closed' });
    });
  });
}

/** Runs `task` over `items` with at most `concurrency` at once. */
async function pool<T, R>(items: readonly T[], concurrency: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await task(items[i]!);
      }
    }),
  );
  return out;
}

/** Every TLS ≤ 1.2 suite the local OpenSSL knows, at any security level. */
function opensslTls12Suites(): string[] {
  let names: string[];
  try {
    names = execFileSync('openssl', ['ciphers', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'], { encoding: 'utf8' }).trim().split(':');
  } catch {
    // No openssl binary: Node's list (the same library, lower-cased names).
    names = getCiphers().map((n) => n.toUpperCase());
  }
  return [...new Set(names)].filter((n) => n !== '' && !n.startsWith('TLS_'));
}

/** OpenSSL's names for the profile's groups, as `getEphemeralKeyInfo()` reports them. */
const GROUP_ALIASES: Record<string, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };

/**
 * Candidate key exchange groups: every named EC curve of the local OpenSSL, plus X25519, X448 and
 * the RFC 7919 finite-field groups. Those OpenSSL does not allow in TLS are refused by the client
 * constructor and reported as such.
 */
function candidateGroups(): string[] {
  let curves: string[];
  try {
    curves = execFileSync('openssl', ['ecparam', '-list_curves'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /^\s*([A-Za-z0-9-]+)\s*:/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
  } catch {
    curves = ['prime256v1', 'secp384r1', 'secp521r1', 'secp256k1'];
  }
  // OpenSSL's own names for the NIST curves are aliases of P-256/P-384/P-521: tried once.
  const aliases = new Set(Object.values(GROUP_ALIASES));
  return [
    ...new Set([
      'X25519',
      'X448',
      'P-256',
      'P-384',
      'P-521',
      ...curves.filter((c) => !aliases.has(c)),
      'ffdhe2048',
      'ffdhe3072',
      'ffdhe4096',
      'ffdhe6144',
      'ffdhe8192',
    ]),
  ];
}

const KEYS: { name: string; cert: () => TestCert; ca: () => TestCert; family: 'ECDSA' | 'RSA' }[] = [
  { name: 'ECDSA P-256', cert: () => pki.server, ca: () => pki.ca, family: 'ECDSA' },
  { name: 'RSA 2048', cert: () => pki.serverRsa, ca: () => pki.rsaCa, family: 'RSA' },
];

describe('what the server really accepts without cipher_suites / curve_preferences / min_version', () => {
  test.each(KEYS)("$name key: the accepted TLS 1.2 suites are exactly the profile's", async ({ cert, ca, family }) => {
    const { port } = await start({ cert_file: cert().certFile, key_file: cert().keyFile });
    const suites = opensslTls12Suites();
    // The enumeration must include the suites the issue found accepted before (CBC-SHA256/384,
    // CCM, ARIA, static RSA), or it proves nothing.
    for (const weak of [
      'ECDHE-ECDSA-AES128-SHA256',
      'AES128-GCM-SHA256',
      'AES128-SHA',
      'ECDHE-ECDSA-AES128-CCM',
      'ECDHE-ECDSA-ARIA128-GCM-SHA256',
      'DHE-RSA-AES128-GCM-SHA256',
    ]) {
      expect(suites).toContain(weak);
    }
    const outcomes = await pool(suites, 12, (suite) =>
      handshake(port, { ca: ca().certPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.2', ciphers: `${suite}:@SECLEVEL=0` }).then((o) => ({ suite, ...o })),
    );
    const accepted = outcomes
      .filter((o) => o.ok)
      .map((o) => o.suite)
      .sort();
    for (const o of outcomes.filter((x) => x.ok)) expect(o.detail).toBe(o.suite);
    const expected = DEFAULT_TLS_PROFILE.tls12CipherSuites
      .filter((s) => s.go.includes(`_${family}_`))
      .map((s) => s.openssl)
      .sort();
    expect(expected).toHaveLength(3);
    expect(accepted).toEqual(expected);
    console.log(`TLS-PROFILE ${family} key: ${suites.length} TLS 1.2 suites tried, accepted: ${accepted.join(' ')}`);
  });

  test.each(KEYS)('$name key: TLS 1.3 accepts the three TLS 1.3 suites', async ({ cert, ca }) => {
    const { port } = await start({ cert_file: cert().certFile, key_file: cert().keyFile });
    for (const s of DEFAULT_TLS_PROFILE.tls13CipherSuites) {
      const o = await handshake(port, { ca: ca().certPem, minVersion: 'TLSv1.3', ciphers: s.openssl });
      expect(o, s.openssl).toMatchObject({ ok: true, detail: s.openssl, protocol: 'TLSv1.3' });
    }
  });

  test.each(KEYS)('$name key: the accepted groups are exactly X25519, P-256, P-384, under TLS 1.3 and TLS 1.2', async ({ cert, ca, family }) => {
    const { port } = await start({ cert_file: cert().certFile, key_file: cert().keyFile });
    const groups = candidateGroups();
    // TLS 1.2 ties an ECDSA certificate to the client's group list (RFC 8422 §5.1): a client must
    // list P-256 to use a P-256 certificate at all. So with the ECDSA key, TLS 1.2 clients offer
    // the group under test AND P-256, and the check is on the group actually negotiated.
    const withCertCurve = (version: SecureVersion, group: string) =>
      family === 'ECDSA' && version === 'TLSv1.2' && group !== 'P-256' ? `${group}:P-256` : group;
    const jobs = groups.flatMap((group) => (['TLSv1.3', 'TLSv1.2'] as SecureVersion[]).map((version) => ({ group, version })));
    const outcomes = await pool(jobs, 12, ({ group, version }) =>
      handshake(port, {
        ca: ca().certPem,
        minVersion: version,
        maxVersion: version,
        ecdhCurve: withCertCurve(version, group),
        ciphers: 'DEFAULT:@SECLEVEL=0',
      }).then((o) => ({
        offered: group,
        version,
        ...o,
      })),
    );
    const known = new Set(outcomes.filter((o) => !o.detail.startsWith('client-refused')).map((o) => o.offered));
    // The weak and slow groups the issue names must really have been offered.
    for (const g of ['X448', 'P-521', 'ffdhe2048', 'ffdhe8192', 'secp256k1']) expect([...known], g).toContain(g);
    const expected = DEFAULT_TLS_PROFILE.groups.map((g) => g.openssl).sort();
    const canonical = (name: string | undefined) => Object.entries(GROUP_ALIASES).find(([, alias]) => alias === name)?.[0] ?? name;
    for (const version of ['TLSv1.3', 'TLSv1.2']) {
      const mine = outcomes.filter((o) => o.version === version);
      // Whatever was offered, only profile groups are ever used.
      for (const o of mine.filter((x) => x.ok)) expect(expected, `${version} ${o.offered}`).toContain(canonical(o.group));
      const acceptedAsOffered = mine
        .filter((o) => o.ok && canonical(o.group) === o.offered)
        .map((o) => o.offered)
        .sort();
      if (family === 'ECDSA' && version === 'TLSv1.2') {
        // P-384 loses to the P-256 offered alongside it (server order); proven with the RSA key.
        expect(acceptedAsOffered, version).toEqual(['P-256', 'X25519']);
      } else {
        expect(acceptedAsOffered, version).toEqual(expected);
        expect(mine.filter((o) => o.ok)).toHaveLength(expected.length);
      }
    }
    console.log(`TLS-PROFILE ${known.size} groups known to OpenSSL tried under TLS 1.3 and 1.2; accepted: ${expected.join(' ')}`);
  });
});

/** Asks for a TLS 1.2 renegotiation on an established connection; resolves with the outcome. */
function renegotiate(port: number, ca: string): Promise<string> {
  return new Promise((resolve) => {
    void handshake(port, { ca, maxVersion: 'TLSv1.2' }, true).then((o) => {
      const socket = o.socket;
      if (!socket) return resolve(`no-connection:${o.detail}`);
      socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      socket.on('close', () => resolve('closed'));
      const asked = socket.renegotiate({ rejectUnauthorized: false }, (error) => {
        socket.destroy();
        resolve(error ? `refused:${(error as NodeJS.ErrnoException).code ?? error.message}` : 'renegotiated');
      });
      if (!asked) resolve('not-sent');
      setTimeout(() => {
        socket.destroy();
        resolve('timeout');
      }, 5000).unref();
    });
  });
}

describe('renegotiation and compression', () => {
  test('client-initiated TLS 1.2 renegotiation is refused (a plain Node server accepts it: the probe works)', async () => {
    const { port } = await start({ cert_file: pki.server.certFile, key_file: pki.server.keyFile });
    const results = await Promise.all([1, 2, 3].map(() => renegotiate(port, pki.ca.certPem)));
    for (const r of results) expect(r).not.toBe('renegotiated');
    // Control: Node's own default server allows it, so the refusal above is the profile's doing.
    const plain = createTlsServer({ cert: pki.server.certPem, key: pki.server.keyPem });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    plain.on('secureConnection', (s) => s.on('error', () => undefined));
    try {
      expect(await renegotiate((plain.address() as AddressInfo).port, pki.ca.certPem)).toBe('renegotiated');
    } finally {
      plain.close();
    }
    console.log(`TLS-PROFILE renegotiation: ${results.join(', ')}`);
  });

  test('openssl s_client: TLS 1.2 session without compression, renegotiation request answered with refusal', async () => {
    const { port } = await start({ cert_file: pki.server.certFile, key_file: pki.server.keyFile });
    const out = await new Promise<string>((resolve) => {
      const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2', '-CAfile', pki.ca.certFile, '-servername', 'localhost'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.on('error', () => resolve('no openssl'));
      child.on('close', () => resolve(text));
      // "R" asks s_client to renegotiate; then end input.
      setTimeout(() => child.stdin.write('R\n'), 300);
      setTimeout(() => child.stdin.end(), 1200);
      setTimeout(() => child.kill(), 8000).unref();
    });
    if (out === 'no openssl') return;
    expect(out).toMatch(/Compression: NONE/);
    expect(out).toMatch(/Protocol *: TLSv1\.2/);
    expect(out).toMatch(/RENEGOTIATING/);
    expect(out).toMatch(/no renegotiation/i);
  });
});

describe('session tickets', () => {
  test('TLS 1.3 and 1.2: a second connection resumes with the ticket of the first', async () => {
    const { port } = await start({ cert_file: pki.server.certFile, key_file: pki.server.keyFile });
    for (const version of ['TLSv1.3', 'TLSv1.2'] as SecureVersion[]) {
      const session = await firstSession(port, version);
      const second = await handshake(port, { ca: pki.ca.certPem, maxVersion: version, minVersion: version, session }, true);
      expect(second.ok, version).toBe(true);
      expect(second.socket!.isSessionReused(), version).toBe(true);
      second.socket!.destroy();
    }
  });

  test('after a rotation the old ticket no longer resumes and new tickets do (rotateTicketKeys, short period)', async () => {
    const server = createTlsServer({ cert: pki.server.certPem, key: pki.server.keyPem });
    server.on('secureConnection', (s) => s.on('error', () => undefined));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const before = activeTicketKeyRotations();
    const stop = rotateTicketKeys(server, 150);
    expect(activeTicketKeyRotations()).toBe(before + 1);
    try {
      const keys = server.getTicketKeys();
      const old = await firstSession(port, 'TLSv1.3');
      await expect.poll(() => server.getTicketKeys().equals(keys), { timeout: 5000 }).toBe(false);
      const stale = await handshake(port, { ca: pki.ca.certPem, session: old }, true);
      expect(stale.socket!.isSessionReused()).toBe(false);
      stale.socket!.destroy();
      const fresh = await firstSession(port, 'TLSv1.3');
      // The next rotation may land in between: retry a few times, bounded.
      let reused = false;
      for (let i = 0; i < 5 && !reused; i++) {
        const again = await handshake(port, { ca: pki.ca.certPem, session: i === 0 ? fresh : await firstSession(port, 'TLSv1.3') }, true);
        reused = again.socket!.isSessionReused();
        again.socket!.destroy();
      }
      expect(reused).toBe(true);
    } finally {
      stop();
      server.close();
    }
    expect(activeTicketKeyRotations()).toBe(before);
  });

  test('each server generation has its own rotation timer, released by close()', async () => {
    const before = activeTicketKeyRotations();
    const guard = await createGuard({
      config: { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile } },
      source: new Registry(),
      logger: silentLogger,
      watch: false,
    });
    await guard.listen('127.0.0.1:0');
    expect(activeTicketKeyRotations()).toBe(before + 1);
    await guard.close(0);
    // The server emits 'close' on the next tick.
    await expect.poll(() => activeTicketKeyRotations()).toBe(before);
  });
});

/** The session (ticket) a first full handshake receives. */
function firstSession(port: number, version: SecureVersion): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.ca.certPem, minVersion: version, maxVersion: version });
    socket.once('session', (session: Buffer) => {
      socket.destroy();
      resolve(session);
    });
    socket.once('error', reject);
    setTimeout(() => {
      socket.destroy();
      reject(new Error('no session ticket'));
    }, 5000).unref();
  });
}

describe("explicit settings keep exporter-toolkit's meaning", () => {
  test('cipher_suites with an ECDHE CBC suite (outside the profile) enables exactly that suite', async () => {
    const { port } = await start(
      { cert_file: pki.server.certFile, key_file: pki.server.keyFile, max_version: 'TLS12', cipher_suites: ['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA'] },
      false,
    );
    expect(await handshake(port, { ca: pki.ca.certPem, ciphers: 'ECDHE-ECDSA-AES128-SHA' })).toMatchObject({ ok: true, detail: 'ECDHE-ECDSA-AES128-SHA' });
    expect((await handshake(port, { ca: pki.ca.certPem, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })).ok).toBe(false);
  });

  test('curve_preferences [CurveP521] enables P-521 (and only it)', async () => {
    const { port } = await start({ cert_file: pki.server.certFile, key_file: pki.server.keyFile, curve_preferences: ['CurveP521'] });
    expect(await handshake(port, { ca: pki.ca.certPem, ecdhCurve: 'P-521' })).toMatchObject({ ok: true, group: 'secp521r1' });
    expect((await handshake(port, { ca: pki.ca.certPem, ecdhCurve: 'X25519' })).ok).toBe(false);
  });
});

describe('the profile as published', () => {
  test('scrapeguard check prints the default profile, and "custom" with a warning for weaker explicit choices', async () => {
    const dir = pki.dir;
    const file = join(dir, 'profile-default.yml');
    writeFileSync(file, `tls_server_config:\n  cert_file: ${pki.server.certFile}\n  key_file: ${pki.server.keyFile}\n`);
    const r = await runCli(checkCommand, ['--web.config.file', file]);
    expect(r.code).toBe(0);
    const suites = DEFAULT_TLS_PROFILE.tls12CipherSuites.map((s) => s.go).join(', ');
    const groups = DEFAULT_TLS_PROFILE.groups.map((g) => g.go).join(', ');
    expect(r.stdout).toContain(
      `TLS profile: mozilla-intermediate (versions TLS12-TLS13; TLS 1.2 suites ${suites}; groups ${groups}; no renegotiation, no compression)`,
    );
    expect(r.stderr).toBe('');

    const weak = join(dir, 'profile-weak.yml');
    writeFileSync(
      weak,
      `tls_server_config:\n  cert_file: ${pki.server.certFile}\n  key_file: ${pki.server.keyFile}\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n`,
    );
    const w = await runCli(checkCommand, ['--web.config.file', weak]);
    expect(w.code).toBe(0);
    expect(w.stdout).toContain(
      'TLS profile: custom (versions TLS12-TLS13; TLS 1.2 suites TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;',
    );
    expect(w.stderr).toMatch(/warning: tls_server_config: cipher_suites enables TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA \(CBC, no AEAD\)/);
  });

  test("docs/tls.md lists exactly the profile's suites and groups", () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'tls.md'), 'utf8');
    expect(doc).toContain(DEFAULT_TLS_PROFILE.name);
    for (const s of [...DEFAULT_TLS_PROFILE.tls12CipherSuites, ...DEFAULT_TLS_PROFILE.tls13CipherSuites]) {
      expect(doc, s.go).toContain(`\`${s.go}\``);
      expect(doc, s.openssl).toContain(`\`${s.openssl}\``);
    }
    for (const g of DEFAULT_TLS_PROFILE.groups) expect(doc, g.go).toContain(`\`${g.go}\``);
    // The profile table lists no suite the profile does not accept.
    const table = doc.slice(doc.indexOf('<!-- profile:start -->'), doc.indexOf('<!-- profile:end -->'));
    const listed = [...table.matchAll(/`(TLS_ECDHE_[A-Z0-9_]+)`/g)].map((m) => m[1]);
    expect(new Set(listed)).toEqual(new Set(DEFAULT_TLS_PROFILE.tls12CipherSuites.map((s) => s.go)));
    expect(doc).toContain(`${DEFAULT_TLS_PROFILE.sessionTickets.keyRotationSeconds / 60} minutes`);
  });
});
