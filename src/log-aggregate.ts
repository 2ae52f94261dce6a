/**
 * Log aggregation: keeps the log readable when a client makes the guard repeat itself (a
 * bad-password flood, forwarding headers from an untrusted peer on every request, an IdP outage).
 *
 * Each event has a key: its level, its message and its `reason` field when it has one (so call
 * sites that add a `reason` get one bucket per reason without any change). The first occurrence
 * of a key is written at once, unchanged. Later occurrences are counted, and once per interval a
 * key that repeated gets one summary line: the same level and message, the fields of the last
 * suppressed occurrence, plus `suppressed=<count>` and `interval=<interval>`. A key that stayed
 * quiet for a whole interval is forgotten, so its next occurrence is again written at once.
 * `close()` writes the pending summaries and stops the timer.
 *
 * Memory is bounded however a peer varies what goes into a key (a reason carrying certificate
 * text, say): at most `maxKeys` keys are tracked, and events of new keys beyond that share one
 * overflow bucket per level (its first event is written as is, the rest summarized).
 *
 * Aggregation changes how often a line is written, never what it says: summary lines carry only
 * fields the caller passed for that message. Counting every event is the self-metrics' job.
 */
import type { LogFields, Logger, LogLevel } from './log.js';

/** Default summary interval: a 10 s flood costs each key at most three lines (first, summary, final flush). */
export const DEFAULT_LOG_AGGREGATION_INTERVAL_MS = 10_000;
/** Default bound on the number of tracked keys. */
export const DEFAULT_LOG_AGGREGATION_MAX_KEYS = 256;

/** Options of {@link aggregateLogs}. */
export interface LogAggregationOptions {
  /** Summary interval in ms (default {@link DEFAULT_LOG_AGGREGATION_INTERVAL_MS}). */
  intervalMs?: number;
  /** Keys tracked at most (default {@link DEFAULT_LOG_AGGREGATION_MAX_KEYS}); further keys share one overflow bucket per level. */
  maxKeys?: number;
  /** Levels that aggregate (default info, warn and error); other levels pass straight through. */
  levels?: readonly LogLevel[];
}

/** A {@link Logger} that aggregates repeats; `close()` writes what is pending and stops its timer. */
export interface AggregatingLogger extends Logger {
  /** Writes the pending summaries now (what the timer does every interval). */
  flush(): void;
  /** Writes the pending summaries and stops the timer; later events pass straight through. */
  close(): void;
}

/** Message of the overflow bucket's summary line. */
export const OVERFLOW_MESSAGE = 'log lines suppressed: too many distinct messages';

interface Bucket {
  readonly level: LogLevel;
  readonly message: string;
  readonly overflow: boolean;
  /** Occurrences since the last line written for this key. */
  count: number;
  /** Fields (or, for the overflow bucket, the message) of the last suppressed occurrence. */
  last: LogFields | undefined;
  lastMessage: string;
}

function formatInterval(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Wraps `logger` so that repeated events are summarized (see the module comment).
 * @example
 * const logger = aggregateLogs(createLogfmtLogger());
 * logger.warn('authentication queue full; refusing request', { remote: '192.0.2.7' });
 * // …
 * logger.close(); // writes e.g. `… msg="authentication queue full; refusing request" remote=192.0.2.7 suppressed=8412 interval=10s`
 */
export function aggregateLogs(logger: Logger, options: LogAggregationOptions = {}): AggregatingLogger {
  const intervalMs = options.intervalMs ?? DEFAULT_LOG_AGGREGATION_INTERVAL_MS;
  const maxKeys = options.maxKeys ?? DEFAULT_LOG_AGGREGATION_MAX_KEYS;
  if (!Number.isInteger(intervalMs) || intervalMs < 1) throw new TypeError(`aggregateLogs: intervalMs must be a positive integer, got ${String(intervalMs)}`);
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new TypeError(`aggregateLogs: maxKeys must be a positive integer, got ${String(maxKeys)}`);
  const aggregated = new Set<LogLevel>(options.levels ?? ['info', 'warn', 'error']);
  const interval = formatInterval(intervalMs);
  const buckets = new Map<string, Bucket>();
  /** Overflow buckets live outside `buckets` so they never count against the bound. */
  const overflow = new Map<LogLevel, Bucket>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const summarize = (b: Bucket): void => {
    if (b.overflow) logger[b.level](OVERFLOW_MESSAGE, { last_msg: b.lastMessage, suppressed: b.count, interval });
    else logger[b.level](b.message, { ...b.last, suppressed: b.count, interval });
    b.count = 0;
    b.last = undefined;
  };

  /** A key that repeated gets its summary and stays tracked for another interval; one that stayed quiet is forgotten. */
  const sweep = <K>(map: Map<K, Bucket>): void => {
    for (const [key, b] of map) {
      if (b.count > 0) summarize(b);
      else map.delete(key);
    }
  };

  const flush = (): void => {
    sweep(buckets);
    sweep(overflow);
    if (buckets.size === 0 && overflow.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  const startTimer = (): void => {
    if (timer || closed) return;
    timer = setInterval(flush, intervalMs);
    // Never what keeps the process alive: close() writes what is pending.
    timer.unref();
  };

  const at =
    (level: LogLevel) =>
    (message: string, fields?: LogFields): void => {
      if (closed || !aggregated.has(level)) {
        logger[level](message, fields);
        return;
      }
      const reason = fields?.reason;
      const key = reason === undefined ? `${level}\0${message}` : `${level}\0${message}\0${String(reason)}`;
      const known = buckets.get(key);
      if (known) {
        known.count++;
        known.last = fields;
        return;
      }
      if (buckets.size < maxKeys) {
        buckets.set(key, { level, message, overflow: false, count: 0, last: undefined, lastMessage: message });
        startTimer();
        logger[level](message, fields);
        return;
      }
      const spill = overflow.get(level);
      if (spill) {
        spill.count++;
        spill.lastMessage = message;
        return;
      }
      overflow.set(level, { level, message: OVERFLOW_MESSAGE, overflow: true, count: 0, last: undefined, lastMessage: message });
      startTimer();
      logger[level](message, fields);
    };

  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    flush,
    close() {
      if (closed) return;
      closed = true;
      for (const b of [...buckets.values(), ...overflow.values()]) if (b.count > 0) summarize(b);
      buckets.clear();
      overflow.clear();
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
