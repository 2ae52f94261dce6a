/**
 * `scrapeguard serve`: serves metrics behind the configured TLS, client-certificate policy,
 * authentication and limits. Without `--registry` it serves this process's default metrics
 * (prom-client `collectDefaultMetrics`) plus scrapeguard's own metrics. With `--upstream URL` it
 * is a sidecar: it serves that exporter's metrics (parsed, redacted) plus its own. SIGHUP reloads.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createGuard } from '../../guard.js';
import { ScrapeguardError } from '../../errors.js';
import { createLogfmtLogger, type LogLevel, type Logger } from '../../log.js';
import { readFile } from 'node:fs/promises';
import { parseGoDuration } from '../../config/duration.js';
import { upstreamSource } from '../../exposition/upstream.js';
import { isLoopbackHost } from '../../net/loopback.js';
import { isRegistryLike, toMetricsSource, type MetricsSource, type MetricsSourceInput, type RegistryLike } from '../../exposition/source.js';
import { withExtraFamilies } from '../../exposition/pipeline.js';
import type { SelfMetricsRegistry } from '../../metrics/self.js';
import type { ResolvedConfig } from '../../config/schema.js';
import { parseListenAddress } from '../../server/server.js';
import { trustedPeerCheck } from '../../net/trusted-proxies.js';
import { flagOption, intOption, listOption, parseCommandArgs, stringOption, type ParsedArgs } from './args.js';
import type { CliCommand, CliIo } from './io.js';

const USAGE = `Usage: scrapeguard serve [--web.config.file FILE] [--web.listen-address HOST:PORT ...]
                        [--web.telemetry-path PATH] [--registry MODULE] [--log.level LEVEL]
                        [--upstream URL [--upstream.timeout D] [--upstream.max-bytes N]
                         [--upstream.ca-file F] [--upstream.cert-file F --upstream.key-file F]
                         [--upstream.server-name NAME] [--upstream.insecure-skip-verify] [--upstream.http2]
                         [--upstream.identity-headers [--upstream.user-header H] [--upstream.groups-header H]
                          [--upstream.method-header H] [--upstream.groups-separator SEP]]]
                        [--web.trusted-proxy ADDR ... [--web.proxy-protocol]]
                        [--web.health-listen-address HOST:PORT ... [--web.health-tls]]
                        [--insecure-listen] [--allow-plaintext-credentials]

Serves Prometheus metrics secured by a web-config.yml (TLS, mTLS, basic auth, limits).
Config, certificate, key and CA files are watched and reloaded; SIGHUP reloads too.

Options:
  --web.config.file FILE        web-config.yml; without it: plain HTTP, no auth (loud warning)
  --web.listen-address ADDR     HOST:PORT, [IPv6]:PORT or :PORT; repeatable
                                (default :9443 with a config file, 127.0.0.1:9443 without)
  --web.telemetry-path PATH     path of the metrics (default /metrics)
  --web.health-listen-address ADDR
                                serve GET /healthz and GET /readyz (and nothing else) on this
                                address too, without client certificate; plain HTTP unless
                                --web.health-tls; repeatable. For kubelet probes while the
                                metrics listener requires mTLS
  --web.health-tls              serve the health listener over TLS with the serving certificate
                                of tls_server_config (no client certificate asked for)
  --registry MODULE             module whose default export or \`registry\` export is a
                                prom-client Registry (or any object with metrics() and contentType)
  --log.level LEVEL             debug, info, warn or error (default info)
  --web.trusted-proxy ADDR      a proxy (IP or CIDR) whose X-Forwarded-For / X-Forwarded-Proto
                                are believed; repeatable (default: none is)
  --web.proxy-protocol          the trusted proxies open each connection with a PROXY protocol
                                v1/v2 header (HAProxy send-proxy-v2, AWS NLB); needs --web.trusted-proxy
  --upstream URL                sidecar mode: serve the redacted metrics of this exporter
                                (http:// or https://), e.g. http://127.0.0.1:9100/metrics
  --upstream.timeout D          deadline per upstream scrape, Go duration (default 10s)
  --upstream.max-bytes N        largest upstream body after gunzip (default 67108864)
  --upstream.ca-file FILE       CA bundle verifying an https upstream (default: system roots)
  --upstream.cert-file FILE     client certificate for an mTLS upstream (with --upstream.key-file)
  --upstream.key-file FILE      client key for an mTLS upstream
  --upstream.server-name NAME   name to verify the upstream certificate against
  --upstream.insecure-skip-verify  skip upstream certificate checks (loopback upstreams only)
  --upstream.http2              speak HTTP/2 to the upstream over one long-lived connection:
                                https:// needs the upstream to choose h2 in TLS ALPN (502 if it
                                does not, never HTTP/1.1 instead); http:// is h2c (prior knowledge)
  --upstream.identity-headers   tell the upstream who scraped: principal, groups and auth method
                                in x-remote-user, x-remote-groups, x-remote-auth-method (loopback
                                or certificate-verified https upstreams only)
  --upstream.user-header H      header for the principal (default x-remote-user)
  --upstream.groups-header H    header for the groups (default x-remote-groups)
  --upstream.method-header H    header for the auth method (default x-remote-auth-method)
  --upstream.groups-separator S separator between groups (default |)
  --insecure-listen             without TLS, listen on non-loopback addresses anyway (refused
                                otherwise: metrics would cross the network in clear text)
  --allow-plaintext-credentials without TLS, accept basic_auth_users / bearer_auth / header_auth / jwt_auth
                                anyway (refused otherwise: credentials would travel in clear text)
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

async function readOptionFile(io: CliIo, option: string, file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    throw new ScrapeguardError('USAGE', `--${option} ${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, { cause: error });
  }
}

/** The sidecar's source from the `--upstream*` flags. */
async function upstreamFromArgs(args: ParsedArgs, url: string, io: CliIo, logger: Logger): Promise<MetricsSource> {
  const timeoutText = stringOption(args, 'upstream.timeout');
  const timeoutMs = timeoutText === undefined ? 10_000 : parseGoDuration(timeoutText);
  if (timeoutMs === undefined || timeoutMs <= 0)
    throw new ScrapeguardError('USAGE', `--upstream.timeout must be a positive Go duration such as "10s", got ${JSON.stringify(timeoutText)}`);
  const maxBytes = intOption(args, 'upstream.max-bytes', 64 * 1024 * 1024, 1024, 2 ** 31 - 1);
  const ca = await readOptionFile(io, 'upstream.ca-file', stringOption(args, 'upstream.ca-file'));
  const cert = await readOptionFile(io, 'upstream.cert-file', stringOption(args, 'upstream.cert-file'));
  const key = await readOptionFile(io, 'upstream.key-file', stringOption(args, 'upstream.key-file'));
  const serverName = stringOption(args, 'upstream.server-name');
  const insecure = flagOption(args, 'upstream.insecure-skip-verify');
  const identityNames = {
    user: stringOption(args, 'upstream.user-header'),
    groups: stringOption(args, 'upstream.groups-header'),
    method: stringOption(args, 'upstream.method-header'),
    groupsSeparator: stringOption(args, 'upstream.groups-separator'),
  };
  const identityGiven = Object.values(identityNames).some((v) => v !== undefined);
  if (identityGiven && !flagOption(args, 'upstream.identity-headers')) {
    throw new ScrapeguardError(
      'USAGE',
      '--upstream.user-header, --upstream.groups-header, --upstream.method-header and --upstream.groups-separator need --upstream.identity-headers',
    );
  }
  const identityHeaders = flagOption(args, 'upstream.identity-headers')
    ? Object.fromEntries(Object.entries(identityNames).filter(([, v]) => v !== undefined))
    : undefined;
  let source: MetricsSource;
  try {
    source = upstreamSource({
      url,
      timeoutMs,
      maxBytes,
      tls: {
        ...(ca !== undefined ? { ca } : {}),
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
        ...(serverName !== undefined ? { serverName } : {}),
        ...(insecure ? { insecureSkipVerify: true } : {}),
      },
      ...(identityHeaders !== undefined ? { identityHeaders } : {}),
      ...(flagOption(args, 'upstream.http2') ? { http2: true } : {}),
    });
  } catch (error) {
    throw new ScrapeguardError('USAGE', `--upstream: ${(error as Error).message.replace(/^upstream: /, '')}`, { cause: error });
  }
  const host = new URL(url).hostname;
  if (insecure) logger.warn('upstream certificate verification is OFF (--upstream.insecure-skip-verify)', { upstream: source.description });
  if (url.startsWith('http:') && !isLoopbackHost(host)) {
    logger.warn('the upstream is plain HTTP on a non-loopback address: its metrics cross the network unencrypted and unredacted', {
      upstream: source.description,
    });
  }
  return source;
}

