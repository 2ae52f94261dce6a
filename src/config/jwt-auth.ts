/**
 * Validator of `jwt_auth`: where the verification keys come from (`jwks_file`, `jwks_url`, or an
 * HMAC `secret_file`), which issuers, audiences and algorithms are accepted, the scopes required,
 * which claims carry groups and the principal, and bounded knobs for fetching a remote JWKS.
 * Unsecured JWTs (`alg: none`) are never accepted; HS* only with a secret of adequate length.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createLocalJWKSet } from 'jose';
import type { ResolvedJwtAuth, ResolvedKubernetesJwt } from './schema.js';
import { Checker, fmtMs, INVALID, quote, readMaterial, type Read } from './checker.js';
import type { KeyPath } from './locate.js';

const KEYS = [
  'jwks_file',
  'jwks_url',
  'issuer',
  'audience',
  'algorithms',
  'secret_file',
  'required_scopes',
  'groups_claim',
  'principal_claim',
  'clock_tolerance',
  'jwks_cooldown',
  'jwks_timeout',
  'jwks_max_age',
  'kubernetes',
] as const;
const KUBERNETES_KEYS = ['discovery_url', 'ca_file', 'token_file', 'require_pod_binding'] as const;

/** Asymmetric algorithms jose verifies; the default list. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
const HMAC_MIN_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A string or a list of strings, as a list. */
function oneOrMany(c: Checker, raw: unknown, path: KeyPath): Read<string[]> {
  if (raw === undefined || raw === null) return undefined;
  const list = Array.isArray(raw) ? c.textList(raw, path) : c.text(raw, path);
  if (list === INVALID || list === undefined) return list;
  const out = typeof list === 'string' ? [list] : list;
  if (out.length === 0 || out.some((s) => s === '')) {
    c.error(path, 'must be a non-empty string or a list of non-empty strings');
    return INVALID;
  }
  return out;
}

/** A duration within [minMs, maxMs], or the default. */
function bounded(c: Checker, raw: unknown, path: KeyPath, fallback: number, minMs: number, maxMs: number): number | typeof INVALID {
  const d = c.duration(raw, path);
  if (d === INVALID) return INVALID;
  if (d === undefined) return fallback;
  if (d.ms < minMs || d.ms > maxMs) {
    c.error(path, `must be from ${fmtMs(minMs)} to ${fmtMs(maxMs)}, got ${quote(d.text)}`);
    return INVALID;
  }
  return d.ms;
}

