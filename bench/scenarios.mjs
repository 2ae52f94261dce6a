// The benchmark scenarios of `npm run bench` (issue #7). Each `run(ctx)` starts its contenders
// through `ctx`, measures them side by side and returns a markdown section plus summary lines.
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { cpuSeconds, peakRssMiB, startProcess } from './lib/proc.mjs';

/** TLS (+ client-cert verification) section of a web-config for a PKI written by run.mjs. */
function tls(pki, { verifyClient }) {
  return {
    cert_file: pki.serverCert,
    key_file: pki.serverKey,
    ...(verifyClient ? { client_ca_file: pki.ca, client_auth_type: 'RequireAndVerifyClientCert' } : {}),
  };
}

/** Load generator target for an HTTPS contender. */
function httpsTarget(port, pki, { clientCert = true, headers, keepAlive = true, concurrency = 2 } = {}) {
  return {
    url: `https://localhost:${port}/metrics`,
    ca: pki.ca,
    ...(clientCert ? { cert: pki.clientCert, key: pki.clientKey } : {}),
    ...(headers ? { headers } : {}),
    keepAlive,
    concurrency,
    expectStatus: 200,
  };
}

const plainTarget = (port, concurrency = 2) => ({ url: `http://127.0.0.1:${port}/metrics`, keepAlive: true, concurrency, expectStatus: 200 });

/**
 * The full security stack scrapeguard is meant to run with: mTLS, a bearer token, an access rule
 * (one that withholds nothing from this registry, so both sides render the same series and the
 * filter still runs on every family), and redaction (a drop rule plus the secret detectors, which
 * mask the DSN password in `app_db_pool_info`).
 */
function securedConfig(ctx, pki) {
  return {
    tls_server_config: tls(pki, { verifyClient: true }),
    bearer_auth: { tokens: [{ name: 'prometheus', token_sha256: ctx.tokenSha256, groups: ['ops'] }] },
    access_rules: { default: 'deny', rules: [{ groups: ['ops'], deny_metrics: ['audit_.*'] }] },
    ...(ctx.haveRedaction ? { redaction: { drop_labels: ['password|api_key|secret|token'], detect_secrets: true } } : {}),
  };
}
const SECURED_LABEL = 'scrapeguard (mTLS + bearer + access rule + redaction)';

async function stopAll(procs) {
  await Promise.all(procs.map((p) => p.stop()));
}

