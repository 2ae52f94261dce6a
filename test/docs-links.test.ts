/**
 * Every relative link in the README, the CHANGELOG and the manual (docs/*.md) resolves: the file
 * exists, and a `#fragment` names a heading of the target as GitHub renders its anchor. Links in
 * code blocks and inline code are not links; absolute URLs are not fetched.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

/** The pages checked, relative to the repository root. */
const PAGES = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Markdown without fenced code blocks and inline code spans (whose text is not markup). */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** Link targets: `[text](target)`, `![alt](target)` and reference definitions `[id]: target`. */
function links(markdown: string): string[] {
  const text = prose(markdown);
  const inline = [...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const defs = [...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((m) => m[1]!);
  return [...inline, ...defs];
}

/** GitHub's anchor for a heading: text as rendered, lower case, punctuation removed, spaces → '-'. */
function githubSlug(heading: string): string {
  // Code spans keep their content verbatim; elsewhere links keep their text, and emphasis markers
  // go (underscores only at word boundaries: `auth_failure_backoff` is not emphasis).
  const rendered = heading
    .split(/(`[^`]*`)/)
    .map((part) =>
      part.startsWith('`')
        ? part.slice(1, -1)
        : part
            .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
            .replace(/<[^>]+>/g, '')
            .replace(/(\*\*|\*)(?=\S)([^*]*?\S)\1/g, '$2')
            .replace(/(^|[^\p{L}\p{N}])(__|_)(?=\S)(.*?\S)\2(?![\p{L}\p{N}])/gu, '$1$3'),
    )
    .join('');
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor of a page, with GitHub's `-1`, `-2` suffixes for repeated headings. */
function anchors(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of withoutCode.matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)) {
    const slug = githubSlug(m[1]!);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** Problems with the links of one page, as `page: target (reason)`. */
function brokenLinks(page: string): string[] {
  const markdown = readFileSync(join(root, page), 'utf8');
  const problems: string[] = [];
  for (const target of links(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
    const [pathPart, fragment] = target.split('#', 2) as [string, string | undefined];
    const file = pathPart === '' ? join(root, page) : join(root, dirname(page), decodeURIComponent(pathPart));
    if (
      !relative(root, file)
        .split('/')
        .every((s) => s !== '..')
    ) {
      problems.push(`${page}: ${target} (points outside the repository)`);
      continue;
    }
    if (!existsSync(file)) {
      problems.push(`${page}: ${target} (no such file)`);
      continue;
    }
    if (fragment === undefined || fragment === '') continue;
    if (statSync(file).isDirectory() || !file.endsWith('.md')) {
      problems.push(`${page}: ${target} (a fragment on something that is not a Markdown file)`);
      continue;
    }
    if (!anchors(readFileSync(file, 'utf8')).has(decodeURIComponent(fragment))) problems.push(`${page}: ${target} (no heading with that anchor)`);
  }
  return problems;
}

describe('docs links', () => {
  it('the checker finds links, skips code, and computes GitHub anchors', () => {
    expect(links('see [a](docs/x.md#y) and ![i](p.svg)\n`[no](code.md)`\n```\n[no](block.md)\n```\n[ref]: other.md\n')).toEqual([
      'docs/x.md#y',
      'p.svg',
      'other.md',
    ]);
    expect(githubSlug('`limits.auth_failure_backoff`: brute-force protection')).toBe('limitsauth_failure_backoff-brute-force-protection');
    expect(githubSlug('`jwt_auth`: JWTs (OIDC, `oauth2` client credentials)')).toBe('jwt_auth-jwts-oidc-oauth2-client-credentials');
    expect(githubSlug('`scrapeguard scrape-config`')).toBe('scrapeguard-scrape-config');
    expect(githubSlug('**Bold** _it_ snake_case [link](x.md)')).toBe('bold-it-snake_case-link');
    expect([...anchors('# A\n## B\n## B\n```\n# not a heading\n```\n')]).toEqual(['a', 'b', 'b-1']);
    // The pages are found, and the index links somewhere.
    expect(PAGES).toEqual(expect.arrayContaining(['README.md', 'docs/README.md', 'docs/configuration.md']));
    expect(links(readFileSync(join(root, 'docs/README.md'), 'utf8')).length).toBeGreaterThan(10);
  });

  it.each(PAGES)('%s: every relative link resolves to a file and heading', (page) => {
    expect(brokenLinks(page)).toEqual([]);
  });
});
