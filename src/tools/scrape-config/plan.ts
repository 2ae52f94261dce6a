/**
 * The matching step between what the server demands ({@link ScrapeRequirements}) and what the
 * scraper has: which files it presents (found by explicit path or by the credentials-directory
 * convention), which server name it verifies, which TLS versions it offers, for which
 * Prometheus version. The result, a {@link ScrapePlan}, is format-neutral: the Prometheus and
 * prometheus-operator renderers only spell it. Everything the scraper could not match becomes a
 * warning (never a secret in it); what makes a usable config impossible throws `SCRAPE_CONFIG`.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { isAbsolute, join, resolve } from 'node:path';
import { verify as bcryptVerify } from '@node-rs/bcrypt';
import type { TlsVersionName } from '../../config/schema.js';
import { ScrapeguardError } from '../../errors.js';
import { allSanValues, canonicalIp, compileAllowedSans, subjectAltNames } from '../../tls/client-cert.js';
import { TLS_VERSION_RANK } from '../../tls/names.js';
import type { ScrapeRequirements } from './requirements.js';
import { atLeast, formatVersion, OPERATOR_FIELD_SINCE, operatorSupports, supports, type OperatorVersion, type PrometheusVersion } from './versions.js';
import { allowsClientAuth, certificateCovers, chainSignedBy, describeNames, isSelfSigned, keyMatches, parseCertificates, serverNames } from '../../tls/x509.js';

/** Files the scraper presents, each given explicitly (it must then exist). */
export interface CredentialFiles {
  /** CA bundle that verifies the server certificate (Prometheus `tls_config.ca_file`). */
  caFile?: string;
  /** Client certificate and key (`tls_config.cert_file` / `key_file`). */
  certFile?: string;
  keyFile?: string;
  /** Basic-auth password (`basic_auth.password_file`). */
  passwordFile?: string;
  /** Bearer token or JWT (`authorization.credentials_file`). */
  credentialsFile?: string;
  /** OAuth 2.0 client secret (`oauth2.client_secret_file`). */
  clientSecretFile?: string;
  /**
   * CA bundle that verifies the OAuth 2.0 token endpoint (`oauth2.tls_config.ca_file`), when a
   * private CA signed it (default: the system roots).
   */
  oauth2CaFile?: string;
  /** API key for `header_auth` (`http_headers.NAME.files`). */
  apiKeyFile?: string;
}

/** The first Prometheus whose `http_headers` reads `files` as scrapeguard needs (documented since 2.55). */
export const HTTP_HEADERS_FILES_SINCE: PrometheusVersion = { major: 2, minor: 55 };

/** Where Kubernetes mounts a pod's service-account token; Prometheus in a pod has its own there. */
export const SERVICE_ACCOUNT_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * File names looked up in the credentials directory, the layout `scrapeguard init` writes.
 * @example
 * join(credentialsDir, CREDENTIAL_FILE_NAMES.passwordFile); // …/password
 */
export const CREDENTIAL_FILE_NAMES: Readonly<Record<keyof CredentialFiles, string>> = {
  caFile: 'ca.crt',
  certFile: 'client.crt',
  keyFile: 'client.key',
  passwordFile: 'password',
  credentialsFile: 'token',
  clientSecretFile: 'client-secret',
  oauth2CaFile: 'oauth2-ca.crt',
  apiKeyFile: 'api-key',
};

/** Inputs of {@link planScrape}. */
export interface PlanOptions {
  /** `HOST:PORT` of each target; may be empty for Kubernetes, where targets are discovered. */
  targets: readonly string[];
  /** Name to verify the server certificate against instead of each target's host. */
  serverName?: string;
  /** Files given explicitly (relative paths resolve against {@link baseDir}). */
  files?: CredentialFiles;
  /**
   * Where the scraper's files are (or will be): `ca.crt`, `client.crt`, `client.key`, `password`,
   * `token`, `client-secret`. Files missing there are referenced anyway, with a warning.
   */
  credentialsDir?: string;
  /**
   * Where to look when no {@link credentialsDir} is given (the web config's directory): a
   * file the scraper needs that is not there is an error, not a warning.
   */
  fallbackDir?: string;
  /** Directory relative paths resolve against (default `process.cwd()`). */
  baseDir?: string;
  prometheusVersion: PrometheusVersion;
  /** The prometheus-operator release the manifests are for (operator output only). */
  operatorVersion?: OperatorVersion;
  /**
   * The target can serve native histograms (protobuf): `serve --upstream` in front of a
   * client_golang exporter or a Prometheus. The job then asks for `PrometheusProto` first.
   */
  nativeHistograms?: boolean;
  /** Targets are discovered by Kubernetes (pod or endpoint IPs), not known here. */
  discoveredTargets?: boolean;
  /** Clock for validity checks (tests). */
  now?: Date;
}

