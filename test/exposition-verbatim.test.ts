/**
 * Families sent as they came: when the pass leaves a parsed family exactly as it was and the
 * scraper reads the format the source answered in, the family's own lines go out as the source
 * wrote them instead of being rendered again (`verbatimText` in parse.ts, the renderer's
 * `verbatim`). The property tests hold this path to the rendering one: for any valid exposition,
 * any redaction config and any scraper format, the answer parses to exactly the families the
 * rendering path gives (byte for byte when the source wrote what the renderer writes), and no
 * comment, secret or withheld series of the source ever reaches it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SeriesFilter } from '../src/access/filter.js';
import { defaultRedaction } from '../src/config/redaction.js';
import type { ResolvedRedaction } from '../src/config/schema.js';
import type { ExpositionFormat, MetricType } from '../src/exposition/model.js';
import { parseExposition, verbatimText } from '../src/exposition/parse.js';
import { createPipeline, type RenderedExposition } from '../src/exposition/pipeline.js';
import { compileRedaction, type Redactor } from '../src/exposition/redact.js';
import { renderExposition } from '../src/exposition/render.js';
import { defineMetricsSource } from '../src/exposition/source.js';
import { familiesArb, wholeBody } from './helpers/exposition.js';
import { allowPropertyTime, propertyRuns } from './helpers/property-runs.js';

allowPropertyTime();

const SECRET = 'postgres://app:hunter2-not-real@db:5432/app';
const MARK = 'COMMENT-MARK';

const SCRAPERS = [
  { name: 'text 0.0.4', accept: 'text/plain;version=0.0.4', format: 'text' },
  { name: 'text 1.0.0, UTF-8 names', accept: 'text/plain;version=1.0.0;escaping=allow-utf-8', format: 'text' },
  { name: 'OpenMetrics 1.0.0', accept: 'application/openmetrics-text;version=1.0.0', format: 'openmetrics' },
] as const;

const CONFIGS: Record<string, ResolvedRedaction> = {
  defaults: defaultRedaction(),
  'mask password, hash email': { ...defaultRedaction(), maskLabels: ['password'], hashLabels: ['email'] },
  'drop token, drop m1 metrics, scrub help': { ...defaultRedaction(), dropLabels: ['token'], dropMetrics: ['m1.*'], redactHelp: ['e'] },
  'no detector': { ...defaultRedaction(), detectSecrets: [] },
};

const CONTENT_TYPES: Record<'text' | 'openmetrics', string> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/** One compiled redactor per config (its caches only ever hold values no detector fired on). */
const redactors = new Map<ResolvedRedaction, Redactor>();
const redactorFor = (config: ResolvedRedaction): Redactor => {
  let r = redactors.get(config);
  if (r === undefined) redactors.set(config, (r = compileRedaction(config)));
  return r;
};

/** One pass over `text` (answered as `format`) for a scraper sending `accept`. */
async function passOverText(text: string, format: 'text' | 'openmetrics', config: ResolvedRedaction, accept: string, filter?: SeriesFilter) {
  const source = defineMetricsSource(async () => ({ contentType: CONTENT_TYPES[format], body: text }), 502, 'test upstream');
  const expose = createPipeline(source, { redactor: redactorFor(config) });
  return expose({ accept, acceptEncoding: 'identity', ...(filter ? { filter } : {}) });
}

/** The same pass over the same families handed over as a model: nothing to send verbatim, every family rendered. */
async function passOverModel(text: string, format: 'text' | 'openmetrics', config: ResolvedRedaction, accept: string, filter?: SeriesFilter) {
  const source = defineMetricsSource(async () => ({ families: parseExposition(text, format) }), 502, 'test upstream');
  const expose = createPipeline(source, { redactor: redactorFor(config) });
  return expose({ accept, acceptEncoding: 'identity', ...(filter ? { filter } : {}) });
}

function expectSameAnswer(got: RenderedExposition, want: RenderedExposition, outFormat: ExpositionFormat): void {
  expect(got.contentType).toBe(want.contentType);
  expect(got.seriesReturned).toBe(want.seriesReturned);
  expect(got.seriesWithheld).toBe(want.seriesWithheld);
  expect(parseExposition(wholeBody(got), outFormat)).toEqual(parseExposition(wholeBody(want), outFormat));
}

