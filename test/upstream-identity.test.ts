/**
 * Identity to the upstream (sidecar): over real sockets, the upstream exporter records the headers
 * of every request it gets. The authenticated principal, its groups and method arrive in the
 * configured headers; a client's own `x-remote-user` (or any other header) never does; an
 * anonymous caller sends none; names that could break a header or forge a group are
 * percent-encoded; the settings are refused for an upstream that is neither loopback nor
 * certificate-verified https; `serve` flags map onto it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import type { WebConfigInput } from '../src/config/schema.js';
import { encodeIdentityValue, identityHeaderValues, resolveIdentityHeaders, upstreamSource, type UpstreamOptions } from '../src/exposition/upstream.js';
import { toMetricsSource } from '../src/exposition/source.js';
import { withExtraFamilies } from '../src/exposition/pipeline.js';
import { Registry } from 'prom-client';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape } from './helpers/client.js';
import { runCli } from './helpers/cli.js';
import { serveCommand } from '../src/tools/cli/serve.js';
import { ScrapeguardError } from '../src/errors.js';

let pki: TestPki;
const guards: Guard[] = [];
const servers: Server[] = [];
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** A plain exporter on loopback that records the headers of every request. */
async function exporter(): Promise<{ url: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end('# TYPE up_demo gauge\nup_demo 1\n');
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, seen };
}

async function sidecar(config: WebConfigInput, upstream: Omit<UpstreamOptions, 'url'> & { url: string }) {
  const guard = await createGuard({
    config: { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile }, ...config },
    source: upstreamSource(upstream),
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    watch: false,
  });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  return `https://127.0.0.1:${bound!.port}/metrics`;
}

const get = (url: string, headers: Record<string, string>) => scrape(url, { ca: pki.ca.certPem, headers });

beforeAll(async () => {
  pki = await testPki();
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise((r) => {
          s.close(r);
          s.closeAllConnections();
        }),
    ),
  );
});