/** The scraper's TLS settings. */
export interface PlannedTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  serverName?: string;
  minVersion?: TlsVersionName;
  maxVersion?: TlsVersionName;
}

/** The scraper's credential, by file. */
export type PlannedAuth =
  | { kind: 'basic'; username: string; passwordFile: string }
  /** `legacy`: Prometheus < 2.26 has no `authorization`; `bearer_token_file` does the same. */
  | { kind: 'authorization'; type: 'Bearer'; credentialsFile: string; legacy: boolean; serviceAccountToken?: boolean }
  /** `http_headers: {HEADER: {files: [keyFile]}}` (Prometheus ≥ 2.55). */
  | { kind: 'header'; header: string; keyFile: string }
  | {
      kind: 'oauth2';
      tokenUrl: string;
      clientId: string;
      scopes: readonly string[];
      endpointParams?: Readonly<Record<string, string>>;
      clientSecretFile: string;
      /** CA bundle for the token endpoint (`oauth2.tls_config.ca_file`). */
      caFile?: string;
    };

/** Everything a renderer needs, already matched and checked. */
export interface ScrapePlan {
  scheme: 'http' | 'https';
  /** Targets as Prometheus writes them (`host:port`, `[v6]:port`). */
  targets: string[];
  tls?: PlannedTls;
  auth?: PlannedAuth;
  labelDrops: string[];
  /** The metrics path is force-excluded from authentication: no credential is presented. */
  authExcluded?: boolean;
  /** Ask for protobuf first (the target serves native histograms); see {@link PlanOptions.nativeHistograms}. */
  nativeHistograms: boolean;
  /** Absolute paths of every file the plan references, by role (the operator renderer embeds them). */
  files: CredentialFiles;
  /** What the scraper cannot match or what looks wrong; one line each, never a secret. */
  warnings: string[];
}

/** A parsed `HOST:PORT`. */
export interface ScrapeTarget {
  host: string;
  port: number;
  /** As Prometheus writes it: `host:port`, IPv6 in brackets. */
  address: string;
}

/**
 * Parses `HOST:PORT` (`[IPv6]:PORT` for IPv6). Throws `SCRAPE_CONFIG` naming the target.
 * @example
 * parseTarget('[::1]:9443'); // { host: '::1', port: 9443, address: '[::1]:9443' }
 */
export function parseTarget(text: string): ScrapeTarget {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:/[\]@?#]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? m[2] ?? '') : '';
  if (!m || port < 1 || port > 65535 || (m[1] !== undefined && isIP(host) !== 6)) {
    throw new ScrapeguardError('SCRAPE_CONFIG', `target ${JSON.stringify(text)} is not HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535)`);
  }
  const v6 = m[1] !== undefined;
  const canonicalHost = v6 ? canonicalIp(host) : host;
  return { host: canonicalHost, port, address: v6 ? `[${canonicalHost}]:${port}` : `${canonicalHost}:${port}` };
}

const q = (s: string) => JSON.stringify(s);

