/**
 * `scrapeguard init --kubernetes`: the manifests in DIR/kubernetes/ parse, the sidecar's probes go
 * to the plain-HTTP health port (never the mTLS metrics port), the guard's Secret holds a web
 * config that loads once its files sit at the mount path and never the CA key or the client key,
 * and the ServiceMonitor validates against prometheus-operator's CRD schema. Run in-process against
 * real temp directories; the generated command line is also run with the built CLI (real sockets,
 * real TLS handshakes), with the mount path mapped to a temp directory.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorFixture } from './helpers/operator-schema.js';
import { loadConfigFile } from '../src/config/load.js';
import { initCommand } from '../src/tools/cli/init.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { scrape } from './helpers/client.js';
import { ensureBuilt, freePort, sleep, startServe, stopAll, type RunningProcess } from './e2e/support.js';

type Json = Record<string, unknown>;

const MOUNT = '/etc/scrapeguard';
const tmp = () => mkdtempSync(join(tmpdir(), 'scrapeguard-init-k8s-'));
const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');

/** Every document of a YAML file, failing on any parse error or warning. */
function docs(path: string): Json[] {
  const all = parseAllDocuments(readFileSync(path, 'utf8'));
  if (!Array.isArray(all)) throw new Error(`${path}: not a YAML stream`);
  return all.map((d) => {
    expect(d.errors, path).toEqual([]);
    expect(d.warnings, path).toEqual([]);
    return d.toJS() as Json;
  });
}

function expectOneLineError(result: CliResult, pattern: RegExp): void {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^scrapeguard init: [^\n]+\n$/);
  expect(result.stderr).toMatch(pattern);
}

/** prometheus-operator's ServiceMonitor schema, open and closed (no unknown field anywhere). */
function serviceMonitorValidators() {
  const schema = operatorFixture('servicemonitors.v1.schema.json');
  const closed = (s: unknown): unknown => {
    if (Array.isArray(s)) return s.map(closed);
    if (typeof s !== 'object' || s === null) return s;
    const out: Json = {};
    for (const [k, v] of Object.entries(s))
      out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([p, x]) => [p, closed(x)])) : closed(v);
    if (out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
    return out;
  };
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  for (const keyword of ['x-kubernetes-map-type', 'x-kubernetes-int-or-string', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys'])
    ajv.addKeyword({ keyword });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i);
  return { open: ajv.compile(schema), strict: ajv.compile(closed(schema) as Json) };
}

interface Container {
  name: string;
  image: string;
  command: string[];
  args: string[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string | number; scheme?: string } };
  readinessProbe: { httpGet: { path: string; port: string | number; scheme?: string } };
  startupProbe?: unknown;
  securityContext: Json;
  resources: { requests: Record<string, string> };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}

/** The value following `flag` in an argument list. */
const argValue = (args: readonly string[], flag: string) => args[args.indexOf(flag) + 1];

