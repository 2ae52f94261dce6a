/**
 * The one walk over the series that every scrape makes: the caller's view (family allowed, label
 * constraints) first, on the original values; then `drop_metrics`, `drop_labels`, `mask_labels`,
 * `hash_labels`, secret detection on every label value left in clear (exemplar labels included),
 * `redact_help`, and secret detection on the HELP text (a HELP a detector fires on is replaced
 * as a whole by `mask_value`; detectors see it as the label `__help__`). Rules are compiled once per config generation; decisions per label name and
 * verdicts on clean label values are cached, so a repeat scrape costs map lookups, not regexes.
 *
 * Precedence on one label: drop, then mask, then hash; a label no rule names is still masked when
 * a detector fires. Structural labels (`le` of a bucket, `quantile` of a summary quantile, the
 * state label of a stateset) are never touched.
 *
 * Series that become identical (same name and labels after a drop or a mask) are merged, never
 * written twice: values are summed (counters, gauges, unknown, histogram buckets bucket-wise by
 * `le`, `_sum`, `_count`, `_gcount`, `_gsum`); info and stateset samples take the maximum (they
 * are 0/1); `_created` takes the earliest; the latest timestamp and the first exemplar are kept;
 * native histograms (protobuf) are added bucket-wise (`protobuf/native.ts`), their exemplars
 * redacted like any exemplar's labels.
 * Summary quantiles cannot be merged: a merged summary keeps its summed `_sum` and `_count` and
 * loses its quantile samples.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { SeriesFilter } from '../access/filter.js';
import type { ResolvedRedaction } from '../config/schema.js';
import { structuralLabel, textFamilyName, type MetricFamily, type Sample } from './model.js';
import { compileSecretDetection } from './secrets.js';
import { mergeNativeHistograms } from './protobuf/native.js';

/** The rule sections, as `scrapeguard_redactions_total{rule}` names them. */
export type RedactionRule = 'drop_labels' | 'mask_labels' | 'hash_labels' | 'drop_metrics' | 'redact_help';

/** How often one configured pattern fired in a pass. */
export interface PatternHits {
  rule: RedactionRule;
  pattern: string;
  count: number;
  /** Label or family names it fired on (names only, never values). */
  names: Set<string>;
}

/** What one pass did. Values never appear here, only rule, detector and label names. */
export interface RedactionReport {
  /** Hits per rule section. */
  rules: Map<RedactionRule, number>;
  /** Hits per configured pattern (only patterns that fired). */
  patterns: PatternHits[];
  /** Label values masked per detector. */
  detectors: Map<string, number>;
  /** Label names each detector fired on. */
  detectorLabels: Map<string, Set<string>>;
  /** Series the caller's view withheld. */
  withheld: number;
  /** Series merged into another after redaction made them identical. */
  merged: number;
  /**
   * Families returned exactly as given: no sample withheld, no label value or HELP changed, no
   * label dropped, nothing merged. A pass may send such a family's source text as it came.
   */
  intact: number;
}

/** The compiled `redaction` of one config generation. */
export interface Redactor {
  /**
   * Filters and redacts `families` in place (they and their label arrays must be the pass's own
   * copies, as the parser and the prom-client reader make them) and returns the families to
   * render, with what was done.
   */
  apply(families: MetricFamily[], filter?: SeriesFilter): { families: MetricFamily[]; report: RedactionReport };
  /**
   * True when no rule and no secret detector is configured, so {@link apply} without a filter
   * can change nothing: the sidecar may then pass an upstream's answer through unparsed.
   * Absent or false: it may change something.
   */
  readonly changesNothing?: boolean;
}

const enum Act {
  Drop,
  Mask,
  Hash,
}

interface LabelAction {
  act: Act;
  rule: number;
}

/** What is known about one label name: the rule that applies, and values no detector fires on. */
interface NameEntry {
  action: LabelAction | null;
  /** Values of this label known clean (never holds a secret: only values no detector fired on). */
  clean: Set<string>;
}

const CACHE_LIMIT = 100_000;
/** The label name detectors are given for HELP text (not a valid label name, so never confused with one). */
export const HELP_LABEL = '__help__';
let processKey: Buffer | undefined;

