/**
 * Stalled-connection attacker, run as a child process: keeps up to `connections` TCP connections
 * open to the guard, spread round-robin over `localAddresses`, for `durationMs`. Even-numbered
 * connections never send a byte; odd ones send the first bytes of a TLS ClientHello (a record
 * header announcing 512 bytes, then 9 of them) and stall. A connection the server closes is
 * reopened after `reconnectMs`, so the attacker keeps pressing for the whole window. Prints one
 * JSON line: connections attempted, closed by the server, the most held open at once, and how
 * long closed connections had been open (the server's deadlines at work).
 *
 * Usage: node stall.mjs '{"port":..,"host":"127.0.0.1","localAddresses":["127.0.0.2"],"connections":800,"durationMs":12000,"reconnectMs":250}'
 */
import { connect } from 'node:net';

const o = JSON.parse(process.argv[2] ?? '{}');
const PARTIAL_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x00, 0x01]);
const deadline = Date.now() + o.durationMs;
const out = { attempts: 0, closedByServer: 0, maxOpen: 0, openAtEnd: 0, heldMsMax: 0, connectErrors: 0 };
let open = 0;
const sockets = new Set();

function slot(index) {
  return new Promise((resolve) => {
    const loop = () => {
      if (Date.now() >= deadline) return resolve();
      out.attempts++;
      const localAddress = o.localAddresses[index % o.localAddresses.length];
      const socket = connect({ port: o.port, host: o.host, localAddress });
      sockets.add(socket);
      let connectedAt = 0;
      socket.on('connect', () => {
        connectedAt = Date.now();
        open++;
        out.maxOpen = Math.max(out.maxOpen, open);
        if (index % 2 === 1) socket.write(PARTIAL_CLIENT_HELLO);
      });
      socket.on('data', () => undefined);
      socket.on('error', () => {
        if (!connectedAt) out.connectErrors++;
      });
      socket.on('close', () => {
        sockets.delete(socket);
        if (connectedAt) {
          open--;
          if (Date.now() < deadline) {
            out.closedByServer++;
            out.heldMsMax = Math.max(out.heldMsMax, Date.now() - connectedAt);
          }
        }
        setTimeout(loop, o.reconnectMs);
      });
    };
    loop();
  });
}

const stopper = setTimeout(() => {
  out.openAtEnd = open;
  for (const s of sockets) s.destroy();
}, o.durationMs);
// Open the first wave in batches so the listen backlog is not the bottleneck.
const slots = [];
for (let i = 0; i < o.connections; i++) {
  slots.push(slot(i));
  if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
}
await Promise.all(slots);
clearTimeout(stopper);
process.stdout.write(`${JSON.stringify(out)}\n`);
