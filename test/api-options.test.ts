/**
 * Fail-closed public API: every options object of the public API refuses unknown keys and wrong
 * types with a TypeError naming the function, the key path and the closest valid key.
 *
 * The walk is driven by the source: the TypeScript compiler API reads each public options type
 * (GuardOptions, the adapters' options, UpstreamOptions, …, and their nested object types), and
 * for every property the test checks that (a) the real function accepts the key, (b) a one-letter
 * misspelling of it throws a TypeError that names the misspelled key and suggests the right one,
 * and (c) the checker's key table equals the type's properties exactly — so an option added to a
 * type but not to its table (or to the table but not the type) fails here.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { Registry } from 'prom-client';
import Fastify from 'fastify';
import { describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import { loadConfigObject } from '../src/config/load.js';
import { defaultRedaction } from '../src/config/redaction.js';
import { compileRedaction } from '../src/exposition/redact.js';
import { createPipeline } from '../src/exposition/pipeline.js';
import { toMetricsSource } from '../src/exposition/source.js';
import { upstreamSource } from '../src/exposition/upstream.js';
import { createLogfmtLogger, silentLogger } from '../src/log.js';
import { noSelfMetrics } from '../src/metrics/self.js';
import { generateCa, generateClientCert, generateDevPki, generateServerCert } from '../src/tools/pki/generate.js';
import { generateOperatorManifests, generateScrapeConfig } from '../src/tools/scrape-config/generate.js';
import { deriveRequirements } from '../src/tools/scrape-config/requirements.js';
import { metricsHandler } from '../src/adapters/http.js';
import { expressMetrics } from '../src/adapters/express.js';
import { koaMetrics } from '../src/adapters/koa.js';
import { fastifyMetrics } from '../src/adapters/fastify.js';
import { listenAddresses } from '../src/server/listen.js';
import * as runtimeSpecs from '../src/api-options.js';
import * as toolSpecs from '../src/tools/api-options.js';

const specs = { ...runtimeSpecs, ...toolSpecs };
import { checkOptions, closestKey, type OptionSpec } from '../src/options.js';

/** A server certificate for the health listener's `tls: { cert, key }` sample. */
const healthCert = await generateServerCert(null, { commonName: 'localhost', sans: ['localhost'] });

// ---------------------------------------------------------------------------------------------
// The public option types, read from source

const ROOT = resolve(import.meta.dirname, '..');
const program = ts.createProgram(
  [
    'src/index.ts',
    'src/adapters/http.ts',
    'src/adapters/express.ts',
    'src/adapters/koa.ts',
    'src/adapters/fastify.ts',
    'src/config/index.ts',
    'src/exposition/index.ts',
    'src/tools/scrape-config/index.ts',
    'src/tools/pki/index.ts',
  ].map((f) => join(ROOT, f)),
  {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  },
);
const checker = program.getTypeChecker();

/** Where a public options type is: a named interface, or a function's parameter (inline types). */
type TypeRef = { file: string; interface: string } | { file: string; fn: string; param: number };

function typeOf(ref: TypeRef): ts.Type {
  const source = program.getSourceFile(join(ROOT, ref.file));
  if (!source) throw new Error(`not in the program: ${ref.file}`);
  let found: ts.Type | undefined;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if ('interface' in ref && ts.isInterfaceDeclaration(node) && node.name.text === ref.interface) found = checker.getTypeAtLocation(node);
    if ('fn' in ref && ts.isFunctionDeclaration(node) && node.name?.text === ref.fn)
      found = checker.getNonNullableType(checker.getTypeAtLocation(node.parameters[ref.param]!));
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (!found) throw new Error(`type not found: ${JSON.stringify(ref)}`);
  return found;
}

/** The one object-shaped member of a (possibly union) property type, e.g. `'xfcc' | { header }`. */
function objectMember(type: ts.Type): ts.Type | undefined {
  const members = (type.isUnion() ? type.types : [type]).filter(
    (t) =>
      (t.flags & ts.TypeFlags.Object) !== 0 && !checker.isArrayLikeType(t) && checker.getPropertiesOfType(t).length > 0 && t.getCallSignatures().length === 0,
  );
  return members.length === 1 ? members[0] : undefined;
}

