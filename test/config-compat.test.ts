/**
 * The version-floor table (src/config/compat.ts) as `check` and `init --compat` use it: which
 * exporter-toolkit / node_exporter releases a document's keys need, scrapeguard-only keys, and the
 * `--compat` names. Whether real exporters agree is test/e2e/init-exporters.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { compatibility, describeCompatibility, NODE_EXPORTER_TOOLKIT, oldestNodeExporterFor, parseCompatTarget, versionAtLeast } from '../src/config/compat.js';

const TLS = { cert_file: 'server.crt', key_file: 'server.key' };

describe('compatibility (version floor of a web-config.yml)', () => {
  it.each([
    ['TLS and basic auth only', 'v0.1.0', '1.1.0', { tls_server_config: TLS, basic_auth_users: { a: '$2b$' } }],
    [
      'http2 and every base TLS key',
      'v0.1.0',
      '1.1.0',
      {
        tls_server_config: {
          ...TLS,
          min_version: 'TLS12',
          max_version: 'TLS13',
          cipher_suites: [],
          curve_preferences: [],
          prefer_server_cipher_suites: true,
          client_ca_file: 'ca.crt',
          client_auth_type: 'RequireAndVerifyClientCert',
        },
        http_server_config: { http2: false },
      },
    ],
    ['client_auth_type RequireAnyClientCert', 'v0.6.1', '1.3.0', { tls_server_config: { ...TLS, client_auth_type: 'RequireAnyClientCert' } }],
    ['client_auth_type RequireClientCert (the old spelling)', 'v0.1.0', '1.1.0', { tls_server_config: { ...TLS, client_auth_type: 'RequireClientCert' } }],
    ['http_server_config.headers', 'v0.7.0', '1.3.0', { tls_server_config: TLS, http_server_config: { headers: { 'X-Frame-Options': 'deny' } } }],
    ['client_allowed_sans', 'v0.10.0', '1.6.0', { tls_server_config: { ...TLS, client_allowed_sans: ['prometheus'] } }],
    ['inline cert and key', 'v0.11.0', '1.8.0', { tls_server_config: { cert: '-----BEGIN', key: '-----BEGIN' } }],
    ['inline client_ca', 'v0.11.0', '1.8.0', { tls_server_config: { ...TLS, client_ca: '-----BEGIN' } }],
    ['rate_limit', 'v0.15.0', '1.11.0', { tls_server_config: TLS, rate_limit: { interval: '1s', burst: 5 } }],
    [
      'rate_limit with headers and client_allowed_sans: the newest wins',
      'v0.15.0',
      '1.11.0',
      { tls_server_config: { ...TLS, client_allowed_sans: ['p'] }, http_server_config: { headers: {} }, rate_limit: {} },
    ],
  ] as const)('%s: exporter-toolkit >= %s, node_exporter >= %s', (_name, toolkit, nodeExporter, doc) => {
    expect(compatibility(doc)).toMatchObject({ scrapeguardOnly: [], toolkit, nodeExporter });
  });

  it('prints the readable-by line with the key that sets the floor', () => {
    expect(describeCompatibility(compatibility({ tls_server_config: { ...TLS, client_allowed_sans: ['p'] }, http_server_config: { headers: {} } }))).toBe(
      'readable by: scrapeguard, exporter-toolkit >= v0.10.0 (node_exporter >= 1.6.0; for tls_server_config.client_allowed_sans)',
    );
    expect(describeCompatibility(compatibility({ tls_server_config: TLS }))).toBe(
      'readable by: scrapeguard, exporter-toolkit >= v0.1.0 (node_exporter >= 1.1.0)',
    );
  });

  it('names every scrapeguard extension key and calls the file scrapeguard-only', () => {
    const report = compatibility({
      tls_server_config: { ...TLS, some_new_tls_knob: 1 },
      http_server_config: { headers: {}, max_concurrent_streams: 100 },
      limits: { max_connections: 10 },
      bearer_auth: {},
      rate_limit: { interval: '1s', per_client: true },
    });
    expect(report.scrapeguardOnly).toEqual([
      'limits',
      'bearer_auth',
      'rate_limit.per_client',
      'tls_server_config.some_new_tls_knob',
      'http_server_config.max_concurrent_streams',
    ]);
    expect(describeCompatibility(report)).toMatch(
      /^readable by: scrapeguard only \(its extension keys limits, bearer_auth, .* are unknown to exporter-toolkit, which refuses unknown keys\)$/,
    );
  });

  it('maps a toolkit floor to the first upstream node_exporter built with it or newer', () => {
    expect(oldestNodeExporterFor('v0.8.2')).toBe('1.5.0');
    expect(oldestNodeExporterFor('v0.8.0')).toBe('1.5.0');
    expect(oldestNodeExporterFor('v0.17.1')).toBe('1.12.0');
    expect(oldestNodeExporterFor('v0.99.0')).toBeUndefined();
    // The table is in release order and the toolkit never goes backwards.
    for (let i = 1; i < NODE_EXPORTER_TOOLKIT.length; i++) {
      const [prev, cur] = [NODE_EXPORTER_TOOLKIT[i - 1], NODE_EXPORTER_TOOLKIT[i]];
      expect(oldestNodeExporterFor(cur![1])).toBe(NODE_EXPORTER_TOOLKIT.find(([, t]) => t === cur![1])![0]);
      expect(versionAtLeast(cur![0], prev![0]) && cur![0] !== prev![0]).toBe(true);
      expect(versionAtLeast(cur![1], prev![1])).toBe(true);
    }
  });
});

describe('parseCompatTarget (init --compat)', () => {
  it.each([
    ['node_exporter-1.5', 'node_exporter 1.5.0', 'v0.8.2'],
    ['node_exporter-1.5.0', 'node_exporter 1.5.0', 'v0.8.2'],
    ['node_exporter-v1.4.1', 'node_exporter 1.4.1', 'v0.7.2'],
    ['node_exporter-1.2.2', 'node_exporter 1.2.2', 'v0.6.0'],
    ['node_exporter-1.7', 'node_exporter 1.7.0', 'v0.10.0'],
    ['node_exporter-1.11', 'node_exporter 1.11.0', 'v0.16.0'],
    ['node_exporter-2.0', 'node_exporter 2.0.0', 'v0.17.1'],
    ['exporter-toolkit-v0.8.2', 'exporter-toolkit v0.8.2', 'v0.8.2'],
    ['exporter-toolkit-0.10.0', 'exporter-toolkit v0.10.0', 'v0.10.0'],
  ])('%s → %s (toolkit %s)', (text, label, toolkit) => {
    expect(parseCompatTarget(text)).toEqual({ label, toolkit });
  });

  it.each([
    ['node_exporter-1.0.1', /predates exporter-toolkit/],
    ['node_exporter-0.18', /predates exporter-toolkit/],
    ['prometheus-2.42', /not a known target/],
    ['node_exporter-', /not a known target/],
    ['node_exporter-1.5.0.1', /not a known target/],
    ['exporter-toolkit-v0.0.9', /start at v0\.1\.0/],
  ])('refuses %s', (text, message) => {
    expect(() => parseCompatTarget(text)).toThrow(message);
  });
});
