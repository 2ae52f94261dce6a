/**
 * What a scrapeguard server demands of its scraper, as plain data independent of the config
 * format: the scheme, the TLS facts the client must satisfy (server certificate to verify,
 * client-certificate policy, versions), the one credential kind to present, and the label drops
 * to mirror. `deriveRequirements` builds it from a {@link ResolvedConfig}; the renderers
 * (Prometheus, prometheus-operator) only ever see this description, so a new authentication
 * method needs a new derivation rule, not new renderers.
 */
import type { ClientAuthType, ResolvedConfig, TlsVersionName } from '../../config/schema.js';
import { ScrapeguardError } from '../../errors.js';
import { checkOptions } from '../../options.js';
import { REQUIREMENT_OPTIONS } from '../api-options.js';

/** How the server treats client certificates, from the scraper's point of view. */
export type ClientCertDemand =
  /** The server never asks for one. */
  | 'none'
  /** The server asks; presenting one is optional (RequestClientCert, VerifyClientCertIfGiven). */
  | 'optional'
  /** The handshake fails without one (RequireAnyClientCert, RequireAndVerifyClientCert). */
  | 'required';

/** TLS facts the scraper must match. */
export interface TlsRequirement {
  /** Certificate chain the server presents (PEM, leaf first). */
  serverCertPem: string;
  /** Where the server reads it from, when it is a file (a self-signed certificate is its own CA file). */
  serverCertFile?: string;
  clientCert: ClientCertDemand;
  /** Whether a presented client certificate is verified against {@link clientCaPem}. */
  clientCertVerified: boolean;
  /** CA bundle the server verifies client certificates with (PEM). */
  clientCaPem?: string;
  /** Its file, when it is one (often the same CA signed the server certificate: `init` does that). */
  clientCaFile?: string;
  /** A client certificate must carry one of these SANs. */
  clientAllowedSans?: readonly string[];
  minVersion: TlsVersionName;
  maxVersion: TlsVersionName;
}

/** A static bearer token as the server knows it: by digest only. */
export interface KnownBearerToken {
  name: string;
  /** SHA-256 of the token, lower-case hex. */
  sha256: string;
  /** Unix ms after which the server refuses it. */
  expiresAt?: number;
}

/** The one credential the scraper presents in the HTTP request. */
export type AuthRequirement =
  /** `basic_auth` with `password_file`. `passwordHash` (bcrypt) lets the generator check the file. */
  | { kind: 'basic'; username: string; passwordHash?: string }
  /**
   * `authorization` with `credentials_file`: a static bearer token (`tokens`/`revoked` let the
   * generator check the file by digest) or a JWT kept fresh in a file (`issuers`, `audiences`,
   * `requiredScopes` let it check the claims of the JWT there).
   */
  | {
      kind: 'authorization';
      type: 'Bearer';
      /** `kubernetes`: a projected service-account token (`jwt_auth.kubernetes`). */
      tokenKind: 'static' | 'jwt' | 'kubernetes';
      tokens?: readonly KnownBearerToken[];
      revoked?: readonly string[];
      issuers?: readonly string[];
      audiences?: readonly string[];
      requiredScopes?: readonly string[];
    }
  /** An API key in a request header (`header_auth`): Prometheus ≥ 2.55 `http_headers` with `files`. */
  | { kind: 'header'; header: string; keys: readonly KnownBearerToken[]; revoked: readonly string[] }
  /** `oauth2` client credentials: Prometheus fetches JWTs from the issuer's token endpoint. */
  | { kind: 'oauth2'; tokenUrl: string; clientId: string; scopes: readonly string[]; endpointParams?: Readonly<Record<string, string>> };

/** Everything the scraper side must match, independent of the server's config format. */
export interface ScrapeRequirements {
  scheme: 'http' | 'https';
  /** Present exactly when `scheme` is `https`. */
  tls?: TlsRequirement;
  auth?: AuthRequirement;
  /** Regular expressions (RE2, fully anchored by Prometheus) of label names to drop on ingestion. */
  labelDrops: readonly string[];
  /**
   * The metrics path is listed in `auth_excluded_paths` with `force: true`: the server serves it
   * without authentication, so the scraper presents no credential (sending one would only
   * expose it). `auth` is then absent.
   */
  authExcluded?: boolean;
}

