#!/usr/bin/env node
// Runs the full build (`tsup`: every entry, declarations) unless dist/ is newer than every source,
// so `npm run bench -- --quick` right after `npm test` (which builds) starts measuring at once, as
// CI runs it, while a bench after a source edit never measures stale code. The entries the
// benchmark loads are compared one by one: `npm run demo` rebuilds dist/cli.js alone
// (scripts/build-cli.mjs), which must not make the library entries look fresh.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUTPUTS = ['dist/index.js', 'dist/cli.js', 'dist/pki.js'];

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

function oldestOutput() {
  let oldest = Infinity;
  for (const f of OUTPUTS) {
    try {
      oldest = Math.min(oldest, statSync(join(root, f)).mtimeMs);
    } catch {
      return 0; // missing: build
    }
  }
  return oldest;
}

const sources = Math.max(newest(join(root, 'src')), newest(join(root, 'tsup.config.ts')), newest(join(root, 'package.json')));
if (oldestOutput() > sources) {
  process.stderr.write('build: dist/ is newer than src/; not rebuilt\n');
  process.exit(0);
}
const env = { ...process.env };
delete env.SCRAPEGUARD_BUILD; // the CLI-only build switch (tsup.config.ts): here, every entry
execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js')], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
