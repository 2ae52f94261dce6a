/**
 * The lazy, family-by-family parser (`parseFamilies`, which `parseExposition` collects) against
 * the whole-body parser it replaced (frozen in test/helpers/parse-reference.ts): it accepts
 * exactly what the old one accepted, yields the same families and rejects what it rejected with
 * the same error (line, column, message), for valid expositions and for the same texts with an
 * error at any position; and the sidecar pass that parses upstream text lazily still answers
 * 502 for an error found before the answer started and cuts the body off for one found after.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultRedaction } from '../src/config/redaction.js';
import { ExpositionParseError, SourceError } from '../src/exposition/failure.js';
import type { ExpositionFormat, MetricFamily, MetricType } from '../src/exposition/model.js';
import { parseExposition, parseFamilies } from '../src/exposition/parse.js';
import { createPipeline, STREAM_THRESHOLD_BYTES, type RenderedExposition } from '../src/exposition/pipeline.js';
import { compileRedaction } from '../src/exposition/redact.js';
import { renderExposition } from '../src/exposition/render.js';
import { defineMetricsSource } from '../src/exposition/source.js';
import { familiesArb } from './helpers/exposition.js';
import { parseExposition as referenceParse } from './helpers/parse-reference.js';
import { allowPropertyTime, propertyRuns } from './helpers/property-runs.js';

allowPropertyTime();

const ALL_TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset', 'unknown'];

type Outcome = { ok: true; families: MetricFamily[] } | { ok: false; line: number; column: number | undefined; message: string };

function outcome(parse: () => MetricFamily[]): Outcome {
  try {
    return { ok: true, families: parse() };
  } catch (error) {
    if (!(error instanceof ExpositionParseError)) throw error;
    return { ok: false, line: error.line, column: error.column, message: error.message };
  }
}

/** Both parsers' verdicts on `text`, the new one read lazily (one family at a time). */
function compare(text: string, format: ExpositionFormat): Outcome {
  const expected = outcome(() => referenceParse(text, format));
  const lazy = outcome(() => {
    const out: MetricFamily[] = [];
    for (const family of parseFamilies(text, format)) out.push(family);
    return out;
  });
  expect(lazy).toEqual(expected);
  expect(outcome(() => parseExposition(text, format))).toEqual(expected);
  return expected;
}

/** Characters that matter to the grammar, to insert or substitute anywhere in a valid text. */
const SYNTAX = ['"', '\\', '{', '}', ',', '=', ' ', '\t', '\n', '\r', '#', '.', 'e', '+', '-', '0', '9', 'a', '_', ':', 'é', '🙂', 'n', 'I'];

/** A valid text with one edit: a character inserted, replaced or deleted, or a line repeated, moved or dropped. */
const editArb = fc.record({
  kind: fc.constantFrom('insert', 'replace', 'delete', 'repeat-line', 'move-line', 'drop-line'),
  at: fc.nat(),
  to: fc.nat(),
  char: fc.constantFrom(...SYNTAX),
});

function edit(text: string, e: { kind: string; at: number; to: number; char: string }): string {
  if (e.kind === 'insert' || e.kind === 'replace' || e.kind === 'delete') {
    const at = e.at % (text.length + 1);
    const cut = e.kind === 'insert' ? 0 : 1;
    return text.slice(0, at) + (e.kind === 'delete' ? '' : e.char) + text.slice(at + cut);
  }
  const lines = text.split('\n');
  const from = e.at % lines.length;
  const to = e.to % lines.length;
  const [line] = lines.splice(from, e.kind === 'repeat-line' ? 0 : 1);
  if (e.kind === 'repeat-line') lines.splice(to, 0, lines[from]!);
  else if (e.kind === 'move-line') lines.splice(to, 0, line!);
  return lines.join('\n');
}