/** Key paths of a type and its nested option objects (those the table checks with `keys`). */
function compare(spec: OptionSpec, type: ts.Type, path: string, out: { path: string; specKeys: string[]; typeKeys: string[] }[]): void {
  const props = checker.getPropertiesOfType(type);
  out.push({ path, specKeys: Object.keys(spec).sort(), typeKeys: props.map((p) => p.name).sort() });
  for (const [key, rule] of Object.entries(spec)) {
    if (!rule.keys) continue;
    const prop = props.find((p) => p.name === key);
    if (!prop) continue;
    const nested = objectMember(checker.getNonNullableType(checker.getTypeOfSymbol(prop)));
    expect(nested, `${path}.${key}: the table checks nested keys, but the type has no single object form`).toBeDefined();
    compare(rule.keys, nested!, `${path}.${key}`, out);
  }
}

// ---------------------------------------------------------------------------------------------
// The table: every public function taking an options object

const tmp = mkdtempSync(join(tmpdir(), 'sg-api-options-'));
const fakeGuard = { handle: async () => ({ status: 200, headers: {}, body: '' }), telemetryPath: '/metrics' };
const plainConfig = loadConfigObject({});

interface Entry {
  /** Function name as it appears in messages. */
  fn: string;
  type: TypeRef;
  spec: OptionSpec;
  foreign?: readonly string[];
  /** Required keys with valid values. */
  base: Record<string, unknown>;
  /** A valid value for every key of the type (nested objects with every nested key). */
  samples: Record<string, unknown>;
  /** Calls the real function with the options; resolves when accepted. */
  call: (options: Record<string, unknown>) => Promise<unknown>;
}

const scrapeSamples = {
  auth: 'none',
  labelDrops: ['secret_.*'],
  username: 'prometheus',
  oauth2: { tokenUrl: 'https://issuer.example/token', clientId: 'prometheus', scopes: ['metrics'], endpointParams: { audience: 'metrics' } },
  metricsPath: '/metrics',
  serverName: 'localhost',
  credentialsDir: tmp,
  files: {
    caFile: 'ca.crt',
    certFile: 'c.crt',
    keyFile: 'c.key',
    passwordFile: 'p',
    credentialsFile: 't',
    clientSecretFile: 's',
    oauth2CaFile: 'o.crt',
    apiKeyFile: 'k',
  },
  prometheusVersion: { major: 2, minor: 42 },
  nativeHistograms: true,
  baseDir: tmp,
  now: new Date(),
};

/**
 * Some functions refuse a valid key for a reason of their own (e.g. `oauth2` for a server that
 * takes no JWTs, a credentials file that does not exist): acceptance means the options check
 * passed, so only a TypeError gets through.
 */
async function accepted(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof TypeError) throw error;
  }
}

const certSamples = {
  commonName: 'x',
  sans: ['localhost'],
  keyType: 'ec',
  notBefore: new Date(Date.now() - 60_000),
  notAfter: new Date(Date.now() + 86_400_000),
  organizationalUnit: 'ops',
};

