/**
 * `access_rules` compiled: the filters each caller gets (families and label constraints) for the
 * developers/ops/compliance example and a two-tenant `enforce_labels` example, first-match order,
 * `default`, the decision cache; and the core's authorize stage over the real handler: status
 * codes, `on_empty`, and the exact filter object handed to the exposition pass.
 */
import { describe, expect, test } from 'vitest';
import { AccessRules, compileRuleFilter } from '../src/access/rules.js';
import type { SeriesFilter } from '../src/access/filter.js';
import type { Principal } from '../src/auth/principal.js';
import { BearerAuthenticator } from '../src/auth/bearer.js';
import { loadConfigObject } from '../src/config/load.js';
import { tokenDigest } from '../src/config/bearer-auth.js';
import type { ResolvedConfig, WebConfigInput } from '../src/config/schema.js';
import type { AuditRecord } from '../src/audit/audit.js';
import { createScrapeHandler, type GuardState } from '../src/core/handle.js';
import type { ExposeOptions, RenderedExposition } from '../src/exposition/pipeline.js';
import { silentLogger } from '../src/log.js';
import { noSelfMetrics } from '../src/metrics/self.js';

const FAMILIES = [
  'http_requests_total',
  'nodejs_heap_size_total_bytes',
  'node_cpu_seconds_total',
  'container_memory_usage_bytes',
  'audit_events_total',
  'audit_log_bytes',
  'process_cpu_seconds_total',
  'xnode_cpu', // must not match node_.* (anchored)
  'audit', // must not match audit_.*
];

const TEAMS: WebConfigInput = {
  access_rules: {
    rules: [
      { groups: ['developers'], allow_metrics: ['.*'], deny_metrics: ['audit_.*'] },
      { groups: ['ops'], allow_metrics: ['node_.*', 'container_.*'] },
      { groups: ['compliance'], allow_metrics: ['audit_.*'] },
      { principals: ['auditor-bot'], allow_metrics: ['audit_events_total'] },
    ],
  },
};

const TENANTS: WebConfigInput = {
  access_rules: {
    rules: [
      { principals: ['team-a-prom'], enforce_labels: { tenant: 'team-a' } },
      { principals: ['team-b-prom'], enforce_labels: { tenant: 'team-b', namespace: { regex: 'team-b-(prod|stage)' } } },
      { groups: ['platform'] },
    ],
  },
};

async function rulesOf(input: WebConfigInput): Promise<{ rules: AccessRules; config: ResolvedConfig }> {
  const config = await loadConfigObject(input);
  return { rules: new AccessRules(config.accessRules!), config };
}

const who = (name: string, groups: string[] = [], method: Principal['method'] = 'bearer'): Principal => ({ name, method, groups });

function visible(filter: SeriesFilter | undefined): string[] {
  return FAMILIES.filter((f) => filter === undefined || filter.allowsFamily(f));
}

/** Applies a filter's label constraints to a series' labels, as the exposition pass will. */
function keeps(filter: SeriesFilter | undefined, labels: Record<string, string>): boolean {
  return filter === undefined || filter.labelConstraints.every((c) => labels[c.name] !== undefined && c.matches(labels[c.name]!));
}

function allowed(rules: AccessRules, p: Principal): SeriesFilter | undefined {
  const d = rules.decide(p);
  if (d.decision !== 'allow') throw new Error(`${p.name} was denied`);
  return d.filter;
}

