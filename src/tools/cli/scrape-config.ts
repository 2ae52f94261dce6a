/**
 * `scrapeguard scrape-config`: prints the scraper's half of a web-config.yml — a Prometheus
 * `scrape_configs` entry, or a prometheus-operator ServiceMonitor/PodMonitor/ScrapeConfig with its Secret —
 * as YAML on stdout. What the scraper cannot match goes to stderr as `warning:` lines, never
 * into the YAML, so the output can be piped straight into a file or `kubectl apply -f -`.
 */
import { resolve } from 'node:path';
import { loadConfigFile } from '../../config/load.js';
import { ScrapeguardError } from '../../errors.js';
import { generateOperatorManifests, generateScrapeConfig, type ScrapeOptionsBase } from '../scrape-config/generate.js';
import type { CredentialFiles } from '../scrape-config/plan.js';
import type { AuthChoice } from '../scrape-config/requirements.js';
import { flagOption, listOption, parseCommandArgs, stringOption } from './args.js';
import type { CliCommand } from './io.js';

const USAGE = `Usage: scrapeguard scrape-config --web.config.file FILE --target HOST:PORT [--target ...]
                                [--job NAME] [--metrics-path P] [--server-name NAME]
                                [--credentials-dir DIR] [--prometheus-version X.Y]
                                [--native-histograms]
                                [--format prometheus|servicemonitor|podmonitor|scrapeconfig]
                                [--operator-version X.Y] [--namespace NS]
                                [--selector LABEL=VALUE ...]

Prints the Prometheus scrape configuration that matches a web-config.yml: scheme, tls_config
(ca_file, client cert_file/key_file, server_name, min_version), basic_auth / authorization /
oauth2 with secrets by file, and labeldrop rules. Warnings about anything the scraper cannot
match (wrong CA, certificate names, client certificate refused, password mismatch, expiry) go
to stderr. Exit 0 with warnings; exit 1 when no usable configuration can be written.

Options:
  --web.config.file FILE       the server's web-config.yml (required)
  --target HOST:PORT           an instance serving it; repeatable ([IPv6]:PORT for IPv6);
                               required for --format prometheus and scrapeconfig
  --job NAME                   job_name, or the monitor's name (default scrapeguard)
  --metrics-path P             metrics path (default /metrics)
  --interval DURATION          scrape interval of this job (default: Prometheus's global one)
  --server-name NAME           verify the server certificate as NAME (default: the target's
                               host, or a name of the certificate when the host is not in it)
  --credentials-dir DIR        where Prometheus finds its files: ca.crt, client.crt,
                               client.key, password, token, client-secret, api-key (the layout of
                               "scrapeguard init"); files missing there are warnings.
                               Default: the web config's directory (missing files are errors)
  --ca-file FILE               CA that signed the server certificate (overrides the directory)
  --cert-file FILE             client certificate   --key-file FILE   its private key
  --password-file FILE         basic-auth password file
  --credentials-file FILE      bearer token / JWT file (authorization.credentials_file); for
                               jwt_auth.kubernetes the token's path inside the Prometheus pod
                               (default /var/run/secrets/kubernetes.io/serviceaccount/token)
  --api-key-file FILE          header_auth key file (http_headers files; Prometheus 2.55+)
  --user NAME                  basic-auth user to scrape as (default: the only one)
  --auth basic|bearer|header|jwt|none  the credential to present when the server accepts several
                               (none: the client certificate alone, with client_cert_auth)
  --labeldrop REGEX            also drop these labels on ingestion; repeatable
  --oauth2-token-url URL       for jwt_auth: fetch tokens with OAuth 2.0 client credentials
  --oauth2-client-id ID        (default without these: the JWT is read from a credentials file)
  --oauth2-scope SCOPE         repeatable
  --oauth2-client-secret-file FILE
  --oauth2-ca-file FILE        CA that signed the token endpoint's certificate
                               (oauth2.tls_config; default: the system roots)
  --prometheus-version X.Y     oldest Prometheus to support (default 3.5, the current LTS);
                               fields it lacks are left out (min_version 2.35, max_version
                               2.41, scrape_protocols 2.49, fallback_scrape_protocol 3.0)
  --native-histograms          the target serves native histograms (the serve sidecar in
                               front of a client_golang exporter or a Prometheus): ask for
                               protobuf first (scrape_protocols, Prometheus 2.49+)
  --format F                   prometheus (default), servicemonitor, podmonitor or
                               scrapeconfig (prometheus-operator v1alpha1, static --target)
  --operator-version X.Y       oldest prometheus-operator to support (default 0.80); fields
                               its CRDs lack are left out (tlsConfig.minVersion 0.76,
                               fallbackScrapeProtocol 0.80; operator formats)
  --namespace NS               namespace of the monitor and its Secret (operator formats)
  --selector LABEL=VALUE       labels of the Services/Pods to scrape; repeatable, required
                               for the operator formats
  --port NAME                  Service/container port name (operator formats; default metrics)
  --omit-secrets               operator formats: print only the monitor, and on stderr the
                               kubectl command that creates its Secret from the files
  -h, --help                   show this help
`;

