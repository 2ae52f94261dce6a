/**
 * `scrapeguard init --kubernetes`: the workload side of an init setup, as Kubernetes manifests in
 * `DIR/kubernetes/`. The guard runs as a sidecar container next to an existing exporter
 * (`serve --upstream http://127.0.0.1:PORT/metrics`), metrics on the `metrics` port over mTLS,
 * kubelet probes on a separate plain-HTTP `health` port — a kubelet probe cannot present a client
 * certificate, so probing the metrics port would fail the handshake. The guard's Secret holds
 * only what the guard needs (its web-config.yml, server certificate and key, the client CA); the
 * CA key and the client key never leave DIR except into the scraper's Secret, which the same
 * generator as `scrape-config --format servicemonitor` writes.
 */
import { isMap, isScalar, parseDocument } from 'yaml';
import { ScrapeguardError } from '../../errors.js';
import { loadConfigFile } from '../../config/load.js';
import { PUBLIC_FILE_MODE, SECRET_FILE_MODE, type FileToWrite } from '../pki/write.js';
import { generateOperatorManifests } from '../scrape-config/generate.js';
import { manifestsYaml } from '../scrape-config/operator.js';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';

/** Subdirectory of the init directory that holds the manifests. */
export const KUBERNETES_DIR = 'kubernetes';
/** Where the guard's Secret is mounted in the sidecar container. */
export const MOUNT_PATH = '/etc/scrapeguard';
/** Container port of the metrics listener (mTLS). */
export const METRICS_PORT = 9443;
/** Container port of the health listener (plain HTTP, probes only). */
export const HEALTH_PORT = 8081;
/** Files written into {@link KUBERNETES_DIR}. */
export const KUBERNETES_FILE_NAMES = ['secret.yaml', 'sidecar-patch.yaml', 'service.yaml', 'servicemonitor.yaml'];
/** Files of the init directory that go into the guard's Secret; never `ca.key` nor `client.key`. */
const GUARD_SECRET_FILES = ['server.crt', 'server.key', 'ca.crt'] as const;
/** Flags that only mean something with `--kubernetes`. */
export const KUBERNETES_ONLY_FLAGS = ['image', 'upstream-port', 'selector', 'namespace', 'name'] as const;

const DEFAULT_NAME = 'scrapeguard';
const DEFAULT_UPSTREAM_PORT = 9100;
/** The same nobody-like uid distroless images use; any non-root uid works. */
const RUN_AS_USER = 65532;
const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Container images: registry/path:tag@digest, no whitespace or shell metacharacters. */
const IMAGE = /^[a-z0-9][a-z0-9._\-/:@]{0,254}$/i;

/** What `--kubernetes` and its options decided. */
export interface KubernetesPlan {
  image: string;
  upstreamPort: number;
  /** Labels of the Deployment's pods (its `spec.selector.matchLabels`); the Service selects them. */
  podSelector: Record<string, string>;
  namespace: string | undefined;
  /** Prefix of every object name (Secret `NAME-web-config`, Service and ServiceMonitor `NAME`). */
  name: string;
}

/** Names the server certificate must carry for Prometheus to verify it (`serverName`). */
export function kubernetesServerName(plan: KubernetesPlan): string {
  return plan.namespace !== undefined ? `${plan.name}.${plan.namespace}.svc` : plan.name;
}

/**
 * Checks the `--kubernetes` options; `undefined` when `--kubernetes` is off (its options are then
 * refused: silently ignoring `--image` would leave the user believing manifests were written).
 */
