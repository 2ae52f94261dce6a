/**
 * What a scrapeguard server demands of its scraper, as plain data independent of the config
 * format: the scheme, the TLS facts the client must satisfy (server certificate to verify,
 * client-certificate policy, versions), the one credential kind to present, and the label drops
 * to mirror. `deriveRequirements` builds it from a {@link ResolvedConfig}; the renderers
 * (Prometheus, prometheus-operator) only ever see this description, so a new authentication
 * method needs a new derivation rule, not new renderers.
 */
import type { ClientAuthType, ResolvedConfig, TlsVersionName } from '../config/schema.js';
import { ScrapeguardError } from '../errors.js';

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

/** The one credential the scraper presents in the HTTP request. */
export type AuthRequirement =
  /** `basic_auth` with `password_file`. `passwordHash` (bcrypt) lets the generator check the file. */
  | { kind: 'basic'; username: string; passwordHash?: string }
  /** `authorization` with `credentials_file`: static bearer tokens or a JWT kept fresh in a file. */
  | { kind: 'authorization'; type: 'Bearer'; tokenKind: 'static' | 'jwt' }
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
}

/** OAuth 2.0 client-credentials settings for servers that accept JWTs from an issuer. */
export interface OAuth2Options {
  tokenUrl: string;
  clientId: string;
  scopes?: readonly string[];
  endpointParams?: Readonly<Record<string, string>>;
}

/** Choices the server config cannot make for the scraper. */
export interface RequirementOptions {
  /** Basic-auth user to scrape as; default: the only user, or `prometheus` when there are several. */
  username?: string;
  /**
   * Use `oauth2` for JWT authentication (offline, the issuer's token endpoint cannot be
   * discovered, so it is given). Without it, JWTs are presented from a credentials file.
   */
  oauth2?: OAuth2Options;
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
  if (options.oauth2 !== undefined) {
    // Today's configuration has no JWT authentication; an oauth2 client could not log in.
    throw new ScrapeguardError('SCRAPE_CONFIG', 'oauth2 settings were given, but the web config accepts no JWTs (no jwt_auth section)');
  }
  if (config.basicAuthUsers.size > 0) {
    const users = [...config.basicAuthUsers.keys()];
    const username = options.username ?? (users.length === 1 ? users[0] : users.includes('prometheus') ? 'prometheus' : undefined);
    if (username === undefined) {
      throw new ScrapeguardError('SCRAPE_CONFIG', `basic_auth_users has ${users.length} users (${users.join(', ')}); choose the one Prometheus scrapes as`);
    }
    const passwordHash = config.basicAuthUsers.get(username);
    if (passwordHash === undefined) {
      throw new ScrapeguardError('SCRAPE_CONFIG', `user ${JSON.stringify(username)} is not in basic_auth_users (users: ${users.join(', ')})`);
    }
    requirements.auth = { kind: 'basic', username, passwordHash };
  } else if (options.username !== undefined) {
    throw new ScrapeguardError('SCRAPE_CONFIG', `a basic-auth user was given, but the web config has no basic_auth_users`);
  }
  return requirements;
}
