/**
 * The cardinality and size guard on export (`limits.max_series_per_scrape`,
 * `max_series_per_family`, `max_labels_per_series`, `max_label_value_bytes`). It runs on what a
 * scrape is about to serve — after the caller's view and redaction, so a `drop_labels` rule that
 * merges a label's series away counts as the fix it is — and before rendering, so a blown-up
 * family costs one walk over its samples and is never rendered.
 *
 * A "series" is one sample line of the exposition (each `_bucket{le=…}` of a histogram is one), as
 * Prometheus counts them for `sample_limit`. The policy, in order:
 * 1. a series with more labels than `max_labels_per_series`, or a label value longer than
 *    `max_label_value_bytes` (UTF-8), is dropped; the structural label (`le` of a bucket,
 *    `quantile` of a summary, a stateset's state) is neither counted nor measured, so the buckets
 *    of a histogram series and its `_sum`/`_count` share one fate;
 * 2. a family with more series than `max_series_per_family` is dropped whole — never truncated:
 *    a truncated histogram or an arbitrary subset of a label's values looks complete and is wrong;
 * 3. while the scrape has more series than `max_series_per_scrape`, the largest remaining family
 *    is dropped (ties: the one later in the exposition). The blown-up family goes first and the
 *    small ones (`up`-style gauges, scrapeguard's own metrics) are kept; no dropped family would
 *    fit back afterwards.
 * The rest of the scrape is served. Every drop is reported by reason and family (names only,
 * never label values) for the self-metrics and the log.
 */
import type { ResolvedSeriesLimits } from '../config/schema.js';
import { structuralLabel, textFamilyName, type MetricFamily, type Sample } from './model.js';

/** Why series were dropped, as `scrapeguard_dropped_series_total{reason}` names it. */
export type SeriesDropReason = 'label_value_bytes' | 'labels_per_series' | 'series_per_family' | 'series_per_scrape';

/** Every {@link SeriesDropReason}, in the order the checks run. */
export const SERIES_DROP_REASONS: readonly SeriesDropReason[] = ['label_value_bytes', 'labels_per_series', 'series_per_family', 'series_per_scrape'];

/** Series of one family dropped for one reason in one scrape. */
export interface SeriesDrop {
  reason: SeriesDropReason;
  /** The family's name as the text format writes it (a counter with `_total`). */
  family: string;
  series: number;
}

/** Why a sample breaks the per-series limits, or undefined. */
function seriesProblem(family: MetricFamily, sample: Sample, maxLabels: number, maxValueBytes: number): SeriesDropReason | undefined {
  const skip = structuralLabel(family, sample);
  const labels = sample.labels;
  let count = 0;
  for (let i = 0; i < labels.length; i += 2) {
    if (labels[i] === skip) continue;
    count++;
    if (maxValueBytes > 0) {
      const value = labels[i + 1]!;
      // A UTF-16 code unit is at most 3 UTF-8 bytes, and at least one: most values are decided
      // by their length alone.
      if (value.length > maxValueBytes) return 'label_value_bytes';
      if (value.length * 3 > maxValueBytes && Buffer.byteLength(value, 'utf8') > maxValueBytes) return 'label_value_bytes';
    }
  }
  return maxLabels > 0 && count > maxLabels ? 'labels_per_series' : undefined;
}

/**
 * Applies the limits to one scrape's families (the pass's own copies: sample arrays are replaced
 * in place) and returns the families to serve, in their order, with what was dropped.
 * @example
 * const { families: served, drops } = limitSeries(families, { maxSeriesPerScrape: 50_000, maxSeriesPerFamily: 0, maxLabelsPerSeries: 0, maxLabelValueBytes: 0 });
 */
export function limitSeries(families: MetricFamily[], limits: ResolvedSeriesLimits): { families: MetricFamily[]; drops: SeriesDrop[] } {
  const { maxSeriesPerScrape, maxSeriesPerFamily, maxLabelsPerSeries, maxLabelValueBytes } = limits;
  const drops: SeriesDrop[] = [];
  let kept: MetricFamily[] = families;

  if (maxLabelsPerSeries > 0 || maxLabelValueBytes > 0) {
    kept = [];
    for (const family of families) {
      let samples: Sample[] | undefined;
      let tooLong = 0;
      let tooMany = 0;
      for (let i = 0; i < family.samples.length; i++) {
        const sample = family.samples[i]!;
        const problem = seriesProblem(family, sample, maxLabelsPerSeries, maxLabelValueBytes);
        if (problem === undefined) {
          samples?.push(sample);
          continue;
        }
        // Copy on the first drop only: the common clean family keeps its array.
        samples ??= family.samples.slice(0, i);
        if (problem === 'label_value_bytes') tooLong++;
        else tooMany++;
      }
      const name = samples ? textFamilyName(family) : '';
      if (tooLong > 0) drops.push({ reason: 'label_value_bytes', family: name, series: tooLong });
      if (tooMany > 0) drops.push({ reason: 'labels_per_series', family: name, series: tooMany });
      if (samples) {
        // A family the limits emptied is left out (its HELP/TYPE alone would say nothing).
        if (samples.length === 0) continue;
        family.samples = samples;
      }
      kept.push(family);
    }
  }

  if (maxSeriesPerFamily > 0) {
    const next: MetricFamily[] = [];
    for (const family of kept) {
      if (family.samples.length > maxSeriesPerFamily)
        drops.push({ reason: 'series_per_family', family: textFamilyName(family), series: family.samples.length });
      else next.push(family);
    }
    kept = next;
  }

  if (maxSeriesPerScrape > 0) {
    let total = 0;
    for (const family of kept) total += family.samples.length;
    if (total > maxSeriesPerScrape) {
      const order = kept.map((_, i) => i).sort((a, b) => kept[b]!.samples.length - kept[a]!.samples.length || b - a);
      const dropped = new Set<number>();
      for (const i of order) {
        if (total <= maxSeriesPerScrape) break;
        const family = kept[i]!;
        total -= family.samples.length;
        dropped.add(i);
        drops.push({ reason: 'series_per_scrape', family: textFamilyName(family), series: family.samples.length });
      }
      kept = kept.filter((_, i) => !dropped.has(i));
    }
  }
  return { families: kept, drops };
}
