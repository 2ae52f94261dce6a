/**
 * The whole-body text parser as it was before the streaming parser (src/exposition/parse.ts,
 * main 47ce5f3), frozen here as the oracle of test/parse-stream.test.ts: the streaming parser must
 * accept exactly what this one accepts, yield the same families and reject what it rejects.
 * Not used by the library.
 */
import { ExpositionParseError } from '../../src/exposition/failure.js';
import {
  LABEL_NAME,
  METRIC_NAME,
  TYPE_SUFFIXES,
  isValidName,
  labelValue,
  type ExpositionFormat,
  type MetricFamily,
  type MetricType,
  type Sample,
} from '../../src/exposition/model.js';

const TEXT_TYPES: Readonly<Record<string, MetricType>> = {
  counter: 'counter',
  gauge: 'gauge',
  histogram: 'histogram',
  summary: 'summary',
  untyped: 'unknown',
};
const OM_TYPES: Readonly<Record<string, MetricType>> = {
  counter: 'counter',
  gauge: 'gauge',
  histogram: 'histogram',
  gaugehistogram: 'gaugehistogram',
  summary: 'summary',
  info: 'info',
  stateset: 'stateset',
  unknown: 'unknown',
};
/** Suffixes that may tie a stray sample to an earlier family (to report interleaving). */
const ALL_SUFFIXES = ['_total', '_created', '_bucket', '_count', '_sum', '_gcount', '_gsum', '_info'];

const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INF = /^[+-]?inf(?:inity)?$/i;
const POS_INF = /^\+?inf(?:inity)?$/i;
const NAN = /^nan$/i;
const INT = /^-?\d+$/;

/**
 * Parses a float as Go's `strconv.ParseFloat` reads exposition values (decimal, exponent,
 * `NaN`, `+Inf`, `-Inf`, case-insensitive), or returns undefined.
 */
export function parseSampleValue(token: string): number | undefined {
  if (FLOAT.test(token)) return Number(token);
  if (INF.test(token)) return POS_INF.test(token) ? Infinity : -Infinity;
  if (NAN.test(token)) return NaN;
  return undefined;
}

/**
 * Guesses the format of exposition text served without a usable content type: OpenMetrics ends
 * with `# EOF`.
 * @example
 * sniffFormat('up 1\n# EOF\n'); // 'openmetrics'
 */
export function sniffFormat(text: string): ExpositionFormat {
  let end = text.length;
  while (end > 0 && (text[end - 1] === '\n' || text[end - 1] === '\r' || text[end - 1] === ' ')) end--;
  return text.endsWith('# EOF', end) && (end === 5 || text[end - 6] === '\n') ? 'openmetrics' : 'text';
}

/**
 * The format a `Content-Type` names, or undefined when it names neither (the caller then sniffs).
 * @example
 * formatOfContentType('application/openmetrics-text; version=1.0.0; charset=utf-8'); // 'openmetrics'
 */
export function formatOfContentType(contentType: string | undefined): ExpositionFormat | undefined {
  if (!contentType) return undefined;
  const media = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (media === 'application/openmetrics-text') return 'openmetrics';
  if (media === 'text/plain') return 'text';
  return undefined;
}

class Parser {
  readonly families: MetricFamily[] = [];
  private readonly byName = new Map<string, MetricFamily>();
  private current: MetricFamily | undefined;
  /** Metadata already seen for the current family. */
  private currentMeta = { help: false, type: false, unit: false };
  private line = 0;
  private text = '';

  constructor(private readonly om: boolean) {}

  fail(message: string, column?: number): never {
    throw new ExpositionParseError(this.line, column, message);
  }

