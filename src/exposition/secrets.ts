/**
 * Secret detectors: recognise label values (and HELP texts) that look like credentials, so the
 * exposition pass can mask them even when no redaction rule names the label (`detect_secrets`),
 * and `scrapeguard scan` can report them.
 *
 * Every detector is named (snake_case, stable: config switches and reports use the name),
 * documented in docs/secret-detectors.md, and tuned for low false positives on ordinary label
 * values — a detector that masks `le="0.005"` or a pod name breaks dashboards, which makes people
 * switch detection off altogether. Two design rules follow from that:
 *
 * - Vendor formats (GitHub, Stripe, AWS key ids, …) are matched by their fixed prefixes and
 *   lengths, anywhere in a value.
 * - Shapeless secrets (random strings, AWS secret keys) are only flagged with context: the label
 *   name says it holds a secret ({@link labelNameSuggestsSecret}), or the value carries a marker.
 *
 * Cost: values under five characters cannot hold any detected secret and are answered at once.
 * Beyond that, {@link compileSecretDetection} builds one case-insensitive prefilter out of the enabled
 * detectors' literal markers (`://`, `eyJ`, `AKIA`, `token`, …). A value with none of them, in a
 * label whose name does not suggest a secret, is settled by that one regex scan — the common case.
 */
import { CHAR_DIGIT, CHAR_LOWER, CHAR_SPACE, CHAR_UPPER, characterClasses, shannonEntropy } from './entropy.js';

/** One named credential detector. */
export interface SecretDetector {
  /** snake_case, stable, documented (config switches use it). */
  readonly name: string;
  /** One line, for docs and `redact --report`. */
  readonly description: string;
  /**
   * `true` when `value` (of label `labelName`) looks like a credential.
   *
   * @example
   * SECRET_DETECTORS.find((d) => d.name === 'jwt')!.test('authorization', 'eyJhbGciOi…'); // true
   */
  test(labelName: string, value: string): boolean;
}