describe('identity headers to the upstream', () => {
  test('the principal, groups and method arrive; the client-supplied copies never do', async () => {
    const up = await exporter();
    const token = randomBytes(32).toString('base64url');
    const url = await sidecar(
      { bearer_auth: { tokens: [{ name: 'prometheus', token_sha256: sha256(token), groups: ['ops', 'sre'] }] } },
      { url: up.url, identityHeaders: true },
    );
    const r = await get(url, {
      authorization: `Bearer ${token}`,
      'x-remote-user': 'admin',
      'X-Remote-Groups': 'system:masters',
      'x-remote-auth-method': 'client_cert',
      'x-forwarded-for': '10.9.9.9',
      cookie: 'session=1',
    });
    expect(r.status, r.body).toBe(200);
    expect(r.body).toContain('up_demo 1');
    expect(up.seen).toHaveLength(1);
    const h = up.seen[0]!;
    expect(h['x-remote-user']).toBe('prometheus');
    expect(h['x-remote-groups']).toBe('ops|sre');
    expect(h['x-remote-auth-method']).toBe('bearer');
    // Nothing else of the client's request reached the upstream.
    expect(Object.keys(h).sort()).toEqual([
      'accept',
      'accept-encoding',
      'connection',
      'host',
      'user-agent',
      'x-remote-auth-method',
      'x-remote-groups',
      'x-remote-user',
    ]);
    // A refused caller causes no upstream request at all.
    expect((await get(url, { authorization: 'Bearer wrong', 'x-remote-user': 'admin' })).status).toBe(401);
    expect(up.seen).toHaveLength(1);
  });

  test("without identity headers (the default) and for an anonymous caller, a client's x-remote-user is not forwarded either", async () => {
    const up = await exporter();
    const plain = await sidecar({}, { url: up.url });
    expect((await get(plain, { 'x-remote-user': 'admin', 'x-remote-groups': 'system:masters' })).status).toBe(200);
    const anonymous = await sidecar({}, { url: up.url, identityHeaders: true });
    expect((await get(anonymous, { 'x-remote-user': 'admin' })).status).toBe(200);
    for (const h of up.seen) {
      expect(h['x-remote-user']).toBeUndefined();
      expect(h['x-remote-groups']).toBeUndefined();
      expect(h['x-remote-auth-method']).toBeUndefined();
    }
    expect(up.seen).toHaveLength(2);
  });

  test('custom header names and separator; a basic-auth user with spaces and non-ASCII is percent-encoded', async () => {
    const up = await exporter();
    const key = randomBytes(32).toString('base64url');
    const url = await sidecar(
      { header_auth: { keys: [{ name: 'Zoë Ops %x', key_sha256: sha256(key), groups: ['a,b', 'c|d'] }] } },
      { url: up.url, identityHeaders: { user: 'X-Forwarded-User', groups: 'x-forwarded-groups', method: 'x-auth-via', groupsSeparator: ',' } },
    );
    expect((await get(url, { 'x-api-key': key, 'x-forwarded-user': 'root' })).status).toBe(200);
    const h = up.seen[0]!;
    expect(h['x-forwarded-user']).toBe('Zo%C3%AB%20Ops%20%25x');
    expect(h['x-forwarded-groups']).toBe('a%2Cb,c|d');
    expect(h['x-auth-via']).toBe('header');
    expect(decodeURIComponent(h['x-forwarded-user'] as string)).toBe('Zoë Ops %x');
  });

  test('refused: a plain-http or unverified non-loopback upstream, bad or reserved names, one name for two roles', () => {
    expect(() => upstreamSource({ url: 'http://exporter.internal:9100/metrics', identityHeaders: true })).toThrow(
      /identity headers are sent only to a loopback upstream or an https:\/\/ one whose certificate is verified; http:\/\/exporter.internal:9100 is plain http/,
    );
    expect(() => upstreamSource({ url: 'http://10.0.0.5:9100/metrics', identityHeaders: {} })).toThrow(/only to a loopback upstream/);
    // Allowed: loopback over http, and verified https anywhere.
    expect(upstreamSource({ url: 'http://[::1]:9100/metrics', identityHeaders: true }).perCaller).toBe(true);
    expect(upstreamSource({ url: 'https://exporter.internal:9100/metrics', identityHeaders: true }).perCaller).toBe(true);
    expect(upstreamSource({ url: 'https://exporter.internal:9100/metrics', identityHeaders: false }).perCaller).toBe(false);
    expect(() => resolveIdentityHeaders({ user: 'Authorization' })).toThrow(/cannot carry the user/);
    expect(() => resolveIdentityHeaders({ groups: 'bad header' })).toThrow(/not an HTTP header name/);
    expect(() => resolveIdentityHeaders({ user: 'x-a', groups: 'X-A' })).toThrow(/three different names/);
    expect(() => resolveIdentityHeaders({ groupsSeparator: '%' })).toThrow(/groupsSeparator/);
    expect(() => resolveIdentityHeaders({ groupsSeparator: ' ' })).toThrow(/groupsSeparator/);
  });

  test("a source that depends on the caller says so, also when wrapped with the sidecar's own metrics", () => {
    const up = upstreamSource({ url: 'http://127.0.0.1:9/metrics', identityHeaders: true });
    expect(withExtraFamilies(up, toMetricsSource(new Registry())).perCaller).toBe(true);
    expect(toMetricsSource(new Registry()).perCaller).toBe(false);
    expect(identityHeaderValues({ name: 'anonymous', method: 'none', groups: [] }, resolveIdentityHeaders(true))).toEqual({});
    expect(identityHeaderValues({ name: 'a\r\nx-evil: 1', method: 'basic', groups: [] }, resolveIdentityHeaders(true))['x-remote-user']).toBe(
      'a%0D%0Ax-evil:%201',
    );
    expect(encodeIdentityValue('system:serviceaccount:monitoring:prometheus')).toBe('system:serviceaccount:monitoring:prometheus');
  });
});

describe('serve --upstream.identity-headers', () => {
  test('name flags without --upstream.identity-headers, and identity to a plain-http remote upstream, are usage errors', async () => {
    const usage = async (argv: string[]) => {
      const error = await runCli(serveCommand, argv).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ScrapeguardError);
      expect((error as ScrapeguardError).code).toBe('USAGE');
      return (error as Error).message;
    };
    expect(await usage(['--upstream', 'http://127.0.0.1:9100/metrics', '--upstream.user-header', 'x-user'])).toContain('need --upstream.identity-headers');
    expect(await usage(['--upstream', 'http://exporter.internal:9100/metrics', '--upstream.identity-headers'])).toContain(
      '--upstream: identity headers are sent only to a loopback upstream',
    );
    expect(await usage(['--upstream', 'http://127.0.0.1:9100/metrics', '--upstream.identity-headers', '--upstream.user-header', 'Cookie'])).toContain(
      'cannot carry the user',
    );
  });
});
