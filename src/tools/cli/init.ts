/**
 * `scrapeguard init`: a ready-to-run development setup in one directory. A CA, a server
 * certificate for this host, a client certificate for Prometheus, a random basic-auth password
 * (file for Prometheus's `password_file`) and a `web-config.yml` that requires both the client
 * certificate and the password. Nothing secret is printed; every existing file is protected
 * unless `--force` is given, and the check happens before the first byte is written.
 *
 * The web-config.yml says in a comment which Go exporters can read it (config/compat.ts); with
 * `--compat node_exporter-1.5` it leaves out what that release does not know and says what
 * protection that costs. `--target` is the address Prometheus scrapes; its host is added to the
 * server certificate, so the generated scrape job verifies.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { Document, isMap, isScalar } from 'yaml';
import { ScrapeguardError } from '../../errors.js';
import { compatibility, describeCompatibility, parseCompatTarget, readableBy, versionAtLeast, type CompatTarget } from '../../config/compat.js';
import { loadConfigFile } from '../../config/load.js';
import { generateDevPki, type DevPki } from '../pki/generate.js';
import { devPkiFiles, PUBLIC_FILE_MODE, refuseExisting, SECRET_FILE_MODE, writeFileSet, type FileToWrite } from '../pki/write.js';
import { generateScrapeConfig } from '../scrape-config/generate.js';
import { parseTarget } from '../scrape-config/plan.js';
import { flagOption, listOption, parseCommandArgs, stringOption } from './args.js';
import { KUBERNETES_DIR, KUBERNETES_FILE_NAMES, kubernetesFiles, kubernetesPlan, kubernetesServerName, type KubernetesPlan } from './init-kubernetes.js';
import type { CliCommand, CliIo } from './io.js';

const USAGE = `Usage: scrapeguard init [DIR] [--san NAME ...] [--user NAME] [--target HOST:PORT]
                        [--compat node_exporter-X.Y] [--force]
                        [--kubernetes --image IMAGE --selector LABEL=VALUE ...
                         [--upstream-port PORT] [--namespace NS] [--name NAME]]

Creates a development PKI and a matching web-config.yml in DIR (default ./scrapeguard-pki):
  ca.crt, ca.key          development CA (ca.key signs further certificates; keep it private)
  server.crt, server.key  server certificate for localhost, 127.0.0.1, ::1, this host, the
                          --target host and --san names
  client.crt, client.key  client certificate for Prometheus (CN and SAN "prometheus")
  password                random basic-auth password, for Prometheus's basic_auth.password_file
  web-config.yml          mTLS (RequireAndVerifyClientCert) + basic auth + security headers;
                          a comment says which exporter-toolkit / node_exporter releases read it
  scrape-config.yml       the matching Prometheus scrape job (absolute paths to the files above)

Options:
  --san NAME          extra server certificate name (DNS name or IP address); repeatable
  --user NAME         basic-auth user name (default prometheus)
  --target HOST:PORT  address Prometheus scrapes (default 127.0.0.1:9443; IPv6 as [ADDR]:PORT);
                      its host is added to the server certificate
  --compat RELEASE    write a web-config.yml that RELEASE can read: node_exporter-X.Y[.Z] or
                      exporter-toolkit-vX.Y.Z (default: the full config, exporter-toolkit
                      >= v0.10.0, node_exporter >= 1.6.0). Keys the release does not know are left
                      out and the protection lost is printed (node_exporter-1.5: no
                      client_allowed_sans, so any client certificate from ca.crt is accepted)
  --force             replace existing files

Kubernetes (--kubernetes also writes DIR/kubernetes/: secret.yaml, sidecar-patch.yaml,
service.yaml, servicemonitor.yaml; the sidecar's probes use a plain-HTTP health port):
  --kubernetes        write the manifests
  --image IMAGE       container image with scrapeguard installed (required; no default)
  --selector L=V      labels of the exporter Deployment's pods; repeatable, required
  --upstream-port N   port of the exporter in the pod (default 9100)
  --namespace NS      namespace of every object (default: kubectl's current one)
  --name NAME         name of the Service and ServiceMonitor, prefix of the Secrets
                      (default scrapeguard); NAME[.NS.svc] is added to the server certificate
  -h, --help          show this help
`;

const DEFAULT_DIR = 'scrapeguard-pki';
const DEFAULT_USER = 'prometheus';
/** The scraper's identity: client certificate CN and SAN, and the only allowed SAN. */
const CLIENT_NAME = 'prometheus';
const BCRYPT_COST = 12;
/** 192 bits of randomness, 32 base64url characters: no quoting needed in YAML, URLs or shells. */
const PASSWORD_BYTES = 24;
const DEFAULT_TARGET = '127.0.0.1:9443';
const SCRAPE_CONFIG_NAME = 'scrape-config.yml';

