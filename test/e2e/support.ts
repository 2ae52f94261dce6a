/**
 * Plumbing shared by the end-to-end suites that compare scrapeguard with the real Prometheus
 * binaries (node_exporter, promtool): where the binaries are and what to do when they are not,
 * building `dist/` when it is missing, child processes that are always reaped, and the
 * web-config.yml files both suites use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { TestPki } from '../helpers/pki.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const cliPath = join(repoRoot, 'dist', 'cli.js');

/** Where the Prometheus binaries are and whether the suite runs, skips or fails. */
export interface PrometheusTools {
  dir: string;
  /** Absolute path of one binary. */
  bin(name: string): string;
  /** Binaries the suite needs that are not there. */
  missing: string[];
  /** Not available and not under CI: the suite is skipped (with a warning already printed). */
  skip: boolean;
  /** Throws the "CI needs the binaries" error when they are missing; call it in beforeAll. */
  require(): void;
}

/** `CI` set to anything but an explicit false (`CI=true`, `CI=1`, GitHub's `CI=true`…). */
export const inCi = process.env.CI !== undefined && process.env.CI !== '' && !/^(false|0|no)$/i.test(process.env.CI);

/** Where one generation of the Debian binaries lives, and how to say so in messages. */
interface BinarySet {
  envVar: 'SCRAPEGUARD_PROMETHEUS_DIR' | 'SCRAPEGUARD_PROMETHEUS3_DIR';
  cacheDir: string;
  label: string;
}

function locateTools(set: BinarySet, suite: string, binaries: readonly string[]): PrometheusTools {
  const fromEnv = process.env[set.envVar];
  const dir = fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(repoRoot, '.cache', set.cacheDir, 'usr', 'bin');
  const bin = (name: string) => join(dir, name);
  const missing = binaries.filter((b) => !existsSync(bin(b)));
  const where = fromEnv ? `${set.envVar}=${fromEnv}` : `${dir} (${set.envVar} is not set)`;
  const message = `${suite}: ${missing.join(', ')}${set.label} not found in ${where}; run \`bash scripts/fetch-prometheus.sh\``;
  const skip = missing.length > 0 && !inCi;
  if (skip) console.warn(`${message}. SKIPPING this suite (under CI it fails).`);
  return {
    dir,
    bin,
    missing,
    skip,
    require() {
      if (missing.length > 0) throw new Error(`${message}. CI is set, so a missing binary is a failure, not a skip.`);
    },
  };
}

/**
 * Locates Debian bookworm's Prometheus 2.42 / promtool / node_exporter 1.5 binaries:
 * `$SCRAPEGUARD_PROMETHEUS_DIR`, else the cache that `scripts/fetch-prometheus.sh` fills
 * (`.cache/prometheus/usr/bin` in the repository). Locally a missing binary skips the suite with a
 * visible warning; under CI it fails the suite.
 */
export function prometheusTools(suite: string, binaries: readonly string[]): PrometheusTools {
  return locateTools({ envVar: 'SCRAPEGUARD_PROMETHEUS_DIR', cacheDir: 'prometheus', label: '' }, suite, binaries);
}

/**
 * Locates Debian sid's Prometheus 3.5 / promtool 3.5 / node_exporter 1.11 binaries:
 * `$SCRAPEGUARD_PROMETHEUS3_DIR`, else `.cache/prometheus3/usr/bin`. Same skip/fail rules as
 * {@link prometheusTools}.
 */
export function prometheus3Tools(suite: string, binaries: readonly string[]): PrometheusTools {
  return locateTools({ envVar: 'SCRAPEGUARD_PROMETHEUS3_DIR', cacheDir: 'prometheus3', label: ' (Debian sid)' }, suite, binaries);
}

