// Types of bench/lib/gate.mjs for test/bench-gate.test.ts (the bench scripts are plain .mjs).

export interface GateMetric {
  key: string;
  scenario: string;
  label: string;
  rel: number;
  abs: number;
  /** The bar for this ratio: a ratio within it never fails. */
  floor?: number;
  /** Measured and printed, never failing the gate. */
  reported?: boolean;
}
export interface Measurement {
  value: number;
  errors: number;
}
export interface Reference {
  config: string;
  generated: string;
  ratios: Record<string, number>;
}
export type ParsedReference = { ok: true; reference: Reference } | { ok: false; reason: string };
export interface GateRow {
  key: string;
  label: string;
  reference: number | undefined;
  measured: number | undefined;
  first: number | undefined;
  limit: number;
  verdict: string;
  fail: boolean;
}
export interface GateResult {
  rows: GateRow[];
  problems: string[];
  fail: boolean;
}

export const REFERENCE_VERSION: number;
export const METRICS: readonly GateMetric[];
export function limitFor(metric: Pick<GateMetric, 'rel' | 'abs'>, reference: number): number;
export function formatReference(reference: Reference): string;
export function parseReference(markdown: string | undefined): ParsedReference;
export function better(first: Measurement | undefined, second: Measurement | undefined): Measurement | undefined;
export function judge(
  metric: Pick<GateMetric, 'rel' | 'abs'>,
  reference: number | undefined,
  measured: Measurement | undefined,
  options: { ci: boolean },
): { verdict: string; fail: boolean; limit: number };
export function evaluate(input: {
  metrics: readonly GateMetric[];
  reference: ParsedReference;
  config: string;
  measured: Record<string, Measurement>;
  remeasured?: Record<string, Measurement>;
  ci: boolean;
}): GateResult;
export function toRemeasure(result: GateResult): string[];
export function formatTable(result: GateResult): string;