export const scenarios = [
  {
    id: 'S1',
    title: 'in-process overhead: plain prom-client over HTTP vs scrapeguard, keep-alive',
    async run(ctx) {
      const sizes = ctx.quick ? [1000, 10_000] : [1000, 10_000, 100_000];
      const parts = [];
      const summary = [];
      const plot = { plain: [], guard: [] };
      for (const series of sizes) {
        const pki = ctx.pki.ec;
        const plain = await ctx.app('plain', series);
        const guard = await ctx.app('guard', series, securedConfig(ctx, pki));
        const rounds = series >= 100_000 ? 1 : ctx.rounds;
        const r = await ctx.measureRounds(
          [
            { name: 'prom-client, plain HTTP', processes: [plain], target: plainTarget(plain.port) },
            { name: SECURED_LABEL, processes: [guard], target: httpsTarget(guard.port, pki, { headers: ctx.bearerHeader }) },
          ],
          { rounds, durationMs: ctx.durationMs },
        );
        await stopAll([plain, guard]);
        parts.push(`### ${series.toLocaleString('en')} series\n\n${ctx.table(r, 'prom-client, plain HTTP')}`);
        const g = r[SECURED_LABEL];
        const p = r['prom-client, plain HTTP'];
        plot.plain.push([series, p.p50]);
        plot.guard.push([series, g.p50]);
        summary.push(
          `${series.toLocaleString('en')} series: p50 ratio ${ctx.f(g.p50 / p.p50)}, throughput ratio ${ctx.f(g.throughput / p.throughput)}, CPU ratio ${ctx.f(g.cpuPer1000 / p.cpuPer1000)} (scrapeguard / plain prom-client)`,
        );
      }
      const svg = ctx.writePlot('s1-latency', {
        title: 'S1: p50 scrape latency by registry size (keep-alive)',
        xLabel: 'series in the registry',
        yLabel: 'p50 latency, ms',
        series: [
          { name: 'prom-client, plain HTTP', points: plot.plain },
          { name: SECURED_LABEL, points: plot.guard },
        ],
      });
      return { markdown: `![S1 latency against series count](${svg})\n\n${parts.join('\n\n')}`, summary };
    },
  },
  {
    id: 'S2',
    title: 'versus the nginx recipe (TLS + auth_basic in front of plain prom-client)',
    async run(ctx) {
      if (!ctx.haveNginx)
        return { markdown: 'nginx is not available: run `bash scripts/fetch-nginx.sh` (npm run bench does).', summary: ['skipped: no nginx'] };
      const series = ctx.quick ? 1000 : 10_000;
      const pki = ctx.pki.ec;
      const apr1 = ctx.writeFile('htpasswd-apr1', `${ctx.USER}:${ctx.apr1Hash}\n`, 0o644);
      const bcrypt = ctx.writeFile('htpasswd-bcrypt', `${ctx.USER}:${ctx.bcryptHash}\n`, 0o644);
      const webConfig = ctx.writeYaml('s2-web-config.yml', {
        tls_server_config: tls(pki, { verifyClient: false }),
        basic_auth_users: { [ctx.USER]: ctx.bcryptHash },
      });
      const procs = [];
      const start = async (p) => (procs.push(await p), procs[procs.length - 1]);
      const entries = [];
      const backendA = await start(ctx.app('plain', series));
      const ngA = await start(ctx.nginx({ pki, upstreamPort: backendA.port, htpasswd: apr1 }));
      entries.push({
        name: 'nginx + auth_basic (apr1, htpasswd default)',
        processes: [ngA, backendA],
        target: httpsTarget(ngA.port, pki, { clientCert: false, headers: ctx.basicHeader }),
      });
      const backendB = await start(ctx.app('plain', series));
      const ngB = await start(ctx.nginx({ pki, upstreamPort: backendB.port, htpasswd: bcrypt }));
      entries.push({
        name: 'nginx + auth_basic (bcrypt cost 10, same hash)',
        processes: [ngB, backendB],
        target: httpsTarget(ngB.port, pki, { clientCert: false, headers: ctx.basicHeader }),
      });
      const guard = await start(
        ctx.app('guard', series, { tls_server_config: tls(pki, { verifyClient: false }), basic_auth_users: { [ctx.USER]: ctx.bcryptHash } }),
      );
      entries.push({
        name: 'scrapeguard in-process (TLS + basic, bcrypt cost 10)',
        processes: [guard],
        target: httpsTarget(guard.port, pki, { clientCert: false, headers: ctx.basicHeader }),
      });
      if (ctx.haveSidecar) {
        const backendC = await start(ctx.app('plain', series));
        const side = await start(ctx.sidecar(webConfig, backendC.port));
        entries.push({
          name: 'scrapeguard sidecar (--upstream)',
          processes: [side, backendC],
          target: httpsTarget(side.port, pki, { clientCert: false, headers: ctx.basicHeader }),
        });
      }
      const r = await ctx.measureRounds(entries, { rounds: ctx.rounds, durationMs: ctx.durationMs });
      await stopAll(procs);
      const base = 'nginx + auth_basic (apr1, htpasswd default)';
      const g = r['scrapeguard in-process (TLS + basic, bcrypt cost 10)'];
      const summary = [
        `${series.toLocaleString('en')} series: scrapeguard in-process / nginx recipe (apr1): throughput ${ctx.f(g.throughput / r[base].throughput)}, CPU per scrape ${ctx.f(g.cpuPer1000 / r[base].cpuPer1000)}, p50 ${ctx.f(g.p50 / r[base].p50)}`,
      ];
      const s = r['scrapeguard sidecar (--upstream)'];
      if (s)
        summary.push(
          `sidecar / nginx recipe (apr1): throughput ${ctx.f(s.throughput / r[base].throughput)}, CPU per scrape ${ctx.f(s.cpuPer1000 / r[base].cpuPer1000)}`,
        );
      const note = ctx.haveSidecar ? '' : '\n\n(The sidecar row needs `serve --upstream`, not in this build.)';
      return {
        markdown: `${series.toLocaleString('en')}-series registry. nginx: 1 worker, TLS 1.2/1.3, no session cache, upstream keep-alive; its rows' CPU and RSS include the plain prom-client backend. Clients present no client certificate here (nginx's auth_basic recipe has none).\n\n${ctx.table(r, base)}${note}`,
        summary,
      };
    },
  },
  {
    id: 'S3',
    title: 'new connections: full TLS handshakes per second (no keep-alive, no session resumption)',
    async run(ctx) {
      const rows = [];
      const summary = [];
      for (const keyType of ['ec', 'rsa']) {
        for (const verifyClient of [false, true]) {
          const pki = ctx.pki[keyType];
          const label = `${keyType === 'ec' ? 'ECDSA P-256' : 'RSA-2048'}${verifyClient ? ' + client cert' : ''}`;
          const procs = [];
          const guard = await ctx.app('guard', 10, { tls_server_config: tls(pki, { verifyClient }) });
          procs.push(guard);
          const entries = [{ name: `scrapeguard`, processes: [guard], target: httpsTarget(guard.port, pki, { clientCert: verifyClient, keepAlive: false }) }];
          if (ctx.haveNginx) {
            const ng = await ctx.nginx({ pki, verifyClient, staticBody: '# small static body\nup 1\n' });
            procs.push(ng);
            entries.push({ name: 'nginx', processes: [ng], target: httpsTarget(ng.port, pki, { clientCert: verifyClient, keepAlive: false }) });
          }
          const r = await ctx.measureRounds(entries, { rounds: ctx.rounds, durationMs: ctx.durationMs });
          await stopAll(procs);
          const g = r.scrapeguard;
          const n = r.nginx;
          rows.push(
            `| ${label} | ${ctx.f(g.throughput, 0)} | ${ctx.f(g.p50, 2)} | ${ctx.f(g.cpuPer1000, 2)} | ${n ? ctx.f(n.throughput, 0) : 'n/a'} | ${n ? ctx.f(n.p50, 2) : 'n/a'} | ${n ? ctx.f(n.cpuPer1000, 2) : 'n/a'} | ${n ? ctx.f(g.throughput / n.throughput) : 'n/a'} | ${n ? ctx.f(g.cpuPer1000 / n.cpuPer1000) : 'n/a'} | ${g.errors + (n?.errors ?? 0)} |`,
          );
          if (n)
            summary.push(
              `${label}: scrapeguard / nginx handshakes per second ${ctx.f(g.throughput / n.throughput)}, CPU per handshake ${ctx.f(g.cpuPer1000 / n.cpuPer1000)}`,
            );
        }
      }
      return {
        markdown: `Each request is a new TCP + TLS connection (Agent without keep-alive, session cache off on both sides), 2 at a time. scrapeguard serves a 10-series registry; nginx returns a small static body. CPU is the server's only.\n\n| server cert | scrapeguard conn/s | p50 ms | CPU s / 1000 | nginx conn/s | p50 ms | CPU s / 1000 | conn/s ratio | CPU ratio | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n${rows.join('\n')}`,
        summary,
      };
    },
  },
  {
    id: 'S4',
    title: 'under attack: wrong-password flood + idle slow connections vs a legitimate scraper',
    async run(ctx) {
      const pki = ctx.pki.ec;
      const duration = ctx.quick ? 4000 : 15_000;
      const rows = [];
      const summary = [];
      const variants = [
        ['defaults', {}],
        ['with limits.auth_failure_backoff: {}', { limits: { auth_failure_backoff: {} } }],
      ];
      for (const [variant, extra] of variants) {
        const guard = await ctx.app('guard', 1000, {
          tls_server_config: tls(pki, { verifyClient: false }),
          basic_auth_users: { [ctx.USER]: ctx.bcryptHash },
          ...extra,
        });
        const legit = { ...httpsTarget(guard.port, pki, { clientCert: false, headers: ctx.basicHeader, concurrency: 4 }), rate: 10, localAddress: '127.0.0.1' };
        const idle = (await ctx.measureRounds([{ name: 'idle', processes: [guard], target: legit }], { rounds: 1, durationMs: duration, warmupMs: 300 })).idle;
        const slow = await startProcess(
          process.execPath,
          [
            join(ctx.root, 'bench/lib/slowloris.mjs'),
            JSON.stringify({ port: guard.port, connections: 200, localAddress: '127.0.0.3', ca: pki.ca, byteEveryMs: 2000 }),
          ],
          { ready: /READY/, timeoutMs: 20_000 },
        );
        const wrong = { authorization: `Basic ${Buffer.from(`${ctx.USER}:wrong-password`).toString('base64')}` };
        const attackSpec = {
          url: legit.url,
          ca: pki.ca,
          headers: wrong,
          keepAlive: true,
          concurrency: 256,
          rate: 500,
          durationMs: duration + 1000,
          localAddress: '127.0.0.2',
        };
        const attack = new Promise((resolve) =>
          execFile(process.execPath, [join(ctx.root, 'bench/lib/loadgen.mjs'), JSON.stringify(attackSpec)], (err, stdout) =>
            resolve(err ? { error: err.message } : JSON.parse(stdout)),
          ),
        );
        await new Promise((r) => setTimeout(r, 500)); // let the flood reach full rate first
        const cpuBefore = cpuSeconds(guard.pid);
        const a = (await ctx.measureRounds([{ name: 'attack', processes: [guard], target: legit }], { rounds: 1, durationMs: duration, warmupMs: 0 })).attack;
        const cpu = cpuSeconds(guard.pid) - cpuBefore;
        const attackResult = await attack;
        await slow.stop();
        const slowStats = /STATS (.*)/.exec(slow.output())?.[1] ?? 'n/a';
        const rss = peakRssMiB(guard.pid);
        await guard.stop();
        const rate = (r) => (r.ok + r.errors ? (r.ok / (r.ok + r.errors)) * 100 : 0);
        rows.push(`| ${variant} | idle | ${idle.ok} | ${idle.errors} | ${ctx.f(rate(idle), 1)} | ${ctx.f(idle.p50, 2)} | ${ctx.f(idle.p99, 2)} | | | |`);
        rows.push(
          `| ${variant} | under attack | ${a.ok} | ${a.errors} | ${ctx.f(rate(a), 1)} | ${ctx.f(a.p50, 2)} | ${ctx.f(a.p99, 2)} | ${ctx.f(a.p99 / idle.p99)} | ${ctx.f(cpu / (duration / 1000))} | ${ctx.f(rss, 0)} |`,
        );
        rows.push(`| ${variant} | attacker's answers | \`${JSON.stringify(attackResult.statuses ?? attackResult)}\` | | | | | | | |`);
        rows.push(`| ${variant} | slow connections | \`${slowStats}\` | | | | | | | |`);
        summary.push(
          `${variant}: legitimate success ${ctx.f(rate(a), 1)} %, p99 ${ctx.f(a.p99, 2)} ms under attack vs ${ctx.f(idle.p99, 2)} ms idle (ratio ${ctx.f(a.p99 / idle.p99)}; target 100 %, ≤ 2)`,
        );
      }
      return {
        markdown: `scrapeguard (TLS + basic auth, bcrypt cost 10) serving 1,000 series, with its defaults and with the brute-force hold-off on. Legitimate scraper: 10 scrapes/s from 127.0.0.1 for ${duration / 1000} s, first alone (idle), then during the attack: 500 requests/s with a wrong password from 127.0.0.2 (keep-alive, up to 256 in flight) plus 200 connections from 127.0.0.3 that send one header byte every 2 s. Server CPU is cores busy during the attack; RSS the peak.\n\n| config | phase | scrapes | failed | success % | p50 ms | p99 ms | p99 ratio | server cores busy | peak RSS MiB |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n${rows.join('\n')}`,
        summary,
      };
    },
  },
  {
    id: 'S5',
    title: 'bcrypt cache: keep-alive scrapes with basic auth vs none',
    async run(ctx) {
      const pki = ctx.pki.ec;
      const series = 1000;
      const withAuth = await ctx.app('guard', series, {
        tls_server_config: tls(pki, { verifyClient: false }),
        basic_auth_users: { [ctx.USER]: ctx.bcryptHash },
      });
      const without = await ctx.app('guard', series, { tls_server_config: tls(pki, { verifyClient: false }) });
      const r = await ctx.measureRounds(
        [
          { name: 'TLS, no auth', processes: [without], target: httpsTarget(without.port, pki, { clientCert: false }) },
          {
            name: 'TLS + basic auth (bcrypt cost 10)',
            processes: [withAuth],
            target: httpsTarget(withAuth.port, pki, { clientCert: false, headers: ctx.basicHeader }),
          },
        ],
        { rounds: ctx.rounds, durationMs: ctx.durationMs },
      );
      await stopAll([withAuth, without]);
      const a = r['TLS + basic auth (bcrypt cost 10)'];
      const b = r['TLS, no auth'];
      return {
        markdown: `1,000 series, keep-alive. Without a cache every scrape would pay one bcrypt verification (about 50–60 ms at cost 10 here).\n\n${ctx.table(r, 'TLS, no auth')}`,
        summary: [`basic auth / no auth: p50 ${ctx.f(a.p50 / b.p50)}, CPU per scrape ${ctx.f(a.cpuPer1000 / b.cpuPer1000)}`],
      };
    },
  },
  {
    id: 'S6',
    title: 'node_exporter: the same web-config (TLS + basic auth) under exporter-toolkit and scrapeguard',
    async run(ctx) {
      if (!ctx.haveNodeExporter)
        return { markdown: 'node_exporter is not available: run `bash scripts/fetch-prometheus.sh`.', summary: ['skipped: no node_exporter'] };
      const pki = ctx.pki.ec;
      const secured = { tls_server_config: tls(pki, { verifyClient: false }), basic_auth_users: { [ctx.USER]: ctx.bcryptHash } };
      const file = ctx.writeYaml('s6-web-config.yml', secured);
      const nePlain = await ctx.nodeExporter();
      const neSecured = await ctx.nodeExporter(file);
      const sgPlain = await ctx.app('guard', 0, {});
      const sgSecured = await ctx.app('guard', 0, secured);
      const r = await ctx.measureRounds(
        [
          { name: 'node_exporter, plain HTTP', processes: [nePlain], target: plainTarget(nePlain.port) },
          {
            name: 'node_exporter, web-config TLS + basic',
            processes: [neSecured],
            target: httpsTarget(neSecured.port, pki, { clientCert: false, headers: ctx.basicHeader }),
          },
          { name: 'scrapeguard, plain HTTP', processes: [sgPlain], target: plainTarget(sgPlain.port) },
          {
            name: 'scrapeguard, web-config TLS + basic',
            processes: [sgSecured],
            target: httpsTarget(sgSecured.port, pki, { clientCert: false, headers: ctx.basicHeader }),
          },
        ],
        { rounds: ctx.rounds, durationMs: ctx.durationMs },
      );
      await stopAll([nePlain, neSecured, sgPlain, sgSecured]);
      const ratio = (a, b, k) => r[a][k] / r[b][k];
      const rows = [
        ['node_exporter (exporter-toolkit)', 'node_exporter, web-config TLS + basic', 'node_exporter, plain HTTP'],
        ['scrapeguard', 'scrapeguard, web-config TLS + basic', 'scrapeguard, plain HTTP'],
      ].map(
        ([n, s, p]) =>
          `| ${n} | ${ctx.f(ratio(s, p, 'p50'))} | ${ctx.f(ratio(s, p, 'p99'))} | ${ctx.f(ratio(s, p, 'cpuPer1000'))} | ${ctx.f(1 / ratio(s, p, 'throughput'))} |`,
      );
      return {
        markdown: `Each serves its own metrics (node_exporter: its default collectors; scrapeguard: prom-client's default process metrics), so absolute numbers differ by content; the comparison is the security overhead of each, secured / plain.\n\n${ctx.table(r, 'node_exporter, plain HTTP')}\n\n| security overhead (secured / plain) | p50 | p99 | CPU per scrape | 1 / throughput |\n|---|---:|---:|---:|---:|\n${rows.join('\n')}`,
        summary: [
          `secured / plain p50: node_exporter ${ctx.f(ratio('node_exporter, web-config TLS + basic', 'node_exporter, plain HTTP', 'p50'))}, scrapeguard ${ctx.f(ratio('scrapeguard, web-config TLS + basic', 'scrapeguard, plain HTTP', 'p50'))}`,
        ],
      };
    },
  },
];
