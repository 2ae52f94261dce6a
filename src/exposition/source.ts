/**
 * Where metrics come from. A source produces the exposition text for one scrape. This is the
 * foundation's plain pass-through; the exposition pipeline (parse, filter, redact) builds on it.
 */

/** Anything shaped like a prom-client `Registry` (also `@prometheus-io/client`). */
export interface RegistryLike {
  metrics(): Promise<string> | string;
  readonly contentType: string;
}

/**
 * prom-client's `AggregatorRegistry` in a cluster primary: `clusterMetrics()` collects every
 * worker's registry over IPC and aggregates them (its own `metrics()` has only the primary's).
 */
export interface ClusterRegistryLike extends RegistryLike {
  clusterMetrics(): Promise<string>;
}

/** One scrape's exposition. */
export interface Exposition {
  contentType: string;
  body: string;
}

/** A metrics source as the guard accepts it. */
export type MetricsSourceInput = RegistryLike | (() => Promise<string | Exposition> | string | Exposition);

/** Normalised source: one call per scrape. */
export type MetricsSource = () => Promise<Exposition>;

/** Prometheus text format 0.0.4, the default for text sources. */
export const TEXT_FORMAT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Whether a value is registry-shaped. */
export function isRegistryLike(value: unknown): value is RegistryLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RegistryLike).metrics === 'function' &&
    typeof (value as RegistryLike).contentType === 'string'
  );
}

/**
 * Turns what the user passed into a {@link MetricsSource}.
 * @throws TypeError when `input` is neither a registry nor a function.
 */
export function toMetricsSource(input: MetricsSourceInput): MetricsSource {
  if (isRegistryLike(input) && typeof (input as Partial<ClusterRegistryLike>).clusterMetrics === 'function') {
    // An AggregatorRegistry: serve what the workers have, which is what its owner means.
    const aggregator = input as ClusterRegistryLike;
    return async () => ({ body: await aggregator.clusterMetrics(), contentType: aggregator.contentType });
  }
  if (isRegistryLike(input)) {
    // Read contentType per scrape: prom-client lets users switch a registry's format.
    return async () => ({ body: await input.metrics(), contentType: input.contentType });
  }
  if (typeof input === 'function') {
    return async () => {
      const out = await input();
      return typeof out === 'string' ? { body: out, contentType: TEXT_FORMAT_CONTENT_TYPE } : out;
    };
  }
  throw new TypeError('source must be a prom-client-like registry (metrics(), contentType) or a function returning exposition text');
}
