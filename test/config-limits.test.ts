/**
 * The connection-budget and HTTP/2 keys of `limits` (issue #14 §2–3): defaults, accepted values,
 * and strict refusals that name file, line and key path — as the other `limits` keys.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigObject } from '../src/config/load.js';
import { issuesOf } from './helpers/config-issues.js';

let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-config-limits-'));
});

/** Writes a config (one array element per line, so line numbers read off the index) and returns its path. */
function write(lines: readonly string[]): string {
  const file = join(dir, `web-config-${++counter}.yml`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

async function refusedAt(lines: readonly string[], path: string, line: number, ...parts: string[]): Promise<void> {
  const file = write(lines);
  const issues = await issuesOf(loadConfigFile(file));
  const found = issues.filter((i) => i.path === path);
  expect(found, JSON.stringify(issues)).toHaveLength(1);
  expect(found[0]!.file).toBe(file);
  expect(found[0]!.line).toBe(line);
  for (const part of parts) expect(found[0]!.message).toContain(part);
}

describe('connection budget and HTTP/2 keys: defaults', () => {
  it('without limits: 32 connections per client, 5 s handshake, 100 HTTP/2 streams per session, 8 per client', async () => {
    const config = await loadConfigFile(write(['# defaults']));
    expect(config.limits).toMatchObject({
      maxConnections: 512,
      maxConnectionsPerClient: 32,
      handshakeTimeoutMs: 5000,
      http2MaxConcurrentStreams: 100,
      http2MaxStreamsPerClient: 8,
    });
  });

  it('handshake_timeout defaults to read_header_timeout when that is shorter, and an explicit value wins', async () => {
    expect((await loadConfigFile(write(['limits:', '  read_header_timeout: 2s']))).limits.handshakeTimeoutMs).toBe(2000);
    expect((await loadConfigFile(write(['limits:', '  read_header_timeout: 20s', '  request_timeout: 30s']))).limits.handshakeTimeoutMs).toBe(5000);
    expect((await loadConfigFile(write(['limits:', '  read_header_timeout: 2s', '  handshake_timeout: 3s']))).limits.handshakeTimeoutMs).toBe(3000);
  });

  it('explicit values, and 0 to disable the per-address caps', async () => {
    const config = await loadConfigFile(
      write([
        'limits:',
        '  max_connections_per_client: 0',
        '  handshake_timeout: 1500ms',
        '  http2_max_concurrent_streams: 250',
        '  http2_max_streams_per_client: 0',
      ]),
    );
    expect(config.limits).toMatchObject({ maxConnectionsPerClient: 0, handshakeTimeoutMs: 1500, http2MaxConcurrentStreams: 250, http2MaxStreamsPerClient: 0 });
    const inCode = await loadConfigObject({ limits: { max_connections_per_client: 4, http2_max_streams_per_client: 2 } });
    expect(inCode.limits).toMatchObject({ maxConnectionsPerClient: 4, http2MaxStreamsPerClient: 2 });
  });
});

describe('connection budget and HTTP/2 keys: refused', () => {
  it('negative, fractional or non-numeric per-client caps', async () => {
    await refusedAt(['limits:', '  max_connections_per_client: -1'], 'limits.max_connections_per_client', 2, 'must be at least 0, got -1');
    await refusedAt(['limits:', '  max_connections_per_client: 2.5'], 'limits.max_connections_per_client', 2, 'expected an integer');
    await refusedAt(['limits:', '  max_connections_per_client: many'], 'limits.max_connections_per_client', 2, 'expected an integer');
    await refusedAt(['limits:', '  http2_max_streams_per_client: -3'], 'limits.http2_max_streams_per_client', 2, 'must be at least 0');
  });

  it('http2_max_concurrent_streams of 0 or beyond 31 bits', async () => {
    await refusedAt(['limits:', '  http2_max_concurrent_streams: 0'], 'limits.http2_max_concurrent_streams', 2, 'must be at least 1, got 0');
    await refusedAt(['limits:', '  http2_max_concurrent_streams: 4294967296'], 'limits.http2_max_concurrent_streams', 2, 'too large');
  });

  it('handshake_timeout zero, negative, malformed, sub-millisecond or too large', async () => {
    await refusedAt(['limits:', '  handshake_timeout: 0s'], 'limits.handshake_timeout', 2, 'must be greater than 0');
    await refusedAt(['limits:', '  handshake_timeout: -1s'], 'limits.handshake_timeout', 2);
    await refusedAt(['limits:', '  handshake_timeout: soon'], 'limits.handshake_timeout', 2, 'invalid duration "soon"');
    await refusedAt(['limits:', '  handshake_timeout: 10ns'], 'limits.handshake_timeout', 2, 'must be at least 1ms');
    await refusedAt(['limits:', '  handshake_timeout: 600h'], 'limits.handshake_timeout', 2, 'too large');
  });

  it('a misspelled key is refused with its path', async () => {
    await refusedAt(['limits:', '  max_connection_per_client: 8'], 'limits.max_connection_per_client', 2, 'unknown key');
  });

  it('every new key wrong at once: one issue each, in file order', async () => {
    const issues = await issuesOf(
      loadConfigFile(
        write([
          'limits:',
          '  max_connections_per_client: -1',
          '  handshake_timeout: 0s',
          '  http2_max_concurrent_streams: 0',
          '  http2_max_streams_per_client: x',
        ]),
      ),
    );
    expect(issues.map((i) => [i.path, i.line])).toEqual([
      ['limits.max_connections_per_client', 2],
      ['limits.handshake_timeout', 3],
      ['limits.http2_max_concurrent_streams', 4],
      ['limits.http2_max_streams_per_client', 5],
    ]);
  });
});