describe('scrapeguard init --kubernetes', () => {
  let dir: string;
  let kdir: string;
  let result: CliResult;
  let container: Container;
  let patch: Json;
  let secret: Json & { data: Record<string, string>; metadata: { name: string } };
  let service: Json & { metadata: { labels: Record<string, string> }; spec: { selector: Record<string, string>; ports: Json[] } };
  let monitorDocs: Json[];
  beforeAll(async () => {
    const cwd = tmp();
    dir = join(cwd, 'pki');
    kdir = join(dir, 'kubernetes');
    result = await runCli(
      initCommand,
      [
        'pki',
        '--kubernetes',
        '--image',
        'registry.example/scrapeguard:1.0',
        '--selector',
        'app.kubernetes.io/name=node-exporter',
        '--namespace',
        'monitoring',
        '--upstream-port',
        '9101',
      ],
      { cwd },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    patch = docs(join(kdir, 'sidecar-patch.yaml'))[0]!;
    const spec = (patch.spec as { template: { spec: { containers: Container[] } } }).template.spec;
    container = spec.containers[0]!;
    secret = docs(join(kdir, 'secret.yaml'))[0] as typeof secret;
    service = docs(join(kdir, 'service.yaml'))[0] as typeof service;
    monitorDocs = docs(join(kdir, 'servicemonitor.yaml'));
  });

  it('writes the four manifests next to init files, secret ones 0600, and names them in the report', () => {
    expect(readdirSync(kdir).sort()).toEqual(['secret.yaml', 'service.yaml', 'servicemonitor.yaml', 'sidecar-patch.yaml']);
    const mode = (name: string) => statSync(join(kdir, name)).mode & 0o777;
    expect(mode('secret.yaml')).toBe(0o600);
    expect(mode('servicemonitor.yaml')).toBe(0o600);
    expect(mode('sidecar-patch.yaml')).toBe(0o644);
    expect(mode('service.yaml')).toBe(0o644);
    expect(existsSync(join(dir, 'web-config.yml'))).toBe(true);
    for (const name of ['secret.yaml', 'sidecar-patch.yaml', 'service.yaml', 'servicemonitor.yaml']) expect(result.stdout).toContain(join('kubernetes', name));
    expect(result.stdout).toContain('kubectl patch deployment DEPLOYMENT -n monitoring --patch-file');
    // Nothing secret in the output.
    expect(result.stdout).not.toContain(read(dir, 'password').trim());
    expect(result.stdout).not.toMatch(/PRIVATE KEY/);
  });

  it('the sidecar probes /healthz and /readyz on the plain-HTTP health port and never the metrics port', () => {
    expect(container.name).toBe('scrapeguard');
    expect(container.image).toBe('registry.example/scrapeguard:1.0');
    const ports = Object.fromEntries(container.ports.map((p) => [p.name, p.containerPort]));
    expect(ports).toEqual({ metrics: 9443, health: 8081 });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health', scheme: 'HTTP' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health', scheme: 'HTTP' });
    const probes = JSON.stringify([container.livenessProbe, container.readinessProbe, container.startupProbe ?? null]);
    expect(probes).not.toContain('metrics');
    expect(probes).not.toContain('9443');
    // The health listener the probes target is the one the container starts.
    expect(argValue(container.args, '--web.health-listen-address')).toBe(':8081');
    expect(argValue(container.args, '--web.listen-address')).toBe(':9443');
    expect(argValue(container.args, '--upstream')).toBe('http://127.0.0.1:9101/metrics');
    expect(container.args).not.toContain('--web.health-tls');
  });

  it('the container reads its web config from the mounted Secret, read-only, as a locked-down non-root process', () => {
    expect(container.command).toEqual(['scrapeguard']);
    expect(container.args[0]).toBe('serve');
    expect(argValue(container.args, '--web.config.file')).toBe(`${MOUNT}/web-config.yml`);
    expect(container.volumeMounts).toEqual([{ name: 'scrapeguard-web-config', mountPath: MOUNT, readOnly: true }]);
    const volumes = (patch.spec as { template: { spec: { volumes: { name: string; secret: { secretName: string } }[] } } }).template.spec.volumes;
    expect(volumes).toHaveLength(1);
    expect(volumes[0]!.name).toBe('scrapeguard-web-config');
    expect(volumes[0]!.secret.secretName).toBe(secret.metadata.name);
    expect(Object.keys(secret.data)).toContain('web-config.yml');
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(Object.keys(container.resources.requests).sort()).toEqual(['cpu', 'memory']);
  });

  it("the guard's Secret holds the web config, server certificate and key and client CA, never the CA key or the client key", () => {
    expect(secret.kind).toBe('Secret');
    expect(secret.metadata).toMatchObject({ name: 'scrapeguard-web-config', namespace: 'monitoring' });
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'server.crt', 'server.key', 'web-config.yml']);
    const decoded = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    expect(decoded['server.crt']).toBe(read(dir, 'server.crt'));
    expect(decoded['server.key']).toBe(read(dir, 'server.key'));
    expect(decoded['ca.crt']).toBe(read(dir, 'ca.crt'));
    const all = Object.values(decoded).join('\n');
    for (const forbidden of ['ca.key', 'client.key', 'password']) expect(all).not.toContain(read(dir, forbidden).trim());
    // Exactly one private key: the server's.
    expect(all.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----/g)).toHaveLength(1);
    expect(read(join(kdir), 'secret.yaml')).not.toContain(read(dir, 'ca.key').trim());
  });

  it('the web-config.yml in the Secret loads when its files sit at the mount path, and still requires client certificates', async () => {
    const decoded = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    const webConfig = decoded['web-config.yml']!;
    for (const name of ['server.crt', 'server.key', 'ca.crt']) expect(webConfig).toContain(`${MOUNT}/${name}`);
    // The mount path mapped to a temp directory: same layout, files from the Secret only.
    const mount = tmp();
    for (const [k, v] of Object.entries(decoded))
      writeFileSync(join(mount, k), k === 'web-config.yml' ? v.replaceAll(`${MOUNT}/`, `${mount}/`) : v, { mode: 0o600 });
    const config = await loadConfigFile(join(mount, 'web-config.yml'));
    expect(config.tls?.clientAuth).toBe('RequireAndVerifyClientCert');
    expect(config.dependsOn.sort()).toEqual(['ca.crt', 'server.crt', 'server.key', 'web-config.yml'].map((f) => join(mount, f)).sort());
  });

  it('the Service exposes only the metrics port of the selected pods, and the server certificate names it', () => {
    expect(service.kind).toBe('Service');
    expect(service.spec.selector).toEqual({ 'app.kubernetes.io/name': 'node-exporter' });
    expect(service.spec.ports).toEqual([{ name: 'metrics', port: 9443, targetPort: 'metrics', protocol: 'TCP' }]);
    const sans = new X509Certificate(read(dir, 'server.crt')).subjectAltName ?? '';
    expect(sans).toContain('DNS:scrapeguard.monitoring.svc');
  });

  it('the ServiceMonitor (from the scrape-config generator) validates against the CRD schema and scrapes the metrics port of that Service', () => {
    expect(monitorDocs.map((d) => d.kind)).toEqual(['Secret', 'ServiceMonitor']);
    const [scrapeSecret, monitor] = monitorDocs as [Json & { stringData: Record<string, string> }, Json];
    const v = serviceMonitorValidators();
    expect(v.open(monitor), JSON.stringify(v.open.errors)).toBe(true);
    expect(v.strict(monitor), JSON.stringify(v.strict.errors)).toBe(true);
    const spec = monitor.spec as { selector: { matchLabels: Record<string, string> }; endpoints: Json[] };
    for (const [k, val] of Object.entries(spec.selector.matchLabels)) expect(service.metadata.labels[k]).toBe(val);
    expect(spec.endpoints).toHaveLength(1);
    const endpoint = spec.endpoints[0] as { port: string; scheme: string; tlsConfig: { serverName: string } };
    expect(endpoint.port).toBe('metrics');
    expect(endpoint.scheme).toBe('https');
    expect(endpoint.tlsConfig.serverName).toBe('scrapeguard.monitoring.svc');
    expect(JSON.stringify(monitor)).not.toContain('health');
    // The scraper's Secret: its client key and password, the CA to verify the server; never the CA key.
    expect(scrapeSecret.stringData['tls.key']).toBe(read(dir, 'client.key'));
    expect(scrapeSecret.stringData.password).toBe(read(dir, 'password').trim());
    expect(JSON.stringify(scrapeSecret)).not.toContain(read(dir, 'ca.key').trim());
    expect(JSON.stringify(scrapeSecret)).not.toContain(read(dir, 'server.key').trim());
  });
});

