/**
 * `scrapeguard/config`: the web-config.yml loader and the facts a deployment tool checks a config
 * against (Go durations, the default TLS profile, the refusal vocabulary of client certificates),
 * without the guard.
 * @packageDocumentation
 */
export { loadConfigFile, loadConfigObject, parseGoDuration, type LoadOptions } from './load.js';
export type * from './schema.js';
export { ConfigError, formatConfigIssue, type ConfigIssue } from '../errors.js';
export { DEFAULT_TLS_PROFILE, type TlsProfile, type TlsName } from '../tls/profile.js';
export { CLIENT_CERT_REFUSED_MESSAGE, CLIENT_CERT_REFUSAL_REASONS, type ClientCertRefusalReason } from '../tls/handshake-failure.js';
