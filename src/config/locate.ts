/**
 * YAML reading for web-config.yml: parses the text the way Go's yaml.v2 sees it (YAML 1.1,
 * duplicate keys refused) into a plain value, and keeps the syntax tree so that validation can map
 * a key path back to a line and column, and recover the source text of a scalar (yaml.v2 reads
 * `X-XSS-Protection: 1` into a string field as `"1"`, not as a number).
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode, type Pair } from 'yaml';

/** One step of a key path: a mapping key or a list index. */
export type PathSegment = string | number;
/** A key path from the document root, e.g. `['tls_server_config', 'cipher_suites', 0]`. */
export type KeyPath = readonly PathSegment[];

/** 1-based position in the text. */
export interface Position {
  line: number;
  column: number;
}

/** A problem found while parsing, before any validation. */
export interface SyntaxProblem {
  position?: Position;
  message: string;
}

/** The parsed document with its position lookups. */
export interface ParsedYaml {
  /** The document as a plain value (mappings are null-prototype objects); `null` when empty. */
  value: unknown;
  /** Syntax errors (the value is unusable when there is any). */
  errors: SyntaxProblem[];
  /** Position of the key (or list item) at `path`, or of its nearest existing ancestor. */
  readonly locate: (path: KeyPath) => Position | undefined;
  /** Source text of the scalar at `path` (after unquoting), when there is one. */
  readonly scalarText: (path: KeyPath) => string | undefined;
}

// Bounds alias expansion ("billion laughs"); a real web-config.yml has a few dozen nodes.
const MAX_NODES = 10_000;

const isMergeKey = (key: unknown): boolean => isScalar(key) && typeof key.value === 'symbol' && key.value.description === '<<';

/** The text of a mapping key as yaml.v2 would put it in a Go string: the scalar's own text. */
function keyText(key: unknown): string | undefined {
  if (key === null || key === undefined) return '';
  if (!isScalar(key)) return undefined;
  if (typeof key.value === 'string') return key.value;
  return typeof key.source === 'string' ? key.source : String(key.value);
}

/** Error messages of the YAML parser name token kinds, not content; cut them short regardless. */
function tidy(message: string): string {
  const first = message.split('\n', 1)[0] ?? '';
  return first.length > 200 ? `${first.slice(0, 200)}…` : first;
}

/** Parses `source` as a web-config.yml document. */
export function parseYaml(source: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const text = source.startsWith('\uFEFF') ? source.slice(1) : source;
  const doc = parseDocument(text, {
    version: '1.1',
    uniqueKeys: true,
    prettyErrors: false,
    lineCounter,
  });

  const position = (offset: number | undefined): Position | undefined => {
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return line > 0 ? { line, column: col } : { line: 1, column: offset + 1 };
  };

  // A tab used for indentation throws the parser off for the rest of its block, so the errors
  // after it are echoes. One message naming every tab-indented line says all there is to fix.
  const tabs = doc.errors.filter((e) => e.code === 'TAB_AS_INDENT');
  const firstTab = tabs[0];
  if (firstTab !== undefined) {
    const lines = [...new Set(tabs.map((e) => position(e.pos[0])?.line).filter((l): l is number => l !== undefined))];
    const others = lines.slice(1);
    const at = position(firstTab.pos[0]);
    const message = `tabs are not allowed as indentation in YAML${others.length > 0 ? ` (also on line${others.length > 1 ? 's' : ''} ${others.join(', ')})` : ''}: indent with spaces`;
    return { value: null, errors: [at ? { position: at, message } : { message }], locate: () => undefined, scalarText: () => undefined };
  }

  const errors: SyntaxProblem[] = doc.errors.map((e) => {
    const at = position(e.pos[0]);
    const message =
      e.code === 'MULTIPLE_DOCS' ? 'the file holds more than one YAML document (a second "---"); web-config.yml is a single document' : tidy(e.message);
    return at ? { position: at, message } : { message };
  });

  let value: unknown = null;
  if (errors.length === 0) {
    const converter = new Converter(doc, position);
    value = converter.convert(doc.contents);
    errors.push(...converter.errors);
  }

  return {
    value,
    errors,
    locate(path) {
      let node: unknown = doc.contents;
      let found = isNodeWithRange(node) ? position(node.range[0]) : undefined;
      for (const segment of path) {
        const step = child(doc, node, segment);
        if (!step) break;
        const at = isNodeWithRange(step.at) ? position(step.at.range[0]) : undefined;
        if (at) found = at;
        node = step.value;
      }
      return found;
    },
    scalarText(path) {
      let node: unknown = doc.contents;
      for (const segment of path) {
        const step = child(doc, node, segment);
        if (!step) return undefined;
        node = step.value;
      }
      node = deref(doc, node);
      return isScalar(node) && typeof node.source === 'string' ? node.source : undefined;
    },
  };
}

