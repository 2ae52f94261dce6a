// Idle slow connections for the "under attack" scenario: keeps N TLS connections open from a
// given local address, each sending a request's headers one byte every few seconds. When the
// server closes one (its header deadline), a new one replaces it, so N stay open all the time.
// Runs until SIGTERM; prints `READY` once N are open, and `STATS {...}` on exit.
//
// Usage: node bench/lib/slowloris.mjs '<json: {port, connections, localAddress, ca, byteEveryMs}>'
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';

const spec = JSON.parse(process.argv[2]);
const ca = readFileSync(spec.ca);
const head = 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ';
let open = 0;
let opened = 0;
let closedByServer = 0;
let stopping = false;
let announced = false;

function one() {
  if (stopping) return;
  const s = connect({ port: spec.port, host: '127.0.0.1', localAddress: spec.localAddress, servername: 'localhost', ca });
  let timer;
  s.on('secureConnect', () => {
    open++;
    opened++;
    if (!announced && open >= spec.connections) {
      announced = true;
      console.log('READY');
    }
    let i = 0;
    s.write(head);
    timer = setInterval(() => s.write(String(i++ % 10)), spec.byteEveryMs ?? 2000);
  });
  s.resume(); // read (and drop) the server's answer, so its close is seen
  s.on('error', () => {});
  s.on('close', () => {
    clearInterval(timer);
    if (s.authorized !== undefined && open > 0) open--;
    if (!stopping) {
      closedByServer++;
      setTimeout(one, 20);
    }
  });
}
for (let i = 0; i < spec.connections; i++) setTimeout(one, i * 5);
setTimeout(() => {
  if (!announced) console.log('READY'); // report anyway; the stats say how many were open
  announced = true;
}, 10_000);
process.on('SIGTERM', () => {
  stopping = true;
  console.log(`STATS ${JSON.stringify({ open, opened, closedByServer })}`);
  process.exit(0);
});