/** JavaScript regex features Go's RE2 lacks (checked on the source text; escapes are skipped by the lookbehind). */
const RE2_UNSUPPORTED: readonly (readonly [RegExp, string])[] = [
  [/(?<!\\)\(\?<?[=!]/, 'a lookaround'],
  [/(?<!\\)\\[1-9]/, 'a backreference'],
  [/(?<!\\)\\k</, 'a named backreference'],
  [/(?<!\\)\(\?<[A-Za-z]/, 'a (?<name>…) group (RE2 in Prometheus 2.x spells it (?P<name>…))'],
];
const DAY_MS = 86_400_000;
const EXPIRY_NOTICE_DAYS = 14;

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Where one credential file comes from. */
interface Located {
  path: string;
  exists: boolean;
}

/**
 * Builds the plan. Throws `SCRAPE_CONFIG` when a required file is missing (explicit, or in the
 * fallback directory), when a client certificate is given without its key, or when the target
 * Prometheus cannot express the credential.
 * @example
 * const plan = await planScrape(deriveRequirements(config), {
 *   targets: ['localhost:9443'], credentialsDir: '/etc/prometheus/scrapeguard', prometheusVersion: { major: 2, minor: 42 },
 * });
 */
export async function planScrape(requirements: ScrapeRequirements, options: PlanOptions): Promise<ScrapePlan> {
  const warnings: string[] = [];
  const baseDir = options.baseDir ?? process.cwd();
  const now = options.now ?? new Date();
  const version = options.prometheusVersion;
  const explicit = options.files ?? {};
  const targets = options.targets.map(parseTarget);
  if (targets.length === 0 && !options.discoveredTargets) throw new ScrapeguardError('SCRAPE_CONFIG', 'at least one target (HOST:PORT) is needed');
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.address)) throw new ScrapeguardError('SCRAPE_CONFIG', `target ${t.address} is given twice`);
    seen.add(t.address);
  }
  const files: CredentialFiles = {};

  /** Explicit path (must exist), else the conventional name in the credentials/fallback dir. */
  const locate = async (role: keyof CredentialFiles, what: string, flag: string, required: boolean): Promise<Located | undefined> => {
    const given = explicit[role];
    if (given !== undefined) {
      const path = resolve(baseDir, given);
      if (!(await isFile(path))) throw new ScrapeguardError('SCRAPE_CONFIG', `${what} ${q(path)} (${flag}) does not exist or is not a file`);
      return { path, exists: true };
    }
    const dir = options.credentialsDir ?? options.fallbackDir;
    if (dir === undefined) {
      if (required) throw new ScrapeguardError('SCRAPE_CONFIG', `the ${what} is needed: give ${flag} or a credentials directory`);
      return undefined;
    }
    const path = resolve(baseDir, join(dir, CREDENTIAL_FILE_NAMES[role]));
    const exists = await isFile(path);
    if (exists) return { path, exists };
    if (!required) return undefined;
    if (options.credentialsDir === undefined) {
      throw new ScrapeguardError(
        'SCRAPE_CONFIG',
        `the ${what} is needed but ${q(path)} does not exist; give ${flag}, or a credentials directory where Prometheus will find ${CREDENTIAL_FILE_NAMES[role]}`,
      );
    }
    warnings.push(`${what} ${q(path)} does not exist (yet); Prometheus drops the job silently until it does`);
    return { path, exists: false };
  };

  let tls: PlannedTls | undefined;
  const req = requirements.tls;
  if (requirements.scheme === 'https') {
    if (!req) throw new ScrapeguardError('SCRAPE_CONFIG', 'scheme https needs TLS requirements');
    tls = await planTls(req, targets, options, version, now, locate, files, warnings);
  } else {
    if (req) throw new ScrapeguardError('SCRAPE_CONFIG', 'TLS requirements were given with scheme http');
    if (requirements.scheme !== 'http') throw new ScrapeguardError('SCRAPE_CONFIG', `scheme must be http or https, got ${q(String(requirements.scheme))}`);
    for (const role of ['caFile', 'certFile', 'keyFile'] as const) {
      if (explicit[role] !== undefined) warnings.push(`the server does not use TLS; the ${role} given is not used`);
    }
    if (requirements.auth) warnings.push("the server does not use TLS: the scraper's credentials travel in clear text");
  }

  let auth: PlannedAuth | undefined;
  const a = requirements.auth;
  if (a?.kind === 'basic') {
    const found = await locate('passwordFile', 'basic-auth password file', '--password-file', true);
    const path = found!.path;
    files.passwordFile = path;
    if (found!.exists) await checkPassword(path, a.username, a.passwordHash, warnings);
    auth = { kind: 'basic', username: a.username, passwordFile: path };
  } else if (a?.kind === 'authorization' && a.tokenKind === 'kubernetes') {
    // Prometheus in the cluster presents a service-account token from its own pod: the path is
    // one inside that pod (not checked here), by default the token Kubernetes mounts for it.
    const given = explicit.credentialsFile;
    if (given !== undefined && !isAbsolute(given)) {
      throw new ScrapeguardError(
        'SCRAPE_CONFIG',
        `for jwt_auth.kubernetes the credentials file is a path inside the Prometheus pod and must be absolute, got ${q(given)}`,
      );
    }
    const path = given ?? SERVICE_ACCOUNT_TOKEN_FILE;
    const audiences = (a.audiences ?? []).join(' or ');
    warnings.push(
      given === undefined
        ? `Prometheus presents its own service-account token ${q(path)}, whose audience is the API server's; the server accepts only ${audiences}: mount a projected serviceAccountToken volume with that audience and give its path (--credentials-file), or list the API server's audience in jwt_auth.audience (then this guard could replay the token to the API server)`
        : `${q(path)} in the Prometheus pod must hold a projected service-account token with audience ${audiences} (a serviceAccountToken volume); Prometheus re-reads it on every scrape`,
    );
    files.credentialsFile = path;
    auth = { kind: 'authorization', type: 'Bearer', credentialsFile: path, legacy: !supports(version, 'authorization'), serviceAccountToken: true };
  } else if (a?.kind === 'header') {
    if (!atLeast(version, HTTP_HEADERS_FILES_SINCE)) {
      throw new ScrapeguardError(
        'SCRAPE_CONFIG',
        `header_auth needs Prometheus ${formatVersion(HTTP_HEADERS_FILES_SINCE)} or later, which sends the key from a file with http_headers (target version ${formatVersion(version)}); give --prometheus-version ${formatVersion(HTTP_HEADERS_FILES_SINCE)} or later, or use bearer_auth for older Prometheus`,
      );
    }
    const found = await locate('apiKeyFile', 'API key file', '--api-key-file', true);
    files.apiKeyFile = found!.path;
    if (found!.exists)
      await checkStaticToken(
        found!.path,
        { kind: 'authorization', type: 'Bearer', tokenKind: 'static', tokens: a.keys, revoked: a.revoked },
        now,
        warnings,
        'header_auth keys',
      );
    warnings.push(
      'some Prometheus builds send an http_headers value once more on every scrape (prometheus/common#981, e.g. Debian prometheus 3.5.3+ds1-6); the server refuses a repeated key, so with such a build only the first scrape succeeds: use bearer_auth there',
    );
    auth = { kind: 'header', header: a.header, keyFile: found!.path };
  } else if (a?.kind === 'authorization') {
    const found = await locate('credentialsFile', a.tokenKind === 'jwt' ? 'JWT credentials file' : 'bearer token file', '--credentials-file', true);
    files.credentialsFile = found!.path;
    if (found!.exists) {
      if (a.tokenKind === 'static') await checkStaticToken(found!.path, a, now, warnings);
      else await checkJwt(found!.path, a, now, warnings);
    }
    auth = { kind: 'authorization', type: 'Bearer', credentialsFile: found!.path, legacy: !supports(version, 'authorization') };
  } else if (a?.kind === 'oauth2') {
    if (options.operatorVersion !== undefined && !operatorSupports(options.operatorVersion, 'oauth2')) {
      throw new ScrapeguardError(
        'SCRAPE_CONFIG',
        `oauth2 needs prometheus-operator 0.${OPERATOR_FIELD_SINCE.oauth2.minor} or later (target version ${formatVersion(options.operatorVersion)})`,
      );
    }
    if (!supports(version, 'oauth2')) {
      throw new ScrapeguardError('SCRAPE_CONFIG', `oauth2 needs Prometheus 2.27 or later (target version ${formatVersion(version)})`);
    }
    if (!/^https?:\/\/[^\s]+$/.test(a.tokenUrl)) throw new ScrapeguardError('SCRAPE_CONFIG', `oauth2 token URL ${q(a.tokenUrl)} is not an http(s) URL`);
    if (a.tokenUrl.startsWith('http:')) warnings.push(`oauth2 token URL ${q(a.tokenUrl)} is plain HTTP: the client secret travels in clear text`);
    if (a.clientId === '') throw new ScrapeguardError('SCRAPE_CONFIG', 'oauth2 client id must not be empty');
    const found = await locate('clientSecretFile', 'oauth2 client secret file', '--oauth2-client-secret-file', true);
    files.clientSecretFile = found!.path;
    if (found!.exists) await checkNotEmpty(found!.path, 'oauth2 client secret file', warnings);
    const ca = await locate('oauth2CaFile', 'oauth2 token endpoint CA file', '--oauth2-ca-file', false);
    if (ca !== undefined) {
      if (a.tokenUrl.startsWith('http:'))
        throw new ScrapeguardError('SCRAPE_CONFIG', `an oauth2 CA file was given, but the token URL ${q(a.tokenUrl)} is plain HTTP`);
      if (!supports(version, 'oauth2TlsConfig')) {
        throw new ScrapeguardError(
          'SCRAPE_CONFIG',
          `oauth2.tls_config (the token endpoint's own CA) needs Prometheus 2.31 or later (target version ${formatVersion(version)})`,
        );
      }
      if (options.operatorVersion !== undefined && !operatorSupports(options.operatorVersion, 'oauth2TlsConfig')) {
        // An older CRD prunes oauth2.tlsConfig: the token request would then verify against the system roots and fail.
        throw new ScrapeguardError(
          'SCRAPE_CONFIG',
          `oauth2.tlsConfig (the token endpoint's own CA) needs prometheus-operator 0.${OPERATOR_FIELD_SINCE.oauth2TlsConfig.minor} or later (target version ${formatVersion(options.operatorVersion)})`,
        );
      }
      files.oauth2CaFile = ca.path;
      if (parseCertificates(await readFile(ca.path, 'utf8')).length === 0) {
        warnings.push(`oauth2 CA file ${q(ca.path)} holds no PEM certificate: Prometheus refuses the job`);
      }
    }
    auth = {
      kind: 'oauth2',
      tokenUrl: a.tokenUrl,
      clientId: a.clientId,
      scopes: [...a.scopes],
      ...(a.endpointParams !== undefined ? { endpointParams: { ...a.endpointParams } } : {}),
      clientSecretFile: found!.path,
      ...(files.oauth2CaFile !== undefined ? { caFile: files.oauth2CaFile } : {}),
    };
  } else if (a !== undefined) {
    throw new ScrapeguardError('SCRAPE_CONFIG', `unknown auth kind ${q(String((a as { kind: unknown }).kind))}`);
  }
  if (requirements.authExcluded) {
    if (a !== undefined)
      throw new ScrapeguardError('SCRAPE_CONFIG', 'requirements say the metrics path is excluded from authentication but also name a credential');
    warnings.push(
      'the metrics path is excluded from authentication (auth_excluded_paths, force: true): anyone who reaches the port reads the metrics; the job presents no credential',
    );
  }
  if (explicit.oauth2CaFile !== undefined && a?.kind !== 'oauth2') warnings.push('the scraper does not use oauth2; the oauth2 CA file given is not used');
  for (const [role, flag] of [
    ['passwordFile', 'password'],
    ['credentialsFile', 'credentials'],
    ['clientSecretFile', 'client secret'],
    ['apiKeyFile', 'API key'],
  ] as const) {
    if (explicit[role] !== undefined && files[role] === undefined) warnings.push(`the server does not ask for a ${flag} file; the one given is not used`);
  }

  const labelDrops = [...new Set(requirements.labelDrops)];
  for (const re of labelDrops) {
    try {
      new RegExp(`^(?:${re})$`, 'u');
    } catch {
      throw new ScrapeguardError('SCRAPE_CONFIG', `label drop ${q(re)} is not a valid regular expression`);
    }
    // Prometheus compiles relabel regexes with Go's RE2, which refuses what it cannot run in linear time.
    const unsupported = RE2_UNSUPPORTED.find(([pattern]) => pattern.test(re));
    if (unsupported) throw new ScrapeguardError('SCRAPE_CONFIG', `label drop ${q(re)} uses ${unsupported[1]}, which Prometheus (RE2) does not support`);
  }

  const nativeHistograms = options.nativeHistograms === true;
  if (nativeHistograms) nativeHistogramWarnings(version, options.operatorVersion, warnings);

  return {
    scheme: requirements.scheme,
    targets: targets.map((t) => t.address),
    ...(tls ? { tls } : {}),
    ...(auth ? { auth } : {}),
    ...(requirements.authExcluded ? { authExcluded: true } : {}),
    nativeHistograms,
    labelDrops,
    files,
    warnings,
  };
}

