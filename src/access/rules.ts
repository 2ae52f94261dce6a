/**
 * `access_rules` compiled for serving: which rule applies to a principal (first match wins, by
 * principal name or group) and the {@link SeriesFilter} that rule grants. Each rule's regexes are
 * compiled once per config generation into one anchored alternation per list, and each rule's
 * filter object is built once; the per-principal decision is cached (bounded, least recently used
 * evicted), so the hot path is one Map lookup. A rule with `networks` applies only to callers from
 * those networks; when any rule has one, the caller's address is part of the cache key.
 */
import type { AuthMethod, Principal } from '../auth/principal.js';
import type { ResolvedAccessRules, ResolvedAccessRule } from '../config/schema.js';
import type { LabelConstraint, SeriesFilter } from './filter.js';
import { compileNetworks, type NetworkMatcher } from '../net/networks.js';

/** What a principal may do. `filter` undefined: everything is visible. */
export type AccessDecision =
  | { readonly decision: 'allow'; readonly filter: SeriesFilter | undefined; readonly rule: number | undefined }
  | { readonly decision: 'deny'; readonly reason: 'no_rule' };

interface CompiledRule {
  readonly principals: ReadonlySet<string>;
  readonly groups: ReadonlySet<string>;
  /** Methods the rule is limited to; absent: any. */
  readonly methods?: ReadonlySet<string>;
  /** Networks the caller must come from; absent: anywhere. */
  readonly networks?: NetworkMatcher;
  readonly decision: AccessDecision;
}

/** One anchored regex for a list of alternatives, or undefined for an empty list. */
function alternation(sources: readonly string[]): RegExp | undefined {
  if (sources.length === 0) return undefined;
  return new RegExp(`^(?:${sources.map((s) => `(?:${s})`).join('|')})$`, 'u');
}

/** The filter a rule grants; undefined when it grants everything (the exposition pass skips filtering). */
export function compileRuleFilter(rule: ResolvedAccessRule): SeriesFilter | undefined {
  const allow = rule.allowMetrics === undefined ? undefined : alternation(rule.allowMetrics);
  const deny = alternation(rule.denyMetrics);
  const labelConstraints: LabelConstraint[] = rule.enforceLabels.map((l) => {
    if ('value' in l) {
      const value = l.value;
      return Object.freeze({ name: l.name, matches: (v: string) => v === value });
    }
    const re = new RegExp(`^(?:${l.regex})$`, 'u');
    return Object.freeze({ name: l.name, matches: (v: string) => re.test(v) });
  });
  if (rule.allowMetrics === undefined && deny === undefined && labelConstraints.length === 0) return undefined;
  const allowsAll = rule.allowMetrics === undefined;
  return Object.freeze({
    allowsFamily(name: string): boolean {
      if (!allowsAll && (allow === undefined || !allow.test(name))) return false;
      return deny === undefined || !deny.test(name);
    },
    labelConstraints: Object.freeze(labelConstraints),
  });
}

const ALLOW_ALL: AccessDecision = Object.freeze({ decision: 'allow', filter: undefined, rule: undefined });
const DENY: AccessDecision = Object.freeze({ decision: 'deny', reason: 'no_rule' });

/** Compiled `access_rules` of one config generation. */
export class AccessRules {
  private readonly rules: readonly CompiledRule[];
  private readonly fallback: AccessDecision;
  private readonly cache = new Map<string, AccessDecision>();
  /** `on_empty: forbid`: a result with no series visible is a 403. */
  readonly forbidEmpty: boolean;
  /** Some rule has `networks`: decisions depend on the caller's address too. */
  private readonly byAddress: boolean;

  /**
   * @example
   * const rules = new AccessRules(config.accessRules);
   * const d = rules.decide({ name: 'alice', method: 'basic', groups: ['developers'] });
   */
  constructor(
    config: ResolvedAccessRules,
    private readonly cacheSize = 1024,
  ) {
    this.rules = config.rules.map((rule, i) => ({
      principals: new Set(rule.principals),
      groups: new Set(rule.groups),
      ...(rule.methods ? { methods: new Set<string>(rule.methods) } : {}),
      ...(rule.networks ? { networks: compileNetworks(rule.networks) } : {}),
      decision: Object.freeze({ decision: 'allow' as const, filter: compileRuleFilter(rule), rule: i }),
    }));
    this.fallback = config.default === 'allow' ? ALLOW_ALL : DENY;
    this.forbidEmpty = config.onEmpty === 'forbid';
    this.byAddress = config.rules.some((r) => r.networks !== undefined);
  }

  /**
   * The decision for `principal` calling from `remoteAddress` (cached by method, name and groups,
   * and by address when a rule has `networks`; a rule with `networks` never matches without an address).
   */
  decide(principal: Principal, remoteAddress?: string): AccessDecision {
    const key = cacheKey(principal.method, principal.name, principal.groups, this.byAddress ? (remoteAddress ?? '') : undefined);
    const hit = this.cache.get(key);
    if (hit) {
      // Refresh recency (Map keeps insertion order).
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const decision = this.match(principal, remoteAddress);
    this.cache.set(key, decision);
    if (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return decision;
  }

  private match(principal: Principal, remoteAddress: string | undefined): AccessDecision {
    for (const rule of this.rules) {
      if (rule.methods && !rule.methods.has(principal.method)) continue;
      if (rule.networks && (remoteAddress === undefined || !rule.networks.contains(remoteAddress))) continue;
      if (rule.principals.has(principal.name)) return rule.decision;
      for (const g of principal.groups) if (rule.groups.has(g)) return rule.decision;
    }
    return this.fallback;
  }

  /** Decisions cached. */
  get cached(): number {
    return this.cache.size;
  }
}

function cacheKey(method: AuthMethod, name: string, groups: readonly string[], address: string | undefined): string {
  // JSON keeps the parts unambiguous whatever characters a name or group holds.
  return JSON.stringify(address === undefined ? [method, name, groups] : [method, name, groups, address]);
}