/**
 * Secure defaults of `serve` (the library itself only warns, so that every web-config.yml
 * node_exporter accepts still loads): without TLS, listening beyond loopback needs
 * `--insecure-listen`, and credentials (basic, bearer, JWT) need `--allow-plaintext-credentials`.
 * The opt-ins are flags, not config keys, so the web-config.yml stays loadable by Go exporters
 * (exporter-toolkit refuses unknown keys).
 */
export function refuseInsecureDefaults(
  config: ResolvedConfig,
  addresses: readonly string[],
  optIn: { insecureListen: boolean; allowPlaintextCredentials: boolean },
): void {
  if (config.tls) return;
  if (!optIn.allowPlaintextCredentials) {
    const methods = [
      ...(config.basicAuthUsers.size > 0 ? ['basic_auth_users'] : []),
      ...(config.bearerAuth ? ['bearer_auth'] : []),
      ...(config.headerAuth ? ['header_auth'] : []),
      ...(config.jwtAuth ? ['jwt_auth'] : []),
    ];
    if (methods.length > 0) {
      throw new ScrapeguardError(
        'USAGE',
        `${methods.join(', ')} without tls_server_config: credentials would travel in clear text; configure TLS, or pass --allow-plaintext-credentials if a TLS-terminating proxy in front makes this safe`,
      );
    }
  }
  if (!optIn.insecureListen) {
    const exposed = addresses.filter((address) => {
      const { host } = parseListenAddress(address);
      return host === undefined || !isLoopbackHost(host);
    });
    if (exposed.length > 0) {
      throw new ScrapeguardError(
        'USAGE',
        `refusing to serve plain HTTP on non-loopback ${exposed.length === 1 ? 'address' : 'addresses'} ${exposed.join(', ')}: configure tls_server_config in --web.config.file, listen on 127.0.0.1, or pass --insecure-listen`,
      );
    }
  }
}