const ENTRIES: Entry[] = [
  {
    fn: 'createGuard',
    type: { file: 'src/guard.ts', interface: 'GuardOptions' },
    spec: specs.GUARD_OPTIONS,
    base: { source: () => '', logger: silentLogger, watch: false },
    samples: {
      config: {},
      baseDir: tmp,
      source: () => '',
      telemetryPath: '/m',
      logger: silentLogger,
      // A fresh registry per use: self-metrics register their names once per registry.
      get selfMetrics() {
        return new Registry();
      },
      watch: false,
      watchPollMs: 0,
      audit: () => undefined,
      trustedProxies: { addresses: ['10.0.0.1', 'fd00::/8'], clientCertificate: { header: 'x-client-cert', verifyHeader: 'x-client-verify' } },
      acceptConfig: () => undefined,
    },
    call: async (o) => {
      const guard = await createGuard(o as never);
      await guard.close();
    },
  },
  {
    fn: 'generateScrapeConfig',
    type: { file: 'src/tools/scrape-config/generate.ts', interface: 'ScrapeConfigOptions' },
    spec: specs.SCRAPE_CONFIG_OPTIONS,
    base: { targets: ['127.0.0.1:9443'] },
    samples: { ...scrapeSamples, targets: ['127.0.0.1:9443'], jobName: 'api', scrapeInterval: '30s' },
    call: async (o) => accepted(async () => generateScrapeConfig(await plainConfig, o as never)),
  },
  {
    fn: 'generateOperatorManifests',
    type: { file: 'src/tools/scrape-config/generate.ts', interface: 'OperatorManifestOptions' },
    spec: specs.OPERATOR_MANIFEST_OPTIONS,
    base: { selector: { app: 'api' } },
    samples: {
      ...scrapeSamples,
      kind: 'PodMonitor',
      name: 'api',
      namespace: 'shop',
      selector: { app: 'api' },
      port: 'metrics',
      interval: '30s',
      embedSecrets: false,
      secretName: 'api-scrape',
      operatorVersion: '0.80',
      targets: ['127.0.0.1:9443'],
    },
    call: async (o) => accepted(async () => generateOperatorManifests(await plainConfig, o)),
  },
  {
    fn: 'deriveRequirements',
    type: { file: 'src/tools/scrape-config/requirements.ts', interface: 'RequirementOptions' },
    spec: specs.REQUIREMENT_OPTIONS,
    base: {},
    samples: { auth: 'none', labelDrops: ['x'], username: 'prometheus', oauth2: scrapeSamples.oauth2, metricsPath: '/metrics' },
    call: async (o) => accepted(async () => deriveRequirements(await plainConfig, o)),
  },
  {
    fn: 'upstreamSource',
    type: { file: 'src/exposition/upstream.ts', interface: 'UpstreamOptions' },
    spec: specs.UPSTREAM_OPTIONS,
    base: { url: 'https://127.0.0.1:9/metrics' },
    samples: {
      url: 'https://127.0.0.1:9/metrics',
      timeoutMs: 1000,
      maxBytes: 1024,
      tls: { ca: 'ca-pem', cert: 'cert-pem', key: Buffer.from('key-pem'), serverName: 'localhost', insecureSkipVerify: true },
      identityHeaders: { user: 'x-remote-user', groups: 'x-remote-groups', method: 'x-remote-auth-method', groupsSeparator: '|' },
      http2: true,
    },
    call: async (o) => upstreamSource(o as never),
  },
  {
    fn: 'metricsHandler',
    type: { file: 'src/adapters/http.ts', interface: 'MetricsHandlerOptions' },
    spec: specs.METRICS_HANDLER_OPTIONS,
    base: {},
    samples: { path: '/metrics', next: () => undefined },
    call: async (o) => metricsHandler(fakeGuard, o),
  },
  {
    fn: 'expressMetrics',
    type: { file: 'src/adapters/mount.ts', interface: 'MountOptions' },
    spec: specs.MOUNT_OPTIONS,
    base: {},
    samples: { path: '/metrics' },
    call: async (o) => expressMetrics(fakeGuard, o),
  },
  {
    fn: 'koaMetrics',
    type: { file: 'src/adapters/mount.ts', interface: 'MountOptions' },
    spec: specs.MOUNT_OPTIONS,
    base: {},
    samples: { path: '/metrics' },
    call: async (o) => koaMetrics(fakeGuard, o),
  },
  {
    fn: 'fastifyMetrics',
    type: { file: 'src/adapters/fastify.ts', interface: 'FastifyMetricsOptions' },
    spec: specs.FASTIFY_METRICS_OPTIONS,
    foreign: specs.FASTIFY_REGISTER_KEYS,
    base: { guard: fakeGuard },
    samples: { guard: fakeGuard, path: '/metrics' },
    call: async (o) => {
      // Through fastify itself, with the `prefix` it adds to the options.
      const app = Fastify();
      try {
        await app.register(fastifyMetrics, { ...o, prefix: '/p' } as never);
        await app.ready();
      } finally {
        await app.close();
      }
    },
  },
  {
    fn: 'loadConfigObject',
    type: { file: 'src/config/load.ts', interface: 'LoadOptions' },
    spec: specs.LOAD_OPTIONS,
    base: {},
    samples: { baseDir: tmp },
    call: async (o) => loadConfigObject({}, o),
  },
  {
    fn: 'createPipeline',
    type: { file: 'src/exposition/pipeline.ts', interface: 'PipelineOptions' },
    spec: specs.PIPELINE_OPTIONS,
    base: { redactor: compileRedaction(defaultRedaction()) },
    samples: {
      redactor: compileRedaction(defaultRedaction()),
      metrics: noSelfMetrics,
      limits: { maxSeriesPerScrape: 10, maxSeriesPerFamily: 0, maxLabelsPerSeries: 0, maxLabelValueBytes: 0 },
      logger: silentLogger,
    },
    call: async (o) =>
      createPipeline(
        toMetricsSource(() => ''),
        o as never,
      ),
  },
  {
    fn: 'listenHealth',
    type: { file: 'src/server/health.ts', interface: 'HealthListenOptions' },
    spec: specs.HEALTH_LISTEN_OPTIONS,
    base: {},
    samples: { tls: { cert: healthCert.certPem, key: healthCert.keyPem }, readyWindowMs: 1000 },
    call: async (o) => {
      const guard = await createGuard({ source: () => '', logger: silentLogger, watch: false });
      try {
        await guard.listenHealth('127.0.0.1:0', o);
      } finally {
        await guard.close(0);
      }
    },
  },
  {
    fn: 'createLogfmtLogger',
    type: { file: 'src/log.ts', fn: 'createLogfmtLogger', param: 0 },
    spec: specs.LOGFMT_LOGGER_OPTIONS,
    base: {},
    samples: { level: 'warn', write: () => undefined },
    call: async (o) => createLogfmtLogger(o),
  },
  {
    fn: 'generateCa',
    type: { file: 'src/tools/pki/generate.ts', interface: 'CertificateOptions' },
    spec: specs.CERTIFICATE_OPTIONS,
    base: { commonName: 'x' },
    samples: certSamples,
    call: async (o) => generateCa(o as never),
  },
  {
    fn: 'generateServerCert',
    type: { file: 'src/tools/pki/generate.ts', interface: 'CertificateOptions' },
    spec: specs.CERTIFICATE_OPTIONS,
    base: { commonName: 'x' },
    samples: certSamples,
    call: async (o) => generateServerCert(null, o as never),
  },
  {
    fn: 'generateClientCert',
    type: { file: 'src/tools/pki/generate.ts', interface: 'CertificateOptions' },
    spec: specs.CERTIFICATE_OPTIONS,
    base: { commonName: 'x' },
    samples: certSamples,
    call: async (o) => generateClientCert(null, o as never),
  },
  {
    fn: 'generateDevPki',
    type: { file: 'src/tools/pki/generate.ts', interface: 'DevPkiOptions' },
    spec: specs.DEV_PKI_OPTIONS,
    base: {},
    samples: { serverSans: ['localhost'], clientName: 'prometheus', keyType: 'ec' },
    call: async (o) => generateDevPki(o),
  },
];