/** The per-process HMAC key used when no `hash_key_file` is configured (stable across reloads). */
function perProcessKey(): Buffer {
  processKey ??= randomBytes(32);
  return processKey;
}

function boundedSet(set: Map<string, unknown> | Set<string>): void {
  if (set.size >= CACHE_LIMIT) set.clear();
}

/** A key for a label set that does not depend on label order (the slow, general form). */
function sortedKey(labels: readonly string[], skip?: string): string {
  const idx: number[] = [];
  for (let i = 0; i < labels.length; i += 2) if (labels[i] !== skip) idx.push(i);
  idx.sort((a, b) => (labels[a]! < labels[b]! ? -1 : labels[a]! > labels[b]! ? 1 : 0));
  let key = '\u0001';
  for (const i of idx) key += `${labels[i]}\u0000${labels[i + 1]}\u0001`;
  return key;
}

/**
 * Series keys for one family. Samples of one family nearly always list the same label names in
 * the same order (per suffix), so the key of such a sample is just its values; a sample with
 * the same names in another order is keyed in the reference order, anything else by sorted
 * names and values. Equal label sets get equal keys either way.
 */
class SeriesKeys {
  private readonly refs = new Map<string, string[]>();

  key(suffix: string, labels: readonly string[], skip?: string): string {
    let ref = this.refs.get(suffix);
    if (!ref) {
      ref = [];
      for (let i = 0; i < labels.length; i += 2) if (labels[i] !== skip) ref.push(labels[i]!);
      this.refs.set(suffix, ref);
    }
    let key = suffix + '\u0002';
    let n = 0;
    let inOrder = true;
    for (let i = 0; i < labels.length; i += 2) {
      if (labels[i] === skip) continue;
      if (labels[i] !== ref[n]) inOrder = false;
      n++;
      key += labels[i + 1] + '\u0000';
    }
    if (inOrder && n === ref.length) return key;
    if (n === ref.length) {
      // Same number of names, other order: values in reference order when the names match.
      let reordered = suffix + '\u0002';
      for (const name of ref) {
        let found: string | undefined;
        for (let i = 0; i < labels.length; i += 2) if (labels[i] === name) found = labels[i + 1];
        if (found === undefined) return suffix + sortedKey(labels, skip);
        reordered += found + '\u0000';
      }
      return reordered;
    }
    return suffix + sortedKey(labels, skip);
  }
}

function combine(family: MetricFamily, into: Sample, from: Sample): void {
  if (family.type === 'info' || family.type === 'stateset') into.value = Math.max(into.value, from.value);
  else if (from.suffix === '_created') into.value = Math.min(into.value, from.value);
  else into.value += from.value;
  if (from.timestampMs !== undefined && (into.timestampMs === undefined || from.timestampMs > into.timestampMs)) into.timestampMs = from.timestampMs;
  if (!into.exemplar && from.exemplar) into.exemplar = from.exemplar;
  // Native histograms (protobuf) add bucket-wise; their count is the value summed above.
  if (into.histogram && from.histogram) into.histogram = mergeNativeHistograms(into.histogram, from.histogram);
}

function merge(family: MetricFamily, samples: Sample[]): { samples: Sample[]; merged: number } {
  const seen = new Map<string, Sample>();
  const keys = new SeriesKeys();
  const out: Sample[] = [];
  let merged = 0;
  let brokenSummaries: Set<string> | undefined;
  for (const s of samples) {
    const key = keys.key(s.suffix, s.labels);
    const prev = seen.get(key);
    if (!prev) {
      seen.set(key, s);
      out.push(s);
      continue;
    }
    merged++;
    combine(family, prev, s);
    if (family.type === 'summary') (brokenSummaries ??= new Set()).add(sortedKey(s.labels, 'quantile'));
  }
  if (!brokenSummaries) return { samples: out, merged };
  const broken = brokenSummaries;
  return { samples: out.filter((s) => s.suffix !== '' || !broken.has(sortedKey(s.labels, 'quantile'))), merged };
}

