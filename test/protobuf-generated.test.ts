/**
 * The committed protoc-gen-es output (src/exposition/protobuf/gen/) is what `npm run
 * generate:proto` produces from the vendored proto/io/prometheus/client/metrics.proto: buf and
 * the local protoc-gen-es plugin (devDependencies, no network) regenerate it into a temporary
 * directory and the files must be byte-identical.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from './e2e/support.js';

const GENERATED = 'src/exposition/protobuf/gen/io/prometheus/client/metrics_pb.ts';

it('the committed generated code matches a regeneration from the vendored metrics.proto', () => {
  const out = mkdtempSync(join(tmpdir(), 'scrapeguard-buf-'));
  try {
    const bin = join(repoRoot, 'node_modules', '.bin');
    const result = spawnSync(join(bin, 'buf'), ['generate', '--output', out], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` },
    });
    expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
    expect(readFileSync(join(out, GENERATED), 'utf8')).toBe(readFileSync(join(repoRoot, GENERATED), 'utf8'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 130_000);