/** What a finished process printed. */
export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`). */
export function runProcess(command: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Builds `dist/` with `npm run build` when `dist/cli.js` is missing (`npm test` builds before
 * vitest, so this only matters for a bare `npx vitest run`), and the CLI alone when it is stale. Suites running in parallel forks
 * build once: a lock directory serializes them.
 */
export async function ensureBuilt(): Promise<void> {
  const lock = join(repoRoot, '.cache', 'e2e-build.lock');
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (Date.now() > deadline) throw new Error(`another build holds ${lock} for 3 minutes; remove it if no build is running`);
    await sleep(200);
  }
  try {
    if (existsSync(cliPath)) {
      // Rebuilds dist/cli.js alone when a source file is newer (a second or two; nothing when
      // fresh), so a test never runs a stale CLI after an edit. Under the lock: one writer.
      const fresh = await runProcess(process.execPath, [join(repoRoot, 'scripts/build-cli.mjs')], { timeoutMs: 120_000 });
      if (fresh.code !== 0) throw new Error(`scripts/build-cli.mjs failed (exit ${fresh.code}):\n${fresh.stdout}${fresh.stderr}`);
      return;
    }
    const result = await runProcess('npm', ['run', 'build', '--silent'], { timeoutMs: 170_000 });
    if (result.code !== 0 || !existsSync(cliPath)) {
      throw new Error(`npm run build failed (exit ${result.code}):\n${result.stdout}${result.stderr}`);
    }
  } finally {
    rmdirSync(lock);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A free TCP port on 127.0.0.1 (free when asked; bind soon). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** A long-running child process whose output is kept (the last 64 KiB) for failure messages. */
export interface RunningProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  /** Resolves when the process has exited (and been reaped). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
}

const started = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts a long-running process; {@link stopAll} ends it. */
export function startProcess(name: string, command: string, args: readonly string[], cwd: string): RunningProcess {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort if the worker goes down without running afterAll.
    process.once('exit', () => {
      for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  let output = '';
  const keep = (chunk: string) => {
    output = (output + chunk).slice(-65_536);
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      keep(`\nspawn error: ${error.message}\n`);
      done = true;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  return { name, child, output: () => output, exited, hasExited: () => done };
}

/**
 * Waits until the output of `proc` matches `pattern` (a log line is written by the child and may
 * arrive after the answer the test already holds), failing after `timeoutMs` or when it exits.
 */
export async function waitForOutput(proc: RunningProcess, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(proc.output())) {
    if (proc.hasExited() || Date.now() > deadline) throw new Error(`${proc.name}: no output matching ${pattern} within ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise<void>((resolve) => {
      const streams = [proc.child.stdout, proc.child.stderr];
      const done = () => {
        clearTimeout(timer);
        for (const s of streams) s?.off('data', done);
        resolve();
      };
      const timer = setTimeout(done, 100);
      for (const s of streams) s?.on('data', done);
    });
  }
  return proc.output();
}

/**
 * Waits until `port` accepts TCP connections, failing early if the process exits. `from` is the
 * probe's local address (default: the kernel's choice, 127.0.0.1).
 */
export async function waitForPort(proc: RunningProcess, port: number, timeoutMs = 15_000, from?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.hasExited()) throw new Error(`${proc.name} exited before listening on ${port}:\n${proc.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ...(from === undefined ? {} : { localAddress: from }) });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${proc.name} did not listen on ${port} within ${timeoutMs} ms:\n${proc.output()}`);
    await sleep(50);
  }
}

/**
 * Waits until a Prometheus started on `port` answers `/-/ready` with 200: Prometheus 3 answers
 * its API with 503 until the TSDB is open (2.42 opens it before it listens), so a suite that
 * queries right after {@link waitForPort} would see a 503.
 */
export async function waitForPrometheusReady(proc: RunningProcess, port: number, timeoutMs = 30_000): Promise<void> {
  await waitForPort(proc, port, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.hasExited()) throw new Error(`${proc.name} exited before it was ready:\n${proc.output()}`);
    const status = await fetch(`http://127.0.0.1:${port}/-/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${proc.name} was not ready within ${timeoutMs} ms (last status ${status}):\n${proc.output()}`);
    await sleep(100);
  }
}

/**
 * For a process that may refuse its config at startup: resolves `true` once `port` accepts
 * connections and the process is still alive `settleMs` later (Go exporters bind before they
 * read the config, so a refusing one listens for a moment), `false` once it has exited.
 */