/** What the target Prometheus (and operator) still needs before native histograms arrive. */
function nativeHistogramWarnings(version: PrometheusVersion, operator: OperatorVersion | undefined, warnings: string[]): void {
  const v = formatVersion(version);
  if (!supports(version, 'scrapeProtocols')) {
    warnings.push(`Prometheus ${v} has no per-job scrape_protocols (2.49+): start it with --enable-feature=native-histograms to make it ask for protobuf`);
    return;
  }
  if (operator !== undefined && !operatorSupports(operator, 'scrapeProtocols')) {
    warnings.push(
      `prometheus-operator ${formatVersion(operator)} has no scrapeProtocols (0.${OPERATOR_FIELD_SINCE.scrapeProtocols.minor}+): enable the native-histograms feature of the Prometheus resource instead`,
    );
    return;
  }
  const perJob = supports(version, 'scrapeNativeHistograms') && (operator === undefined || operatorSupports(operator, 'scrapeNativeHistograms'));
  if (!perJob) {
    // Without the flag Prometheus < 3.8 parses the protobuf but keeps only the classic buckets.
    warnings.push(
      `Prometheus ${v} ingests native histograms only with --enable-feature=native-histograms${operator !== undefined ? " (the Prometheus resource's enableFeatures)" : ''}; without it only the classic buckets are stored`,
    );
  }
}

