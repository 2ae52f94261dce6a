#!/usr/bin/env node
// Builds dist/cli.js alone (no library entries, no declarations) when it is older than any source
// file, so `npm run demo` starts in seconds on a fresh clone and at once on the next run. The full
// build (`npm run build`: every entry, declarations) is what `npm test` and `npm pack` use.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

let built = 0;
try {
  built = statSync(join(root, 'dist/cli.js')).mtimeMs;
} catch {
  // not built yet
}
const sources = Math.max(newest(join(root, 'src')), newest(join(root, 'tsup.config.ts')), newest(join(root, 'package.json')));
if (built > sources) process.exit(0);
execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js')], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, SCRAPEGUARD_BUILD: 'cli' },
});
