/**
 * Validator of `access_rules`: an ordered list of rules (first match wins) granting metric
 * families (`allow_metrics` / `deny_metrics`, anchored regexes) and label constraints
 * (`enforce_labels`) to principals or groups, plus `default` and `on_empty`. Metric and label
 * names may be UTF-8 (`my.metric`, `service.name`): rules see the names as the exporter wrote
 * them, before any escaping for a legacy scraper. Every regex is
 * compiled here once, anchored as `^(?:re)$`, so a bad one is a config error with its line;
 * `access/rules.ts` compiles the validated rules for serving.
 */
import type { AuthMethod } from '../auth/principal.js';
import type { ResolvedAccessRule, ResolvedAccessRules, ResolvedLabelMatch } from './schema.js';
import { checkNetworkList } from './allowed-networks.js';
import { checkGroups, Checker, INVALID, isMapping, kind, quote, type Read } from './checker.js';
import type { KeyPath } from './locate.js';
import { isValidName } from '../exposition/model.js';

const KEYS = ['rules', 'default', 'on_empty'] as const;
const RULE_KEYS = ['principals', 'groups', 'methods', 'allow_metrics', 'deny_metrics', 'enforce_labels', 'networks'] as const;
const METHODS: readonly AuthMethod[] = ['basic', 'bearer', 'header', 'jwt', 'client_cert', 'none'];

/** Compiles `source` anchored (`^(?:source)$`), as Prometheus anchors relabel regexes. */
export function anchored(source: string): RegExp {
  return new RegExp(`^(?:${source})$`, 'u');
}

function checkRegexList(c: Checker, raw: unknown, path: KeyPath): Read<string[]> {
  const list = c.textList(raw, path);
  if (list === INVALID || list === undefined) return list;
  let ok = true;
  list.forEach((re, i) => {
    try {
      anchored(re);
    } catch (error) {
      c.error([...path, i], `invalid regular expression ${quote(re)}: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}`);
      ok = false;
    }
  });
  return ok ? list : INVALID;
}

function checkLabels(c: Checker, raw: unknown, path: KeyPath): Read<ResolvedLabelMatch[]> {
  const m = c.mapping(raw, path);
  if (m === INVALID || m === undefined) return m;
  const out: ResolvedLabelMatch[] = [];
  let ok = true;
  for (const [name, value] of Object.entries(m)) {
    const at = [...path, name];
    // Prometheus 3 label names are any non-empty UTF-8 text (`service.name`); quote them in YAML.
    if (!isValidName(name)) {
      c.error(at, `invalid label name ${quote(name)} (a label name is non-empty UTF-8 text)`);
      ok = false;
      continue;
    }
    if (isMapping(value)) {
      const vm = c.mapping(value, at, ['regex']);
      const re = vm && vm !== INVALID ? c.text(vm.regex, [...at, 'regex']) : undefined;
      if (typeof re !== 'string') {
        if (re === undefined && vm !== INVALID) c.error(at, 'expected {regex: "…"}');
        ok = false;
        continue;
      }
      try {
        anchored(re);
        out.push({ name, regex: re });
      } catch (error) {
        c.error([...at, 'regex'], `invalid regular expression ${quote(re)}: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}`);
        ok = false;
      }
    } else if (value === null || value === undefined) {
      c.error(at, 'expected a label value or {regex: "…"}, got nothing');
      ok = false;
    } else {
      const v = c.text(value, at, 'a label value or {regex: "…"}');
      if (typeof v === 'string') out.push({ name, value: v });
      else ok = false;
    }
  }
  return ok ? out : INVALID;
}