type Locate = (role: keyof CredentialFiles, what: string, flag: string, required: boolean) => Promise<Located | undefined>;

async function planTls(
  req: NonNullable<ScrapeRequirements['tls']>,
  targets: readonly ScrapeTarget[],
  options: PlanOptions,
  version: PrometheusVersion,
  now: Date,
  locate: Locate,
  files: CredentialFiles,
  warnings: string[],
): Promise<PlannedTls> {
  const tls: PlannedTls = {};
  const chain = parseCertificates(req.serverCertPem);
  const leaf = chain[0];
  if (!leaf) throw new ScrapeguardError('SCRAPE_CONFIG', 'the server certificate is not a PEM certificate');
  validity(leaf, 'server certificate', now, warnings);

  // ---- the CA file that verifies the server certificate
  let caFile: string | undefined;
  let caExists = false;
  const explicitCa = options.files?.caFile;
  if (explicitCa !== undefined) {
    const found = await locate('caFile', 'CA file', '--ca-file', true);
    caFile = found!.path;
    caExists = true;
  } else if (options.credentialsDir !== undefined) {
    // The scraper's own directory: its ca.crt, referenced even before it exists (with a warning).
    const found = await locate('caFile', 'CA file', '--ca-file', true);
    caFile = found!.path;
    caExists = found!.exists;
  } else {
    const inDir = await locate('caFile', 'CA file', '--ca-file', false);
    if (inDir) {
      caFile = inDir.path;
      caExists = true;
    } else if (req.clientCaFile !== undefined && chainSignedBy(chain, parseCertificates(req.clientCaPem ?? ''))) {
      // One CA for both directions (what `init` writes): the server's client CA file verifies it.
      caFile = req.clientCaFile;
      caExists = await isFile(caFile);
    } else if (isSelfSigned(leaf) && req.serverCertFile !== undefined) {
      caFile = req.serverCertFile;
      caExists = await isFile(caFile);
      warnings.push(
        `the server certificate is self-signed; Prometheus trusts it by its own file ${q(caFile)} as ca_file (rotate both together; a CA-signed certificate is easier to renew)`,
      );
    } else {
      warnings.push(
        `no CA file for the server certificate (issuer ${leaf.issuer.replaceAll('\n', ', ')}); Prometheus will verify it against the system roots: give --ca-file if a private CA signed it`,
      );
    }
  }
  if (caFile !== undefined) {
    tls.caFile = caFile;
    files.caFile = caFile;
    if (caExists) {
      const roots = parseCertificates(await readFile(caFile, 'utf8'));
      if (roots.length === 0) {
        warnings.push(`CA file ${q(caFile)} holds no PEM certificate: Prometheus refuses the job ("unable to use specified CA cert")`);
      } else if (!chainSignedBy(chain, roots)) {
        // A leaf-only chain whose issuer is nowhere to be found: most likely a missing intermediate.
        const leafOnly = chain.length === 1 && !roots.some((r) => r.subject === leaf.issuer);
        warnings.push(
          `CA file ${q(caFile)} did not sign the server certificate (issuer ${leaf.issuer.replaceAll('\n', ', ')}): Prometheus will report "x509: certificate signed by unknown authority"` +
            (leafOnly ? "; the server sends no intermediate certificate: if an intermediate CA issued it, append it to the server's cert_file" : ''),
        );
      } else {
        for (const root of roots) if (chainSignedBy([leaf, ...chain.slice(1)], [root])) validity(root, `CA certificate in ${q(caFile)}`, now, warnings);
      }
    }
  }

  // ---- the name the certificate is verified against
  const names = serverNames(leaf);
  if (names.dns.length === 0 && names.ip.length === 0) {
    warnings.push('the server certificate has no subject alternative names; Prometheus (Go) ignores the CN and cannot verify it: reissue it with SANs');
  }
  const pick = names.dns.find((n) => !n.startsWith('*.')) ?? names.ip[0];
  if (options.serverName !== undefined) {
    if (options.serverName === '' || /\s/.test(options.serverName))
      throw new ScrapeguardError('SCRAPE_CONFIG', `server name ${q(options.serverName)} is not a host name`);
    tls.serverName = options.serverName;
    if (!certificateCovers(names, options.serverName)) {
      warnings.push(
        `the server certificate is not valid for server name ${q(options.serverName)} (names: ${describeNames(names)}): Prometheus will report "x509: certificate is valid for …, not ${options.serverName}"`,
      );
    }
  } else if (options.discoveredTargets) {
    // Kubernetes scrapes pod/endpoint IPs, which a certificate rarely names.
    if (pick !== undefined) {
      tls.serverName = pick;
      warnings.push(`discovered targets are addressed by IP; the server certificate is verified as ${q(pick)} (set a server name to choose another)`);
    } else if (names.dns.length > 0) {
      warnings.push(`the server certificate names only wildcards (${describeNames(names)}); give a server name it covers`);
    }
  } else {
    const uncovered = targets.filter((t) => !certificateCovers(names, t.host));
    if (uncovered.length > 0) {
      const list = uncovered.map((t) => t.host).join(', ');
      if (pick !== undefined) {
        tls.serverName = pick;
        warnings.push(
          `the server certificate does not name ${list} (names: ${describeNames(names)}); server_name set to ${q(pick)} (give a server name to choose another)`,
        );
      } else if (names.dns.length > 0 || names.ip.length > 0) {
        warnings.push(`the server certificate does not name ${list} and names only wildcards (${describeNames(names)}); give a server name it covers`);
      } else {
        warnings.push(`the server certificate does not name ${list}; Prometheus will fail to verify it`);
      }
    }
  }

  // ---- the client certificate
  const explicitCert = options.files?.certFile !== undefined;
  const explicitKey = options.files?.keyFile !== undefined;
  if (explicitCert !== explicitKey) {
    throw new ScrapeguardError('SCRAPE_CONFIG', 'a client certificate file needs its key file and the reverse (--cert-file with --key-file)');
  }
  if (req.clientCert === 'none') {
    if (explicitCert) warnings.push('the server does not ask for client certificates; the certificate given is not used');
  } else {
    const required = req.clientCert === 'required';
    const cert = await locate('certFile', 'client certificate file', '--cert-file', required);
    const key = cert ? await locate('keyFile', 'client key file', '--key-file', true) : undefined;
    if (cert && key) {
      tls.certFile = cert.path;
      tls.keyFile = key.path;
      files.certFile = cert.path;
      files.keyFile = key.path;
      if (cert.exists && key.exists) await checkClientCert(cert.path, key.path, req, now, warnings);
    }
  }

  // ---- TLS versions
  const rank = TLS_VERSION_RANK;
  if (rank[req.minVersion] > rank[req.maxVersion]) {
    throw new ScrapeguardError('SCRAPE_CONFIG', `the server's min_version ${req.minVersion} is above its max_version ${req.maxVersion}`);
  }
  // Mirror the server's floor, but never offer less than TLS 1.2 unless the server speaks nothing newer.
  const min: TlsVersionName = rank[req.maxVersion] < rank.TLS12 ? req.minVersion : rank[req.minVersion] < rank.TLS12 ? 'TLS12' : req.minVersion;
  if (rank[req.maxVersion] < rank.TLS12) warnings.push(`the server speaks at most ${req.maxVersion}, an obsolete TLS version`);
  if (supports(version, 'tlsMinVersion')) {
    tls.minVersion = min;
  } else if (rank[req.maxVersion] < rank.TLS12) {
    warnings.push(
      `Prometheus ${formatVersion(version)} cannot set tls_config.min_version (2.35+) and offers TLS 1.2 at least; the server allows at most ${req.maxVersion}: the handshake fails`,
    );
  }
  if (req.maxVersion !== 'TLS13' && supports(version, 'tlsMaxVersion')) tls.maxVersion = req.maxVersion;
  if (tls.minVersion !== undefined && tls.maxVersion !== undefined && rank[tls.minVersion] > rank[tls.maxVersion]) {
    throw new ScrapeguardError('SCRAPE_CONFIG', `tls_config.min_version ${tls.minVersion} is above max_version ${tls.maxVersion}`);
  }
  return tls;
}

