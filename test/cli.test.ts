/**
 * The `scrapeguard` CLI as a whole: in-process through `runMain` (captured streams, a stop
 * signal and a reload trigger the test controls) and as a real child process (`node dist/cli.js`)
 * with real signals. `serve` is scraped over real sockets with the PKI `init` wrote.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCommand } from '../src/tools/cli/init.js';
import type { CliIo } from '../src/tools/cli/io.js';
import { runMain } from '../src/tools/cli/run.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { scrape } from './helpers/client.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const COMMANDS = ['serve', 'check', 'init', 'scrape-config', 'hash-password', 'demo'];
const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `scrapeguard-cli-${prefix}-`));
const PROM_CLIENT_URL = pathToFileURL(createRequire(import.meta.url).resolve('prom-client')).href;

/** A module exporting a prom-client registry with one distinctive metric. */
function writeRegistryModule(dir: string, metric: string): string {
  const file = join(dir, 'registry.mjs');
  writeFileSync(
    file,
    [
      `import client from ${JSON.stringify(PROM_CLIENT_URL)};`,
      'export const registry = new client.Registry();',
      `const g = new client.Gauge({ name: ${JSON.stringify(metric)}, help: 'From the --registry module.', registers: [registry] });`,
      'g.set(42);',
      '',
    ].join('\n'),
  );
  return file;
}

/** Runs the whole CLI in-process. */
const main = (argv: string[], cwd?: string): Promise<CliResult> => runCli(runMain, argv, cwd ? { cwd } : {});

/** A long-running in-process command (serve) whose output is read while it runs. */
function startInProcess(argv: string[], cwd: string) {
  let out = '';
  let err = '';
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  let stop!: () => void;
  const reloadListeners = new Set<() => void>();
  const stdin = new PassThrough();
  stdin.end();
  const io: CliIo = {
    stdin,
    stdout,
    stderr,
    env: {},
    cwd,
    stopSignal: new Promise<void>((r) => (stop = r)),
    onReloadSignal(listener) {
      reloadListeners.add(listener);
      return () => reloadListeners.delete(listener);
    },
  };
  const done = runMain(argv, io);
  return {
    done,
    stdout: () => out,
    stderr: () => err,
    stop,
    hup: () => reloadListeners.forEach((l) => l()),
    reloadListeners,
  };
}