export function kubernetesPlan(
  enabled: boolean,
  values: { image?: string; upstreamPort?: string; selector: readonly string[]; namespace?: string; name?: string },
): KubernetesPlan | undefined {
  const given = {
    image: values.image !== undefined,
    'upstream-port': values.upstreamPort !== undefined,
    selector: values.selector.length > 0,
    namespace: values.namespace !== undefined,
    name: values.name !== undefined,
  };
  if (!enabled) {
    const stray = KUBERNETES_ONLY_FLAGS.find((f) => given[f]);
    if (stray !== undefined) throw new ScrapeguardError('USAGE', `--${stray} applies only with --kubernetes`);
    return undefined;
  }
  // There is no published scrapeguard image: a default would be a guess that fails at pull time.
  if (values.image === undefined) throw new ScrapeguardError('USAGE', '--kubernetes needs --image IMAGE: a container image with scrapeguard installed');
  if (!IMAGE.test(values.image)) throw new ScrapeguardError('USAGE', `--image ${JSON.stringify(values.image)} is not a container image reference`);
  let upstreamPort = DEFAULT_UPSTREAM_PORT;
  if (values.upstreamPort !== undefined) {
    upstreamPort = Number(values.upstreamPort);
    if (!/^\d{1,5}$/.test(values.upstreamPort) || upstreamPort < 1 || upstreamPort > 65535) {
      throw new ScrapeguardError('USAGE', `--upstream-port must be an integer from 1 to 65535, got ${JSON.stringify(values.upstreamPort)}`);
    }
    if (upstreamPort === METRICS_PORT || upstreamPort === HEALTH_PORT)
      throw new ScrapeguardError('USAGE', `--upstream-port ${upstreamPort} is a port of the sidecar itself`);
  }
  // Without a selector the Service would select no pod (or, guessed, someone else's).
  if (values.selector.length === 0)
    throw new ScrapeguardError('USAGE', "--kubernetes needs --selector LABEL=VALUE: the labels of the Deployment's pods (its spec.selector.matchLabels)");
  const podSelector: Record<string, string> = {};
  for (const item of values.selector) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ScrapeguardError('USAGE', `--selector ${JSON.stringify(item)} is not LABEL=VALUE`);
    const key = item.slice(0, eq);
    if (Object.hasOwn(podSelector, key)) throw new ScrapeguardError('USAGE', `--selector ${key} is given twice`);
    podSelector[key] = item.slice(eq + 1);
  }
  if (values.namespace !== undefined && !DNS_LABEL.test(values.namespace))
    throw new ScrapeguardError('USAGE', `--namespace ${JSON.stringify(values.namespace)} is not a DNS-1123 label`);
  const name = values.name ?? DEFAULT_NAME;
  // The Secret is NAME-web-config, the scraper's NAME-scrape-credentials: both must stay labels.
  if (!DNS_LABEL.test(name) || name.length > 40)
    throw new ScrapeguardError('USAGE', `--name ${JSON.stringify(name)} must be a DNS-1123 label of at most 40 characters`);
  return { image: values.image, upstreamPort, podSelector, namespace: values.namespace, name };
}

/** A manifest file with its line in init's report. */
export interface KubernetesFile extends FileToWrite {
  description: string;
}

/** What {@link kubernetesFiles} produced. */
export interface KubernetesOutput {
  files: KubernetesFile[];
  /** Notes of the ServiceMonitor generator (never a secret). */
  warnings: string[];
}

const metadata = (plan: KubernetesPlan, name: string, labels: Record<string, string> = {}) => ({
  name,
  ...(plan.namespace !== undefined ? { namespace: plan.namespace } : {}),
  labels: { 'app.kubernetes.io/managed-by': 'scrapeguard', ...labels },
});

/** Labels of the Service, which the ServiceMonitor selects (its own: the pods' may be shared). */
const serviceLabels = (plan: KubernetesPlan) => ({ 'app.kubernetes.io/name': plan.name, 'app.kubernetes.io/component': 'scrapeguard-metrics' });

/**
 * The guard's web-config.yml with every file path pointing at {@link MOUNT_PATH}, comments kept.
 * Relative paths would resolve there too; absolute ones say where to look when reading the Secret.
 */
export function mountedWebConfig(webConfigYaml: string, secretName: string): string {
  const doc = parseDocument(webConfigYaml);
  for (const key of ['cert_file', 'key_file', 'client_ca_file']) {
    const value = doc.getIn(['tls_server_config', key]);
    if (typeof value === 'string') doc.setIn(['tls_server_config', key], `${MOUNT_PATH}/${value}`);
  }
  // init's header lists the files of its directory; in the Secret only three of them exist.
  const mounted = [
    ` In Kubernetes: mounted from the Secret ${secretName} at ${MOUNT_PATH} (read-only):`,
    '   ca.crt      CA that verifies client certificates (the scraper holds client.crt/client.key)',
    '   server.crt  certificate this server presents, server.key its private key',
    ' ca.key, client.key and password are not in the Secret.',
  ].join('\n');
  // yaml attaches init's header to the first key, together with that key's own comment.
  const first = isMap(doc.contents) ? doc.contents.items[0]?.key : undefined;
  const header = isScalar(first) ? (first.commentBefore ?? '') : '';
  const start = header.indexOf(' Relative paths are resolved');
  const end = header.indexOf('\n\n', start);
  if (isScalar(first) && start >= 0 && end > start) first.commentBefore = `${header.slice(0, start)}${mounted}${header.slice(end)}`;
  else doc.commentBefore = mounted;
  return doc.toString();
}

/**
 * The manifests for the init directory `dir`, whose web-config.yml, certificates and scraper
 * credentials were just written.
 */