function validity(cert: X509Certificate, what: string, now: Date, warnings: string[]): void {
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() < now.getTime()) {
    warnings.push(`${what} expired on ${notAfter.toISOString()}: Prometheus will report "x509: certificate has expired or is not yet valid"`);
  } else if (notBefore.getTime() > now.getTime()) {
    warnings.push(`${what} is not valid before ${notBefore.toISOString()}: Prometheus will report "x509: certificate has expired or is not yet valid"`);
  } else if (notAfter.getTime() - now.getTime() < EXPIRY_NOTICE_DAYS * DAY_MS) {
    warnings.push(`${what} expires on ${notAfter.toISOString()}, in less than ${EXPIRY_NOTICE_DAYS} days`);
  }
}

async function checkClientCert(certFile: string, keyFile: string, req: NonNullable<ScrapeRequirements['tls']>, now: Date, warnings: string[]): Promise<void> {
  const certs = parseCertificates(await readFile(certFile, 'utf8'));
  const cert = certs[0];
  if (!cert) {
    warnings.push(`client certificate file ${q(certFile)} holds no PEM certificate: Prometheus refuses the job`);
    return;
  }
  validity(cert, `client certificate ${q(certFile)}`, now, warnings);
  // The key is read only to check that it belongs to the certificate; it is never shown.
  if (!keyMatches(cert, await readFile(keyFile, 'utf8'))) {
    warnings.push(`client key file ${q(keyFile)} is not the private key of ${q(certFile)}: Prometheus refuses the job`);
  }
  if (!allowsClientAuth(cert)) {
    warnings.push(`client certificate ${q(certFile)} does not allow client authentication (extended key usage): the server refuses it`);
  }
  if (req.clientCertVerified && req.clientCaPem !== undefined && !chainSignedBy(certs, parseCertificates(req.clientCaPem))) {
    warnings.push(
      `client certificate ${q(certFile)} (issuer ${cert.issuer.replaceAll('\n', ', ')}) was not signed by the server's client CA: the handshake fails ("tls: bad certificate")`,
    );
  }
  if (req.clientAllowedSans !== undefined && req.clientAllowedSans.length > 0) {
    const sans = subjectAltNames(cert);
    if (!compileAllowedSans(req.clientAllowedSans)(sans)) {
      const found = allSanValues(sans);
      warnings.push(
        `client certificate ${q(certFile)} has none of the SANs the server allows (${req.clientAllowedSans.join(', ')}); it has ${found.length > 0 ? found.join(', ') : 'none'}`,
      );
    }
  }
}

