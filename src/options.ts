/**
 * Checks the options objects of the public API, so a mistake fails closed at construction instead
 * of being ignored. A misspelled key (`configFile` for `config`) silently dropped would leave its
 * default in force — for `config`, plain HTTP without authentication. Every public function that
 * takes options therefore runs {@link checkOptions} first: an unknown key, a wrong type or a
 * missing required key throws a `TypeError` naming the function, the key path and, for an unknown
 * key, the closest valid one. The checker only reads; it never changes the caller's object.
 *
 * The rule tables of the public functions live in `api-options.ts`; a test compares each table
 * with the TypeScript interface it guards, so an option added to a type but not to its table fails.
 */

/** How one option is checked. */
export interface OptionRule {
  /** What a valid value is, for the error message ("a boolean", "a non-empty string"). */
  readonly expected: string;
  /** Whether a (defined) value is valid. */
  readonly test: (value: unknown) => boolean;
  /** The option must be given (and not `undefined`). */
  readonly required?: boolean;
  /**
   * Giving the key with the value `undefined` is an error rather than "absent": for options whose
   * absence removes protection (`config: process.env.UNSET` must not mean "no TLS, no auth").
   */
  readonly noUndefined?: boolean;
  /** For an object value: its own keys, checked the same way (nested key paths in messages). */
  readonly keys?: OptionSpec;
  /** A wrong string value may be quoted in the message (a path; never a credential or PEM). */
  readonly echo?: boolean;
}

/** The rules of one options object, by key. */
export type OptionSpec = Readonly<Record<string, OptionRule>>;

/** Whether a value is a non-null, non-array object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function rule(expected: string, test: (value: unknown) => boolean): OptionRule {
  return { expected, test };
}

/** Building blocks for rule tables. */
export const is = {
  string: rule('a string', (v) => typeof v === 'string'),
  nonEmptyString: rule('a non-empty string', (v) => typeof v === 'string' && v !== ''),
  boolean: rule('a boolean', (v) => typeof v === 'boolean'),
  function: rule('a function', (v) => typeof v === 'function'),
  object: rule('an object', isObject),
  date: rule('a Date', (v) => v instanceof Date && !Number.isNaN(v.getTime())),
  nonNegativeInteger: rule('a non-negative integer', (v) => Number.isSafeInteger(v) && (v as number) >= 0),
  positiveInteger: rule('a positive integer', (v) => Number.isSafeInteger(v) && (v as number) > 0),
  stringList: rule('an array of strings', (v) => Array.isArray(v) && v.every((e) => typeof e === 'string')),
  stringRecord: rule('an object of string values', (v) => isObject(v) && Object.values(v).every((e) => typeof e === 'string')),
  pem: rule('a string or Buffer', (v) => typeof v === 'string' || Buffer.isBuffer(v)),
  oneOf: (...values: readonly unknown[]): OptionRule => rule(`one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, (v) => values.includes(v)),
  /** An object with its own key table. */
  shape: (keys: OptionSpec, expected = 'an object'): OptionRule => ({ expected, test: isObject, keys }),
  /** Either of two rules; the nested keys of the object alternative apply when the value is an object. */
  either: (a: OptionRule, b: OptionRule): OptionRule => {
    const keys = a.keys ?? b.keys;
    return { expected: `${a.expected} or ${b.expected}`, test: (v) => a.test(v) || b.test(v), ...(keys ? { keys } : {}) };
  },
} as const;

/** Marks a rule required. */
export function required(r: OptionRule): OptionRule {
  return { ...r, required: true };
}

/**
 * Edit distance with adjacent transpositions (optimal string alignment), so `adress`, `cofnig`
 * and `Config` are one edit away. Case differences count as edits but are compared lower-cased
 * first by {@link closestKey}.
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/**
 * The valid key a mistyped one most likely meant, or undefined when none is close. A key that
 * contains a valid key or is contained in one (`configFile`, `telemetry`) counts as close: that
 * is how names get "completed" by mistake.
 */
export function closestKey(key: string, valid: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of valid) {
    const c = candidate.toLowerCase();
    let score = editDistance(lower, c) + (key === candidate ? 0 : lower === c ? 0.5 : 0);
    const contains = c.length >= 3 && lower.length >= 3 && (lower.includes(c) || c.includes(lower));
    // Within about a third of the length is a typo; containment is a near-miss of a name.
    if (score > Math.max(2, Math.ceil(c.length / 3)) && !contains) continue;
    if (contains) score = Math.min(score, Math.abs(lower.length - c.length) / 2 + 0.75);
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

function describe(value: unknown, echo = false): string {
  if (value === null) return 'null';
  if (echo && typeof value === 'string') return JSON.stringify(value.slice(0, 100));
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  // Never the value of a string: it may be a password or a PEM.
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Where an option sits in its options object, for messages: `trustedProxies.addresses`. */
function pathOf(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

/** Options of {@link checkOptions}. */
export interface CheckOptionsSettings {
  /** Key path of this object inside the options (for nested tables). */
  readonly path?: string;
  /** What the object is called in the "must be an object" message (default "options"). */
  readonly name?: string;
  /** Keys another party owns (fastify's `prefix`): allowed, not checked. */
  readonly foreign?: readonly string[];
}

/**
 * Throws a `TypeError` unless `value` is an object whose own keys all appear in `spec` (or in
 * `foreign`), each with a valid value, with every required key present.
 * @example
 * checkOptions('createGuard', options, GUARD_OPTIONS);
 * // TypeError: createGuard: unknown option `configFile` (did you mean `config`?)
 */
export function checkOptions(fn: string, value: unknown, spec: OptionSpec, settings: CheckOptionsSettings = {}): void {
  const prefix = settings.path ?? '';
  if (!isObject(value)) {
    const what = prefix === '' ? (settings.name ?? 'options') : `option \`${prefix}\``;
    throw new TypeError(`${fn}: ${what} must be an object, got ${describe(value)}`);
  }
  const valid = Object.keys(spec);
  const foreign = settings.foreign ?? [];
  for (const key of Object.keys(value)) {
    if (Object.hasOwn(spec, key) || foreign.includes(key)) continue;
    const near = closestKey(key, valid);
    const hint = near !== undefined ? `did you mean \`${pathOf(prefix, near)}\`?` : `valid options: ${valid.map((k) => `\`${k}\``).join(', ')}`;
    throw new TypeError(`${fn}: unknown option \`${pathOf(prefix, key)}\` (${hint})`);
  }
  for (const [key, r] of Object.entries(spec)) {
    const path = pathOf(prefix, key);
    const present = Object.hasOwn(value, key);
    const v = value[key];
    if (v === undefined) {
      if (r.required) throw new TypeError(`${fn}: option \`${path}\` is required (${r.expected})`);
      if (present && r.noUndefined) throw new TypeError(`${fn}: option \`${path}\` is undefined; give ${r.expected} or leave the key out`);
      continue;
    }
    if (!r.test(v)) throw new TypeError(`${fn}: option \`${path}\` must be ${r.expected}, got ${describe(v, r.echo)}`);
    if (r.keys && isObject(v)) checkOptions(fn, v, r.keys, { path });
  }
}
