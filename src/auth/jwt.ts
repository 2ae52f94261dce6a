/**
 * JWT bearer tokens (`jwt_auth`) verified with jose. Keys come from a local JWK Set
 * (`jwks_file`), a remote one (`jwks_url`: cached, refetched on an unknown `kid` no more often than
 * the cooldown — also after a failed fetch — at most one fetch in flight, each bounded by a
 * timeout), or an HMAC secret for HS* (only when configured). A token whose `kid` is known never
 * waits for a fetch, so a flood of unknown `kid`s cannot hold up anyone else's scrape.
 * `jwtVerify` checks the signature, `alg` against the allowed list (so `alg: none` and an HS* token
 * signed with a public key are refused), `exp` (required) and `nbf` with the clock tolerance, issuer
 * and audience;
 * then the required scopes (`scope`, space-separated, or `scp`, list or string), the principal
 * claim and the groups claim are read.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FetchImplementation,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { ResolvedJwtAuth } from '../config/schema.js';
import { clusterFetch, discoverJwksUri, kubernetesClaims, type ClusterFetchOptions } from './kubernetes.js';
import type { Principal } from './principal.js';

/** Why a JWT was refused. */
export type JwtFailureReason = 'invalid_token' | 'expired' | 'unknown_key' | 'insufficient_scope' | 'jwks_unavailable';

/** Outcome of verifying one JWT. */
export type JwtResult =
  | { readonly ok: true; readonly principal: Principal }
  | {
      readonly ok: false;
      readonly reason: JwtFailureReason;
      /** What was wrong, for logs: a claim name or jose's code, never the token. */
      readonly detail: string;
      /** The principal the token named, when its signature was valid (scope failures). */
      readonly name?: string;
    };

type KeyGetter = JWTVerifyGetKey;

function remoteKey(config: ResolvedJwtAuth): string {
  return JSON.stringify([config.jwks, config.jwksCooldownMs, config.jwksTimeoutMs, config.jwksMaxAgeMs, config.kubernetes ?? null, config.issuer ?? null]);
}

/** Fetch settings for a Kubernetes cluster's discovery document and JWK Set. */
function clusterFetchOptions(config: ResolvedJwtAuth): ClusterFetchOptions {
  const k8s = config.kubernetes!;
  return {
    ...(k8s.caPem !== undefined ? { caPem: k8s.caPem } : {}),
    ...(k8s.tokenFile !== undefined ? { tokenFile: k8s.tokenFile, tokenOrigin: new URL(k8s.discoveryUrl).origin } : {}),
    timeoutMs: config.jwksTimeoutMs,
  };
}

/**
 * Keys found through the cluster's OIDC discovery document: fetched on first use (not at load,
 * so a guard starts while the API server is unreachable), then a remote JWK Set as any other.
 * A failed discovery is retried no sooner than the cooldown, like a failed JWK Set fetch.
 */
function discoveredKeySet(config: ResolvedJwtAuth): KeyGetter {
  const options = clusterFetchOptions(config);
  let keys: Promise<KeyGetter> | undefined;
  let lastFailure = -Infinity;
  return async (header, token) => {
    if (!keys) {
      if (Date.now() - lastFailure < config.jwksCooldownMs) {
        throw new joseErrors.JWKSTimeout('OIDC discovery failed; not retrying before jwks_cooldown has passed');
      }
      keys = discoverJwksUri(config.kubernetes!.discoveryUrl, config.issuer![0]!, options).then(
        (uri) => remoteKeySet(uri, config, clusterFetch(options)),
        (error: unknown) => {
          keys = undefined;
          lastFailure = Date.now();
          throw error;
        },
      );
    }
    return (await keys)(header, token);
  };
}

/** Scopes granted by a token: `scope` (RFC 8693, space-separated) or `scp` (list or string). */
export function tokenScopes(payload: JWTPayload): Set<string> {
  const out = new Set<string>();
  const add = (v: unknown) => {
    if (typeof v === 'string') {
      for (const s of v.split(' ')) if (s !== '') out.add(s);
    } else if (Array.isArray(v)) {
      for (const s of v) if (typeof s === 'string' && s !== '') out.add(s);
    }
  };
  add(payload.scope);
  add(payload.scp);
  return out;
}