/** Families with a secret in some label values and HELP texts, so that some families change and others do not. */
const exposedArb = (types: readonly MetricType[], om: boolean) =>
  fc
    .tuple(
      // Half the runs with legacy names only: a family with a quoted name is never sent as it came.
      fc.boolean().chain((utf8Names) => familiesArb({ types, openMetricsExtras: om, legacyCounters: !om, utf8Names })),
      fc.array(fc.nat(), { maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 2 }),
    )
    .map(([families, secretSamples, secretHelps]) => {
      const samples = families.flatMap((f) => f.samples);
      for (const n of secretSamples) {
        const labels = samples.length > 0 ? samples[n % samples.length]!.labels : undefined;
        if (labels && !labels.includes('conn')) labels.push('conn', SECRET);
      }
      for (const n of secretHelps) if (families.length > 0) families[n % families.length]!.help = `connects to ${SECRET}`;
      return families;
    });

/** A text-format exposition with plain comments, blank lines and CRLF endings put between its lines. */
function withNoise(text: string, at: readonly number[], kind: 'comment' | 'blank' | 'crlf'): string {
  const lines = text.split('\n');
  for (const n of at) {
    const i = n % lines.length;
    if (kind === 'comment') lines.splice(i, 0, `# ${MARK} ${SECRET}`);
    else if (kind === 'blank') lines.splice(i, 0, '');
    else if (lines[i] !== '' && !lines[i]!.endsWith('\r')) lines[i] += '\r';
  }
  return lines.join('\n');
}

const TEXT_TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'unknown'];
const OM_TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset', 'unknown'];

describe('verbatimText', () => {
  it('is the family’s own lines, for each family of a canonical text', () => {
    const text = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 1\na_total{x="2"} 2\n# TYPE b gauge\nb 3\n';
    const [a, b] = parseExposition(text, 'text');
    expect(verbatimText(a!)).toBe('# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 1\na_total{x="2"} 2\n');
    expect(verbatimText(b!)).toBe('# TYPE b gauge\nb 3\n');
  });

  it('adds the newline a last line without one lacks', () => {
    const [f] = parseExposition('# TYPE b gauge\nb 3', 'text');
    expect(verbatimText(f!)).toBe('# TYPE b gauge\nb 3\n');
  });

  it('is undefined for a family with a comment or a blank line inside it, a quoted name or a CR', () => {
    const cases = [
      '# TYPE b gauge\n# a comment\nb 3\n',
      '# TYPE b gauge\n\nb 3\n',
      '# TYPE b gauge\nb{"x"="1"} 3\n',
      '# TYPE "b" gauge\nb 3\n',
      '# TYPE b gauge\r\nb 3\n',
      '# TYPE b gauge\nb 3\r\n',
    ];
    for (const text of cases) expect(verbatimText(parseExposition(text, 'text')[0]!), JSON.stringify(text)).toBeUndefined();
  });

  it('leaves out a comment before a family and the OpenMetrics # EOF', () => {
    const text = '# TYPE a gauge\na 1\n# between\n# TYPE b gauge\nb 2\n';
    const [a, b] = parseExposition(text, 'text');
    expect(verbatimText(a!)).toBe('# TYPE a gauge\na 1\n');
    expect(verbatimText(b!)).toBe('# TYPE b gauge\nb 2\n');
    const [om] = parseExposition('# TYPE c counter\nc_total 1\n# EOF\n', 'openmetrics');
    expect(verbatimText(om!)).toBe('# TYPE c counter\nc_total 1\n');
  });

  it('is undefined for families that were not parsed', () => {
    expect(verbatimText({ name: 'x', type: 'gauge', samples: [] })).toBeUndefined();
  });
});

