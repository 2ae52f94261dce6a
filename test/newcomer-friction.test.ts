/**
 * The newcomer frictions of issue #18, each fixed and held here: mounted mode gets its TLS options
 * from the guard, `check FILE` works as promtool's does, a tab-indented YAML file gives one
 * error, and old CLI flag names keep working while saying their new name. (The `next` typing of
 * metricsHandler is held by test/adapter-types.test.ts, at type-check time.)
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, silentLogger, type Guard } from '../src/index.js';
import { metricsHandler } from '../src/adapters/http.js';
import { loadConfigFile } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { checkCommand } from '../src/tools/cli/check.js';
import { runMain } from '../src/tools/cli/run.js';
import { runCli } from './helpers/cli.js';
import { scrape } from './helpers/client.js';
import { testPki, type TestPki } from './helpers/pki.js';

const cli = (argv: string[]) => runCli((a, io) => runMain(a, io), argv);

let pki: TestPki;
const dir = mkdtempSync(join(tmpdir(), 'sg-friction-'));
beforeAll(async () => {
  pki = await testPki();
});

describe('guard.tlsOptions() for a server you run', () => {
  let guard: Guard;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    guard = await createGuard({
      config: {
        tls_server_config: {
          cert_file: pki.server.certFile,
          key_file: pki.server.keyFile,
          client_ca_file: pki.ca.certFile,
          client_auth_type: 'RequireAndVerifyClientCert',
        },
      },
      source: () => 'up 1\n',
      logger: silentLogger,
      watch: false,
    });
    const app = (_req: IncomingMessage, res: ServerResponse): void => {
      res.end('app\n');
    };
    server = createHttpsServer(guard.tlsOptions()!, metricsHandler(guard, { next: app }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    await guard.close();
  });

  it('asks for the client certificate the config requires, so the guard can apply client_auth_type', async () => {
    const options = guard.tlsOptions()!;
    expect(options.requestCert).toBe(true);
    expect(options.rejectUnauthorized).toBe(false);
    expect(options.ca).toBe(pki.ca.certPem);
    const ok = await scrape(`${url}/metrics`, { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('up 1');
  });

  it('a scrape without a client certificate gets no metrics; the application still answers', async () => {
    const refused = await scrape(`${url}/metrics`, { ca: pki.ca.certPem });
    expect(refused.body).not.toContain('up 1');
    expect(refused.status === undefined || refused.status >= 400).toBe(true);
    expect((await scrape(`${url}/app`, { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem })).body).toBe('app\n');
  });

  it('carries the default TLS profile (versions and suites), and is undefined without TLS', async () => {
    const options = guard.tlsOptions()!;
    expect(options.minVersion).toBe('TLSv1.2');
    expect(options.ciphers).toContain('ECDHE-ECDSA-AES128-GCM-SHA256');
    expect(options.ciphers).not.toMatch(/CBC|SHA1\b|:AES128-SHA/);
    const plain = await createGuard({ source: () => '', logger: silentLogger, watch: false });
    expect(plain.tlsOptions()).toBeUndefined();
    await plain.close();
  });
});

describe('scrapeguard check FILE', () => {
  const file = join(dir, 'web-config.yml');
  beforeAll(() => writeFileSync(file, 'basic_auth_users: {}\n'));

  it('takes the file as its one argument, as promtool check config does', async () => {
    const result = await runCli(checkCommand, [file]);
    expect(result.stderr).toBe('');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`${file} SUCCESS`);
  });

  it('refuses two files, or a file given both ways', async () => {
    expect((await cli(['check', file, file])).stderr).toContain('check takes one FILE, got 2');
    expect((await cli(['check', '--web.config.file', file, file])).stderr).toContain('not both');
  });
});

describe('tab-indented YAML', () => {
  it('is one error naming every tab-indented line, not a cascade', async () => {
    const file = join(dir, 'tabs.yml');
    writeFileSync(file, 'tls_server_config:\n  cert_file: a.crt\n\tkey_file: a.key\n  client_ca_file: x\nbasic_auth_users:\n\tfoo: bar\n\tbar: baz\n');
    const error = await loadConfigFile(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues;
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file, line: 3, message: 'tabs are not allowed as indentation in YAML (also on lines 6, 7): indent with spaces' });
  });
});

describe('CLI flag names', () => {
  it('scan: --ca, --cert, --key are now --ca-file, --cert-file, --key-file; the old names still work and say so', async () => {
    const result = await cli(['scan', 'https://127.0.0.1:1/metrics', '--ca', join(dir, 'missing.crt')]);
    expect(result.stderr).toContain('warning: --ca is now --ca-file');
    // The value reached the new flag: the error names it.
    expect(result.stderr).toContain('--ca-file');
    expect(result.stderr).toContain('ENOENT');
    const pair = await cli(['scan', 'https://127.0.0.1:1/metrics', '--cert', 'c.pem']);
    expect(pair.stderr).toContain('--cert-file and --key-file go together');
  });
});