/**
 * Compiles a `redaction` section.
 * @example
 * const redactor = compileRedaction({ ...defaultRedaction(), dropLabels: ['password'] });
 * const { families, report } = redactor.apply(parseExposition(text, 'text'));
 */
export function compileRedaction(config: ResolvedRedaction): Redactor {
  const rules: { rule: RedactionRule; pattern: string; re: RegExp }[] = [];
  const anchored = (rule: RedactionRule, list: readonly string[]) =>
    list.map((pattern) => rules.push({ rule, pattern, re: new RegExp(`^(?:${pattern})$`, 'u') }) - 1);
  const drop = anchored('drop_labels', config.dropLabels);
  const mask = anchored('mask_labels', config.maskLabels);
  const hash = anchored('hash_labels', config.hashLabels);
  const dropMetrics = anchored('drop_metrics', config.dropMetrics);
  const help = config.redactHelp.map((pattern) => rules.push({ rule: 'redact_help', pattern, re: new RegExp(pattern, 'gu') }) - 1);
  const maskValue = config.maskValue;
  const hashKey = config.hashKey ?? perProcessKey();
  const detectors = config.detectSecrets === 'all' || config.detectSecrets.length > 0 ? config.detectSecrets : undefined;
  const detect = detectors ? compileSecretDetection(detectors) : undefined;

  // Per-generation caches. Label names are few; label values repeat across series and scrapes.
  const names = new Map<string, NameEntry>();
  const familyDrop = new Map<string, number>();
  const hashes = new Map<string, string>();

  const entryFor = (name: string): NameEntry => {
    let e = names.get(name);
    if (e !== undefined) return e;
    let action: LabelAction | null = null;
    for (const [act, ids] of [
      [Act.Drop, drop],
      [Act.Mask, mask],
      [Act.Hash, hash],
    ] as const) {
      const rule = ids.find((id) => rules[id]!.re.test(name));
      if (rule !== undefined) {
        action = { act, rule };
        break;
      }
    }
    e = { action, clean: new Set() };
    boundedSet(names);
    names.set(name, e);
    return e;
  };

  const hashOf = (value: string): string => {
    let h = hashes.get(value);
    if (h === undefined) {
      h = createHmac('sha256', hashKey).update(value, 'utf8').digest('hex').slice(0, 16);
      boundedSet(hashes);
      hashes.set(value, h);
    }
    return h;
  };

  const dropRuleFor = (family: MetricFamily, textName: string): number => {
    if (dropMetrics.length === 0) return -1;
    const key = `${family.name}\u0000${textName}`;
    let r = familyDrop.get(key);
    if (r === undefined) {
      r = dropMetrics.find((id) => rules[id]!.re.test(textName) || rules[id]!.re.test(family.name)) ?? -1;
      boundedSet(familyDrop);
      familyDrop.set(key, r);
    }
    return r;
  };

  return {
    changesNothing: rules.length === 0 && detect === undefined,
    apply(families, filter) {
      const hits = new Array<number>(rules.length).fill(0);
      const hitNames = new Array<Set<string> | undefined>(rules.length);
      const found = new Map<string, number>();
      const foundOn = new Map<string, Set<string>>();
      let withheld = 0;
      let merged = 0;
      let intact = 0;
      let collide = false;
      /** Whether the family being redacted lost or changed anything. */
      let altered: boolean;
      const noteDetection = (detector: string, name: string) => {
        found.set(detector, (found.get(detector) ?? 0) + 1);
        let on = foundOn.get(detector);
        if (!on) foundOn.set(detector, (on = new Set()));
        on.add(name);
      };
      const note = (rule: number, name: string) => {
        hits[rule]!++;
        (hitNames[rule] ??= new Set()).add(name);
      };

      /** Redacts a label array in place (the pass owns it): values replaced, dropped pairs removed. */
      const redactLabels = (labels: string[], structural: string | undefined, identity = true): void => {
        // Exemplar labels are no part of a series' identity: changing them can never make two series equal.
        const collidedBefore = collide;
        let w = 0;
        for (let r = 0; r < labels.length; r += 2) {
          const name = labels[r]!;
          let value = labels[r + 1]!;
          if (name === structural && structural !== 'le' && structural !== 'quantile') {
            // A stateset's state label: structural (it stays), but its value is free text the
            // parser does not constrain (unlike le/quantile, which must be numbers), so the
            // detectors still look at it and a secret is masked.
            if (detect && value !== '') {
              const detector = detect(name, value);
              if (detector !== undefined) {
                noteDetection(detector, name);
                value = maskValue;
                collide = true;
                altered = true;
              }
            }
          } else if (name !== structural) {
            const entry = entryFor(name);
            const a = entry.action;
            if (a === null) {
              if (detect && value !== '' && !entry.clean.has(value)) {
                const detector = detect(name, value);
                if (detector === undefined) {
                  boundedSet(entry.clean);
                  entry.clean.add(value);
                } else {
                  noteDetection(detector, name);
                  value = maskValue;
                  collide = true;
                  altered = true;
                }
              }
            } else {
              note(a.rule, name);
              altered = true;
              if (a.act === Act.Drop) {
                collide = true;
                continue;
              }
              if (a.act === Act.Mask) {
                value = maskValue;
                collide = true;
                altered = true;
              } else value = hashOf(value);
            }
          }
          if (w !== r) labels[w] = name;
          labels[w + 1] = value;
          w += 2;
        }
        if (w !== labels.length) labels.length = w;
        if (!identity) collide = collidedBefore;
      };

      const result: MetricFamily[] = [];
      const constraints = filter?.labelConstraints ?? [];
      for (const family of families) {
        const textName = textFamilyName(family);
        if (filter && !filter.allowsFamily(textName)) {
          withheld += family.samples.length;
          continue;
        }
        const dropRule = dropRuleFor(family, textName);
        if (dropRule >= 0) {
          hits[dropRule]! += Math.max(1, family.samples.length);
          (hitNames[dropRule] ??= new Set()).add(textName);
          continue;
        }
        altered = false;
        if (family.help !== undefined && help.length > 0) {
          let text = family.help;
          for (const id of help) {
            const re = rules[id]!.re;
            text = text.replace(re, () => {
              note(id, textName);
              return maskValue;
            });
          }
          if (text !== family.help) altered = true;
          family.help = text;
        }
        // HELP is free text: when a detector finds a credential anywhere in it, all of it goes.
        if (detect && family.help !== undefined && family.help !== '' && family.help !== maskValue) {
          const detector = detect(HELP_LABEL, family.help);
          if (detector !== undefined) {
            family.help = maskValue;
            altered = true;
            noteDetection(detector, `HELP of ${textName}`);
          }
        }
        const before = family.samples.length;
        let samples = family.samples;
        if (constraints.length > 0) {
          samples = samples.filter((s) => {
            for (const c of constraints) {
              let ok = false;
              for (let i = 0; i < s.labels.length; i += 2) {
                if (s.labels[i] === c.name) {
                  ok = c.matches(s.labels[i + 1]!);
                  break;
                }
              }
              if (!ok) {
                withheld++;
                return false;
              }
            }
            return true;
          });
        }
        collide = false;
        for (const s of samples) {
          redactLabels(s.labels, structuralLabel(family, s));
          if (s.exemplar) redactLabels(s.exemplar.labels, undefined, false);
          if (s.histogram) for (const e of s.histogram.exemplars) redactLabels(e.labels, undefined, false);
        }
        if (collide) {
          const m = merge(family, samples);
          samples = m.samples;
          merged += m.merged;
        }
        // A family the caller sees none of is left out entirely (its HELP would still tell).
        if (samples.length === 0 && before > 0) continue;
        if (!altered && samples.length === before) intact++;
        family.samples = samples;
        result.push(family);
      }

      const bySection = new Map<RedactionRule, number>();
      const patterns: PatternHits[] = [];
      rules.forEach((r, i) => {
        const n = hits[i]!;
        if (n === 0) return;
        bySection.set(r.rule, (bySection.get(r.rule) ?? 0) + n);
        patterns.push({ rule: r.rule, pattern: r.pattern, count: n, names: hitNames[i] ?? new Set() });
      });
      return { families: result, report: { rules: bySection, patterns, detectors: found, detectorLabels: foundOn, withheld, merged, intact } };
    },
  };
}
