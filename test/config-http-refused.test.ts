/**
 * The config loader refuses HTTP settings exporter-toolkit refuses, and those Node cannot honour:
 * headers outside the allow-list or with bad values, plaintext or malformed basic-auth hashes and
 * user names, rate limits that refuse everything, and limits or timeouts out of range.
 */
import { describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigObject } from '../src/config/load.js';
import { issuesOf } from './helpers/config-issues.js';
import { hashA, issueAt, refusedFile, tlsFiles, useConfigFiles, write } from './helpers/config-files.js';

useConfigFiles();

describe('refused: HTTP headers', () => {
  it('a header outside the allow-list (toolkit headers_extra_header.bad)', async () => {
    await refusedFile(
      ['http_server_config:', '  headers:', '    Content-Type: foo'],
      'http_server_config.headers.Content-Type',
      3,
      'HTTP header "Content-Type" can not be configured',
    );
  });

  it('header names are case-sensitive, as in the toolkit', async () => {
    await refusedFile(
      ['http_server_config:', '  headers:', '    x-frame-options: deny'],
      'http_server_config.headers.x-frame-options',
      3,
      'can not be configured',
      'write "X-Frame-Options"',
    );
  });

  it('X-Content-Type-Options other than nosniff (toolkit content_type_options.bad)', async () => {
    await refusedFile(
      ['http_server_config:', '  headers:', '    X-Content-Type-Options: sniff'],
      'http_server_config.headers.X-Content-Type-Options',
      3,
      'invalid value for X-Content-Type-Options. Expected one of: ["nosniff"], but got: "sniff"',
    );
  });

  it('X-Frame-Options other than deny or sameorigin (toolkit frame_options.bad)', async () => {
    await refusedFile(
      ['http_server_config:', '  headers:', '    X-Frame-Options: foo'],
      'http_server_config.headers.X-Frame-Options',
      3,
      'invalid value for X-Frame-Options. Expected one of: ["deny" "sameorigin"], but got: "foo"',
    );
  });

  it('an empty or control-character value', async () => {
    const issues = await issuesOf(
      loadConfigObject({
        http_server_config: { headers: { 'Strict-Transport-Security': '', 'Content-Security-Policy': "default-src 'self'\r\nSet-Cookie: x" } },
      }),
    );
    issueAt(issues, 'http_server_config.headers.Strict-Transport-Security', 'empty value');
    issueAt(issues, 'http_server_config.headers.Content-Security-Policy', 'control character');
  });

  it('a value outside Latin-1 (Node cannot write it: every scrape would fail)', async () => {
    const issues = await issuesOf(loadConfigObject({ http_server_config: { headers: { 'Content-Security-Policy': "default-src 'self' https://€.example" } } }));
    issueAt(issues, 'http_server_config.headers.Content-Security-Policy', 'outside Latin-1');
  });
});

describe('refused: basic auth users', () => {
  it('a plaintext password (toolkit user_list_invalid.bad), without echoing it', async () => {
    const issue = await refusedFile(
      [...tlsFiles(), 'basic_auth_users:', '  john: doe'],
      'basic_auth_users.john',
      5,
      'crypto/bcrypt: hashedSecret too short to be a bcrypted password',
      'scrapeguard hash-password',
    );
    expect(issue.message).not.toMatch(/\bdoe\b/);
  });

  it('malformed hashes', async () => {
    const tail = hashA.slice(7);
    const issues = await issuesOf(
      loadConfigObject({
        basic_auth_users: {
          prefix: `$3a$10$${tail}`,
          cost: `$2b$03$${tail}`,
          highcost: `$2b$32$${tail}`,
          long: `${hashA}x`,
          alphabet: `$2b$10$${tail.slice(0, -1)}!`,
          costdigits: `$2b$1x$${tail}`,
          number: 123456,
          nothing: null,
        },
      }),
    );
    issueAt(issues, 'basic_auth_users.prefix', 'must start with $2a$, $2b$ or $2y$');
    issueAt(issues, 'basic_auth_users.cost', 'cost 3 is outside allowed inclusive range 4..31');
    issueAt(issues, 'basic_auth_users.highcost', 'cost 32 is outside');
    issueAt(issues, 'basic_auth_users.long', 'exactly 60 characters');
    issueAt(issues, 'basic_auth_users.alphabet', 'bcrypt base64 alphabet');
    issueAt(issues, 'basic_auth_users.costdigits', 'cost must be two digits');
    issueAt(issues, 'basic_auth_users.number', 'too short');
    issueAt(issues, 'basic_auth_users.nothing', 'no bcrypt hash given for user "nothing"');
    for (const issue of issues) expect(issue.message).not.toContain(tail.slice(0, 20));
  });

  it('an empty user name, or one with a colon', async () => {
    const issues = await issuesOf(loadConfigFile(write(['basic_auth_users:', `  "": ${hashA}`, `  "a:b": ${hashA}`])));
    expect(issueAt(issues, 'basic_auth_users[""]', 'empty user name').line).toBe(2);
    expect(issueAt(issues, 'basic_auth_users["a:b"]', 'contains ":"', 'RFC 7617').line).toBe(3);
  });
});

