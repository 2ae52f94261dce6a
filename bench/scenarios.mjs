// The benchmark scenarios of `npm run bench` (issues #7, #16). Each `run(ctx)` starts its
// contenders through `ctx`, measures them side by side and returns a markdown section plus summary
// lines. S1–S4 also have a `probe(ctx)`: the same comparison in the regression gate's fixed, short
// configuration (`GATE`), returning the ratios bench/lib/gate.mjs judges. `npm run bench -- --quick`
// runs only the probes; the full run runs them too and commits their ratios as the reference, so
// the gate compares like with like (same sizes, rounds and durations) and not a 2-minute run
// against a 10-minute one.
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { cpuSeconds, memoryWatchdog, peakRssMiB, rssMiB, startProcess } from './lib/proc.mjs';

/**
 * The gate's probe configuration. Changing it invalidates the committed reference (its
 * fingerprint is stored with the ratios): run the full `npm run bench` afterwards.
 */
export const GATE = Object.freeze({
  rounds: 3, // alternating rounds per contender; ratios of medians (p50) or of summed CPU
  durationMs: 1000, // per round
  s1Series: [1000, 10_000],
  s2Series: 10_000,
  s3: ['ec', 'ec+client'],
  // Three alternating idle/attack rounds of 160 legitimate samples per phase; up to 16 in flight,
  // so a stall shows as latency in the p99 rather than as scrapes the load generator had to drop.
  s4: { rounds: 3, durationMs: 4000, legitRate: 40, legitConcurrency: 16, attackRate: 500, slowConnections: 200 },
});

/** TLS (+ client-cert verification) section of a web-config for a PKI written by run.mjs. */
function tls(pki, { verifyClient }) {
  return {
    cert_file: pki.serverCert,
    key_file: pki.serverKey,
    ...(verifyClient ? { client_ca_file: pki.ca, client_auth_type: 'RequireAndVerifyClientCert' } : {}),
  };
}