/** OAuth 2.0 client-credentials settings for servers that accept JWTs from an issuer. */
export interface OAuth2Options {
  tokenUrl: string;
  clientId: string;
  scopes?: readonly string[];
  endpointParams?: Readonly<Record<string, string>>;
}

/** Which credential the scraper presents when the server accepts several (`none`: the client certificate alone). */
export type AuthChoice = 'basic' | 'bearer' | 'header' | 'jwt' | 'none';

/** Choices the server config cannot make for the scraper. */
export interface RequirementOptions {
  /** The credential to present; default: the only method the server accepts (an error when it accepts several). */
  auth?: AuthChoice;
  /**
   * More label-name regexes to drop on ingestion (added to those the server redacts), e.g. for
   * labels another layer strips.
   */
  labelDrops?: readonly string[];
  /** Basic-auth user to scrape as; default: the only user, or `prometheus` when there are several. */
  username?: string;
  /**
   * Use `oauth2` for JWT authentication (offline, the issuer's token endpoint cannot be
   * discovered, so it is given). Without it, JWTs are presented from a credentials file.
   */
  oauth2?: OAuth2Options;
  /**
   * The path Prometheus scrapes (default `/metrics`): when `auth_excluded_paths` force-excludes
   * it, the scraper needs no credential.
   */
  metricsPath?: string;
}

const REQUIRED: ReadonlySet<ClientAuthType> = new Set(['RequireAnyClientCert', 'RequireAndVerifyClientCert']);
const OPTIONAL: ReadonlySet<ClientAuthType> = new Set(['RequestClientCert', 'VerifyClientCertIfGiven']);
const VERIFIED: ReadonlySet<ClientAuthType> = new Set(['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert']);

/**
 * Derives what the scraper must match from a validated configuration.
 * Throws a `SCRAPE_CONFIG` {@link ScrapeguardError} when a choice is impossible (an unknown
 * `username`, `oauth2` for a server that accepts no JWTs).
 * @example
 * const config = await loadConfigFile('web-config.yml');
 * const req = deriveRequirements(config, { username: 'prometheus' });
 * req.scheme;      // 'https'
 * req.auth?.kind;  // 'basic'
 */