/** Every file init writes; the scrape-config issue adds its files here too. */
const INIT_FILE_NAMES = ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'client.crt', 'client.key', 'password', 'web-config.yml', SCRAPE_CONFIG_NAME];

/** Everything init decided, shared by the builders of each file. */
interface InitPlan {
  dir: string;
  /** `dir` as shown to the user (relative to the working directory when inside it). */
  displayDir: string;
  serverSans: readonly string[];
  user: string;
  force: boolean;
  /** `HOST:PORT` Prometheus scrapes (IPv6 bracketed); also the example listen address. */
  target: string;
  /** The release the web-config.yml must be readable by (`--compat`); undefined: the full config. */
  compat: CompatTarget | undefined;
}

/** A file init writes, with the line that explains it in the report. */
interface InitFile extends FileToWrite {
  description: string;
}

/**
 * Runs `scrapeguard init`.
 * @example
 * const status = await initCommand(['./pki', '--san', 'metrics.internal'], io);
 */
export const initCommand: CliCommand = async (argv, io) => {
  try {
    return await runInit(argv, io);
  } catch (error) {
    const message = userErrorMessage(error);
    if (message === undefined) throw error;
    io.stderr.write(`scrapeguard init: ${message}\n`);
    return 1;
  }
};

async function runInit(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseCommandArgs(
    argv,
    {
      san: { type: 'string', multiple: true },
      user: { type: 'string' },
      force: { type: 'boolean' },
      target: { type: 'string' },
      compat: { type: 'string' },
      kubernetes: { type: 'boolean' },
      image: { type: 'string' },
      'upstream-port': { type: 'string' },
      selector: { type: 'string', multiple: true },
      namespace: { type: 'string' },
      name: { type: 'string' },
    },
    true,
  );
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (args.positionals.length > 1) {
    throw new ScrapeguardError('USAGE', `expected at most one directory, got ${args.positionals.length} arguments`);
  }
  const plan = makePlan(io.cwd, args.positionals[0], listOption(args, 'san'), stringOption(args, 'user'), flagOption(args, 'force'), {
    target: stringOption(args, 'target'),
    compat: stringOption(args, 'compat'),
  });
  const kube = kubernetesOptions(args);
  // Prometheus scrapes pod IPs and verifies the server certificate against the Service's name.
  if (kube !== undefined) plan.serverSans = [...new Set([...plan.serverSans, kube.name, kubernetesServerName(kube)])];

  // Refuse before the (slow) key generation and hashing; writeFileSet checks again before writing.
  if (!plan.force) await refuseExisting(plan.dir, INIT_FILE_NAMES);
  if (!plan.force && kube !== undefined) await refuseExisting(join(plan.dir, KUBERNETES_DIR), KUBERNETES_FILE_NAMES);

  const pki = await generateDevPki({ serverSans: plan.serverSans, clientName: CLIENT_NAME });
  const password = randomBytes(PASSWORD_BYTES).toString('base64url');
  const passwordHash = await hash(password, { cost: BCRYPT_COST });

  const files: InitFile[] = [
    ...pkiFiles(pki),
    {
      name: 'password',
      contents: password,
      mode: SECRET_FILE_MODE,
      description: `basic-auth password of user "${plan.user}", for Prometheus's password_file`,
    },
  ];
  const webConfig = webConfigFile(plan, passwordHash);
  files.push(webConfig.file);
  const written = await writeFileSet(plan.dir, files, { force: plan.force });
  // The scrape config is generated from the files just written, by the same code path as
  // `scrapeguard scrape-config`, so it references exactly them and passes the same checks.
  const scrapeFiles = await scrapeConfigFiles(plan);
  written.push(...(await writeFileSet(plan.dir, scrapeFiles, { force: plan.force })));
  files.push(...scrapeFiles);
  let kubeWarnings: string[] = [];
  if (kube !== undefined) {
    const k = await kubernetesFiles(plan.dir, kube, plan.user);
    kubeWarnings = k.warnings;
    written.push(...(await writeFileSet(join(plan.dir, KUBERNETES_DIR), k.files, { force: plan.force })));
    files.push(...k.files.map((f) => ({ ...f, name: join(KUBERNETES_DIR, f.name) })));
  }

  const out: string[] = [`Wrote ${files.length} files to ${plan.displayDir}:`];
  const width = Math.max(...files.map((f) => displayPath(plan, f.name).length));
  for (const [i, w] of written.entries()) {
    const mode = (await stat(w.path)).mode & 0o777;
    const file = files[i];
    out.push(`  ${mode.toString(8).padStart(4, '0')}  ${displayPath(plan, file?.name ?? w.path).padEnd(width)}  ${file?.description ?? ''}`);
  }
  out.push('', `Server certificate names: ${plan.serverSans.join(', ')}`, '', `web-config.yml ${webConfig.readableBy}`);
  for (const lost of webConfig.lost) out.push(`  ${plan.compat?.label ?? ''} cannot read ${lost.key}; left out, so ${lost.consequence}`);
  for (const w of kubeWarnings) out.push(`note (servicemonitor.yaml): ${w}`);
  out.push('', 'Next steps:', ...nextSteps(plan), ...(kube !== undefined ? kubernetesSteps(plan, kube) : []), '');
  io.stdout.write(out.join('\n'));
  return 0;
}

