/**
 * The manual covers the code: every configuration key the schema declares has an entry in
 * docs/configuration.md, every CLI flag a command parses has one in docs/cli-reference.md, and
 * every error code has a row and a "what to do" entry in docs/troubleshooting.md.
 *
 * Nothing here lists keys, flags or codes by hand: they are read from the source with the
 * TypeScript compiler API (the `WebConfigInput` interface in src/config/schema.ts and the
 * validators' allowed-key lists in src/config/, the option objects passed to `parseCommandArgs`
 * in src/tools/cli/, the `ScrapeguardErrorCode` union in src/errors.ts), so a key, flag or code added
 * to the code fails this test until the docs say what it is. Each collector is also checked to
 * find known entries, so the test cannot pass by finding nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

// ---------------------------------------------------------------------------------------------
// Configuration keys

/**
 * Every key path of `WebConfigInput`: `section`, `section.key`, `list[].key`; a mapping with
 * free-form keys (a `Record`) whose values are objects continues as `map.*.key`.
 */
function schemaKeyPaths(): string[] {
  const file = join(root, 'src/config/schema.ts');
  const program = ts.createProgram([file], { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, types: [] });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const root_ = source?.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'WebConfigInput');
  if (!root_) throw new Error('src/config/schema.ts: interface WebConfigInput not found');

  /** The object types a property's type can hold, with the path suffix that reaches them. */
  const objectParts = (type: ts.Type, depth: number): { type: ts.Type; suffix: string }[] => {
    if (depth > 8) throw new Error('schema walk: types nested too deep (a recursive type?)');
    const out: { type: ts.Type; suffix: string }[] = [];
    for (const member of type.isUnion() ? type.types : [type]) {
      if (member.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null | ts.TypeFlags.StringLike | ts.TypeFlags.NumberLike | ts.TypeFlags.BooleanLike)) continue;
      if (checker.isArrayType(member)) {
        const element = checker.getTypeArguments(member as ts.TypeReference)[0];
        if (element) for (const part of objectParts(element, depth + 1)) out.push({ type: part.type, suffix: `[]${part.suffix}` });
      } else if (member.flags & ts.TypeFlags.Object) {
        if (checker.getPropertiesOfType(member).length > 0) out.push({ type: member, suffix: '' });
        const index = checker.getIndexTypeOfType(member, ts.IndexKind.String);
        if (index) for (const part of objectParts(index, depth + 1)) out.push({ type: part.type, suffix: `.*${part.suffix}` });
      }
    }
    return out;
  };
  const paths: string[] = [];
  const walk = (type: ts.Type, prefix: string, depth: number): void => {
    for (const property of checker.getPropertiesOfType(type)) {
      const path = prefix === '' ? property.name : `${prefix}.${property.name}`;
      paths.push(path);
      for (const part of objectParts(checker.getTypeOfSymbol(property), depth + 1)) walk(part.type, `${path}${part.suffix}`, depth + 1);
    }
  };
  walk(checker.getTypeAtLocation(root_.name), '', 0);
  return [...new Set(paths)];
}

/** A string-array literal (`['a', 'b']`, `[…] as const`) or a same-file const holding one. */
function stringArray(node: ts.Expression, source: ts.SourceFile): string[] | undefined {
  let expr: ts.Expression = node;
  while (ts.isAsExpression(expr) || ts.isParenthesizedExpression(expr) || ts.isSatisfiesExpression(expr)) expr = expr.expression;
  if (ts.isIdentifier(expr)) {
    const init = constInitializer(expr.text, source);
    return init ? stringArray(init, source) : undefined;
  }
  if (!ts.isArrayLiteralExpression(expr)) return undefined;
  const out: string[] = [];
  for (const element of expr.elements) {
    if (!ts.isStringLiteralLike(element)) return undefined;
    out.push(element.text);
  }
  return out;
}

function constInitializer(name: string, source: ts.SourceFile): ts.Expression | undefined {
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const d of statement.declarationList.declarations) {
      if (ts.isIdentifier(d.name) && d.name.text === name && d.initializer) return d.initializer;
    }
  }
  return undefined;
}

