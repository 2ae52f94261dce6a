/**
 * Writes the model as Prometheus text format 0.0.4 or OpenMetrics 1.0, escaping per format, so the
 * output always parses (`promtool check metrics` finds no parse error).
 *
 * UTF-8 names are written quoted, as Prometheus 3 and client_golang write them: a metric name
 * outside `[a-zA-Z_:][a-zA-Z0-9_:]*` in `# HELP`/`# TYPE`/`# UNIT` as `"my.metric"` and in a sample
 * as the first item inside the braces (`{"my.metric",env="x"} 1`); a label name outside
 * `[a-zA-Z_][a-zA-Z0-9_]*` as `"label.name"="v"`. For a scraper that does not accept UTF-8 names
 * the caller passes an escaping scheme ({@link RenderOptions.escaping}) and names are escaped
 * first (`escaping.ts`), so nothing is quoted.
 *
 * What does not exist in the text format is mapped, never written invalid: `_created` samples and
 * exemplars are left out (as client_golang does), `# UNIT` is left out, an info metric `foo` is the
 * gauge `foo_info`, a stateset is a gauge, and a gauge histogram becomes the gauges `foo_bucket`,
 * `foo_gcount` and `foo_gsum`. In OpenMetrics a text-format `untyped` family is `unknown`, and a
 * counter whose OpenMetrics name another family already uses is written as an `unknown` family
 * under its text name, so no two families share a name. A native histogram (decoded from
 * protobuf) is written as client_golang's expfmt writes it: its classic buckets if any, else the
 * `+Inf` bucket of its count, with `_count` and `_sum`.
 */
import { escapeFamilies, type EscapingScheme } from './escaping.js';
import { LABEL_NAME, METRIC_NAME, textFamilyName, type ExpositionFormat, type MetricFamily, type Sample } from './model.js';

/** Content type of the text format 0.0.4. */
export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Content type of OpenMetrics 1.0.0. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

const LABEL_ESCAPES_ALL = /[\\"\n]/g;

/** A label value escaped for both formats: `\` → `\\`, `"` → `\"`, newline → `\n`. */
export function escapeLabelValue(value: string): string {
  // A scan by char code: on the hot path almost every value needs no escape, and this beats a regex test.
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x5c || c === 0x22 || c === 0x0a) return value.replace(LABEL_ESCAPES_ALL, (ch) => (ch === '\n' ? '\\n' : `\\${ch}`));
  }
  return value;
}

/** `name="` for a label name as written (quoted when it is no legacy name), cached: label names are few. */
const labelOpeners = new Map<string, string>();
function labelOpener(name: string): string {
  let opener = labelOpeners.get(name);
  if (opener === undefined) {
    opener = formatLabelName(name) + '="';
    if (labelOpeners.size < 10_000) labelOpeners.set(name, opener);
  }
  return opener;
}