/** One-letter misspelling of `key` that is not itself a key: the middle letter dropped (or one added to a two-letter key). */
function misspell(key: string, valid: readonly string[]): string {
  const candidates = key.length <= 2 ? [`${key}${key.at(-1)}`] : [...key].map((_, i) => key.slice(0, i) + key.slice(i + 1)).slice(1);
  const pick = candidates.find((c) => !valid.includes(c));
  if (!pick) throw new Error(`no misspelling of ${key}`);
  return pick;
}

/** Every key path of the samples that the table checks: top-level keys and nested option-object keys. */
function keyPaths(spec: OptionSpec, samples: Record<string, unknown>, prefix: string[] = []): { path: string[]; spec: OptionSpec }[] {
  const out: { path: string[]; spec: OptionSpec }[] = [];
  for (const key of Object.keys(spec)) {
    out.push({ path: [...prefix, key], spec });
    const rule = spec[key]!;
    const sample = samples[key];
    if (rule.keys && typeof sample === 'object' && sample !== null && !Array.isArray(sample) && !(sample instanceof Date)) {
      out.push(...keyPaths(rule.keys, sample as Record<string, unknown>, [...prefix, key]));
    }
  }
  return out;
}

/** The samples with the key at `path` renamed to `to`. */
function renamed(samples: Record<string, unknown>, path: readonly string[], to: string): Record<string, unknown> {
  const [head, ...rest] = path;
  const copy = { ...samples };
  if (rest.length === 0) {
    copy[to] = copy[head!];
    delete copy[head!];
  } else copy[head!] = renamed(copy[head!] as Record<string, unknown>, rest, to);
  return copy;
}

// ---------------------------------------------------------------------------------------------

