/**
 * `scrapeguard serve --upstream`: the sidecar flags, in-process. Malformed or weakening
 * combinations are usage errors; a working sidecar serves the upstream parsed and redacted and
 * answers 502 while the upstream misbehaves. (test/e2e/sidecar.test.ts runs the built CLI in
 * front of the real node_exporter.)
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { serveCommand } from '../src/tools/cli/serve.js';
import { ScrapeguardError } from '../src/errors.js';
import { scrape } from './helpers/client.js';
import { runCli } from './helpers/cli.js';
import { freePort, sleep } from './e2e/support.js';

const servers: Server[] = [];
afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

async function usageError(argv: string[]): Promise<string> {
  const error = await runCli(serveCommand, argv).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ScrapeguardError);
  expect((error as ScrapeguardError).code).toBe('USAGE');
  return (error as Error).message;
}

describe('serve --upstream', () => {
  it.each([
    [['--upstream', 'http://127.0.0.1:9100/metrics', '--registry', 'x.js'], /cannot be combined/],
    [['--upstream.timeout', '5s'], /need --upstream URL/],
    [['--upstream', 'http://127.0.0.1:9100/metrics', '--upstream.timeout', 'soon'], /--upstream.timeout must be a positive Go duration/],
    [['--upstream', 'http://127.0.0.1:9100/metrics', '--upstream.max-bytes', '12'], /--upstream.max-bytes must be an integer/],
    [['--upstream', 'https://exporter.example.com/metrics', '--upstream.insecure-skip-verify'], /only allowed for a loopback upstream/],
    [['--upstream', 'ftp://127.0.0.1/metrics'], /http:\/\/ or https:\/\//],
    [['--upstream', 'https://127.0.0.1/metrics', '--upstream.ca-file', '/nonexistent/ca.pem'], /--upstream.ca-file .*cannot read: ENOENT/],
  ])('%j is a usage error', async (argv, message) => {
    expect(await usageError(argv)).toMatch(message);
  });

  it('serves the upstream parsed and redacted, 502 while it answers garbage', async () => {
    let garbage = false;
    const upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(garbage ? 'not { metrics' : 'db_up{dsn="mysql://root:hunter2@db:3306/x"} 1\n');
    });
    servers.push(upstream);
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const port = await freePort();
    let stop!: () => void;
    const stopSignal = new Promise<void>((r) => (stop = r));
    const run = runCli(
      serveCommand,
      ['--web.listen-address', `127.0.0.1:${port}`, '--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/metrics`],
      { stopSignal },
    );
    let r = await scrape(`http://127.0.0.1:${port}/metrics`);
    for (let i = 0; i < 50 && r.status === undefined; i++) {
      await sleep(100);
      r = await scrape(`http://127.0.0.1:${port}/metrics`);
    }
    expect(r.status).toBe(200);
    expect(r.body.startsWith('# TYPE db_up untyped\ndb_up{dsn="[REDACTED]"} 1\n')).toBe(true);
    garbage = true;
    expect((await scrape(`http://127.0.0.1:${port}/metrics`)).status).toBe(502);
    garbage = false;
    // The sidecar's own metrics ride along with the upstream's.
    const after = await scrape(`http://127.0.0.1:${port}/metrics`);
    expect(after.body).toContain('scrapeguard_source_errors_total{reason="parse"} 1\n');
    expect(after.body).toContain('scrapeguard_secrets_detected_total{detector="url_credentials"} 1\n');
    stop();
    const result = await run;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('metrics source failed');
    expect(result.stderr).not.toContain('hunter2');
  });
});