describe('refused: rate limit and limits', () => {
  it('burst 0 with an interval refuses every request (toolkit rate_limiter_one_second)', async () => {
    await refusedFile(['rate_limit:', '  interval: "1s"', '  burst: 0'], 'rate_limit.burst', 3, 'at least 1', 'refuses every request');
  });

  it('an interval without burst, and burst without interval', async () => {
    await refusedFile(['rate_limit:', '  interval: 1s'], 'rate_limit', 1, 'missing burst');
    await refusedFile(['rate_limit:', '  burst: 10'], 'rate_limit', 1, 'interval is missing');
  });

  it('negative or malformed durations', async () => {
    await refusedFile(['rate_limit:', '  interval: -1s', '  burst: 1'], 'rate_limit.interval', 2, 'must not be negative', '"-1s"');
    await refusedFile(['rate_limit:', '  interval: 30', '  burst: 1', '  extra: 1'], 'rate_limit.extra', 4, 'unknown key');
    await refusedFile(['rate_limit:', '  interval: 1x', '  burst: 1'], 'rate_limit.interval', 2, 'invalid duration "1x"');
    await refusedFile(['rate_limit:', '  interval: 1.5', '  burst: 1'], 'rate_limit.interval', 2, 'must be an integer', '"1.5s"');
    await refusedFile(['rate_limit:', '  interval: -2s', '  burst: -1'], 'rate_limit.burst', 3, 'must be at least 0');
  });

  it('limits out of range', async () => {
    const file = write([
      'limits:',
      '  max_connections: 0',
      '  read_header_timeout: 0s',
      '  request_timeout: soon',
      '  idle_timeout: -5s',
      '  max_header_bytes: -1',
      '  max_concurrent_bcrypt: 2.5',
      '  per_client_rate_limit:',
      '    interval: 1s',
      '    burst: 0',
    ]);
    const issues = await issuesOf(loadConfigFile(file));
    expect(issues.map((i) => [i.path, i.line])).toEqual([
      ['limits.max_connections', 2],
      ['limits.read_header_timeout', 3],
      ['limits.request_timeout', 4],
      ['limits.idle_timeout', 5],
      ['limits.max_header_bytes', 6],
      ['limits.max_concurrent_bcrypt', 7],
      ['limits.per_client_rate_limit.burst', 10],
    ]);
    expect(issues[0]!.message).toContain('must be at least 1, got 0');
    expect(issues[1]!.message).toContain('must be greater than 0');
    expect(issues[2]!.message).toContain('invalid duration "soon"');
  });

  it('a header timeout longer than the request timeout', async () => {
    await refusedFile(
      ['limits:', '  request_timeout: 5s'],
      'limits.request_timeout',
      2,
      'read_header_timeout (10s, the default) must not exceed request_timeout (5s)',
    );
    await refusedFile(['limits:', '  read_header_timeout: 1m', '  request_timeout: 30s'], 'limits.read_header_timeout', 2, 'must not exceed');
  });

  it('a sub-millisecond timeout (a typo for seconds)', async () => {
    await refusedFile(['limits:', '  read_header_timeout: 10ns'], 'limits.read_header_timeout', 2, 'must be at least 1ms', '"10ns"');
  });

  it('a timeout beyond what Node timers take', async () => {
    await refusedFile(['limits:', '  idle_timeout: 600h'], 'limits.idle_timeout', 2, 'too large');
  });
});
