// The benchmark regression gate's decisions (bench/lib/gate.mjs), on made-up ratios: no server,
// no timing. What `npm run bench -- --quick` does with real measurements rests on these: a ratio
// clearly worse than the committed reference fails, noise within the tolerance passes, a second
// look rescues a spike but not a regression, and a gate that cannot compare fails under CI.
import { describe, expect, it } from 'vitest';
import {
  METRICS,
  better,
  evaluate,
  formatReference,
  formatTable,
  judge,
  limitFor,
  parseReference,
  toRemeasure,
  type GateMetric,
  type Measurement,
} from '../bench/lib/gate.mjs';

const CONFIG = 'probe-config-v1';
const metric: GateMetric = { key: 'x.cpu', scenario: 'SX', label: 'X CPU ratio', rel: 0.25, abs: 0.1 };
const ok = (value: number): Measurement => ({ value, errors: 0 });
const doc = (ratios: Record<string, number>, config = CONFIG) =>
  `# Benchmarks\n\nsome text\n\n${formatReference({ config, generated: '2026-01-01 00:00 UTC', ratios })}\n\nmore text\n`;

describe('bench gate: tolerance', () => {
  it('a floor (the bar of the issue) is never a failure, however low the reference', () => {
    const p99: GateMetric = { ...metric, key: 's4.p99', abs: 0.5, floor: 2 };
    expect(limitFor(p99, 0.74)).toBe(2);
    expect(limitFor(p99, 1.8)).toBeCloseTo(2.3);
  });

  it('a reported ratio never fails, and says when it is over its limit', () => {
    const reported: GateMetric = { ...metric, reported: true };
    expect(judge(reported, 1.0, ok(9), { ci: true })).toMatchObject({ verdict: 'reported (over the limit; not gated)', fail: false });
    expect(judge(reported, 1.0, ok(1), { ci: true })).toMatchObject({ verdict: 'reported', fail: false });
    expect(METRICS.find((m) => m.key === 's4.p99')?.reported).toBe(true);
  });

  it('the guard’s CPU under attack is gated: the build before #16 (1.17 cores) fails against today’s reference (0.41)', () => {
    const cores = METRICS.find((m) => m.key === 's4.cores')!;
    expect(cores.reported).toBeUndefined();
    expect(judge(cores, 0.41, ok(1.17), { ci: true })).toMatchObject({ verdict: 'REGRESSION', fail: true });
    expect(judge(cores, 0.41, ok(0.54), { ci: true })).toMatchObject({ verdict: 'ok', fail: false });
  });

  it('allows 25 % relative or 0.10 absolute, whichever is larger', () => {
    expect(limitFor(metric, 2)).toBeCloseTo(2.5);
    expect(limitFor(metric, 0.2)).toBeCloseTo(0.3);
  });

  it('fails a ratio clearly worse than the reference and passes one within the tolerance', () => {
    expect(judge(metric, 1.0, ok(1.6), { ci: false })).toMatchObject({ verdict: 'REGRESSION', fail: true });
    expect(judge(metric, 1.0, ok(1.26), { ci: false })).toMatchObject({ verdict: 'REGRESSION', fail: true });
    expect(judge(metric, 1.0, ok(1.24), { ci: false })).toMatchObject({ verdict: 'ok', fail: false });
    expect(judge(metric, 0.3, ok(0.39), { ci: false })).toMatchObject({ verdict: 'ok', fail: false });
    expect(judge(metric, 0.3, ok(0.41), { ci: false })).toMatchObject({ verdict: 'REGRESSION', fail: true });
  });

  it('passes an improvement but flags the stale reference', () => {
    expect(judge(metric, 2.0, ok(1.0), { ci: true })).toMatchObject({ verdict: 'ok (better: refresh)', fail: false });
  });

  it('fails a ratio computed over failed requests, whatever its value', () => {
    expect(judge(metric, 2.0, { value: 0.5, errors: 3 }, { ci: false })).toMatchObject({ verdict: 'FAILED REQUESTS', fail: true });
  });

  it('every gated ratio has a label, a scenario and a positive tolerance', () => {
    expect(new Set(METRICS.map((m) => m.key)).size).toBe(METRICS.length);
    for (const m of METRICS) {
      expect(m.scenario).toMatch(/^S[1-4]$/);
      expect(m.rel).toBeGreaterThan(0);
      expect(m.abs).toBeGreaterThan(0);
    }
  });
});

describe('bench gate: reference block', () => {
  it('reads back what the full run writes', () => {
    const parsed = parseReference(doc({ 'x.cpu': 1.25, 'y.p50': 0.5 }));
    expect(parsed).toEqual({ ok: true, reference: { config: CONFIG, generated: '2026-01-01 00:00 UTC', ratios: { 'x.cpu': 1.25, 'y.p50': 0.5 } } });
  });

  it('refuses a missing, duplicated, unclosed, malformed or non-positive block', () => {
    const block = formatReference({ config: CONFIG, generated: 'g', ratios: { 'x.cpu': 1 } });
    expect(parseReference(undefined).ok).toBe(false);
    expect(parseReference('# Benchmarks\n\nno block here\n').ok).toBe(false);
    expect(parseReference(`${block}\n${block}`).ok).toBe(false);
    expect(parseReference('<!-- bench-gate-reference\n{"version":1}').ok).toBe(false);
    expect(parseReference('<!-- bench-gate-reference\n{not json}\n-->').ok).toBe(false);
    expect(parseReference('<!-- bench-gate-reference\n{"version":99,"config":"c","generated":"g","ratios":{}}\n-->').ok).toBe(false);
    expect(parseReference('<!-- bench-gate-reference\n{"version":1,"config":"c","generated":"g","ratios":{"a":-1}}\n-->').ok).toBe(false);
    expect(parseReference('<!-- bench-gate-reference\n{"version":1,"config":"c","generated":"g","ratios":{"a":"1"}}\n-->').ok).toBe(false);
  });
});

