/**
 * fast-check arbitraries for expositions (families of every type with awkward label values,
 * HELP text, timestamps, exemplars) and a promtool runner, shared by the exposition suites.
 */
import { spawn } from 'node:child_process';
import fc from 'fast-check';
import { expect } from 'vitest';
import { ExpositionParseError } from '../../src/exposition/failure.js';
import type { MetricFamily, MetricType, Sample } from '../../src/exposition/model.js';
import { parseExposition } from '../../src/exposition/parse.js';

/** Label values with the characters escaping has to get right, plus ordinary text. */
export const labelValueArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom('"', '\\', '\n', '\\n', '\\"', 'ü', '🙂', '#', '{', '}', ',', '=', ' ', '', 'a b', '} 1', '\t'),
  fc.array(fc.constantFrom('"', '\\', '\n', 'x', ' ', 'é'), { maxLength: 6 }).map((a) => a.join('')),
);

const valueArb = fc.oneof(
  fc.double({ noNaN: false }).map((v) => (Object.is(v, -0) ? 0 : v)),
  fc.integer({ min: 0, max: 1_000_000 }),
  fc.constantFrom(NaN, Infinity, -Infinity, 0, 1e-9, 1.5e300),
);
const countArb = fc.integer({ min: 0, max: 1_000_000 });
const helpArb = fc.option(
  fc.string({ unit: 'grapheme', maxLength: 30 }).filter((h) => !/^[ \t]/.test(h) && !h.endsWith('\r')),
  { nil: undefined },
);
const timestampArb = fc.option(fc.integer({ min: -1_000_000, max: 2_000_000_000_000 }), { nil: undefined, freq: 4 });
const userLabelNames = ['path', 'user', 'job', 'instance', 'password', 'token', 'email', 'dsn'] as const;

/** UTF-8 label names (Prometheus 3): written quoted, with the characters quoting has to get right. */
const utf8LabelNames = ['service.name', 'http.route', 'ключ', 'a"b', 'x\\y', 'db.password', 'line\nbreak', '0lead', 'a:b', '🙂'] as const;

/** Extra labels of one series: distinct names from a small set, awkward values. */
const labelsFrom = (names: readonly string[]) =>
  fc
    .uniqueArray(fc.constantFrom(...names), { maxLength: 4 })
    .chain((picked) => fc.tuple(...picked.map(() => labelValueArb)).map((values) => picked.flatMap((n, i) => [n, values[i]!])));
const seriesLabelsArb = labelsFrom(userLabelNames);
const utf8SeriesLabelsArb = labelsFrom([...userLabelNames, ...utf8LabelNames]);
/** What joins the index and the word of a UTF-8 family name. */
const utf8SeparatorArb = fc.constantFrom('.', ' ', '"', '\\', 'é', '🙂', '-', '/', '\n', '{', '}', ',', '=', '#');

const exemplarArb = fc.option(
  fc.record(
    {
      labels: fc.constantFrom('abc123', 'trace-1', '"q"', 'x\\y').map((v) => ['trace_id', v]),
      value: fc.integer({ min: 0, max: 1000 }),
      timestampSeconds: fc.integer({ min: 0, max: 2_000_000_000 }),
    },
    { requiredKeys: ['labels', 'value'] },
  ),
  { nil: undefined, freq: 3 },
);

function withTs(sample: Sample, ts: number | undefined): Sample {
  return ts === undefined ? sample : { ...sample, timestampMs: ts };
}

/** Options of {@link familiesArb}. */
export interface FamiliesArbOptions {
  /** Types to generate (default: the text format's five). */
  types?: readonly MetricType[];
  /** Generate exemplars, `# UNIT` and `_created` (OpenMetrics only). */
  openMetricsExtras?: boolean;
  /** Allow counters whose text name lacks `_total`. */
  legacyCounters?: boolean;
  /** Also generate UTF-8 metric and label names (quoted on the wire). */
  utf8Names?: boolean;
}

