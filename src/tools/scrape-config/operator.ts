/**
 * Spells a {@link ScrapePlan} as prometheus-operator resources (monitoring.coreos.com/v1
 * `ServiceMonitor` or `PodMonitor`, or monitoring.coreos.com/v1alpha1 `ScrapeConfig` for static
 * targets) plus the Kubernetes `Secret` they reference. Only fields the target operator's CRDs
 * know are emitted (`versions.ts`): an API server prunes unknown fields without a word. The operator
 * reads credentials from Secrets in the monitor's namespace, by secret key selector, never from
 * files: the files the plan names are read here and put into the Secret (or, with
 * `embedSecrets: false`, left for the user to create from the same files).
 */
import { readFile } from 'node:fs/promises';
import { Document } from 'yaml';
import { ScrapeguardError } from '../../errors.js';
import type { CredentialFiles, ScrapePlan } from './plan.js';
import {
  DEFAULT_OPERATOR_VERSION,
  DEFAULT_PROMETHEUS_VERSION,
  FALLBACK_SCRAPE_PROTOCOL,
  formatVersion,
  nativeHistogramProtocols,
  OPERATOR_FIELD_SINCE,
  operatorSupports,
  supports,
  type OperatorField,
  type OperatorVersion,
  type PrometheusVersion,
} from './versions.js';

/** Which prometheus-operator resource to emit. */
export type MonitorKind = 'ServiceMonitor' | 'PodMonitor' | 'ScrapeConfig';

/** Options of {@link renderOperatorManifests}. */
export interface OperatorRenderOptions {
  kind: MonitorKind;
  /** `metadata.name` of the monitor (DNS-1123 subdomain); the Secret is `NAME-scrape-credentials`. */
  name: string;
  /** Namespace of the monitor and its Secret; absent: kubectl's current namespace for both. */
  namespace?: string;
  /** `spec.selector.matchLabels` of the Services (ServiceMonitor) or Pods (PodMonitor); at least one. Not for ScrapeConfig. */
  selector?: Readonly<Record<string, string>>;
  /** Name of the Service port (ServiceMonitor) or container port (PodMonitor); default `metrics`. */
  port?: string;
  metricsPath: string;
  /** e.g. `30s`; absent: the Prometheus default. */
  interval?: string;
  /** Emit the Secret with the file contents (default true); false: only the monitor. */
  embedSecrets?: boolean;
  /** Name of the Secret (default `NAME-scrape-credentials`). */
  secretName?: string;
  /** prometheus-operator release the manifests are for (default {@link DEFAULT_OPERATOR_VERSION}). */
  operatorVersion?: OperatorVersion;
  /** Prometheus release the operator runs (default {@link DEFAULT_PROMETHEUS_VERSION}): fields Prometheus lacks are left out too. */
  prometheusVersion?: PrometheusVersion;
}

/** A secret key selector (`{name, key}`). */
interface SecretKeySelector {
  name: string;
  key: string;
}

