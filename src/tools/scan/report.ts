/**
 * Output formats of `scrapeguard scan`: a table for people, JSON for scripts (schema documented in
 * the README, `schemaVersion` bumped on any incompatible change) and SARIF 2.1.0 for code-scanning
 * UIs. All three are built from the same {@link TargetReport}s and never hold a secret (findings
 * carry none).
 */
import { SCAN_RULES, severityRank, type Finding, type Severity, type TargetReport } from './findings.js';

/** Output format names. */
export type ReportFormat = 'table' | 'json' | 'sarif';

/** Version of the JSON document {@link jsonReport} writes. */
export const JSON_SCHEMA_VERSION = 1;

const TOOL_VERSION = '0.1.0';
const INFORMATION_URI = 'https://github.com/scrapeguard/scrapeguard#scan';

/** Counts per severity over all targets. */
export function severityCounts(reports: readonly TargetReport[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { info: 0, low: 0, medium: 0, high: 0 };
  for (const r of reports) for (const f of r.findings) counts[f.severity]++;
  return counts;
}

/** Whether any finding is at or above `threshold`. */
export function hasFindingAtOrAbove(reports: readonly TargetReport[], threshold: Severity): boolean {
  return reports.some((r) => r.findings.some((f) => severityRank(f.severity) >= severityRank(threshold)));
}

function evidenceText(f: Finding): string {
  return Object.entries(f.evidence)
    .map(([k, v]) => `${k}=${typeof v === 'string' && /[\s,]/.test(v) ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

/**
 * The report for a terminal: per target, findings most severe first with the fix; hints (the
 * scrapeguard commands) once per target at the end.
 */
export function tableReport(reports: readonly TargetReport[]): string {
  const out: string[] = [];
  for (const report of reports) {
    out.push(`${report.kind === 'prometheus' ? 'Prometheus server' : 'Endpoint'} ${report.url}`);
    if (report.error !== undefined) out.push(`  ERROR  not scanned: ${report.error}`);
    if (report.findings.length === 0 && report.error === undefined) out.push('  no findings');
    const idWidth = Math.max(0, ...report.findings.map((f) => f.id.length));
    for (const f of report.findings) {
      const rule = SCAN_RULES.find((r) => r.id === f.id)!;
      out.push(`  ${f.severity.toUpperCase().padEnd(6)} ${f.id.padEnd(idWidth)}  ${f.message}`);
      const evidence = evidenceText(f);
      if (evidence !== '') out.push(`  ${' '.repeat(7 + idWidth)}  evidence: ${evidence}`);
      if (f.severity !== 'info') out.push(`  ${' '.repeat(7 + idWidth)}  fix: ${rule.fix}`);
    }
    for (const note of report.notes ?? []) out.push(`  note: ${note}`);
    const hints = [...new Set(report.findings.flatMap((f) => (f.severity === 'info' ? [] : f.hints)))];
    if (hints.length > 0) {
      out.push('  to secure it with scrapeguard:');
      for (const h of hints) out.push(`    ${h}`);
    }
    out.push('');
  }
  const c = severityCounts(reports);
  out.push(`${c.high} high, ${c.medium} medium, ${c.low} low, ${c.info} info finding(s) on ${reports.length} target(s)`);
  return out.join('\n') + '\n';
}

/**
 * The JSON document: `{ schemaVersion, tool, summary, targets: [{ url, kind, error?, notes?,
 * findings: [{ id, severity, title, message, evidence, fix, hints }] }] }`.
 */
export function jsonReport(reports: readonly TargetReport[]): string {
  const doc = {
    schemaVersion: JSON_SCHEMA_VERSION,
    tool: { name: 'scrapeguard', version: TOOL_VERSION },
    summary: severityCounts(reports),
    targets: reports.map((r) => ({
      url: r.url,
      kind: r.kind,
      ...(r.error !== undefined ? { error: r.error } : {}),
      ...(r.notes !== undefined ? { notes: r.notes } : {}),
      findings: r.findings.map((f) => {
        const rule = SCAN_RULES.find((x) => x.id === f.id)!;
        return {
          id: f.id,
          severity: f.severity,
          category: rule.category,
          title: rule.title,
          message: f.message,
          evidence: f.evidence,
          fix: rule.fix,
          hints: f.hints,
        };
      }),
    })),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

const SARIF_LEVEL: Record<Severity, 'note' | 'warning' | 'error'> = { info: 'note', low: 'note', medium: 'warning', high: 'error' };
/** GitHub code scanning reads `security-severity` (0–10) to rank security results. */
const SECURITY_SEVERITY: Record<Severity, string> = { info: '0.0', low: '3.0', medium: '5.5', high: '8.0' };

/**
 * SARIF 2.1.0: one run, every rule in `tool.driver.rules`, one result per finding located at the
 * scanned URL; targets that could not be scanned become `toolExecutionNotifications`.
 */
export function sarifReport(reports: readonly TargetReport[]): string {
  const ruleIndex = new Map(SCAN_RULES.map((r, i) => [r.id, i]));
  const doc = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'scrapeguard-scan',
            version: TOOL_VERSION,
            informationUri: INFORMATION_URI,
            rules: SCAN_RULES.map((r) => ({
              id: r.id,
              name: r.id.replace(/[^a-zA-Z0-9]+(.)/g, (_, c: string) => c.toUpperCase()),
              shortDescription: { text: r.title },
              fullDescription: { text: r.explanation },
              help: { text: r.fix },
              defaultConfiguration: { level: SARIF_LEVEL[r.severity] },
              properties: { category: r.category, severity: r.severity, 'security-severity': SECURITY_SEVERITY[r.severity], tags: ['security', r.category] },
            })),
          },
        },
        invocations: [
          {
            executionSuccessful: reports.every((r) => r.error === undefined),
            toolExecutionNotifications: reports
              .filter((r) => r.error !== undefined)
              .map((r) => ({ level: 'error', message: { text: `${r.url}: ${r.error}` } })),
          },
        ],
        results: reports.flatMap((r) =>
          r.findings.map((f) => ({
            ruleId: f.id,
            ruleIndex: ruleIndex.get(f.id) ?? 0,
            level: SARIF_LEVEL[f.severity],
            message: { text: `${f.message}${f.hints.length > 0 ? `. Fix: ${f.hints.join(' ; ')}` : ''}` },
            locations: [{ physicalLocation: { artifactLocation: { uri: r.url } } }],
            properties: { severity: f.severity, evidence: f.evidence },
          })),
        ),
      },
    ],
  };
  return JSON.stringify(doc, null, 2) + '\n';
}
