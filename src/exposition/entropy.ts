/**
 * Character statistics for the secret detectors: Shannon entropy and character-class mix of a
 * string. Kept apart from the detectors because they are plain maths with their own tests, and
 * allocation-free for ASCII input (the common case for label values), because the generic
 * high-entropy detector calls them on every value of a secret-named label.
 */

/** Counts per ASCII code unit, reused across calls (JS is single-threaded; no call re-enters). */
const asciiCounts = new Uint32Array(128);

/**
 * Shannon entropy of `text` in bits per character (code point), i.e.
 * `-Σ p(c)·log2 p(c)` over the distinct characters `c`. `0` for the empty string.
 *
 * A random string over an alphabet of size `k` approaches `log2(k)` (hex: 4, base64: 6) but never
 * exceeds `log2(length)`, so thresholds must take the length into account.
 *
 * @example
 * shannonEntropy('aaaa');   // 0
 * shannonEntropy('abcd');   // 2
 */
export function shannonEntropy(text: string): number {
  const length = text.length;
  if (length === 0) return 0;
  let ascii = true;
  for (let i = 0; i < length; i++) {
    if (text.charCodeAt(i) >= 128) {
      ascii = false;
      break;
    }
  }
  if (!ascii) return entropyOfCodePoints(text);
  for (let i = 0; i < length; i++) asciiCounts[text.charCodeAt(i)]!++;
  let bits = 0;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    const count = asciiCounts[code]!;
    if (count === 0) continue; // already accounted for
    const p = count / length;
    bits -= p * Math.log2(p);
    asciiCounts[code] = 0;
  }
  return bits;
}

/** The slow path for non-ASCII text: counts code points, not UTF-16 units. */
function entropyOfCodePoints(text: string): number {
  const counts = new Map<number, number>();
  let total = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    counts.set(code, (counts.get(code) ?? 0) + 1);
    total++;
  }
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / total;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Bit flags of {@link characterClasses}. */
export const CHAR_LOWER = 1;
/** An ASCII upper-case letter. */
export const CHAR_UPPER = 2;
/** An ASCII digit. */
export const CHAR_DIGIT = 4;
/** Anything else that is not white space (punctuation, symbols, non-ASCII). */
export const CHAR_SYMBOL = 8;
/** White space (space, tab, line breaks). */
export const CHAR_SPACE = 16;

/**
 * Which character classes occur in `text`, as a bit set of the `CHAR_*` flags.
 *
 * @example
 * characterClasses('ab12') === (CHAR_LOWER | CHAR_DIGIT); // true
 */
export function characterClasses(text: string): number {
  let classes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 97 && c <= 122) classes |= CHAR_LOWER;
    else if (c >= 65 && c <= 90) classes |= CHAR_UPPER;
    else if (c >= 48 && c <= 57) classes |= CHAR_DIGIT;
    else if (c === 32 || c === 9 || c === 10 || c === 13) classes |= CHAR_SPACE;
    else classes |= CHAR_SYMBOL;
  }
  return classes;
}

/** Number of set bits among the first five `CHAR_*` flags. */
export function countClasses(classes: number): number {
  let n = 0;
  for (let bit = 1; bit <= CHAR_SPACE; bit <<= 1) if (classes & bit) n++;
  return n;
}
