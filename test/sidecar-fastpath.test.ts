/**
 * The sidecar's fast paths (#16), over real sockets against a node:http exporter that counts and
 * records its requests: one upstream fetch shared by concurrent identical scrapes (in flight
 * only, never across principals, errors shared, a client going away cancels nothing), and the
 * pass-through that sends the upstream's bytes unparsed when nothing can change the scrape —
 * falling back to the strict parse → render path whenever the answer is not exactly what the
 * scraper negotiated.
 */
import { wholeBody } from './helpers/exposition.js';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import { defaultRedaction } from '../src/config/redaction.js';
import { createPipeline, withExtraFamilies } from '../src/exposition/pipeline.js';
import { compileRedaction } from '../src/exposition/redact.js';
import { toMetricsSource, defineMetricsSource } from '../src/exposition/source.js';
import { countSampleLines, hasQuotedName } from '../src/exposition/passthrough.js';
import { SourceError } from '../src/exposition/failure.js';
import { upstreamSource } from '../src/exposition/upstream.js';
import { parseExposition } from '../src/exposition/parse.js';
import { createGuard, type Guard } from '../src/guard.js';
import type { Principal } from '../src/auth/principal.js';
import { Registry, Gauge } from 'prom-client';
import { allowPropertyTime, propertyRuns } from './helpers/property-runs.js';

allowPropertyTime();

const servers: Server[] = [];
const guards: Guard[] = [];
afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
  await Promise.all(servers.splice(0).map((s) => (s.closeAllConnections(), new Promise((r) => s.close(r)))));
});

interface Exporter {
  url: string;
  requests: IncomingMessage[];
  connections: number;
  /** Answers every request held so far (and later ones at once). */
  release(): void;
}

/** A plain exporter on loopback; with `hold`, it answers only after release(). */
async function exporter(answer: (req: IncomingMessage, res: ServerResponse) => void, hold = false): Promise<Exporter> {
  const held: (() => void)[] = [];
  let open = !hold;
  const state: Exporter = {
    url: '',
    requests: [],
    connections: 0,
    release() {
      open = true;
      for (const go of held.splice(0)) go();
    },
  };
  const server = createServer((req, res) => {
    state.requests.push(req);
    if (open) answer(req, res);
    else held.push(() => answer(req, res));
  });
  server.on('connection', () => state.connections++);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  return state;
}

const textAnswer =
  (body: string | Buffer, contentType = 'text/plain; version=0.0.4; charset=utf-8', headers: Record<string, string> = {}) =>
  (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': contentType, ...headers });
    res.end(body);
  };

