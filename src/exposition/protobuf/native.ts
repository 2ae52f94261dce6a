/**
 * Native-histogram arithmetic the redaction pass needs: when a mask or a drop makes two series
 * identical, their native histograms are merged into one, as their classic buckets are. Two
 * histograms of different resolution are merged at the coarser schema (a bucket at schema s is
 * bucket ceil(i / 2^(s - t)) at schema t < s); of different zero buckets, at the wider one (a
 * bucket entirely inside the zero bucket moves into it; one that straddles its edge moves too and
 * widens the zero bucket to the bucket's upper bound, so no observation is put in a bucket that
 * does not contain it). These are the rules of Prometheus's own histogram addition; the code is
 * ours.
 */
import type { BucketSpan, Exemplar, NativeHistogram } from '../model.js';

/** Lowest and highest schema of an exponential native histogram. */
export const MIN_SCHEMA = -4;
export const MAX_SCHEMA = 8;

/** Bucket index → absolute count, from spans and counts in span order. */
export function expandBuckets(spans: readonly BucketSpan[], counts: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  let index = 0;
  let k = 0;
  for (const span of spans) {
    index += span.offset;
    for (let j = 0; j < span.length && k < counts.length; j++, index++) out.set(index, (out.get(index) ?? 0) + counts[k++]!);
  }
  return out;
}

/** Spans and counts of buckets (index → count), in index order; consecutive indices share a span. */
export function compactBuckets(buckets: ReadonlyMap<number, number>): { spans: BucketSpan[]; counts: number[] } {
  const indices = [...buckets.keys()].sort((a, b) => a - b);
  const spans: BucketSpan[] = [];
  const counts: number[] = [];
  let next = 0;
  for (const i of indices) {
    const last = spans[spans.length - 1];
    if (last !== undefined && i === next) last.length++;
    else spans.push({ offset: spans.length === 0 ? i : i - next, length: 1 });
    counts.push(buckets.get(i)!);
    next = i + 1;
  }
  return { spans, counts };
}

/** Upper bound of bucket `index` at `schema`: 2^(index · 2^-schema). */
function upperBound(index: number, schema: number): number {
  return 2 ** (index * 2 ** -schema);
}

/** Re-buckets to a coarser schema and folds buckets inside `[−zeroThreshold, zeroThreshold]` into the zero bucket. */
function normalise(
  h: NativeHistogram,
  schema: number,
  zeroThreshold: number,
): { pos: Map<number, number>; neg: Map<number, number>; zeroCount: number; zeroThreshold: number } {
  const factor = 2 ** (h.schema - schema);
  const rebucket = (spans: readonly BucketSpan[], counts: readonly number[]) => {
    const out = new Map<number, number>();
    for (const [i, c] of expandBuckets(spans, counts)) {
      const j = Math.ceil(i / factor);
      out.set(j, (out.get(j) ?? 0) + c);
    }
    return out;
  };
  const pos = rebucket(h.positiveSpans, h.positiveCounts);
  const neg = rebucket(h.negativeSpans, h.negativeCounts);
  let zeroCount = h.zeroCount;
  let threshold = zeroThreshold;
  if (threshold > h.zeroThreshold) {
    // Bounded: each pass either widens the threshold to a bucket's upper bound or stops.
    for (let pass = 0; pass < 2; pass++) {
      let widened = false;
      for (const side of [pos, neg]) {
        for (const [i, c] of side) {
          if (upperBound(i - 1, schema) < threshold) {
            zeroCount += c;
            side.delete(i);
            const upper = upperBound(i, schema);
            if (upper > threshold) {
              threshold = upper;
              widened = true;
            }
          }
        }
      }
      if (!widened) break;
    }
  }
  return { pos, neg, zeroCount, zeroThreshold: threshold };
}

/**
 * The sum of two native histograms (their counts and sums live in the series' `_count` and
 * `_sum` samples, which the caller adds). Exemplars of both are kept.
 * @example
 * const h = mergeNativeHistograms(a, b); // schema min(a, b), zero bucket the wider one
 */
export function mergeNativeHistograms(a: NativeHistogram, b: NativeHistogram): NativeHistogram {
  const schema = Math.min(a.schema, b.schema);
  let threshold = Math.max(a.zeroThreshold, b.zeroThreshold);
  // Widening on one side may widen the threshold; normalise the other side to the result again.
  let na = normalise(a, schema, threshold);
  let nb = normalise(b, schema, na.zeroThreshold);
  if (nb.zeroThreshold > na.zeroThreshold) na = normalise(a, schema, nb.zeroThreshold);
  threshold = Math.max(na.zeroThreshold, nb.zeroThreshold);
  nb = nb.zeroThreshold === threshold ? nb : normalise(b, schema, threshold);
  const add = (x: Map<number, number>, y: Map<number, number>) => {
    for (const [i, c] of y) x.set(i, (x.get(i) ?? 0) + c);
    return compactBuckets(x);
  };
  const pos = add(na.pos, nb.pos);
  const neg = add(na.neg, nb.neg);
  const exemplars: Exemplar[] = [...a.exemplars, ...b.exemplars];
  return {
    schema,
    zeroThreshold: threshold,
    zeroCount: na.zeroCount + nb.zeroCount,
    float: a.float || b.float,
    positiveSpans: pos.spans,
    positiveCounts: pos.counts,
    negativeSpans: neg.spans,
    negativeCounts: neg.counts,
    exemplars,
  };
}
