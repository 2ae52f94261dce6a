/**
 * Name escaping for scrapers that do not accept UTF-8 metric and label names (Prometheus 2.x, or a
 * Prometheus 3 with `metric_name_validation_scheme: legacy`). The scheme is the `escaping=`
 * parameter of the negotiated `Accept` range; the rules are those of prometheus/common
 * `model.EscapeName` / `model.EscapeMetricFamily` (read for facts, written anew):
 *
 * - `allow-utf-8`: names stay as they are (written quoted where they are not legacy names).
 * - `underscores` (the default when the scraper names none): every character outside the legacy
 *   set becomes `_` (`my.metric` → `my_metric`, a leading digit too).
 * - `dots`: `_` → `__`, `.` → `_dot_`, any other character outside the legacy set → `__`.
 * - `values`: prefix `U__`; `_` → `__`; any other character outside the legacy set → `_<hex code
 *   point>_` (`my.metric` → `U__my_2e_metric`).
 *
 * As in client_golang, only names that are not legacy names are escaped (a legacy `my_metric` stays
 * `my_metric` under `dots`), and the family's name is escaped before the sample suffix is added
 * (`my.h` → `my_dot_h_bucket`); a counter is escaped under its text name (`my.c_total` →
 * `my_dot_c__total`), as client_golang's registry holds it.
 *
 * Two deliberate differences from client_golang, both so that a legacy parser can read the
 * result: a label name containing `:` is escaped (client_golang checks label names against the
 * metric-name set, which allows `:`, and writes `a:b="x"`, which Prometheus 2 refuses), and
 * exemplar label names are escaped too (client_golang leaves them). Names that become equal after
 * escaping cannot both be written: the first family (or the first label of a series) wins and the
 * later one is left out, rather than writing a duplicate family or label that fails the scrape.
 */
import { LABEL_NAME, METRIC_NAME, textFamilyName, type MetricFamily, type Sample } from './model.js';

/** The `escaping=` values of the Accept / Content-Type parameter. */
export type EscapingScheme = 'allow-utf-8' | 'underscores' | 'dots' | 'values';

/** Every scheme, as the `escaping=` parameter spells it. */
export const ESCAPING_SCHEMES: readonly EscapingScheme[] = ['allow-utf-8', 'underscores', 'dots', 'values'];

/** The scheme a scraper gets when its Accept header names none (prometheus/common `NameEscapingScheme`). */
export const DEFAULT_ESCAPING: EscapingScheme = 'underscores';

/** Whether code point `c` at code-point position `first` is in the legacy set (`:` only when `colon`). */
function legacyRune(c: number, first: boolean, colon: boolean): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (colon && c === 58) || (!first && c >= 48 && c <= 57);
}

function escape(name: string, scheme: EscapingScheme, colon: boolean): string {
  if (name === '' || scheme === 'allow-utf-8') return name;
  // As model.EscapeName: `dots` escapes a legacy name too (`a_b` → `a__b`); escapeFamilies, like
  // EscapeMetricFamily, only ever escapes names that are not legacy names.
  if (scheme !== 'dots' && (colon ? METRIC_NAME : LABEL_NAME).test(name)) return name;
  let out = scheme === 'values' ? 'U__' : '';
  let first = true;
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    const ok = legacyRune(c, first, colon);
    first = false;
    switch (scheme) {
      case 'underscores':
        out += ok ? ch : '_';
        break;
      case 'dots':
        out += c === 95 ? '__' : c === 46 ? '_dot_' : ok ? ch : '__';
        break;
      default:
        // A lone surrogate is no Unicode scalar value: Go writes the replacement character's code.
        out += c === 95 ? '__' : ok ? ch : c >= 0xd800 && c <= 0xdfff ? '_FFFD_' : `_${c.toString(16)}_`;
    }
  }
  return out;
}

/**
 * A metric name escaped as prometheus/common `model.EscapeName` does (`dots` escapes the `_` of a
 * legacy name too; a scrape only escapes names that are not legacy names).
 * @example
 * escapeName('my.metric', 'underscores'); // 'my_metric'
 * escapeName('my.metric', 'dots'); // 'my_dot_metric'
 * escapeName('my.metric', 'values'); // 'U__my_2e_metric'
 */
export function escapeName(name: string, scheme: EscapingScheme): string {
  return escape(name, scheme, true);
}

/**
 * A label name escaped for a legacy scraper: like {@link escapeName}, with `:` outside the set
 * (a legacy label name is `[a-zA-Z_][a-zA-Z0-9_]*`).
 * @example
 * escapeLabelName('service.name', 'underscores'); // 'service_name'
 */
export function escapeLabelName(name: string, scheme: EscapingScheme): string {
  return escape(name, scheme, false);
}

/**
 * Label names seen to be legacy names, so the walk over every sample of a scrape for a legacy
 * scraper costs a set lookup per label, not a regex (bounded: names are few, values are not here).
 */