/** Verifies JWTs against one generation of `jwt_auth`. */
export class JwtAuthenticator {
  private readonly getKey: KeyGetter;
  /** Identifies the remote key set and its knobs, so a reload that keeps them keeps the cache. */
  readonly remoteId: string | undefined;
  private readonly options: Parameters<typeof jwtVerify>[2];

  /** The remote key set (with its cache), handed on to the next generation when unchanged. */
  private readonly remote: KeyGetter | undefined;

  private constructor(
    private readonly config: ResolvedJwtAuth,
    jwks: KeyGetter | undefined,
    remoteId: string | undefined,
  ) {
    this.remoteId = remoteId;
    this.remote = remoteId !== undefined ? jwks : undefined;
    const secret = config.secret;
    this.getKey = async (header, token) => {
      if (header.alg?.startsWith('HS')) {
        // jwtVerify already refused an HS* alg not in `algorithms`; this guards a JWKS `oct` key too.
        if (!secret) throw new joseErrors.JWKSNoMatchingKey();
        return secret;
      }
      if (!jwks) throw new joseErrors.JWKSNoMatchingKey();
      return jwks(header, token);
    };
    this.options = {
      algorithms: config.algorithms,
      clockTolerance: config.clockToleranceSec,
      // A token without an expiry would be valid forever: refuse it (jose checks exp only when present).
      requiredClaims: ['exp'],
      ...(config.issuer ? { issuer: config.issuer } : {}),
      ...(config.audience ? { audience: config.audience } : {}),
    };
  }

  /**
   * Builds the authenticator. A remote key set is taken over from `previous` when its URL and knobs
   * did not change, so a reload does not refetch it.
   * @example
   * const jwt = JwtAuthenticator.create(config.jwtAuth);
   * const result = await jwt.verify(token);
   */
  static create(config: ResolvedJwtAuth, previous?: JwtAuthenticator): JwtAuthenticator {
    const jwks = config.jwks;
    if (!jwks && !config.kubernetes) return new JwtAuthenticator(config, undefined, undefined);
    if (jwks?.kind === 'file') return new JwtAuthenticator(config, createLocalJWKSet(jwks.keys), undefined);
    const id = remoteKey(config);
    if (previous?.remote && previous.remoteId === id) return new JwtAuthenticator(config, previous.remote, id);
    if (!jwks) return new JwtAuthenticator(config, discoveredKeySet(config), id);
    return new JwtAuthenticator(config, remoteKeySet(jwks.url, config, config.kubernetes ? clusterFetch(clusterFetchOptions(config)) : undefined), id);
  }

  /** Verifies a compact JWS. Never throws; the token is not kept or logged. */
  async verify(token: string): Promise<JwtResult> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, this.options));
    } catch (error) {
      return failure(error);
    }
    if (this.config.kubernetes) return kubernetesClaims(payload, this.config.kubernetes, Date.now(), this.config.clockToleranceSec);
    const claim = payload[this.config.principalClaim];
    if (typeof claim !== 'string' || claim === '') {
      return { ok: false, reason: 'invalid_token', detail: `missing or non-string claim "${this.config.principalClaim}"` };
    }
    if (this.config.requiredScopes.length > 0) {
      const scopes = tokenScopes(payload);
      const missing = this.config.requiredScopes.filter((s) => !scopes.has(s));
      if (missing.length > 0) return { ok: false, reason: 'insufficient_scope', detail: `missing scope ${missing.join(' ')}`, name: claim };
    }
    let groups: string[] = [];
    if (this.config.groupsClaim !== undefined) {
      const raw = payload[this.config.groupsClaim];
      if (Array.isArray(raw)) groups = raw.filter((g): g is string => typeof g === 'string' && g !== '');
      else if (typeof raw === 'string') groups = raw.split(' ').filter((g) => g !== '');
    }
    return { ok: true, principal: { name: claim, method: 'jwt', groups } };
  }

  /** `scope="…"` for an `insufficient_scope` challenge (RFC 6750 §3). */
  get requiredScope(): string {
    return this.config.requiredScopes.join(' ');
  }
}

/**
 * A remote JWK Set with jose's cache, kept usable through an IdP outage: the last fetched keys
 * keep verifying (stale-while-revalidate), and at most one fetch per cooldown is started.
 * @param fetchImpl how to fetch (Kubernetes mode: the cluster CA and a bearer token); default fetch.
 */