// prometheus/common reads password_file and credentials_file with strings.TrimSpace.
async function readTrimmed(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim();
}

async function checkNotEmpty(path: string, what: string, warnings: string[]): Promise<void> {
  if ((await readTrimmed(path)) === '') warnings.push(`${what} ${q(path)} is empty`);
}

async function checkPassword(path: string, username: string, hash: string | undefined, warnings: string[]): Promise<void> {
  const password = await readTrimmed(path);
  if (password === '') {
    warnings.push(`password file ${q(path)} is empty`);
    return;
  }
  if (hash === undefined) return;
  let ok: boolean;
  try {
    ok = await bcryptVerify(password, hash);
  } catch {
    ok = false;
  }
  if (!ok)
    warnings.push(`password file ${q(path)} does not hold the password of user ${q(username)} (bcrypt hash mismatch): Prometheus will get 401 Unauthorized`);
}

type AuthorizationRequirement = Extract<NonNullable<ScrapeRequirements['auth']>, { kind: 'authorization' }>;

/** The file's token, by digest, must be one the server knows, not revoked, not expired. */
async function checkStaticToken(path: string, req: AuthorizationRequirement, now: Date, warnings: string[], section = 'bearer_auth tokens'): Promise<void> {
  const token = await readTrimmed(path);
  if (token === '') {
    warnings.push(`credentials file ${q(path)} is empty`);
    return;
  }
  if (req.tokens === undefined) return;
  const digest = createHash('sha256').update(token).digest('hex');
  const known = req.tokens.find((t) => t.sha256 === digest);
  if (!known) {
    warnings.push(`credentials file ${q(path)} holds none of the ${section} (compared by SHA-256): Prometheus will get 401 Unauthorized`);
  } else if (req.revoked?.includes(digest)) {
    warnings.push(`credentials file ${q(path)} holds the token of ${q(known.name)}, which is revoked: Prometheus will get 401 Unauthorized`);
  } else if (known.expiresAt !== undefined && known.expiresAt <= now.getTime()) {
    warnings.push(`credentials file ${q(path)} holds the token of ${q(known.name)}, which expired on ${new Date(known.expiresAt).toISOString()}`);
  } else if (known.expiresAt !== undefined && known.expiresAt - now.getTime() < EXPIRY_NOTICE_DAYS * DAY_MS) {
    warnings.push(`the token of ${q(known.name)} in ${q(path)} expires on ${new Date(known.expiresAt).toISOString()}, in less than ${EXPIRY_NOTICE_DAYS} days`);
  }
}