/** Waits (bounded) until the exporter has seen `n` requests. */
async function seen(up: Exporter, n: number): Promise<void> {
  for (let i = 0; i < 500 && up.requests.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  expect(up.requests.length).toBe(n);
}

const principal = (name: string): Principal => ({ name, groups: ['g'], method: 'basic' }) as unknown as Principal;

describe('one upstream fetch shared by concurrent identical scrapes', () => {
  test('concurrent scrapes share one upstream request; a scrape after it settled asks again (no cache)', async () => {
    const up = await exporter(textAnswer('# TYPE up_demo gauge\nup_demo 1\n'), true);
    const source = upstreamSource({ url: up.url });
    const scrapes = Array.from({ length: 5 }, () => source());
    await seen(up, 1);
    up.release();
    const outs = await Promise.all(scrapes);
    expect(up.requests).toHaveLength(1);
    for (const out of outs) expect('body' in out && out.body).toBe('# TYPE up_demo gauge\nup_demo 1\n');
    await source();
    expect(up.requests).toHaveLength(2);
  });

  test('an upstream failure is shared by the scrapes that awaited it, each a 502 SourceError', async () => {
    const up = await exporter((_req, res) => res.writeHead(500).end('secret-ish body'), true);
    const source = upstreamSource({ url: up.url });
    const scrapes = Array.from({ length: 3 }, () => source().catch((e: unknown) => e));
    await seen(up, 1);
    up.release();
    const errors = await Promise.all(scrapes);
    expect(up.requests).toHaveLength(1);
    for (const e of errors) {
      expect(e).toBeInstanceOf(SourceError);
      expect((e as SourceError).status).toBe(502);
      expect((e as SourceError).reason).toBe('status');
    }
  });

  test('different asks are not shared: a protobuf scrape and a text scrape fetch separately', async () => {
    const up = await exporter(textAnswer('up_demo 1\n'), true);
    const source = upstreamSource({ url: up.url });
    const both = Promise.all([source(), source({ protobuf: true })]);
    await seen(up, 2);
    up.release();
    await both;
    expect(up.requests.map((r) => r.headers.accept?.split(';')[0])).toEqual(
      expect.arrayContaining(['application/openmetrics-text', 'application/vnd.google.protobuf']),
    );
  });

  test('with identity headers a fetch is shared only by scrapes of the same principal, never across principals', async () => {
    const up = await exporter((req, res) => textAnswer(`who{user="${String(req.headers['x-remote-user'])}"} 1\n`)(req, res), true);
    const source = upstreamSource({ url: up.url, identityHeaders: true });
    expect(source.perCaller).toBe(true);
    const scrapes = [source({ principal: principal('alice') }), source({ principal: principal('bob') }), source({ principal: principal('alice') })];
    await seen(up, 2);
    up.release();
    const outs = await Promise.all(scrapes);
    expect(up.requests.map((r) => r.headers['x-remote-user']).sort()).toEqual(['alice', 'bob']);
    expect(outs.map((o) => ('body' in o ? o.body : ''))).toEqual(['who{user="alice"} 1\n', 'who{user="bob"} 1\n', 'who{user="alice"} 1\n']);
  });

  test('a scraper that goes away while waiting does not cancel the shared fetch: the other scrape still gets 200', async () => {
    const up = await exporter(textAnswer('up_demo 1\n'), true);
    const guard = await createGuard({ config: { redaction: { detect_secrets: false } }, source: upstreamSource({ url: up.url }), watch: false });
    guards.push(guard);
    const [bound] = await guard.listen('127.0.0.1:0');
    const url = `http://127.0.0.1:${bound!.port}/metrics`;
    const quitter = httpRequest(url);
    quitter.on('error', () => undefined);
    quitter.end();
    await seen(up, 1);
    const stayer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
    // Give the second scrape time to join the fetch in flight, then drop the first client.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    quitter.destroy();
    up.release();
    const got = await stayer;
    expect(got.status).toBe(200);
    expect(got.body).toContain('up_demo 1');
    expect(up.requests.length).toBeLessThanOrEqual(2);
  });

  test('keep-alive: sequential scrapes reuse one upstream connection', async () => {
    const up = await exporter(textAnswer('up_demo 1\n'));
    const source = upstreamSource({ url: up.url });
    for (let i = 0; i < 5; i++) await source();
    expect(up.requests).toHaveLength(5);
    expect(up.connections).toBe(1);
  });
});

const noRule = () => compileRedaction({ ...defaultRedaction(), detectSecrets: [] });
// Deliberately not how the renderer writes it (two spaces, no HELP/TYPE order it would pick), so
// a pass-through is told apart from a re-render byte for byte.
const ODD_BODY = '# HELP app_requests Requests, served.\n# TYPE app_requests counter\napp_requests{path="/a"}  7\napp_requests{path="/b"} 3\n';

describe('pass-through when nothing can change the scrape', () => {
  test('no rule, no detector, no filter, no limit: the upstream bytes are sent as they came, asked for in the negotiated format first', async () => {
    const up = await exporter(textAnswer(ODD_BODY));
    const expose = createPipeline(upstreamSource({ url: up.url }), { redactor: noRule() });
    const out = await expose({});
    expect(Buffer.from(out.body as string | Buffer).toString('utf8')).toBe(ODD_BODY);
    expect(out.contentType).toBe('text/plain; version=0.0.4; charset=utf-8; escaping=underscores');
    expect(out.seriesReturned).toBe(2);
    expect(up.requests[0]!.headers.accept).toMatch(/^text\/plain;version=0\.0\.4;escaping=underscores;q=0\.7,/);
  });

  test('the default redaction (every secret detector on) takes the full path: parsed strictly, redacted, only untouched families sent as they came', async () => {
    const secret = '# TYPE db_up gauge\ndb_up{dsn="mysql://root:hunter2@db:3306/x"}  1\n';
    const up = await exporter(textAnswer(ODD_BODY + secret));
    const expose = createPipeline(upstreamSource({ url: up.url }), { redactor: compileRedaction(defaultRedaction()) });
    const out = await expose({});
    // The family nothing changed keeps the upstream's own spacing; the one with a secret is masked and rendered.
    expect(wholeBody(out)).toBe(`${ODD_BODY}# TYPE db_up gauge\ndb_up{dsn="[REDACTED]"} 1\n`);
    // The upstream is asked for its own (UTF-8) names, which the rules match.
    expect(up.requests[0]!.headers.accept).toMatch(/^application\/openmetrics-text;version=1\.0\.0;escaping=allow-utf-8/);
    // Parsed strictly: an answer that does not parse is refused, nothing of it sent.
    const bad = await exporter(textAnswer(`${ODD_BODY}app_requests{path="/c"} seven\n`));
    await expect(createPipeline(upstreamSource({ url: bad.url }), { redactor: compileRedaction(defaultRedaction()) })({})).rejects.toMatchObject({
      status: 502,
      reason: 'parse',
    });
  });

  test('an access filter or an export limit takes the full path', async () => {
    const up = await exporter(textAnswer(ODD_BODY));
    const source = upstreamSource({ url: up.url });
    const filtered = await createPipeline(source, { redactor: noRule() })({ filter: { allowsFamily: (n) => n !== 'app_requests', labelConstraints: [] } });
    expect(wholeBody(filtered)).not.toContain('app_requests');
    const limited = await createPipeline(source, {
      redactor: noRule(),
      limits: { maxSeriesPerScrape: 1, maxSeriesPerFamily: 100, maxLabelsPerSeries: 100, maxLabelValueBytes: 100 },
    })({});
    expect(limited.seriesReturned).toBeLessThanOrEqual(1);
  });

  test('an answer in another format than negotiated (OpenMetrics for a text scraper) is parsed and re-rendered', async () => {
    const om = '# TYPE app_requests counter\napp_requests_total{path="/a"} 7\n# EOF\n';
    const up = await exporter(textAnswer(om, 'application/openmetrics-text; version=1.0.0; charset=utf-8'));
    const out = await createPipeline(upstreamSource({ url: up.url }), { redactor: noRule() })({});
    expect(wholeBody(out)).toBe('# TYPE app_requests_total counter\napp_requests_total{path="/a"} 7\n');
  });

  test('a quoted UTF-8 name for a scraper that wants escaped names falls back and is escaped', async () => {
    const up = await exporter(textAnswer('{"my.metric",path="/a"} 1\n'));
    const out = await createPipeline(upstreamSource({ url: up.url }), { redactor: noRule() })({});
    expect(wholeBody(out)).toContain('my_metric{path="/a"} 1');
    const utf8 = await createPipeline(upstreamSource({ url: up.url }), { redactor: noRule() })({
      accept: 'text/plain;version=0.0.4;escaping=allow-utf-8',
    });
    expect(wholeBody(utf8)).toBe('{"my.metric",path="/a"} 1\n');
  });

  test('garbage the strict parser rejects is still a 502 on the full path (default config)', async () => {
    const up = await exporter(textAnswer('app_requests{path="/a" 7\n'));
    await expect(createPipeline(upstreamSource({ url: up.url }), { redactor: compileRedaction(defaultRedaction()) })({})).rejects.toMatchObject({
      status: 502,
      reason: 'parse',
    });
  });

  test('gzip: the upstream compressed bytes pass through to a gzip scraper; an identity scraper gets them decoded', async () => {
    const gz = gzipSync(ODD_BODY);
    const up = await exporter(textAnswer(gz, undefined, { 'content-encoding': 'gzip' }));
    const expose = createPipeline(upstreamSource({ url: up.url }), { redactor: noRule() });
    const zipped = await expose({ acceptEncoding: 'gzip' });
    expect(zipped.contentEncoding).toBe('gzip');
    expect(Buffer.compare(Buffer.from(zipped.body as string | Buffer), gz)).toBe(0);
    const plain = await expose({ acceptEncoding: 'identity' });
    expect(plain.contentEncoding).toBeUndefined();
    expect(wholeBody(plain)).toBe(ODD_BODY);
  });

  test('the size cap still applies after gunzip on the pass-through path', async () => {
    const big = `# TYPE pad gauge\n${'pad 1\n'.repeat(50_000)}`;
    const up = await exporter(textAnswer(gzipSync(big), undefined, { 'content-encoding': 'gzip' }));
    await expect(createPipeline(upstreamSource({ url: up.url, maxBytes: 10_000 }), { redactor: noRule() })({ acceptEncoding: 'gzip' })).rejects.toMatchObject({
      status: 502,
      reason: 'too_large',
    });
  });

  test("the sidecar's own families are appended (a second gzip member when compressed), a name clash falls back", async () => {
    const registry = new Registry();
    new Gauge({ name: 'scrapeguard_demo', help: 'Own metric.', registers: [registry] }).set(5);
    const gz = gzipSync(ODD_BODY);
    const up = await exporter(textAnswer(gz, undefined, { 'content-encoding': 'gzip' }));
    const expose = createPipeline(withExtraFamilies(upstreamSource({ url: up.url }), toMetricsSource(registry)), { redactor: noRule() });
    const zipped = await expose({ acceptEncoding: 'gzip' });
    const bytes = Buffer.from(zipped.body as string | Buffer);
    expect(Buffer.compare(bytes.subarray(0, gz.length), gz)).toBe(0);
    expect(gunzipSync(bytes).toString('utf8')).toBe(`${ODD_BODY}# HELP scrapeguard_demo Own metric.\n# TYPE scrapeguard_demo gauge\nscrapeguard_demo 5\n`);
    expect(zipped.seriesReturned).toBe(3);

    const clash = await exporter(textAnswer('# TYPE scrapeguard_demo gauge\nscrapeguard_demo 9\n'));
    const out = await createPipeline(withExtraFamilies(upstreamSource({ url: clash.url }), toMetricsSource(registry)), { redactor: noRule() })({});
    expect(wholeBody(out)).toBe('# TYPE scrapeguard_demo gauge\nscrapeguard_demo 9\n');
  });

  test('OpenMetrics: the own families go before the upstream # EOF', async () => {
    const registry = new Registry();
    new Gauge({ name: 'scrapeguard_demo', help: 'Own metric.', registers: [registry] }).set(5);
    const om = '# TYPE app_up gauge\napp_up  1\n# EOF\n';
    const up = await exporter(textAnswer(om, 'application/openmetrics-text; version=1.0.0; charset=utf-8'));
    const out = await createPipeline(withExtraFamilies(upstreamSource({ url: up.url }), toMetricsSource(registry)), { redactor: noRule() })({
      accept: 'application/openmetrics-text;version=1.0.0',
    });
    expect(wholeBody(out)).toBe(
      '# TYPE app_up gauge\napp_up  1\n# TYPE scrapeguard_demo gauge\n# HELP scrapeguard_demo Own metric.\nscrapeguard_demo 5\n# EOF\n',
    );
  });

  test('property: whatever passes through parses to the same families as the full path renders (fixed seed)', async () => {
    const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/);
    const value = fc.string({ maxLength: 12 });
    const line = fc.tuple(name, fc.array(fc.tuple(name, value), { maxLength: 3 }), fc.integer({ min: -5, max: 5 }));
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 6 }), async (lines) => {
        const body = lines
          .map(([n, labels, v], i) => {
            const uniq = new Map(labels.map(([k, x]) => [k, x]));
            const set = [...uniq].map(([k, x]) => `${k}="${x.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',');
            return `m_${n}${set ? `{${set}}` : ''} ${v}\nseq_${i} ${v}`;
          })
          .join('\n');
        let full: string;
        try {
          full = wholeBody(
            await createPipeline(
              toMetricsSource(() => body),
              { redactor: noRule() },
            )({}),
          );
        } catch {
          return; // not valid text (e.g. a repeated family): nothing to compare
        }
        const source = defineMetricsSource(async () => ({ contentType: 'text/plain; version=0.0.4', body, raw: { bytes: Buffer.from(body) } }), 502, 'raw');
        const passed = await createPipeline(source, { redactor: noRule() })({});
        expect(parseExposition(wholeBody(passed), 'text')).toEqual(parseExposition(full, 'text'));
        expect(passed.seriesReturned).toBe(countSampleLines(Buffer.from(wholeBody(passed))));
      }),
      { numRuns: propertyRuns(100) },
    );
  });
});

describe('the cheap checks', () => {
  test('hasQuotedName finds quoted metric, label and family names and ignores plain label values', () => {
    expect(hasQuotedName(Buffer.from('m{a="x"} 1\n'))).toBe(false);
    expect(hasQuotedName(Buffer.from('{"a.b"} 1\n'))).toBe(true);
    expect(hasQuotedName(Buffer.from('m{a="x", "b.c"="y"} 1\n'))).toBe(true);
    expect(hasQuotedName(Buffer.from('m{ "b.c"="y"} 1\n'))).toBe(true);
    expect(hasQuotedName(Buffer.from('# TYPE "a.b" gauge\n'))).toBe(true);
    expect(hasQuotedName(Buffer.from('# HELP\t"a.b" help\n'))).toBe(true);
  });

  test('countSampleLines counts lines that are neither empty nor comments', () => {
    expect(countSampleLines(Buffer.from('# HELP a x\n# TYPE a gauge\na 1\n\na{b="c"} 2\n# EOF\n'))).toBe(2);
    expect(countSampleLines(Buffer.from('a 1'))).toBe(1);
  });
});
