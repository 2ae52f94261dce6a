/**
 * Docs, types and code agree on error codes (in the spirit of fastify's errors test): the table in
 * docs/troubleshooting.md lists exactly the codes of SCRAPEGUARD_ERROR_CODES with the same meaning,
 * and every code is raised somewhere in src/.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { SCRAPEGUARD_ERROR_CODES, ScrapeguardError, type ScrapeguardErrorCode } from '../src/index.js';

const root = new URL('..', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('error codes', () => {
  const page = readFileSync(join(root, 'docs', 'troubleshooting.md'), 'utf8');
  const start = page.indexOf('## Error codes');
  const section = page.slice(start, page.indexOf('\n## ', start + 1));
  const documented = new Map([...section.matchAll(/^\| `([A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1]!, m[2]!]));

  it('docs/troubleshooting.md documents exactly the codes in SCRAPEGUARD_ERROR_CODES, with the same meaning', () => {
    expect(Object.fromEntries(documented)).toEqual(SCRAPEGUARD_ERROR_CODES);
  });

  it('every code is raised somewhere in src/', () => {
    const code = sources(join(root, 'src'))
      .filter((f) => !f.endsWith('errors.ts'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const raised = (Object.keys(SCRAPEGUARD_ERROR_CODES) as ScrapeguardErrorCode[]).filter(
      (c) => c === 'CONFIG_INVALID' /* raised by the ConfigError constructor */ || code.includes(`'${c}'`),
    );
    expect(raised).toEqual(Object.keys(SCRAPEGUARD_ERROR_CODES));
  });

  it('the code type is the union of the table keys and narrows on switch', () => {
    expectTypeOf<ScrapeguardErrorCode>().toEqualTypeOf<
      | 'CONFIG_INVALID'
      | 'CONFIG_READ'
      | 'TLS_SETUP'
      | 'LISTEN_FAILED'
      | 'USAGE'
      | 'FILE_EXISTS'
      | 'SCRAPE_CONFIG'
      | 'EXPOSITION_PARSE'
      | 'EXPOSITION_PROTOBUF'
      | 'SOURCE_FAILED'
    >();
    const error = new ScrapeguardError('USAGE', 'x');
    expectTypeOf(error.code).toEqualTypeOf<ScrapeguardErrorCode>();
    expect(error.name).toBe('ScrapeguardError');
  });
});
