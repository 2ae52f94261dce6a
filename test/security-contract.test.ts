/**
 * SECURITY.md is a contract: every claim in it names the test that proves it, written as
 * `` `test/file.test.ts › describe title › test title` `` (each title may be a prefix of the real
 * one). This suite fails when a claim names no test, when a named file is gone, or when a named
 * title no longer exists in that file, so a claim cannot outlive its proof.
 *
 * Sections whose bullets and table rows are claims are listed in CLAIM_SECTIONS; the threat
 * model's assumptions and the reporting policy are not claims about the code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const securityMd = readFileSync(join(root, 'SECURITY.md'), 'utf8');

/** Headings (any level) whose list items and table rows must each name a test. */
const CLAIM_SECTIONS = ['What scrapeguard protects', 'Secure defaults', 'Default TLS profile', 'Limits and defaults', 'Attacks tested'];

interface Reference {
  file: string;
  titles: string[];
  line: number;
}

const REFERENCE = /`(test\/[\w./-]+\.test\.ts)((?: › [^`]+)*)`/g;

function referencesIn(text: string, line: number): Reference[] {
  return [...text.matchAll(REFERENCE)].map((m) => ({
    file: m[1]!,
    titles: (m[2] ?? '')
      .split(' › ')
      .map((t) => t.trim())
      .filter((t) => t !== ''),
    line,
  }));
}

/** Claims: list items (with their continuation lines) and table body rows inside the claim sections. */
function claims(): { text: string; line: number; section: string }[] {
  const out: { text: string; line: number; section: string }[] = [];
  let section: string | undefined;
  const lines = securityMd.split('\n');
  lines.forEach((text, i) => {
    const heading = /^#{2,4} (.*)$/.exec(text);
    if (heading) {
      section = CLAIM_SECTIONS.find((s) => heading[1]!.startsWith(s));
      return;
    }
    if (section === undefined) return;
    const last = out.at(-1);
    if (/^ {2}\S/.test(text) && last && last.line + last.text.split('\n').length - 1 === i) {
      last.text += '\n' + text;
      return;
    }
    const isItem = /^- /.test(text);
    const isRow = /^\|/.test(text) && !/^\|\s*-/.test(text) && !/^\|\s*-{3}/.test(lines[i + 1] ?? '');
    if (isItem || isRow) out.push({ text, line: i + 1, section });
  });
  return out;
}

/**
 * Titles of describe/it/test calls in a test file (the literal part, up to any `${`): the first
 * string argument of `describe(`, `it.skip(`…, or of the curried `test.each(table)(` form.
 */
function titlesOf(file: string): { title: string; templated: boolean }[] {
  const source = readFileSync(join(root, file), 'utf8');
  const titles: { title: string; templated: boolean }[] = [];
  for (const m of source.matchAll(/(?:\b(?:describe|it|test)(?:\.\w+)*|\))\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g)) {
    const [literal, ...rest] = m[2]!.split('${');
    titles.push({ title: literal!.replace(/\\(['"`\\])/g, '$1'), templated: rest.length > 0 });
  }
  return titles;
}

/** A named title matches a real one it starts, or a templated one whose literal start it extends. */
function hasTitle(titles: { title: string; templated: boolean }[], named: string): boolean {
  return titles.some((t) => t.title.startsWith(named) || (t.templated && t.title.length > 0 && named.startsWith(t.title)));
}

describe('SECURITY.md contract', () => {
  const all = claims();

  it('has claims in every claim section', () => {
    for (const section of CLAIM_SECTIONS) {
      expect(all.filter((c) => c.section === section).length, `section "${section}" has no claims`).toBeGreaterThan(0);
    }
  });

  it('every claim names at least one test', () => {
    const missing = all.filter((c) => referencesIn(c.text, c.line).length === 0).map((c) => `SECURITY.md:${c.line}: ${c.text.slice(0, 100)}`);
    expect(missing).toEqual([]);
  });

  it('every named test file exists and every named title is in it', () => {
    const problems: string[] = [];
    const refs = securityMd.split('\n').flatMap((text, i) => referencesIn(text, i + 1));
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) {
      if (!existsSync(join(root, ref.file))) {
        problems.push(`SECURITY.md:${ref.line}: ${ref.file} does not exist`);
        continue;
      }
      const titles = titlesOf(ref.file);
      for (const title of ref.titles) {
        if (!hasTitle(titles, title)) {
          problems.push(`SECURITY.md:${ref.line}: no test titled "${title}" in ${ref.file}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('the checker notices a reference to a test that does not exist', () => {
    const fake = referencesIn('`test/security-contract.test.ts › no such test title anywhere`', 1)[0]!;
    const titles = titlesOf(fake.file);
    expect(hasTitle(titles, 'every claim names at least one test')).toBe(true);
    expect(hasTitle(titles, fake.titles[0]!)).toBe(false);
  });
});