describe('developers / ops / compliance', () => {
  test('each group sees exactly its families', async () => {
    const { rules } = await rulesOf(TEAMS);
    expect(visible(allowed(rules, who('dev1', ['developers'])))).toEqual([
      'http_requests_total',
      'nodejs_heap_size_total_bytes',
      'node_cpu_seconds_total',
      'container_memory_usage_bytes',
      'process_cpu_seconds_total',
      'xnode_cpu',
      'audit',
    ]);
    expect(visible(allowed(rules, who('op1', ['ops'])))).toEqual(['node_cpu_seconds_total', 'container_memory_usage_bytes']);
    expect(visible(allowed(rules, who('c1', ['compliance'])))).toEqual(['audit_events_total', 'audit_log_bytes']);
    expect(visible(allowed(rules, who('auditor-bot', [])))).toEqual(['audit_events_total']);
    for (const g of ['developers', 'ops', 'compliance']) expect(allowed(rules, who('x', [g]))?.labelConstraints).toEqual([]);
  });

  test('first match wins, by rule order (not by group order)', async () => {
    const { rules } = await rulesOf(TEAMS);
    // In both ops and developers: the developers rule comes first.
    expect(visible(allowed(rules, who('both', ['ops', 'developers'])))).toContain('http_requests_total');
    expect(rules.decide(who('both', ['ops', 'developers']))).toMatchObject({ rule: 0 });
    expect(rules.decide(who('o', ['compliance', 'ops']))).toMatchObject({ rule: 1 });
  });

  test('default deny for callers no rule names; default allow gives everything', async () => {
    const { rules } = await rulesOf(TEAMS);
    expect(rules.decide(who('stranger', ['marketing']))).toEqual({ decision: 'deny', reason: 'no_rule' });
    const open = await rulesOf({ access_rules: { ...TEAMS.access_rules, default: 'allow' } });
    expect(open.rules.decide(who('stranger'))).toEqual({ decision: 'allow', filter: undefined, rule: undefined });
  });

  test('the decision is cached per method, name and groups, bounded', async () => {
    const config = await loadConfigObject(TEAMS);
    const rules = new AccessRules(config.accessRules!, 3);
    const a = rules.decide(who('op1', ['ops']));
    expect(rules.decide(who('op1', ['ops']))).toBe(a);
    // Same name through another method or with other groups is another entry.
    expect(rules.decide(who('op1', ['ops'], 'jwt'))).toBe(a); // same rule, same compiled object
    expect(rules.decide(who('op1', ['developers']))).not.toBe(a);
    for (let i = 0; i < 10; i++) rules.decide(who(`u${i}`, ['ops']));
    expect(rules.cached).toBe(3);
  });
});

describe('methods: a rule limited to how the caller proved its name', () => {
  const ADMIN: WebConfigInput = {
    access_rules: {
      rules: [
        { principals: ['alice'], methods: ['client_cert'], allow_metrics: ['.*'] },
        { principals: ['alice'], allow_metrics: ['app_.*'] },
      ],
    },
  };

  test('the same name through another method falls to the next rule', async () => {
    const { rules } = await rulesOf(ADMIN);
    expect(rules.decide(who('alice', [], 'client_cert'))).toMatchObject({ decision: 'allow', rule: 0 });
    // A JWT whose sub is "alice" (or a basic user named alice) is not the certificate's alice.
    expect(rules.decide(who('alice', [], 'jwt'))).toMatchObject({ decision: 'allow', rule: 1 });
    expect(rules.decide(who('alice', [], 'basic'))).toMatchObject({ decision: 'allow', rule: 1 });
  });

  test('unknown or empty method lists are refused at load', async () => {
    await expect(loadConfigObject({ access_rules: { rules: [{ principals: ['a'], methods: ['kerberos'] }] } })).rejects.toThrow(
      /access_rules\.rules\[0\]\.methods\[0\]: unknown method "kerberos"; expected one of: basic, bearer, header, jwt, client_cert, none/,
    );
    await expect(loadConfigObject({ access_rules: { rules: [{ principals: ['a'], methods: [] }] } })).rejects.toThrow(/an empty list matches no caller/);
  });
});