/** Load generator target for an HTTPS contender. */
function httpsTarget(port, pki, { clientCert = true, headers, keepAlive = true, concurrency = 2, resume = false } = {}) {
  return {
    url: `https://localhost:${port}/metrics`,
    ca: pki.ca,
    ...(clientCert ? { cert: pki.clientCert, key: pki.clientKey } : {}),
    ...(headers ? { headers } : {}),
    keepAlive,
    concurrency,
    expectStatus: 200,
    ...(resume ? { resume } : {}),
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

const PLAIN_LABEL = 'prom-client, plain HTTP';

/** S1: plain prom-client against the secured guard at one registry size. */
async function s1Measure(ctx, series, { rounds, durationMs }) {
  const pki = ctx.pki.ec;
  const plain = await ctx.app('plain', series);
  const guard = await ctx.app('guard', series, securedConfig(ctx, pki));
  try {
    return await ctx.measureRounds(
      [
        { name: PLAIN_LABEL, processes: [plain], target: plainTarget(plain.port) },
        { name: SECURED_LABEL, processes: [guard], target: httpsTarget(guard.port, pki, { headers: ctx.bearerHeader }) },
      ],
      { rounds, durationMs },
    );
  } finally {
    await stopAll([plain, guard]);
  }
}

const PROMETHEUS_SCRAPE_TIMEOUT_MS = 10_000; // Prometheus's default scrape_timeout
const HUGE = 1_000_000;

/**
 * One or two scrapes of a contender serving a huge registry, under a memory bound. Returns what
 * happened: start-up time, scrape times, CPU, peak RSS, failures and what broke.
 */
async function hugeAttempt(ctx, name, start, target, requests = 2) {
  const pids = [];
  const watchdog = memoryWatchdog(pids, ctx.memoryBoundMiB);
  const t0 = Date.now();
  const out = { name };
  let procs;
  try {
    procs = await start((child) => pids.push(child.pid));
  } catch (e) {
    watchdog.stop();
    out.startMs = Date.now() - t0;
    out.broke = watchdog.tripped
      ? `exceeded the ${ctx.memoryBoundMiB} MiB memory bound while starting (building the registry), after ${(out.startMs / 1000).toFixed(1)} s`
      : `did not start: ${String(e.message).split('\n')[0]}`;
    return out;
  }
  out.startMs = Date.now() - t0;
  out.rssReadyMiB = procs.reduce((s, p) => s + rssMiB(p.pid), 0);
  const cpu0 = procs.reduce((s, p) => s + cpuSeconds(p.pid), 0);
  const res = await ctx
    .loadgen({ ...target(procs), requests, concurrency: 1, keepAlive: true, timeoutMs: 180_000, samples: true })
    .catch((e) => ({ error: e.message }));
  out.cpuPerScrape = (procs.reduce((s, p) => s + cpuSeconds(p.pid), 0) - cpu0) / Math.max(1, (res.ok ?? 0) + (res.errors ?? 0));
  out.peakRssMiB = procs.reduce((s, p) => s + peakRssMiB(p.pid), 0);
  watchdog.stop();
  const logs = procs.map((p) => p.output?.() ?? '').join('\n');
  await stopAll(procs);
  out.samples = res.samples ?? [];
  out.statuses = res.statuses ?? {};
  out.bodyMB = res.ok ? res.bytes / res.ok / 1e6 : NaN;
  const n = out.samples.length; // sorted by the load generator
  out.p50 = n ? (out.samples[Math.floor((n - 1) / 2)] + out.samples[Math.floor(n / 2)]) / 2 : NaN;
  out.tripped = watchdog.tripped;
  if (watchdog.tripped) out.broke = `exceeded the ${ctx.memoryBoundMiB} MiB memory bound during the scrape (killed at ${watchdog.atMiB.toFixed(0)} MiB)`;
  else if (res.error) out.broke = `load generator failed: ${res.error.split('\n')[0]}`;
  else if (res.errors > 0) {
    // The sidecar says why in its error log (the upstream cap, its timeout): quote its first line.
    const why = /(upstream [^"\n]*)/.exec(logs)?.[1]?.slice(0, 200);
    out.broke = `answered ${JSON.stringify(res.statuses)}${res.firstError ? ` (${res.firstError})` : ''}${why ? `; log: "${why}"` : ''}`;
  } else if (Math.max(...out.samples) > PROMETHEUS_SCRAPE_TIMEOUT_MS)
    out.broke = `a scrape took ${(Math.max(...out.samples) / 1000).toFixed(1)} s: over Prometheus's default scrape_timeout of 10 s`;
  return out;
}

/** The 1,000,000-series row of S1: plain, secured in-process, and the sidecar in front of plain. */
async function s1Huge(ctx) {
  const pki = ctx.pki.ec;
  const appOpts = (onSpawn) => ({ onSpawn, timeoutMs: 300_000, nodeArgs: [`--max-old-space-size=${ctx.memoryBoundMiB}`] });
  const results = [];
  results.push(
    await hugeAttempt(
      ctx,
      PLAIN_LABEL,
      async (onSpawn) => [await ctx.app('plain', HUGE, undefined, appOpts(onSpawn))],
      ([p]) => plainTarget(p.port),
    ),
  );
  results.push(
    await hugeAttempt(
      ctx,
      SECURED_LABEL,
      async (onSpawn) => [await ctx.app('guard', HUGE, securedConfig(ctx, pki), appOpts(onSpawn))],
      ([g]) => httpsTarget(g.port, pki, { headers: ctx.bearerHeader }),
    ),
  );
  if (ctx.haveSidecar) {
    const webConfig = ctx.writeYaml('s1-huge-web-config.yml', { tls_server_config: tls(pki, { verifyClient: false }) });
    const sidecarRun = (label, extraArgs, requests) =>
      hugeAttempt(
        ctx,
        label,
        async (onSpawn) => {
          const backend = await ctx.app('plain', HUGE, undefined, appOpts(onSpawn));
          try {
            return [await ctx.sidecar(webConfig, backend.port, { extraArgs, onSpawn }), backend];
          } catch (e) {
            await backend.stop();
            throw e;
          }
        },
        ([side]) => httpsTarget(side.port, pki, { clientCert: false }),
        requests,
      );
    const first = await sidecarRun('scrapeguard sidecar (TLS, defaults) + plain backend', [], 2);
    results.push(first);
    // Past the first limit, what is the next one? Raise the upstream cap and deadline, one scrape.
    if (first.broke)
      results.push(
        await sidecarRun(
          'sidecar with --upstream.max-bytes 256 MiB, --upstream.timeout 60s (one scrape)',
          ['--upstream.max-bytes', String(256 * 2 ** 20), '--upstream.timeout', '60s'],
          1,
        ),
      );
  }
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${ctx.f(r.startMs / 1000, 1)} | ${r.rssReadyMiB !== undefined ? ctx.f(r.rssReadyMiB, 0) : 'n/a'} | ${r.samples?.length ? r.samples.map((x) => ctx.f(x / 1000, 2)).join(', ') : 'none'} | ${ctx.f(r.cpuPerScrape, 2)} | ${ctx.f(r.peakRssMiB, 0)} | ${ctx.f(r.bodyMB, 1)} | ${r.broke ?? 'nothing (served within 10 s and the bound)'} |`,
  );
  const markdown = `### ${HUGE.toLocaleString('en')} series

Two keep-alive scrapes per contender (one for the sidecar with raised limits), one contender at a time (not a latency distribution: the point is what breaks first). Each Node contender runs with \`--max-old-space-size=${ctx.memoryBoundMiB}\` and the harness kills any contender whose resident memory (backend included) passes ${ctx.memoryBoundMiB} MiB. The sidecar rows include the plain backend's CPU and RSS; they use TLS without auth (the 64 MiB upstream cap and the 10 s upstream deadline are the sidecar's defaults).

| contender | start-up s (registry build) | RSS when ready MiB | scrape times s | CPU s / scrape | peak RSS MiB | body MB | what broke |
|---|---:|---:|---|---:|---:|---:|---|
${rows.join('\n')}`;
  return { results, markdown };
}

/** S2's contenders at one registry size; `full` adds nginx with the bcrypt hash. */
async function s2Measure(ctx, series, { rounds, durationMs, full }) {
  const pki = ctx.pki.ec;
  const apr1 = ctx.writeFile('htpasswd-apr1', `${ctx.USER}:${ctx.apr1Hash}\n`, 0o644);
  const bcrypt = ctx.writeFile('htpasswd-bcrypt', `${ctx.USER}:${ctx.bcryptHash}\n`, 0o644);
  const base = { tls_server_config: tls(pki, { verifyClient: false }), basic_auth_users: { [ctx.USER]: ctx.bcryptHash } };
  const webConfig = ctx.writeYaml('s2-web-config.yml', base);
  // "No rule": nothing can change the scrape for this caller (no access rule, no redaction, the
  // secret detectors off), the case a pass-through fast path serves.
  const webConfigNoRule = ctx.writeYaml('s2-web-config-norule.yml', { ...base, redaction: { detect_secrets: false } });
  const procs = [];
  const start = async (p) => (procs.push(await p), procs[procs.length - 1]);
  try {
    const entries = [];
    const basic = (port) => httpsTarget(port, pki, { clientCert: false, headers: ctx.basicHeader });
    // Without nginx (outside CI) the probe still measures the rest; its ratios are then NOT MEASURED.
    if (ctx.haveNginx) {
      const backendA = await start(ctx.app('plain', series));
      const ngA = await start(ctx.nginx({ pki, upstreamPort: backendA.port, htpasswd: apr1 }));
      entries.push({ name: S2.nginx, processes: [ngA, backendA], target: basic(ngA.port) });
    }
    if (full && ctx.haveNginx) {
      const backendB = await start(ctx.app('plain', series));
      const ngB = await start(ctx.nginx({ pki, upstreamPort: backendB.port, htpasswd: bcrypt }));
      entries.push({ name: 'nginx + auth_basic (bcrypt cost 10, same hash)', processes: [ngB, backendB], target: basic(ngB.port) });
    }
    const guard = await start(ctx.app('guard', series, base));
    entries.push({ name: S2.inProcess, processes: [guard], target: basic(guard.port) });
    if (ctx.haveSidecar) {
      const backendC = await start(ctx.app('plain', series));
      const side = await start(ctx.sidecar(webConfig, backendC.port));
      entries.push({ name: S2.sidecar, processes: [side, backendC], target: basic(side.port) });
      const backendD = await start(ctx.app('plain', series));
      const sideNoRule = await start(ctx.sidecar(webConfigNoRule, backendD.port));
      entries.push({ name: S2.sidecarNoRule, processes: [sideNoRule, backendD], target: basic(sideNoRule.port) });
    }
    return await ctx.measureRounds(entries, { rounds, durationMs });
  } finally {
    await stopAll(procs);
  }
}

const S2 = {
  nginx: 'nginx + auth_basic (apr1, htpasswd default)',
  inProcess: 'scrapeguard in-process (TLS + basic, bcrypt cost 10)',
  sidecar: 'scrapeguard sidecar (--upstream), with redaction (defaults: secret detectors on)',
  sidecarNoRule: 'scrapeguard sidecar (--upstream), no rule (detect_secrets: false)',
};

/**
 * S3: scrapeguard against nginx, new connections, for one certificate type: full handshakes, or
 * with `resume` the client offers its previous session (nginx with session tickets on;
 * scrapeguard with its own defaults).
 */
async function s3Measure(ctx, keyType, verifyClient, { rounds, durationMs, resume = false }) {
  const pki = ctx.pki[keyType];
  const procs = [];
  try {
    const guard = await ctx.app('guard', 10, { tls_server_config: tls(pki, { verifyClient }) });
    procs.push(guard);
    const target = (port) => httpsTarget(port, pki, { clientCert: verifyClient, keepAlive: false, resume });
    const entries = [{ name: `scrapeguard`, processes: [guard], target: target(guard.port) }];
    if (ctx.haveNginx) {
      const ng = await ctx.nginx({ pki, verifyClient, staticBody: '# small static body\nup 1\n', sessionTickets: resume });
      procs.push(ng);
      entries.push({ name: 'nginx', processes: [ng], target: target(ng.port) });
    }
    return await ctx.measureRounds(entries, { rounds, durationMs });
  } finally {
    await stopAll(procs);
  }
}

// A handshake costs about 1–3 ms of server CPU: 3 s rounds give hundreds to thousands per round
// and keep the full run (five S3 rows) within 12 minutes.
const S3_ROUND_MS = 3000;
// S5 and S6 compare steady keep-alive scrapes of small registries: 4 s rounds are thousands of
// scrapes, and the saved time pays for the 1,000,000-series row and the gate's probes.
const SHORT_ROUND_MS = 4000;
const s3Label = (keyType, verifyClient) => `${keyType === 'ec' ? 'ECDSA P-256' : 'RSA-2048'}${verifyClient ? ' + client cert' : ''}`;
const s3Row = (ctx, label, r) => {
  const g = r.scrapeguard;
  const n = r.nginx;
  return `| ${label} | ${ctx.f(g.throughput, 0)} | ${ctx.f(g.p50, 2)} | ${ctx.f(g.cpuPer1000, 2)} | ${n ? ctx.f(n.throughput, 0) : 'n/a'} | ${n ? ctx.f(n.p50, 2) : 'n/a'} | ${n ? ctx.f(n.cpuPer1000, 2) : 'n/a'} | ${n ? ctx.f(g.throughput / n.throughput) : 'n/a'} | ${n ? ctx.f(g.cpuPer1000 / n.cpuPer1000) : 'n/a'} | ${g.errors + (n?.errors ?? 0)} |`;
};
const S3_HEAD =
  '| server cert | scrapeguard conn/s | p50 ms | CPU s / 1000 | nginx conn/s | p50 ms | CPU s / 1000 | conn/s ratio | CPU ratio | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|';

/**
 * S4, one variant: `rounds` alternating rounds of a legitimate scraper alone (idle), then during
 * the flood + slowloris attack (started afresh each round), against one server. Alternation lets
 * machine noise hit both phases alike, and the ratio is the median of the rounds' own ratios, so
 * one noisy stretch on a shared machine moves one round, not the figure. Returns each round's two
 * loadgen results and the attack's answers, the medians, the server's CPU during the attacks and
 * its peak RSS.
 */
async function s4Measure(ctx, extra, { rounds, durationMs, legitRate, legitConcurrency, attackRate, slowConnections }) {
  const pki = ctx.pki.ec;
  const guard = await ctx.app('guard', 1000, {
    tls_server_config: tls(pki, { verifyClient: false }),
    basic_auth_users: { [ctx.USER]: ctx.bcryptHash },
    ...extra,
  });
  let slow;
  try {
    // Open loop at `legitRate`; up to `legitConcurrency` in flight (one more is counted as failed, never queued).
    const legit = {
      ...httpsTarget(guard.port, pki, { clientCert: false, headers: ctx.basicHeader, concurrency: legitConcurrency }),
      rate: legitRate,
      localAddress: '127.0.0.1',
    };
    const wrong = { authorization: `Basic ${Buffer.from(`${ctx.USER}:wrong-password`).toString('base64')}` };
    const attackSpec = {
      url: legit.url,
      ca: pki.ca,
      headers: wrong,
      keepAlive: true,
      concurrency: 256,
      rate: attackRate,
      durationMs: durationMs + 2000,
      localAddress: '127.0.0.2',
    };
    const perRound = [];
    let attackCpu = 0;
    for (let round = 0; round < rounds; round++) {
      const idle = (await ctx.measureRounds([{ name: 'idle', processes: [guard], target: legit }], { rounds: 1, durationMs, warmupMs: 300 })).idle;
      slow = await startProcess(
        process.execPath,
        [
          join(ctx.root, 'bench/lib/slowloris.mjs'),
          JSON.stringify({ port: guard.port, connections: slowConnections, localAddress: '127.0.0.3', ca: pki.ca, byteEveryMs: 2000 }),
        ],
        { ready: /READY/, timeoutMs: 20_000 },
      );
      const attack = new Promise((resolve) =>
        execFile(process.execPath, [join(ctx.root, 'bench/lib/loadgen.mjs'), JSON.stringify(attackSpec)], (err, stdout) =>
          resolve(err ? { error: err.message } : JSON.parse(stdout)),
        ),
      );
      // Measure the sustained attack, not its first second: the flood's and the slowloris tool's
      // first connections (their TLS handshakes, on both sides of the shared 2 cores) and the
      // first guesses' bcrypt runs all land there.
      await new Promise((r) => setTimeout(r, 1500));
      const cpuBefore = cpuSeconds(guard.pid);
      const underAttack = (await ctx.measureRounds([{ name: 'attack', processes: [guard], target: legit }], { rounds: 1, durationMs, warmupMs: 0 })).attack;
      attackCpu += cpuSeconds(guard.pid) - cpuBefore;
      const attackResult = await attack;
      await slow.stop();
      const slowStats = /STATS (.*)/.exec(slow.output())?.[1] ?? 'n/a';
      slow = undefined;
      perRound.push({ idle, underAttack, attackResult, slowStats, ratio: underAttack.p99 / idle.p99 });
    }
    return {
      rounds: perRound,
      ratio: median(perRound.map((r) => r.ratio)),
      idle: summed(perRound.map((r) => r.idle)),
      underAttack: summed(perRound.map((r) => r.underAttack)),
      coresBusy: attackCpu / ((rounds * durationMs) / 1000),
      rss: peakRssMiB(guard.pid),
    };
  } finally {
    await slow?.stop();
    await guard.stop();
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** One phase over all rounds: counts summed, p50 and p99 the medians of the rounds'. */
function summed(results) {
  return {
    ok: results.reduce((n, r) => n + r.ok, 0),
    errors: results.reduce((n, r) => n + r.errors, 0),
    p50: median(results.map((r) => r.p50)),
    p99: median(results.map((r) => r.p99)),
  };
}

const successRate = (r) => (r.ok + r.errors ? (r.ok / (r.ok + r.errors)) * 100 : 0);
const S4_HEAD =
  '| config | phase | scrapes | failed | success % | p50 ms | p99 ms | p99 ratio | server cores busy | peak RSS MiB |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|';
function s4Rows(ctx, variant, m) {
  const rows = [];
  m.rounds.forEach((r, i) => {
    const at = `${variant}, round ${i + 1}`;
    rows.push(
      `| ${at} | idle | ${r.idle.ok} | ${r.idle.errors} | ${ctx.f(successRate(r.idle), 1)} | ${ctx.f(r.idle.p50, 2)} | ${ctx.f(r.idle.p99, 2)} | | | |`,
      `| ${at} | under attack | ${r.underAttack.ok} | ${r.underAttack.errors} | ${ctx.f(successRate(r.underAttack), 1)} | ${ctx.f(r.underAttack.p50, 2)} | ${ctx.f(r.underAttack.p99, 2)} | ${ctx.f(r.ratio)} | | |`,
      `| ${at} | attacker's answers | \`${JSON.stringify(r.attackResult.statuses ?? r.attackResult)}\` | | | | | | | |`,
      `| ${at} | slow connections | \`${r.slowStats}\` | | | | | | | |`,
    );
  });
  const { idle, underAttack: a } = m;
  rows.push(
    `| **${variant}** | idle, all rounds | ${idle.ok} | ${idle.errors} | ${ctx.f(successRate(idle), 1)} | ${ctx.f(idle.p50, 2)} | ${ctx.f(idle.p99, 2)} | | | |`,
    `| **${variant}** | under attack, all rounds | ${a.ok} | ${a.errors} | ${ctx.f(successRate(a), 1)} | ${ctx.f(a.p50, 2)} | ${ctx.f(a.p99, 2)} | **${ctx.f(m.ratio)}** | ${ctx.f(m.coresBusy)} | ${ctx.f(m.rss, 0)} |`,
  );
  return rows;
}

/** A gate ratio from two rows: value and the failed requests behind it. */
const ratio = (num, den, key) => ({ value: num && den ? num[key] / den[key] : NaN, errors: (num?.errors ?? 0) + (den?.errors ?? 0) });

export const scenarios = [
  {
    id: 'S1',
    title: 'in-process overhead: plain prom-client over HTTP vs scrapeguard, keep-alive',
    async run(ctx) {
      const sizes = [1000, 10_000, 100_000];
      const parts = [];
      const summary = [];
      const latency = { plain: [], guard: [] };
      const memory = { plain: [], guard: [] };
      for (const series of sizes) {
        const rounds = series >= 100_000 ? 1 : ctx.rounds;
        const r = await s1Measure(ctx, series, { rounds, durationMs: ctx.durationMs });
        parts.push(`### ${series.toLocaleString('en')} series\n\n${ctx.table(r, PLAIN_LABEL)}`);
        const g = r[SECURED_LABEL];
        const p = r[PLAIN_LABEL];
        latency.plain.push([series, p.p50]);
        latency.guard.push([series, g.p50]);
        memory.plain.push([series, p.rssMiB]);
        memory.guard.push([series, g.rssMiB]);
        summary.push(
          `${series.toLocaleString('en')} series: p50 ratio ${ctx.f(g.p50 / p.p50)}, throughput ratio ${ctx.f(g.throughput / p.throughput)}, CPU ratio ${ctx.f(g.cpuPer1000 / p.cpuPer1000)}, peak RSS ${ctx.f(g.rssMiB, 0)} vs ${ctx.f(p.rssMiB, 0)} MiB (ratio ${ctx.f(g.rssMiB / p.rssMiB)}) (scrapeguard / plain prom-client)`,
        );
      }
      const huge = await s1Huge(ctx);
      parts.push(huge.markdown);
      for (const [key, name] of [
        ['plain', PLAIN_LABEL],
        ['guard', SECURED_LABEL],
      ]) {
        const h = huge.results.find((x) => x.name === name);
        // A scrape that completed is a measurement, also when it took longer than Prometheus waits.
        const completed = h && !h.tripped && h.samples?.length > 0;
        if (completed && Number.isFinite(h.p50)) latency[key].push([HUGE, h.p50]);
        if (completed && Number.isFinite(h.peakRssMiB)) memory[key].push([HUGE, h.peakRssMiB]);
      }
      summary.push(
        `1,000,000 series: ${huge.results.map((h) => `${h.name}: ${h.broke ? `broke first: ${h.broke}` : `p50 ${ctx.f(h.p50 / 1000, 2)} s, peak RSS ${ctx.f(h.peakRssMiB, 0)} MiB`}`).join('; ')}`,
      );
      const series = (pts) => [
        { name: PLAIN_LABEL, points: pts.plain },
        { name: SECURED_LABEL, points: pts.guard },
      ];
      const svg = ctx.writePlot('s1-latency', {
        title: 'S1: p50 scrape latency by registry size (keep-alive)',
        xLabel: 'series in the registry',
        yLabel: 'p50 latency, ms',
        series: series(latency),
      });
      const svgRss = ctx.writePlot('s1-memory', {
        title: 'S1: peak RSS by registry size',
        xLabel: 'series in the registry',
        yLabel: 'peak RSS of the process, MiB',
        unit: 'MiB',
        series: series(memory),
      });
      return {
        markdown: `![S1 latency against series count](${svg}) ![S1 peak RSS against series count](${svgRss})\n\nPeak RSS is the process's VmHWM over its whole life (registry build, warm-up and every round of the table).\n\n${parts.join('\n\n')}`,
        summary,
      };
    },
    async probe(ctx) {
      const ratios = {};
      const parts = [];
      for (const series of GATE.s1Series) {
        const r = await s1Measure(ctx, series, { rounds: GATE.rounds, durationMs: GATE.durationMs });
        const tag = `${series / 1000}k`;
        ratios[`s1.p50.${tag}`] = ratio(r[SECURED_LABEL], r[PLAIN_LABEL], 'p50');
        ratios[`s1.cpu.${tag}`] = ratio(r[SECURED_LABEL], r[PLAIN_LABEL], 'cpuPer1000');
        parts.push(`${series.toLocaleString('en')} series\n\n${ctx.table(r, PLAIN_LABEL)}`);
      }
      return { markdown: parts.join('\n\n'), ratios };
    },
  },
  {
    id: 'S2',
    title: 'versus the nginx recipe (TLS + auth_basic in front of plain prom-client)',
    async run(ctx) {
      if (!ctx.haveNginx)
        return { markdown: 'nginx is not available: run `bash scripts/fetch-nginx.sh` (npm run bench does).', summary: ['skipped: no nginx'] };
      const series = 10_000;
      const r = await s2Measure(ctx, series, { rounds: ctx.rounds, durationMs: ctx.durationMs, full: true });
      const base = r[S2.nginx];
      const g = r[S2.inProcess];
      const summary = [
        `${series.toLocaleString('en')} series: scrapeguard in-process / nginx recipe (apr1): throughput ${ctx.f(g.throughput / base.throughput)}, CPU per scrape ${ctx.f(g.cpuPer1000 / base.cpuPer1000)}, p50 ${ctx.f(g.p50 / base.p50)}`,
      ];
      for (const [name, what] of [
        [S2.sidecar, 'sidecar with redaction (defaults)'],
        [S2.sidecarNoRule, 'sidecar with no rule'],
      ]) {
        const s = r[name];
        if (s)
          summary.push(
            `${what} / nginx recipe (apr1): CPU per scrape ${ctx.f(s.cpuPer1000 / base.cpuPer1000)}, throughput ${ctx.f(s.throughput / base.throughput)}, p50 ${ctx.f(s.p50 / base.p50)}, peak RSS ${ctx.f(s.rssMiB, 0)} vs ${ctx.f(base.rssMiB, 0)} MiB`,
          );
      }
      const note = ctx.haveSidecar ? '' : '\n\n(The sidecar rows need `serve --upstream`, not in this build.)';
      return {
        markdown: `${series.toLocaleString('en')}-series registry. nginx: 1 worker, TLS 1.2/1.3, no session cache, upstream keep-alive; its rows' CPU and RSS include the plain prom-client backend, as do the sidecar rows'. Clients present no client certificate here (nginx's auth_basic recipe has none). The sidecar "with redaction" runs the web-config defaults (secret detectors on); "no rule" sets \`redaction: {detect_secrets: false}\`, so no rule can change a scrape.\n\n${ctx.table(r, S2.nginx)}${note}`,
        summary,
      };
    },
    async probe(ctx) {
      const r = await s2Measure(ctx, GATE.s2Series, { rounds: GATE.rounds, durationMs: GATE.durationMs, full: false });
      const base = ctx.haveNginx ? r[S2.nginx] : undefined;
      return {
        markdown: `${GATE.s2Series.toLocaleString('en')} series\n\n${ctx.table(r, ctx.haveNginx ? S2.nginx : S2.inProcess)}`,
        ratios: {
          's2.cpu.inprocess': ratio(r[S2.inProcess], base, 'cpuPer1000'),
          's2.cpu.sidecar': ratio(r[S2.sidecar], base, 'cpuPer1000'),
          's2.cpu.sidecar-norule': ratio(r[S2.sidecarNoRule], base, 'cpuPer1000'),
        },
      };
    },
  },
  {
    id: 'S3',
    title: 'new connections: full TLS handshakes per second (no keep-alive, no session resumption; one resumed row for scale)',
    async run(ctx) {
      const rows = [];
      const summary = [];
      for (const keyType of ['ec', 'rsa']) {
        for (const verifyClient of [false, true]) {
          const label = s3Label(keyType, verifyClient);
          const r = await s3Measure(ctx, keyType, verifyClient, { rounds: ctx.rounds, durationMs: S3_ROUND_MS });
          rows.push(s3Row(ctx, label, r));
          const g = r.scrapeguard;
          const n = r.nginx;
          if (n)
            summary.push(
              `${label}: scrapeguard / nginx handshakes per second ${ctx.f(g.throughput / n.throughput)}, CPU per handshake ${ctx.f(g.cpuPer1000 / n.cpuPer1000)}`,
            );
        }
      }
      // Resumption, for scale: the client offers its last session; nginx issues tickets, scrapeguard
      // runs its defaults. The resumed share says whether the server took the offer.
      const r = await s3Measure(ctx, 'ec', false, { rounds: ctx.rounds, durationMs: S3_ROUND_MS, resume: true });
      const resumedShare = (x) => (x && x.ok ? `${ctx.f((x.resumed / x.ok) * 100, 0)} %` : 'n/a');
      rows.push(s3Row(ctx, `ECDSA P-256, resumed (${resumedShare(r.scrapeguard)} / ${resumedShare(r.nginx)} of connections resumed)`, r));
      if (r.nginx)
        summary.push(
          `ECDSA P-256 with session resumption offered: scrapeguard / nginx connections per second ${ctx.f(r.scrapeguard.throughput / r.nginx.throughput)}, CPU per connection ${ctx.f(r.scrapeguard.cpuPer1000 / r.nginx.cpuPer1000)} (resumed: ${resumedShare(r.scrapeguard)} / ${resumedShare(r.nginx)})`,
        );
      return {
        markdown: `Each request is a new TCP + TLS connection (Agent without keep-alive), 2 at a time, in alternating rounds of ${S3_ROUND_MS / 1000} s. The first four rows are full handshakes: no session offered, session cache and tickets off in nginx. The last row offers the previous session (the client keeps it; nginx issues session tickets; scrapeguard runs its defaults) and says how many connections each server resumed. scrapeguard serves a 10-series registry; nginx returns a small static body. CPU is the server's only.\n\n${S3_HEAD}\n${rows.join('\n')}`,
        summary,
      };
    },
    async probe(ctx) {
      const rows = [];
      const ratios = {};
      for (const which of GATE.s3) {
        const verifyClient = which.endsWith('+client');
        const keyType = which.split('+')[0];
        const r = await s3Measure(ctx, keyType, verifyClient, { rounds: GATE.rounds, durationMs: GATE.durationMs });
        rows.push(s3Row(ctx, s3Label(keyType, verifyClient), r));
        ratios[`s3.cpu.${keyType === 'ec' ? 'ecdsa' : 'rsa'}${verifyClient ? '-client' : ''}`] = ratio(r.scrapeguard, r.nginx, 'cpuPer1000');
      }
      return { markdown: `${S3_HEAD}\n${rows.join('\n')}`, ratios };
    },
  },
  {
    id: 'S4',
    title: 'under attack: wrong-password flood + idle slow connections vs a legitimate scraper',
    async run(ctx) {
      const params = { rounds: 3, durationMs: 10_000, legitRate: 20, legitConcurrency: 4, attackRate: 500, slowConnections: 200 };
      const rows = [];
      const summary = [];
      const variants = [
        ['defaults', {}],
        ['with limits.auth_failure_backoff: {}', { limits: { auth_failure_backoff: {} } }],
      ];
      for (const [variant, extra] of variants) {
        const m = await s4Measure(ctx, extra, params);
        rows.push(...s4Rows(ctx, variant, m));
        summary.push(
          `${variant}: legitimate success ${ctx.f(successRate(m.underAttack), 1)} %, p99 ${ctx.f(m.underAttack.p99, 2)} ms under attack vs ${ctx.f(m.idle.p99, 2)} ms idle (medians of ${params.rounds} alternating rounds; median ratio ${ctx.f(m.ratio)}, rounds ${m.rounds.map((r) => ctx.f(r.ratio)).join(', ')}; target 100 %, ≤ 2)`,
        );
      }
      return {
        markdown: `scrapeguard (TLS + basic auth, bcrypt cost 10) serving 1,000 series, with its defaults and with the brute-force hold-off on. Legitimate scraper: ${params.legitRate} scrapes/s (open loop, at most ${params.legitConcurrency} in flight: one more counts as failed) from 127.0.0.1, in ${params.rounds} alternating rounds of ${params.durationMs / 1000} s alone (idle), then ${params.durationMs / 1000} s during the attack (${(params.legitRate * params.durationMs) / 1000} samples per phase and round, so one slow scrape does not decide a p99; the figure is the median of the rounds' ratios, so one noisy stretch of the shared machine does not decide it either): ${params.attackRate} requests/s with a wrong password from 127.0.0.2 (keep-alive, up to 256 in flight) plus ${params.slowConnections} connections from 127.0.0.3 that send one header byte every 2 s (each one the server closes after its handshake is replaced 20 ms later; one the per-client connection limit refuses before its handshake is retried after 1 s; \`refused\` in the stats counts those). Server CPU is cores busy during the attack; RSS the peak.\n\n${S4_HEAD}\n${rows.join('\n')}`,
        summary,
      };
    },
    async probe(ctx) {
      const m = await s4Measure(ctx, {}, GATE.s4);
      const value = m.ratio;
      return {
        markdown: `${GATE.s4.legitRate} legitimate scrapes/s for ${GATE.s4.durationMs / 1000} s per phase, ${GATE.s4.rounds} alternating rounds (the ratio is their median)\n\n${S4_HEAD}\n${s4Rows(ctx, 'defaults', m).join('\n')}`,
        ratios: {
          's4.cores': { value: m.coresBusy, errors: m.underAttack.errors },
          's4.p99': { value, errors: m.idle.errors + m.underAttack.errors },
        },
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
        { rounds: ctx.rounds, durationMs: SHORT_ROUND_MS },
      );
      await stopAll([withAuth, without]);
      const a = r['TLS + basic auth (bcrypt cost 10)'];
      const b = r['TLS, no auth'];
      return {
        markdown: `1,000 series, keep-alive, rounds of ${SHORT_ROUND_MS / 1000} s. Without a cache every scrape would pay one bcrypt verification (about 50–60 ms at cost 10 here).\n\n${ctx.table(r, 'TLS, no auth')}`,
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
        { rounds: ctx.rounds, durationMs: SHORT_ROUND_MS },
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
        markdown: `Each serves its own metrics (node_exporter: its default collectors; scrapeguard: prom-client's default process metrics), so absolute numbers differ by content; the comparison is the security overhead of each, secured / plain. Rounds of ${SHORT_ROUND_MS / 1000} s.\n\n${ctx.table(r, 'node_exporter, plain HTTP')}\n\n| security overhead (secured / plain) | p50 | p99 | CPU per scrape | 1 / throughput |\n|---|---:|---:|---:|---:|\n${rows.join('\n')}`,
        summary: [
          `secured / plain p50: node_exporter ${ctx.f(ratio('node_exporter, web-config TLS + basic', 'node_exporter, plain HTTP', 'p50'))}, scrapeguard ${ctx.f(ratio('scrapeguard, web-config TLS + basic', 'scrapeguard, plain HTTP', 'p50'))}`,
        ],
      };
    },
  },
];