describe('bench gate: evaluate', () => {
  const metrics = [metric, { ...metric, key: 'y.p50', label: 'Y p50 ratio' }];

  it('fails the run on one clear regression, and the table names it', () => {
    const r = evaluate({
      metrics,
      reference: parseReference(doc({ 'x.cpu': 1, 'y.p50': 0.5 })),
      config: CONFIG,
      measured: { 'x.cpu': ok(2), 'y.p50': ok(0.5) },
      ci: false,
    });
    expect(r.fail).toBe(true);
    expect(r.rows.map((row) => row.verdict)).toEqual(['REGRESSION', 'ok']);
    expect(toRemeasure(r)).toEqual(['x.cpu']);
    expect(formatTable(r)).toMatch(/\| X CPU ratio \| 1\.00 \| 2\.00 \| 1\.25 \| REGRESSION \|/);
  });

  it('passes when every ratio is within its tolerance', () => {
    const r = evaluate({
      metrics,
      reference: parseReference(doc({ 'x.cpu': 1, 'y.p50': 0.5 })),
      config: CONFIG,
      measured: { 'x.cpu': ok(1.2), 'y.p50': ok(0.55) },
      ci: true,
    });
    expect(r.fail).toBe(false);
    expect(r.problems).toEqual([]);
  });

  it('a re-measurement within the tolerance rescues a noise spike; a regression seen twice fails', () => {
    const reference = parseReference(doc({ 'x.cpu': 1, 'y.p50': 0.5 }));
    const spike = evaluate({ metrics, reference, config: CONFIG, measured: { 'x.cpu': ok(2), 'y.p50': ok(0.5) }, remeasured: { 'x.cpu': ok(1.1) }, ci: true });
    expect(spike.fail).toBe(false);
    expect(spike.rows[0]).toMatchObject({ measured: 1.1, first: 2, verdict: 'ok' });
    const twice = evaluate({ metrics, reference, config: CONFIG, measured: { 'x.cpu': ok(2), 'y.p50': ok(0.5) }, remeasured: { 'x.cpu': ok(1.9) }, ci: true });
    expect(twice.fail).toBe(true);
    expect(twice.rows[0]).toMatchObject({ measured: 1.9, first: 2, verdict: 'REGRESSION' });
  });

  it('under CI, a missing reference block fails; outside CI it only reports', () => {
    const input = { metrics, reference: parseReference('# Benchmarks\n'), config: CONFIG, measured: { 'x.cpu': ok(1), 'y.p50': ok(0.5) } };
    const inCi = evaluate({ ...input, ci: true });
    expect(inCi.fail).toBe(true);
    expect(inCi.problems[0]).toMatch(/no "bench-gate-reference" block/);
    expect(inCi.rows.every((row) => row.verdict === 'NO REFERENCE' && row.fail)).toBe(true);
    expect(evaluate({ ...input, ci: false }).fail).toBe(false);
  });

  it('under CI, a reference from another gate configuration or lacking a ratio fails', () => {
    const measured = { 'x.cpu': ok(1), 'y.p50': ok(0.5) };
    expect(evaluate({ metrics, reference: parseReference(doc({ 'x.cpu': 1, 'y.p50': 0.5 }, 'other')), config: CONFIG, measured, ci: true }).fail).toBe(true);
    const partial = evaluate({ metrics, reference: parseReference(doc({ 'x.cpu': 1 })), config: CONFIG, measured, ci: true });
    expect(partial.fail).toBe(true);
    expect(partial.rows[1]).toMatchObject({ verdict: 'NO REFERENCE', fail: true });
  });

  it('under CI, a ratio that could not be measured (nginx missing) fails', () => {
    const reference = parseReference(doc({ 'x.cpu': 1, 'y.p50': 0.5 }));
    const measured = { 'y.p50': ok(0.5) };
    expect(evaluate({ metrics, reference, config: CONFIG, measured, ci: true }).rows[0]).toMatchObject({ verdict: 'NOT MEASURED', fail: true });
    expect(evaluate({ metrics, reference, config: CONFIG, measured, ci: false }).fail).toBe(false);
  });
});

describe('bench gate: choosing between two measurements', () => {
  it('takes the better value, and a clean measurement over one with failed requests or none', () => {
    expect(better(ok(2), ok(1))).toEqual(ok(1));
    expect(better(ok(1), ok(2))).toEqual(ok(1));
    expect(better({ value: 0.5, errors: 1 }, ok(3))).toEqual(ok(3));
    expect(better(ok(NaN), ok(3))).toEqual(ok(3));
    expect(better(undefined, ok(3))).toEqual(ok(3));
    expect(better(ok(3), undefined)).toEqual(ok(3));
  });
});