function isNodeWithRange(node: unknown): node is YamlNode & { range: [number, number, number] } {
  return typeof node === 'object' && node !== null && Array.isArray((node as { range?: unknown }).range);
}

function deref(doc: Document, node: unknown, depth = 0): unknown {
  if (isAlias(node) && depth < 100) return deref(doc, node.resolve(doc), depth + 1);
  return node;
}

/** Finds `segment` under `node`: `at` is the node whose start is reported (the key for a mapping entry). */
function child(doc: Document, node: unknown, segment: PathSegment, depth = 0): { at: unknown; value: unknown } | undefined {
  const target = deref(doc, node);
  if (typeof segment === 'number') {
    if (!isSeq(target)) return undefined;
    const item: unknown = target.items[segment];
    return item === undefined ? undefined : { at: item, value: item };
  }
  if (!isMap(target)) return undefined;
  const pairs = target.items;
  for (const pair of pairs) {
    if (!isMergeKey(pair.key) && keyText(pair.key) === segment) return { at: pair.key ?? pair.value, value: pair.value };
  }
  // A key brought in by a `<<` merge is located where it is written, inside the anchored mapping.
  if (depth < 20) {
    for (const pair of pairs) {
      if (!isMergeKey(pair.key)) continue;
      const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
      for (const source of sources) {
        const found = child(doc, source, segment, depth + 1);
        if (found) return found;
      }
    }
  }
  return undefined;
}

/** Syntax tree → plain value, with yaml.v2's view of keys and merges. */
class Converter {
  readonly errors: SyntaxProblem[] = [];
  private nodes = 0;
  private readonly active = new Set<unknown>();

  constructor(
    private readonly doc: Document,
    private readonly position: (offset: number | undefined) => Position | undefined,
  ) {}

  private fail(node: unknown, message: string): void {
    const at = isNodeWithRange(node) ? this.position(node.range[0]) : undefined;
    this.errors.push(at ? { position: at, message } : { message });
  }

  convert(node: unknown): unknown {
    if (node === null || node === undefined) return null;
    if (++this.nodes > MAX_NODES) {
      if (this.nodes === MAX_NODES + 1) this.fail(node, `document too large: more than ${MAX_NODES} nodes after alias expansion`);
      return null;
    }
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (this.active.has(target)) {
        this.fail(node, `alias *${node.source} refers to a node that contains it`);
        return null;
      }
      this.active.add(target);
      const result = this.convert(target);
      this.active.delete(target);
      return result;
    }
    if (isScalar(node)) return node.value;
    if (isSeq(node)) return node.items.map((item) => this.convert(item));
    if (isMap(node)) return this.convertMap(node.items);
    this.fail(node, 'unsupported YAML node');
    return null;
  }

  private convertMap(pairs: readonly Pair[]): Record<string, unknown> {
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    const merges: unknown[] = [];
    for (const pair of pairs) {
      if (isMergeKey(pair.key)) {
        merges.push(pair.value);
        continue;
      }
      const key = keyText(pair.key);
      if (key === undefined) {
        this.fail(pair.key, 'mapping keys must be plain values, not lists or mappings');
        continue;
      }
      out[key] = this.convert(pair.value);
    }
    // YAML 1.1 merge keys (yaml.v2 honours them): explicit keys win, earlier sources win.
    for (const merge of merges) {
      const sources = isSeq(merge) ? merge.items : [merge];
      for (const source of sources) {
        const value = this.convert(source);
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          this.fail(source, 'a << merge needs a mapping or a list of mappings');
          continue;
        }
        for (const [k, v] of Object.entries(value)) if (!Object.hasOwn(out, k)) out[k] = v;
      }
    }
    return out;
  }
}