/** What was rendered: the manifests (Secret first, so `kubectl apply -f -` creates it before the monitor). */
export interface OperatorManifests {
  /** The Secret (absent when not embedded or nothing secret is needed) and the monitor, as plain objects. */
  documents: Record<string, unknown>[];
  /** Keys of the Secret and the file each comes from, for `kubectl create secret generic --from-file`. */
  secretKeys: { key: string; file: string }[];
  /** Non-secret Secret keys given as values (`username`, `client-id`). */
  literals: Record<string, string>;
  secretName?: string;
  /** Fields left out because the target operator does not know them, one line each. */
  warnings: string[];
}

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(?:(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const PORT_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DURATION = /^(?:0|(?:\d+(?:ms|s|m|h|d|w|y))+)$/;

/** Secret keys, named as Kubernetes conventions name them (`tls.crt`, `tls.key`, `ca.crt`). */
const KEYS: Readonly<Record<keyof CredentialFiles, string>> = {
  caFile: 'ca.crt',
  certFile: 'tls.crt',
  keyFile: 'tls.key',
  passwordFile: 'password',
  credentialsFile: 'token',
  clientSecretFile: 'client-secret',
  oauth2CaFile: 'oauth2-ca.crt',
  apiKeyFile: 'api-key',
};

function checkLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  if (slash < 0) return LABEL_NAME.test(key);
  return DNS_SUBDOMAIN.test(key.slice(0, slash)) && LABEL_NAME.test(key.slice(slash + 1));
}

function checkOptions(options: OperatorRenderOptions): void {
  const fail = (message: string): never => {
    throw new ScrapeguardError('SCRAPE_CONFIG', message);
  };
  if (options.kind !== 'ServiceMonitor' && options.kind !== 'PodMonitor' && options.kind !== 'ScrapeConfig') {
    fail(`kind must be ServiceMonitor, PodMonitor or ScrapeConfig, got ${JSON.stringify(options.kind)}`);
  }
  if (!DNS_SUBDOMAIN.test(options.name)) fail(`name ${JSON.stringify(options.name)} is not a Kubernetes object name (lower-case letters, digits, "-" and ".")`);
  if (options.namespace !== undefined && !DNS_LABEL.test(options.namespace)) fail(`namespace ${JSON.stringify(options.namespace)} is not a DNS-1123 label`);
  if (options.kind === 'ScrapeConfig') {
    // Static targets: nothing to select, and a port name means nothing.
    if (options.selector !== undefined) fail('a ScrapeConfig scrapes static targets: it takes no selector');
    if (options.port !== undefined) fail('a ScrapeConfig scrapes static targets (HOST:PORT): it takes no port name');
    return;
  }
  const entries = Object.entries(options.selector ?? {});
  // An empty selector matches every Service or Pod in the namespace: credentials would go to all of them.
  if (entries.length === 0)
    fail('a selector (label=value) is needed: an empty one selects every Service/Pod in the namespace and sends the credentials to all of them');
  for (const [k, v] of entries) {
    if (!checkLabelKey(k)) fail(`selector label ${JSON.stringify(k)} is not a valid Kubernetes label name`);
    if (!LABEL_VALUE.test(v)) fail(`selector value ${JSON.stringify(v)} of ${k} is not a valid Kubernetes label value`);
  }
  if (options.port !== undefined && !PORT_NAME.test(options.port))
    fail(`port ${JSON.stringify(options.port)} is not a port name (1-15 lower-case letters, digits and "-", at least one letter)`);
  if (options.secretName !== undefined && !DNS_SUBDOMAIN.test(options.secretName))
    fail(`secret name ${JSON.stringify(options.secretName)} is not a Kubernetes object name`);
  if (options.interval !== undefined && !DURATION.test(options.interval)) fail(`interval ${JSON.stringify(options.interval)} is not a Prometheus duration`);
  if (!options.metricsPath.startsWith('/')) fail(`metrics path ${JSON.stringify(options.metricsPath)} must start with "/"`);
}

/**
 * Renders the monitor and its Secret. Reads the plan's files when `embedSecrets` is on (the
 * default); a missing file is then a `SCRAPE_CONFIG` error.
 * @example
 * const { documents } = await renderOperatorManifests(plan, {
 *   kind: 'ServiceMonitor', name: 'api', namespace: 'monitoring', selector: { app: 'api' }, metricsPath: '/metrics',
 * });
 */
export async function renderOperatorManifests(plan: ScrapePlan, options: OperatorRenderOptions): Promise<OperatorManifests> {
  checkOptions(options);
  const operator = options.operatorVersion ?? DEFAULT_OPERATOR_VERSION;
  const prometheus = options.prometheusVersion ?? DEFAULT_PROMETHEUS_VERSION;
  const warnings: string[] = [];
  const needs = (field: OperatorField, what: string): void => {
    if (!operatorSupports(operator, field)) {
      throw new ScrapeguardError(
        'SCRAPE_CONFIG',
        `${what} needs prometheus-operator 0.${OPERATOR_FIELD_SINCE[field].minor} or later (target version ${formatVersion(operator)})`,
      );
    }
  };
  const scrapeConfig = options.kind === 'ScrapeConfig';
  if (scrapeConfig) {
    needs('scrapeConfigCrd', 'the ScrapeConfig resource (staticConfigs, scheme, tlsConfig, metricRelabelings)');
    if (plan.targets.length === 0) throw new ScrapeguardError('SCRAPE_CONFIG', 'a ScrapeConfig needs at least one target (HOST:PORT)');
  } else if (plan.targets.length > 0) {
    throw new ScrapeguardError('SCRAPE_CONFIG', `a ${options.kind} discovers its targets; give a selector, not targets`);
  }
  const secretName = options.secretName ?? `${options.name}-scrape-credentials`;
  if (!DNS_SUBDOMAIN.test(secretName))
    throw new ScrapeguardError('SCRAPE_CONFIG', `secret name ${JSON.stringify(secretName)} is too long; give a shorter name`);
  const ref = (role: keyof CredentialFiles): SecretKeySelector => ({ name: secretName, key: KEYS[role] });
  const secretKeys: { key: string; file: string }[] = [];
  const use = (role: keyof CredentialFiles): SecretKeySelector => {
    const file = plan.files[role];
    if (file === undefined) throw new ScrapeguardError('SCRAPE_CONFIG', `no file for ${KEYS[role]}`);
    secretKeys.push({ key: KEYS[role], file });
    return ref(role);
  };
  const literals: Record<string, string> = {};

  // ServiceMonitor/PodMonitor: one endpoint; ScrapeConfig: the spec itself holds the same fields.
  const endpoint: Record<string, unknown> = scrapeConfig
    ? {
        staticConfigs: [{ targets: [...plan.targets] }],
        // The ScrapeConfig CRD accepted only upper-case schemes before 0.8x; upper case works everywhere.
        scheme: plan.scheme.toUpperCase(),
        metricsPath: options.metricsPath,
        ...(options.interval !== undefined ? { scrapeInterval: options.interval } : {}),
      }
    : {
        port: options.port ?? 'metrics',
        path: options.metricsPath,
        scheme: plan.scheme,
        ...(options.interval !== undefined ? { interval: options.interval } : {}),
      };
  if (options.kind === 'PodMonitor' && (plan.auth?.kind === 'basic' || plan.tls?.keyFile !== undefined)) {
    needs('podMonitorSecrets', 'basicAuth and tlsConfig.keySecret on a PodMonitor');
  }
  if (plan.tls) {
    const t = plan.tls;
    const tlsConfig: Record<string, unknown> = {};
    if (t.caFile !== undefined) tlsConfig.ca = { secret: use('caFile') };
    if (t.certFile !== undefined) tlsConfig.cert = { secret: use('certFile') };
    if (t.keyFile !== undefined) tlsConfig.keySecret = use('keyFile');
    if (t.serverName !== undefined) tlsConfig.serverName = t.serverName;
    if (operatorSupports(operator, 'tlsMinMaxVersion')) {
      if (t.minVersion !== undefined) tlsConfig.minVersion = t.minVersion;
      if (t.maxVersion !== undefined) tlsConfig.maxVersion = t.maxVersion;
    } else if (t.minVersion !== undefined || t.maxVersion !== undefined) {
      // Prometheus then offers its own default range (TLS 1.2 and up), which the server still bounds.
      warnings.push(
        `prometheus-operator ${formatVersion(operator)} has no tlsConfig.minVersion/maxVersion (0.${OPERATOR_FIELD_SINCE.tlsMinMaxVersion.minor}+): left out, Prometheus offers its default TLS 1.2-1.3 and the server's own limits (${[t.minVersion, t.maxVersion].filter(Boolean).join('-')}) still apply`,
      );
    }
    if (Object.keys(tlsConfig).length > 0) endpoint.tlsConfig = tlsConfig;
  }
  const auth = plan.auth;
  if (auth?.kind === 'basic') {
    // The operator reads the user name from a Secret key too.
    literals.username = auth.username;
    endpoint.basicAuth = { username: { name: secretName, key: 'username' }, password: use('passwordFile') };
  } else if (auth?.kind === 'header') {
    // prometheus-operator's API (monitoring.coreos.com/v1 ServiceMonitor and PodMonitor, and
    // v1alpha1 ScrapeConfig) has no field for custom request headers: nothing to fall back to.
    throw new ScrapeguardError(
      'SCRAPE_CONFIG',
      `header_auth cannot be expressed as a ${options.kind}: prometheus-operator's ServiceMonitor, PodMonitor and ScrapeConfig (monitoring.coreos.com/v1alpha1) have no field for a custom request header; ` +
        "put the --format prometheus job into the Prometheus resource's additionalScrapeConfigs (mount the key file with spec.secrets), or have Prometheus authenticate with bearer_auth or jwt_auth.kubernetes",
    );
  } else if (auth?.kind === 'authorization' && auth.serviceAccountToken) {
    // The operator reads authorization credentials only from Secrets; a file in the Prometheus pod
    // (its service-account token) is ServiceMonitor's deprecated bearerTokenFile, which PodMonitor
    // and ScrapeConfig lack.
    if (options.kind !== 'ServiceMonitor') {
      throw new ScrapeguardError(
        'SCRAPE_CONFIG',
        "jwt_auth.kubernetes needs Prometheus to present a token file from its own pod; of prometheus-operator's resources only ServiceMonitor can (bearerTokenFile): use --format servicemonitor",
      );
    }
    endpoint.bearerTokenFile = auth.credentialsFile;
  } else if (auth?.kind === 'authorization') {
    if (!scrapeConfig) needs('authorization', 'authorization');
    endpoint.authorization = { type: 'Bearer', credentials: use('credentialsFile') };
  } else if (auth?.kind === 'oauth2') {
    needs(scrapeConfig ? 'scrapeConfigOAuth2' : 'oauth2', 'oauth2');
    literals['client-id'] = auth.clientId;
    endpoint.oauth2 = {
      clientId: { secret: { name: secretName, key: 'client-id' } },
      clientSecret: use('clientSecretFile'),
      tokenUrl: auth.tokenUrl,
      ...(auth.scopes.length > 0 ? { scopes: [...auth.scopes] } : {}),
      ...(auth.endpointParams !== undefined && Object.keys(auth.endpointParams).length > 0 ? { endpointParams: { ...auth.endpointParams } } : {}),
      ...(auth.caFile !== undefined ? (needs('oauth2TlsConfig', 'oauth2.tlsConfig'), { tlsConfig: { ca: { secret: use('oauth2CaFile') } } }) : {}),
    };
  }
  if (plan.labelDrops.length > 0) endpoint.metricRelabelings = [{ action: 'labeldrop', regex: plan.labelDrops.join('|') }];

  // Scrape protocols live on the resource's spec (all three kinds), and only where both the
  // operator's CRD and the Prometheus it runs know them.
  const protocolFields: Record<string, unknown> = {};
  const protocols = plan.nativeHistograms ? nativeHistogramProtocols(prometheus, operator) : undefined;
  if (protocols !== undefined) protocolFields.scrapeProtocols = protocols;
  if (plan.nativeHistograms && supports(prometheus, 'scrapeNativeHistograms') && operatorSupports(operator, 'scrapeNativeHistograms'))
    protocolFields.scrapeNativeHistograms = true;
  if (supports(prometheus, 'fallbackScrapeProtocol') && operatorSupports(operator, 'fallbackScrapeProtocol'))
    protocolFields.fallbackScrapeProtocol = FALLBACK_SCRAPE_PROTOCOL;

  const metadata = (name: string) => ({
    name,
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    labels: { 'app.kubernetes.io/managed-by': 'scrapeguard' },
  });
  const monitor = scrapeConfig
    ? { apiVersion: 'monitoring.coreos.com/v1alpha1', kind: 'ScrapeConfig', metadata: metadata(options.name), spec: { ...endpoint, ...protocolFields } }
    : {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: options.kind,
        metadata: metadata(options.name),
        spec: {
          selector: { matchLabels: { ...options.selector } },
          [options.kind === 'ServiceMonitor' ? 'endpoints' : 'podMetricsEndpoints']: [endpoint],
          ...protocolFields,
        },
      };

  const hasSecret = secretKeys.length > 0 || Object.keys(literals).length > 0;
  const documents: Record<string, unknown>[] = [];
  if (hasSecret && options.embedSecrets !== false) {
    const stringData: Record<string, string> = { ...literals };
    for (const { key, file } of secretKeys) {
      try {
        stringData[key] = await readFile(file, 'utf8');
      } catch (error) {
        throw new ScrapeguardError(
          'SCRAPE_CONFIG',
          `cannot read ${JSON.stringify(file)} for Secret key ${key}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
          { cause: error },
        );
      }
      // Prometheus trims password and token files; the operator passes Secret values verbatim.
      if (key === 'password' || key === 'token' || key === 'client-secret') stringData[key] = stringData[key].trim();
    }
    documents.push({ apiVersion: 'v1', kind: 'Secret', metadata: metadata(secretName), type: 'Opaque', stringData });
  }
  documents.push(monitor);
  return { documents, secretKeys, literals, warnings, ...(hasSecret ? { secretName } : {}) };
}

/** Multi-document YAML (`---` between documents), with an optional leading comment. */
export function manifestsYaml(documents: readonly Record<string, unknown>[], comment?: string): string {
  return documents
    .map((d, i) => {
      const doc = new Document(d);
      if (i === 0 && comment !== undefined) doc.commentBefore = comment;
      return doc.toString({ lineWidth: 0 });
    })
    .join('---\n');
}

/** The `kubectl create secret` command that makes the Secret from the same files (for `embedSecrets: false`). */
export function kubectlCreateSecret(manifests: OperatorManifests, namespace: string | undefined): string {
  const quote = (s: string) => (/^[\w./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const parts = ['kubectl create secret generic', quote(manifests.secretName ?? '')];
  if (namespace !== undefined) parts.push('-n', quote(namespace));
  for (const [k, v] of Object.entries(manifests.literals)) parts.push(`--from-literal=${quote(`${k}=${v}`)}`);
  for (const { key, file } of manifests.secretKeys) parts.push(`--from-file=${quote(`${key}=${file}`)}`);
  return parts.join(' ');
}
