/**
 * The per-caller view of the metrics, as the exposition pass consumes it: which families are
 * visible and which label values a series must carry. Access rules compile to one of these per
 * principal (cached); the exposition pass applies it while it walks the series, once.
 */

/** A label a series must carry, with a value the matcher accepts. */
export interface LabelConstraint {
  readonly name: string;
  matches(value: string): boolean;
}

/** What one caller may see. */
export interface SeriesFilter {
  /**
   * Whether the metric family is visible, by its name as the text format 0.0.4 writes it in
   * `# TYPE` (prom-client's metric name: a counter keeps its `_total`).
   */
  allowsFamily(name: string): boolean;
  /** Every constraint must hold for a series to be returned; empty: all series of visible families. */
  readonly labelConstraints: readonly LabelConstraint[];
}