describe('the lazy parser accepts and rejects exactly what the whole-body parser did', () => {
  const cases: { name: string; format: ExpositionFormat; arb: fc.Arbitrary<MetricFamily[]> }[] = [
    { name: 'text', format: 'text', arb: familiesArb({ legacyCounters: true }) },
    { name: 'text with UTF-8 names', format: 'text', arb: familiesArb({ utf8Names: true, legacyCounters: true }) },
    { name: 'OpenMetrics', format: 'openmetrics', arb: familiesArb({ types: ALL_TYPES, openMetricsExtras: true }) },
    { name: 'OpenMetrics with UTF-8 names', format: 'openmetrics', arb: familiesArb({ types: ALL_TYPES, openMetricsExtras: true, utf8Names: true }) },
  ];
  for (const { name, format, arb } of cases) {
    it(`yields the same families for valid ${name}`, () => {
      fc.assert(
        fc.property(arb, (families) => {
          const verdict = compare(renderExposition(families, format).text, format);
          expect(verdict.ok).toBe(true);
        }),
        { numRuns: propertyRuns(100) },
      );
    });
    it(`gives the same verdict on ${name} with one edit anywhere`, () => {
      fc.assert(
        fc.property(arb, fc.array(editArb, { minLength: 1, maxLength: 3 }), (families, edits) => {
          let text = renderExposition(families, format).text;
          for (const e of edits) text = edit(text, e);
          compare(text, format);
        }),
        { numRuns: propertyRuns(400) },
      );
    });
    it(`rejects ${name} with a broken line at any position, lazily too`, () => {
      fc.assert(
        fc.property(arb, fc.nat(), fc.constantFrom('{', 'x{a="1"', 'x 1 2 3', 'x{a=1} 1', '1x 1', 'x{a="\\q"} 1', 'x one'), (families, at, bad) => {
          const lines = renderExposition(families, format).text.split('\n');
          const where = at % lines.length;
          lines.splice(where, 0, bad);
          const verdict = compare(lines.join('\n'), format);
          expect(verdict.ok).toBe(false);
          if (!verdict.ok) expect(verdict.line).toBeLessThanOrEqual(where + 1);
        }),
        { numRuns: propertyRuns(200) },
      );
    });
  }

  it('reuses a repeated label name or value only where the text really repeats it', () => {
    const texts = [
      'm{a="ab"} 1\nm{a="abc"} 2\nm{a="a"} 3\nm{a=""} 4\n',
      'm{a="x"} 1\nm{a="x\\"y"} 2\nm{a="x\\\\"} 3\nm{a="x\\n"} 4\nm{a="x"} 5\n',
      'm{a="x\\"} 1\n',
      'm{ab="1"} 1\nm{abc="1"} 2\nm{a="1"} 3\nm{a1="1",a="2"} 4\n',
      'm{"a.b"="1"} 1\nm{a.b="1"} 2\n',
      'm{"a"="1"} 1\nm{a="1"} 2\n',
      'm{a="1",b="2"} 1\nm{b="2",a="1"} 2\nm{a="1",a="1"} 3\n',
      'm{a="1",b="2"} 1\nm{a="1"} 2\nm{a="1",b="2",c="3"} 3\n',
      'm{a="é"} 1\nm{a="é🙂"} 2\nm{a="🙂"} 3\n',
      '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="0.5x"} 1\n',
      '# TYPE c counter\nc_total 1\nc_totalx 1\n',
      '# TYPE c counter\nc_total 1\nc 1\n',
      'a 1\nb 1\na 2\n',
      '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\nh_sum 1\nx 1\nh_sum 2\n',
      'm 1\nm 00012\nm 123456789012345\nm 1234567890123456789\nm -0\nm +1\nm .5\nm 5.\nm 1e3\nm 1e\nm Inf\n',
    ];
    for (const text of texts) {
      compare(text, 'text');
      compare(`${text}# EOF\n`, 'openmetrics');
    }
  });
});

describe('the sidecar pass parses upstream text lazily', () => {
  /** An upstream text source whose body is `text` (as the sidecar's upstream source answers). */
  function textSource(text: string) {
    return defineMetricsSource(async () => ({ body: text, contentType: 'text/plain; version=0.0.4; charset=utf-8' }), 502, 'upstream http://127.0.0.1/metrics');
  }
  const expose = (text: string) => createPipeline(textSource(text), { redactor: compileRedaction(defaultRedaction()) })({ accept: 'text/plain' });

  /** Families of `n` gauge series each with a long label, `families` of them: text well over the threshold. */
  function bigText(families: number, n: number): string {
    let out = '';
    for (let f = 0; f < families; f++) {
      out += `# HELP big_${f} A large family.\n# TYPE big_${f} gauge\n`;
      for (let i = 0; i < n; i++) out += `big_${f}{series="${String(i).padStart(8, '0')}",path="/some/rather/long/route/${i % 97}"} ${i}\n`;
    }
    return out;
  }

  async function read(out: RenderedExposition): Promise<{ text: string; error: Error | undefined }> {
    if (typeof out.body === 'string' || Buffer.isBuffer(out.body)) return { text: out.body.toString(), error: undefined };
    const chunks: Buffer[] = [];
    let error: Error | undefined;
    try {
      for await (const chunk of out.body) chunks.push(chunk as Buffer);
    } catch (e) {
      error = e as Error;
    }
    const summary = await out.streamed;
    return { text: Buffer.concat(chunks).toString('utf8'), error: error ?? summary?.error };
  }

  it('answers a large valid body as a stream equal to the whole-body rendering', async () => {
    const text = bigText(8, 5000);
    expect(text.length).toBeGreaterThan(2 * STREAM_THRESHOLD_BYTES);
    const r = await read(await expose(text));
    expect(r.error).toBeUndefined();
    expect(r.text).toBe(renderExposition(referenceParse(text, 'text'), 'text').text);
  });

  it('rejects with a 502 parse error when the error comes before the answer started', async () => {
    const text = `${bigText(1, 100)}big_0{ 1\n${bigText(8, 5000).replace(/big_/g, 'later_')}`;
    const failure = await expose(text).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(SourceError);
    expect((failure as SourceError).status).toBe(502);
    expect((failure as SourceError).reason).toBe('parse');
  });

  for (const [what, tail] of [
    ['a syntax error', 'broken{ 1\n'],
    ['a family repeated after others', '# TYPE big_0 gauge\nbig_0{series="x"} 1\n'],
    ['samples of an earlier family', 'big_1{series="again"} 1\n'],
  ] as const) {
    it(`cuts the body off when ${what} comes after the answer started`, async () => {
      const r = await read(await expose(bigText(8, 5000) + tail));
      expect(r.error).toBeInstanceOf(SourceError);
      expect((r.error as SourceError).reason).toBe('parse');
      // Never a complete body: the text stops before the last family is out.
      expect(r.text.length).toBeLessThan(renderExposition(referenceParse(bigText(8, 5000), 'text'), 'text').text.length);
    });
  }
});
