/**
 * Shared setup of the config-loader suites (test/config-*.test.ts): a test PKI, a scratch
 * directory, two bcrypt hashes, and helpers that write a web-config.yml one array element per line
 * (so a test reads line numbers off the index) and check where an issue points.
 *
 * The fixture values are live bindings: call `useConfigFiles()` once at the top of a test file and
 * read `pki`, `dir`, `hashA`, `hashB` inside tests (each test file runs in its own module graph).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync } from '@node-rs/bcrypt';
import { beforeAll, expect } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import type { ConfigIssue } from '../../src/errors.js';
import { issuesOf } from './config-issues.js';
import { testPki, type TestPki } from './pki.js';

export let pki: TestPki;
export let dir: string;
/** bcrypt hash of `alice-password` ($2b$, cost 4). */
export let hashA: string;
/** bcrypt hash of `bob-password` ($2y$, cost 4). */
export let hashB: string;
let counter = 0;

/** Registers the beforeAll that creates the PKI, the scratch directory and the hashes. */
export function useConfigFiles(): void {
  beforeAll(async () => {
    pki = await testPki();
    dir = mkdtempSync(join(tmpdir(), 'scrapeguard-config-'));
    hashA = hashSync('alice-password', { cost: 4 });
    hashB = hashSync('bob-password', { cost: 4, version: '2y' });
  });
}

/** Writes a config (one array element per line, so line numbers read off the index) and returns its path. */
export function write(lines: readonly string[], where = dir): string {
  const file = join(where, `web-config-${++counter}.yml`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** YAML lines for a PEM block scalar under `key` at two-space indent. */
export function pemLines(key: string, pem: string): string[] {
  return [
    `  ${key}: |`,
    ...pem
      .trim()
      .split('\n')
      .map((l) => `    ${l}`),
  ];
}

/** Expects exactly one issue at `path`, whose message contains each of `parts`; returns it. */
export function issueAt(issues: readonly ConfigIssue[], path: string, ...parts: string[]): ConfigIssue {
  const found = issues.filter((i) => i.path === path);
  expect(found, `issues at ${path} in ${JSON.stringify(issues, null, 1)}`).toHaveLength(1);
  const issue = found[0]!;
  for (const part of parts) expect(issue.message).toContain(part);
  return issue;
}

/** Writes `lines`, expects the load to be refused with one issue at `path` on `line`, and returns it. */
export async function refusedFile(lines: readonly string[], path: string, line: number, ...parts: string[]): Promise<ConfigIssue> {
  const file = write(lines);
  const issue = issueAt(await issuesOf(loadConfigFile(file)), path, ...parts);
  expect(issue.file).toBe(file);
  expect(issue.line).toBe(line);
  expect(issue.column).toBeGreaterThan(0);
  return issue;
}

/** The `tls_server_config` lines for the ECDSA server certificate, by file. */
export const tlsFiles = (): string[] => ['tls_server_config:', `  cert_file: ${pki.server.certFile}`, `  key_file: ${pki.server.keyFile}`];