/** HELP text escaped: `\` and newline in the text format, and `"` too in OpenMetrics. */
export function escapeHelp(help: string, openMetrics: boolean): string {
  return help.replace(openMetrics ? /[\\"\n]/g : /[\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** A sample value as Prometheus writes it: `NaN`, `+Inf`, `-Inf` or the shortest decimal. */
export function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  // String(-0) is "0": keep the sign, as Go's strconv.FormatFloat does, so a parsed -0 round-trips.
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  return Number.isNaN(value) ? 'NaN' : String(value);
}

/**
 * A millisecond timestamp as OpenMetrics seconds, by moving the decimal point in its shortest
 * decimal form: `ms / 1000` would add binary rounding noise (156040917081.7 ms would come out as
 * 156040917.08170003 s), so the parser would not read back the same milliseconds.
 */
function msAsSeconds(ms: number): string {
  const digits = String(Math.abs(ms));
  if (!Number.isFinite(ms) || digits.includes('e')) return formatValue(ms / 1000);
  const [whole = '0', fraction = ''] = digits.split('.');
  const padded = whole.padStart(4, '0');
  const head = padded.slice(0, -3).replace(/^0+(?=\d)/, '');
  const tail = `${padded.slice(-3)}${fraction}`.replace(/0+$/, '');
  return `${ms < 0 ? '-' : ''}${head}${tail ? `.${tail}` : ''}`;
}

/** A metric name as written: bare when it is a legacy name, else quoted with the label-value escapes. */
export function formatMetricName(name: string): string {
  return METRIC_NAME.test(name) ? name : `"${escapeLabelValue(name)}"`;
}

/** A label name as written: bare when it is a legacy label name, else quoted. */
export function formatLabelName(name: string): string {
  return LABEL_NAME.test(name) ? name : `"${escapeLabelValue(name)}"`;
}

/**
 * A sample's name and labels: `name{a="b"}`, or `{"my.metric",a="b"}` when the name must be
 * quoted (the quoted metric name is the first item inside the braces).
 */
function seriesText(name: string, labels: readonly string[]): string {
  const inside = !METRIC_NAME.test(name);
  let out = inside ? `{"${escapeLabelValue(name)}"` : name;
  if (labels.length === 0) return inside ? out + '}' : out;
  out += inside ? ',' : '{';
  for (let i = 0; i < labels.length; i += 2) {
    if (i > 0) out += ',';
    out += labelOpener(labels[i]!) + escapeLabelValue(labels[i + 1]!) + '"';
  }
  return out + '}';
}

/** An exemplar's label set (`{}` when empty). */
function labelBlock(labels: readonly string[]): string {
  let out = '{';
  for (let i = 0; i < labels.length; i += 2) {
    if (i > 0) out += ',';
    out += `${formatLabelName(labels[i]!)}="${escapeLabelValue(labels[i + 1]!)}"`;
  }
  return out + '}';
}

/** What {@link renderExposition} wrote. */
export interface RenderResult {
  text: string;
  /** Sample lines written. */
  samples: number;
}

/**
 * Size of the text pieces a renderer hands out, in UTF-16 units: large enough that the per-piece
 * cost (a write, a gzip call) vanishes, small enough that a 100k-series scrape never becomes one
 * string held whole, and each piece dies young.
 */
export const PIECE_CHARS = 64 * 1024;

/** Where a family's text accumulates: `text` is cut into pieces every {@link PIECE_CHARS} and handed to `flush`. */
interface TextSink {
  text: string;
  samples: number;
  flush(text: string): void;
}

function textSamples(name: string, family: MetricFamily, samples: readonly Sample[], type: string, out: TextSink): void {
  let text = out.text;
  const written = formatMetricName(name);
  if (family.help !== undefined) text += `# HELP ${written} ${escapeHelp(family.help, false)}\n`;
  text += `# TYPE ${written} ${type}\n`;
  // The sample name is the family's text name for every suffix the text format folds into it.
  const keepSuffix = family.type === 'histogram' || family.type === 'summary';
  const legacy = METRIC_NAME.test(name);
  for (const s of samples) {
    const labels = s.labels;
    if (legacy) {
      // The hot path (legacy names): one string per line, label openers cached.
      let line = keepSuffix ? name + s.suffix : name;
      if (labels.length > 0) {
        line += '{' + labelOpener(labels[0]!) + escapeLabelValue(labels[1]!);
        for (let i = 2; i < labels.length; i += 2) line += '",' + labelOpener(labels[i]!) + escapeLabelValue(labels[i + 1]!);
        line += '"}';
      }
      text += line;
    } else text += seriesText(keepSuffix ? name + s.suffix : name, labels);
    text += s.timestampMs === undefined ? ' ' + formatValue(s.value) + '\n' : ' ' + formatValue(s.value) + ' ' + Math.round(s.timestampMs) + '\n';
    if (text.length >= PIECE_CHARS) {
      out.flush(text);
      text = '';
    }
  }
  out.samples += samples.length;
  out.text = text;
}

/**
 * The samples as the text formats can carry them: a native histogram (protobuf only) becomes the
 * classic `_bucket{le="+Inf"}` sample of its count unless the series has one (the decoder puts
 * it right before the native sample), so `_count`/`_sum` and the +Inf bucket remain, as
 * client_golang's expfmt writes a histogram without classic buckets. No copy when there is none.
 */
function classicSamples(samples: Sample[]): Sample[] {
  if (!samples.some((s) => s.histogram !== undefined)) return samples;
  const out: Sample[] = [];
  for (const s of samples) {
    if (s.histogram === undefined) {
      out.push(s);
      continue;
    }
    const prev = out[out.length - 1];
    if (prev && prev.suffix === '_bucket' && prev.labels[prev.labels.length - 2] === 'le' && prev.labels[prev.labels.length - 1] === '+Inf') continue;
    const bucket: Sample = { suffix: '_bucket', labels: [...s.labels, 'le', '+Inf'], value: s.value };
    if (s.timestampMs !== undefined) bucket.timestampMs = s.timestampMs;
    out.push(bucket);
  }
  return out;
}

/** The samples minus `_created` (which the text format cannot carry), without copying when there are none. */
function withoutCreated(samples: Sample[]): Sample[] {
  for (const s of samples) if (s.suffix === '_created') return samples.filter((x) => x.suffix !== '_created');
  return samples;
}

/** One family in the text format 0.0.4. */
function textFamily(f: MetricFamily, out: TextSink): void {
  switch (f.type) {
    case 'counter':
      textSamples(textFamilyName(f), f, withoutCreated(f.samples), 'counter', out);
      break;
    case 'histogram':
    case 'summary':
      textSamples(f.name, f, withoutCreated(classicSamples(f.samples)), f.type, out);
      break;
    case 'gaugehistogram':
      for (const suffix of ['_bucket', '_gcount', '_gsum']) {
        const samples = classicSamples(f.samples).filter((s) => s.suffix === suffix);
        if (samples.length > 0)
          textSamples(
            f.name + suffix,
            { ...f, type: 'gauge' },
            samples.map((s) => ({ ...s, suffix: '' })),
            'gauge',
            out,
          );
      }
      break;
    case 'info':
      textSamples(textFamilyName(f), f, f.samples, 'gauge', out);
      break;
    case 'stateset':
    case 'gauge':
      textSamples(f.name, f, f.samples, 'gauge', out);
      break;
    default:
      textSamples(f.name, f, f.samples, 'untyped', out);
  }
}

/** One family in OpenMetrics 1.0; `used` holds the names earlier families of the exposition took. */
function openMetricsFamily(family: MetricFamily, used: Set<string>, out: TextSink): void {
  let name = family.name;
  let type: string = family.type;
  let collided = false;
  if (used.has(name) && family.type === 'counter') {
    name = textFamilyName(family);
    type = 'unknown';
    collided = true;
  }
  if (used.has(name)) return; // cannot happen for parsed input; never write a duplicate family
  used.add(name);
  if (family.type === 'counter' && !collided) used.add(`${name}_total`);
  const written = formatMetricName(name);
  let text = out.text;
  text += `# TYPE ${written} ${type}\n`;
  if (family.help !== undefined) text += `# HELP ${written} ${escapeHelp(family.help, true)}\n`;
  if (family.unit !== undefined && !collided && name.endsWith(`_${family.unit}`)) text += `# UNIT ${written} ${family.unit}\n`;
  for (const s of classicSamples(family.samples)) {
    if (collided && s.suffix !== '_total') continue;
    text += `${seriesText(collided ? name : name + s.suffix, s.labels)} ${formatValue(s.value)}`;
    if (s.timestampMs !== undefined) text += ` ${msAsSeconds(s.timestampMs)}`;
    const e = s.exemplar;
    if (e && !collided) {
      text += ` # ${labelBlock(e.labels)} ${formatValue(e.value)}`;
      if (e.timestampSeconds !== undefined) text += ` ${formatValue(e.timestampSeconds)}`;
    }
    text += '\n';
    out.samples++;
    if (text.length >= PIECE_CHARS) {
      out.flush(text);
      text = '';
    }
  }
  out.text = text;
}

/**
 * Renders an exposition one family at a time, for a pass that streams: the family's text is handed
 * to `emit` in pieces of about {@link PIECE_CHARS} as it is written, so the text of a large family
 * never accumulates (a family's worth of rope strings would be promoted and cost a major GC), and
 * no whole body is ever built. Families must come already escaped for the scraper (a renderer
 * writes UTF-8 names quoted).
 */
export interface FamilyRenderer {
  /** Writes one more family, handing its text to `emit` in pieces (nothing for a family that writes nothing). */
  family(family: MetricFamily, emit: (text: string) => void): void;
  /**
   * Writes one more family as `text`, the text it was parsed from in this renderer's format (see
   * `verbatimText` in parse.ts), which the pass left unchanged: rendering it again would write
   * the same family, only slower.
   */
  verbatim(family: MetricFamily, text: string, emit: (text: string) => void): void;
  /** What closes the exposition: `# EOF\n` in OpenMetrics, nothing in the text format. */
  end(): string;
  /** Sample lines written so far. */
  readonly samples: number;
}

/**
 * A {@link FamilyRenderer} for `format` (`text` or `openmetrics`).
 * @example
 * const renderer = createFamilyRenderer('openmetrics');
 * let body = '';
 * for (const family of families) renderer.family(family, (text) => (body += text));
 * body += renderer.end();
 */
export function createFamilyRenderer(format: 'text' | 'openmetrics'): FamilyRenderer {
  const out: TextSink = { text: '', samples: 0, flush: () => undefined };
  const used = new Set<string>();
  const openMetrics = format === 'openmetrics';
  return {
    family(family, emit) {
      out.flush = emit;
      if (openMetrics) openMetricsFamily(family, used, out);
      else textFamily(family, out);
      if (out.text !== '') emit(out.text);
      out.text = '';
    },
    verbatim(family, text, emit) {
      if (openMetrics) {
        // The names it takes, as openMetricsFamily would record them.
        used.add(family.name);
        if (family.type === 'counter') used.add(`${family.name}_total`);
      }
      out.samples += family.samples.length;
      emit(text);
    },
    end: () => (openMetrics ? '# EOF\n' : ''),
    get samples() {
      return out.samples;
    },
  };
}

/** Options of {@link renderExposition}. */
export interface RenderOptions {
  /**
   * How UTF-8 names are written: `allow-utf-8` (the default) keeps them, quoted; `underscores`,
   * `dots` or `values` escapes them for a scraper that accepts legacy names only (the scheme
   * content negotiation chose: {@link import('./negotiate.js').NegotiatedFormat.escaping}).
   */
  escaping?: EscapingScheme;
}

/**
 * Renders families in a text `format` (`text` or `openmetrics`; `'protobuf'` is refused with a TypeError: `encodeProtobuf` in protobuf/codec.ts writes it).
 * @example
 * renderExposition([{ name: 'up', type: 'gauge', samples: [{ suffix: '', labels: [], value: 1 }] }], 'openmetrics').text;
 * // '# TYPE up gauge\nup 1\n# EOF\n'
 * renderExposition(parseExposition('{"my.metric"} 1\n', 'text'), 'text', { escaping: 'underscores' }).text;
 * // '# TYPE my_metric untyped\nmy_metric 1\n'
 */
export function renderExposition(families: readonly MetricFamily[], format: ExpositionFormat, options: RenderOptions = {}): RenderResult {
  if (format === 'protobuf') throw new TypeError('renderExposition writes the text formats; the protobuf format has its own writer');
  const escaped = options.escaping === undefined || options.escaping === 'allow-utf-8' ? families : escapeFamilies(families, options.escaping);
  const renderer = createFamilyRenderer(format);
  let text = '';
  const append = (piece: string): void => {
    text += piece;
  };
  for (const family of escaped) renderer.family(family, append);
  return { text: text + renderer.end(), samples: renderer.samples };
}
