/**
 * Command dispatch for the `scrapeguard` executable: runs one command and turns user errors
 * into one line on stderr with exit status 1 (never a stack trace). Kept apart from `main.ts`
 * so tests run the whole CLI in-process.
 */
import { ConfigError, ScrapeguardError, formatConfigIssue } from '../../errors.js';
import { checkCommand } from './check.js';
import { demoCommand } from './demo.js';
import { hashPasswordCommand } from './hash-password.js';
import { initCommand } from './init.js';
import { jwtCommand } from './jwt.js';
import { tokenCommand } from './token.js';
import type { CliCommand, CliIo } from './io.js';
import { scrapeConfigCommand } from './scrape-config.js';

import { redactCommand } from './redact.js';
import { scanCommand } from './scan.js';
import { serveCommand } from './serve.js';

const COMMANDS: Record<string, { run: CliCommand; summary: string }> = {
  serve: { run: serveCommand, summary: 'serve metrics secured by a web-config.yml' },
  check: { run: checkCommand, summary: 'validate a web-config.yml' },
  init: { run: initCommand, summary: 'write a development PKI and a matching web-config.yml' },
  'scrape-config': { run: scrapeConfigCommand, summary: 'print the Prometheus scrape config (or ServiceMonitor) that matches a web-config.yml' },
  'hash-password': { run: hashPasswordCommand, summary: 'bcrypt-hash a password read from stdin' },
  token: { run: tokenCommand, summary: 'make a random bearer token and its bearer_auth entry (SHA-256 only)' },
  jwt: { run: jwtCommand, summary: 'mint a JWT for testing; "jwt keygen" makes a signing key and jwks.json' },

  redact: { run: redactCommand, summary: 'redact exposition text from stdin as a scrape would (--report: what fired)' },
  scan: { run: scanCommand, summary: 'audit metrics endpoints or a Prometheus server for exposed metrics and leaked secrets' },
  demo: { run: demoCommand, summary: 'serve a fully secured endpoint and scrape it once' },
};

const VERSION = '0.1.0';

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: scrapeguard COMMAND [OPTIONS]\n\nCommands:\n${lines.join('\n')}\n\nRun "scrapeguard COMMAND --help" for a command's options.\n`;
}

/** Runs the CLI with the given arguments and IO; returns the exit status. */
export async function runMain(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write(`scrapeguard ${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`scrapeguard: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 1;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const issue of error.issues) io.stderr.write(`scrapeguard ${name}: ${formatConfigIssue(issue)}\n`);
      return 1;
    }
    if (error instanceof ScrapeguardError) {
      io.stderr.write(`scrapeguard ${name}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