/** A detector with what the compiled check needs to skip it cheaply. */
interface DetectorDefinition extends SecretDetector {
  /**
   * Literals (compared case-insensitively) one of which occurs in every value this detector flags
   * — a necessary condition, not a sufficient one; absent when only the label name can admit the
   * value. The property tests check that the markers never hide a detection.
   */
  readonly markers?: readonly string[];
  /** The detector may also fire on values without the marker when the label name suggests a secret. */
  readonly nameGated?: true;
  /** As {@link SecretDetector.test}; a plain function (no `this`), so the compiled check can hold it detached. */
  readonly test: (labelName: string, value: string) => boolean;
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/**
 * Values that stand in for a secret rather than being one: masks (`****`, `xxxx`, `[REDACTED]`,
 * the exposition pass's own default mask), template variables (`${DB_PASSWORD}`, `$PASSWORD`,
 * `{{ .Token }}`, `%s`, `<password>` — a value that starts a template counts, as the pair and URL
 * detectors cut values at white space), and flags (`true`, `none`, …). Flagging them would make the
 * pass re-fire on its own output and fill reports with noise.
 */
const PLACEHOLDER =
  /^(?:[*xX•#._?-]+|…|<[^<>]*>|\$\{.*|\$\(.*|\{\{.*|\$[A-Za-z_][A-Za-z0-9_]*|%[a-z]|\[?(?:redacted|masked|hidden|filtered|removed|omitted|sanitized|scrubbed|none|null|nil|undefined|empty|unset|true|false|yes|no|on|off|enabled|disabled|required|optional|n\/a)\]?)$/i;

/** Whether `value` is a placeholder or flag, not a credential (see {@link PLACEHOLDER}). */
function isPlaceholder(value: string): boolean {
  return value.length === 0 || PLACEHOLDER.test(value);
}

/**
 * Words that make a label name suggest a secret on their own (after splitting the name into
 * words at `_`, `-`, `.`, and camelCase humps, lower-cased). Whole words only: `monkey`,
 * `keyspace`, `tokenizer`, `author`, `passenger` are different words and do not count.
 */
const SECRET_WORDS = new Set([
  'password',
  'passwords',
  'passwd',
  'pwd',
  'pass',
  'passphrase',
  'passcode',
  'secret',
  'secrets',
  'secretkey',
  'clientsecret',
  'token',
  'tokens',
  'authtoken',
  'accesstoken',
  'refreshtoken',
  'apitoken',
  'bearer',
  'jwt',
  'apikey',
  'apikeys',
  'accesskey',
  'privatekey',
  'privkey',
  'credential',
  'credentials',
  'cred',
  'creds',
  'auth',
  'authorization',
  'private',
  'session',
  'sessionid',
  'sid',
  'cookie',
  'cookies',
  'signature',
  'sig',
  'salt',
  'otp',
  'totp',
  'hmac',
]);

/**
 * `key` alone is too common (`cache_key`, `partition_key`, `routing_key`) to suggest a secret; it
 * does when it is the whole name or follows one of these words (`api_key`, `x-api-key`,
 * `signing_key`, `clientKey`).
 */
const KEY_QUALIFIERS = new Set([
  'api',
  'access',
  'secret',
  'private',
  'signing',
  'sign',
  'encryption',
  'encrypt',
  'enc',
  'decryption',
  'decrypt',
  'master',
  'license',
  'licence',
  'client',
  'service',
  'auth',
  'session',
  'hmac',
  'crypto',
  'account',
  'subscription',
  'app',
  'application',
  'consumer',
  'deploy',
  'ssh',
  'gpg',
  'pgp',
  'aws',
  'shared',
  'storage',
  'admin',
  'root',
  'webhook',
  'ingest',
  'write',
  'sdk',
]);

/**
 * A last word that makes the name describe something *about* a secret, not the secret itself:
 * `token_type`, `password_length`, `secret_name`, `api_key_id`, `auth_method`, `cookie_name`,
 * `private_ip`. Exception: `session_id` and `secret_id` (Vault AppRole) are themselves secrets.
 */
const ABOUT_WORDS = new Set([
  'name',
  'names',
  'type',
  'types',
  'kind',
  'class',
  'count',
  'counts',
  'total',
  'number',
  'num',
  'length',
  'len',
  'size',
  'bytes',
  'bits',
  'version',
  'file',
  'files',
  'path',
  'dir',
  'directory',
  'id',
  'ids',
  'fingerprint',
  'expiry',
  'expires',
  'expiration',
  'expire',
  'ttl',
  'age',
  'status',
  'state',
  'source',
  'provider',
  'format',
  'algorithm',
  'algo',
  'alg',
  'method',
  'methods',
  'mode',
  'scope',
  'scopes',
  'issuer',
  'audience',
  'header',
  'field',
  'rotation',
  'last',
  'created',
  'updated',
  'timestamp',
  'time',
  'seconds',
  'ratio',
  'enabled',
  'required',
  'present',
  'valid',
  'validity',
  'error',
  'errors',
  'reason',
  'result',
  'outcome',
  'strength',
  'policy',
  'backend',
  'store',
  'manager',
  'ref',
  'label',
  'namespace',
  'owner',
  'ip',
  'address',
  'addr',
  'host',
  'hostname',
  'network',
  'subnet',
  'endpoint',
  'url',
  'uri',
  'port',
  'domain',
  'zone',
  'region',
  'location',
  'prefix',
  'suffix',
  'level',
  'duration',
  'latency',
  'limit',
  'max',
  'min',
  'used',
  'usage',
  'mechanism',
  'scheme',
  'protocol',
  'flow',
  'grant',
  'plugin',
  'handler',
  'module',
  'group',
  'role',
  'user',
  'username',
  'subject',
  'principal',
  'realm',
  'policy',
  'rule',
  'step',
  'stage',
  'phase',
  'event',
  'events',
  'action',
  'operation',
  'op',
  'code',
  'response',
  'request',
  'requests',
  'client',
  'server',
  'service',
  'mount',
  'engine',
  'cluster',
  'node',
  'pool',
]);

/** Split a label name into lower-case words: `sessionToken` → session, token; `X-API-Key` → x, api, key. */
function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word.length > 0);
}

function computeNameHint(name: string): boolean {
  const words = nameWords(name);
  const last = words[words.length - 1];
  if (last === undefined) return false;
  if (words.includes('public') || words.includes('publishable')) return false;
  if (ABOUT_WORDS.has(last)) {
    const before = words[words.length - 2];
    return (last === 'id' || last === 'ids') && (before === 'session' || before === 'secret');
  }
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (SECRET_WORDS.has(word)) return true;
    if (word === 'key' || word === 'keys') {
      const before = words[i - 1];
      if (words.length === 1 || (before !== undefined && KEY_QUALIFIERS.has(before))) return true;
    }
  }
  return false;
}