const FORMATS = new Set(['prometheus', 'servicemonitor', 'podmonitor', 'scrapeconfig']);
const KINDS = { servicemonitor: 'ServiceMonitor', podmonitor: 'PodMonitor', scrapeconfig: 'ScrapeConfig' } as const;
const AUTH_CHOICES = new Set(['basic', 'bearer', 'header', 'jwt', 'none']);

function selectorOption(values: readonly string[]): Record<string, string> {
  const selector: Record<string, string> = {};
  for (const item of values) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ScrapeguardError('USAGE', `--selector ${JSON.stringify(item)} is not LABEL=VALUE`);
    const key = item.slice(0, eq);
    if (Object.hasOwn(selector, key)) throw new ScrapeguardError('USAGE', `--selector ${key} is given twice`);
    selector[key] = item.slice(eq + 1);
  }
  return selector;
}

/** Runs `scrapeguard scrape-config`. */
export const scrapeConfigCommand: CliCommand = async (argv, io) => {
  const args = parseCommandArgs(argv, {
    'web.config.file': { type: 'string' },
    target: { type: 'string', multiple: true },
    job: { type: 'string' },
    'metrics-path': { type: 'string' },
    interval: { type: 'string' },
    'server-name': { type: 'string' },
    'credentials-dir': { type: 'string' },
    'ca-file': { type: 'string' },
    'cert-file': { type: 'string' },
    'key-file': { type: 'string' },
    'password-file': { type: 'string' },
    'credentials-file': { type: 'string' },
    'api-key-file': { type: 'string' },
    user: { type: 'string' },
    auth: { type: 'string' },
    labeldrop: { type: 'string', multiple: true },
    'oauth2-token-url': { type: 'string' },
    'oauth2-client-id': { type: 'string' },
    'oauth2-scope': { type: 'string', multiple: true },
    'oauth2-client-secret-file': { type: 'string' },
    'oauth2-ca-file': { type: 'string' },
    'prometheus-version': { type: 'string' },
    'native-histograms': { type: 'boolean' },
    'operator-version': { type: 'string' },
    format: { type: 'string' },
    namespace: { type: 'string' },
    selector: { type: 'string', multiple: true },
    port: { type: 'string' },
    'omit-secrets': { type: 'boolean' },
  });
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const file = stringOption(args, 'web.config.file');
  if (!file) throw new ScrapeguardError('USAGE', '--web.config.file is required');
  const format = stringOption(args, 'format') ?? 'prometheus';
  if (!FORMATS.has(format))
    throw new ScrapeguardError('USAGE', `--format must be prometheus, servicemonitor, podmonitor or scrapeconfig, got ${JSON.stringify(format)}`);
  const operator = format !== 'prometheus';
  const targets = listOption(args, 'target');
  const selectors = listOption(args, 'selector');
  if (format === 'scrapeconfig') {
    if (targets.length === 0)
      throw new ScrapeguardError('USAGE', '--format scrapeconfig needs at least one --target HOST:PORT (a ScrapeConfig lists static targets)');
    for (const flag of ['selector', 'port']) {
      if (args.values[flag] !== undefined)
        throw new ScrapeguardError('USAGE', `--${flag} does not apply to --format scrapeconfig: it scrapes the --target addresses`);
    }
  } else if (operator) {
    if (targets.length > 0)
      throw new ScrapeguardError('USAGE', `--target does not apply to --format ${format}: Kubernetes discovers the targets (use --selector and --port)`);
    if (selectors.length === 0) throw new ScrapeguardError('USAGE', `--format ${format} needs at least one --selector LABEL=VALUE`);
  } else {
    if (targets.length === 0) throw new ScrapeguardError('USAGE', 'at least one --target HOST:PORT is required');
    for (const flag of ['namespace', 'selector', 'port', 'omit-secrets', 'operator-version']) {
      if (args.values[flag] !== undefined) throw new ScrapeguardError('USAGE', `--${flag} applies only to --format servicemonitor, podmonitor or scrapeconfig`);
    }
  }

  const tokenUrl = stringOption(args, 'oauth2-token-url');
  const clientId = stringOption(args, 'oauth2-client-id');
  if ((tokenUrl === undefined) !== (clientId === undefined)) throw new ScrapeguardError('USAGE', '--oauth2-token-url and --oauth2-client-id go together');
  if (
    tokenUrl === undefined &&
    (args.values['oauth2-scope'] !== undefined || args.values['oauth2-client-secret-file'] !== undefined || args.values['oauth2-ca-file'] !== undefined)
  ) {
    throw new ScrapeguardError('USAGE', '--oauth2-scope, --oauth2-client-secret-file and --oauth2-ca-file need --oauth2-token-url and --oauth2-client-id');
  }

  const authText = stringOption(args, 'auth');
  if (authText !== undefined && !AUTH_CHOICES.has(authText))
    throw new ScrapeguardError('USAGE', `--auth must be basic, bearer, header, jwt or none, got ${JSON.stringify(authText)}`);
  const authChoice = authText as AuthChoice | undefined;

  const fileFlags: [keyof CredentialFiles, string][] = [
    ['caFile', 'ca-file'],
    ['certFile', 'cert-file'],
    ['keyFile', 'key-file'],
    ['passwordFile', 'password-file'],
    ['credentialsFile', 'credentials-file'],
    ['clientSecretFile', 'oauth2-client-secret-file'],
    ['oauth2CaFile', 'oauth2-ca-file'],
    ['apiKeyFile', 'api-key-file'],
  ];
  const files: CredentialFiles = {};
  for (const [role, flag] of fileFlags) {
    const value = stringOption(args, flag);
    if (value !== undefined) files[role] = value;
  }
  const optional = (flag: string) => stringOption(args, flag);
  const base: ScrapeOptionsBase = {
    baseDir: io.cwd,
    files,
    ...(optional('metrics-path') !== undefined ? { metricsPath: optional('metrics-path')! } : {}),
    ...(optional('server-name') !== undefined ? { serverName: optional('server-name')! } : {}),
    ...(optional('credentials-dir') !== undefined ? { credentialsDir: optional('credentials-dir')! } : {}),
    ...(optional('prometheus-version') !== undefined ? { prometheusVersion: optional('prometheus-version')! } : {}),
    ...(flagOption(args, 'native-histograms') ? { nativeHistograms: true } : {}),
    ...(optional('user') !== undefined ? { username: optional('user')! } : {}),
    ...(authChoice !== undefined ? { auth: authChoice } : {}),
    ...(args.values.labeldrop !== undefined ? { labelDrops: listOption(args, 'labeldrop') } : {}),
    ...(tokenUrl !== undefined && clientId !== undefined
      ? { oauth2: { tokenUrl, clientId, ...(args.values['oauth2-scope'] !== undefined ? { scopes: listOption(args, 'oauth2-scope') } : {}) } }
      : {}),
  };

  const config = await loadConfigFile(resolve(io.cwd, file));
  let yaml: string;
  let warnings: string[];
  if (operator) {
    const out = await generateOperatorManifests(config, {
      ...base,
      kind: KINDS[format as keyof typeof KINDS],
      ...(format === 'scrapeconfig' ? { targets } : { selector: selectorOption(selectors) }),
      ...(optional('operator-version') !== undefined ? { operatorVersion: optional('operator-version')! } : {}),
      ...(optional('job') !== undefined ? { name: optional('job')! } : {}),
      ...(optional('namespace') !== undefined ? { namespace: optional('namespace')! } : {}),
      ...(optional('port') !== undefined ? { port: optional('port')! } : {}),
      ...(optional('interval') !== undefined ? { interval: optional('interval')! } : {}),
      ...(flagOption(args, 'omit-secrets') ? { embedSecrets: false } : {}),
    });
    yaml = out.yaml;
    warnings = out.warnings;
    if (out.createSecretCommand !== undefined) warnings.push(`create the Secret the monitor references with:\n  ${out.createSecretCommand}`);
  } else {
    const out = await generateScrapeConfig(config, {
      ...base,
      targets,
      ...(optional('job') !== undefined ? { jobName: optional('job')! } : {}),
      ...(optional('interval') !== undefined ? { scrapeInterval: optional('interval')! } : {}),
    });
    yaml = out.yaml;
    warnings = out.warnings;
  }
  for (const warning of warnings) io.stderr.write(`warning: ${warning}\n`);
  io.stdout.write(yaml);
  return 0;
};
