/**
 * A strict parser for the Prometheus text format (0.0.4, and 1.0.0 with UTF-8 names) and
 * OpenMetrics 1.0 text. Strict because
 * the guard fails closed: whatever it cannot parse with certainty is an {@link ExpositionParseError}
 * naming the line and column, and the scrape is refused instead of passing unread text (and the
 * secrets it may hold) through. Error messages never quote the input.
 *
 * Refused, beyond plain syntax errors: unknown `# TYPE`s, metadata after a family's samples or
 * twice, interleaved families, duplicate label names, unknown escape sequences in label values,
 * buckets without `le`, quantiles without `quantile`, a `# UNIT` that is not a suffix of the name,
 * and (OpenMetrics) blank lines, comments other than HELP/TYPE/UNIT, exemplars where the format
 * allows none, and text after or a missing `# EOF`.
 *
 * UTF-8 names (Prometheus 3, prometheus/common `UTF8Validation`) are read in every format: a metric
 * name outside `[a-zA-Z_:][a-zA-Z0-9_:]*` is quoted, in metadata (`# TYPE "my.metric" counter`) and
 * as the first item inside the braces (`{"my.metric","label.name"="v",other="x"} 1`); a label name
 * outside `[a-zA-Z_][a-zA-Z0-9_]*` is quoted (`my_metric{"label.name"="v"}`). Any name may be
 * quoted. Quoted names use the label-value escapes (`\\`, `\"`, `\n`); an empty quoted name, a
 * quoted metric name anywhere but first, a second metric name or an unterminated quote is refused.
 */
import { ExpositionParseError } from './failure.js';
import { METRIC_NAME, TYPE_SUFFIXES, isValidName, labelValue, type ExpositionFormat, type MetricFamily, type MetricType, type Sample } from './model.js';

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
  if (isFloatAt(token, 0, token.length)) return Number(token);
  if (INF.test(token)) return POS_INF.test(token) ? Infinity : -Infinity;
  if (NAN.test(token)) return NaN;
  return undefined;
}

/**
 * Whether `s[i, end)` is a decimal float as {@link FLOAT} reads it
 * (`[+-]?(digits[.digits*]|.digits)([eE][+-]?digits)?`), scanned without a regex or a slice: the
 * value of nearly every sample line goes through here.
 */
function isFloatAt(s: string, i: number, end: number): boolean {
  if (i < end && (s.charCodeAt(i) === 43 /* + */ || s.charCodeAt(i) === 45) /* - */) i++;
  const intStart = i;
  while (i < end && isDigit(s.charCodeAt(i))) i++;
  let digits = i > intStart;
  if (i < end && s.charCodeAt(i) === 46 /* . */) {
    i++;
    const fracStart = i;
    while (i < end && isDigit(s.charCodeAt(i))) i++;
    digits ||= i > fracStart;
  }
  if (!digits) return false;
  if (i < end && (s.charCodeAt(i) === 101 || s.charCodeAt(i) === 69) /* e E */) {
    i++;
    if (i < end && (s.charCodeAt(i) === 43 || s.charCodeAt(i) === 45)) i++;
    const expStart = i;
    while (i < end && isDigit(s.charCodeAt(i))) i++;
    if (i === expStart) return false;
  }
  return i === end;
}