  parse(input: string): MetricFamily[] {
    let pos = 0;
    let sawEof = false;
    while (pos < input.length) {
      let end = input.indexOf('\n', pos);
      if (end === -1) end = input.length;
      let line = input.slice(pos, end);
      pos = end + 1;
      this.line++;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.text = line;
      if (sawEof) this.fail('text after "# EOF"');
      if (this.om) {
        if (line === '# EOF') {
          sawEof = true;
          continue;
        }
        if (line === '') this.fail('blank line (OpenMetrics allows none)');
        if (line.startsWith('#')) this.metadataOm(line);
        else this.sample(line);
      } else {
        if (line.trim() === '') continue;
        if (line.charCodeAt(0) === 35 /* # */ || /^[ \t]+#/.test(line)) this.metadataText(line);
        else this.sample(line);
      }
    }
    if (this.om && !sawEof) {
      this.line++;
      this.fail('missing "# EOF" at the end of OpenMetrics text');
    }
    return this.families;
  }

  /** `# HELP`, `# TYPE` or another comment (ignored), text format. */
  private metadataText(line: string): void {
    const m = /^[ \t]*#[ \t]*(HELP|TYPE)(?:[ \t]+|$)/.exec(line);
    if (!m) return; // a plain comment
    const kind = m[1] as 'HELP' | 'TYPE';
    const r = this.metadataName(line, m[0].length, kind);
    const name = r.name;
    let i = r.end;
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    const rest = line.slice(i);
    if (kind === 'HELP') {
      this.meta(name, 'help', unescapeHelp(rest, false));
    } else {
      const type = TEXT_TYPES[rest.trimEnd()];
      if (!type) this.fail('unknown metric type in # TYPE (expected counter, gauge, histogram, summary or untyped)', i + 1);
      this.meta(name, 'type', type);
    }
  }

  /**
   * The metric name of a metadata line at `i`: quoted (any UTF-8 name) or a legacy name, ending at
   * a blank (a tab too in the text format) or the end of the line.
   */
  private metadataName(line: string, i: number, kind: string): { name: string; end: number } {
    const start = i;
    let name: string;
    if (line[i] === '"') {
      const q = this.quoted(line, i, 'metric name');
      name = q.value;
      i = q.end;
      if (i < line.length && line[i] !== ' ' && (this.om || line[i] !== '\t')) this.fail(`expected a blank after the quoted metric name in # ${kind}`, i + 1);
    } else {
      while (i < line.length && line[i] !== ' ' && (this.om || line[i] !== '\t')) i++;
      name = line.slice(start, i);
      if (!METRIC_NAME.test(name)) this.fail(`invalid metric name in # ${kind}`, start + 1);
    }
    return { name, end: i };
  }

  /** `# HELP`, `# TYPE`, `# UNIT`, OpenMetrics: nothing else is allowed. */
  private metadataOm(line: string): void {
    const m = /^# (HELP|TYPE|UNIT) /.exec(line);
    if (!m) this.fail('expected "# HELP", "# TYPE", "# UNIT" or "# EOF"', 1);
    const kind = m[1] as 'HELP' | 'TYPE' | 'UNIT';
    const r = this.metadataName(line, m[0].length, kind);
    const name = r.name;
    if (r.end === m[0].length) this.fail(`invalid metric name in # ${kind}`, r.end + 1);
    const rest = line.slice(r.end + 1);
    if (kind === 'HELP') this.meta(name, 'help', unescapeHelp(rest, true));
    else if (kind === 'TYPE') {
      const type = OM_TYPES[rest];
      if (!type) this.fail('unknown metric type in # TYPE', r.end + 2);
      this.meta(name, 'type', type);
    } else {
      if (rest !== '' && !/^[a-zA-Z0-9_:]+$/.test(rest)) this.fail('invalid unit in # UNIT');
      if (rest !== '' && !name.endsWith(`_${rest}`)) this.fail('# UNIT is not a suffix of the metric name');
      this.meta(name, 'unit', rest);
    }
  }

  private meta(name: string, kind: 'help' | 'type' | 'unit', value: string): void {
    let family = this.current;
    const sameFamily = family !== undefined && this.metaName(family) === name && family.samples.length === 0 && !this.currentMeta[kind];
    if (!sameFamily) {
      if (this.byName.has(name)) this.fail(`metadata for a metric family appears twice or after its samples`);
      family = { name, type: 'unknown', samples: [] };
      this.open(family, name);
    }
    const f = family!;
    if (kind === 'help') f.help = value;
    else if (kind === 'unit') {
      if (value !== '') f.unit = value;
    } else {
      f.type = value as MetricType;
      if (!this.om && f.type === 'counter') {
        // The text format names a counter family by its sample name; the model keeps the
        // OpenMetrics name and remembers when the sample lacks `_total`.
        if (name.endsWith('_total') && name.length > 6) f.name = name.slice(0, -6);
        else f.legacyCounterName = true;
      }
    }
    this.currentMeta[kind] = true;
  }

  /** The name metadata lines use for a family in the format being parsed. */
  private metaName(family: MetricFamily): string {
    if (this.om) return family.name;
    return family.type === 'counter' && !family.legacyCounterName ? `${family.name}_total` : family.name;
  }

  private open(family: MetricFamily, key: string): void {
    this.families.push(family);
    this.byName.set(key, family);
    this.current = family;
    this.currentMeta = { help: false, type: false, unit: false };
  }

  /** The suffix under which sample `name` belongs to `family`, or undefined. */
  private suffixIn(family: MetricFamily, name: string): string | undefined {
    if (!this.om) {
      const base = this.metaName(family);
      if (!name.startsWith(base)) return undefined;
      const rest = name.slice(base.length);
      switch (family.type) {
        case 'counter':
          return rest === '' ? '_total' : undefined;
        case 'histogram':
          return rest === '_bucket' || rest === '_count' || rest === '_sum' ? rest : undefined;
        case 'summary':
          return rest === '' || rest === '_count' || rest === '_sum' ? rest : undefined;
        default:
          return rest === '' ? '' : undefined;
      }
    }
    if (!name.startsWith(family.name)) return undefined;
    const rest = name.slice(family.name.length);
    return TYPE_SUFFIXES[family.type].includes(rest) ? rest : undefined;
  }

  private sample(line: string): void {
    const om = this.om;
    let i = 0;
    while (!om && i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    const nameStart = i;
    while (i < line.length && isNameChar(line.charCodeAt(i))) i++;
    let name = line.slice(nameStart, i);
    if (name !== '' && !METRIC_NAME.test(name)) this.fail('invalid metric name', nameStart + 1);
    if (name === '' ? line[i] !== '{' : i < line.length && line[i] !== ' ' && line[i] !== '\t' && line[i] !== '{') {
      this.fail('invalid metric name (a UTF-8 name must be quoted inside the braces: {"name"})', nameStart + 1);
    }
    if (!om && name !== '') {
      // Blanks may separate the name from its labels; otherwise they belong to the value separator.
      let j = i;
      while (j < line.length && (line[j] === ' ' || line[j] === '\t')) j++;
      if (line[j] === '{') i = j;
    }
    let labels: string[] = [];
    if (line[i] === '{') {
      // `{"my.metric",…}`: without a name before the braces, the first item inside is the name.
      const r = this.labels(line, i, name === '');
      labels = r.labels;
      i = r.end;
      if (name === '') {
        if (r.name === undefined) this.fail('missing metric name (a quoted name must be the first item inside the braces)', nameStart + 1);
        name = r.name;
      }
    }
    // Value.
    i = this.separator(line, i, 'value');
    let end = this.tokenEnd(line, i);
    const value = parseSampleValue(line.slice(i, end));
    if (value === undefined) this.fail('invalid sample value', i + 1);
    i = end;
    let timestampMs: number | undefined;
    let exemplar: Sample['exemplar'];
    // Optional timestamp, then (OpenMetrics) an optional exemplar.
    if (i < line.length) {
      const j = this.separator(line, i, 'timestamp');
      if (j < line.length && line[j] !== '#') {
        end = this.tokenEnd(line, j);
        const token = line.slice(j, end);
        if (om) {
          if (!FLOAT.test(token)) this.fail('invalid timestamp', j + 1);
          timestampMs = secondsToMs(token);
        } else {
          if (!INT.test(token)) this.fail('invalid timestamp (expected integer milliseconds)', j + 1);
          timestampMs = Number(token);
        }
        // Beyond 2^53 ms a timestamp no longer reads back as the integer written (and renders in
        // exponent notation the text format refuses): refuse it rather than alter it.
        if (!Number.isFinite(timestampMs) || Math.abs(timestampMs) > Number.MAX_SAFE_INTEGER) this.fail('timestamp out of range', j + 1);
        i = end;
        if (i < line.length) i = this.separator(line, i, 'exemplar');
      } else {
        i = j;
      }
      if (i < line.length) {
        if (!om || !line.startsWith('# {', i)) this.fail('unexpected text after the sample', i + 1);
        exemplar = this.exemplar(line, i + 2);
      }
    }

    let family = this.current;
    let suffix = family ? this.suffixIn(family, name) : undefined;
    if (suffix === undefined) {
      if (this.byName.has(name) || this.strayOf(name)) this.fail('samples of a metric family are not contiguous');
      family = { name, type: 'unknown', samples: [] };
      this.open(family, name);
      suffix = '';
    }
    const f = family!;
    if (exemplar && !(suffix === '_bucket' || (f.type === 'counter' && suffix === '_total'))) {
      this.fail('exemplars are only allowed on counter _total and histogram _bucket samples');
    }
    if (f.type === 'histogram' || f.type === 'gaugehistogram') {
      if (suffix === '_bucket') this.boundLabel(labels, 'le');
    } else if (f.type === 'summary' && suffix === '') {
      this.boundLabel(labels, 'quantile');
    } else if (f.type === 'stateset' && labelValue(labels, f.name) === undefined) {
      this.fail('stateset sample without its state label');
    }
    const sample: Sample = { suffix, labels, value };
    if (timestampMs !== undefined) sample.timestampMs = timestampMs;
    if (exemplar) sample.exemplar = exemplar;
    f.samples.push(sample);
  }

  /** Whether `name` is a suffixed sample of an earlier (closed) family. */
  private strayOf(name: string): boolean {
    for (const s of ALL_SUFFIXES) {
      if (!name.endsWith(s)) continue;
      const f = this.byName.get(name.slice(0, -s.length));
      if (f && f !== this.current && this.suffixIn(f, name) !== undefined) return true;
    }
    return false;
  }

  private boundLabel(labels: readonly string[], name: string): void {
    const v = labelValue(labels, name);
    if (v === undefined) this.fail(`sample without its "${name}" label`);
    if (parseSampleValue(v) === undefined) this.fail(`"${name}" label is not a number`);
  }

  /** Skips the separator before a token: one space in OpenMetrics, blanks and tabs in text. */
  private separator(line: string, i: number, what: string): number {
    if (this.om) {
      if (line[i] !== ' ' || line[i + 1] === ' ') this.fail(`expected one space before the ${what}`, i + 1);
      return i + 1;
    }
    if (line[i] !== ' ' && line[i] !== '\t') this.fail(`expected blank before the ${what}`, i + 1);
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    return i;
  }

  private tokenEnd(line: string, i: number): number {
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t') i++;
    return i;
  }

  private exemplar(line: string, i: number): NonNullable<Sample['exemplar']> {
    const r = this.labels(line, i);
    let runes = 0;
    for (let k = 0; k < r.labels.length; k++) runes += [...r.labels[k]!].length;
    if (runes > 128) this.fail('exemplar labels longer than 128 characters');
    i = this.separator(line, r.end, 'exemplar value');
    let end = this.tokenEnd(line, i);
    const value = parseSampleValue(line.slice(i, end));
    if (value === undefined) this.fail('invalid exemplar value', i + 1);
    const out: NonNullable<Sample['exemplar']> = { labels: r.labels, value };
    if (end < line.length) {
      i = this.separator(line, end, 'exemplar timestamp');
      end = this.tokenEnd(line, i);
      const token = line.slice(i, end);
      if (!FLOAT.test(token)) this.fail('invalid exemplar timestamp', i + 1);
      out.timestampSeconds = Number(token);
      // "1e999" matches the float syntax but is Infinity, which would render as "+Inf", not a time.
      if (!Number.isFinite(out.timestampSeconds)) this.fail('exemplar timestamp out of range', i + 1);
      if (end < line.length) this.fail('unexpected text after the exemplar', end + 1);
    }
    return out;
  }

  /**
   * A double-quoted string at `line[i] === '"'` with the label-value escapes (`\\`, `\"`, `\n`);
   * `what` names it in errors. A quoted name must be a valid, non-empty UTF-8 name.
   */
  private quoted(line: string, i: number, what: 'label value' | 'metric name' | 'label name'): { value: string; end: number } {
    const open = i;
    i++;
    let value = '';
    for (;;) {
      const quote = line.indexOf('"', i);
      if (quote === -1) this.fail(`unterminated ${what}`, i);
      const slash = line.indexOf('\\', i);
      if (slash === -1 || slash > quote) {
        value += line.slice(i, quote);
        i = quote + 1;
        break;
      }
      value += line.slice(i, slash);
      const c = line[slash + 1];
      if (c === '\\') value += '\\';
      else if (c === '"') value += '"';
      else if (c === 'n') value += '\n';
      else this.fail(`invalid escape sequence in a ${what}`, slash + 1);
      i = slash + 2;
    }
    if (what !== 'label value' && !isValidName(value)) this.fail(`empty or invalid quoted ${what}`, open + 1);
    return { value, end: i };
  }

  /**
   * `{name="value",…}` starting at `line[i] === '{'`. With `wantName`, the first item may be the
   * quoted metric name (a quoted string followed by `,` or `}` rather than `=`).
   */
  private labels(line: string, i: number, wantName = false): { labels: string[]; end: number; name?: string } {
    const om = this.om;
    const labels: string[] = [];
    let metricName: string | undefined;
    const done = (end: number) => (metricName === undefined ? { labels, end } : { labels, end, name: metricName });
    i++;
    const blanks = () => {
      if (!om) while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    };
    for (let item = 0; ; item++) {
      blanks();
      if (line[i] === '}') return done(i + 1);
      const start = i;
      let name: string;
      if (line[i] === '"') {
        const q = this.quoted(line, i, 'label name');
        name = q.value;
        i = q.end;
        blanks();
        if (line[i] === ',' || line[i] === '}') {
          if (!wantName) this.fail('a quoted metric name is only allowed when no name precedes the braces', start + 1);
          if (item !== 0) this.fail('the quoted metric name must be the first item inside the braces', start + 1);
          metricName = name;
          if (line[i] === '}') return done(i + 1);
          i++;
          continue;
        }
      } else {
        while (i < line.length && isLabelChar(line.charCodeAt(i))) i++;
        name = line.slice(start, i);
        if (!LABEL_NAME.test(name)) this.fail('invalid label name', start + 1);
      }
      for (let k = 0; k < labels.length; k += 2) if (labels[k] === name) this.fail('duplicate label name', start + 1);
      blanks();
      if (line[i] !== '=') this.fail('expected "=" after the label name', i + 1);
      i++;
      blanks();
      if (line[i] !== '"') this.fail('expected a quoted label value', i + 1);
      const q = this.quoted(line, i, 'label value');
      const value = q.value;
      i = q.end;
      labels.push(name, value);
      blanks();
      if (line[i] === ',') {
        i++;
        continue;
      }
      if (line[i] === '}') return done(i + 1);
      this.fail('expected "," or "}" after a label', i + 1);
    }
  }
}

/**
 * Float seconds to milliseconds by moving the decimal point in the text, so `1234.567` is exactly
 * 1234567 (multiplying the parsed float by 1000 is not exact).
 */
function secondsToMs(token: string): number {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(token);
  if (!m) return Number(token) * 1000;
  const frac = m[3] ?? '';
  return Number(`${m[1]}${m[2] || '0'}${frac.slice(0, 3).padEnd(3, '0')}${frac.length > 3 ? `.${frac.slice(3)}` : ''}`);
}

function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 58;
}

function isLabelChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}

/** HELP text: `\\` and `\n` in both formats, `\"` too in OpenMetrics; other backslashes stay literal. */
function unescapeHelp(text: string, om: boolean): string {
  if (!text.includes('\\')) return text;
  return text.replace(om ? /\\(["\\n])/g : /\\([\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/**
 * Parses exposition text strictly.
 * @throws ExpositionParseError naming the line and column (never the content).
 * @example
 * const families = parseExposition('# TYPE up gauge\nup 1\n', 'text');
 * families[0]; // { name: 'up', type: 'gauge', samples: [{ suffix: '', labels: [], value: 1 }] }
 */
export function parseExposition(text: string, format: ExpositionFormat): MetricFamily[] {
  return new Parser(format === 'openmetrics').parse(text);
}