/** Runs `scrapeguard serve` until stopped. */
export const serveCommand: CliCommand = async (argv, io) => {
  const args = parseCommandArgs(argv, {
    'web.config.file': { type: 'string' },
    'web.listen-address': { type: 'string', multiple: true },
    'web.telemetry-path': { type: 'string' },
    'web.health-listen-address': { type: 'string', multiple: true },
    'web.health-tls': { type: 'boolean' },
    registry: { type: 'string' },
    'log.level': { type: 'string' },
    upstream: { type: 'string' },
    'upstream.timeout': { type: 'string' },
    'upstream.max-bytes': { type: 'string' },
    'upstream.ca-file': { type: 'string' },
    'upstream.cert-file': { type: 'string' },
    'upstream.key-file': { type: 'string' },
    'upstream.server-name': { type: 'string' },
    'upstream.insecure-skip-verify': { type: 'boolean' },
    'upstream.http2': { type: 'boolean' },
    'upstream.identity-headers': { type: 'boolean' },
    'upstream.user-header': { type: 'string' },
    'upstream.groups-header': { type: 'string' },
    'upstream.method-header': { type: 'string' },
    'upstream.groups-separator': { type: 'string' },
    'insecure-listen': { type: 'boolean' },
    'allow-plaintext-credentials': { type: 'boolean' },
    'web.trusted-proxy': { type: 'string', multiple: true },
    'web.proxy-protocol': { type: 'boolean' },
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
  const healthAddresses = listOption(args, 'web.health-listen-address');
  const healthTls = flagOption(args, 'web.health-tls');
  if (healthTls && healthAddresses.length === 0) throw new ScrapeguardError('USAGE', '--web.health-tls needs --web.health-listen-address');
  for (const address of healthAddresses) parseListenAddress(address);
  const registryModule = stringOption(args, 'registry');
  const upstream = stringOption(args, 'upstream');
  if (upstream !== undefined && registryModule !== undefined) throw new ScrapeguardError('USAGE', '--upstream and --registry cannot be combined');
  if (upstream === undefined && Object.keys(args.values).some((k) => k.startsWith('upstream.'))) {
    throw new ScrapeguardError('USAGE', '--upstream.* options need --upstream URL');
  }
  let source: MetricsSourceInput;
  let selfMetrics: SelfMetricsRegistry | undefined;
  if (upstream !== undefined) {
    // Sidecar: the upstream's metrics plus scrapeguard's own (source errors, redactions…) when
    // prom-client is installed.
    const upstreamMetrics = await upstreamFromArgs(args, upstream, io, logger);
    const prom = await import('prom-client').catch(() => undefined);
    if (prom) {
      const own = new prom.Registry();
      selfMetrics = own;
      source = withExtraFamilies(upstreamMetrics, toMetricsSource(own));
    } else source = upstreamMetrics;
  } else {
    const registry = registryModule ? await loadRegistry(registryModule, io) : await defaultRegistry();
    source = registry;
    if (typeof (registry as Partial<SelfMetricsRegistry>).registerMetric === 'function') selfMetrics = registry as unknown as SelfMetricsRegistry;
  }
  if (!configFile) logger.warn('no --web.config.file: serving plain HTTP without authentication');
  const trustedProxies = listOption(args, 'web.trusted-proxy');
  const proxyProtocol = flagOption(args, 'web.proxy-protocol');
  try {
    trustedPeerCheck(trustedProxies.length > 0 ? { addresses: trustedProxies } : undefined);
  } catch (error) {
    throw new ScrapeguardError('USAGE', `--web.trusted-proxy: ${(error as Error).message.replace(/^trustedProxies\.addresses: /, '')}`, { cause: error });
  }
  if (proxyProtocol && trustedProxies.length === 0) {
    throw new ScrapeguardError('USAGE', '--web.proxy-protocol needs --web.trusted-proxy ADDR (the load balancers allowed to send PROXY headers)');
  }

  const optIn = {
    insecureListen: flagOption(args, 'insecure-listen'),
    allowPlaintextCredentials: flagOption(args, 'allow-plaintext-credentials'),
  };
  const guard = await createGuard({
    ...(configFile ? { config: resolve(io.cwd, configFile) } : {}),
    source,
    logger,
    ...(selfMetrics ? { selfMetrics } : {}),
    telemetryPath: stringOption(args, 'web.telemetry-path') ?? '/metrics',
    ...(trustedProxies.length > 0 ? { trustedProxies: { addresses: trustedProxies } } : {}),
    // At start and on every reload: an edit that drops TLS but keeps credentials (or exposes plain
    // HTTP beyond loopback) is refused like the same file at start; the last good config serves.
    acceptConfig: (config) => refuseInsecureDefaults(config, addresses, optIn),
  });
  if (healthTls && !guard.config.tls) {
    await guard.close(0);
    throw new ScrapeguardError('USAGE', '--web.health-tls serves the certificate of tls_server_config, and --web.config.file has none');
  }
  const bound = await guard.listen(addresses, proxyProtocol ? { proxyProtocol: true } : {});
  const path = stringOption(args, 'web.telemetry-path') ?? '/metrics';
  for (const b of bound) io.stdout.write(`listening on ${b.url}${path}\n`);
  if (healthAddresses.length > 0) {
    // Plain HTTP here is allowed beyond loopback (no --insecure-listen): the listener serves only
    // the two probe answers, and a kubelet probes the pod IP.
    const health = await guard.listenHealth(healthAddresses, healthTls ? { tls: true } : {}).catch(async (error: unknown) => {
      await guard.close(0);
      throw error;
    });
    for (const b of health) io.stdout.write(`health on ${b.url}/healthz and ${b.url}/readyz\n`);
  }
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
