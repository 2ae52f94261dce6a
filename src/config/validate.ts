/**
 * The one validation path shared by files and in-code objects: checks a parsed web-config value
 * key by key, reads the files it names, and either returns the {@link ResolvedConfig} or throws a
 * {@link ConfigError} listing every problem. Where a problem sits is asked of `ConfigSource.locate`
 * (YAML positions for files, nothing for objects), so both forms get the same checks and messages.
 */
import { ConfigError, type ConfigIssue } from '../errors.js';
import { checkAccessRules } from './access-rules.js';
import { checkAllowedNetworks } from './allowed-networks.js';
import { checkAuditLog } from './audit-log.js';
import { checkAuthExcludedPaths } from './auth-excluded-paths.js';
import { checkBearerAuth } from './bearer-auth.js';
import { checkClientCertAuth } from './client-cert-auth.js';
import { checkJwtAuth } from './jwt-auth.js';
import { checkHeaderAuth } from './header-auth.js';
import { checkRedaction } from './redaction.js';
import { Checker, INVALID, isMapping, kind, type Mapping, type Read } from './checker.js';
import { checkTls, HTTP2_REQUIRED } from './tls-server-config.js';
import { checkHttp } from './http-server-config.js';
import { checkUsers } from './basic-auth-users.js';
import { checkLimits, checkRateLimit } from './limits.js';

import type { ConfigSource } from './checker.js';
import type { ResolvedConfig } from './schema.js';
export { formatPath, type ConfigSource } from './checker.js';

const TOP_KEYS = [
  'tls_server_config',
  'http_server_config',
  'basic_auth_users',
  'rate_limit',
  'limits',
  'bearer_auth',
  'header_auth',
  'jwt_auth',
  'client_cert_auth',
  'auth_excluded_paths',
  'access_rules',
  'audit_log',
  'redaction',
  'allowed_networks',
] as const;

function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
}

/**
 * Validates `value` (the parsed document) and resolves it, reading the files it names.
 * @throws ConfigError listing every issue, in file order.
 */
export async function validateConfig(value: unknown, source: ConfigSource): Promise<ResolvedConfig> {
  const c = new Checker(source);
  if (source.file !== undefined) c.dependsOn.push(source.file);

  if (source.syntaxIssues && source.syntaxIssues.length > 0) {
    const issues = source.syntaxIssues.map((s): ConfigIssue => ({
      ...(source.file !== undefined ? { file: source.file } : {}),
      ...(s.position ? { line: s.position.line, column: s.position.column } : {}),
      path: '',
      message: s.message,
    }));
    throw new ConfigError(issues);
  }

  let top: Read<Mapping>;
  if (value !== undefined && value !== null && !isMapping(value)) {
    c.error([], `the document must be a mapping of keys (${TOP_KEYS.join(', ')}), got ${kind(value)}`);
    top = INVALID;
  } else {
    top = c.mapping(value, [], TOP_KEYS);
  }
  const doc: Mapping = top && top !== INVALID ? top : {};

  const tls = await checkTls(c, doc.tls_server_config);
  const http = checkHttp(c, doc.http_server_config);
  const users = checkUsers(c, doc.basic_auth_users);
  const rateLimit = checkRateLimit(c, doc.rate_limit, ['rate_limit']);
  const limits = checkLimits(c, doc.limits);
  const bearerAuth = await checkBearerAuth(c, doc.bearer_auth);
  const jwtAuth = await checkJwtAuth(c, doc.jwt_auth);
  const headerAuth = await checkHeaderAuth(c, doc.header_auth);
  const clientCertAuth = checkClientCertAuth(c, doc.client_cert_auth, tls === INVALID ? INVALID : tls.tls?.clientAuth);
  const excluded = checkAuthExcludedPaths(c, doc.auth_excluded_paths);
  const accessRules = checkAccessRules(c, doc.access_rules);
  const auditLog = await checkAuditLog(c, doc.audit_log);
  const allowedNetworks = checkAllowedNetworks(c, doc.allowed_networks);
  const sections = [bearerAuth, jwtAuth, headerAuth, clientCertAuth, excluded, accessRules, auditLog, allowedNetworks];
  const redaction = await checkRedaction(c, doc.redaction);

  if (tls !== INVALID && tls.on && http !== INVALID && http.http2 && tls.ciphers && tls.ciphers.length > 0 && tls.minVersion) {
    if (tls.minVersion !== 'TLS13' && !tls.ciphers.some((n) => HTTP2_REQUIRED.includes(n))) {
      c.error(
        ['tls_server_config', 'cipher_suites'],
        `HTTP/2 needs ${HTTP2_REQUIRED.join(' or ')} in cipher_suites (RFC 7540 §9.2.2); add one, or set http_server_config.http2: false`,
      );
    }
  }
  if (tls !== INVALID && !tls.on && users !== INVALID && users.size > 0) {
    c.warn('basic_auth_users is set but TLS is off: passwords cross the network in clear text; configure tls_server_config');
  }
  if (tls !== INVALID && !tls.on && ((bearerAuth && bearerAuth !== INVALID) || (jwtAuth && jwtAuth !== INVALID))) {
    c.warn('bearer_auth/jwt_auth is set but TLS is off: bearer tokens cross the network in clear text and can be replayed; configure tls_server_config');
  }
  if (tls !== INVALID && !tls.on && headerAuth && headerAuth !== INVALID) {
    c.warn('header_auth is set but TLS is off: API keys cross the network in clear text and can be replayed; configure tls_server_config');
  }
  const anyAuth =
    (users !== INVALID && users.size > 0) || bearerAuth !== undefined || jwtAuth !== undefined || headerAuth !== undefined || clientCertAuth !== undefined;
  if (accessRules && accessRules !== INVALID && !anyAuth) {
    c.warn('access_rules is set but no authentication method is: every caller is the principal "anonymous" (method none)');
  }

  if (
    c.issues.length > 0 ||
    top === INVALID ||
    tls === INVALID ||
    http === INVALID ||
    users === INVALID ||
    rateLimit === INVALID ||
    limits === INVALID ||
    sections.includes(INVALID) ||
    redaction === INVALID
  ) {
    const issues = c.issues.length > 0 ? c.issues : [{ path: '', message: 'invalid configuration' }];
    throw new ConfigError(source.file !== undefined ? [...issues].sort(byPosition) : issues);
  }
  if (tls.on && !tls.tls) throw new ConfigError([{ path: 'tls_server_config', message: 'invalid TLS configuration' }]);

  return {
    ...(source.file !== undefined ? { file: source.file } : {}),
    dependsOn: c.dependsOn,
    ...(tls.tls ? { tls: tls.tls } : {}),
    http,
    basicAuthUsers: users,
    ...(rateLimit ? { rateLimit } : {}),
    limits,
    ...(bearerAuth && bearerAuth !== INVALID ? { bearerAuth } : {}),
    ...(jwtAuth && jwtAuth !== INVALID ? { jwtAuth } : {}),
    ...(headerAuth && headerAuth !== INVALID ? { headerAuth } : {}),
    ...(clientCertAuth && clientCertAuth !== INVALID ? { clientCertAuth } : {}),
    ...(excluded && excluded !== INVALID && excluded.length > 0 ? { authExcludedPaths: excluded } : {}),
    ...(accessRules && accessRules !== INVALID ? { accessRules } : {}),
    ...(auditLog && auditLog !== INVALID ? { auditLog } : {}),
    ...(allowedNetworks && allowedNetworks !== INVALID ? { allowedNetworks } : {}),
    redaction,
    warnings: c.warnings,
  };
}