export function remoteKeySet(url: string, config: ResolvedJwtAuth, fetchImpl?: FetchImplementation): KeyGetter {
  const remote = createRemoteJWKSet(new URL(url), {
    cooldownDuration: config.jwksCooldownMs,
    timeoutDuration: config.jwksTimeoutMs,
    cacheMaxAge: config.jwksMaxAgeMs,
    ...(fetchImpl ? { [customFetch]: fetchImpl } : {}),
  });
  // When a refresh fails (IdP down, network), keep verifying with the last key set fetched
  // rather than refusing every scrape: those keys were trusted a moment ago. Only with no key
  // set at all does an outage refuse (503).
  // The last fetched key set as a local verifier, rebuilt only after a fetch (not per request).
  let stale: KeyGetter | undefined;
  let lastFailedReload = -Infinity;
  const lastKeys = (): KeyGetter | undefined => {
    if (!stale) {
      const cached = remote.jwks();
      if (!cached) return undefined;
      stale = createLocalJWKSet(cached);
    }
    return stale;
  };
  const refreshInBackground = (): void => {
    // At most one refresh in flight, and after a failure none before the cooldown has passed:
    // an IdP outage costs one fetch per cooldown, not one per scrape.
    if (remote.reloading || Date.now() - lastFailedReload < config.jwksCooldownMs) return;
    remote.reload().then(
      () => (stale = undefined), // rebuilt from the new set on next use
      () => (lastFailedReload = Date.now()), // keep the old keys
    );
  };
  const withFallback: KeyGetter = async (header, token) => {
    // Keys past jwks_max_age: verify with them now and refresh in the background
    // (stale-while-revalidate), so a slow IdP never holds a scrape for jwks_timeout. Only a
    // kid the old set lacks waits for a fetch (below), as on first use.
    if (!remote.fresh) {
      const keys = lastKeys();
      if (keys) {
        refreshInBackground();
        try {
          return await keys(header, token);
        } catch (error) {
          if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
        }
      }
    }
    // A fetch failed less than a cooldown ago: no new one for this token either. jose's own
    // cooldown counts from the last successful fetch only, so during an outage every token with
    // an unknown kid (or every token while no key set was ever fetched) would start another
    // fetch: a flood of such tokens would turn into a stream of requests to the IdP.
    if (Date.now() - lastFailedReload < config.jwksCooldownMs) {
      const keys = lastKeys();
      if (!keys) throw new joseErrors.JWKSTimeout('the JSON Web Key Set could not be fetched; not retrying before jwks_cooldown has passed');
      return keys(header, token);
    }
    try {
      const key = await remote(header, token);
      stale = undefined; // the remote set may have been refetched: rebuild the fallback from it when needed
      return key;
    } catch (error) {
      if (isUnavailable(error)) lastFailedReload = Date.now();
      const keys = lastKeys();
      if (!keys || !isUnavailable(error)) throw error;
      return keys(header, token);
    }
  };
  return withFallback;
}

function failure(error: unknown): JwtResult & { ok: false } {
  const code = (error as { code?: string }).code ?? 'ERR_UNKNOWN';
  if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired', detail: code };
  if (error instanceof joseErrors.JWTClaimValidationFailed) return { ok: false, reason: 'invalid_token', detail: `claim "${error.claim}" ${error.reason}` };
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys)
    return { ok: false, reason: 'unknown_key', detail: code };
  if (isUnavailable(error)) {
    return { ok: false, reason: 'jwks_unavailable', detail: `${code}: ${(error as Error).message}` };
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return { ok: false, reason: 'invalid_token', detail: `${code}: algorithm not allowed` };
  return { ok: false, reason: 'invalid_token', detail: code };
}

/** The key set could not be fetched (timeout, network, non-200, not a key set). */
function isUnavailable(error: unknown): boolean {
  return error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || isFetchFailure(error);
}

/** A network failure fetching the remote key set (fetch throws TypeError; jose passes non-200 as JOSEError). */
function isFetchFailure(error: unknown): boolean {
  if (error instanceof TypeError && /fetch/i.test(error.message)) return true;
  return error instanceof joseErrors.JOSEError && /Expected 200 OK from the JSON Web Key Set/.test(error.message);
}