describe('two tenants with enforce_labels', () => {
  test('each tenant keeps only series carrying its labels; platform sees everything', async () => {
    const { rules } = await rulesOf(TENANTS);
    const a = allowed(rules, who('team-a-prom'));
    const b = allowed(rules, who('team-b-prom'));
    expect(visible(a)).toEqual(FAMILIES); // no family restriction
    expect(a?.labelConstraints.map((c) => c.name)).toEqual(['tenant']);
    expect(b?.labelConstraints.map((c) => c.name)).toEqual(['tenant', 'namespace']);
    const series = [
      { tenant: 'team-a', namespace: 'team-a-prod' },
      { tenant: 'team-b', namespace: 'team-b-prod' },
      { tenant: 'team-b', namespace: 'team-b-stage' },
      { tenant: 'team-b', namespace: 'team-b-prodx' }, // anchored regex
      { tenant: 'team-ab', namespace: 'team-b-prod' }, // exact value
      { namespace: 'team-a-prod' }, // no tenant label: never returned to a tenant
    ];
    expect(series.filter((s) => keeps(a, s))).toEqual([series[0]]);
    expect(series.filter((s) => keeps(b, s))).toEqual([series[1], series[2]]);
    expect(allowed(rules, who('p', ['platform']))).toBeUndefined();
    expect(rules.decide(who('team-c-prom')).decision).toBe('deny');
  });

  test('a value is exact: regex characters in it are literal', () => {
    const f = compileRuleFilter({ principals: ['x'], groups: [], denyMetrics: [], enforceLabels: [{ name: 'tenant', value: 'a.b' }] });
    expect(f?.labelConstraints[0]?.matches('a.b')).toBe(true);
    expect(f?.labelConstraints[0]?.matches('axb')).toBe(false);
  });

  test('allow_metrics: [] shows nothing; deny alone keeps the rest', () => {
    const none = compileRuleFilter({ principals: ['x'], groups: [], allowMetrics: [], denyMetrics: [], enforceLabels: [] });
    expect(visible(none)).toEqual([]);
    const denyOnly = compileRuleFilter({ principals: ['x'], groups: [], denyMetrics: ['node_.*', 'audit'], enforceLabels: [] });
    expect(visible(denyOnly)).toEqual(FAMILIES.filter((f) => !f.startsWith('node_') && f !== 'audit'));
  });
});

// ---------------------------------------------------------------------------------------------
// The authorize stage in the core handler
// ---------------------------------------------------------------------------------------------

