/**
 * Validator of `client_cert_auth`: which part of a verified client certificate names the caller
 * (`principal_from`) and where its groups come from (`groups_from`: the subject's OUs, or a map of
 * SAN value → groups). Needs a `client_auth_type` that verifies certificates against the client CA:
 * an unverified certificate is only a claim.
 */
import type { ClientAuthType, PrincipalSource, ResolvedClientCertAuth } from './schema.js';
import { checkGroups, Checker, INVALID, isMapping, kind, quote, type Read } from './checker.js';

const KEYS = ['principal_from', 'groups_from'] as const;
const SOURCES: readonly PrincipalSource[] = ['san_dns', 'san_uri', 'san_email', 'cn'];
const VERIFYING: ReadonlySet<ClientAuthType> = new Set(['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert']);

/**
 * Validates `client_cert_auth`; undefined when absent.
 * @param clientAuth the normalised `client_auth_type` in force (undefined: TLS off or invalid).
 */
export function checkClientCertAuth(c: Checker, raw: unknown, clientAuth: ClientAuthType | undefined | typeof INVALID): Read<ResolvedClientCertAuth> {
  const P = ['client_cert_auth'] as const;
  const m = c.mapping(raw, P, KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return undefined;
  const before = c.issues.length;
  const from = c.text(m.principal_from, [...P, 'principal_from']);
  if (from === undefined) c.error([...P, 'principal_from'], `missing principal_from; one of: ${SOURCES.join(', ')}`);
  else if (typeof from === 'string' && !(SOURCES as readonly string[]).includes(from)) {
    c.error([...P, 'principal_from'], `unknown source ${quote(from)}; one of: ${SOURCES.join(', ')}`);
  }
  let groupsFrom: ResolvedClientCertAuth['groupsFrom'];
  const g = m.groups_from;
  if (g === 'ou') groupsFrom = { kind: 'ou' };
  else if (isMapping(g)) {
    const gm = c.mapping(g, [...P, 'groups_from'], ['san_map']);
    const map = gm && gm !== INVALID ? c.mapping(gm.san_map, [...P, 'groups_from', 'san_map']) : undefined;
    if (gm && gm !== INVALID && (map === undefined || map === INVALID)) {
      if (map === undefined) c.error([...P, 'groups_from', 'san_map'], 'missing san_map: a mapping of SAN value → list of groups');
    } else if (map && map !== INVALID) {
      const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
      for (const [san, list] of Object.entries(map)) {
        const groups = checkGroups(c, list, [...P, 'groups_from', 'san_map', san]);
        if (groups === undefined) c.error([...P, 'groups_from', 'san_map', san], 'expected a list of groups, got nothing');
        else if (groups !== INVALID) out[san] = groups;
      }
      groupsFrom = { kind: 'san_map', map: out };
    }
  } else if (g !== undefined && g !== null) {
    c.error([...P, 'groups_from'], `expected "ou" or {san_map: {SAN: [groups]}}, got ${typeof g === 'string' ? quote(g) : kind(g)}`);
  }
  if (clientAuth !== INVALID && (clientAuth === undefined || !VERIFYING.has(clientAuth))) {
    c.error(
      P,
      `client_cert_auth needs tls_server_config.client_auth_type VerifyClientCertIfGiven or RequireAndVerifyClientCert (and client_ca_file), got ${clientAuth ?? 'no TLS'}: an unverified certificate proves nothing`,
    );
  }
  if (c.issues.length > before || typeof from !== 'string') return INVALID;
  return { principalFrom: from as PrincipalSource, ...(groupsFrom ? { groupsFrom } : {}) };
}
