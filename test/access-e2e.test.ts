/**
 * Access rules end to end, through the real exposition pass over real HTTPS: the
 * developers / ops / compliance example and a two-tenant `enforce_labels` example. Each caller
 * authenticates with its own bearer token (or JWT group claim via token groups) and must get
 * exactly the metric families (and, for tenants, exactly the series) its rule grants — no more,
 * no less — with the audit record counting what was returned and withheld. Also: `default: deny`,
 * `on_empty: forbid`, and that a filtered scrape still goes through redaction.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Counter, Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditRecord } from '../src/audit/audit.js';
import { createGuard, type Guard } from '../src/guard.js';
import { silentLogger } from '../src/log.js';
import { scrape } from './helpers/client.js';
import { testPki, type TestPki } from './helpers/pki.js';

const token = () => randomBytes(32).toString('base64url');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const callers = {
  dev: { token: token(), groups: ['developers'] },
  ops: { token: token(), groups: ['ops'] },
  auditor: { token: token(), groups: ['compliance'] },
  'team-a-prom': { token: token(), groups: [] },
  'team-b-prom': { token: token(), groups: [] },
  stranger: { token: token(), groups: ['visitors'] },
  'empty-view': { token: token(), groups: [] },
} as const;
type Caller = keyof typeof callers;

function registry(): Registry {
  const r = new Registry();
  const cpu = new Counter({ name: 'node_cpu_seconds_total', help: 'CPU.', labelNames: ['cpu', 'mode'], registers: [r] });
  cpu.inc({ cpu: '0', mode: 'idle' }, 10);
  cpu.inc({ cpu: '0', mode: 'user' }, 5);
  new Gauge({ name: 'container_memory_working_set_bytes', help: 'Memory.', labelNames: ['container'], registers: [r] }).set({ container: 'api' }, 1e8);
  new Counter({ name: 'audit_events_total', help: 'Audit events.', labelNames: ['kind'], registers: [r] }).inc({ kind: 'login' }, 7);
  const reqs = new Counter({ name: 'app_requests_total', help: 'Requests.', labelNames: ['tenant', 'namespace', 'route'], registers: [r] });
  reqs.inc({ tenant: 'team-a', namespace: 'team-a-prod', route: '/a' }, 1);
  reqs.inc({ tenant: 'team-a', namespace: 'team-a-stage', route: '/a' }, 2);
  reqs.inc({ tenant: 'team-b', namespace: 'team-b-prod', route: '/b' }, 3);
  reqs.inc({ tenant: 'team-b', namespace: 'team-b-stage', route: '/b' }, 4);
  reqs.inc({ tenant: 'team-b', namespace: 'team-b-dev', route: '/b' }, 5);
  // A leak the redaction must still catch in filtered scrapes.
  new Gauge({ name: 'app_db_info', help: 'DB.', labelNames: ['tenant', 'dsn'], registers: [r] }).set(
    { tenant: 'team-a', dsn: 'postgres://app:tenant-a-db-pass@db/a' },
    1,
  );
  return r;
}

let pki: TestPki;
let guard: Guard;
let url: string;
const audit: AuditRecord[] = [];

beforeAll(async () => {
  pki = await testPki();
  guard = await createGuard({
    config: {
      tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
      bearer_auth: {
        tokens: Object.entries(callers).map(([name, c]) => ({ name, token_sha256: sha256(c.token), groups: [...c.groups] })),
      },
      access_rules: {
        default: 'deny',
        on_empty: 'forbid',
        rules: [
          { groups: ['developers'], allow_metrics: ['.*'], deny_metrics: ['audit_.*'] },
          { groups: ['ops'], allow_metrics: ['node_.*', 'container_.*'] },
          { groups: ['compliance'], allow_metrics: ['audit_.*'] },
          { principals: ['team-a-prom'], enforce_labels: { tenant: 'team-a' } },
          { principals: ['team-b-prom'], enforce_labels: { tenant: 'team-b', namespace: { regex: 'team-b-(prod|stage)' } } },
          { principals: ['empty-view'], allow_metrics: ['does_not_exist_.*'] },
        ],
      },
    },
    source: registry(),
    logger: silentLogger,
    watch: false,
    audit: (record) => void audit.push(record),
  });
  const [bound] = await guard.listen('127.0.0.1:0');
  url = `https://localhost:${bound!.port}/metrics`;
});

afterAll(async () => {
  await guard?.close(0);
});

async function scrapeAs(caller: Caller, headers: Record<string, string> = {}) {
  return scrape(url, { ca: pki.ca.certPem, headers: { authorization: `Bearer ${callers[caller].token}`, ...headers } });
}

const families = (body: string) => [...new Set([...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]))].sort();
const samples = (body: string) => body.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
const lastAudit = () => audit[audit.length - 1]!;

describe('developers / ops / compliance', () => {
  test.each([
    ['dev', ['app_db_info', 'app_requests_total', 'container_memory_working_set_bytes', 'node_cpu_seconds_total']],
    ['ops', ['container_memory_working_set_bytes', 'node_cpu_seconds_total']],
    ['auditor', ['audit_events_total']],
  ] as const)('%s sees exactly its families', async (caller, expected) => {
    const r = await scrapeAs(caller);
    expect(r.status).toBe(200);
    expect(families(r.body)).toEqual([...expected].sort());
    const a = lastAudit();
    expect(a.principal).toBe(caller);
    expect(a.status).toBe(200);
    expect(a.series_returned).toBe(samples(r.body).length);
    // 2 cpu + 1 container + 1 audit + 5 app + 1 db = 10 series in all.
    expect(a.series_returned! + a.series_withheld!).toBe(10);
  });

  test('the same view in OpenMetrics', async () => {
    const r = await scrape(url, {
      ca: pki.ca.certPem,
      headers: {
        authorization: `Bearer ${callers.ops.token}`,
        accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5',
      },
    });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('application/openmetrics-text');
    expect(r.body).toMatch(/# EOF\n$/);
    // OpenMetrics names the counter family without _total.
    expect([...r.body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]).sort()).toEqual(['container_memory_working_set_bytes', 'node_cpu_seconds']);
  });
});

describe('two tenants with enforce_labels', () => {
  test('team-a sees only its series, with the DSN password still masked', async () => {
    const r = await scrapeAs('team-a-prom');
    expect(r.status).toBe(200);
    expect(samples(r.body).sort()).toEqual(
      [
        'app_db_info{tenant="team-a",dsn="[REDACTED]"} 1',
        'app_requests_total{tenant="team-a",namespace="team-a-prod",route="/a"} 1',
        'app_requests_total{tenant="team-a",namespace="team-a-stage",route="/a"} 2',
      ].sort(),
    );
    expect(r.body).not.toContain('team-b');
    expect(r.body).not.toContain('tenant-a-db-pass');
    expect(lastAudit().series_withheld).toBe(7);
  });

  test('team-b sees only its prod and stage series (regex on namespace)', async () => {
    const r = await scrapeAs('team-b-prom');
    expect(r.status).toBe(200);
    expect(samples(r.body).sort()).toEqual(
      [
        'app_requests_total{tenant="team-b",namespace="team-b-prod",route="/b"} 3',
        'app_requests_total{tenant="team-b",namespace="team-b-stage",route="/b"} 4',
      ].sort(),
    );
    expect(lastAudit().series_returned).toBe(2);
    expect(lastAudit().series_withheld).toBe(8);
  });
});

describe('decisions without a view', () => {
  test('a caller no rule matches is denied (default: deny)', async () => {
    const r = await scrapeAs('stranger');
    expect(r.status).toBe(403);
    expect(r.body).not.toContain('node_cpu');
    expect(lastAudit().principal).toBe('stranger');
    expect(lastAudit().status).toBe(403);
  });

  test('a rule that leaves nothing visible is 403 with on_empty: forbid', async () => {
    const r = await scrapeAs('empty-view');
    expect(r.status).toBe(403);
    expect(lastAudit().reason).toBe('empty');
  });

  test('no audit line carries a token', () => {
    const text = JSON.stringify(audit);
    for (const c of Object.values(callers)) {
      expect(text).not.toContain(c.token);
      expect(text).not.toContain(sha256(c.token));
    }
  });
});
