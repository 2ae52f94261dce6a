/**
 * `scrapeguard serve`: serves metrics behind the configured TLS, client-certificate policy,
 * authentication and limits. Without `--registry` it serves this process's default metrics
 * (prom-client `collectDefaultMetrics`) plus scrapeguard's own metrics. SIGHUP reloads.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createGuard } from '../guard.js';
import { ScrapeguardError } from '../errors.js';
import { isRegistryLike, type RegistryLike } from '../exposition/source.js';
import { createLogfmtLogger, type LogLevel } from '../log.js';
import type { SelfMetricsRegistry } from '../metrics/self.js';
import { listOption, parseCommandArgs, stringOption } from './args.js';
import type { CliCommand, CliIo } from './io.js';

const USAGE = `Usage: scrapeguard serve [--web.config.file FILE] [--web.listen-address HOST:PORT ...]
                        [--web.telemetry-path PATH] [--registry MODULE] [--log.level LEVEL]

Serves Prometheus metrics secured by a web-config.yml (TLS, mTLS, basic auth, limits).
Config, certificate, key and CA files are watched and reloaded; SIGHUP reloads too.

Options:
  --web.config.file FILE        web-config.yml; without it: plain HTTP, no auth (loud warning)
  --web.listen-address ADDR     HOST:PORT, [IPv6]:PORT or :PORT; repeatable
                                (default :9443 with a config file, 127.0.0.1:9443 without)
  --web.telemetry-path PATH     path of the metrics (default /metrics)
  --registry MODULE             module whose default export or \`registry\` export is a
                                prom-client Registry (or any object with metrics() and contentType)
  --log.level LEVEL             debug, info, warn or error (default info)
  -h, --help                    show this help
`;

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

async function loadRegistry(module: string, io: CliIo): Promise<RegistryLike> {
  const url = /^[a-z]+:/i.test(module) && !/^[a-z]:[\\/]/i.test(module) ? module : pathToFileURL(resolve(io.cwd, module)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new ScrapeguardError('USAGE', `--registry ${module}: cannot import: ${(error as Error).message}`, { cause: error });
  }
  for (const candidate of [mod.default, mod.registry, (mod.default as Record<string, unknown> | undefined)?.registry]) {
    if (isRegistryLike(candidate)) return candidate;
  }
  throw new ScrapeguardError('USAGE', `--registry ${module}: neither the default export nor \`registry\` has metrics() and contentType`);
}

async function defaultRegistry(): Promise<RegistryLike & SelfMetricsRegistry> {
  let prom: typeof import('prom-client');
  try {
    prom = await import('prom-client');
  } catch (error) {
    throw new ScrapeguardError('USAGE', 'serving default metrics needs prom-client: npm install prom-client (or pass --registry)', { cause: error });
  }
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  return registry;
}

/** Runs `scrapeguard serve` until stopped. */
export const serveCommand: CliCommand = async (argv, io) => {
  const args = parseCommandArgs(argv, {
    'web.config.file': { type: 'string' },
    'web.listen-address': { type: 'string', multiple: true },
    'web.telemetry-path': { type: 'string' },
    registry: { type: 'string' },
    'log.level': { type: 'string' },
  });
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const level = stringOption(args, 'log.level') ?? 'info';
  if (!LEVELS.has(level)) throw new ScrapeguardError('USAGE', `--log.level must be debug, info, warn or error, got ${JSON.stringify(level)}`);
  const logger = createLogfmtLogger({ level: level as LogLevel, write: (line) => io.stderr.write(line + '\n') });
  const configFile = stringOption(args, 'web.config.file');
  let addresses = listOption(args, 'web.listen-address');
  if (addresses.length === 0) addresses = [configFile ? ':9443' : '127.0.0.1:9443'];
  const registryModule = stringOption(args, 'registry');
  const registry = registryModule ? await loadRegistry(registryModule, io) : await defaultRegistry();
  const selfMetrics = typeof (registry as Partial<SelfMetricsRegistry>).registerMetric === 'function' ? (registry as unknown as SelfMetricsRegistry) : undefined;
  if (!configFile) logger.warn('no --web.config.file: serving plain HTTP without authentication');

  const guard = await createGuard({
    ...(configFile ? { config: resolve(io.cwd, configFile) } : {}),
    source: registry,
    logger,
    ...(selfMetrics ? { selfMetrics } : {}),
    telemetryPath: stringOption(args, 'web.telemetry-path') ?? '/metrics',
  });
  const bound = await guard.listen(addresses);
  const path = stringOption(args, 'web.telemetry-path') ?? '/metrics';
  for (const b of bound) io.stdout.write(`listening on ${b.url}${path}\n`);
  const unsubscribe = io.onReloadSignal(() => {
    logger.info('SIGHUP: reloading configuration and reopening the audit log');
    guard.reopenAuditLog();
    void guard.reload();
  });
  await io.stopSignal;
  unsubscribe();
  logger.info('shutting down');
  await guard.close();
  return 0;
};