/** Label names repeat on every scrape; the answer is cached (bounded, cleared when full). */
const nameHintCache = new Map<string, boolean>();
const NAME_HINT_CACHE_LIMIT = 4096;

/**
 * Whether a label name suggests that its values are secrets: one of its words is `password`,
 * `passwd`, `pwd`, `secret`, `token`, `apikey`, `credential`, `auth`, `private`, `session`,
 * `cookie`, `signature`, … or `key` qualified by `api`/`access`/`secret`/`signing`/…, and its last
 * word does not describe something about the secret (`token_type`, `password_length`,
 * `secret_name`, `api_key_id`). Names containing `public` never count.
 *
 * @example
 * labelNameSuggestsSecret('db_password');       // true
 * labelNameSuggestsSecret('x-api-key');         // true
 * labelNameSuggestsSecret('monkey');            // false
 * labelNameSuggestsSecret('tokenizer_version'); // false
 * labelNameSuggestsSecret('token_type');        // false
 */
export function labelNameSuggestsSecret(labelName: string): boolean {
  let hint = nameHintCache.get(labelName);
  if (hint === undefined) {
    hint = computeNameHint(labelName);
    if (nameHintCache.size >= NAME_HINT_CACHE_LIMIT) nameHintCache.clear();
    nameHintCache.set(labelName, hint);
  }
  return hint;
}