describe('every public options type is checked key by key', () => {
  test('the table covers every function of the public API that takes an options object', () => {
    const covered = new Set(ENTRIES.map((e) => e.fn));
    for (const fn of [
      'createGuard',
      'upstreamSource',
      'metricsHandler',
      'expressMetrics',
      'koaMetrics',
      'fastifyMetrics',
      'generateScrapeConfig',
      'generateOperatorManifests',
      'deriveRequirements',
      'loadConfigObject',
      'createPipeline',
      'createLogfmtLogger',
      'generateCa',
      'generateServerCert',
      'generateClientCert',
      'generateDevPki',
    ]) {
      expect(covered.has(fn), fn).toBe(true);
    }
  });

  describe.each(ENTRIES.map((e) => [e.fn, e] as const))('%s', (_, entry) => {
    test('the checker allows exactly the properties of the TypeScript type (nested option objects too)', () => {
      const rows: { path: string; specKeys: string[]; typeKeys: string[] }[] = [];
      compare(entry.spec, typeOf(entry.type), entry.fn, rows);
      for (const row of rows) expect(row.specKeys, `${row.path}: checker keys vs type properties`).toEqual(row.typeKeys);
      // Every key has a sample, so the next tests reach all of them.
      expect(Object.keys(entry.samples).sort()).toEqual(Object.keys(entry.spec).sort());
    });

    test('each valid key is accepted by the real function', async () => {
      for (const key of Object.keys(entry.spec)) {
        await entry.call({ ...entry.base, [key]: entry.samples[key] });
      }
      await entry.call({ ...entry.samples });
    });

    test('a one-letter misspelling of each key throws a TypeError naming it and suggesting the right key', async () => {
      for (const { path, spec } of keyPaths(entry.spec, entry.samples)) {
        const key = path.at(-1)!;
        const typo = misspell(key, Object.keys(spec));
        const options = renamed({ ...entry.samples }, path, typo);
        const where = path.slice(0, -1).join('.');
        const shown = (k: string) => (where === '' ? k : `${where}.${k}`);
        const error = await entry.call(options).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, `${entry.fn}: ${shown(typo)} was accepted`).toBeInstanceOf(TypeError);
        expect((error as Error).message).toBe(`${entry.fn}: unknown option \`${shown(typo)}\` (did you mean \`${shown(key)}\`?)`);
      }
    });
  });
});