/** Generates a valid exposition: unique family names, unique series per family. */
export function familiesArb(options: FamiliesArbOptions = {}): fc.Arbitrary<MetricFamily[]> {
  const types = options.types ?? (['counter', 'gauge', 'histogram', 'summary', 'unknown'] as const);
  const om = options.openMetricsExtras === true;
  const family = (index: number) =>
    fc
      .record({
        word: fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/),
        separator: options.utf8Names ? fc.option(utf8SeparatorArb, { nil: '_' }) : fc.constant('_'),
        type: fc.constantFrom(...types),
        help: helpArb,
        unit: om ? fc.option(fc.constantFrom('seconds', 'bytes'), { nil: undefined }) : fc.constant(undefined),
        legacy: options.legacyCounters ? fc.boolean() : fc.constant(false),
        series: fc.array(fc.tuple(options.utf8Names ? utf8SeriesLabelsArb : seriesLabelsArb, valueArb, countArb, timestampArb, exemplarArb, fc.boolean()), {
          maxLength: 4,
        }),
      })
      .map(({ word, separator, type, help, unit, legacy, series }): MetricFamily => {
        const name = `m${index}${separator}${word}${unit ? `_${unit}` : ''}`;
        const f: MetricFamily = { name, type, samples: [] };
        if (help !== undefined) f.help = help;
        if (unit !== undefined) f.unit = unit;
        if (type === 'counter' && legacy) f.legacyCounterName = true;
        series.forEach(([extra, value, count, ts, exemplar, created], k) => {
          const labels = ['i', String(k), ...extra];
          const ex = om && exemplar ? { exemplar } : {};
          const push = (s: Sample) => f.samples.push(withTs(s, ts));
          switch (type) {
            case 'counter':
              push({ suffix: '_total', labels, value: Math.abs(count), ...ex });
              if (om && created) push({ suffix: '_created', labels, value: 1_700_000_000 });
              break;
            case 'histogram':
            case 'gaugehistogram':
              for (const le of ['0.1', '1', '+Inf']) push({ suffix: '_bucket', labels: [...labels, 'le', le], value: count, ...(le === '1' ? ex : {}) });
              push({ suffix: type === 'histogram' ? '_count' : '_gcount', labels, value: count });
              push({ suffix: type === 'histogram' ? '_sum' : '_gsum', labels, value });
              if (om && created && type === 'histogram') push({ suffix: '_created', labels, value: 1_700_000_000 });
              break;
            case 'summary':
              for (const q of ['0.5', '0.99']) push({ suffix: '', labels: [...labels, 'quantile', q], value });
              push({ suffix: '_count', labels, value: count });
              push({ suffix: '_sum', labels, value });
              break;
            case 'info':
              push({ suffix: '_info', labels, value: 1 });
              break;
            case 'stateset':
              for (const state of ['a', 'b']) push({ suffix: '', labels: [...labels, name, state], value: state === 'a' ? 1 : 0 });
              break;
            default:
              push({ suffix: '', labels, value });
          }
        });
        return f;
      });
  return fc.integer({ min: 0, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => family(i))));
}

/** What `promtool check metrics` said about a text. */
export interface PromtoolVerdict {
  code: number | null;
  stderr: string;
  /** A parse error (exit 1), as opposed to lint findings (exit 3). */
  parseError: boolean;
}

/** Runs `promtool check metrics` with `text` on stdin. */
export function promtoolCheckMetrics(promtool: string, text: string): Promise<PromtoolVerdict> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, parseError: code === 1 }));
    child.stdin.end(text);
  });
}

/** The ExpositionParseError `text` raises in `format`; fails the test when it parses. */
export function parseError(text: string, format: 'text' | 'openmetrics'): ExpositionParseError {
  try {
    parseExposition(text, format);
  } catch (error) {
    expect(error).toBeInstanceOf(ExpositionParseError);
    return error as ExpositionParseError;
  }
  throw new Error('expected a parse error');
}

/**
 * The text of a whole (not streamed) pipeline body; fails the test for a stream, which only a
 * scrape over `STREAM_THRESHOLD_BYTES` gives (test/exposition-stream.test.ts reads those).
 */
export function wholeBody(out: { body: unknown }): string {
  const body = out.body;
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  throw new Error('expected a whole body, got a stream');
}