function kubernetesOptions(args: ReturnType<typeof parseCommandArgs>): KubernetesPlan | undefined {
  const image = stringOption(args, 'image');
  const upstreamPort = stringOption(args, 'upstream-port');
  const namespace = stringOption(args, 'namespace');
  const name = stringOption(args, 'name');
  return kubernetesPlan(flagOption(args, 'kubernetes'), {
    selector: listOption(args, 'selector'),
    ...(image !== undefined ? { image } : {}),
    ...(upstreamPort !== undefined ? { upstreamPort } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
  });
}

function kubernetesSteps(plan: InitPlan, kube: KubernetesPlan): string[] {
  const p = (name: string) => shellQuote(displayPath(plan, join(KUBERNETES_DIR, name)));
  const ns = kube.namespace !== undefined ? ` -n ${kube.namespace}` : '';
  return [
    `  kubectl apply -f ${p('secret.yaml')} -f ${p('service.yaml')} -f ${p('servicemonitor.yaml')}`,
    `  kubectl patch deployment DEPLOYMENT${ns} --patch-file ${p('sidecar-patch.yaml')}`,
  ];
}

function makePlan(
  cwd: string,
  dirArg: string | undefined,
  sanArgs: readonly string[],
  userArg: string | undefined,
  force: boolean,
  more: { target: string | undefined; compat: string | undefined },
): InitPlan {
  if (dirArg === '') throw new ScrapeguardError('USAGE', 'the directory must not be empty');
  const dir = resolve(cwd, dirArg ?? DEFAULT_DIR);
  const rel = relative(cwd, dir);
  const displayDir = rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? dir : rel;

  for (const san of sanArgs) {
    // SANs are written into a certificate; whitespace and control characters are never valid there.
    if (!/^[^\s\0-\x1f\x7f]{1,253}$/.test(san)) throw new ScrapeguardError('USAGE', `--san ${JSON.stringify(san)} is not a valid host name or IP address`);
  }
  if (more.target === '') throw new ScrapeguardError('USAGE', '--target must be HOST:PORT, e.g. metrics.internal:9443');
  let target;
  try {
    target = parseTarget(more.target ?? DEFAULT_TARGET);
  } catch {
    throw new ScrapeguardError(
      'USAGE',
      `--target ${JSON.stringify(more.target)} is not HOST:PORT (IPv6 as [ADDR]:PORT, port 1-65535), e.g. metrics.internal:9443`,
    );
  }
  // The host goes into the server certificate, where only a DNS name or an IP address is valid.
  if (isIP(target.host) === 0 && !/^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/.test(target.host)) {
    throw new ScrapeguardError('USAGE', `--target ${JSON.stringify(more.target)}: ${JSON.stringify(target.host)} is not a DNS name or IP address`);
  }
  let compat: CompatTarget | undefined;
  if (more.compat !== undefined) {
    try {
      compat = parseCompatTarget(more.compat);
    } catch (error) {
      throw new ScrapeguardError('USAGE', `--compat ${(error as Error).message}`);
    }
  }

  const host = hostname();
  const candidates = ['localhost', '127.0.0.1', '::1', ...(/^[^\s\0-\x1f\x7f]{1,253}$/.test(host) ? [host] : []), target.host, ...sanArgs];
  const seen = new Set<string>();
  const serverSans = candidates.filter((name) => {
    const key = sanKey(name);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });

  const user = userArg ?? DEFAULT_USER;
  // RFC 7617 §2: the user-id of Basic authentication cannot contain a colon.
  if (!/^[^:\s\0-\x1f\x7f]+$/.test(user)) {
    throw new ScrapeguardError('USAGE', '--user must be non-empty and contain no colon, whitespace or control characters');
  }
  return { dir, displayDir, serverSans, user, force, target: target.address, compat };
}

/** DNS names compare case-insensitively; IPv6 literals compare in their canonical spelling. */
function sanKey(name: string): string {
  if (isIP(name) === 6) return new URL(`http://[${name}]/`).hostname;
  return name.toLowerCase();
}

function pkiFiles(pki: DevPki): InitFile[] {
  const descriptions: Record<string, string> = {
    'ca.crt': 'development CA certificate (client_ca_file; Prometheus ca_file)',
    'ca.key': 'CA private key: signs more certificates; keep it private',
    'server.crt': 'server certificate (cert_file)',
    'server.key': 'server private key (key_file)',
    'client.crt': `client certificate for Prometheus (CN/SAN ${CLIENT_NAME})`,
    'client.key': 'client private key for Prometheus',
  };
  return devPkiFiles(pki).map((f) => ({ ...f, description: descriptions[f.name] ?? '' }));
}

/** A key init would write but the `--compat` release cannot read, and what leaving it out costs. */
interface LostProtection {
  key: string;
  /** Completes "left out, so …". */
  consequence: string;
}

/** The web-config.yml, with the compatibility line its comment states and what `--compat` dropped. */
interface WebConfigResult {
  file: InitFile;
  readableBy: string;
  lost: LostProtection[];
}

function webConfigFile(plan: InitPlan, passwordHash: string): WebConfigResult {
  // What the compat release can read decides which of the optional keys are written; the
  // full config (no --compat) has them all. The table in config/compat.ts is the one source.
  const can = (since: string) => plan.compat === undefined || versionAtLeast(plan.compat.toolkit, since);
  const lost: LostProtection[] = [];
  const withSans = can('v0.10.0');
  if (!withSans) {
    lost.push({
      key: 'client_allowed_sans',
      consequence: `every client certificate signed by ca.crt is accepted, not only the one for "${CLIENT_NAME}" (keep ca.key private and sign no other client certificates with it)`,
    });
  }
  const withHeaders = can('v0.7.0');
  if (!withHeaders) {
    lost.push({
      key: 'http_server_config.headers',
      consequence: 'responses carry no Strict-Transport-Security, X-Content-Type-Options or X-Frame-Options header',
    });
  }
  const config = {
    tls_server_config: {
      cert_file: 'server.crt',
      key_file: 'server.key',
      client_ca_file: 'ca.crt',
      client_auth_type: 'RequireAndVerifyClientCert',
      ...(withSans ? { client_allowed_sans: [CLIENT_NAME] } : {}),
      min_version: 'TLS12',
    },
    ...(withHeaders
      ? {
          http_server_config: {
            headers: {
              'Strict-Transport-Security': 'max-age=31536000',
              'X-Content-Type-Options': 'nosniff',
              'X-Frame-Options': 'deny',
            },
          },
        }
      : {}),
    basic_auth_users: { [plan.user]: passwordHash },
  };
  const report = compatibility(config);
  // Internal consistency: what was written must be readable by what was asked for.
  if (plan.compat !== undefined && !readableBy(report, plan.compat.toolkit)) {
    throw new Error(`init: the config for ${plan.compat.label} needs exporter-toolkit ${report.toolkit}`);
  }
  const readable = describeCompatibility(report);
  const sectionComments: Record<string, string> = {
    tls_server_config: withSans
      ? ' HTTPS with mutual TLS: only clients presenting a certificate signed by ca.crt\n' +
        ` whose SAN is "${CLIENT_NAME}" (client.crt) complete the handshake.`
      : ' HTTPS with mutual TLS: only clients presenting a certificate signed by ca.crt\n' +
        ` (client.crt) complete the handshake. No client_allowed_sans: ${plan.compat?.label ?? ''} cannot read it,\n` +
        ' so any client certificate signed by ca.crt is accepted; keep ca.key private.',
    http_server_config: ' Security headers added to every response.',
    basic_auth_users:
      ` user: bcrypt hash (cost ${BCRYPT_COST}). The password itself is only in the file "password" (mode 0600).\n` +
      ' Add users with: scrapeguard hash-password',
  };
  const doc = new Document(config);
  doc.commentBefore = [
    " scrapeguard web configuration, in the format of exporter-toolkit's web-config.yml",
    ' (--web.config.file). Generated by `scrapeguard init` for development use.',
    ` ${readable}`,
    ...(plan.compat !== undefined
      ? [` Written for ${plan.compat.label} (--compat).`]
      : [' For an older exporter, run: scrapeguard init --compat node_exporter-X.Y']),
    ' Relative paths are resolved against the directory of this file:',
    '   ca.crt      CA that signed server.crt and client.crt; verifies client certificates',
    '   ca.key      CA private key (0600), only needed to sign more certificates',
    '   server.crt  certificate this server presents, server.key its private key (0600)',
    '   client.crt  certificate Prometheus presents, client.key its private key (0600)',
    "   password    basic-auth password (0600), for Prometheus's basic_auth.password_file",
  ].join('\n');
  if (isMap(doc.contents)) {
    for (const [i, pair] of doc.contents.items.entries()) {
      if (!isScalar(pair.key)) continue;
      const comment = sectionComments[String(pair.key.value)];
      if (comment !== undefined) pair.key.commentBefore = comment;
      // The document comment already ends with a blank line.
      if (i > 0) pair.key.spaceBefore = true;
    }
  }
  return {
    file: {
      name: 'web-config.yml',
      contents: doc.toString(),
      // Holds password hashes: offline guessing is slow, but there is no reason to let others try.
      mode: SECRET_FILE_MODE,
      description: `web config${plan.compat === undefined ? '' : ` for ${plan.compat.label}`}: mTLS + basic auth${withHeaders ? ' + security headers' : ''}`,
    },
    readableBy: readable,
    lost,
  };
}

/**
 * The scraper-side configuration: `scrape-config.yml`, one Prometheus job for the example listen
 * address, generated from the web-config.yml and credentials already written to `plan.dir`.
 */
async function scrapeConfigFiles(plan: InitPlan): Promise<InitFile[]> {
  const config = await loadConfigFile(join(plan.dir, 'web-config.yml'));
  // init does not know which Prometheus will read the file: the oldest one the project tests
  // (2.42) writes a job that 2.42 and 3.x both accept (3.x only adds fallback_scrape_protocol).
  const { yaml, warnings } = await generateScrapeConfig(config, { targets: [plan.target], username: plan.user, prometheusVersion: '2.42' });
  // Everything init writes matches by construction; a warning here is a bug, not a user error.
  if (warnings.length > 0) throw new Error(`init: the generated scrape config has warnings: ${warnings.join('; ')}`);
  return [
    {
      name: SCRAPE_CONFIG_NAME,
      contents: yaml,
      // Paths only, no secret: the password and the client key stay in their 0600 files.
      mode: PUBLIC_FILE_MODE,
      description: 'Prometheus scrape job for it (ca_file, client cert, basic_auth.password_file)',
    },
  ];
}

function nextSteps(plan: InitPlan): string[] {
  const p = (name: string) => shellQuote(displayPath(plan, name));
  const userPart = plan.user.replace(/[\\"$`]/g, (c) => `\\${c}`);
  return [
    `  scrapeguard check --web.config.file ${p('web-config.yml')}`,
    `  scrapeguard serve --web.config.file ${p('web-config.yml')} --web.listen-address ${plan.target}`,
    `  curl --cacert ${p('ca.crt')} --cert ${p('client.crt')} --key ${p('client.key')} \\`,
    `    -u "${userPart}:$(cat ${p('password')})" https://${plan.target}/metrics`,
    `  promtool check config ${p(SCRAPE_CONFIG_NAME)}   # then add its job to prometheus.yml`,
  ];
}

function displayPath(plan: InitPlan, name: string): string {
  return plan.displayDir === '.' ? name : join(plan.displayDir, name);
}

function shellQuote(s: string): string {
  return /^[\w./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

// File-system failures the user can fix (permissions, missing parent, full disk) get one line.
const USER_FS_ERRORS = new Set(['EACCES', 'EPERM', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EROFS', 'ENOSPC', 'EDQUOT', 'EEXIST', 'ELOOP']);

function userErrorMessage(error: unknown): string | undefined {
  if (error instanceof ScrapeguardError) {
    return error.code === 'FILE_EXISTS' ? `${error.message} (use --force to replace)` : error.message;
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && USER_FS_ERRORS.has(code)) return (error as Error).message.split('\n')[0];
  return undefined;
}