export function deriveRequirements(config: ResolvedConfig, options: RequirementOptions = {}): ScrapeRequirements {
  checkOptions('deriveRequirements', options, REQUIREMENT_OPTIONS);
  const tls = config.tls;
  const requirements: ScrapeRequirements = {
    scheme: tls ? 'https' : 'http',
    labelDrops: [],
  };
  if (tls) {
    requirements.tls = {
      serverCertPem: tls.certPem,
      ...(tls.certFile !== undefined ? { serverCertFile: tls.certFile } : {}),
      clientCert: REQUIRED.has(tls.clientAuth) ? 'required' : OPTIONAL.has(tls.clientAuth) ? 'optional' : 'none',
      clientCertVerified: VERIFIED.has(tls.clientAuth),
      ...(tls.clientCaPem !== undefined ? { clientCaPem: tls.clientCaPem } : {}),
      ...(tls.clientCaFile !== undefined ? { clientCaFile: tls.clientCaFile } : {}),
      ...(tls.clientAllowedSans !== undefined ? { clientAllowedSans: [...tls.clientAllowedSans] } : {}),
      minVersion: tls.minVersion,
      maxVersion: tls.maxVersion,
    };
  }
  const identity = config as ResolvedConfig & IdentitySections;
  // redaction.drop_labels are anchored regexes on label names, as labeldrop's are: mirrored as is.
  const labelDrops = [...(identity.redaction?.dropLabels ?? []), ...(options.labelDrops ?? [])];
  const metricsPath = options.metricsPath ?? '/metrics';
  if ((config.authExcludedPaths ?? []).some((e) => e.force && e.path === metricsPath)) {
    // The core skips authentication for this path (a client certificate is still checked at the
    // TLS layer): a credential in the scrape job would be sent in every request for nothing.
    const asked =
      options.auth !== undefined && options.auth !== 'none'
        ? `--auth ${options.auth}`
        : options.username !== undefined
          ? 'a basic-auth user'
          : options.oauth2 !== undefined
            ? 'oauth2 settings'
            : undefined;
    if (asked !== undefined) {
      throw new ScrapeguardError(
        'SCRAPE_CONFIG',
        `${asked} was given, but ${metricsPath} is excluded from authentication (auth_excluded_paths, force: true): the server ignores credentials there`,
      );
    }
    return { ...requirements, labelDrops, authExcluded: true };
  }
  const accepted: AuthChoice[] = [];
  if (config.basicAuthUsers.size > 0) accepted.push('basic');
  if (identity.bearerAuth !== undefined && identity.bearerAuth.tokens.length > 0) accepted.push('bearer');
  if (identity.headerAuth !== undefined && identity.headerAuth.keys.length > 0) accepted.push('header');
  if (identity.jwtAuth !== undefined) accepted.push('jwt');
  const choice = chooseAuth(accepted, options, identity.clientCertAuth !== undefined);
  if (choice === 'basic') requirements.auth = basicRequirement(config, options.username);
  else if (options.username !== undefined) {
    throw new ScrapeguardError(
      'SCRAPE_CONFIG',
      accepted.includes('basic')
        ? 'a basic-auth user was given, but another credential was chosen'
        : 'a basic-auth user was given, but the web config has no basic_auth_users',
    );
  }
  if (choice === 'bearer') {
    const bearer = identity.bearerAuth!;
    requirements.auth = {
      kind: 'authorization',
      type: 'Bearer',
      tokenKind: 'static',
      tokens: bearer.tokens.map((t) => ({ name: t.name, sha256: t.sha256, ...(t.expiresAt !== undefined ? { expiresAt: t.expiresAt } : {}) })),
      revoked: [...bearer.revoked],
    };
  } else if (choice === 'header') {
    const header = identity.headerAuth!;
    requirements.auth = {
      kind: 'header',
      header: header.header,
      keys: header.keys.map((t) => ({ name: t.name, sha256: t.sha256, ...(t.expiresAt !== undefined ? { expiresAt: t.expiresAt } : {}) })),
      revoked: [...header.revoked],
    };
  } else if (choice === 'jwt' && identity.jwtAuth?.kubernetes !== undefined) {
    const jwt = identity.jwtAuth;
    if (options.oauth2 !== undefined)
      throw new ScrapeguardError('SCRAPE_CONFIG', 'oauth2 does not apply to jwt_auth.kubernetes: Prometheus presents its service-account token from a file');
    requirements.auth = {
      kind: 'authorization',
      type: 'Bearer',
      tokenKind: 'kubernetes',
      ...(jwt.issuer !== undefined ? { issuers: [...jwt.issuer] } : {}),
      ...(jwt.audience !== undefined ? { audiences: [...jwt.audience] } : {}),
    };
  } else if (choice === 'jwt') {
    const jwt = identity.jwtAuth!;
    if (options.oauth2 !== undefined) {
      requirements.auth = {
        kind: 'oauth2',
        tokenUrl: options.oauth2.tokenUrl,
        clientId: options.oauth2.clientId,
        // Ask the issuer for what the server will demand, unless told otherwise.
        scopes: [...(options.oauth2.scopes ?? jwt.requiredScopes ?? [])],
        ...(options.oauth2.endpointParams !== undefined ? { endpointParams: { ...options.oauth2.endpointParams } } : {}),
      };
    } else {
      requirements.auth = {
        kind: 'authorization',
        type: 'Bearer',
        tokenKind: 'jwt',
        ...(jwt.issuer !== undefined ? { issuers: [...jwt.issuer] } : {}),
        ...(jwt.audience !== undefined ? { audiences: [...jwt.audience] } : {}),
        ...(jwt.requiredScopes !== undefined && jwt.requiredScopes.length > 0 ? { requiredScopes: [...jwt.requiredScopes] } : {}),
      };
    }
  } else if (options.oauth2 !== undefined) {
    throw new ScrapeguardError(
      'SCRAPE_CONFIG',
      accepted.includes('jwt')
        ? 'oauth2 settings were given, but another credential was chosen'
        : 'oauth2 settings were given, but the web config accepts no JWTs (no jwt_auth section)',
    );
  }
  requirements.labelDrops = labelDrops;
  return requirements;
}