/**
 * A JWT in the file is decoded (not verified: the generator has no business holding keys) to
 * catch what would certainly fail: not a JWT, expired, another issuer or audience, missing scopes.
 * Claims named in warnings are the non-secret ones (iss, aud, scopes, exp); the token never is.
 */
async function checkJwt(path: string, req: AuthorizationRequirement, now: Date, warnings: string[]): Promise<void> {
  const token = await readTrimmed(path);
  if (token === '') {
    warnings.push(`credentials file ${q(path)} is empty (a token minter has not written the JWT yet?)`);
    return;
  }
  const parts = token.split('.');
  let claims: Record<string, unknown> | undefined;
  if (parts.length === 3) {
    try {
      const decoded: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
      if (typeof decoded === 'object' && decoded !== null && !Array.isArray(decoded)) claims = decoded as Record<string, unknown>;
    } catch {
      claims = undefined;
    }
  }
  if (!claims) {
    warnings.push(`credentials file ${q(path)} does not hold a JWT (compact serialization header.payload.signature)`);
    return;
  }
  if (typeof claims.exp === 'number' && claims.exp * 1000 <= now.getTime()) {
    warnings.push(
      `the JWT in ${q(path)} expired on ${new Date(claims.exp * 1000).toISOString()}: keep the file fresh (Prometheus re-reads it on every scrape)`,
    );
  }
  if (req.issuers !== undefined && req.issuers.length > 0 && !req.issuers.includes(String(claims.iss))) {
    warnings.push(`the JWT in ${q(path)} was issued by ${q(String(claims.iss))}, not by ${req.issuers.join(' or ')}: the server refuses it`);
  }
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.map(String) : [];
  if (req.audiences !== undefined && req.audiences.length > 0 && !aud.some((a) => req.audiences!.includes(a))) {
    warnings.push(
      `the JWT in ${q(path)} is for audience ${aud.length > 0 ? aud.join(', ') : '(none)'}, not ${req.audiences.join(' or ')}: the server refuses it`,
    );
  }
  if (req.requiredScopes !== undefined && req.requiredScopes.length > 0) {
    const granted = new Set([
      ...(typeof claims.scope === 'string' ? claims.scope.split(' ') : []),
      ...(Array.isArray(claims.scp) ? claims.scp.map(String) : typeof claims.scp === 'string' ? claims.scp.split(' ') : []),
    ]);
    const missing = req.requiredScopes.filter((s) => !granted.has(s));
    if (missing.length > 0) warnings.push(`the JWT in ${q(path)} lacks the scopes ${missing.join(', ')} the server requires`);
  }
}