describe('authorize stage (core handler)', () => {
  const tokens = { dev: 'dev-token-0123456789abcdefghij', ops: 'ops-token-0123456789abcdefghij', other: 'other-token-0123456789abcdefgh' };

  async function core(access: WebConfigInput['access_rules'], rendered: Partial<RenderedExposition> = {}) {
    const config = await loadConfigObject({
      bearer_auth: {
        tokens: [
          { name: 'dev', token_sha256: tokenDigest(tokens.dev), groups: ['developers'] },
          { name: 'ops', token_sha256: tokenDigest(tokens.ops), groups: ['ops'] },
          { name: 'other', token_sha256: tokenDigest(tokens.other), groups: ['marketing'] },
        ],
      },
      ...(access ? { access_rules: access } : {}),
    });
    const calls: ExposeOptions[] = [];
    const state: GuardState = {
      config,
      responseHeaders: {},
      authenticators: { bearer: new BearerAuthenticator(config.bearerAuth!) },
      expose: async (options) => {
        calls.push(options);
        return { contentType: 'text/plain; version=0.0.4', body: 'x 1\n', ...rendered };
      },
      ...(config.accessRules ? { access: new AccessRules(config.accessRules) } : {}),
    };
    const audit: AuditRecord[] = [];
    const handle = createScrapeHandler(
      { telemetryPath: '/metrics', logger: silentLogger, metrics: noSelfMetrics, audit: () => (r) => audit.push(r) },
      () => state,
    );
    const scrape = (token: string) => handle({ method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${token}` }, remoteAddress: '10.1.2.3' });
    return { calls, scrape, state, audit };
  }

  test('a stage that throws is still audited (status 500, reason internal_error) and the error reaches the guard', async () => {
    const { state, audit } = await core({ rules: [{ groups: ['developers'], allow_metrics: ['.*'] }] });
    const broken: GuardState = {
      ...state,
      access: {
        decide: () => {
          throw new Error('boom');
        },
      } as unknown as AccessRules,
    };
    const handle = createScrapeHandler(
      { telemetryPath: '/metrics', logger: silentLogger, metrics: noSelfMetrics, audit: () => (r) => audit.push(r) },
      () => broken,
    );
    await expect(handle({ method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${tokens.dev}` }, remoteAddress: '10.1.2.3' })).rejects.toThrow(
      'boom',
    );
    expect(audit.at(-1)).toMatchObject({ status: 500, reason: 'internal_error', principal: 'dev' });
  });

  test('allow → 200 with the rule filter object handed to expose; deny → 403 without calling expose', async () => {
    const c = await core(TEAMS.access_rules);
    const dev = await c.scrape(tokens.dev);
    expect(dev.status).toBe(200);
    expect(c.calls[0]?.filter).toBe((c.state.access!.decide({ name: 'dev', method: 'bearer', groups: ['developers'] }) as { filter: SeriesFilter }).filter);
    expect(c.calls[0]?.filter?.allowsFamily('audit_events_total')).toBe(false);
    expect((await c.scrape(tokens.ops)).status).toBe(200);
    expect(c.calls[1]?.filter?.allowsFamily('node_cpu_seconds_total')).toBe(true);
    expect(c.calls[1]?.filter?.allowsFamily('http_requests_total')).toBe(false);

    const other = await c.scrape(tokens.other);
    expect(other.status).toBe(403);
    expect(c.calls).toHaveLength(2);
    expect(c.audit.map((a) => [a.principal, a.status, a.reason])).toEqual([
      ['dev', 200, null],
      ['ops', 200, null],
      ['other', 403, 'access_denied'],
    ]);
  });

  test('no access_rules: no filter at all (everything, as before)', async () => {
    const c = await core(undefined);
    expect((await c.scrape(tokens.other)).status).toBe(200);
    expect(c.calls[0]).not.toHaveProperty('filter');
  });

  test('a rule granting everything passes no filter (fast path)', async () => {
    const c = await core({ rules: [{ groups: ['developers'] }] });
    expect((await c.scrape(tokens.dev)).status).toBe(200);
    expect(c.calls[0]).not.toHaveProperty('filter');
  });

  test('on_empty: forbid → 403 when the filtered result has no series; ok → 200 empty', async () => {
    const forbid = await core({ ...TEAMS.access_rules, on_empty: 'forbid' }, { body: '', seriesReturned: 0, seriesWithheld: 12 });
    const r = await forbid.scrape(tokens.ops);
    expect(r.status).toBe(403);
    expect(forbid.audit[0]).toMatchObject({ status: 403, reason: 'empty', series_returned: 0, series_withheld: 12 });

    const ok = await core(TEAMS.access_rules, { body: '', seriesReturned: 0, seriesWithheld: 12 });
    const r2 = await ok.scrape(tokens.ops);
    expect(r2.status).toBe(200);
    expect(r2.body).toBe('');
    expect(ok.audit[0]).toMatchObject({ status: 200, series_returned: 0, series_withheld: 12, reason: null });

    // Series left: served even with forbid.
    const some = await core({ ...TEAMS.access_rules, on_empty: 'forbid' }, { seriesReturned: 3, seriesWithheld: 9 });
    expect((await some.scrape(tokens.ops)).status).toBe(200);
    expect(some.audit[0]).toMatchObject({ series_returned: 3, series_withheld: 9 });
  });

  test('an audit sink that throws does not fail the scrape', async () => {
    const c = await core(undefined);
    const handle = createScrapeHandler(
      {
        telemetryPath: '/metrics',
        logger: silentLogger,
        metrics: noSelfMetrics,
        audit: () => () => {
          throw new Error('sink broke');
        },
      },
      () => c.state,
    );
    const r = await handle({ method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${tokens.dev}` }, remoteAddress: '10.1.2.3' });
    expect(r.status).toBe(200);
  });
});
