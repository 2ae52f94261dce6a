// Idle slow connections for the "under attack" scenario: keeps N TLS connections open from a
// given local address, each sending a request's headers one byte every few seconds. When the
// server closes one after its handshake (the header deadline), a new one replaces it 20 ms later;
// one refused before its handshake (a per-client connection limit) is retried after 1 s — a
// slowloris holds connections, it is no connection flood (that would measure this tool's own TLS
// client, which shares the machine, more than the server). N are open or being retried all the time. Runs until SIGTERM;
// prints `READY` once every one of the N slots has had its first outcome (open, or closed by the
// server: a server that refuses some at once must not hold the benchmark up), and
// `STATS {...}` on exit (`open`: established and not closed; `refused`: closed before the handshake).
//
// Usage: node bench/lib/slowloris.mjs '<json: {port, connections, localAddress, ca, byteEveryMs}>'
import { readFileSync } from 'node:fs';
import { connect, createSecureContext } from 'node:tls';

const spec = JSON.parse(process.argv[2]);
// One context for every connection: building one per connect would parse the CA each time.
const secureContext = createSecureContext({ ca: readFileSync(spec.ca) });
const head = 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ';
let open = 0;
let opened = 0;
let closedByServer = 0;
let refused = 0;
let stopping = false;
let announced = false;
let settledSlots = 0;

function announce() {
  if (announced || settledSlots < spec.connections) return;
  announced = true;
  console.log('READY');
}

function one(slot) {
  if (stopping) return;
  const s = connect({ port: spec.port, host: '127.0.0.1', localAddress: spec.localAddress, servername: 'localhost', secureContext });
  let timer;
  let established = false;
  const settle = () => {
    if (slot.settled) return;
    slot.settled = true;
    settledSlots++;
    announce();
  };
  s.on('secureConnect', () => {
    established = true;
    open++;
    opened++;
    settle();
    let i = 0;
    s.write(head);
    timer = setInterval(() => s.write(String(i++ % 10)), spec.byteEveryMs ?? 2000);
  });
  s.resume(); // read (and drop) the server's answer, so its close is seen
  s.on('error', () => {});
  s.on('close', () => {
    clearInterval(timer);
    if (established) open--;
    if (!stopping) {
      closedByServer++;
      if (!established) refused++;
      settle();
      setTimeout(() => one(slot), established ? 20 : 1000);
    }
  });
}
for (let i = 0; i < spec.connections; i++) setTimeout(() => one({ settled: false }), i * 5);
setTimeout(() => {
  if (!announced) console.log('READY'); // report anyway; the stats say how many were open
  announced = true;
}, 10_000);
process.on('SIGTERM', () => {
  stopping = true;
  console.log(`STATS ${JSON.stringify({ open, opened, closedByServer, refused })}`);
  process.exit(0);
});