function parse(path: string): ts.SourceFile {
  return ts.createSourceFile(path, read(path), ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
}

function calls(source: ts.SourceFile, match: (call: ts.CallExpression) => boolean): ts.CallExpression[] {
  const out: ts.CallExpression[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && match(node)) out.push(node);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/**
 * Key names the validators accept: the fixed key lists passed to `Checker.mapping(value, path, keys)`
 * in src/config/ (a mapping called without a list takes free-form keys, such as user names).
 */
function validatorKeyNames(): Set<string> {
  const names = new Set<string>();
  for (const name of readdirSync(join(root, 'src/config')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    const source = parse(`src/config/${name}`);
    const mappingCalls = calls(source, (c) => ts.isPropertyAccessExpression(c.expression) && c.expression.name.text === 'mapping' && c.arguments.length >= 3);
    for (const call of mappingCalls) {
      const keys = stringArray(call.arguments[2]!, source);
      if (!keys) throw new Error(`src/config/${name}: cannot read the key list of ${call.getText(source).slice(0, 80)}`);
      for (const k of keys) names.add(k);
    }
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// CLI flags

/** Command name → source file, from the COMMANDS table in src/tools/cli/run.ts and its imports. */
function commandFiles(): Map<string, string> {
  const source = parse('src/tools/cli/run.ts');
  const imports = new Map<string, string>();
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    const bindings = statement.importClause?.namedBindings;
    if (bindings && ts.isNamedImports(bindings)) {
      for (const el of bindings.elements) imports.set(el.name.text, `src/tools/cli/${basename(statement.moduleSpecifier.text).replace(/\.js$/, '.ts')}`);
    }
  }
  const table = constInitializer('COMMANDS', source);
  if (!table || !ts.isObjectLiteralExpression(table)) throw new Error('src/tools/cli/run.ts: COMMANDS object not found');
  const out = new Map<string, string>();
  for (const property of table.properties) {
    if (!ts.isPropertyAssignment(property) || !ts.isObjectLiteralExpression(property.initializer)) continue;
    const command = ts.isIdentifier(property.name) || ts.isStringLiteral(property.name) ? property.name.text : undefined;
    const run = property.initializer.properties.find((p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && p.name.getText(source) === 'run');
    const file = run && ts.isIdentifier(run.initializer) ? imports.get(run.initializer.text) : undefined;
    if (!command || !file) throw new Error(`src/tools/cli/run.ts: cannot tell the file of command ${property.name.getText(source)}`);
    out.set(command, file);
  }
  return out;
}

/** Names of an options object literal (spreads of same-file consts followed). */
function optionNames(node: ts.Expression, source: ts.SourceFile, where: string): string[] {
  let expr: ts.Expression = node;
  while (ts.isAsExpression(expr) || ts.isParenthesizedExpression(expr) || ts.isSatisfiesExpression(expr)) expr = expr.expression;
  if (ts.isIdentifier(expr)) {
    const init = constInitializer(expr.text, source);
    if (!init) throw new Error(`${where}: cannot resolve options ${expr.text}`);
    return optionNames(init, source, where);
  }
  if (!ts.isObjectLiteralExpression(expr)) throw new Error(`${where}: options are not an object literal: ${expr.getText(source).slice(0, 80)}`);
  return expr.properties.flatMap((p) => {
    if (ts.isSpreadAssignment(p)) return optionNames(p.expression, source, where);
    if (p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) return [p.name.text];
    throw new Error(`${where}: cannot read option name ${p.getText(source).slice(0, 80)}`);
  });
}

/** Command → every `--flag` its file passes to `parseCommandArgs` (all calls in the file). */
function cliFlags(): Map<string, string[]> {
  const files = commandFiles();
  const byFile = new Map<string, string[]>();
  for (const name of readdirSync(join(root, 'src/tools/cli')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    const path = `src/tools/cli/${name}`;
    const source = parse(path);
    const found = calls(source, (c) => ts.isIdentifier(c.expression) && c.expression.text === 'parseCommandArgs');
    if (found.length > 0)
      byFile.set(
        path,
        found.flatMap((c) => optionNames(c.arguments[1]!, source, path)).map((n) => `--${n}`),
      );
  }
  const out = new Map<string, string[]>();
  for (const [command, file] of files) {
    out.set(command, [...new Set([...(byFile.get(file) ?? []), '--help'])]);
    byFile.delete(file);
  }
  if (byFile.size > 0) throw new Error(`parseCommandArgs called in files no command in src/tools/cli/run.ts maps to: ${[...byFile.keys()].join(', ')}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Error codes

/** The members of the `ScrapeguardErrorCode` union. */
function errorCodes(): string[] {
  const file = join(root, 'src/errors.ts');
  const program = ts.createProgram([file], { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, types: [] });
  const checker = program.getTypeChecker();
  const alias = program
    .getSourceFile(file)
    ?.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'ScrapeguardErrorCode');
  if (!alias) throw new Error('src/errors.ts: type ScrapeguardErrorCode not found');
  const type = checker.getTypeAtLocation(alias.name);
  return (type.isUnion() ? type.types : [type]).map((t) => {
    if (!t.isStringLiteral()) throw new Error(`ScrapeguardErrorCode member ${checker.typeToString(t)} is not a string literal`);
    return t.value;
  });
}

// ---------------------------------------------------------------------------------------------
// Docs lookups

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Key paths that do not appear, in backticks, in `doc`. */
function undocumentedKeys(doc: string, paths: readonly string[]): string[] {
  return paths.filter((p) => !doc.includes(`\`${p}\``));
}

/** The text of `## heading` up to the next `## ` heading (empty when the heading is missing). */
function section(doc: string, heading: string): string {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) return '';
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** `scrapeguard COMMAND --flag` for each flag without a table row in that command's section. */
function undocumentedFlags(doc: string, flags: ReadonlyMap<string, readonly string[]>): string[] {
  const missing: string[] = [];
  for (const [command, list] of flags) {
    const text = section(doc, `## \`scrapeguard ${command}\``);
    if (text === '') {
      missing.push(`scrapeguard ${command} (no "## \`scrapeguard ${command}\`" section)`);
      continue;
    }
    for (const flag of list) {
      if (flag === '--help') continue; // documented once for every command, in the conventions
      // A row of the section's flag table: "| `--flag VALUE` | meaning |" (a mention in prose or in
      // the synopsis is not an entry).
      if (!new RegExp(`^\\| \`${escape(flag)}(?![\\w.-])`, 'm').test(text)) missing.push(`scrapeguard ${command} ${flag}`);
    }
  }
  return missing;
}

/** Codes without a table row `| \`CODE\` | … |` or a `#### \`CODE\`` entry. */
function undocumentedCodes(doc: string, codes: readonly string[]): string[] {
  return codes.flatMap((code) => [
    ...(new RegExp(`^\\| \`${code}\` \\| .+ \\|$`, 'm').test(doc) ? [] : [`${code} (no row in the error code table)`]),
    ...(doc.includes(`\n#### \`${code}\`\n`) ? [] : [`${code} (no "#### \`${code}\`" entry saying what to do)`]),
  ]);
}

// ---------------------------------------------------------------------------------------------

describe('docs coverage', () => {
  const keys = schemaKeyPaths();
  const flags = cliFlags();
  const codes = errorCodes();

  describe('configuration keys → docs/configuration.md', () => {
    it('the collector reads the schema (finds known keys, nested, in lists and in free-form maps)', () => {
      expect(keys).toEqual(
        expect.arrayContaining([
          'tls_server_config',
          'tls_server_config.client_auth_type',
          'limits.auth_failure_backoff.base_delay',
          'bearer_auth.tokens[].token_sha256',
          'auth_excluded_paths[].force',
          'client_cert_auth.groups_from.san_map',
          'access_rules.rules[].enforce_labels.*.regex',
          'redaction.detect_secrets',
        ]),
      );
      expect(keys.length).toBeGreaterThan(80);
      expect(keys).not.toContain('limits.no_such_key');
    });

    it('every key path the schema declares has an entry', () => {
      const missing = undocumentedKeys(read('docs/configuration.md'), keys);
      expect(
        missing,
        `config keys without an entry in docs/configuration.md (add a row "| \`KEY\` | type | default | meaning |"): ${missing.join(', ')}`,
      ).toEqual([]);
    });

    it('the schema and the validators know the same key names (so the docs check sees every key the loader accepts)', () => {
      const accepted = validatorKeyNames();
      expect(accepted).toContain('max_concurrent_bcrypt');
      expect(accepted).toContain('san_map');
      const declared = new Set(keys.map((p) => p.split('.').pop()!.replace(/\[\]$/, '')));
      const notInSchema = [...accepted].filter((k) => !declared.has(k));
      const notValidated = [...declared].filter((k) => !accepted.has(k));
      expect(
        notInSchema,
        `keys a validator in src/config/ accepts that WebConfigInput (src/config/schema.ts) does not declare: ${notInSchema.join(', ')}`,
      ).toEqual([]);
      expect(notValidated, `keys WebConfigInput declares that no validator in src/config/ accepts: ${notValidated.join(', ')}`).toEqual([]);
    });

    it('an undocumented key is reported by its path', () => {
      expect(undocumentedKeys('| `limits` | mapping |', ['limits', 'limits.handshake_timeout'])).toEqual(['limits.handshake_timeout']);
    });
  });

  describe('CLI flags → docs/cli-reference.md', () => {
    it('the collector reads every command and its flags', () => {
      expect([...flags.keys()]).toEqual(
        expect.arrayContaining(['serve', 'check', 'init', 'scrape-config', 'hash-password', 'token', 'jwt', 'redact', 'scan', 'demo']),
      );
      expect(flags.get('serve')).toEqual(
        expect.arrayContaining(['--web.config.file', '--web.listen-address', '--upstream.insecure-skip-verify', '--allow-plaintext-credentials']),
      );
      expect(flags.get('scrape-config')).toEqual(expect.arrayContaining(['--omit-secrets', '--oauth2-client-secret-file']));
      expect(flags.get('jwt')).toEqual(expect.arrayContaining(['--sub', '--out'])); // `jwt` and `jwt keygen`
      expect(flags.get('init')).not.toContain('--no-such-flag');
    });

    it('every flag of every command has an entry in its command section', () => {
      const missing = undocumentedFlags(read('docs/cli-reference.md'), flags);
      expect(
        missing,
        `CLI flags without an entry in docs/cli-reference.md (add a row "| \`--flag VALUE\` | meaning |" to the command's section): ${missing.join(', ')}`,
      ).toEqual([]);
    });

    it('an undocumented flag is reported with its command; a longer flag, a synopsis or another section does not count', () => {
      const doc =
        '\n## `scrapeguard init`\n\nscrapeguard init [--user U]\n\n| `--san NAME` | … |\n| `--user.name` | … |\n\n## `scrapeguard check`\n\n| `--target` | … |\n';
      expect(undocumentedFlags(doc, new Map([['init', ['--san', '--target', '--user', '--help']]]))).toEqual([
        'scrapeguard init --target',
        'scrapeguard init --user',
      ]);
    });
  });

  describe('error codes → docs/troubleshooting.md', () => {
    it('the collector reads the ScrapeguardErrorCode union', () => {
      expect(codes).toEqual(expect.arrayContaining(['CONFIG_INVALID', 'USAGE', 'SOURCE_FAILED']));
      expect(codes).not.toContain('NO_SUCH_CODE');
    });

    it('every code has a table row and a "what to do" entry', () => {
      const missing = undocumentedCodes(read('docs/troubleshooting.md'), codes);
      expect(missing, `error codes not documented in docs/troubleshooting.md: ${missing.join(', ')}`).toEqual([]);
    });

    it('an undocumented code is reported', () => {
      expect(undocumentedCodes('| `USAGE` | x |\n#### `USAGE`\n', ['USAGE', 'NEW_CODE'])).toEqual([
        'NEW_CODE (no row in the error code table)',
        'NEW_CODE (no "#### `NEW_CODE`" entry saying what to do)',
      ]);
    });
  });
});