/** The sample value `s[i, end)` ({@link parseSampleValue}); a short unsigned integer is read without a slice. */
function sampleValueAt(s: string, i: number, end: number): number | undefined {
  const n = end - i;
  if (n > 0 && n <= 15) {
    // At most 15 digits: exact in a double, the same number Number() reads (leading zeros too).
    let v = 0;
    let k = i;
    for (; k < end; k++) {
      const d = s.charCodeAt(k) - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    if (k === end) return v;
  }
  return parseSampleValue(s.slice(i, end));
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

/** Where a parsed family's own lines are in the text it was parsed from: `[start, end)` of `text`. */
interface SourceSpan {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

/**
 * The span of each parsed family whose lines are contiguous and could be sent again as they
 * came (see {@link verbatimText}). Weak: an entry lives as long as its family.
 */
const SPANS = new WeakMap<MetricFamily, SourceSpan>();

/**
 * The text a family was parsed from, exactly as it came, when it can be sent again in the same
 * format as it is: its HELP/TYPE/UNIT and sample lines form one contiguous run of the input (no
 * comment, blank line or other family inside it), no name in it is quoted (so every name is
 * valid under every escaping scheme and in every version of the format), and no line ends in CR.
 * Undefined for any other family, and for one not made by the parser. The text always ends with
 * a newline. Valid only while the family is unchanged: whoever alters it must render it instead.
 * @example
 * const [f] = parseExposition('# TYPE up gauge\nup 1\n', 'text');
 * verbatimText(f); // '# TYPE up gauge\nup 1\n'
 */
export function verbatimText(family: MetricFamily): string | undefined {
  const span = SPANS.get(family);
  if (span === undefined) return undefined;
  const text = span.text.slice(span.start, span.end);
  return span.end === span.text.length && span.text.charCodeAt(span.end - 1) !== 10 ? `${text}\n` : text;
}

/** What the parser keeps of a family it has finished: enough to recognise its samples again (not the samples). */
type FamilyKey = Pick<MetricFamily, 'name' | 'type' | 'legacyCounterName'>;

class Parser {
  /**
   * Every family seen so far, under the name its first line used: the current one itself, a
   * finished one as a {@link FamilyKey} only, so a family's samples are garbage once it is yielded
   * while duplicate and interleaved families are still refused across the whole body.
   */
  private readonly byName = new Map<string, MetricFamily | FamilyKey>();
  private current: MetricFamily | undefined;
  /** The key `current` is filed under in `byName`. */
  private currentKey = '';
  /** The name the current family's metadata and samples use (text format), cached; undefined: not computed yet. */
  private currentBase: string | undefined;
  /** A family finished by the line just read, waiting to be yielded. */
  private finished: MetricFamily | undefined;
  /** Metadata already seen for the current family. */
  private currentMeta = { help: false, type: false, unit: false };
  private line = 0;
  /**
   * The line being read is `[ls, le)` of the string the line handlers are given: the whole input
   * for a sample line (columns in errors count from `ls`), the line cut out for anything else.
   */
  private ls = 0;
  private le = 0;
  /** Where the last {@link quoted} or {@link labels} call ended (an index into the line). */
  private end = 0;
  /** Whether the last {@link quoted} string had no escape sequence (its text is its value). */
  private plain = false;
  /** The quoted metric name the last {@link labels} call found inside the braces. */
  private quotedName: string | undefined;
  /**
   * The unquoted label name and the escape-free label value at each position of the previous
   * labelled sample: consecutive series mostly repeat them, and a repeat reuses the string
   * instead of slicing a new one (after comparing it with the text, so it is exactly what the
   * slow path would have read).
   */
  private readonly lastNames: (string | undefined)[] = [];
  private readonly lastValues: (string | undefined)[] = [];
  /** The input being parsed (for the spans of {@link verbatimText}). */
  private input = '';
  /** The family whose span is being tracked, its first line's start and the end of its last line. */
  private spanFamily: MetricFamily | undefined;
  private spanStart = 0;
  private spanEnd = 0;
  /** Whether the tracked family can still be sent verbatim (see {@link verbatimText}). */
  private spanOk = false;
  /** Whether the line being read quoted a metric or label name. */
  private lineQuoted = false;

  constructor(private readonly om: boolean) {}

  fail(message: string, column?: number): never {
    throw new ExpositionParseError(this.line, column, message);
  }

  /** The families of `input` in order, each yielded once the line after it (or the end) is read. */
  *parse(input: string): Generator<MetricFamily, void, undefined> {
    this.input = input;
    let pos = 0;
    let sawEof = false;
    const om = this.om;
    while (pos < input.length) {
      let end = input.indexOf('\n', pos);
      if (end === -1) end = input.length;
      const start = pos;
      const stop = end > pos && input.charCodeAt(end - 1) === 13 /* \r */ ? end - 1 : end;
      pos = end + 1;
      this.line++;
      if (sawEof) this.fail('text after "# EOF"');
      const c = stop > start ? input.charCodeAt(start) : -1;
      this.lineQuoted = false;
      if (om ? c !== 35 /* # */ && c !== -1 : isNameChar(c) || c === 123 /* { */) {
        // A sample line (in the text format: neither blank nor a comment, decided without
        // trimming or a regex), read in place in the input: no line string is cut.
        this.ls = start;
        this.le = stop;
        this.sample(input);
      } else {
        const line = input.slice(start, stop);
        this.ls = 0;
        this.le = line.length;
        if (om) {
          if (line === '# EOF') {
            sawEof = true;
            continue;
          }
          if (line === '') this.fail('blank line (OpenMetrics allows none)');
          this.metadataOm(line);
        } else {
          if (line.trim() === '') continue;
          if (c === 35 || /^[ \t]+#/.test(line)) {
            if (!this.metadataText(line)) continue; // a plain comment: no family's line
          } else this.sample(line);
        }
      }
      this.spanLine(start, Math.min(pos, input.length), stop !== end);
      // Yielded straight from takeFinished(): no local of this suspended frame keeps the family
      // (and its samples) alive while the consumer renders and sends it.
      if (this.finished !== undefined) yield this.takeFinished();
    }
    if (om && !sawEof) {
      this.line++;
      this.fail('missing "# EOF" at the end of OpenMetrics text');
    }
    if (this.current !== undefined) {
      this.close();
      yield this.takeFinished();
    }
  }

  /**
   * Files the line `[start, next)` just read under the current family's span: it opens the span
   * of a family opened by this line, extends a contiguous one, and spoils it otherwise (a comment
   * or blank line came in between) or when the line quoted a name or ended in CR.
   */
  private spanLine(start: number, next: number, cr: boolean): void {
    if (this.spanFamily !== this.current) {
      this.spanFamily = this.current;
      this.spanStart = start;
      this.spanOk = true;
    } else if (start !== this.spanEnd) this.spanOk = false;
    this.spanEnd = next;
    if (cr || this.lineQuoted) this.spanOk = false;
  }

  /** The family waiting to be yielded, no longer held here. */
  private takeFinished(): MetricFamily {
    const family = this.finished!;
    this.finished = undefined;
    return family;
  }

  /** `# HELP`, `# TYPE` or another comment (ignored: false), text format. */
  private metadataText(line: string): boolean {
    const m = /^[ \t]*#[ \t]*(HELP|TYPE)(?:[ \t]+|$)/.exec(line);
    if (!m) return false; // a plain comment
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
    return true;
  }

  /**
   * The metric name of a metadata line at `i`: quoted (any UTF-8 name) or a legacy name, ending at
   * a blank (a tab too in the text format) or the end of the line.
   */
  private metadataName(line: string, i: number, kind: string): { name: string; end: number } {
    const start = i;
    let name: string;
    if (line[i] === '"') {
      name = this.quoted(line, i, 'metric name');
      i = this.end;
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
      this.currentBase = undefined;
    }
    this.currentMeta[kind] = true;
  }

  /** The name metadata lines use for a family in the format being parsed. */
  private metaName(family: FamilyKey): string {
    if (family === this.current) return (this.currentBase ??= metaNameOf(family, this.om));
    return metaNameOf(family, this.om);
  }

  private open(family: MetricFamily, key: string): void {
    this.close();
    this.byName.set(key, family);
    this.current = family;
    this.currentKey = key;
    this.currentBase = undefined;
    this.currentMeta = { help: false, type: false, unit: false };
  }

  /** Finishes the current family: queued to be yielded, remembered by name only. */
  private close(): void {
    const f = this.current;
    if (f === undefined) return;
    const key: FamilyKey = { name: f.name, type: f.type };
    if (f.legacyCounterName !== undefined) key.legacyCounterName = f.legacyCounterName;
    this.byName.set(this.currentKey, key);
    if (this.spanFamily === f && this.spanOk) SPANS.set(f, { text: this.input, start: this.spanStart, end: this.spanEnd });
    this.finished = f;
    this.current = undefined;
  }

  /** The suffix under which the sample name `s[start, end)` belongs to `family`, or undefined. */
  private suffixAt(family: FamilyKey, s: string, start: number, end: number): string | undefined {
    const base = this.metaName(family);
    if (end - start < base.length || !textAt(s, start, base)) return undefined;
    const at = start + base.length;
    const n = end - at;
    const is = (suffix: string): boolean => n === suffix.length && textAt(s, at, suffix);
    if (!this.om) {
      switch (family.type) {
        case 'counter':
          return n === 0 ? '_total' : undefined;
        case 'histogram':
          return is('_bucket') ? '_bucket' : is('_count') ? '_count' : is('_sum') ? '_sum' : undefined;
        case 'summary':
          return n === 0 ? '' : is('_count') ? '_count' : is('_sum') ? '_sum' : undefined;
        default:
          return n === 0 ? '' : undefined;
      }
    }
    for (const suffix of TYPE_SUFFIXES[family.type]) if (is(suffix)) return suffix;
    return undefined;
  }

  private sample(line: string): void {
    const om = this.om;
    const len = this.le;
    let i = this.ls;
    if (!om) while (i < len && isBlank(line.charCodeAt(i))) i++;
    const nameStart = i;
    while (i < len && isNameChar(line.charCodeAt(i))) i++;
    // The name is `line[nameStart, nameEnd)`, sliced only when it opens a family.
    const nameEnd = i;
    const named = nameEnd > nameStart;
    if (named && isDigit(line.charCodeAt(nameStart))) this.fail('invalid metric name', nameStart + 1 - this.ls);
    const next = i < len ? line.charCodeAt(i) : -1;
    if (!named ? next !== 123 /* { */ : next !== -1 && next !== 32 && next !== 9 && next !== 123) {
      this.fail('invalid metric name (a UTF-8 name must be quoted inside the braces: {"name"})', nameStart + 1 - this.ls);
    }
    if (!om && named) {
      // Blanks may separate the name from its labels; otherwise they belong to the value separator.
      let j = i;
      while (j < len && isBlank(line.charCodeAt(j))) j++;
      if (line.charCodeAt(j) === 123) i = j;
    }
    let labels: string[];
    let quotedName: string | undefined;
    if (line.charCodeAt(i) === 123) {
      // `{"my.metric",…}`: without a name before the braces, the first item inside is the name.
      labels = this.labels(line, i, !named);
      i = this.end;
      if (!named) {
        if (this.quotedName === undefined) this.fail('missing metric name (a quoted name must be the first item inside the braces)', nameStart + 1 - this.ls);
        quotedName = this.quotedName;
      }
    } else {
      labels = [];
    }
    // Value.
    i = this.separator(line, i, 'value');
    let end = tokenEnd(line, this.le, i);
    const value = sampleValueAt(line, i, end);
    if (value === undefined) this.fail('invalid sample value', i + 1 - this.ls);
    i = end;
    let timestampMs: number | undefined;
    let exemplar: Sample['exemplar'];
    // Optional timestamp, then (OpenMetrics) an optional exemplar.
    if (i < len) {
      const j = this.separator(line, i, 'timestamp');
      if (j < len && line.charCodeAt(j) !== 35 /* # */) {
        end = tokenEnd(line, this.le, j);
        const token = line.slice(j, end);
        if (om) {
          if (!FLOAT.test(token)) this.fail('invalid timestamp', j + 1 - this.ls);
          timestampMs = secondsToMs(token);
        } else {
          if (!INT.test(token)) this.fail('invalid timestamp (expected integer milliseconds)', j + 1 - this.ls);
          timestampMs = Number(token);
        }
        // Beyond 2^53 ms a timestamp no longer reads back as the integer written (and renders in
        // exponent notation the text format refuses): refuse it rather than alter it.
        if (!Number.isFinite(timestampMs) || Math.abs(timestampMs) > Number.MAX_SAFE_INTEGER) this.fail('timestamp out of range', j + 1 - this.ls);
        i = end;
        if (i < len) i = this.separator(line, i, 'exemplar');
      } else {
        i = j;
      }
      if (i < len) {
        if (!om || !line.startsWith('# {', i)) this.fail('unexpected text after the sample', i + 1 - this.ls);
        exemplar = this.exemplar(line, i + 2);
      }
    }

    let family = this.current;
    let suffix: string | undefined;
    if (family !== undefined) {
      suffix = quotedName === undefined ? this.suffixAt(family, line, nameStart, nameEnd) : this.suffixAt(family, quotedName, 0, quotedName.length);
    }
    if (suffix === undefined) {
      const name = quotedName ?? line.slice(nameStart, nameEnd);
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

  /** Whether `name` is a suffixed sample of an earlier (finished) family. */
  private strayOf(name: string): boolean {
    for (const s of ALL_SUFFIXES) {
      if (!name.endsWith(s)) continue;
      const f = this.byName.get(name.slice(0, -s.length));
      if (f && f !== this.current && this.suffixAt(f, name, 0, name.length) !== undefined) return true;
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
      if (line.charCodeAt(i) !== 32 || line.charCodeAt(i + 1) === 32) this.fail(`expected one space before the ${what}`, i + 1 - this.ls);
      return i + 1;
    }
    if (!isBlank(line.charCodeAt(i))) this.fail(`expected blank before the ${what}`, i + 1 - this.ls);
    while (i < this.le && isBlank(line.charCodeAt(i))) i++;
    return i;
  }

  private exemplar(line: string, i: number): NonNullable<Sample['exemplar']> {
    const labels = this.labels(line, i);
    let runes = 0;
    for (let k = 0; k < labels.length; k++) runes += [...labels[k]!].length;
    if (runes > 128) this.fail('exemplar labels longer than 128 characters');
    i = this.separator(line, this.end, 'exemplar value');
    let end = tokenEnd(line, this.le, i);
    const value = parseSampleValue(line.slice(i, end));
    if (value === undefined) this.fail('invalid exemplar value', i + 1 - this.ls);
    const out: NonNullable<Sample['exemplar']> = { labels, value };
    if (end < this.le) {
      i = this.separator(line, end, 'exemplar timestamp');
      end = tokenEnd(line, this.le, i);
      const token = line.slice(i, end);
      if (!FLOAT.test(token)) this.fail('invalid exemplar timestamp', i + 1 - this.ls);
      out.timestampSeconds = Number(token);
      // "1e999" matches the float syntax but is Infinity, which would render as "+Inf", not a time.
      if (!Number.isFinite(out.timestampSeconds)) this.fail('exemplar timestamp out of range', i + 1 - this.ls);
      if (end < this.le) this.fail('unexpected text after the exemplar', end + 1 - this.ls);
    }
    return out;
  }

  /**
   * A double-quoted string at `line[i] === '"'` with the label-value escapes (`\\`, `\"`, `\n`);
   * `what` names it in errors. A quoted name must be a valid, non-empty UTF-8 name. Sets
   * {@link end} past the closing quote and {@link plain}.
   */
  private quoted(line: string, i: number, what: 'label value' | 'metric name' | 'label name'): string {
    const open = i;
    i++;
    let value = '';
    let plain = true;
    for (;;) {
      const quote = line.indexOf('"', i);
      if (quote === -1 || quote >= this.le) this.fail(`unterminated ${what}`, i - this.ls);
      // The first backslash before the quote, looked for up to the quote only (the input goes on).
      let slash = i;
      while (slash < quote && line.charCodeAt(slash) !== 92 /* \\ */) slash++;
      if (slash === quote) {
        value = plain ? line.slice(i, quote) : value + line.slice(i, quote);
        i = quote + 1;
        break;
      }
      plain = false;
      value += line.slice(i, slash);
      const c = line.charCodeAt(slash + 1);
      if (c === 92 /* \\ */) value += '\\';
      else if (c === 34 /* " */) value += '"';
      else if (c === 110 /* n */) value += '\n';
      else this.fail(`invalid escape sequence in a ${what}`, slash + 1 - this.ls);
      i = slash + 2;
    }
    if (what !== 'label value') {
      if (!isValidName(value)) this.fail(`empty or invalid quoted ${what}`, open + 1 - this.ls);
      this.lineQuoted = true;
    }
    this.end = i;
    this.plain = plain;
    return value;
  }

  /**
   * `{name="value",…}` starting at `line[i] === '{'`; sets {@link end} past the `}`. With
   * `wantName`, the first item may be the quoted metric name (a quoted string followed by `,` or
   * `}` rather than `=`), left in {@link quotedName}.
   */
  private labels(line: string, i: number, wantName = false): string[] {
    const om = this.om;
    const len = this.le;
    const labels: string[] = [];
    const lastNames = this.lastNames;
    const lastValues = this.lastValues;
    this.quotedName = undefined;
    i++;
    for (let item = 0; ; item++) {
      if (!om) while (i < len && isBlank(line.charCodeAt(i))) i++;
      if (line.charCodeAt(i) === 125 /* } */) {
        this.end = i + 1;
        return labels;
      }
      const start = i;
      const at = labels.length >> 1;
      let name: string;
      if (line.charCodeAt(i) === 34 /* " */) {
        name = this.quoted(line, i, 'label name');
        i = this.end;
        if (!om) while (i < len && isBlank(line.charCodeAt(i))) i++;
        const c = line.charCodeAt(i);
        if (c === 44 /* , */ || c === 125 /* } */) {
          if (!wantName) this.fail('a quoted metric name is only allowed when no name precedes the braces', start + 1 - this.ls);
          if (item !== 0) this.fail('the quoted metric name must be the first item inside the braces', start + 1 - this.ls);
          this.quotedName = name;
          if (c === 125) {
            this.end = i + 1;
            return labels;
          }
          i++;
          continue;
        }
        lastNames[at] = undefined;
      } else {
        const last = lastNames[at];
        if (last !== undefined && textAt(line, i, last, this.le) && !isLabelChar(line.charCodeAt(i + last.length))) {
          // The same (valid, unquoted) name as the previous sample's at this position.
          name = last;
          i += last.length;
        } else {
          while (i < len && isLabelChar(line.charCodeAt(i))) i++;
          if (i === start || isDigit(line.charCodeAt(start))) this.fail('invalid label name', start + 1 - this.ls);
          name = line.slice(start, i);
          lastNames[at] = name;
        }
      }
      for (let k = 0; k < labels.length; k += 2) if (labels[k] === name) this.fail('duplicate label name', start + 1 - this.ls);
      if (!om) while (i < len && isBlank(line.charCodeAt(i))) i++;
      if (line.charCodeAt(i) !== 61 /* = */) this.fail('expected "=" after the label name', i + 1 - this.ls);
      i++;
      if (!om) while (i < len && isBlank(line.charCodeAt(i))) i++;
      if (line.charCodeAt(i) !== 34 /* " */) this.fail('expected a quoted label value', i + 1 - this.ls);
      let value: string;
      const last = lastValues[at];
      if (last !== undefined && textAt(line, i + 1, last, this.le) && line.charCodeAt(i + 1 + last.length) === 34) {
        // The same escape-free value as the previous sample's at this position: it holds no quote
        // or backslash, so the quote after it is the one the slow path would stop at.
        value = last;
        i += last.length + 2;
      } else {
        value = this.quoted(line, i, 'label value');
        i = this.end;
        lastValues[at] = this.plain ? value : undefined;
      }
      labels.push(name, value);
      if (!om) while (i < len && isBlank(line.charCodeAt(i))) i++;
      const c = line.charCodeAt(i);
      if (c === 44 /* , */) {
        i++;
        continue;
      }
      if (c === 125 /* } */) {
        this.end = i + 1;
        return labels;
      }
      this.fail('expected "," or "}" after a label', i + 1 - this.ls);
    }
  }
}

/** The name metadata lines use for `family` (text format: a counter's sample name). */
function metaNameOf(family: FamilyKey, om: boolean): string {
  if (om) return family.name;
  return family.type === 'counter' && !family.legacyCounterName ? `${family.name}_total` : family.name;
}

/**
 * Whether `s` holds `word` at `at`: `startsWith(word, at)`, compared here unit by unit because the
 * builtin costs more than the comparison on the short names and values of a sample line.
 */
function textAt(s: string, at: number, word: string, end = s.length): boolean {
  const n = word.length;
  if (at + n > end) return false;
  for (let k = 0; k < n; k++) if (s.charCodeAt(at + k) !== word.charCodeAt(k)) return false;
  return true;
}

function tokenEnd(line: string, end: number, i: number): number {
  while (i < end && !isBlank(line.charCodeAt(i))) i++;
  return i;
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

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
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
  return [...parseFamilies(text, format)];
}

/**
 * Parses exposition text strictly and lazily: each family is yielded as soon as the line after
 * it (or the end of the text) is read, and the parser keeps no reference to it afterwards, so a
 * consumer that handles one family at a time never holds the model of the whole body. It accepts
 * and rejects exactly what {@link parseExposition} does, with the same errors, but an error is
 * thrown only when the iteration reaches its line: the families before it have been yielded by
 * then (duplicate and interleaved families are still refused across the whole text).
 * @throws ExpositionParseError (from `next()`) naming the line and column (never the content).
 * @example
 * for (const family of parseFamilies(body, 'text')) render(family);
 */
export function parseFamilies(text: string, format: ExpositionFormat): Generator<MetricFamily, void, undefined> {
  return new Parser(format === 'openmetrics').parse(text);
}
