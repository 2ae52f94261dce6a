/**
 * Content checks on a served exposition: label values and HELP texts that the secret detectors
 * (src/exposition/secrets.ts) flag, and labels holding many distinct e-mail or IP addresses (per-user
 * identifiers). Reports name the metric, label and detector with a masked preview and counts —
 * never a value. One finding per (metric, label, detector), so a leaked password repeated on a
 * thousand series is one line, with the count.
 */
import { isIP } from 'node:net';
import { ExpositionParseError } from '../../exposition/failure.js';
import { textFamilyName } from '../../exposition/model.js';
import { formatOfContentType, parseExposition, sniffFormat } from '../../exposition/parse.js';
import { compileSecretDetection, maskedPreview } from '../../exposition/secrets.js';
import { finding, type Finding } from './findings.js';

/** Distinct e-mail or IP values one label must hold to count as a per-user identifier. */
export const IDENTIFIER_THRESHOLD = 10;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Labels whose IP addresses name infrastructure (scrape targets, nodes, pods, peers), not users:
 * many distinct values there are normal. E-mail addresses count in any label.
 */
const INFRASTRUCTURE_IP_LABELS = new Set([
  'instance',
  'address',
  'addr',
  'host',
  'hostname',
  'node',
  'node_ip',
  'host_ip',
  'pod_ip',
  'server',
  'server_ip',
  'target',
  'endpoint',
  'peer',
  'peer_ip',
  'upstream',
  'backend',
  'gateway',
  'nameserver',
  'local_address',
  'remote_address',
]);

/** Compiled once: every detector. */
const detect = compileSecretDetection('all');

/**
 * Parses `body` (format from the content type, sniffed otherwise) and reports secrets and
 * per-user identifiers.
 */
export function contentFindings(target: string, body: string, contentType: string | undefined, hints: readonly string[]): Finding[] {
  let families;
  try {
    families = parseExposition(body, formatOfContentType(contentType) ?? sniffFormat(body));
  } catch (error) {
    const where = error instanceof ExpositionParseError ? error.message : 'unreadable';
    return [finding('content.unparseable', target, `the body is not valid exposition text: ${where}`, { contentType: contentType ?? '' })];
  }
  const findings: Finding[] = [];
  const secrets = new Map<string, { metric: string; label: string; detector: string; count: number; preview: string }>();
  const identifiers = new Map<string, { metric: string; label: string; kind: string; values: Set<string> }>();

  for (const family of families) {
    const metric = textFamilyName(family);
    if (family.help !== undefined) {
      const detector = detect('help', family.help);
      if (detector !== undefined) {
        findings.push(
          finding(
            'content.secret-help',
            target,
            `HELP of ${metric} matches detector ${detector}`,
            { metric, detector, preview: maskedPreview(family.help) },
            hints,
          ),
        );
      }
    }
    for (const sample of family.samples) {
      const labels = sample.labels;
      for (let i = 0; i < labels.length; i += 2) {
        const label = labels[i]!;
        const value = labels[i + 1]!;
        const detector = detect(label, value);
        if (detector !== undefined) {
          const key = `${metric}\0${label}\0${detector}`;
          const seen = secrets.get(key);
          if (seen) seen.count++;
          else secrets.set(key, { metric, label, detector, count: 1, preview: maskedPreview(value) });
          continue;
        }
        const kind = EMAIL.test(value) ? 'e-mail' : isIP(value) !== 0 && !INFRASTRUCTURE_IP_LABELS.has(label) ? 'IP' : undefined;
        if (kind !== undefined) {
          const key = `${metric}\0${label}\0${kind}`;
          const entry = identifiers.get(key) ?? { metric, label, kind, values: new Set<string>() };
          entry.values.add(value);
          identifiers.set(key, entry);
        }
      }
    }
  }
  for (const s of secrets.values()) {
    findings.push(
      finding(
        'content.secret-label-value',
        target,
        `${s.metric}{${s.label}} matches detector ${s.detector} on ${s.count} series`,
        {
          metric: s.metric,
          label: s.label,
          detector: s.detector,
          series: s.count,
          preview: s.preview,
        },
        hints,
      ),
    );
  }
  for (const id of identifiers.values()) {
    if (id.values.size < IDENTIFIER_THRESHOLD) continue;
    const example = id.values.values().next().value as string;
    findings.push(
      finding(
        'content.per-user-identifier',
        target,
        `${id.metric}{${id.label}} holds ${id.values.size} distinct ${id.kind} addresses`,
        {
          metric: id.metric,
          label: id.label,
          kind: id.kind,
          distinct: id.values.size,
          preview: maskedPreview(example),
        },
        hints,
      ),
    );
  }
  return findings;
}
