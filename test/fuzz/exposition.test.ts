/**
 * Fuzzing the exposition parser (issue #8 §5): random exposition-like text and random mutations
 * of valid expositions, in both formats. Properties: `parseExposition` either returns families or
 * throws `ExpositionParseError` (never a TypeError, RangeError or a hang), and what it parses
 * survives a render → parse round trip unchanged (parse∘render is the identity on parsed input).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allowPropertyTime } from '../helpers/property-runs.js';
import { parseExposition } from '../../src/exposition/parse.js';
import { renderExposition } from '../../src/exposition/render.js';
import { ExpositionParseError } from '../../src/exposition/failure.js';
import { familiesArb } from '../helpers/exposition.js';
import { FUZZ_TIMEOUT_MS, fuzzParameters } from './runs.js';

allowPropertyTime();

type Format = 'text' | 'openmetrics';

/** Parse; on success, check the round trip. Returns whether it parsed. */
function checkOne(text: string, format: Format): boolean {
  let families;
  const started = performance.now();
  try {
    families = parseExposition(text, format);
  } catch (error) {
    if (!(error instanceof ExpositionParseError))
      throw new Error(`parser threw ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`, { cause: error });
    // The message names line and column, never the content.
    expect(error.message.length).toBeLessThan(300);
    return false;
  } finally {
    expect(performance.now() - started).toBeLessThan(1000);
  }
  const rendered = renderExposition(families, format).text;
  let again;
  try {
    again = parseExposition(rendered, format);
  } catch (error) {
    // Say which rendered line the parser refused (test data, no secrets).
    const line = /line (\d+)/.exec((error as Error).message)?.[1];
    throw new Error(`render produced text the parser refuses: ${(error as Error).message}: ${JSON.stringify(rendered.split('\n')[Number(line) - 1])}`, {
      cause: error,
    });
  }
  expect(again).toEqual(families);
  return true;
}

const TOKENS = [
  '# TYPE ',
  '# HELP ',
  '# UNIT ',
  '# EOF',
  '# EOF\n',
  '\n',
  ' ',
  '\t',
  '{',
  '}',
  '=',
  ',',
  '"',
  '\\',
  '\\n',
  '\\"',
  '#',
  ' # ',
  'counter',
  'gauge',
  'histogram',
  'summary',
  'untyped',
  'unknown',
  'info',
  'stateset',
  'gaugehistogram',
  'metric',
  'metric_total',
  'metric_bucket',
  'metric_count',
  'metric_sum',
  'metric_created',
  'le',
  'quantile',
  'label',
  '1',
  '-1',
  '0.5',
  '1e10',
  '+Inf',
  '-Inf',
  'NaN',
  'nan',
  '1_000',
  '0x10',
  '1700000000',
  '1700000000.123',
  'é',
  '\u0000',
  '\ud800',
  '\r\n',
  // UTF-8 names (Prometheus 3): quoted metric and label names.
  '{"',
  '{"a.b"',
  '"a.b"',
  '"l.n"="v"',
  ',"',
  '# TYPE "a.b" ',
  '# HELP "a.b" ',
  '""',
  '{"a.b",',
  '{"a.b"}',
];
const soup = fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TOKENS) }, fc.string({ maxLength: 6 })), { maxLength: 60 }).map((xs) => xs.join(''));

/**
 * A valid exposition with random character edits. The valid expositions come from a fixed pool
 * sampled once (generating families is what costs; 100k cases of fresh ones would take half an
 * hour): the edits supply the variety.
 */
function mutated(format: Format) {
  const families = familiesArb(
    format === 'openmetrics'
      ? { types: ['counter', 'gauge', 'histogram', 'summary', 'unknown', 'info', 'stateset', 'gaugehistogram'], openMetricsExtras: true, utf8Names: true }
      : { legacyCounters: true, utf8Names: true },
  );
  const pool = fc.sample(families, { numRuns: 400, seed: 8 }).map((f) => renderExposition(f, format).text);
  const base = fc.constantFrom(...pool);
  const edit = fc.record({ at: fc.nat(), remove: fc.nat({ max: 4 }), insert: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 3 })) });
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([text, edits]) => {
    let t = text;
    for (const e of edits) {
      const at = t.length === 0 ? 0 : e.at % (t.length + 1);
      t = t.slice(0, at) + e.insert + t.slice(at + e.remove);
    }
    return t;
  });
}

