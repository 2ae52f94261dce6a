/**
 * What a cold `import('scrapeguard')` loads, on the built package (dist/): a service that only
 * wants the guard must not pay for the certificate generator (`selfsigned` and its crypto
 * libraries), the scrape-config generator and its YAML writer, or the protobuf codec before a
 * scraper asks for protobuf. A resolve hook records every
 * module the child process resolves; the test then reads our own chunks among them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(join(tmpdir(), 'sg-import-cost-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function ensureBuilt(): void {
  if (!existsSync(join(root, 'dist/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
}

/** Every URL resolved while a fresh node process imports `entry`. */
function loadedBy(entry: string): string[] {
  const record = join(scratch, `${entry.replace(/\W/g, '_')}.txt`);
  execFileSync(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(root, 'test/fixtures/record-imports.mjs')).href,
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(pathToFileURL(join(root, 'dist', entry)).href)});`,
    ],
    {
      env: { ...process.env, RECORD_IMPORTS_TO: record },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return [...new Set(readFileSync(record, 'utf8').split('\n').filter(Boolean))];
}

const ownChunks = (urls: string[]): string[] =>
  urls.filter((u) => u.startsWith(pathToFileURL(join(root, 'dist')).href)).map((u) => readFileSync(fileURLToPath(u), 'utf8'));

describe('cold import cost of the built package', () => {
  it('import("scrapeguard") loads neither selfsigned nor the scrape-config generator', () => {
    ensureBuilt();
    const urls = loadedBy('index.js');
    expect(urls.some((u) => u.includes('/dist/index.js'))).toBe(true);
    expect(urls.filter((u) => /\/node_modules\/(selfsigned|@peculiar|pkijs|asn1js)\//.test(u))).toEqual([]);
    // The protobuf codec (and @bufbuild/protobuf) loads on the first protobuf scrape, not at import.
    expect(urls.filter((u) => u.includes('/node_modules/@bufbuild/'))).toEqual([]);
    const code = ownChunks(urls);
    expect(code.length).toBeGreaterThan(0);
    for (const chunk of code) {
      expect(chunk).not.toMatch(/function generateScrapeConfig\b|function generateOperatorManifests\b|function generateDevPki\b/);
      expect(chunk).not.toMatch(/from ["']selfsigned["']/);
    }
  });

  it('the generators are where the subpaths say (the check above would see them if they were loaded)', () => {
    ensureBuilt();
    const pki = loadedBy('pki.js');
    expect(pki.some((u) => u.includes('/node_modules/selfsigned/'))).toBe(true);
    expect(ownChunks(loadedBy('scrape-config.js')).some((c) => /function generateScrapeConfig\b/.test(c))).toBe(true);
  });
});