/** Validates `jwt_auth`; undefined when the section is absent. */
export async function checkJwtAuth(c: Checker, raw: unknown): Promise<Read<ResolvedJwtAuth>> {
  const P = ['jwt_auth'] as const;
  const at = (k: string): KeyPath => [...P, k];
  const m = c.mapping(raw, P, KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return undefined;
  const before = c.issues.length;

  const jwksFile = c.text(m.jwks_file, at('jwks_file'));
  const jwksUrl = c.text(m.jwks_url, at('jwks_url'));
  const secretFile = c.text(m.secret_file, at('secret_file'));
  const issuer = oneOrMany(c, m.issuer, at('issuer'));
  const audience = oneOrMany(c, m.audience, at('audience'));
  const algorithmsRaw = c.textList(m.algorithms, at('algorithms'));
  const requiredScopes = c.textList(m.required_scopes, at('required_scopes'));
  const groupsClaim = c.text(m.groups_claim, at('groups_claim'));
  const principalClaim = c.text(m.principal_claim, at('principal_claim'));
  const toleranceMs = bounded(c, m.clock_tolerance, at('clock_tolerance'), 30_000, 0, 600_000);
  const cooldownMs = bounded(c, m.jwks_cooldown, at('jwks_cooldown'), 30_000, 1_000, 600_000);
  const timeoutMs = bounded(c, m.jwks_timeout, at('jwks_timeout'), 5_000, 100, 60_000);
  const maxAgeMs = bounded(c, m.jwks_max_age, at('jwks_max_age'), 600_000, 1_000, 86_400_000);

  for (const [v, k] of [
    [groupsClaim, 'groups_claim'],
    [principalClaim, 'principal_claim'],
  ] as const) {
    if (v === '') c.error(at(k), 'empty claim name');
  }
  if (requiredScopes && requiredScopes !== INVALID) {
    requiredScopes.forEach((s, i) => {
      if (s === '' || /\s/.test(s)) c.error([...P, 'required_scopes', i], `a scope is one non-empty word (RFC 6749 §3.3), got ${quote(s)}`);
    });
  }

  let jwks: ResolvedJwtAuth['jwks'] | undefined;
  if (typeof jwksFile === 'string' && typeof jwksUrl === 'string') {
    c.error(P, 'set either jwks_file or jwks_url, not both');
  } else if (typeof jwksFile === 'string') {
    const got = jwksFile === '' ? undefined : await readMaterial(c, at('jwks_file'), 'jwks_file', jwksFile);
    if (jwksFile === '') c.error(at('jwks_file'), 'empty file name');
    if (got) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(got.pem);
      } catch (error) {
        c.error(at('jwks_file'), `${quote(got.abs)} is not JSON: ${(error as Error).message}`);
      }
      if (parsed !== undefined) {
        const keys = (parsed as { keys?: unknown }).keys;
        if (!Array.isArray(keys) || keys.length === 0) {
          c.error(at('jwks_file'), `${quote(got.abs)} is not a JWK Set: expected {"keys": [ … ]} with at least one key (RFC 7517 §5)`);
        } else if (keys.some((k) => typeof k === 'object' && k !== null && 'd' in k)) {
          // Only public keys belong on the verifying side; a private key here is a leak waiting to happen.
          c.error(at('jwks_file'), `${quote(got.abs)} holds private key material ("d"); publish only the public keys`);
        } else {
          try {
            createLocalJWKSet(parsed as { keys: [] });
            jwks = { kind: 'file', keys: parsed as { keys: Record<string, unknown>[] } };
          } catch (error) {
            c.error(at('jwks_file'), `${quote(got.abs)} is not a usable JWK Set: ${(error as Error).message}`);
          }
        }
      }
    }
  } else if (typeof jwksUrl === 'string') {
    let url: URL | undefined;
    try {
      url = new URL(jwksUrl);
    } catch {
      c.error(at('jwks_url'), `invalid URL ${quote(jwksUrl)}`);
    }
    if (url) {
      if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))) jwks = { kind: 'url', url: url.href };
      else if (url.protocol === 'http:')
        c.error(
          at('jwks_url'),
          `must be https:// (keys fetched in clear text could be swapped in transit); http:// is allowed only for a loopback address, got ${quote(jwksUrl)}`,
        );
      else c.error(at('jwks_url'), `must be an https:// URL, got ${quote(jwksUrl)}`);
      if (url.username || url.password) c.error(at('jwks_url'), 'must not carry credentials');
    }
  }

  const algorithms = algorithmsRaw === undefined ? undefined : algorithmsRaw;
  let secret: Uint8Array | undefined;
  if (algorithms && algorithms !== INVALID) {
    if (algorithms.length === 0) c.error(at('algorithms'), 'empty list: no token could be verified');
    algorithms.forEach((alg, i) => {
      const p: KeyPath = [...P, 'algorithms', i];
      if (alg.toLowerCase() === 'none') c.error(p, 'alg "none" (unsecured JWT, RFC 7519 §6) is never accepted: anyone could forge a token');
      else if (alg in HMAC_MIN_BYTES) {
        if (secretFile === undefined)
          c.error(p, `${alg} needs secret_file (a shared HMAC secret); without it, HS* is refused so a public key can never be used as an HMAC secret`);
      } else if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
        c.error(p, `unknown algorithm ${quote(alg)}; expected one of: ${[...ASYMMETRIC_ALGORITHMS, ...Object.keys(HMAC_MIN_BYTES)].join(', ')}`);
      }
    });
  }
  const hmacAlgs = (algorithms && algorithms !== INVALID ? algorithms : []).filter((a) => a in HMAC_MIN_BYTES);
  if (typeof secretFile === 'string') {
    if (algorithms === undefined || (algorithms !== INVALID && hmacAlgs.length === 0)) {
      c.error(at('secret_file'), 'secret_file is set but algorithms lists no HS256/HS384/HS512; list the HMAC algorithms to accept');
    } else if (secretFile === '') c.error(at('secret_file'), 'empty file name');
    else {
      const got = await readMaterial(c, at('secret_file'), 'secret_file', secretFile);
      if (got) {
        const bytes = Buffer.from(got.pem.replace(/\r?\n$/, ''), 'utf8');
        const need = Math.max(...hmacAlgs.map((a) => HMAC_MIN_BYTES[a] ?? 32));
        if (bytes.length < need)
          c.error(at('secret_file'), `${quote(got.abs)} holds ${bytes.length} bytes; ${hmacAlgs.join('/')} needs at least ${need} (RFC 7518 §3.2)`);
        else secret = new Uint8Array(bytes);
      }
    }
  }
  const asymmetric = (algorithms && algorithms !== INVALID ? algorithms : [...ASYMMETRIC_ALGORITHMS]).filter((a) => !(a in HMAC_MIN_BYTES));
  const kubernetes = await checkKubernetes(c, m, issuer, audience);
  if (kubernetes !== undefined) {
    // Keys come from jwks_file, jwks_url or the cluster's discovery document; the rest is fixed by Kubernetes.
  } else if (jwksFile === undefined && jwksUrl === undefined && secretFile === undefined) {
    c.error(P, 'no keys: set jwks_file, jwks_url or (for HS*) secret_file');
  } else if (jwksFile === undefined && jwksUrl === undefined && asymmetric.length > 0 && algorithms !== undefined) {
    c.error(at('algorithms'), `${asymmetric.join(', ')} need a public key: set jwks_file or jwks_url, or list only HS* algorithms`);
  }
  if (kubernetes !== undefined) {
    // checkKubernetes made audience and issuer errors already.
  } else if (audience === undefined) c.warn('jwt_auth: no audience set, so a token the issuer minted for any other service is accepted here; set audience');
  if (issuer === undefined && kubernetes === undefined) c.warn('jwt_auth: no issuer set; any holder of a key in the key set can mint accepted tokens');

  if (c.issues.length > before || kubernetes === INVALID) return INVALID;
  const resolvedAlgorithms = algorithms && algorithms !== INVALID ? algorithms : [...ASYMMETRIC_ALGORITHMS];
  const out: ResolvedJwtAuth = {
    ...(kubernetes ? { kubernetes } : {}),
    ...(jwks ? { jwks } : {}),
    ...(issuer && issuer !== INVALID ? { issuer } : {}),
    ...(audience && audience !== INVALID ? { audience } : {}),
    algorithms: resolvedAlgorithms,
    ...(secret ? { secretDigest: createHash('sha256').update(secret).digest('hex') } : {}),
    requiredScopes: requiredScopes && requiredScopes !== INVALID ? requiredScopes : [],
    ...(typeof groupsClaim === 'string' ? { groupsClaim } : {}),
    principalClaim: typeof principalClaim === 'string' ? principalClaim : 'sub',
    clockToleranceSec: (toleranceMs as number) / 1000,
    jwksCooldownMs: cooldownMs as number,
    jwksTimeoutMs: timeoutMs as number,
    jwksMaxAgeMs: maxAgeMs as number,
  };
  // The secret never serializes (logs, JSON, config digests use secretDigest instead).
  if (secret) Object.defineProperty(out, 'secret', { value: secret, enumerable: false });
  return out;
}