describe('exposition parser fuzzing', () => {
  for (const format of ['text', 'openmetrics'] as const) {
    it(
      `${format}: token soup parses or throws ExpositionParseError; parsed input round-trips`,
      () => {
        fc.assert(
          fc.property(soup, (text) => void checkOne(text, format)),
          fuzzParameters(0.5),
        );
      },
      FUZZ_TIMEOUT_MS,
    );

    it(
      `${format}: mutated valid expositions parse or throw ExpositionParseError; parsed input round-trips`,
      () => {
        fc.assert(
          fc.property(mutated(format), (text) => void checkOne(text, format)),
          fuzzParameters(0.5),
        );
      },
      FUZZ_TIMEOUT_MS,
    );
  }

  it(
    "the other format's text (OpenMetrics read as text and the reverse) is contained too",
    () => {
      fc.assert(
        fc.property(fc.constantFrom<Format>('text', 'openmetrics'), familiesArb({ legacyCounters: false }), (format, families) => {
          const other: Format = format === 'text' ? 'openmetrics' : 'text';
          checkOne(renderExposition(families, other).text, format);
        }),
        // Fresh families each case (slow to generate): a slice of the budget.
        fuzzParameters(0.02),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe('regressions found by fuzzing', () => {
  it('a text timestamp beyond 2^53 ms (fuzz seed 565371094) is refused, not rendered as 2.3e+21', () => {
    // Parsed as 2.307728893917e+21, it rendered in exponent notation the parser then refused.
    for (const ts of ['2307728893917000000000', '9007199254740993', '-9007199254740993']) {
      expect(() => parseExposition(`m 1 ${ts}\n`, 'text')).toThrow(ExpositionParseError);
      expect(() => parseExposition(`m 1 ${ts}\n`, 'text')).toThrow(/timestamp out of range/);
    }
    expect(() => parseExposition('# TYPE m gauge\nm 1 1e300\n# EOF\n', 'openmetrics')).toThrow(/timestamp out of range/);
    expect(() => parseExposition('# TYPE m gauge\nm 1 NaN\n# EOF\n', 'openmetrics')).toThrow(ExpositionParseError);
    // The largest exact value still round-trips.
    const largest = parseExposition('m 1 9007199254740991\n', 'text');
    expect(parseExposition(renderExposition(largest, 'text').text, 'text')).toEqual(largest);
  });

  it('an exemplar timestamp that overflows to Infinity (fuzz seed 785433677) is refused, not rendered as +Inf', () => {
    for (const ts of ['1e999', '-1e999']) {
      expect(() => parseExposition(`# TYPE m counter\nm_total 1 # {trace_id="t"} 1 ${ts}\n# EOF\n`, 'openmetrics')).toThrow(/exemplar timestamp out of range/);
    }
    const ok = parseExposition('# TYPE m counter\nm_total 1 # {trace_id="t"} 1 1700000000.5\n# EOF\n', 'openmetrics');
    expect(parseExposition(renderExposition(ok, 'openmetrics').text, 'openmetrics')).toEqual(ok);
  });

  it('an OpenMetrics timestamp with sub-millisecond digits (fuzz seed -1578893395) reads back exactly', () => {
    for (const ts of ['156040917.0817', '975732621.224', '0.005', '-0.005', '1700000000', '0.0000001', '12.5']) {
      const families = parseExposition(`# TYPE m gauge\nm 1 ${ts}\n# EOF\n`, 'openmetrics');
      const rendered = renderExposition(families, 'openmetrics').text;
      expect(rendered, ts).toBe(`# TYPE m gauge\nm 1 ${ts}\n# EOF\n`);
      expect(parseExposition(rendered, 'openmetrics')).toEqual(families);
    }
  });

  it('a sample value of -0 (fuzz seed 1061852982) keeps its sign through render, as Go writes it', () => {
    for (const format of ['text', 'openmetrics'] as const) {
      const text = format === 'text' ? 'm -3.498126986910551e-1640\n' : '# TYPE m gauge\nm -0.0\n# EOF\n';
      const families = parseExposition(text, format);
      expect(Object.is(families[0]!.samples[0]!.value, -0)).toBe(true);
      const rendered = renderExposition(families, format).text;
      expect(rendered).toMatch(/^m -0$/m);
      expect(parseExposition(rendered, format)).toEqual(families);
    }
  });
});
