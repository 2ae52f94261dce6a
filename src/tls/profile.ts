/**
 * The TLS profile scrapeguard serves when `tls_server_config` leaves `cipher_suites`,
 * `curve_preferences` and `min_version` unset: Mozilla's "intermediate" configuration, restricted
 * to ECDHE key exchange. It is one constant so that the server (server-options.ts), `scrapeguard
 * check` and the documentation (docs/tls.md, checked by test/tls-profile.test.ts) cannot drift
 * apart, and so a test can compare what the server really accepts with what is published.
 */
import type { ResolvedTls } from '../config/schema.js';
import { CURVES, SECURE_TLS12_CIPHERS } from './names.js';

/** A TLS parameter under its Go/IANA name (as web-config.yml writes it) and its OpenSSL name. */
export interface TlsName {
  readonly go: string;
  readonly openssl: string;
}

/** A published TLS profile: what the server accepts when the config does not say otherwise. */
export interface TlsProfile {
  /** Stable name, printed by `scrapeguard check`. */
  readonly name: string;
  /** Protocol versions, lowest first (web-config.yml names). */
  readonly versions: readonly ('TLS12' | 'TLS13')[];
  /** TLS 1.2 suites in the server's order of preference. */
  readonly tls12CipherSuites: readonly TlsName[];
  /** TLS 1.3 suites (not configurable in Go, so always these three). */
  readonly tls13CipherSuites: readonly TlsName[];
  /** Key exchange groups in the server's order of preference. */
  readonly groups: readonly TlsName[];
  /** Renegotiation of any kind (client- or server-initiated, secure or not). */
  readonly renegotiation: false;
  /** TLS-level compression (CRIME). */
  readonly compression: false;
  /** Session resumption by stateless tickets, with keys generated at random and replaced on a timer. */
  readonly sessionTickets: {
    /** How long a ticket may be used for resumption (OpenSSL session timeout). */
    readonly lifetimeSeconds: number;
    /** How often the ticket key is replaced; tickets under the previous key then fall back to a full handshake. */
    readonly keyRotationSeconds: number;
  };
}

const suite = (go: string): TlsName => ({ go, openssl: SECURE_TLS12_CIPHERS[go]! });
const group = (go: string): TlsName => ({ go, openssl: CURVES[go]! });

/**
 * Mozilla "intermediate" (ssl-config.mozilla.org, guideline 5.7) without its DHE suites: TLS 1.2
 * and 1.3; TLS 1.2 only with ECDHE and an AEAD cipher; groups X25519, P-256, P-384; no
 * renegotiation, no compression; session tickets under a key rotated every hour.
 *
 * Stricter than Go's crypto/tls defaults (which exporter-toolkit inherits): no ECDHE AES-CBC-SHA1
 * suites and no P-521. See docs/tls.md for the comparison.
 */
export const DEFAULT_TLS_PROFILE: TlsProfile = Object.freeze({
  name: 'mozilla-intermediate',
  versions: Object.freeze(['TLS12', 'TLS13'] as const),
  tls12CipherSuites: Object.freeze([
    suite('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'),
    suite('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'),
    suite('TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'),
    suite('TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'),
    suite('TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'),
    suite('TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'),
  ]),
  tls13CipherSuites: Object.freeze([
    { go: 'TLS_AES_128_GCM_SHA256', openssl: 'TLS_AES_128_GCM_SHA256' },
    { go: 'TLS_AES_256_GCM_SHA384', openssl: 'TLS_AES_256_GCM_SHA384' },
    { go: 'TLS_CHACHA20_POLY1305_SHA256', openssl: 'TLS_CHACHA20_POLY1305_SHA256' },
  ]),
  groups: Object.freeze([group('X25519'), group('CurveP256'), group('CurveP384')]),
  renegotiation: false,
  compression: false,
  // Node keeps one ticket key per server (no list of older keys, as Go has), so a rotation ends
  // every outstanding ticket; with a 5-minute ticket lifetime that costs at most one full handshake
  // per client per hour, and bounds what a leaked ticket key exposes to one hour of resumptions.
  sessionTickets: Object.freeze({ lifetimeSeconds: 300, keyRotationSeconds: 3600 }),
});

/** The three TLS 1.3 suites as one OpenSSL string (Node needs at least one of them in `ciphers`). */
export const TLS13_SUITES = DEFAULT_TLS_PROFILE.tls13CipherSuites.map((s) => s.openssl).join(':');

/** What a resolved config serves, for `scrapeguard check`: the profile name or the explicit settings. */
export interface EffectiveTlsProfile {
  /** `mozilla-intermediate`, or `custom` when an explicit setting changes what is accepted. */
  name: string;
  versions: string;
  tls12CipherSuites: string[];
  groups: string[];
  /** Explicit choices weaker than the default profile, one sentence each. */
  weaker: string[];
}

/** Describes the TLS parameters a resolved config really serves. */
export function effectiveTlsProfile(tls: ResolvedTls): EffectiveTlsProfile {
  const profile = DEFAULT_TLS_PROFILE;
  const defaultSuites = profile.tls12CipherSuites.map((s) => s.go);
  const defaultGroups = profile.groups.map((g) => g.go);
  const suites = tls.cipherSuites.length > 0 ? tls.cipherSuites.filter((n) => Object.hasOwn(SECURE_TLS12_CIPHERS, n)) : defaultSuites;
  const groups = tls.curvePreferences.length > 0 ? [...tls.curvePreferences] : defaultGroups;
  const weaker: string[] = [];
  const outside = suites.filter((s) => !defaultSuites.includes(s));
  if (tls.maxVersion !== 'TLS13' || tls.minVersion !== 'TLS13') {
    if (outside.length > 0) weaker.push(`cipher_suites enables ${outside.join(', ')} (CBC, no AEAD), which the ${profile.name} profile leaves out`);
  }
  if (tls.minVersion === 'TLS10' || tls.minVersion === 'TLS11') {
    weaker.push(`min_version ${tls.minVersion} enables TLS versions deprecated by RFC 8996, at OpenSSL security level 0`);
  }
  const extraGroups = groups.filter((g) => !defaultGroups.includes(g));
  if (extraGroups.length > 0) weaker.push(`curve_preferences adds ${extraGroups.join(', ')}, outside the ${profile.name} profile (not weak, but slower)`);
  const custom = tls.cipherSuites.length > 0 || tls.curvePreferences.length > 0 || tls.minVersion !== 'TLS12' || tls.maxVersion !== 'TLS13';
  return {
    name: custom ? 'custom' : profile.name,
    versions: tls.minVersion === tls.maxVersion ? tls.minVersion : `${tls.minVersion}-${tls.maxVersion}`,
    tls12CipherSuites: tls.maxVersion === 'TLS13' && tls.minVersion === 'TLS13' ? [] : suites,
    groups,
    weaker,
  };
}