/** `methods`: a non-empty list of known authentication methods. */
function checkMethods(c: Checker, raw: unknown, path: KeyPath): Read<AuthMethod[]> {
  const list = c.textList(raw, path);
  if (list === undefined || list === INVALID) return list;
  if (list.length === 0) {
    c.error(path, 'an empty list matches no caller; leave methods out to match any method');
    return INVALID;
  }
  let ok = true;
  list.forEach((m, i) => {
    if (!(METHODS as readonly string[]).includes(m)) {
      c.error([...path, i], `unknown method ${JSON.stringify(m)}; expected one of: ${METHODS.join(', ')}`);
      ok = false;
    }
  });
  return ok ? (list as AuthMethod[]) : INVALID;
}

function checkRule(c: Checker, raw: unknown, path: KeyPath): Read<ResolvedAccessRule> {
  const m = c.mapping(raw, path, RULE_KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) {
    c.error(path, 'expected a rule, got nothing');
    return INVALID;
  }
  const before = c.issues.length;
  const principals = checkGroups(c, m.principals, [...path, 'principals']);
  const groups = checkGroups(c, m.groups, [...path, 'groups']);
  const methods = checkMethods(c, m.methods, [...path, 'methods']);
  const allow = checkRegexList(c, m.allow_metrics, [...path, 'allow_metrics']);
  const deny = checkRegexList(c, m.deny_metrics, [...path, 'deny_metrics']);
  const labels = checkLabels(c, m.enforce_labels, [...path, 'enforce_labels']);
  const networks = checkNetworkList(c, m.networks, [...path, 'networks'], 'an empty list matches no caller; leave networks out to match callers from anywhere');
  if (principals !== INVALID && groups !== INVALID && (principals ?? []).length === 0 && (groups ?? []).length === 0) {
    c.error(path, 'a rule needs principals or groups (a rule for everyone is `default: allow`)');
  }
  if (
    c.issues.length > before ||
    principals === INVALID ||
    groups === INVALID ||
    methods === INVALID ||
    allow === INVALID ||
    deny === INVALID ||
    labels === INVALID ||
    networks === INVALID
  ) {
    return INVALID;
  }
  return {
    principals: principals ?? [],
    groups: groups ?? [],
    ...(methods !== undefined ? { methods } : {}),
    ...(allow !== undefined ? { allowMetrics: allow } : {}),
    denyMetrics: deny ?? [],
    enforceLabels: labels ?? [],
    ...(networks !== undefined ? { networks } : {}),
  };
}

function choice<T extends string>(c: Checker, raw: unknown, path: KeyPath, options: readonly T[], fallback: T): T | typeof INVALID {
  const v = c.text(raw, path);
  if (v === INVALID) return INVALID;
  if (v === undefined) return fallback;
  if (!(options as readonly string[]).includes(v)) {
    c.error(path, `expected one of ${options.join(', ')}, got ${quote(v)}`);
    return INVALID;
  }
  return v as T;
}

/** Validates `access_rules`; undefined when absent. */
export function checkAccessRules(c: Checker, raw: unknown): Read<ResolvedAccessRules> {
  const P = ['access_rules'] as const;
  const m = c.mapping(raw, P, KEYS);
  if (m === INVALID) return INVALID;
  if (m === undefined) return undefined;
  const before = c.issues.length;
  const rules: ResolvedAccessRule[] = [];
  if (m.rules !== undefined && m.rules !== null && !Array.isArray(m.rules)) c.error([...P, 'rules'], `expected a list of rules, got ${kind(m.rules)}`);
  else if (Array.isArray(m.rules)) {
    m.rules.forEach((r: unknown, i) => {
      const rule = checkRule(c, r, [...P, 'rules', i]);
      if (rule && rule !== INVALID) rules.push(rule);
    });
  }
  const def = choice(c, m.default, [...P, 'default'], ['deny', 'allow'] as const, 'deny');
  const onEmpty = choice(c, m.on_empty, [...P, 'on_empty'], ['ok', 'forbid'] as const, 'ok');
  if (c.issues.length > before || def === INVALID || onEmpty === INVALID) return INVALID;
  if (rules.length === 0 && def === 'deny') c.warn('access_rules: no rules and default deny: every caller is refused with 403');
  return { rules, default: def, onEmpty };
}