/**
 * The identity sections (`bearer_auth`, `jwt_auth`, `client_cert_auth`) and `redaction`, as the
 * loader resolves them, read structurally (only the facts the scraper must match), so this module
 * does not depend on which of those sections a build has.
 */
interface IdentitySections {
  bearerAuth?: { tokens: readonly KnownBearerToken[]; revoked: readonly string[] };
  jwtAuth?: { issuer?: readonly string[]; audience?: readonly string[]; requiredScopes?: readonly string[]; kubernetes?: unknown };
  headerAuth?: { header: string; keys: readonly KnownBearerToken[]; revoked: readonly string[] };
  clientCertAuth?: unknown;
  /** `redaction` (the redaction issue): `drop_labels` as written. */
  redaction?: { dropLabels?: readonly string[] };
}

function chooseAuth(accepted: readonly AuthChoice[], options: RequirementOptions, certIdentity: boolean): AuthChoice {
  const list = accepted.length > 0 ? accepted.join(', ') : 'no HTTP credential';
  const chosen = options.auth ?? (options.oauth2 !== undefined ? 'jwt' : options.username !== undefined ? 'basic' : undefined);
  if (chosen === undefined) {
    if (accepted.length <= 1) return accepted[0] ?? 'none';
    throw new ScrapeguardError('SCRAPE_CONFIG', `the web config accepts ${list}; choose the credential Prometheus presents (--auth)`);
  }
  if (!['basic', 'bearer', 'header', 'jwt', 'none'].includes(chosen))
    throw new ScrapeguardError('SCRAPE_CONFIG', `auth must be basic, bearer, header, jwt or none, got ${JSON.stringify(chosen)}`);
  if (chosen === 'none') {
    // Only a client-certificate identity lets a request without an HTTP credential in.
    if (accepted.length > 0 && !certIdentity) throw new ScrapeguardError('SCRAPE_CONFIG', `the web config demands ${list}; without one every scrape gets 401`);
    return 'none';
  }
  if (!accepted.includes(chosen)) {
    const why =
      options.auth === undefined && chosen === 'jwt'
        ? 'oauth2 settings were given, but the web config accepts no JWTs (no jwt_auth section)'
        : options.auth === undefined && chosen === 'basic'
          ? 'a basic-auth user was given, but the web config has no basic_auth_users'
          : `auth ${chosen} was chosen, but the web config accepts ${list}`;
    throw new ScrapeguardError('SCRAPE_CONFIG', why);
  }
  return chosen;
}

function basicRequirement(config: ResolvedConfig, requested: string | undefined): AuthRequirement {
  const users = [...config.basicAuthUsers.keys()];
  const username = requested ?? (users.length === 1 ? users[0] : users.includes('prometheus') ? 'prometheus' : undefined);
  if (username === undefined) {
    throw new ScrapeguardError('SCRAPE_CONFIG', `basic_auth_users has ${users.length} users (${users.join(', ')}); choose the one Prometheus scrapes as`);
  }
  const passwordHash = config.basicAuthUsers.get(username);
  if (passwordHash === undefined) {
    throw new ScrapeguardError('SCRAPE_CONFIG', `user ${JSON.stringify(username)} is not in basic_auth_users (users: ${users.join(', ')})`);
  }
  return { kind: 'basic', username, passwordHash };
}