describe('createGuard fails closed', () => {
  const source = () => '';
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['configFile (a plausible typo of config)', { source, configFile: 'web.yml' }, /^createGuard: unknown option `configFile` \(did you mean `config`\?\)$/],
    ['watch: "yes"', { source, watch: 'yes' }, /^createGuard: option `watch` must be a boolean, got a string$/],
    ['telemetryPath: 5', { source, telemetryPath: 5 }, /^createGuard: option `telemetryPath` must be a path starting with "\/", got number 5$/],
    ['source missing', { config: {} }, /^createGuard: option `source` is required/],
    [
      'config: undefined (an unset environment variable)',
      { source, config: undefined },
      /^createGuard: option `config` is undefined; give a web-config\.yml path or a config object or leave the key out$/,
    ],
    ['config: null', { source, config: null }, /^createGuard: option `config` must be a web-config\.yml path or a config object, got null$/],
    ['config: ""', { source, config: '' }, /^createGuard: option `config` must be/],
    [
      'trustedProxies.adresses',
      { source, trustedProxies: { adresses: ['10.0.0.1'] } },
      /^createGuard: unknown option `trustedProxies\.adresses` \(did you mean `trustedProxies\.addresses`\?\)$/,
    ],
    ['trustedProxies covering every address', { source, trustedProxies: { addresses: ['0.0.0.0/0'] } }, /trusts every address/],
    ['trustedProxies ::/0', { source, trustedProxies: { addresses: ['::/0'] } }, /trusts every address/],
    ['an unknown key far from every option', { source, zzz: 1 }, /^createGuard: unknown option `zzz` \(valid options: `config`, `baseDir`, `source`/],
  ];
  test.each(cases)('%s → TypeError', async (_, options, message) => {
    const error = await createGuard({ logger: silentLogger, watch: false, ...options } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(message);
  });

  test('options that are not an object → TypeError', async () => {
    await expect(createGuard('web.yml' as never)).rejects.toThrow(/^createGuard: options must be an object, got a string$/);
    await expect(createGuard(undefined as never)).rejects.toThrow(/^createGuard: options must be an object, got a undefined$/);
  });

  test("the caller's options object is never mutated (a frozen object works and is unchanged)", async () => {
    const options = Object.freeze({
      source,
      config: {},
      logger: silentLogger,
      watch: false,
      trustedProxies: Object.freeze({ addresses: Object.freeze(['10.0.0.1']) }),
    });
    const before = JSON.stringify(options);
    const guard = await createGuard(options);
    expect(JSON.stringify(options)).toBe(before);
    await guard.close();
  });

  test('closestKey: transpositions, case, and near-miss names', () => {
    const keys = Object.keys(specs.GUARD_OPTIONS);
    expect(closestKey('cofnig', keys)).toBe('config');
    expect(closestKey('Config', keys)).toBe('config');
    expect(closestKey('configFile', keys)).toBe('config');
    expect(closestKey('telemetry', keys)).toBe('telemetryPath');
    expect(closestKey('watchPoll', keys)).toBe('watchPollMs');
    expect(closestKey('xyz', keys)).toBeUndefined();
    // No string value is ever echoed (it may be a password or a key).
    expect(() => checkOptions('f', { a: 'hunter2' }, { a: { expected: 'a number', test: (v) => typeof v === 'number' } })).toThrow(
      /^f: option `a` must be a number, got a string$/,
    );
  });
});

describe('listen() and close() arguments', () => {
  let guard: Guard;
  test('a port number binds loopback without TLS (every interface with TLS), host:port strings and arrays bind as given', async () => {
    guard = await createGuard({ source: () => '# TYPE up gauge\nup 1\n', logger: silentLogger, watch: false });
    expect(listenAddresses(9443, true)).toEqual([':9443']);
    expect(listenAddresses(9443, false)).toEqual(['127.0.0.1:9443']);
    expect(listenAddresses(['[::1]:0', 0, ':9100'], false)).toEqual(['[::1]:0', '127.0.0.1:0', ':9100']);
    const [one] = await guard.listen(0);
    expect(one!.host).toBe('127.0.0.1');
    const two = await guard.listen(['127.0.0.1:0', 0]);
    expect(two.map((b) => b.host)).toEqual(['127.0.0.1', '127.0.0.1']);
    const three = await guard.listen('127.0.0.1:0');
    expect(three).toHaveLength(1);
    const res = await fetch(`${one!.url}/metrics`);
    expect(res.status).toBe(200);
  });

  test.each([
    ['a numeric string', '9443', /^listen: addresses "9443" has no host part; write ":9443" for every interface or "127.0.0.1:9443"$/],
    ['a port out of range', 70000, /^listen: addresses must be a port from 0 to 65535, got 70000$/],
    ['a fraction', 1.5, /^listen: addresses must be a port from 0 to 65535, got 1\.5$/],
    ['an options object', { port: 9443 }, /^listen: addresses must be a port number, "HOST:PORT", "\[IPv6\]:PORT" or ":PORT", got a object$/],
    ['an empty array', [], /^listen: addresses is an empty array/],
    ['a bad element', ['127.0.0.1:0', 'localhost'], /^listen: addresses\[1\] must be "HOST:PORT", "\[IPv6\]:PORT", ":PORT" or a port number, got "localhost"$/],
    ['undefined', undefined, /^listen: addresses must be a port number/],
  ])('listen(%s) → TypeError naming the argument', async (_, value, message) => {
    await expect(guard.listen(value as never)).rejects.toThrow(message);
    await expect(guard.listen(value as never)).rejects.toBeInstanceOf(TypeError);
  });

  test.each([
    ['a string', '5s'],
    ['negative', -1],
    ['NaN', Number.NaN],
    ['Infinity', Infinity],
  ])('close(%s) → TypeError; close() then works', async (_, value) => {
    const g = await createGuard({ source: () => '', logger: silentLogger, watch: false });
    await expect(g.close(value as never)).rejects.toThrow(/^close: graceMs must be a non-negative number of milliseconds/);
    await g.close(0);
  });

  test('closing the guard of the listen tests', async () => {
    await guard.close(0);
    await expect(guard.listen(0)).rejects.toThrow(/closed/);
  });
});