describe('the pass sends unchanged families as they came', () => {
  it('keeps the source’s own spacing for an untouched family and renders a redacted one', async () => {
    // Two blanks before the value: valid text, and nothing the renderer writes, so only the verbatim path keeps them.
    const text = `# TYPE clean_total counter\nclean_total{route="/a"}  7\n# TYPE pool_info gauge\npool_info{dsn="${SECRET}"}  1\n`;
    const out = wholeBody(await passOverText(text, 'text', defaultRedaction(), 'text/plain;version=0.0.4'));
    expect(out).toBe('# TYPE clean_total counter\nclean_total{route="/a"}  7\n# TYPE pool_info gauge\npool_info{dsn="[REDACTED]"} 1\n');
  });

  it('never sends a comment inside a family (it may hold anything), and renders that family instead', async () => {
    const text = `# TYPE a gauge\na{x="1"} 1\n# ${MARK} ${SECRET}\na{x="2"} 2\n`;
    const out = wholeBody(await passOverText(text, 'text', { ...defaultRedaction(), detectSecrets: [] }, 'text/plain;version=0.0.4'));
    expect(out).toBe('# TYPE a gauge\na{x="1"} 1\na{x="2"} 2\n');
  });

  it('renders a family the caller’s view cuts, and leaves out one it hides', async () => {
    const text = '# TYPE a gauge\na{team="blue"}  1\na{team="red"}  2\n# TYPE b gauge\nb{team="blue"}  3\n# TYPE hidden gauge\nhidden 4\n';
    const filter: SeriesFilter = {
      allowsFamily: (name) => name !== 'hidden',
      labelConstraints: [{ name: 'team', matches: (v) => v === 'blue' }],
    };
    const out = await passOverText(text, 'text', defaultRedaction(), 'text/plain;version=0.0.4', filter);
    // a lost a series: rendered; b lost nothing: as it came.
    expect(wholeBody(out)).toBe('# TYPE a gauge\na{team="blue"} 1\n# TYPE b gauge\nb{team="blue"}  3\n');
    expect([out.seriesReturned, out.seriesWithheld]).toEqual([2, 2]);
  });

  it('renders when the scraper reads another format than the source wrote', async () => {
    const text = '# TYPE a gauge\na{x="1"}  1\n';
    const om = wholeBody(await passOverText(text, 'text', defaultRedaction(), 'application/openmetrics-text;version=1.0.0'));
    expect(om).toBe('# TYPE a gauge\na{x="1"} 1\n# EOF\n');
  });

  for (const [om, types] of [
    [false, TEXT_TYPES],
    [true, OM_TYPES],
  ] as const) {
    const sourceFormat = om ? 'openmetrics' : 'text';
    it(`${sourceFormat} source: every scraper format and redaction config gets the rendering path’s answer, byte for byte`, async () => {
      await fc.assert(
        fc.asyncProperty(exposedArb(types, om), fc.constantFrom(...Object.keys(CONFIGS)), fc.constantFrom(...SCRAPERS), async (families, config, scraper) => {
          const text = renderExposition(families, sourceFormat).text;
          const got = await passOverText(text, sourceFormat, CONFIGS[config]!, scraper.accept);
          const want = await passOverModel(text, sourceFormat, CONFIGS[config]!, scraper.accept);
          expectSameAnswer(got, want, scraper.format);
          // The source wrote what the renderer writes, so sending a family as it came changes no byte.
          expect(wholeBody(got)).toBe(wholeBody(want));
          if (config !== 'no detector') expect(wholeBody(got)).not.toContain(SECRET);
        }),
        { numRuns: propertyRuns(100) },
      );
    });
  }

  it('text source with comments, blank lines and CRLF between its lines: the same families, no comment and no secret sent', async () => {
    await fc.assert(
      fc.asyncProperty(
        exposedArb(TEXT_TYPES, false),
        fc.constantFrom('comment', 'blank', 'crlf'),
        fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(...Object.keys(CONFIGS)),
        fc.constantFrom(...SCRAPERS),
        async (families, kind, at, config, scraper) => {
          const text = withNoise(renderExposition(families, 'text').text, at, kind);
          const got = await passOverText(text, 'text', CONFIGS[config]!, scraper.accept);
          const want = await passOverModel(text, 'text', CONFIGS[config]!, scraper.accept);
          expectSameAnswer(got, want, scraper.format);
          expect(wholeBody(got)).not.toContain(MARK);
          if (config !== 'no detector') expect(wholeBody(got)).not.toContain(SECRET);
          expect(wholeBody(got)).not.toContain('\r');
        },
      ),
      { numRuns: propertyRuns(100) },
    );
  });
});
