/**
 * The layout's rules, checked over the import graph of src/ (every `import`, `export … from` and
 * `import()` of a relative path, type-only imports included: a type import still ties two
 * folders together for a reader):
 * - no import circles;
 * - the runtime (everything outside src/tools/) never imports the tools (cli, scan, scrape-config,
 *   pki), so a service that loads the runtime never loads a generator;
 * - the framework-free core never imports adapters, the server or the guard that wires them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = posix.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** src-relative file → the src files it imports. */
function importGraph(): Map<string, string[]> {
  const files = sourceFiles('src');
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
    const targets: string[] = [];
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = posix.normalize(posix.join(posix.dirname(file), ref.fileName)).replace(/\.js$/, '.ts');
      if (!known.has(target)) throw new Error(`${file}: import of ${ref.fileName} resolves to no source file`);
      targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Strongly connected components with more than one file (or a file importing itself): Tarjan. */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found;
}

function edgesWhere(graph: Map<string, string[]>, from: (f: string) => boolean, to: (t: string) => boolean): string[] {
  return [...graph].flatMap(([file, targets]) => (from(file) ? targets.filter(to).map((t) => `${file} -> ${t}`) : []));
}

const isTool = (f: string): boolean => f.startsWith('src/tools/');

describe('import graph of src/', () => {
  const graph = importGraph();

  it('reads the whole tree (sanity: runtime and tools both present)', () => {
    expect([...graph.keys()].filter(isTool).length).toBeGreaterThan(20);
    expect([...graph.keys()].filter((f) => !isTool(f)).length).toBeGreaterThan(50);
    expect(relative(root, join(root, 'src'))).toBe('src');
  });

  it('has no import circle', () => {
    expect(circles(graph)).toEqual([]);
  });

  it('runtime never imports the tools (src/tools/ imports the runtime, never the reverse)', () => {
    expect(edgesWhere(graph, (f) => !isTool(f), isTool)).toEqual([]);
  });

  it('the core, auth, access, exposition, config and tls folders never import adapters, the server or the guard', () => {
    const lower = /^src\/(core|auth|access|exposition|config|tls|net|audit|metrics)\//;
    const upper = /^src\/(adapters|server)\/|^src\/(guard|index)\.ts$/;
    expect(
      edgesWhere(
        graph,
        (f) => lower.test(f),
        (t) => upper.test(t),
      ),
    ).toEqual([]);
  });
});
