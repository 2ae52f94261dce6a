/**
 * PLACEHOLDER secret detectors (one detector, `url_credentials`) with the agreed API. The full set
 * of detectors is written on another branch and replaces this file on merge; nothing else depends
 * on more than this API.
 */

/** A named rule that recognises a credential in a label value. */
export interface SecretDetector {
  readonly name: string;
  readonly description: string;
  /** true when `value` (of label `labelName`) looks like a credential */
  test(labelName: string, value: string): boolean;
}

const URL_CREDENTIALS = /[a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*:[^\s/?#@]*@/i;

/** Every detector, in the order they are tried. */
export const SECRET_DETECTORS: readonly SecretDetector[] = [
  {
    name: 'url_credentials',
    description: 'a URL with a user:password part, e.g. postgres://app:hunter2@db:5432/app',
    test: (_labelName, value) => value.includes('@') && URL_CREDENTIALS.test(value),
  },
];

/**
 * Compiles the enabled detectors into one function.
 * @returns a function giving the name of the first detector that fired, or undefined.
 * @example
 * const detect = compileSecretDetection('all');
 * detect('dsn', 'postgres://app:hunter2@db/app'); // 'url_credentials'
 */
export function compileSecretDetection(enabled: readonly string[] | 'all'): (labelName: string, value: string) => string | undefined {
  const active = enabled === 'all' ? SECRET_DETECTORS : SECRET_DETECTORS.filter((d) => enabled.includes(d.name));
  return (labelName, value) => {
    for (const d of active) if (d.test(labelName, value)) return d.name;
    return undefined;
  };
}