const legacyLabelNames = new Set<string>();

/** Whether any label name of `labels` is not a legacy label name. */
function needsLabelEscape(labels: readonly string[]): boolean {
  for (let i = 0; i < labels.length; i += 2) {
    const name = labels[i]!;
    if (legacyLabelNames.has(name)) continue;
    if (!LABEL_NAME.test(name)) return true;
    if (legacyLabelNames.size < 10_000) legacyLabelNames.add(name);
  }
  return false;
}

/** Label pairs with escaped names; a pair whose escaped name an earlier pair has is left out. */
function escapeLabels(labels: readonly string[], scheme: EscapingScheme, rename?: { from: string; to: string }): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < labels.length; i += 2) {
    const name = labels[i]!;
    const escaped = rename && name === rename.from ? rename.to : LABEL_NAME.test(name) ? name : escapeLabelName(name, scheme);
    if (seen.has(escaped)) continue;
    seen.add(escaped);
    out.push(escaped, labels[i + 1]!);
  }
  return out;
}

/** The family's names under `scheme`: its model name and whether a counter lost its `_total`. */
function escapedFamilyName(family: MetricFamily, scheme: EscapingScheme): { name: string; legacyCounterName: boolean } {
  if (family.type === 'counter' || family.type === 'info') {
    const suffix = family.type === 'counter' ? '_total' : '_info';
    const original = textFamilyName(family);
    const text = METRIC_NAME.test(original) ? original : escapeName(original, scheme);
    if (family.legacyCounterName) return { name: text, legacyCounterName: true };
    if (text.endsWith(suffix) && text.length > suffix.length) return { name: text.slice(0, -suffix.length), legacyCounterName: false };
    return { name: text, legacyCounterName: family.type === 'counter' };
  }
  return { name: METRIC_NAME.test(family.name) ? family.name : escapeName(family.name, scheme), legacyCounterName: false };
}

/**
 * Escapes an exposition one family at a time, for a pass that streams: returns the family as a
 * scraper that does not accept UTF-8 names must see it under `scheme`, or undefined for a family
 * whose escaped name an earlier family of the same exposition already took (it is left out, never
 * written twice). A family and samples that need no escaping are returned without copying.
 * @example
 * const escape = createFamilyEscaper('underscores');
 * const served = families.map(escape).filter((f) => f !== undefined);
 */
export function createFamilyEscaper(scheme: EscapingScheme): (family: MetricFamily) => MetricFamily | undefined {
  if (scheme === 'allow-utf-8') return (family) => family;
  const used = new Set<string>();
  return (family) => {
    const textName = textFamilyName(family);
    let escapedFamily = family;
    if (
      !METRIC_NAME.test(textName) ||
      family.samples.some((s) => needsLabelEscape(s.labels) || (s.exemplar !== undefined && needsLabelEscape(s.exemplar.labels)))
    ) {
      const { name, legacyCounterName } = escapedFamilyName(family, scheme);
      const rename = family.type === 'stateset' ? { from: family.name, to: name } : undefined;
      const samples = family.samples.map((s): Sample => {
        const labelsChange = needsLabelEscape(s.labels) || rename !== undefined;
        const exemplarChange = s.exemplar !== undefined && needsLabelEscape(s.exemplar.labels);
        if (!labelsChange && !exemplarChange) return s;
        const copy: Sample = { ...s };
        if (labelsChange) copy.labels = escapeLabels(s.labels, scheme, rename);
        if (exemplarChange) copy.exemplar = { ...s.exemplar!, labels: escapeLabels(s.exemplar!.labels, scheme) };
        return copy;
      });
      escapedFamily = { ...family, name, samples };
      if (legacyCounterName) escapedFamily.legacyCounterName = true;
      else delete escapedFamily.legacyCounterName;
    }
    const key = textFamilyName(escapedFamily);
    if (used.has(key)) return undefined;
    used.add(key);
    return escapedFamily;
  };
}

/**
 * The families as a scraper that does not accept UTF-8 names must see them under `scheme`
 * (`allow-utf-8`: unchanged). Families and samples that need no escaping are passed through
 * without copying; the input is never modified.
 * @example
 * escapeFamilies(parseExposition('{"my.metric","a.b"="x"} 1\n', 'text'), 'underscores');
 * // [{ name: 'my_metric', type: 'unknown', samples: [{ suffix: '', labels: ['a_b', 'x'], value: 1 }] }]
 */
export function escapeFamilies(families: readonly MetricFamily[], scheme: EscapingScheme): MetricFamily[] {
  if (scheme === 'allow-utf-8') return families as MetricFamily[];
  const escape = createFamilyEscaper(scheme);
  const out: MetricFamily[] = [];
  for (const family of families) {
    const escaped = escape(family);
    if (escaped !== undefined) out.push(escaped);
  }
  return out;
}