describe('scrapeguard init --kubernetes --name, without --namespace', () => {
  it('names every object after --name, sets no namespace, and verifies the server as NAME', async () => {
    const cwd = tmp();
    const r = await runCli(initCommand, ['pki', '--kubernetes', '--image', 'img', '--selector', 'app=x', '--name', 'node-guard'], { cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const kdir = join(cwd, 'pki', 'kubernetes');
    const objects = ['secret.yaml', 'service.yaml', 'servicemonitor.yaml'].flatMap((f) => docs(join(kdir, f)));
    expect(objects.map((o) => [o.kind, (o.metadata as Json).name])).toEqual([
      ['Secret', 'node-guard-web-config'],
      ['Service', 'node-guard'],
      ['Secret', 'node-guard-scrape-credentials'],
      ['ServiceMonitor', 'node-guard'],
    ]);
    for (const o of objects) expect(o.metadata).not.toHaveProperty('namespace');
    const monitor = objects[3] as { spec: { endpoints: { tlsConfig: { serverName: string } }[] } };
    expect(monitor.spec.endpoints[0]!.tlsConfig.serverName).toBe('node-guard');
    expect(new X509Certificate(read(join(cwd, 'pki'), 'server.crt')).subjectAltName).toMatch(/(^|, )DNS:node-guard(,|$)/);
    expect(r.stdout).toContain('kubectl patch deployment DEPLOYMENT --patch-file');
  });
});

describe('scrapeguard init --kubernetes refusals', () => {
  const base = ['--kubernetes', '--image', 'registry.example/scrapeguard:1.0', '--selector', 'app=x'];

  it.each([
    [['--kubernets', ...base.slice(1)], /unknown flag --kubernets \(did you mean --kubernetes\?\)/],
    [['--image', 'registry.example/scrapeguard:1.0'], /--image applies only with --kubernetes/],
    [['--upstream-port', '9100'], /--upstream-port applies only with --kubernetes/],
    [['--selector', 'app=x'], /--selector applies only with --kubernetes/],
    [['--namespace', 'x'], /--namespace applies only with --kubernetes/],
    [['--name', 'x'], /--name applies only with --kubernetes/],
    [['--kubernetes', '--selector', 'app=x'], /--kubernetes needs --image IMAGE/],
    [['--kubernetes', '--image', 'img'], /--kubernetes needs --selector LABEL=VALUE/],
    [[...base, '--image', 'bad image;rm'], /--image .* is not a container image reference/],
    [[...base, '--upstream-port', '70000'], /--upstream-port must be an integer from 1 to 65535/],
    [[...base, '--upstream-port', '8081'], /--upstream-port 8081 is a port of the sidecar itself/],
    [[...base, '--selector', 'novalue'], /--selector "novalue" is not LABEL=VALUE/],
    [[...base, '--namespace', 'Bad_NS'], /--namespace "Bad_NS" is not a DNS-1123 label/],
    [[...base, '--name', 'UPPER'], /--name "UPPER" must be a DNS-1123 label/],
    [[...base, '--kubernetes=yes'], /--kubernetes/],
  ])('refuses %j before writing anything', async (argv, pattern) => {
    const cwd = tmp();
    const r = await runCli(initCommand, ['pki', ...argv], { cwd });
    expectOneLineError(r, pattern);
    expect(existsSync(join(cwd, 'pki'))).toBe(false);
  });

  it('refuses existing manifests without --force (before writing anything) and replaces them with it', async () => {
    const cwd = tmp();
    // Only the kubernetes/ directory exists: init's own files would be new, but nothing is written.
    mkdirSync(join(cwd, 'pki', 'kubernetes'), { recursive: true });
    writeFileSync(join(cwd, 'pki', 'kubernetes', 'secret.yaml'), 'old');
    const refused = await runCli(initCommand, ['pki', ...base], { cwd });
    expectOneLineError(refused, /secret\.yaml.*--force/);
    expect(readdirSync(join(cwd, 'pki')).sort()).toEqual(['kubernetes']);
    expect(read(join(cwd, 'pki', 'kubernetes'), 'secret.yaml')).toBe('old');
    const forced = await runCli(initCommand, ['pki', ...base, '--force'], { cwd });
    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
    expect(read(join(cwd, 'pki', 'kubernetes'), 'secret.yaml')).toContain('kind: Secret');
  });
});

describe('scrapeguard init --kubernetes: the generated command line, run', () => {
  const processes: RunningProcess[] = [];
  let upstream: Server | undefined;
  afterAll(async () => {
    await stopAll(processes);
    if (upstream) await new Promise((r) => upstream?.close(r));
  });

  it(
    'serves /healthz and /readyz without a client certificate on the health port while the metrics port refuses a client without one and serves the scraper',
    { timeout: 240_000 },
    async () => {
      await ensureBuilt();
      const cwd = tmp();
      const init = await runCli(initCommand, ['pki', '--kubernetes', '--image', 'img', '--selector', 'app=x'], { cwd });
      expect(init.code).toBe(0);
      const kdir = join(cwd, 'pki', 'kubernetes');
      const secret = docs(join(kdir, 'secret.yaml'))[0] as { data: Record<string, string> };
      const c = (docs(join(kdir, 'sidecar-patch.yaml'))[0] as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec.containers[0]!;
      // The Secret volume, mapped to a temp directory: only the files the Secret holds, with the
      // volume's defaultMode.
      const volume = (docs(join(kdir, 'sidecar-patch.yaml'))[0] as { spec: { template: { spec: { volumes: { secret: { defaultMode: number } }[] } } } }).spec
        .template.spec.volumes[0]!;
      const mount = tmp();
      for (const [k, v] of Object.entries(secret.data)) {
        const text = Buffer.from(v, 'base64').toString('utf8');
        writeFileSync(join(mount, k), k === 'web-config.yml' ? text.replaceAll(`${MOUNT}/`, `${mount}/`) : text);
        chmodSync(join(mount, k), volume.secret.defaultMode);
      }
      // A stand-in for the exporter the sidecar fronts.
      upstream = createServer((_req, res) => res.end('up 1\n'));
      upstream.listen(0, '127.0.0.1');
      await once(upstream, 'listening');
      const upstreamPort = (upstream.address() as AddressInfo).port;
      const metricsPort = await freePort();
      const healthPort = await freePort();
      // The container's own arguments; only the mount path and the addresses (loopback, free ports) are mapped.
      const mapped: Record<string, string> = {
        [`${MOUNT}/web-config.yml`]: join(mount, 'web-config.yml'),
        ':9443': `127.0.0.1:${metricsPort}`,
        ':8081': `127.0.0.1:${healthPort}`,
        'http://127.0.0.1:9100/metrics': `http://127.0.0.1:${upstreamPort}/metrics`,
      };
      const args = c.args.map((a) => mapped[a] ?? a);
      expect(args.filter((a, i) => a !== c.args[i])).toHaveLength(4);
      expect(args[0]).toBe('serve');
      const proc = startServe(args.slice(1), cwd);
      processes.push(proc);
      for (let i = 0; i < 300 && !proc.output().includes('health on '); i++) {
        if (proc.hasExited()) break;
        await sleep(50);
      }
      expect(proc.output()).toContain(`health on http://127.0.0.1:${healthPort}/healthz`);

      const healthz = await scrape(`http://127.0.0.1:${healthPort}/healthz`);
      expect(healthz.status).toBe(200);
      expect((await scrape(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
      expect((await scrape(`http://127.0.0.1:${healthPort}/metrics`)).status).toBe(404);
      // The metrics port: a client that trusts the CA but has no certificate gets no HTTP answer.
      const anonymous = await scrape(`https://127.0.0.1:${metricsPort}/metrics`, { ca: readFileSync(join(mount, 'ca.crt'), 'utf8') });
      expect(anonymous.status).toBeUndefined();
      expect(anonymous.body).toBe('');
      // The scraper's credentials (client.crt/key and password from DIR, as in servicemonitor.yaml) pass.
      const pki = join(cwd, 'pki');
      const scraper = await scrape(`https://127.0.0.1:${metricsPort}/metrics`, {
        ca: read(pki, 'ca.crt'),
        cert: read(pki, 'client.crt'),
        key: read(pki, 'client.key'),
        auth: `prometheus:${read(pki, 'password').trim()}`,
      });
      expect(scraper.status).toBe(200);
      expect(scraper.body).toContain('up 1');
      // The one known noise of a Secret volume (documented in docs/kubernetes.md): a world-readable key.
      expect(proc.output()).toMatch(/server\.key.* readable by group\/others \(mode 0444\)/);
    },
  );
});
