/**
 * Shared setup of the scrape-config unit suites: a server directory holding a web-config.yml and
 * its files, a scraper's credentials directory in the `init` layout, and the checks every suite
 * makes (the generator's error code, no secret in any output). Call {@link useScrapeConfigPki} once
 * per file; the PKI is the cached test PKI.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import type { ResolvedConfig } from '../../src/config/schema.js';
import { ScrapeguardError } from '../../src/errors.js';
import type { GeneratedScrapeConfig } from '../../src/tools/scrape-config/generate.js';
import { testPki, type TestCert, type TestPki } from './pki.js';

export const PASSWORD = 'scrape-me-please';
export const V242 = { major: 2, minor: 42 } as const;

let pki: TestPki | undefined;

/** Loads the test PKI before the file's tests (the helpers below read it). */
export function useScrapeConfigPki(): void {
  beforeAll(async () => {
    pki = await testPki();
  });
}

function currentPki(): TestPki {
  if (!pki) throw new Error('call useScrapeConfigPki() in the test file first');
  return pki;
}

export const tmp = (): string => mkdtempSync(join(tmpdir(), 'scrapeguard-sc-'));

/** A directory holding a web-config.yml (and the server's own files), as a server would. */
export function serverDir(doc: (p: TestPki) => Record<string, unknown>, extraFiles: Record<string, string> = {}): string {
  const p = currentPki();
  const dir = tmp();
  copyFileSync(p.server.certFile, join(dir, 'server.crt'));
  copyFileSync(p.server.keyFile, join(dir, 'server.key'));
  copyFileSync(p.ca.certFile, join(dir, 'client-ca.crt'));
  for (const [name, contents] of Object.entries(extraFiles)) writeFileSync(join(dir, name), contents, { mode: 0o600 });
  writeFileSync(join(dir, 'web-config.yml'), JSON.stringify(doc(p)), { mode: 0o600 });
  return dir;
}

/** A scraper's credentials directory in the `init` layout. */
export function credentialsDir(files: { ca?: TestCert; client?: TestCert; key?: TestCert; password?: string; token?: string }): string {
  const dir = tmp();
  if (files.ca) copyFileSync(files.ca.certFile, join(dir, 'ca.crt'));
  if (files.client) copyFileSync(files.client.certFile, join(dir, 'client.crt'));
  if (files.client || files.key) copyFileSync((files.key ?? files.client)!.keyFile, join(dir, 'client.key'));
  if (files.password !== undefined) writeFileSync(join(dir, 'password'), files.password, { mode: 0o600 });
  if (files.token !== undefined) writeFileSync(join(dir, 'token'), files.token, { mode: 0o600 });
  return dir;
}

export const tlsSection = { cert_file: 'server.crt', key_file: 'server.key' };
export const mtlsSection = {
  ...tlsSection,
  client_ca_file: 'client-ca.crt',
  client_auth_type: 'RequireAndVerifyClientCert',
  client_allowed_sans: ['prometheus'],
};

export async function load(dir: string): Promise<ResolvedConfig> {
  return loadConfigFile(join(dir, 'web-config.yml'));
}

export async function expectScrapeError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ScrapeguardError);
  expect((error as ScrapeguardError).code).toBe('SCRAPE_CONFIG');
  expect((error as Error).message).toMatch(pattern);
}

/** No warning or YAML ever carries the password or a private key. */
export function expectNoSecrets(out: GeneratedScrapeConfig | { yaml: string; warnings: string[] }): void {
  const text = out.yaml + out.warnings.join('\n');
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain('PRIVATE KEY');
}