/** Runs `re` (global) over `value` and returns whether `accept` holds for some match. */
function someMatch(re: RegExp, value: string, accept: (match: RegExpExecArray) => boolean): boolean {
  re.lastIndex = 0;
  for (let match = re.exec(value); match !== null; match = re.exec(value)) {
    if (accept(match)) {
      re.lastIndex = 0;
      return true;
    }
    if (match[0].length === 0) re.lastIndex++;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The detectors (in the order the compiled check tries them: specific formats first, so the
// reported name is the most telling one)
// ---------------------------------------------------------------------------------------------

const PEM_PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/;

/** `eyJ` is base64url of `{"`, how every JOSE header starts. Then payload and (maybe empty) signature. */
const JWT = /(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{6,})\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const MAX_JWT_HEADER = 4096;

function isJoseHeader(encoded: string): boolean {
  if (encoded.length > MAX_JWT_HEADER) return false;
  const json = Buffer.from(encoded, 'base64url').toString('utf8');
  // Cheap necessary condition first: a value full of `eyJ….` runs must not cost a thrown
  // SyntaxError per run.
  if (!json.includes('"alg"')) return false;
  try {
    const header: unknown = JSON.parse(json);
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

const AWS_ACCESS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/;

/** 40 characters of base64 standing alone: the shape of an AWS secret access key. */
const AWS_SECRET_CANDIDATE = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
const AWS_CONTEXT = /A[KS]IA[A-Z0-9]{16}|aws|secret/i;
/** Label names that can hold an AWS secret key: secret-suggesting and about AWS, a secret or access. */
const AWS_NAME_CONTEXT = /aws|secret|access/i;

function looksLikeRandomBase64(candidate: string): boolean {
  const classes = characterClasses(candidate);
  // All three of upper, lower, digit: a random 40-char base64 string lacks one with p < 0.001,
  // while git SHAs (hex, no upper case) and identifiers (no digits) are ruled out.
  return (classes & (CHAR_UPPER | CHAR_LOWER | CHAR_DIGIT)) === (CHAR_UPPER | CHAR_LOWER | CHAR_DIGIT) && shannonEntropy(candidate) >= 4.2;
}

const GITHUB_TOKEN = /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{60,251})(?![A-Za-z0-9_])/;
const GITLAB_TOKEN = /(?<![A-Za-z0-9_-])(?:(?:glpat|gldt|glrt|glptt|glft|glsoat|glcbt|glimt|gloas)-[A-Za-z0-9_.-]{20,}|GR1348941[A-Za-z0-9_-]{20,})/;
/** Slack token bodies carry numeric ids (`xoxb-<team>-<bot>-<secret>`): a digit is required, so `xoxo-hugs-and-kisses` is not one. */
const SLACK_TOKEN = /(?<![A-Za-z0-9])(?:xox[abposr]-(?=[A-Za-z-]*\d)[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})/;
const SLACK_WEBHOOK = /hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{8,}/i;
/** Random key bodies mix cases and digits; an all-lower-case body (`sk_test_integration`) is a name. */
const STRIPE_KEY = /(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_(?![a-z]+(?![A-Za-z0-9]))[A-Za-z0-9]{10,}/;
const GOOGLE_API_KEY = /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/;

/**
 * `scheme://user:password@` (RFC 3986 userinfo; the user may be empty, the password may contain
 * `:` but not `/`, `?`, `#` or `@`, which would end the authority). Plus Oracle's JDBC
 * `jdbc:oracle:thin:user/password@host`.
 */
const URL_CREDENTIALS = /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/?#@:]*:([^\s/?#@]*)@/g;
const JDBC_ORACLE_CREDENTIALS = /jdbc:oracle:[a-z]+:[^\s/@:]+\/([^\s@/]+)@/gi;

/**
 * `key=value` / `key: value` pairs whose key ends in a secret word: `password=`, `db_password=`,
 * `--password=`, `Pwd=` (ADO), `?token=`, `"api_key": "…"`, `client_secret:`, the signatures of
 * pre-signed URLs (`X-Amz-Signature=`, Azure SAS `sig=`) and session cookies (`JSESSIONID=`). The key must start a
 * word (not `/path/token=`, `image/token:tag`, `k8s:secret:name`); the value must be non-empty
 * and not a placeholder. Groups: 1 quote, 2 key, 3 separator, 4 space after it, 5 value.
 */
const CREDENTIAL_PAIR =
  /(?<![A-Za-z0-9_./:-])(["']?)([A-Za-z0-9_.-]*?(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|secret[_-]?key|signing[_-]?key|signature|sig|sessionid|sessid|session[_-]id))\1\s*([=:])(\s*)["']?([^\s"'&;,<>]*)/gi;

function isCredentialPair(match: RegExpExecArray): boolean {
  const quoted = match[1] !== '';
  const key = match[2]!.toLowerCase().replace(/^-+/, '');
  const separator = match[3]!;
  const value = match[5]!;
  if (isPlaceholder(value)) return false;
  if (separator === ':') {
    // Unquoted `Token: the …` is prose and `token://` a URL scheme; `password:hunter2` and
    // JSON's `"password": "…"` are pairs.
    if (!quoted && match[4] !== '') return false;
    if (value.startsWith('//')) return false;
  }
  // `PWD=/srv/app` in a process environment is the working directory, not a password.
  if ((key === 'pwd' || key === 'oldpwd') && (value.startsWith('/') || value.startsWith('~'))) return false;
  return true;
}

/** `Bearer <token>` / `Basic <base64>` / `Token <token>` (RFC 7235 credentials), e.g. a logged header. */
const AUTHORIZATION_HEADER = /(?<![A-Za-z0-9])(?:bearer|basic|token)\s+([A-Za-z0-9._~+/-]{16,}=*)/gi;

function isCredentialToken(match: RegExpExecArray): boolean {
  const token = match[1]!;
  const classes = characterClasses(token);
  // At least two of lower/upper/digit: `Bearer authenticationScheme` style prose does not count.
  let kinds = 0;
  if (classes & CHAR_LOWER) kinds++;
  if (classes & CHAR_UPPER) kinds++;
  if (classes & CHAR_DIGIT) kinds++;
  return kinds >= 2 && !isPlaceholder(token) && shannonEntropy(token) >= 3;
}

// Shapes that are identifiers, not secrets, even in a secret-named label.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A content digest, alone or ending an image reference (`repo@sha256:…`). */
const DIGEST = /(?:^|@)(?:sha1|sha224|sha256|sha384|sha512|md5|blake2b|blake3):[0-9a-f]+$/i;
/** Lower-case DNS names, optionally with a port. */
const HOSTNAME = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}\.?(?::\d{1,5})?$/;
/** `registry[:port]/repo/name[:tag][@digest]` as container runtimes report images. */
const IMAGE_REF = /^[a-z0-9.-]+(?::\d{1,5})?\/[a-z0-9._/-]+(?::[A-Za-z0-9._-]{1,128})?(?:@sha256:[0-9a-f]{64})?$/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;
const HEX = /^[0-9a-f]+$/i;
/**
 * A segment of a structured value, between separators: a word (`profile`, `Service`, `HTTP`), a
 * number, a lower-case alphanumeric run of up to 16 (a pod-template hash `7d9f8b6c5`, `x2x9k`), or
 * lower-case letters with at most two short digit groups (`kubeprometheusstack2`, `v1beta1`).
 */
const PLAIN_SEGMENT = /^(?:[a-z]+|[A-Z][a-z]*|[A-Z]+|\d+|[a-z0-9]{1,16}|[a-z]*\d{1,4}[a-z]*(?:\d{1,4}[a-z]*)?)$/;
const SEGMENT_SEPARATORS = /[^A-Za-z0-9]+/;

/**
 * Values made of two or more plain segments joined by punctuation are identifiers people wrote,
 * not generated secrets: hostnames, pod names (`api-7d9f8b6c5-x2x9k`), k8s secret names
 * (`default-token-x2x9k`), cache keys (`user:123:profile`).
 */
function isStructuredIdentifier(value: string): boolean {
  const segments = value.split(SEGMENT_SEPARATORS).filter((s) => s.length > 0);
  return segments.length >= 2 && segments.every((s) => PLAIN_SEGMENT.test(s));
}
const CAMEL_CASE_WORDS = /^(?:[A-Z][a-z]+)+$|^[a-z]+(?:[A-Z][a-z]+)+$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[A-Za-z]{2,}$/;
const PATH_LIKE = /^(?:\/|\.\.?\/|~\/|[A-Za-z]:\\)/;
const DOTTED_NUMBERS = /^v?\d+(?:\.\d+)+(?:[-+].*)?$/;
const MIN_GENERIC_LENGTH = 16;
const MIN_GENERIC_HEX_LENGTH = 32;
const MAX_GENERIC_LENGTH = 4096;

/**
 * Whether `value` looks like a random credential (for labels whose name suggests a secret):
 * 16–4096 characters without white space, at least two of lower/upper/digit, and a Shannon
 * entropy of at least 3.0 bits/char (hex) or `min(3.5, 0.8·log2(length))` otherwise. Hex needs 32+
 * characters (API keys are; short hashes like truncated HMACs are not). UUIDs, digests, e-mails,
 * paths, URLs, host names, image references, numbers, versions, CamelCase words and structured identifiers (plain words and short
 * lower-case runs joined by punctuation: host and pod names, `user:123:profile`) never count.
 */
export function looksRandom(value: string): boolean {
  const length = value.length;
  if (length < MIN_GENERIC_LENGTH || length > MAX_GENERIC_LENGTH) return false;
  const classes = characterClasses(value);
  if (classes & CHAR_SPACE) return false;
  let kinds = 0;
  if (classes & CHAR_LOWER) kinds++;
  if (classes & CHAR_UPPER) kinds++;
  if (classes & CHAR_DIGIT) kinds++;
  if (kinds < 2) return false;
  if (
    UUID.test(value) ||
    DIGEST.test(value) ||
    NUMBER.test(value) ||
    HOSTNAME.test(value) ||
    IMAGE_REF.test(value) ||
    isStructuredIdentifier(value) ||
    CAMEL_CASE_WORDS.test(value) ||
    EMAIL.test(value) ||
    PATH_LIKE.test(value) ||
    DOTTED_NUMBERS.test(value) ||
    value.includes('://') ||
    isPlaceholder(value)
  ) {
    return false;
  }
  const entropy = shannonEntropy(value);
  if (HEX.test(value)) return length >= MIN_GENERIC_HEX_LENGTH && entropy >= 3;
  return entropy >= Math.min(3.5, 0.8 * Math.log2(length));
}

/** `api_key`, `api-key`, `apikey` for a prefix `api`: the spellings CREDENTIAL_PAIR accepts. */
function keyVariants(prefix: string): string[] {
  return [`${prefix}_key`, `${prefix}-key`, `${prefix}key`];
}

const DEFINITIONS: readonly DetectorDefinition[] = [
  {
    name: 'pem_private_key',
    description: 'PEM private key blocks (-----BEGIN … PRIVATE KEY-----)',
    markers: ['private key'],
    test: (_name, value) => PEM_PRIVATE_KEY.test(value),
  },
  {
    name: 'jwt',
    description: 'JSON Web Tokens: three base64url parts whose header decodes to JSON with "alg"',
    markers: ['eyj'],
    test: (_name, value) => someMatch(JWT, value, (m) => isJoseHeader(m[1]!)),
  },
  {
    name: 'aws_access_key_id',
    description: 'AWS access key ids (AKIA/ASIA + 16 upper-case letters or digits)',
    markers: ['akia', 'asia'],
    test: (_name, value) => AWS_ACCESS_KEY_ID.test(value),
  },
  {
    name: 'aws_secret_access_key',
    description: 'AWS secret access keys (40 random base64 characters) next to a key id or "aws"/"secret", or in a label like aws_secret/secret_access_key',
    markers: ['akia', 'asia', 'aws', 'secret'],
    nameGated: true,
    test: (name, value) =>
      value.length >= 40 &&
      ((labelNameSuggestsSecret(name) && AWS_NAME_CONTEXT.test(name)) || AWS_CONTEXT.test(value)) &&
      someMatch(AWS_SECRET_CANDIDATE, value, (m) => looksLikeRandomBase64(m[0])),
  },
  {
    name: 'github_token',
    description: 'GitHub tokens (ghp_/gho_/ghu_/ghs_/ghr_ + 36 characters, github_pat_ fine-grained)',
    markers: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'],
    test: (_name, value) => GITHUB_TOKEN.test(value),
  },
  {
    name: 'gitlab_token',
    description: 'GitLab tokens (glpat-, gldt-, glrt-, glptt-, … and GR1348941 runner registration tokens)',
    markers: ['glpat-', 'gldt-', 'glrt-', 'glptt-', 'glft-', 'glsoat-', 'glcbt-', 'glimt-', 'gloas-', 'gr1348941'],
    test: (_name, value) => GITLAB_TOKEN.test(value),
  },
  {
    name: 'slack_token',
    description: 'Slack tokens (xoxb-, xoxp-, xoxa-, xoxo-, xoxs-, xoxr-, xapp-)',
    markers: ['xox', 'xapp-'],
    test: (_name, value) => SLACK_TOKEN.test(value),
  },
  {
    name: 'slack_webhook_url',
    description: 'Slack incoming-webhook and workflow URLs (hooks.slack.com/services/…)',
    markers: ['hooks.slack.com'],
    test: (_name, value) => SLACK_WEBHOOK.test(value),
  },
  {
    name: 'stripe_key',
    description: 'Stripe secret and restricted keys (sk_live_, rk_live_, sk_test_, rk_test_)',
    markers: ['_live_', '_test_'],
    test: (_name, value) => STRIPE_KEY.test(value),
  },
  {
    name: 'google_api_key',
    description: 'Google API keys (AIza + 35 characters)',
    markers: ['aiza'],
    test: (_name, value) => GOOGLE_API_KEY.test(value),
  },
  {
    name: 'url_credentials',
    description: 'URLs with a password in the user info (postgres://u:p@h, https://u:p@h, redis://:p@h) and JDBC user/password@',
    markers: ['://', 'jdbc:oracle:'],
    test: (_name, value) =>
      someMatch(URL_CREDENTIALS, value, (m) => !isPlaceholder(m[1]!)) || someMatch(JDBC_ORACLE_CREDENTIALS, value, (m) => !isPlaceholder(m[1]!)),
  },
  {
    name: 'credential_pair',
    description:
      'password=/passwd=/pwd=/secret=/token=/api_key=/access_key=/sig=/sessionid= pairs inside a value (query strings, command lines, ADO/JDBC connection strings, JSON)',
    markers: [
      'pass',
      'pwd',
      'secret',
      'token',
      'sig',
      'sessid',
      'sessionid',
      'session_id',
      'session-id',
      ...keyVariants('api'),
      ...keyVariants('access'),
      ...keyVariants('private'),
      ...keyVariants('signing'),
    ],
    test: (_name, value) => someMatch(CREDENTIAL_PAIR, value, isCredentialPair),
  },
  {
    name: 'authorization_header',
    description: 'HTTP credentials (Bearer …, Basic …, Token …) as an Authorization header carries them',
    markers: ['bearer', 'basic', 'token'],
    test: (_name, value) => someMatch(AUTHORIZATION_HEADER, value, isCredentialToken),
  },
  {
    name: 'high_entropy_secret',
    description: 'random-looking strings (entropy, length, character mix) in labels whose name suggests a secret',
    nameGated: true,
    test: (name, value) => labelNameSuggestsSecret(name) && looksRandom(value),
  },
];

/**
 * Every detector, in the order the compiled check tries them (most specific first). Names are
 * stable and documented in docs/secret-detectors.md.
 *
 * @example
 * SECRET_DETECTORS.map((d) => d.name); // ['pem_private_key', 'jwt', 'aws_access_key_id', …]
 */
export const SECRET_DETECTORS: readonly SecretDetector[] = Object.freeze(
  DEFINITIONS.map((d) => Object.freeze({ name: d.name, description: d.description, test: d.test })),
);

/** The detector names, in order. */
export const SECRET_DETECTOR_NAMES: readonly string[] = Object.freeze(DEFINITIONS.map((d) => d.name));

/**
 * Compiles the enabled detectors into one fast check; returns the name of the first detector
 * (in {@link SECRET_DETECTORS} order) that fired, or `undefined`.
 *
 * The check first runs one case-insensitive prefilter regex built from the enabled detectors'
 * literal markers; a value with no marker in a label whose name does not suggest a secret is
 * answered without running any detector.
 *
 * @param enabled detector names, or `'all'`.
 * @throws TypeError when a name is not a detector's (the message lists the valid names).
 * @example
 * const detect = compileSecretDetection('all');
 * detect('dsn', 'postgres://app:hunter2@db:5432/app'); // 'url_credentials'
 * detect('path', '/var/lib/app');                      // undefined
 */
export function compileSecretDetection(enabled: readonly string[] | 'all'): (labelName: string, value: string) => string | undefined {
  let chosen: readonly DetectorDefinition[];
  if (enabled === 'all') {
    chosen = DEFINITIONS;
  } else {
    if (!Array.isArray(enabled)) throw new TypeError(`enabled must be 'all' or an array of detector names`);
    for (const name of enabled) {
      if (typeof name !== 'string' || !SECRET_DETECTOR_NAMES.includes(name)) {
        throw new TypeError(`unknown secret detector ${JSON.stringify(name)}; valid detectors: ${SECRET_DETECTOR_NAMES.join(', ')}`);
      }
    }
    const wanted = new Set(enabled);
    chosen = DEFINITIONS.filter((d) => wanted.has(d.name));
  }
  if (chosen.length === 0) return () => undefined;

  const markers = chosen.flatMap((d) => d.markers ?? []);
  const marked = markers.length > 0 ? new RegExp(trieSource(markers), 'i') : undefined;
  const anyNameGated = chosen.some((d) => d.nameGated === true);
  const detectors = chosen.map((d) => ({ name: d.name, test: d.test }));

  return (labelName, value) => {
    if (value.length < MIN_SECRET_LENGTH) return undefined;
    if (!(marked?.test(value) ?? false) && !(anyNameGated && labelNameSuggestsSecret(labelName))) return undefined;
    for (const detector of detectors) if (detector.test(labelName, value)) return detector.name;
    return undefined;
  };
}

/**
 * No detector fires on fewer characters than this (the shortest is a pair like `pwd=7`), so the
 * many short values of a scrape — `le="0.5"`, `code="200"`, `method="GET"` — skip even the prefilter.
 */
const MIN_SECRET_LENGTH = 5;

/**
 * One regex source matching any of `literals` (case-insensitively, with the `i` flag), factored
 * as a trie — `p(?:ass|wd|rivate key)|a(?:kia|sia|ws)|…` — because irregexp tries a flat
 * alternation branch by branch at every position, while a factored one rejects most positions on
 * the first character. Literals that extend a shorter one are dropped: the shorter one suffices.
 */
function trieSource(literals: readonly string[]): string {
  const words = [...new Set(literals.map((l) => l.toLowerCase()))];
  const minimal = words.filter((w) => !words.some((other) => other !== w && w.startsWith(other)));
  return trieAlternation(minimal.sort());
}

function trieAlternation(words: readonly string[]): string {
  const byFirst = new Map<string, string[]>();
  for (const word of words) {
    const first = word[0]!;
    const rests = byFirst.get(first);
    if (rests === undefined) byFirst.set(first, [word.slice(1)]);
    else rests.push(word.slice(1));
  }
  const branches: string[] = [];
  for (const [first, rests] of byFirst) {
    // `words` is prefix-free, so an empty rest is the only one under its first character.
    const tail = rests.length === 1 ? escapeRegExp(rests[0]!) : `(?:${trieAlternation(rests)})`;
    branches.push(escapeRegExp(first) + tail);
  }
  return branches.join('|');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Values shorter than this show no characters at all in a preview. */
const PREVIEW_MIN_LENGTH = 12;
/** From this length on, a preview shows four characters; below it, two. */
const PREVIEW_FULL_LENGTH = 24;

/**
 * A preview of a (possibly secret) value that is safe to print: at most the first four characters
 * (two for values under 24 characters, none under 12), then `…` and the length in characters.
 * Control characters in the shown part are replaced by `?`.
 *
 * @example
 * maskedPreview('ghp_' + 'a'.repeat(36)); // 'ghp_…(40 chars)'
 * maskedPreview('hunter2');               // '…(7 chars)'
 */
export function maskedPreview(value: string): string {
  const chars = Array.from(value);
  const shown = chars.length < PREVIEW_MIN_LENGTH ? 0 : chars.length < PREVIEW_FULL_LENGTH ? 2 : 4;
  const head = chars
    .slice(0, shown)
    .map((c) => (/^[\p{L}\p{N}\p{P}\p{S}]$/u.test(c) ? c : '?'))
    .join('');
  return `${head}…(${chars.length} chars)`;
}
