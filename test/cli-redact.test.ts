/**
 * `scrapeguard redact`: stdin → redacted stdout with the defaults or a config's rules, format
 * kept or switched to OpenMetrics, `--report` with counts and names but never values, fail closed
 * on text that does not parse, and ordinary exporter output passing through with the same series
 * and values.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { redactCommand } from '../src/tools/cli/redact.js';
import { runMain } from '../src/tools/cli/run.js';
import { parseExposition } from '../src/exposition/parse.js';
import { runCli } from './helpers/cli.js';

const fixtures = new URL('./fixtures/exposition/', import.meta.url).pathname;
const DUMP = [
  '# HELP app_db_up Whether the database answers (dsn=postgres://app:hunter2@db/app).',
  '# TYPE app_db_up gauge',
  'app_db_up{dsn="postgres://app:hunter2@db:5432/app",user="alice",password="pw1"} 1',
  'app_db_up{dsn="postgres://app:hunter2@db:5432/app",user="bob",password="pw2"} 1',
  '',
].join('\n');

describe('scrapeguard redact', () => {
  it('applies the defaults (secret detectors) without a config and reports counts, never values', async () => {
    const r = await runCli(redactCommand, ['--report'], { stdin: DUMP });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      '# HELP app_db_up [REDACTED]\n# TYPE app_db_up gauge\n' +
        'app_db_up{dsn="[REDACTED]",user="alice",password="pw1"} 1\napp_db_up{dsn="[REDACTED]",user="bob",password="pw2"} 1\n',
    );
    expect(r.stderr).toContain('detector url_credentials: 3 label values masked (labels: HELP of app_db_up, dsn)');
    expect(r.stderr).toContain('2 series written');
    expect(r.stderr).not.toMatch(/hunter2|alice|pw1/);
  });

  it("applies a config's rules, merges what became identical, writes OpenMetrics on request", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-redact-'));
    const config = join(dir, 'web.yml');
    writeFileSync(config, 'redaction:\n  drop_labels: [user, password]\n  redact_help: ["dsn=\\\\S+"]\n');
    const r = await runCli(redactCommand, ['--web.config.file', 'web.yml', '--openmetrics', '--report'], { stdin: DUMP, cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      '# TYPE app_db_up gauge\n# HELP app_db_up Whether the database answers ([REDACTED]\n# EOF\n'.replace(
        '[REDACTED]\n',
        '[REDACTED]\napp_db_up{dsn="[REDACTED]"} 2\n',
      ),
    );
    expect(r.stderr).toContain('drop_labels "user": 2 label values (labels: user)');
    expect(r.stderr).toContain('drop_labels "password": 2 label values (labels: password)');
    expect(r.stderr).toContain('redact_help "dsn=\\\\S+": 1 replacement (families: app_db_up)');
    expect(r.stderr).toContain('1 series merged into others');
    expect(r.stderr).not.toMatch(/hunter2|alice|pw1/);
  });

  it('keeps the input format: OpenMetrics in, OpenMetrics out', async () => {
    const input = readFileSync(join(fixtures, 'app-openmetrics.prom'), 'utf8');
    const r = await runCli(redactCommand, [], { stdin: input });
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith('# EOF\n')).toBe(true);
    expect(parseExposition(r.stdout, 'openmetrics')).toEqual(parseExposition(input, 'openmetrics'));
  });

  it.each(['node-exporter.prom', 'kube-state-metrics.prom'])('passes %s through: same series, same values', async (file) => {
    const input = readFileSync(join(fixtures, file), 'utf8');
    const r = await runCli(redactCommand, ['--report'], { stdin: input });
    expect(r.code).toBe(0);
    expect(parseExposition(r.stdout, 'text')).toEqual(parseExposition(input, 'text'));
    expect(r.stderr).toContain('nothing redacted');
  });

  it('refuses text it cannot parse: exit 1, the line on stderr, nothing on stdout', async () => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const io = {
      stdin: (await import('node:stream')).Readable.from([Buffer.from('ok 1\nbad{dsn="postgres://a:hunter2@x/y" 1\n')]),
      stdout: { write: (s: string) => stdout.push(s) },
      stderr: { write: (s: string) => stderr.push(s) },
      env: {},
      cwd: process.cwd(),
      stopSignal: new Promise<void>(() => {}),
      onReloadSignal: () => () => {},
    };
    const code = await runMain(['redact'], io as never);
    expect(code).toBe(1);
    expect(stdout.join('')).toBe('');
    expect(stderr.join('')).toMatch(/^scrapeguard redact: line 2:\d+: expected "," or "}"/);
    expect(stderr.join('')).not.toContain('hunter2');
  });

  it('has --help and is listed in the usage', async () => {
    const r = await runCli(redactCommand, ['--help']);
    expect(r.stdout).toContain('Usage: scrapeguard redact');
    const out: string[] = [];
    await runMain(['--help'], { stdout: { write: (s: string) => out.push(s) } } as never);
    expect(out.join('')).toMatch(/redact\s+redact exposition text/);
  });
});