/**
 * `jwt_auth.kubernetes`: projected service-account tokens. The issuer is required (exactly one:
 * the cluster's `--service-account-issuer`) and so is an audience (a token minted for the API
 * server — the default audience — would otherwise be accepted, and the guard could replay it
 * there); the principal and groups are fixed by the token layout, so `principal_claim`,
 * `groups_claim`, `required_scopes` and `secret_file` do not apply.
 */
async function checkKubernetes(
  c: Checker,
  m: Record<string, unknown>,
  issuer: Read<string[]>,
  audience: Read<string[]>,
): Promise<ResolvedKubernetesJwt | typeof INVALID | undefined> {
  const P: KeyPath = ['jwt_auth', 'kubernetes'];
  const raw = m.kubernetes;
  if (raw === undefined) return undefined;
  const k = raw === null ? {} : c.mapping(raw, P, KUBERNETES_KEYS);
  if (k === INVALID) return INVALID;
  const before = c.issues.length;
  for (const key of ['principal_claim', 'groups_claim', 'required_scopes', 'secret_file'] as const) {
    if (m[key] !== undefined)
      c.error(
        ['jwt_auth', key],
        `does not apply with kubernetes: the principal is system:serviceaccount:NAMESPACE:NAME and the groups are the service-account groups`,
      );
  }
  if (issuer === undefined)
    c.error(
      ['jwt_auth', 'issuer'],
      "kubernetes needs issuer: the cluster's service-account issuer (kubectl get --raw /.well-known/openid-configuration shows it)",
    );
  else if (issuer !== INVALID && issuer.length !== 1)
    c.error(['jwt_auth', 'issuer'], "kubernetes takes exactly one issuer (the cluster's service-account issuer)");
  if (audience === undefined) {
    c.error(
      ['jwt_auth', 'audience'],
      'kubernetes needs audience: a token for the API server (the default audience) could be replayed there; give Prometheus a projected token with an audience of its own, e.g. scrapeguard',
    );
  }
  const discoveryText = c.text(k?.discovery_url, [...P, 'discovery_url']);
  let discoveryUrl: string | undefined;
  if (typeof discoveryText === 'string') discoveryUrl = discoveryText;
  else if (issuer && issuer !== INVALID && issuer.length === 1) discoveryUrl = `${issuer[0]!.replace(/\/$/, '')}/.well-known/openid-configuration`;
  if (discoveryUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(discoveryUrl);
    } catch {
      c.error([...P, typeof discoveryText === 'string' ? 'discovery_url' : 'issuer'], `invalid URL ${quote(discoveryUrl)}`);
    }
    if (url && !(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname)))) {
      c.error(
        typeof discoveryText === 'string' ? [...P, 'discovery_url'] : ['jwt_auth', 'issuer'],
        `the discovery document must be fetched over https:// (http:// only for a loopback address), got ${quote(discoveryUrl)}; or set jwks_file`,
      );
    }
    if (url && (url.username || url.password)) c.error([...P, 'discovery_url'], 'must not carry credentials');
  }
  const caFile = c.text(k?.ca_file, [...P, 'ca_file']);
  let caPem: string | undefined;
  if (caFile === '') c.error([...P, 'ca_file'], 'empty file name');
  else if (typeof caFile === 'string') {
    const got = await readMaterial(c, [...P, 'ca_file'], 'ca_file', caFile);
    if (got) {
      if (!/-----BEGIN CERTIFICATE-----/.test(got.pem)) c.error([...P, 'ca_file'], `${quote(got.abs)} holds no PEM certificate`);
      else caPem = got.pem;
    }
  }
  const tokenFile = c.text(k?.token_file, [...P, 'token_file']);
  let tokenAbs: string | undefined;
  if (tokenFile === '') c.error([...P, 'token_file'], 'empty file name');
  else if (typeof tokenFile === 'string') {
    // Read on every fetch (the kubelet rotates it), so only its presence is checked here.
    tokenAbs = resolve(c.source.baseDir, tokenFile);
    try {
      if (!(await stat(tokenAbs)).isFile()) c.error([...P, 'token_file'], `${quote(tokenAbs)} is not a file`);
    } catch {
      c.error([...P, 'token_file'], `cannot read token_file ${quote(tokenAbs)}: no such file`);
    }
  }
  const pod = c.bool(k?.require_pod_binding, [...P, 'require_pod_binding']);
  if (c.issues.length > before || discoveryUrl === undefined || pod === INVALID) return INVALID;
  return {
    discoveryUrl,
    ...(caPem !== undefined ? { caPem } : {}),
    ...(tokenAbs !== undefined ? { tokenFile: tokenAbs } : {}),
    requirePodBinding: pod ?? false,
  };
}