export async function waitForPortOrExit(proc: RunningProcess, port: number, settleMs = 500, timeoutMs = 15_000): Promise<boolean> {
  try {
    await waitForPort(proc, port, timeoutMs);
  } catch (error) {
    if (proc.hasExited()) return false;
    throw error;
  }
  await Promise.race([proc.exited, sleep(settleMs)]);
  return !proc.hasExited();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Ends every given process (SIGTERM, SIGKILL after 5 s) and then checks that none is left:
 * throws if a process is still alive, so a leak fails the suite.
 */
export async function stopAll(procs: readonly RunningProcess[]): Promise<void> {
  await Promise.all(
    procs.map(async (p) => {
      if (!p.hasExited()) p.child.kill('SIGTERM');
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(timer);
      started.delete(p.child);
    }),
  );
  const leaked = procs.filter((p) => !p.hasExited() || (p.child.pid !== undefined && isAlive(p.child.pid)));
  if (leaked.length > 0) throw new Error(`processes still running: ${leaked.map((p) => `${p.name} (pid ${p.child.pid})`).join(', ')}`);
}

/** The web-config.yml files both suites use; every one is accepted by exporter-toolkit (some only by ≥ 0.10). */
export interface WebConfigs {
  /** TLS, nothing else. */
  tlsOnly: string;
  /** TLS + basic auth (user `alice`). */
  basicAuth: string;
  /** RequireAndVerifyClientCert against `ca` + basic auth (user `alice`) + security headers. */
  mtls: string;
  /** `mtls` + `client_allowed_sans: [prometheus]` (exporter-toolkit ≥ 0.10; node_exporter 1.5 refuses the key). */
  mtlsAllowedSans: string;
  /** TLS + `rate_limit` {interval 1m, burst 1} (exporter-toolkit ≥ 0.15, node_exporter ≥ 1.11; node_exporter 1.5 refuses the key). */
  rateLimit: string;
}

export const BASIC_USER = 'alice';
export const BASIC_PASSWORD = 'correct horse battery staple';

/** Writes `name` (YAML of `doc`) next to the test PKI, so relative file names resolve against it. */
export function writeConfig(pki: TestPki, name: string, doc: unknown): string {
  const file = join(pki.dir, name);
  writeFileSync(file, typeof doc === 'string' ? doc : stringify(doc), { mode: 0o600 });
  return file;
}

/** Writes the shared configs. `passwordHash` is a bcrypt hash of {@link BASIC_PASSWORD}. */
export function writeWebConfigs(pki: TestPki, passwordHash: string): WebConfigs {
  // Relative paths: both implementations resolve them against the config file's directory.
  const tls = { cert_file: basename(pki.server.certFile), key_file: basename(pki.server.keyFile) };
  const mtlsTls = { ...tls, client_ca_file: basename(pki.ca.certFile), client_auth_type: 'RequireAndVerifyClientCert', min_version: 'TLS12' };
  const users = { [BASIC_USER]: passwordHash };
  const headers = { 'Strict-Transport-Security': 'max-age=31536000', 'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'deny' };
  return {
    tlsOnly: writeConfig(pki, 'tls-only.yml', { tls_server_config: tls }),
    basicAuth: writeConfig(pki, 'basic-auth.yml', { tls_server_config: tls, basic_auth_users: users }),
    mtls: writeConfig(pki, 'mtls.yml', { tls_server_config: mtlsTls, http_server_config: { headers }, basic_auth_users: users }),
    mtlsAllowedSans: writeConfig(pki, 'mtls-allowed-sans.yml', {
      tls_server_config: { ...mtlsTls, client_allowed_sans: ['prometheus'] },
      http_server_config: { headers },
      basic_auth_users: users,
    }),
    rateLimit: writeConfig(pki, 'rate-limit.yml', { tls_server_config: tls, rate_limit: { interval: '1m', burst: 1 } }),
  };
}

/** Where Debian's HAProxy is, how to run it, and whether the suite runs, skips or fails. */
export interface HaproxyTool {
  /** Absolute path of `haproxy`. */
  bin: string;
  /** `LD_LIBRARY_PATH` for the libraries `scripts/fetch-haproxy.sh` put next to it. */
  libraryPath: string;
  /** Not available and not under CI: the suite is skipped (with a warning already printed). */
  skip: boolean;
  /** Throws the "CI needs the binary" error when it is missing; call it in beforeAll. */
  require(): void;
}

/**
 * Locates HAProxy: `$SCRAPEGUARD_HAPROXY` (the binary), else `.cache/haproxy/usr/sbin/haproxy`
 * as `scripts/fetch-haproxy.sh` extracts it (with any shared libraries the system lacks under
 * `.cache/haproxy/usr/lib`). Locally a missing binary skips the suite with a visible warning;
 * under CI it fails the suite.
 */
export function haproxyTool(suite: string): HaproxyTool {
  const fromEnv = process.env.SCRAPEGUARD_HAPROXY;
  const cache = join(repoRoot, '.cache', 'haproxy');
  const bin = fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(cache, 'usr', 'sbin', 'haproxy');
  const libraryPath = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu', 'usr/lib', 'lib'].map((d) => join(cache, d)).join(':');
  const missing = !existsSync(bin);
  const message = `${suite}: haproxy not found at ${bin}${fromEnv ? '' : ' (SCRAPEGUARD_HAPROXY is not set)'}; run \`bash scripts/fetch-haproxy.sh\``;
  const skip = missing && !inCi;
  if (skip) console.warn(`${message}. SKIPPING this suite (under CI it fails).`);
  return {
    bin,
    libraryPath,
    skip,
    require() {
      if (missing) throw new Error(`${message}. CI is set, so a missing binary is a failure, not a skip.`);
    },
  };
}

/** One generation of the real binaries every e2e suite runs against. */
export interface Generation {
  /** For test titles: `Prometheus 2.42 / node_exporter 1.5 (bookworm)`. */
  name: string;
  /** Prometheus major version: where the generations legitimately differ, tests branch on it. */
  major: 2 | 3;
  /** `--prometheus-version` for the generator: `2.42` or `3.5`. */
  prometheusVersion: '2.42' | '3.5';
  /** node_exporter release line: `1.5` (exporter-toolkit 0.8) or `1.11` (exporter-toolkit 0.15). */
  nodeExporter: '1.5' | '1.11';
  tools: PrometheusTools;
}

/**
 * Both generations, for `describe.each(generations(...))('$name', …)`: Debian bookworm's
 * Prometheus 2.42 / promtool 2.42 / node_exporter 1.5 and Debian sid's Prometheus 3.5.3 LTS /
 * promtool 3.5.3 / node_exporter 1.11.1. Each one skips (locally, with a warning) or fails (under
 * CI) on its own when its binaries are missing.
 * @example
 * describe.each(generations('x.test.ts', ['prometheus']))('$name', (gen) => {
 *   describe.skipIf(gen.tools.skip)('…', () => { beforeAll(() => gen.tools.require()); … });
 * });
 */
export function generations(suite: string, binaries: readonly string[]): Generation[] {
  return [
    {
      name: 'Prometheus 2.42 / node_exporter 1.5 (bookworm)',
      major: 2,
      prometheusVersion: '2.42',
      nodeExporter: '1.5',
      tools: prometheusTools(suite, binaries),
    },
    { name: 'Prometheus 3.5 / node_exporter 1.11 (sid)', major: 3, prometheusVersion: '3.5', nodeExporter: '1.11', tools: prometheus3Tools(suite, binaries) },
  ];
}

/**
 * Starts the built CLI's `serve` (dist/cli.js) with `args` in `cwd`: the sidecar or standalone
 * server the e2e suites put in front of exporters and scrape with Prometheus.
 */
export function startServe(args: readonly string[], cwd: string): RunningProcess {
  return startProcess('scrapeguard serve', process.execPath, [cliPath, 'serve', ...args], cwd);
}