export async function kubernetesFiles(dir: string, plan: KubernetesPlan, user: string): Promise<KubernetesOutput> {
  const read = (name: string) => readFile(join(dir, name), 'utf8');
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const secretName = `${plan.name}-web-config`;

  const data: Record<string, string> = { 'web-config.yml': b64(mountedWebConfig(await read('web-config.yml'), secretName)) };
  for (const name of GUARD_SECRET_FILES) data[name] = b64(await read(name));
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: metadata(plan, secretName), type: 'Opaque', data };

  const upstream = `http://127.0.0.1:${plan.upstreamPort}/metrics`;
  const container = {
    name: 'scrapeguard',
    image: plan.image,
    command: ['scrapeguard'],
    args: [
      'serve',
      '--web.config.file',
      `${MOUNT_PATH}/web-config.yml`,
      '--web.listen-address',
      `:${METRICS_PORT}`,
      '--web.health-listen-address',
      `:${HEALTH_PORT}`,
      '--upstream',
      upstream,
    ],
    ports: [
      { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
      { name: 'health', containerPort: HEALTH_PORT, protocol: 'TCP' },
    ],
    // Plain HTTP on the health port: the kubelet has no client certificate for the metrics port.
    livenessProbe: { httpGet: { path: '/healthz', port: 'health', scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
    readinessProbe: { httpGet: { path: '/readyz', port: 'health', scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
    resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUN_AS_USER,
      runAsGroup: RUN_AS_USER,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: 'scrapeguard-web-config', mountPath: MOUNT_PATH, readOnly: true }],
  };
  const patch = {
    spec: {
      template: {
        spec: {
          containers: [container],
          // 0444: files of a Secret volume belong to root, and the container runs as a non-root
          // uid. Only this container mounts the volume, so "others" means nobody else in the pod.
          volumes: [{ name: 'scrapeguard-web-config', secret: { secretName, defaultMode: 0o444 } }],
        },
      },
    },
  };

  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(plan, plan.name, serviceLabels(plan)),
    // Only the metrics port: the health port is for the kubelet, which reaches the pod IP directly.
    spec: { selector: { ...plan.podSelector }, ports: [{ name: 'metrics', port: METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' }] },
  };

  // The scraper's side, by the same generator as `scrape-config --format servicemonitor`.
  const config = await loadConfigFile(join(dir, 'web-config.yml'));
  const monitor = await generateOperatorManifests(config, {
    kind: 'ServiceMonitor',
    name: plan.name,
    ...(plan.namespace !== undefined ? { namespace: plan.namespace } : {}),
    selector: serviceLabels(plan),
    port: 'metrics',
    serverName: kubernetesServerName(plan),
    credentialsDir: dir,
    username: user,
  });
  const warnings = monitor.warnings.filter((w) => !w.includes('with private key or credential material'));

  const patchCmd = `kubectl patch deployment DEPLOYMENT${plan.namespace !== undefined ? ` -n ${plan.namespace}` : ''} --patch-file sidecar-patch.yaml`;
  return {
    warnings,
    files: [
      {
        name: 'secret.yaml',
        contents: manifestsYaml(
          [secret],
          ` The guard's Secret: web-config.yml (paths under ${MOUNT_PATH}), server.crt, server.key, ca.crt (client CA).\n` +
            ' Holds the server private key: apply it (kubectl apply -f secret.yaml), do not commit it.\n' +
            ' Not in it: ca.key and client.key (the scraper has client.key, in servicemonitor.yaml).',
        ),
        mode: SECRET_FILE_MODE,
        description: `Secret ${secretName}: web-config.yml, server.crt/key, ca.crt for the sidecar`,
      },
      {
        name: 'sidecar-patch.yaml',
        contents: manifestsYaml(
          [patch],
          ` Adds the scrapeguard sidecar to your exporter's Deployment:\n   ${patchCmd}\n` +
            ` Metrics: mTLS on port "metrics" (${METRICS_PORT}); probes: plain HTTP on port "health" (${HEALTH_PORT}),\n` +
            ` /healthz (liveness) and /readyz (readiness: the upstream ${upstream} answered).`,
        ),
        mode: PUBLIC_FILE_MODE,
        description: `strategic-merge patch: sidecar container, probes on port health (${HEALTH_PORT})`,
      },
      {
        name: 'service.yaml',
        contents: manifestsYaml([service], ' The Service the ServiceMonitor selects: only the metrics port, never the health port.'),
        mode: PUBLIC_FILE_MODE,
        description: `Service ${plan.name}: port metrics (${METRICS_PORT}) of the selected pods`,
      },
      {
        name: 'servicemonitor.yaml',
        contents: monitor.yaml,
        // The scraper's client key and password.
        mode: SECRET_FILE_MODE,
        description: `ServiceMonitor ${plan.name} + Secret ${plan.name}-scrape-credentials (client key, password)`,
      },
    ],
  };
}