/** A child process running dist/cli.js with collected output. */
function startChild(argv: string[], cwd: string) {
  const child = spawn(process.execPath, [CLI, ...argv], { cwd, env: { ...process.env, NODE_OPTIONS: '' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return { child, exited, stdout: () => out, stderr: () => err };
}

/** Runs dist/cli.js to completion. */
async function runChild(argv: string[], cwd = ROOT): Promise<CliResult> {
  const c = startChild(argv, cwd);
  const { code } = await c.exited;
  return { code: code ?? -1, stdout: c.stdout(), stderr: c.stderr() };
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const LISTENING = /listening on (https?):\/\/127\.0\.0\.1:(\d+)\/metrics\n/;
const listeningUrl = (stdout: string): string | undefined => {
  const m = LISTENING.exec(stdout);
  return m ? `${m[1]}://127.0.0.1:${m[2]}/metrics` : undefined;
};

/** One-issue-per-line check output: `scrapeguard check: FILE:LINE[:COL]: [KEY: ]message`, no stack. */
function expectIssueLines(result: CliResult, file: string, expected: { key: string; line: number; message: RegExp }[]): void {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr).not.toMatch(/internal error|Error:/);
  const lines = result.stderr.split('\n').filter(Boolean);
  for (const line of lines) expect(line.startsWith(`scrapeguard check: ${file}:`)).toBe(true);
  for (const e of expected) {
    const prefix = `scrapeguard check: ${file}:${e.line}:`;
    const hit = lines.find((l) => l.startsWith(prefix) && (e.key === '' || l.includes(` ${e.key}: `)) && e.message.test(l));
    expect(hit, `expected a line starting ${prefix} naming ${e.key} matching ${e.message} in:\n${result.stderr}`).toBeDefined();
  }
}

let pkiDir: string; // written by `scrapeguard init`
let cwd: string;

beforeAll(async () => {
  if (!existsSync(CLI)) {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
  }
  cwd = tmp('cwd');
  pkiDir = join(cwd, 'pki');
  const init = await runCli(initCommand, ['pki'], { cwd });
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
}, 120_000);

describe('help, version and unknown commands', () => {
  it.each(COMMANDS)('in-process: %s --help exits 0 with its usage', async (command) => {
    const r = await main([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: scrapeguard ${command}`));
    expect(r.stderr).toBe('');
    expect((await main([command, '-h'])).code).toBe(0);
  });

  it('in-process: top-level --help lists every command; no command is a usage error', async () => {
    const help = await main(['--help']);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.stdout).toContain(`  ${c}`);
    const none = await main([]);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/^Usage: scrapeguard COMMAND/);
    expect((await main(['--version'])).stdout).toMatch(/^scrapeguard \d+\.\d+\.\d+\n$/);
  });

  it('in-process: unknown command and unknown option exit 1 with one message, no stack', async () => {
    const unknown = await main(['frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/^scrapeguard: unknown command "frobnicate"\n/);
    const badOption = await main(['check', '--no-such-option']);
    expect(badOption.code).toBe(1);
    expect(badOption.stderr).toMatch(/^scrapeguard check: [^\n]*--no-such-option[^\n]*\n$/);
    const missing = await main(['check']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('scrapeguard check: --web.config.file FILE (or FILE) is required\n');
  });

  it('child process: every --help exits 0, unknown command exits 1', async () => {
    const results = await Promise.all([...COMMANDS.map((c) => runChild([c, '--help'])), runChild(['--help']), runChild(['frobnicate'])]);
    for (const [i, c] of COMMANDS.entries()) {
      expect(results[i]!.code, `${c} --help: ${results[i]!.stderr}`).toBe(0);
      expect(results[i]!.stdout).toMatch(new RegExp(`^Usage: scrapeguard ${c}`));
    }
    expect(results[COMMANDS.length]!.code).toBe(0);
    const unknown = results[COMMANDS.length + 1]!;
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^scrapeguard: unknown command "frobnicate"/);
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('check', () => {
  it('a valid file (from init) prints the TLS profile in force, "FILE SUCCESS", the releases that can read it, and exits 0', async () => {
    const expected = new RegExp(
      '^TLS profile: mozilla-intermediate \\(versions TLS12-TLS13; TLS 1\\.2 suites [^)]*\\)\n' +
        'pki/web-config\\.yml SUCCESS\n' +
        'readable by: scrapeguard, exporter-toolkit >= v0\\.10\\.0 \\(node_exporter >= 1\\.6\\.0; for tls_server_config\\.client_allowed_sans\\)\n$',
    );
    const r = await main(['check', '--web.config.file', 'pki/web-config.yml'], cwd);
    expect(r).toEqual({ code: 0, stdout: expect.stringMatching(expected), stderr: '' });
    const child = await runChild(['check', '--web.config.file', 'pki/web-config.yml'], cwd);
    expect(child).toEqual({ code: 0, stdout: expect.stringMatching(expected), stderr: '' });
  });

  const tls = (extra = '') => `tls_server_config:\n  cert_file: ${join('pki', 'server.crt')}\n  key_file: ${join('pki', 'server.key')}\n${extra}`;
  const cases: { name: string; yaml: () => string; issues: { key: string; line: number; message: RegExp }[] }[] = [
    {
      name: 'unknown key',
      yaml: () => tls('  cert_filse: x.crt\n'),
      issues: [{ key: 'tls_server_config.cert_filse', line: 4, message: /unknown key/ }],
    },
    {
      name: 'invalid client_auth_type',
      yaml: () => tls('  client_auth_type: Sometimes\n'),
      issues: [{ key: 'tls_server_config.client_auth_type', line: 4, message: /invalid ClientAuth: "Sometimes"/ }],
    },
    {
      name: 'plaintext password instead of a bcrypt hash',
      yaml: () => tls('basic_auth_users:\n  prometheus: hunter2\n'),
      issues: [{ key: 'basic_auth_users.prometheus', line: 5, message: /too short to be a bcrypted password/ }],
    },
    {
      name: 'missing certificate file',
      yaml: () => 'tls_server_config:\n  cert_file: does-not-exist.crt\n  key_file: pki/server.key\n',
      issues: [{ key: 'tls_server_config.cert_file', line: 2, message: /does-not-exist\.crt.*ENOENT/ }],
    },
    {
      name: 'disallowed header value',
      yaml: () => tls('http_server_config:\n  headers:\n    X-Frame-Options: allow-all\n'),
      issues: [{ key: 'http_server_config.headers.X-Frame-Options', line: 6, message: /invalid value for X-Frame-Options/ }],
    },
    {
      name: 'several problems at once',
      yaml: () => tls('  min_version: TLS14\n  curve_preferences: [CurveP999]\nrate_limit:\n  burst: lots\n'),
      issues: [
        { key: 'tls_server_config.min_version', line: 4, message: /unknown TLS version: "TLS14"/ },
        { key: 'tls_server_config.curve_preferences[0]', line: 5, message: /unknown curve: "CurveP999"/ },
        { key: 'rate_limit.burst', line: 7, message: /expected an integer/ },
      ],
    },
    {
      name: 'YAML syntax error',
      yaml: () => 'tls_server_config:\n  cert_file: [unclosed\n  key_file: x\n',
      issues: [{ key: '', line: 3, message: /Flow sequence/ }],
    },
  ];

  it.each(cases)('$name: exit 1, one line per issue naming key and line, no stack trace', async ({ name, yaml, issues }) => {
    const file = join(cwd, `${name.replace(/\W+/g, '-')}.yml`);
    writeFileSync(file, yaml());
    const r = await main(['check', '--web.config.file', file], cwd);
    expectIssueLines(r, file, issues);
    if (issues.length > 1) expect(r.stderr.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(issues.length);
    expect(r.stderr).not.toContain('hunter2');
  });

  it('child process: an invalid file exits 1 with the same one-line messages', async () => {
    const file = join(cwd, 'child-invalid.yml');
    writeFileSync(file, tls('  client_auth_type: Sometimes\n  cert_filse: y\n'));
    const r = await runChild(['check', '--web.config.file', file], cwd);
    expectIssueLines(r, file, [
      { key: 'tls_server_config.client_auth_type', line: 4, message: /invalid ClientAuth/ },
      { key: 'tls_server_config.cert_filse', line: 5, message: /unknown key/ },
    ]);
    const missing = await runChild(['check', '--web.config.file', join(cwd, 'nope.yml')], cwd);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^scrapeguard check: cannot read config file "[^"]*nope\.yml": ENOENT[^\n]*\n$/);
  });
});

describe('serve (child process, config from init)', () => {
  let server: ReturnType<typeof startChild> | undefined;
  afterAll(() => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  });

  it('serves default and self metrics behind mTLS + basic auth, reloads on SIGHUP, exits 0 on SIGTERM', async () => {
    const configFile = join(pkiDir, 'web-config.yml');
    server = startChild(['serve', '--web.config.file', configFile, '--web.listen-address', '127.0.0.1:0'], cwd);
    const url = await until('listening line', () => listeningUrl(server!.stdout()) ?? (server!.child.exitCode !== null ? 'exited' : undefined));
    expect(url, server.stderr()).toMatch(/^https:/);

    const read = (f: string) => readFileSync(join(pkiDir, f), 'utf8');
    const creds = { ca: read('ca.crt'), cert: read('client.crt'), key: read('client.key') };
    const auth = `prometheus:${read('password')}`;
    const ok = await scrape(url, { ...creds, auth });
    expect(ok.status, ok.error ?? ok.body).toBe(200);
    expect(ok.body).toMatch(/^process_cpu_user_seconds_total /m);
    expect(ok.body).toMatch(/^scrapeguard_config_reloads_total\{result="failure"\} 0$/m);
    expect(ok.body).toMatch(/^# TYPE scrapeguard_auth_failures_total counter$/m);
    expect(ok.headers['content-security-policy']).toBeUndefined();
    expect(ok.headers['x-frame-options']).toBe('deny');
    expect((await scrape(url, { ...creds, auth: 'prometheus:wrong' })).status).toBe(401);
    const noCert = await scrape(url, { ca: creds.ca, auth });
    expect(noCert.status).toBeUndefined();
    expect(noCert.error).toBeDefined();

    // Add a header, then SIGHUP (the file watcher may also pick it up; either way it applies).
    const yaml = readFileSync(configFile, 'utf8');
    expect(yaml).toContain('    X-Frame-Options: deny\n');
    writeFileSync(configFile, yaml.replace('    X-Frame-Options: deny\n', "    X-Frame-Options: deny\n    Content-Security-Policy: default-src 'none'\n"));
    server.child.kill('SIGHUP');
    const withHeader = await until('the new header', async () => {
      const r = await scrape(url, { ...creds, auth });
      return r.headers['content-security-policy'] ? r : undefined;
    });
    expect(withHeader.status).toBe(200);
    expect(withHeader.headers['content-security-policy']).toBe("default-src 'none'");
    await until('SIGHUP log line', () => (server!.stderr().includes('SIGHUP') ? true : undefined));
    expect(server.child.exitCode).toBeNull(); // SIGHUP did not kill it

    const t0 = Date.now();
    server.child.kill('SIGTERM');
    const exit = await Promise.race([server.exited, sleep(3000).then(() => 'timeout' as const)]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(server.stderr()).not.toMatch(/level=error|internal error/);
    expect(server.stderr()).not.toContain(read('password'));
  }, 20_000);
});

describe('serve without a config, with --registry', () => {
  it('child process: warns on stderr, listens on plain HTTP, serves the module registry; SIGINT exits 0', async () => {
    const dir = tmp('registry');
    const module = writeRegistryModule(dir, 'custom_module_metric');
    const c = startChild(['serve', '--registry', module, '--web.listen-address', '127.0.0.1:0'], dir);
    try {
      const url = await until('listening line', () => listeningUrl(c.stdout()) ?? (c.child.exitCode !== null ? 'exited' : undefined));
      expect(url, c.stderr()).toMatch(/^http:\/\//);
      expect(c.stderr()).toMatch(/level=warn .*no --web.config.file/);
      expect(c.stderr()).toMatch(/level=warn .*TLS is disabled/);
      const r = await scrape(url);
      expect(r.status, r.errorMessage).toBe(200);
      expect(r.body).toMatch(/^custom_module_metric 42$/m);
      // Self metrics land in the module's registry; no default process_ metrics were added to it.
      expect(r.body).toMatch(/^scrapeguard_config_reloads_total\{result="success"\} 0$/m);
      expect(r.body).not.toMatch(/^process_cpu_user_seconds_total/m);
      c.child.kill('SIGINT');
      expect(await Promise.race([c.exited, sleep(3000).then(() => 'timeout')])).toEqual({ code: 0, signal: null });
    } finally {
      if (c.child.exitCode === null) c.child.kill('SIGKILL');
    }
  });

  it('in-process: no config → warning, plain HTTP with default metrics; reload trigger and stop work', async () => {
    const run = startInProcess(['serve', '--web.listen-address', '127.0.0.1:0', '--web.telemetry-path', '/custom'], cwd);
    try {
      const m = await until('listening line', () => /listening on (http:\/\/127\.0\.0\.1:\d+\/custom)\n/.exec(run.stdout()) ?? undefined);
      const url = m[1]!;
      expect(run.stderr()).toMatch(/level=warn .*no --web.config.file: serving plain HTTP without authentication/);
      const r = await scrape(url);
      expect(r.status, r.errorMessage).toBe(200);
      expect(r.body).toMatch(/^process_cpu_user_seconds_total /m);
      expect(r.body).toMatch(/^scrapeguard_config_reloads_total\{result="success"\} 0$/m);
      expect((await scrape(url.replace('/custom', '/metrics'))).status).toBe(404);
      expect(run.reloadListeners.size).toBe(1);
      run.hup();
      await until('reload log', () => (run.stderr().includes('SIGHUP: reloading configuration') ? true : undefined));
    } finally {
      run.stop();
    }
    expect(await run.done).toBe(0);
    expect(run.reloadListeners.size).toBe(0);
  });

  it('in-process: --registry MODULE serves that registry', async () => {
    const dir = tmp('registry-inproc');
    writeRegistryModule(dir, 'inprocess_module_metric');
    const run = startInProcess(['serve', '--registry', 'registry.mjs', '--web.listen-address', '127.0.0.1:0'], dir);
    try {
      const url = await until('listening line', async () => {
        if (run.stderr().includes('scrapeguard serve:')) throw new Error(run.stderr());
        return listeningUrl(run.stdout());
      });
      const r = await scrape(url);
      expect(r.status, r.errorMessage).toBe(200);
      expect(r.body).toMatch(/^inprocess_module_metric 42$/m);
    } finally {
      run.stop();
    }
    expect(await run.done).toBe(0);
  });

  it('in-process: a --registry module without a registry is a one-line usage error', async () => {
    const dir = tmp('registry-bad');
    writeFileSync(join(dir, 'empty.mjs'), 'export const nothing = 1;\n');
    const r = await main(['serve', '--registry', 'empty.mjs', '--web.listen-address', '127.0.0.1:0'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^scrapeguard serve: --registry empty\.mjs: [^\n]+\n$/);
    const missing = await main(['serve', '--registry', 'missing.mjs', '--web.listen-address', '127.0.0.1:0'], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^scrapeguard serve: --registry missing\.mjs: cannot import[^\n]*\n$/);
  });

  it('in-process: an invalid config file fails serve with one line per issue', async () => {
    const file = join(cwd, 'serve-invalid.yml');
    writeFileSync(file, 'tls_server_config:\n  client_auth_type: Sometimes\n');
    const r = await main(['serve', '--web.config.file', file, '--web.listen-address', '127.0.0.1:0'], cwd);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`scrapeguard serve: ${file}:2:3: tls_server_config.client_auth_type: invalid ClientAuth`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('demo --check', () => {
  it('in-process: exits 0 and prints "demo check: PASS"', async () => {
    const r = await main(['demo', '--check']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('demo check: PASS');
    expect(r.stdout).not.toContain('FAIL');
  });

  it('child process: exits 0 and prints "demo check: PASS"', async () => {
    const r = await runChild(['demo', '--check']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^demo check: PASS$/m);
  });
});
