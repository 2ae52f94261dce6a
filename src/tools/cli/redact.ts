/**
 * `scrapeguard redact`: exposition text on stdin, the redacted text on stdout, the same pass a
 * scrape goes through (strict parse, `redaction` rules, secret detectors, merging). For testing
 * rules and for sanitizing a dump before attaching it to a bug report. `--report` prints on stderr
 * which rules and detectors fired how often, on which label names; never a value.
 */
import { resolve } from 'node:path';
import { loadConfigFile } from '../../config/load.js';
import { defaultRedaction } from '../../config/redaction.js';
import { parseExposition, sniffFormat } from '../../exposition/parse.js';
import { compileRedaction, type RedactionReport } from '../../exposition/redact.js';
import { renderExposition } from '../../exposition/render.js';
import { flagOption, parseCommandArgs, stringOption } from './args.js';
import type { CliCommand } from './io.js';

const USAGE = `Usage: scrapeguard redact [--web.config.file FILE] [--openmetrics] [--report] < IN > OUT

Reads Prometheus exposition text (text format 0.0.4 or OpenMetrics, detected by "# EOF"; quoted
UTF-8 names such as {"my.metric"} included, written back quoted) on stdin and writes it redacted
on stdout, as a scrape would serve it: the config's redaction rules, or
without a config the defaults (every secret detector on). Text that does not parse is refused
(exit 1, the line number on stderr), never passed through.

Options:
  --web.config.file FILE   web-config.yml whose redaction section applies
  --openmetrics            write OpenMetrics (default: the input's format)
  --report                 print on stderr which rules and detectors fired how often
  -h, --help               show this help
`;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 || word.endsWith('s') ? '' : 's'}`;
}

/** The `--report` text: counts and names only. */
export function formatRedactionReport(report: RedactionReport, series: number): string {
  const lines = ['redaction report (counts and names only; values are never shown):'];
  for (const p of report.patterns) {
    const what = p.rule === 'drop_metrics' ? 'series' : p.rule === 'redact_help' ? 'replacement' : 'label value';
    const on = p.rule === 'drop_metrics' || p.rule === 'redact_help' ? 'families' : 'labels';
    lines.push(`  ${p.rule} ${JSON.stringify(p.pattern)}: ${plural(p.count, what)} (${on}: ${[...p.names].sort().join(', ')})`);
  }
  for (const [detector, count] of report.detectors) {
    lines.push(
      `  detector ${detector}: ${plural(count, 'label value')} masked (labels: ${[...(report.detectorLabels.get(detector) ?? [])].sort().join(', ')})`,
    );
  }
  if (lines.length === 1) lines.push('  nothing redacted');
  if (report.merged > 0) lines.push(`  ${plural(report.merged, 'series')} merged into others after redaction made them identical`);
  lines.push(`  ${plural(series, 'series')} written`);
  return lines.join('\n') + '\n';
}

/** Runs `scrapeguard redact`. */
export const redactCommand: CliCommand = async (argv, io) => {
  const args = parseCommandArgs(argv, {
    'web.config.file': { type: 'string' },
    openmetrics: { type: 'boolean' },
    report: { type: 'boolean' },
  });
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const file = stringOption(args, 'web.config.file');
  const config = file ? await loadConfigFile(resolve(io.cwd, file)) : undefined;
  for (const warning of config?.warnings ?? []) io.stderr.write(`warning: ${warning}\n`);
  const redactor = compileRedaction(config?.redaction ?? defaultRedaction());

  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  const text = Buffer.concat(chunks).toString('utf8');
  const inputFormat = sniffFormat(text);
  const { families, report } = redactor.apply(parseExposition(text, inputFormat));
  const out = renderExposition(families, flagOption(args, 'openmetrics') ? 'openmetrics' : inputFormat);
  io.stdout.write(out.text);
  if (flagOption(args, 'report')) io.stderr.write(formatRedactionReport(report, out.samples));
  return 0;
};
