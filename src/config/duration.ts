/**
 * Go durations as exporter-toolkit reads them (`time.Duration` through yaml.v2): a string in
 * `time.ParseDuration` syntax, or a bare integer counting nanoseconds.
 */

const NS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // MICRO SIGN, as Go accepts
  ['\u03bcs', 1_000n], // GREEK SMALL LETTER MU, as Go accepts
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

// time.Duration is an int64 of nanoseconds; Go refuses anything that does not fit.
const MAX_NS = (1n << 63n) - 1n;

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Go's `time.ParseDuration`, exact (BigInt), returning nanoseconds or `undefined`. */
function parseDurationString(input: string): bigint | undefined {
  let s = input;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') return undefined;
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c !== '.' && !isDigit(c)) return undefined;
    const intStart = i;
    while (isDigit(s[i])) i++;
    const intDigits = s.slice(intStart, i);
    let fracDigits = '';
    if (s[i] === '.') {
      i++;
      const fracStart = i;
      while (isDigit(s[i])) i++;
      fracDigits = s.slice(fracStart, i);
    }
    if (intDigits === '' && fracDigits === '') return undefined;
    const unitStart = i;
    while (i < s.length && s[i] !== '.' && !isDigit(s[i])) i++;
    const unit = NS_PER_UNIT.get(s.slice(unitStart, i));
    if (unit === undefined) return undefined; // missing or unknown unit
    total += BigInt(intDigits || '0') * unit;
    if (fracDigits !== '') total += (BigInt(fracDigits) * unit) / 10n ** BigInt(fracDigits.length);
    if (total > MAX_NS + (negative ? 1n : 0n)) return undefined;
  }
  return negative ? -total : total;
}

/**
 * Parses a Go duration into milliseconds, the way exporter-toolkit reads `time.Duration` fields:
 * a string in `time.ParseDuration` syntax (`"1m30s"`, `"250ms"`, `"1.5h"`, `"0"`, units `ns`,
 * `us`/`µs`, `ms`, `s`, `m`, `h`, optional sign) or, as yaml.v2 does, a bare integer counting
 * nanoseconds. Never throws.
 *
 * @returns the duration in milliseconds (possibly fractional or negative), or `undefined` when
 *   the value is not a valid Go duration.
 * @example
 * parseGoDuration('1m30s'); // 90000
 * parseGoDuration('250us'); // 0.25
 * parseGoDuration(1_000_000); // 1 (nanoseconds)
 * parseGoDuration('30'); // undefined: Go requires a unit
 */
export function parseGoDuration(value: string | number): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) ? value / 1e6 : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const ns = parseDurationString(value);
  return ns === undefined ? undefined : Number(ns) / 1e6;
}
