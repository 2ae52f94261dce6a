/**
 * What `npm publish` would ship: `npm pack --dry-run --json` lists the tarball's files. The build
 * output must exist first (`npm test` builds before vitest; when dist/ is missing this test runs
 * tsup itself). The pack runs with `--ignore-scripts`, so `prepack` does not rebuild a second time;
 * that `prepack` is wired to the build is checked on package.json instead.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  files: string[];
  scripts: Record<string, string>;
  repository: { type: string; url: string };
  bugs: { url: string };
  homepage: string;
  bin: Record<string, string>;
  main: string;
  module: string;
  types: string;
  exports: Record<string, unknown>;
};

/** Every file path an `exports` entry (conditions nested at any depth) points at. */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value.replace(/^\.\//, '')];
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

let files: string[] = [];

beforeAll(async () => {
  if (!existsSync(join(root, 'dist', 'index.js')) || !existsSync(join(root, 'dist', 'cli.js'))) {
    await run('npx', ['tsup'], { cwd: root, timeout: 120_000 });
  }
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, npm_config_loglevel: 'error', npm_config_update_notifier: 'false', npm_config_fund: 'false' },
  });
  const [report] = JSON.parse(stdout) as [{ files: { path: string }[] }];
  files = report.files.map((f) => f.path).sort();
}, 180_000);

describe('the npm package', () => {
  it('ships the builds of every entry point: ESM, CJS and both kinds of declarations', () => {
    for (const entry of ['index', 'http', 'express', 'koa', 'fastify']) {
      expect(files).toContain(`dist/${entry}.js`);
      expect(files).toContain(`dist/${entry}.cjs`);
      expect(files).toContain(`dist/${entry}.d.ts`);
      expect(files).toContain(`dist/${entry}.d.cts`);
    }
    expect(files).toContain('dist/cli.js');
  });

  it('every path package.json points at (exports, main, module, types, bin) is in the tarball', () => {
    const targets = [...exportTargets(pkg.exports), pkg.main, pkg.module, pkg.types, ...Object.values(pkg.bin)].map((p) => p.replace(/^\.\//, ''));
    expect(targets.filter((t) => !files.includes(t))).toEqual([]);
  });

  it('ships README, LICENSE, CHANGELOG, package.json and the manual', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'README.md',
        'LICENSE',
        'CHANGELOG.md',
        'package.json',
        'docs/README.md',
        'docs/configuration.md',
        'docs/cli-reference.md',
        'docs/troubleshooting.md',
      ]),
    );
    expect(files.filter((f) => f.startsWith('docs/') && !f.endsWith('.md'))).toEqual([]);
  });

  it('ships nothing else: no tests, benches, sources, fixtures, caches, keys or certificates', () => {
    const allowed = (f: string): boolean =>
      f === 'package.json' || f === 'README.md' || f === 'LICENSE' || f === 'CHANGELOG.md' || /^docs\/[^/]+\.md$/.test(f) || f.startsWith('dist/');
    expect(files.filter((f) => !allowed(f))).toEqual([]);
    const forbidden = files.filter(
      (f) =>
        /(^|\/)(test|tests|bench|src|examples|fixtures|\.cache|node_modules|coverage|pki)\//.test(f) ||
        /\.test\.|\.spec\./.test(f) ||
        /\.(key|pem|crt|p12|pfx|tgz)$/.test(f),
    );
    expect(forbidden).toEqual([]);
  });

  it('source maps map the library sources, never the tests', () => {
    const maps = files.filter((f) => f.endsWith('.map'));
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[] };
      expect(
        sources.filter((s) => /(^|\/)(test|bench|examples)\//.test(s) || /\.test\./.test(s)),
        map,
      ).toEqual([]);
    }
  });

  it('is provenance-ready and builds before packing', () => {
    expect(pkg.repository).toEqual({ type: 'git', url: 'git+https://github.com/scrapeguard/scrapeguard.git' });
    expect(pkg.bugs.url).toBe('https://github.com/scrapeguard/scrapeguard/issues');
    expect(pkg.homepage).toBe('https://github.com/scrapeguard/scrapeguard#readme');
    expect(pkg.scripts.prepack).toMatch(/\bnpm run build\b|\btsup\b/);
  });
});
