// Cost of `scrapeguard scan` on large endpoints, end to end through the built CLI.
//
// A plain HTTP exporter on loopback serves N series (a typical label set, 1 in 500 series with a
// database URL holding a password). Each round runs `node dist/cli.js scan URL --format json` as a
// child process; the median wall time is reported next to two baselines: the same CLI doing
// nothing (`scan --help`: Node start-up and module load) and a bare fetch of the body. What the
// scan itself costs is the difference — parse, secret detectors, identifiers, report.
//
// Run: npm run build && node bench/scan.mjs   (SERIES=1000,10000,100000 ROUNDS=7 to change)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const SIZES = (process.env.SERIES ?? '1000,10000,100000').split(',').map(Number);

function exposition(series) {
  const lines = ['# HELP http_requests_total Requests.', '# TYPE http_requests_total counter'];
  for (let i = 0; i < series; i++) {
    const dsn = i % 500 === 0 ? `,dsn="postgres://app:pw${i}Xy7Secret@db-${i % 7}:5432/app"` : '';
    lines.push(
      `http_requests_total{method="GET",path="/api/v1/items/${i % 200}",code="${200 + (i % 5)}",pod="api-7d9f8b6c5-x${i % 97}",instance="10.0.${i % 250}.${i % 7}:8080"${dsn}} ${i}`,
    );
  }
  return lines.join('\n') + '\n';
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Asynchronous: the exporter runs in this process and must keep answering while the CLI scans.
const run = promisify(execFile);

async function timeRuns(args) {
  const times = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    await run(process.execPath, [cli, ...args], { maxBuffer: 256 * 1024 * 1024 });
    times.push(performance.now() - start);
  }
  return median(times);
}

const startup = await timeRuns(['scan', '--help']);
console.log(`node start-up + CLI load (scan --help): median ${startup.toFixed(0)} ms over ${ROUNDS} runs`);
console.log('series   body MiB  fetch ms  scan ms  scan - start-up  MB/s (body / (scan - start-up))');
for (const series of SIZES) {
  const body = exposition(series);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${server.address().port}/metrics`;
  const fetches = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    await (await fetch(url)).text();
    fetches.push(performance.now() - start);
  }
  const scan = await timeRuns(['scan', url, '--format', 'json']);
  const net = scan - startup;
  console.log(
    `${String(series).padEnd(8)} ${(body.length / 1048576).toFixed(1).padStart(8)}  ${median(fetches).toFixed(1).padStart(8)}  ${scan.toFixed(0).padStart(7)}  ${net.toFixed(0).padStart(15)}  ${(body.length / 1e6 / (net / 1000)).toFixed(1)}`,
  );
  server.close();
}
